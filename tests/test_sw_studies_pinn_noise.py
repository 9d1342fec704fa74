"""The PINN noise estimate follows the word length and the stencil's error gain."""

from fotrain.compare import scale_config
from fotrain.sw.config import load_config
from fotrain.sw.studies.pinn_noise import estimate_noise


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
