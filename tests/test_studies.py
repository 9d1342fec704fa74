"""`fotrain study variance`, `fotrain study pinn-noise` and `fotrain bench zo`: they run, write
their files, and the numbers follow the RGE error law / the stencil's error gain within slack."""

import json

from datadir import dataset_root

from fotrain.bench import run_bench
from fotrain.cli import main
from fotrain.compare import scale_config
from fotrain.studies import run_pinn_noise_study, run_variance_study
from fotrain.sw.config import load_config
from fotrain.sw.studies.pinn_noise import estimate_noise


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


def test_pinn_noise_follows_the_word_length_and_the_stencil_gain():
    cfg = load_config("hjb20-tt-zo-fixed16")
    r16 = estimate_noise(cfg, points=32)
    r20 = estimate_noise(scale_config(cfg, 20), points=32)
    for r in (r16, r20):  # a few act LSBs at the output, amplified >= 1/h**2 in the Laplacian
        assert 0.3 < r["nn_err"] / r["act_lsb"] < 4
        assert r["lap_gain"] > 1 / r["sigma"] ** 2
        assert 0.5 < r["residual_err"] / r["lap_err"] < 2  # the Laplacian error dominates
    assert 8 < r16["lap_err"] / r20["lap_err"] < 32  # 4 more fractional bits: ~16x smaller
    # the float signal barely depends on how finely the parameters were quantized
    assert abs(r16["residual_float"] / r20["residual_float"] - 1) < 0.02


def test_pinn_noise_treats_every_point_as_interior():
    cfg = load_config("hjb20-tt-zo-fixed16")
    with_faces = cfg.with_overrides(["pinn.boundary_points=16"])  # more than the points
    assert estimate_noise(with_faces, points=8) == estimate_noise(cfg, points=8)


def test_pinn_noise_study_writes_json_png_and_reports_bad_input(tmp_path, capsys):
    res = run_pinn_noise_study(tmp_path, bits=(14, 16), points=16, progress=False)
    assert [r["bits"] for r in res["rows"]] == [14, 16]
    assert (tmp_path / "pinn_noise.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "pinn_noise.json").read_text())["preset"] == "hjb20-tt-zo-fixed16"
    assert main(["study", "pinn-noise", "--preset", "mnist-tt-zo", "--out", str(tmp_path)]) == 2
    assert "train.task: 'mnist' is not a PDE task" in capsys.readouterr().err


def test_pinn_noise_study_applies_overrides_and_rejects_bad_ones(tmp_path, capsys):
    assert main(["study", "pinn-noise", "--bits", "16", "--points", "8", "--set",
                 "pinn.sigma=0.25", "--out", str(tmp_path), "--no-progress"]) == 0
    saved = json.loads((tmp_path / "pinn_noise.json").read_text())
    assert saved["overrides"] == ["pinn.sigma=0.25"] and saved["rows"][0]["sigma"] == 0.25
    assert main(["study", "pinn-noise", "--set", "pinn.sigmaa=1", "--out",
                 str(tmp_path / "bad")]) == 2
    assert "--set pinn.sigmaa: unknown key 'sigmaa'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["study", "pinn-noise", "--set", 'zo.blocks="layer"', "--out",
                 str(tmp_path / "bad")]) == 2  # valid config, not a fixed PINN setting
    assert "zo.blocks: fixed-point PINN training implements" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["study", "variance", "--set", "pinn.sigma=1", "--out", str(tmp_path / "v")]) == 2
    assert "--set belong to 'pinn-noise'" in capsys.readouterr().err


def test_pinn_noise_overrides_apply_before_the_word_length_scaling(tmp_path):
    # act Q6.10 (acc frac 10 + 14) scaled to 12 bits keeps its 6 integer bits: LSB 2**-6
    res = run_pinn_noise_study(tmp_path, bits=(12,), points=8, progress=False,
                               overrides=("formats.act.frac=10", "formats.acc.frac=24"))
    assert res["rows"][0]["act_lsb"] == 2.0**-6
