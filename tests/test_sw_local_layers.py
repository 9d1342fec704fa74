"""TT-layer local gradients: the core gradients of a dense-matrix gradient against finite
differences."""

import numpy as np

from fotrain.sw.local.layers import tt_core_grads
from fotrain.sw.tt import tt_init, tt_to_dense


def test_tt_core_gradients_match_finite_differences():
    rng = np.random.default_rng(3)
    cores = tt_init([2, 3, 2], [3, 2, 2], [1, 2, 3, 1], rng=rng)
    gw = rng.normal(size=(12, 12))
    grads = tt_core_grads(cores, gw)
    for k, g in enumerate(grads):
        assert g.shape == cores[k].shape
        for idx in [(0, 1, 1, 0), tuple(s - 1 for s in g.shape)]:
            c = [a.copy() for a in cores]
            c[k][idx] += 1e-6
            fp = np.sum(gw * tt_to_dense(c))
            c[k][idx] -= 2e-6
            fm = np.sum(gw * tt_to_dense(c))
            assert abs((fp - fm) / 2e-6 - g[idx]) < 1e-6 * max(1, abs(g[idx]))
