"""`fotrain bench fixed`: the fixed-point TT forward timed against float (and fxpmath)."""

import json

from fotrain.cli import main


def test_bench_fixed_runs(capsys):
    assert main(["bench", "fixed", "--batch", "4", "--repeats", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["tt_forward"]["ratio_fixed_vs_float"] > 0
    if "skipped" not in r["fxpmath"]:
        assert r["fxpmath"]["results_equal"] is True
