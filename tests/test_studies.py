"""`fotrain study variance` and `fotrain bench zo`: they run, write their files, and the study's
numbers follow the RGE error law within statistical slack."""

import json

from datadir import dataset_root

from fotrain.bench import run_bench
from fotrain.studies import run_variance_study


def test_variance_study_writes_json_and_png(tmp_path):
    result = run_variance_study(tmp_path, queries=4, repeats=2, batch=8,
                                data_dir=str(dataset_root()), progress=False)
    assert (tmp_path / "variance.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "variance.json").read_text())["rows"]
    assert [r["d"] for r in rows] == sorted(r["d"] for r in rows)  # TT ranks up, then dense
    assert rows[-1]["d"] == 814_090 and rows[3]["d"] == 3962
    dense, tt = rows[-1], rows[0]
    assert tt["cos_mean"] > 5 * dense["cos_mean"]  # fewer perturbed entries, better estimate
    for r in rows:
        assert 0.3 < r["err_mean"] / r["err_theory"] < 3
    assert result["queries"] == 4


def test_bench_zo_runs_one_step():
    r = run_bench("zo", batch=8, repeats=1)
    assert r["forwards_per_step"] == 1 + 2 * 10 * 10 and r["fotrain_s"] > 0
    assert "ratio_vs_torch" in r or "skipped" in r["torch"]


def test_plot_runs_writes_png_and_refuses_non_runs(tmp_path):
    import pytest

    from fotrain.plot import plot_runs
    from fotrain.sw.errors import FotrainError

    run = tmp_path / "run"
    run.mkdir()
    lines = [{"kind": "train", "epoch": 0, "step": s, "loss": 2.0 / s, "lr": 1e-3}
             for s in range(1, 5)]
    lines += [{"kind": "eval", "epoch": e, "step": 4 * e, "lr": 1e-3, "forward_passes": 10 * e,
               "wall_s": 1.0, "test_accuracy": 50.0 + e} for e in (1, 2)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = plot_runs([run], tmp_path / "c.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(FotrainError, match="has no metrics.jsonl"):
        plot_runs([tmp_path / "nope"], tmp_path / "d.png")
