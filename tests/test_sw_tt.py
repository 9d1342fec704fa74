"""TT-matrix golden model: float vs dense, TT-SVD, initialiser, costs, fixed point vs float."""

import math

import numpy as np
import pytest
from numpy.testing import assert_allclose

from fotrain.sw.config import Config, FormatConfig
from fotrain.sw.errors import FotrainError
from fotrain.sw.qformat import OverflowStats, QFormat
from fotrain.sw.tt import (
    check_cores,
    tt_core_costs,
    tt_fixed_error_bound,
    tt_forward,
    tt_forward_fixed,
    tt_from_dense,
    tt_init,
    tt_to_dense,
)


def random_geometry(rng, d):
    ins = [int(v) for v in rng.integers(1, 6, size=d)]
    outs = [int(v) for v in rng.integers(1, 6, size=d)]
    ranks = [1] + [int(v) for v in rng.integers(1, 9, size=d - 1)] + [1]
    return ins, outs, ranks


def reference_dense(cores):
    """W[i, j] by the definition: a chain of small matrix products, element by element."""
    ins, outs, _ = check_cores(cores)
    w = np.zeros((math.prod(outs), math.prod(ins)))
    for i, ii in enumerate(np.ndindex(*outs)):
        for j, jj in enumerate(np.ndindex(*ins)):
            m = np.eye(1)
            for g, a, b in zip(cores, jj, ii, strict=True):
                m = m @ g[:, a, b, :]
            w[i, j] = m[0, 0]
    return w


@pytest.mark.parametrize("seed", range(12))
def test_forward_equals_dense(seed):
    rng = np.random.default_rng(seed)
    d = 2 + seed % 4  # 2..5 cores
    ins, outs, ranks = random_geometry(rng, d)
    cores = [rng.normal(size=(ranks[k], ins[k], outs[k], ranks[k + 1])) for k in range(d)]
    x = rng.normal(size=(3, math.prod(ins)))
    w = tt_to_dense(cores)
    assert w.shape == (math.prod(outs), math.prod(ins))
    assert_allclose(tt_forward(cores, x), x @ w.T, rtol=1e-12, atol=1e-12)
    if w.size <= 4000:
        assert_allclose(w, reference_dense(cores), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("seed", range(6))
def test_tt_svd_round_trip_at_full_rank(seed):
    rng = np.random.default_rng(100 + seed)
    ins, outs, _ = random_geometry(rng, 2 + seed % 3)
    w = rng.normal(size=(math.prod(outs), math.prod(ins)))
    cores = tt_from_dense(w, ins, outs)
    assert_allclose(tt_to_dense(cores), w, rtol=0, atol=1e-10)
    check_cores(cores)


def test_tt_svd_recovers_low_rank_and_truncates():
    rng = np.random.default_rng(7)
    ins, outs, ranks = [4, 7, 7, 4], [4, 4, 4, 4], [1, 3, 3, 3, 1]
    cores = [
        rng.normal(size=s) for s in [(ranks[k], ins[k], outs[k], ranks[k + 1]) for k in range(4)]
    ]
    w = tt_to_dense(cores)
    approx = tt_from_dense(w, ins, outs, max_rank=3)
    assert max(g.shape[3] for g in approx) <= 3
    assert_allclose(tt_to_dense(approx), w, atol=1e-9 * np.abs(w).max())
    rough = tt_from_dense(w, ins, outs, max_rank=1)
    assert np.linalg.norm(tt_to_dense(rough) - w) > 1e-3 * np.linalg.norm(w)


def test_init_has_kaiming_variance():
    ins, outs, ranks = [4, 7, 7, 4], [4, 4, 4, 4], [1, 4, 4, 4, 1]
    var = np.mean(
        [
            tt_to_dense(tt_init(ins, outs, ranks, rng=np.random.default_rng(s))).var()
            for s in range(60)
        ]
    )
    assert var == pytest.approx(2 / 784, rel=0.15)


def test_costs_of_the_mnist_layer():
    costs = tt_core_costs([4, 7, 7, 4], [4, 4, 4, 4], [1, 4, 4, 4, 1], batch=1)
    assert [c.macs for c in costs] == [12544, 50176, 28672, 4096]
    assert sum(c.macs for c in costs) == 95488  # per-core MACs added up by hand
    assert max(c.out_size for c in costs) == 3136
    hjb = tt_core_costs([1, 1, 3, 7], [8, 4, 4, 4], [1, 2, 2, 2, 1])
    assert [c.macs for c in hjb] == [336, 2688, 10752, 7168]  # section 2.4
    assert Config().layers[0].macs(64) == 64 * 95488


def quantized_case(rng, fmts, ins, outs, ranks, batch=5, scale=1.0):
    cores = tt_init(ins, outs, ranks, rng=rng)
    qc = [fmts.weight.quantize(g) for g in cores]
    qx = fmts.act.quantize(scale * rng.random((batch, math.prod(ins))))
    return qc, qx


FORMATS = [
    FormatConfig(),
    FormatConfig(weight=QFormat(8, 6), act=QFormat(8, 4), acc=QFormat(24, 10)),
    FormatConfig(
        weight=QFormat(12, 10, rounding="RND_CONV", overflow="SAT"),
        act=QFormat(12, 7, rounding="RND_CONV", overflow="SAT"),
        acc=QFormat(32, 17),
    ),
    FormatConfig(
        weight=QFormat(24, 20, rounding="RND"),
        act=QFormat(24, 14, rounding="RND"),
        acc=QFormat(56, 34),
    ),
]


@pytest.mark.parametrize(
    "fmts", FORMATS, ids=lambda f: f"w{f.weight.width}a{f.act.width}{f.act.rounding.name}"
)
@pytest.mark.parametrize("seed", range(4))
def test_fixed_within_lsb_bound_of_float(fmts, seed):
    rng = np.random.default_rng(seed)
    ins, outs, ranks = random_geometry(rng, 2 + seed % 3)
    qc, qx = quantized_case(rng, fmts, ins, outs, ranks)
    stats = OverflowStats()
    y = tt_forward_fixed(qc, qx, fmts, stats=stats)
    assert y.dtype == np.int64 and y.shape == (5, math.prod(outs))
    dq = [fmts.weight.to_float(g) for g in qc]
    ref = tt_forward(dq, fmts.act.to_float(qx))
    assert stats.total == 0
    bound = tt_fixed_error_bound(dq, fmts)
    assert np.abs(fmts.act.to_float(y) - ref).max() <= bound
    assert bound >= fmts.act.lsb / 2  # the bound is LSB-derived, never zero


def test_fixed_matches_manual_per_core_requantization():
    """A literal, independent re-derivation for two cores: round after core 1, after core 2."""
    f = FormatConfig(
        weight=QFormat(8, 4), act=QFormat(8, 2, rounding="RND", overflow="SAT"), acc=QFormat(24, 6)
    )
    g1 = np.array([[[[3, -2]], [[5, 7]]]], dtype=np.int64)  # (1, n=2, m=1, r=2)
    g2 = np.array([[[[4], [-9]]], [[[6], [1]]]], dtype=np.int64)  # (2, n=1, m=2, 1)
    x = np.array([[13, -6]], dtype=np.int64)  # act codes (value /4)
    # core 1: t1[a] = sum_j g1[0, j, 0, a] x[j], acc frac 6 -> act frac 2: (v + 8) >> 4
    acc1 = [3 * 13 + 5 * -6, -2 * 13 + 7 * -6]
    t1 = [(v + 8) >> 4 for v in acc1]
    acc2 = [4 * t1[0] + 6 * t1[1], -9 * t1[0] + 1 * t1[1]]
    want = [min(max((v + 8) >> 4, -128), 127) for v in acc2]
    assert tt_forward_fixed([g1, g2], x, f).tolist() == [want]


def test_bias_and_saturation_are_counted():
    f = FormatConfig(weight=QFormat(8, 6), act=QFormat(8, 4, overflow="SAT"), acc=QFormat(24, 10))
    rng = np.random.default_rng(3)
    qc = [f.weight.quantize(g) for g in tt_init([2, 3], [3, 2], [1, 2, 1], rng=rng)]
    x = f.act.quantize(rng.random((4, 6)))
    bias = f.act.quantize(np.linspace(-1, 1, 6))
    y0 = tt_forward_fixed(qc, x, f)
    y1 = tt_forward_fixed(qc, x, f, bias=bias)
    ref = tt_forward([f.weight.to_float(g) for g in qc], f.act.to_float(x), f.act.to_float(bias))
    assert np.abs(f.act.to_float(y1) - ref).max() <= tt_fixed_error_bound(
        [f.weight.to_float(g) for g in qc], f
    )
    assert not np.array_equal(y0, y1)
    stats = OverflowStats()
    big = np.full((1, 6), f.act.max_code, dtype=np.int64)
    hot = [np.full_like(g, f.weight.max_code) for g in qc]
    y = tt_forward_fixed(hot, big, f, stats=stats)
    assert stats.total > 0 and (y == f.act.max_code).all()


def test_bad_shapes_are_refused():
    rng = np.random.default_rng(0)
    cores = tt_init([2, 3], [2, 2], [1, 2, 1], rng=rng)
    with pytest.raises(FotrainError, match=r"x: shape \(2, 5\) does not match \(batch, 6\)"):
        tt_forward(cores, np.zeros((2, 5)))
    with pytest.raises(FotrainError, match="leading rank"):
        tt_forward([cores[0], cores[1][:1]], np.zeros((2, 6)))
    with pytest.raises(FotrainError, match="w: shape"):
        tt_from_dense(np.zeros((3, 3)), [2, 2], [2, 2])
