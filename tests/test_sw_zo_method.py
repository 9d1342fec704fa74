"""Zeroth-order estimators: batched shortcuts equal explicit perturbed forwards; estimates point
along the true gradient (the integer trainer: test_sw_zo_fixed.py)."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fotrain.sw.bp import network_grad
from fotrain.sw.losses import loss_per_query
from fotrain.sw.model import dense_equivalents, init_params, network_forward
from fotrain.sw.zo.method import (
    ZOMethod,
    block_plan,
    directions,
    perturbed_losses,
    right_environment,
)


@pytest.mark.parametrize(
    "name", ["0.core0", "0.core1", "0.core2", "0.bias", "1.core0", "1.core2", "1.bias"]
)
def test_linear_shortcut_equals_explicit_forwards(name, small_tt_config):
    cfg = small_tt_config()
    rng = np.random.default_rng(1)
    p = init_params(cfg, rng=rng)
    x, y = rng.random((5, 12)), rng.integers(0, 10, 5)
    caches = {}
    network_forward(cfg, p, x, caches=caches)
    u = {name: rng.normal(size=(3,) + p[name].shape)}
    steps = np.array([0.1, -0.05])
    got = perturbed_losses(cfg, p, caches, x, y, [name], u, steps, dense_equivalents(cfg, p))
    for a, s in enumerate(steps):
        for q in range(3):
            moved = dict(p)
            moved[name] = p[name] + s * u[name][q]
            want = loss_per_query("ce", network_forward(cfg, moved, x), y)
            assert got[a, q] == pytest.approx(want, rel=1e-10, abs=1e-12)


def test_right_environment_is_the_suffix_matrix():
    rng = np.random.default_rng(2)
    cores = [rng.normal(size=s) for s in [(1, 2, 3, 2), (2, 3, 2, 4), (4, 2, 2, 1)]]
    env = right_environment(cores, 0)  # (r1, n2 n3, m2 m3)
    for a in range(2):
        for j2 in range(3):
            for j3 in range(2):
                for i2 in range(2):
                    for i3 in range(2):
                        want = cores[1][a, j2, i2, :] @ cores[2][:, j3, i3, 0]
                        assert env[a, j2 * 2 + j3, i2 * 2 + i3] == pytest.approx(want)


def step_and_true_gradient(cfg, seed, batch):
    """A :class:`ZOMethod` on ``cfg`` takes one step at lr 1 on a random batch: the method, its
    parameters before the step and the true gradient there."""
    m = ZOMethod(cfg, seed=seed)
    rng = np.random.default_rng(seed)
    x, y = rng.random((batch, 12)), rng.integers(0, 10, batch)
    _, g_true = network_grad(cfg, m.p, x, y)
    before = {k: v.copy() for k, v in m.p.items()}
    m.train_step(x, y, step=0, epoch=0, lr=1.0)
    return m, before, g_true


@pytest.mark.parametrize("blocks", ["core", "layer", "all"])
def test_rge_estimate_points_along_the_gradient(blocks, small_tt_config):
    cfg = small_tt_config(
        f"zo.blocks='{blocks}'",
        "zo.queries=400",
        "zo.mu=1e-4",
        "zo.precision='float64'",
        "train.optimizer='sgd'",
    )
    m, before, g_true = step_and_true_gradient(cfg, seed=3, batch=8)
    est = np.concatenate([(before[k] - m.p[k]).ravel() for k in sorted(m.p)])
    true = np.concatenate([g_true[k].ravel() for k in sorted(m.p)])
    cos = est @ true / np.linalg.norm(est) / np.linalg.norm(true)
    assert cos > 0.5  # 400 directions on ~200 parameters per block
    assert m.forward_passes == 1 + 2 * 400 * len(block_plan(cfg, sorted(m.p)))


def test_cge_equals_the_gradient(small_tt_config):
    cfg = small_tt_config(
        "zo.estimator='cge'", "zo.mu=1e-5", "zo.precision='float64'", "train.optimizer='sgd'"
    )
    m, before, g_true = step_and_true_gradient(cfg, seed=4, batch=6)
    for k in m.p:
        assert_allclose(before[k] - m.p[k], g_true[k], atol=1e-6)


def test_scd_only_keeps_improving_steps_and_one_sided_rge_runs(small_tt_config):
    cfg = small_tt_config(
        "train.method='hybrid'",
        "zo.switch_epoch=0",
        "zo.scd_sparsity=0.5",
        "zo.scd_lr=1e-2",
        "zo.precision='float64'",
    )
    m = ZOMethod(cfg, seed=5)
    rng = np.random.default_rng(5)
    x, y = rng.random((16, 12)), rng.integers(0, 10, 16)
    before = {k: v.copy() for k, v in m.p.items()}
    r = m.train_step(x, y, step=0, epoch=0, lr=1.0)
    moved = [k for k in m.p if not np.array_equal(before[k], m.p[k])]
    assert r["scd_accepted"] > 0 and moved
    for k in moved:
        d = np.abs(m.p[k] - before[k])
        assert set(np.unique(np.round(d / 1e-2, 9))) <= {0.0, 1.0}
    one = ZOMethod(small_tt_config("zo.sided='one'"), seed=5)
    one.train_step(x, y, step=0, epoch=0, lr=1e-2)
    assert one.forward_passes == 1 + 10 * len(one.blocks)


def test_directions_from_lfsr_are_reproducible_and_gaussian_option(small_tt_config):
    cfg = small_tt_config()
    rng = np.random.default_rng(0)
    a = directions(cfg, (3, 4), 5, seed=9, stream=2, rng=rng)
    b = directions(cfg, (3, 4), 5, seed=9, stream=2, rng=np.random.default_rng(1))
    assert_array_equal(a, b)
    assert set(np.unique(a)) == {-1.0, 1.0}
    g = directions(
        small_tt_config("zo.distribution='gaussian'"), (3, 4), 5, seed=9, stream=2, rng=rng
    )
    assert g.shape == (5, 3, 4) and len(np.unique(g)) == 60
