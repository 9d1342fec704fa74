"""`fotrain demo`: the MNIST TT layer in fixed point, its error within the bound."""

import json

from fotrain.cli import main


def test_demo_reports_error_within_bound(capsys):
    assert main(["demo", "--json", "--batch", "8"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["params"] == 1024 and r["macs_per_sample"] == 95_488
    assert 0 < r["max_abs_err_same_inputs"] <= r["bound_same_inputs"]
    assert r["overflow_events"] == 0
