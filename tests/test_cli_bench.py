"""`fotrain bench fixed`: the fixed-point TT forward timed against float (and fxpmath); the
tests assert what the bench checks and reports, never its timings."""

import json
import sys

import pytest

from fotrain.cli import main


def test_bench_fixed_runs(capsys):
    pytest.importorskip("fxpmath", reason="fxpmath is not installed (pip install 'fotrain[bench]')")
    assert main(["bench", "fixed", "--batch", "4", "--repeats", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    tt = r["tt_forward"]
    assert tt["layer"] == "784->256 [4,7,7,4]->[4,4,4,4] rank 4" and tt["batch"] == 4
    assert {"float_s", "fixed_s", "ratio_fixed_vs_float"} <= set(tt)
    fx = r["fxpmath"]
    assert "skipped" not in fx
    # fotrain's MAC and fxpmath's were run on the same codes and compared before any timing
    assert fx["results_equal"] is True
    assert fx["gemm"] == [64, 256, 64] and fx["macs"] == 64 * 256 * 64


def test_bench_fixed_without_fxpmath_says_so(capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "fxpmath", None)  # import fails as if not installed
    assert main(["bench", "fixed", "--batch", "4", "--repeats", "1"]) == 0
    r = json.loads(capsys.readouterr().out)
    assert r["fxpmath"] == {"skipped": "fxpmath is not installed (pip install 'fotrain[bench]')"}
    assert r["tt_forward"]["batch"] == 4
