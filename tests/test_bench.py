"""`fotrain bench zo`: one ZO step, timed (with torch when it is installed); the torch branch
and the no-torch branch are separate tests."""

import sys

import pytest

from fotrain.bench import run_bench

NO_TORCH = "torch is not installed (pip install torch==2.13.0, a CPU build, then the bench extra)"


def check_fotrain_part(r):
    assert r["preset"] == "mnist-tt-zo" and r["batch"] == 8
    assert r["forwards_per_step"] == 1 + 2 * 10 * 10 and r["fotrain_s"] > 0


@pytest.mark.torch
def test_bench_zo_with_torch():
    torch = pytest.importorskip(
        "torch", reason="torch is not installed (pip install torch==2.13.0, a CPU build)"
    )
    r = run_bench("zo", batch=8, repeats=1)
    check_fotrain_part(r)
    assert r["torch"] == torch.__version__ and r["torch_s"] > 0
    assert r["ratio_vs_torch"] == r["fotrain_s"] / r["torch_s"]


def test_bench_zo_without_torch(monkeypatch):
    monkeypatch.setitem(sys.modules, "torch", None)  # import fails as if not installed
    r = run_bench("zo", batch=8, repeats=1)
    check_fotrain_part(r)
    assert r["torch"] == {"skipped": NO_TORCH}
    assert "ratio_vs_torch" not in r and "torch_s" not in r
