"""`fotrain bench zo`: one ZO step, timed (with torch when it is installed)."""

from fotrain.bench import run_bench


def test_bench_zo_runs_one_step():
    r = run_bench("zo", batch=8, repeats=1)
    assert r["forwards_per_step"] == 1 + 2 * 10 * 10 and r["fotrain_s"] > 0
    assert "ratio_vs_torch" in r or "skipped" in r["torch"]
