"""`fotrain plot`: learning curves of run folders to a PNG; a folder that is not a run is
refused."""

import json


def test_plot_runs_writes_png_and_refuses_non_runs(tmp_path):
    import pytest

    from fotrain.plot import plot_runs
    from fotrain.sw.errors import FotrainError

    run = tmp_path / "run"
    run.mkdir()
    lines = [
        {"kind": "train", "epoch": 0, "step": s, "loss": 2.0 / s, "lr": 1e-3} for s in range(1, 5)
    ]
    lines += [
        {
            "kind": "eval",
            "epoch": e,
            "step": 4 * e,
            "lr": 1e-3,
            "forward_passes": 10 * e,
            "wall_s": 1.0,
            "test_accuracy": 50.0 + e,
        }
        for e in (1, 2)
    ]
    (run / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    out = plot_runs([run], tmp_path / "c.png")
    assert out.stat().st_size > 10_000
    with pytest.raises(FotrainError, match="has no metrics.jsonl"):
        plot_runs([tmp_path / "nope"], tmp_path / "d.png")
