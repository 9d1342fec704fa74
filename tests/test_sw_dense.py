"""Dense layers: float forward, and the fixed forward within one rounding of float and equal to a
one-core TT layer."""

import numpy as np
from numpy.testing import assert_allclose, assert_array_equal

from fotrain.sw.config import Config
from fotrain.sw.dense import dense_forward, dense_forward_fixed, dense_init
from fotrain.sw.tt import tt_forward_fixed


def test_dense_float_and_fixed():
    f = Config().formats
    rng = np.random.default_rng(0)
    w = dense_init(10, 30, rng=rng)
    x = rng.random((4, 30))
    b = rng.normal(size=10) * 0.1
    assert_allclose(dense_forward(w, x, b), x @ w.T + b)
    qw, qx, qb = f.weight.quantize(w), f.act.quantize(x), f.act.quantize(b)
    y = dense_forward_fixed(qw, qx, f, bias=qb)
    ref = dense_forward(f.weight.to_float(qw), f.act.to_float(qx), f.act.to_float(qb))
    assert np.abs(f.act.to_float(y) - ref).max() <= f.act.lsb / 2  # one RND rounding only
    # identical to a one-core TT layer holding the same matrix
    core = qw.T.reshape(1, 30, 10, 1)
    assert_array_equal(tt_forward_fixed([core], qx, f, bias=qb), y)
