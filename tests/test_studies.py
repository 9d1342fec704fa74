"""The studies behind `fotrain study variance` and `fotrain study pinn-noise`: they run, write
their files, and the numbers follow the RGE error law within slack (the noise estimate itself:
test_sw_studies_pinn_noise.py)."""

import json

from fotrain.cli import main
from fotrain.studies import run_pinn_noise_study, run_variance_study


def test_variance_study_writes_json_and_png(tmp_path, dataset_root):
    result = run_variance_study(
        tmp_path, queries=4, repeats=2, batch=8, data_dir=str(dataset_root), progress=False
    )
    assert (tmp_path / "variance.png").stat().st_size > 10_000
    rows = json.loads((tmp_path / "variance.json").read_text())["rows"]
    assert [r["d"] for r in rows] == sorted(r["d"] for r in rows)  # TT ranks up, then dense
    assert rows[-1]["d"] == 814_090 and rows[3]["d"] == 3962
    dense, tt = rows[-1], rows[0]
    assert tt["cos_mean"] > 5 * dense["cos_mean"]  # fewer perturbed entries, better estimate
    for r in rows:
        assert 0.3 < r["err_mean"] / r["err_theory"] < 3
    assert result["queries"] == 4


def test_pinn_noise_study_writes_json_png_and_reports_bad_input(tmp_path, capsys):
    res = run_pinn_noise_study(tmp_path, bits=(14, 16), points=16, progress=False)
    assert [r["bits"] for r in res["rows"]] == [14, 16]
    assert (tmp_path / "pinn_noise.png").stat().st_size > 10_000
    assert json.loads((tmp_path / "pinn_noise.json").read_text())["preset"] == "hjb20-tt-zo-fixed16"
    assert main(["study", "pinn-noise", "--preset", "mnist-tt-zo", "--out", str(tmp_path)]) == 2
    assert "train.task: 'mnist' is not a PDE task" in capsys.readouterr().err


def test_pinn_noise_overrides_apply_before_the_word_length_scaling(tmp_path):
    # act Q6.10 (acc frac 10 + 14) scaled to 12 bits keeps its 6 integer bits: LSB 2**-6
    res = run_pinn_noise_study(
        tmp_path,
        bits=(12,),
        points=8,
        progress=False,
        overrides=("formats.act.frac=10", "formats.acc.frac=24"),
    )
    assert res["rows"][0]["act_lsb"] == 2.0**-6
