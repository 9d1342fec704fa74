"""Zeroth-order estimators: batched shortcuts equal explicit perturbed forwards; estimates point
along the true gradient; the integer step is bit-identical to separate fixed forwards."""

import numpy as np
import pytest
from numpy.testing import assert_allclose, assert_array_equal

from fotrain.sw.bp import network_grad
from fotrain.sw.config import load_config
from fotrain.sw.losses import loss_per_query
from fotrain.sw.model import dense_equivalents, init_params, network_forward, network_forward_fixed
from fotrain.sw.qformat import OverflowStats
from fotrain.sw.zo.fixed import ZOFixedMethod, lr_multiplier, mse_loss_codes
from fotrain.sw.zo.method import (
    ZOMethod,
    block_plan,
    directions,
    perturbed_losses,
    right_environment,
)


def small_cfg(*extra):
    """A two-layer TT net 12 -> 12 -> 10 with biases (second layer from the tt-layer preset)."""
    return load_config("mnist-tt-1024").with_overrides([
        "layers.0.in_features=12", "layers.0.in_modes=[2,3,2]", "layers.0.out_modes=[4,2,4]",
        "layers.0.out_features=32", "layers.0.ranks=[1,3,2,1]", "layers.0.activation='tanh'",
        "layers.1.in_features=32", "layers.1.in_modes=[2,4,4]", "layers.1.out_modes=[1,5,2]",
        "layers.1.ranks=[1,2,3,1]", *extra])


@pytest.mark.parametrize("name", ["0.core0", "0.core1", "0.core2", "0.bias", "1.core0",
                                  "1.core2", "1.bias"])
def test_linear_shortcut_equals_explicit_forwards(name):
    cfg = small_cfg()
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


@pytest.mark.parametrize("blocks", ["core", "layer", "all"])
def test_rge_estimate_points_along_the_gradient(blocks):
    cfg = small_cfg(f"zo.blocks='{blocks}'", "zo.queries=400", "zo.mu=1e-4",
                    "zo.precision='float64'", "train.optimizer='sgd'")
    m = ZOMethod(cfg, seed=3)
    rng = np.random.default_rng(3)
    x, y = rng.random((8, 12)), rng.integers(0, 10, 8)
    _, g_true = network_grad(cfg, m.p, x, y)
    before = {k: v.copy() for k, v in m.p.items()}
    m.train_step(x, y, step=0, epoch=0, lr=1.0)
    est = np.concatenate([(before[k] - m.p[k]).ravel() for k in sorted(m.p)])
    true = np.concatenate([g_true[k].ravel() for k in sorted(m.p)])
    cos = est @ true / np.linalg.norm(est) / np.linalg.norm(true)
    assert cos > 0.5  # 400 directions on ~200 parameters per block
    assert m.forward_passes == 1 + 2 * 400 * len(block_plan(cfg, sorted(m.p)))


def test_cge_equals_the_gradient():
    cfg = small_cfg("zo.estimator='cge'", "zo.mu=1e-5", "zo.precision='float64'",
                    "train.optimizer='sgd'")
    m = ZOMethod(cfg, seed=4)
    rng = np.random.default_rng(4)
    x, y = rng.random((6, 12)), rng.integers(0, 10, 6)
    _, g_true = network_grad(cfg, m.p, x, y)
    before = {k: v.copy() for k, v in m.p.items()}
    m.train_step(x, y, step=0, epoch=0, lr=1.0)
    for k in m.p:
        assert_allclose(before[k] - m.p[k], g_true[k], atol=1e-6)


def test_scd_only_keeps_improving_steps_and_one_sided_rge_runs():
    cfg = small_cfg("train.method='hybrid'", "zo.switch_epoch=0", "zo.scd_sparsity=0.5",
                    "zo.scd_lr=1e-2", "zo.precision='float64'")
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
    one = ZOMethod(small_cfg("zo.sided='one'"), seed=5)
    one.train_step(x, y, step=0, epoch=0, lr=1e-2)
    assert one.forward_passes == 1 + 10 * len(one.blocks)


def test_directions_from_lfsr_are_reproducible_and_gaussian_option():
    cfg = small_cfg()
    rng = np.random.default_rng(0)
    a = directions(cfg, (3, 4), 5, seed=9, stream=2, rng=rng)
    b = directions(cfg, (3, 4), 5, seed=9, stream=2, rng=np.random.default_rng(1))
    assert_array_equal(a, b)
    assert set(np.unique(a)) == {-1.0, 1.0}
    g = directions(small_cfg("zo.distribution='gaussian'"), (3, 4), 5, seed=9, stream=2, rng=rng)
    assert g.shape == (5, 3, 4) and len(np.unique(g)) == 60


@pytest.mark.parametrize("preset", ["mnist-ttm-256", "hjb20-tt"])
def test_fixed_perturbed_scores_equal_separate_integer_forwards(preset):
    sets = ["train.numerics='fixed'", "train.loss='mse'", "zo.queries=2", "zo.fixed_mu_lsb=7"]
    if preset == "hjb20-tt":
        sets.append("train.task='mnist'")
    cfg = load_config(preset).with_overrides(sets)
    m = ZOFixedMethod(cfg, seed=1)
    rng = np.random.default_rng(0)
    xq = cfg.formats.act.quantize(rng.random((3, cfg.in_features)))
    caches = {}
    base, _ = m._forward_codes(m._float_params(), xq.astype(np.float64), caches)
    assert_array_equal(base, network_forward_fixed(cfg, m.q, xq))
    for name in m.q:
        u = rng.choice([-1, 1], size=(2,) + m.q[name].shape).astype(np.int64)
        got = m._perturbed_scores(name, u, caches, 7, OverflowStats())
        for off, sgn in ((0, 7), (2, -7)):
            for j in range(2):
                moved = dict(m.q)
                moved[name] = m.q[name] + sgn * u[j]
                assert_array_equal(got[off + j], network_forward_fixed(cfg, moved, xq))


def test_fixed_forward_in_chunks_equals_one_integer_forward(monkeypatch):
    """A batch split into ragged row chunks gives the codes and the overflow count of one
    ``network_forward_fixed`` (inputs over the whole act range, so layers saturate)."""
    from fotrain.sw.zo import fixed as zo_fixed

    cfg = load_config("hjb20-tt").with_overrides([
        "train.numerics='fixed'", "train.loss='mse'", "train.task='mnist'"])
    m = ZOFixedMethod(cfg, seed=3)
    xq = cfg.formats.act.random_codes(np.random.default_rng(4), (30, cfg.in_features))
    monkeypatch.setattr(zo_fixed, "CHUNK_ELEMENTS", 7 * m._row_width(0))  # 7-row chunks
    want_stats, got_stats = OverflowStats(), OverflowStats()
    want = network_forward_fixed(cfg, m.q, xq, stats=want_stats)
    got, _ = m._forward_codes(m._float_params(), xq.astype(np.float64), stats=got_stats)
    assert_array_equal(got, want)
    assert got_stats.total == want_stats.total > 0


def fixed_setup(seed, *sets):
    """An integer ZO trainer on ``small_cfg`` (mse loss, ``sets``), a batch, the initial codes."""
    cfg = small_cfg("train.numerics='fixed'", "train.loss='mse'", *sets)
    m = ZOFixedMethod(cfg, seed=seed)
    rng = np.random.default_rng(seed)
    x, y = rng.random((16, 12)), rng.integers(0, 10, 16)
    return cfg, m, x, y, {k: v.copy() for k, v in m.q.items()}


def test_fixed_step_is_integer_sgd_and_reports_diagnostics():
    cfg, m, x, y, before = fixed_setup(2, "train.optimizer='sgd'", "zo.fixed_mu_lsb=8")
    r = m.train_step(x, y, step=0, epoch=0, lr=0.5)
    assert all(v.dtype == np.int64 for v in m.q.values())
    assert any(not np.array_equal(before[k], m.q[k]) for k in m.q)
    assert 0 <= r["zero_update_frac"] < 1 and r["perturb_lsb"] == 8
    m2 = ZOFixedMethod(cfg, seed=2)
    m2.train_step(x, y, step=0, epoch=0, lr=0.5)
    for k in m.q:  # same seed, same bits
        assert_array_equal(m.q[k], m2.q[k])
    mant, shift = lr_multiplier(3e-7)
    assert 2**11 <= mant < 2**12 and mant / 2**shift == pytest.approx(3e-7, rel=1e-3)
    scores = np.array([[[1024, 0], [0, 512]]])
    assert mse_loss_codes(scores, np.array([0, 1]), 10).tolist() == [512**2]


def test_fixed_signsgd_moves_every_entry_by_the_lr_in_lsbs():
    cfg, m, x, y, before = fixed_setup(2, "train.optimizer='signsgd'", "zo.fixed_mu_lsb=8")
    lr = 5 * cfg.formats.weight.lsb
    m.train_step(x, y, step=0, epoch=0, lr=lr)
    for k in m.q:
        if k.endswith(".bias"):
            continue
        steps = np.unique(np.abs(m.q[k] - before[k]))
        assert set(steps.tolist()) <= {0, 5} and 5 in steps


def test_fixed_hybrid_scd_keeps_only_moves_that_lower_the_integer_loss():
    cfg, m, x, y, before = fixed_setup(3, "train.optimizer='signsgd'", "train.method='hybrid'",
                                       "zo.switch_epoch=1", "zo.scd_sparsity=0.5",
                                       "zo.scd_lr=0.02")
    xq = cfg.formats.act.quantize(x)

    def loss(q):
        return int(mse_loss_codes(network_forward_fixed(cfg, q, xq), y, cfg.formats.act.frac))

    base = loss(before)
    r = m.train_step(x, y, step=4, epoch=1, lr=1.0)  # epoch 1: the coordinate phase
    assert r["scd_accepted"] > 0 and r["perturb_lsb"] == round(0.02 / cfg.formats.weight.lsb)
    tried = sum(max(1, round(0.5 * v.size)) for v in before.values())
    assert r["zero_update_frac"] == pytest.approx(1 - r["scd_accepted"] / tried)
    assert m.forward_passes == 1 + 2 * tried
    moved = 0
    for name in before:
        k = max(1, round(0.02 / m._fmt(name).lsb))
        d = m.q[name] - before[name]
        assert set(np.unique(np.abs(d)).tolist()) <= {0, k}
        for flat in np.flatnonzero(d):  # each kept move, alone, lowers the loss
            one = dict(before)
            one[name] = before[name].copy()
            one[name].flat[flat] += d.flat[flat]
            assert loss(one) < base
            moved += 1
    assert moved == r["scd_accepted"]
    m2 = ZOFixedMethod(cfg, seed=3)
    m2.train_step(x, y, step=4, epoch=1, lr=1.0)
    for k in m.q:
        assert_array_equal(m.q[k], m2.q[k])
    rge = ZOFixedMethod(cfg, seed=3)  # epoch 0: the RGE phase (signSGD moves every entry)
    assert "scd_accepted" not in rge.train_step(x, y, step=4, epoch=0, lr=1e-3)
