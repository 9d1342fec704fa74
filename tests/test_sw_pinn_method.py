"""PINN training (float): batched losses = plain forwards, exact networks have zero loss, ZO
lowers the loss, first-order gradient = finite differences, resume bit-identity through the
trainer, presets load. The integer path: test_sw_pinn_fixed.py."""

import json

import numpy as np
import pytest

from fotrain.sw.config import TrainConfig, ZOConfig, load_config
from fotrain.sw.config.pinn import PINNConfig
from fotrain.sw.errors import ConfigError
from fotrain.sw.model import network_forward
from fotrain.sw.pinn.collocation import Collocation
from fotrain.sw.pinn.method import PINNMethod
from fotrain.sw.pinn.problems import HJB
from fotrain.sw.pinn.task import PDETask
from fotrain.sw.train.registry import make_method
from fotrain.sw.train.trainer import Trainer


@pytest.mark.parametrize("boundary", [0, 2])
@pytest.mark.parametrize(
    "blocks", [["0.core1"], ["0.core2"], ["0.bias"], ["1.w"], ["0.core0", "0.core2", "1.bias"]]
)
def test_batched_block_losses_equal_plain_forwards(blocks, boundary, tiny_pinn):
    m = PINNMethod(tiny_pinn(), seed=1)
    rng = np.random.default_rng(2)
    x = rng.random((3, 21))
    if boundary:
        x = np.concatenate([x, m.problem.sample_boundary(boundary, rng=rng)])
    col = Collocation(m.problem, m.stencil, x, boundary)
    from fotrain.sw.pinn.net import BaseEval

    base = BaseEval(m.cfg, m.p, col.xi, m.stencil.offsets, np.float64, extra=col.xb)
    assert base.size == 3 * 43 + boundary
    np.testing.assert_allclose(base.out, network_forward(m.cfg, m.p, col.points)[:, 0], atol=1e-13)
    rng = np.random.default_rng(3)
    u = {n: rng.choice([-1.0, 1.0], size=(4, *m.p[n].shape)) for n in blocks}
    got = m.block_losses(base, col, blocks, u, [0.01, -0.01])
    for a, s in enumerate([0.01, -0.01]):
        for q in range(4):
            moved = {**m.p, **{n: m.p[n] + s * u[n][q] for n in blocks}}
            ref = col.losses(network_forward(m.cfg, moved, col.points)[:, 0][None])[0]
            assert got[a, q] == pytest.approx(ref, abs=1e-10)


def test_first_order_gradient_matches_finite_differences(tiny_pinn):
    m = PINNMethod(tiny_pinn(method="bp"), seed=0)
    col = Collocation(m.problem, m.stencil, np.random.default_rng(4).random((3, 21)))
    loss, grads = m.first_order(col)
    assert_grads_match_fd(m, col, grads, ("0.core0", "0.core2", "0.bias", "1.w"), seed=5)


def assert_grads_match_fd(m, col, grads, names, seed):
    """Directional derivatives of ``col.losses`` along random directions equal ``grads``."""
    rng = np.random.default_rng(seed)
    for n in names:
        d = rng.normal(size=m.p[n].shape)
        ls = [
            col.losses(network_forward(m.cfg, {**m.p, n: m.p[n] + e * d}, col.points)[:, 0][None])[
                0
            ]
            for e in (1e-6, -1e-6)
        ]
        assert np.sum(grads[n] * d) == pytest.approx((ls[0] - ls[1]) / 2e-6, rel=1e-5)


@pytest.mark.parametrize("derivatives", ["fd", "sparse_grid"])
def test_exact_network_has_zero_hjb_loss_through_the_method(derivatives, tiny_pinn):
    m = PINNMethod(tiny_pinn(), seed=0, pinn=PINNConfig(derivatives=derivatives))
    for k, v in m.p.items():  # NN == 1: the exact solution u = sum(x) + 1 - t
        v[...] = 1.0 if k == "1.bias" else 0.0
    x = np.random.default_rng(6).random((3, 21))
    loss, grads = m.zo_gradient(Collocation(m.problem, m.stencil, x), step=0)
    assert loss < 1e-16  # rounding of u ~ 10 through the stencil gains (1/h^2, 16,000/sigma^2)
    test = np.random.default_rng(7).random((50, 21))
    np.testing.assert_allclose(m.predict(test)[:, 0], HJB().exact(test), atol=1e-12)


def test_zo_steps_reduce_the_loss(tiny_pinn):
    cfg = tiny_pinn(blocks="all")
    m = PINNMethod(cfg.replace(zo=ZOConfig(blocks="all", queries=8, precision="float64")), seed=3)
    x = np.random.default_rng(9).random((3, 21))
    col = Collocation(m.problem, m.stencil, x)
    first = m.zo_gradient(col, 0)[0]
    for s in range(40):
        m.train_step(x, np.zeros(3, np.int64), step=s, epoch=0, lr=1e-2)
    assert m.zo_gradient(col, 99)[0] < 0.5 * first


@pytest.mark.parametrize("numerics", ["float", "fixed"])
def test_resume_is_bit_identical_through_the_trainer(tmp_path, numerics, tiny_pinn):
    cfg = tiny_pinn(numerics=numerics)
    task = PDETask(cfg)
    full = make_method(cfg, seed=0)
    Trainer(cfg, full, task, tmp_path / "a", progress=False).run()
    short = cfg.replace(train=TrainConfig(**{**cfg.train.to_dict(), "max_steps": 2}))
    Trainer(short, make_method(short, seed=0), task, tmp_path / "b", progress=False).run()
    resumed = make_method(cfg, seed=0)
    s = Trainer(cfg, resumed, task, tmp_path / "b", progress=False).run(resume=True)
    for k, v in full.state().items():
        np.testing.assert_array_equal(v, resumed.state()[k], err_msg=k)
    summary = json.loads((tmp_path / "b" / "summary.json").read_text())
    assert summary["rel_l2"] == s["rel_l2"] and s["network_evals_per_iteration"] > 0


@pytest.mark.parametrize(
    "name", ["hjb20-tt-zo", "hjb20-tt-zo-fixed16", "heat20-tt-zo", "heat20-tt-bp"]
)
def test_presets_load_and_count_evaluations(name):
    cfg = load_config(name)
    m = make_method(cfg, seed=0)
    assert m.params == 1929
    per_it = m.summary()["network_evals_per_iteration"]
    if name == "hjb20-tt-zo":
        assert per_it == 16 * 43 * 21
    if name == "hjb20-tt-zo-fixed16":  # every entry at once: one block of 2 x 10 queries
        assert per_it == 16 * 43 * 21
    if name.startswith("heat20"):  # 16 interior points x 43 + 16 boundary points x 1
        assert cfg.pinn.boundary_points == 16
        assert per_it == (16 * 43 + 16) * (21 if name.endswith("zo") else 1)


def test_bad_settings_raise_config_error(tiny_pinn):
    with pytest.raises(ConfigError, match="derivatives"):
        PINNConfig(derivatives="autodiff")
    with pytest.raises(ConfigError, match="level"):
        PINNConfig(level=2)
    with pytest.raises(ConfigError, match="zo.estimator"):
        PINNMethod(tiny_pinn(estimator="cge"), seed=0)
    with pytest.raises(ConfigError, match="zo.blocks"):
        make_method(tiny_pinn(numerics="fixed", blocks="layer"), seed=0)


def test_first_order_gradient_with_boundary_points_matches_finite_differences(
    tiny_pinn, boundary_col
):
    m = PINNMethod(tiny_pinn(method="bp"), seed=0)
    col = boundary_col(m.problem)
    loss, grads = m.first_order(col)
    assert loss == pytest.approx(col.losses(network_forward(m.cfg, m.p, col.points)[:, 0][None])[0])
    assert_grads_match_fd(m, col, grads, ("0.core1", "0.bias", "1.w", "1.bias"), seed=14)
