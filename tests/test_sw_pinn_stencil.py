"""PDE stencils: value, gradient and Laplacian equal the estimators of fotrain.sw.pinn.stein."""

import numpy as np
import pytest

from fotrain.sw.pinn.stein import finite_differences, sparse_grid_stein
from fotrain.sw.pinn.stencil import fd_stencil, grid_stencil


def fn(p):
    return np.sin(p).sum(axis=1) + 0.3 * p[:, 0] * p[:, 1] ** 2


@pytest.mark.parametrize("kind", ["fd", "sparse_grid"])
def test_stencils_equal_stein(kind):
    x = np.random.default_rng(0).random((5, 6))
    axes = range(5)
    if kind == "fd":
        st, ref = fd_stencil(6, 0.05, axes), finite_differences(fn, x, h=0.05, laplacian_axes=axes)
    else:
        st = grid_stencil(6, 0.1, 3, axes)
        ref = sparse_grid_stein(fn, x, sigma=0.1, level=3, laplacian_axes=axes)
    u = fn((x[:, None, :] + st.offsets[None]).reshape(-1, 6)).reshape(5, -1)
    value, grad, lap = st.estimate(u)
    assert st.evals_per_point == ref.evals_per_point
    np.testing.assert_allclose(value, ref.value, atol=1e-12)
    np.testing.assert_allclose(grad, ref.grad, atol=1e-10)
    np.testing.assert_allclose(lap, ref.laplacian, atol=1e-8)
