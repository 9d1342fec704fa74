"""The integer ZO trainer: perturbed scores and chunked forwards equal separate integer forwards;
the integer SGD / signSGD / coordinate steps are bit-reproducible and move by whole LSBs."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fotrain.sw.config import load_config
from fotrain.sw.model import network_forward_fixed
from fotrain.sw.qformat import OverflowStats
from fotrain.sw.zo.fixed import ZOFixedMethod, lr_multiplier, mse_loss_codes


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

    cfg = load_config("hjb20-tt").with_overrides(
        ["train.numerics='fixed'", "train.loss='mse'", "train.task='mnist'"]
    )
    m = ZOFixedMethod(cfg, seed=3)
    xq = cfg.formats.act.random_codes(np.random.default_rng(4), (30, cfg.in_features))
    monkeypatch.setattr(zo_fixed, "CHUNK_ELEMENTS", 7 * m._row_width(0))  # 7-row chunks
    want_stats, got_stats = OverflowStats(), OverflowStats()
    want = network_forward_fixed(cfg, m.q, xq, stats=want_stats)
    got, _ = m._forward_codes(m._float_params(), xq.astype(np.float64), stats=got_stats)
    assert_array_equal(got, want)
    assert got_stats.total == want_stats.total > 0


@pytest.fixture
def fixed_setup(small_tt_config):
    """``fixed_setup(seed, *sets)``: an integer ZO trainer on ``small_tt_config`` (mse loss,
    ``sets``), a batch, the initial codes."""

    def setup(seed, *sets):
        cfg = small_tt_config("train.numerics='fixed'", "train.loss='mse'", *sets)
        m = ZOFixedMethod(cfg, seed=seed)
        rng = np.random.default_rng(seed)
        x, y = rng.random((16, 12)), rng.integers(0, 10, 16)
        return cfg, m, x, y, {k: v.copy() for k, v in m.q.items()}

    return setup


def test_fixed_step_is_integer_sgd_and_reports_diagnostics(fixed_setup):
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


def test_fixed_signsgd_moves_every_entry_by_the_lr_in_lsbs(fixed_setup):
    cfg, m, x, y, before = fixed_setup(2, "train.optimizer='signsgd'", "zo.fixed_mu_lsb=8")
    lr = 5 * cfg.formats.weight.lsb
    m.train_step(x, y, step=0, epoch=0, lr=lr)
    for k in m.q:
        if k.endswith(".bias"):
            continue
        steps = np.unique(np.abs(m.q[k] - before[k]))
        assert set(steps.tolist()) <= {0, 5} and 5 in steps


def test_fixed_hybrid_scd_keeps_only_moves_that_lower_the_integer_loss(fixed_setup):
    cfg, m, x, y, before = fixed_setup(
        3,
        "train.optimizer='signsgd'",
        "train.method='hybrid'",
        "zo.switch_epoch=1",
        "zo.scd_sparsity=0.5",
        "zo.scd_lr=0.02",
    )
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
