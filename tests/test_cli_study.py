"""`fotrain study`: --set overrides reach the study's config, bad ones are one-line errors."""

import json

from fotrain.cli import main


def test_pinn_noise_study_applies_overrides_and_rejects_bad_ones(tmp_path, capsys):
    assert (
        main(
            [
                "study",
                "pinn-noise",
                "--bits",
                "16",
                "--points",
                "8",
                "--set",
                "pinn.sigma=0.25",
                "--out",
                str(tmp_path),
                "--no-progress",
            ]
        )
        == 0
    )
    saved = json.loads((tmp_path / "pinn_noise.json").read_text())
    assert saved["overrides"] == ["pinn.sigma=0.25"] and saved["rows"][0]["sigma"] == 0.25
    assert (
        main(["study", "pinn-noise", "--set", "pinn.sigmaa=1", "--out", str(tmp_path / "bad")]) == 2
    )
    assert "--set pinn.sigmaa: unknown key 'sigmaa'" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert (
        main(["study", "pinn-noise", "--set", 'zo.blocks="layer"', "--out", str(tmp_path / "bad")])
        == 2
    )  # valid config, not a fixed PINN setting
    assert "zo.blocks: fixed-point PINN training implements" in capsys.readouterr().err
    assert not (tmp_path / "bad").exists()
    assert main(["study", "variance", "--set", "pinn.sigma=1", "--out", str(tmp_path / "v")]) == 2
    assert "--set belong to 'pinn-noise'" in capsys.readouterr().err
