"""Collocation: residuals of the exact heat network, and the boundary term at the face points."""

import numpy as np
import pytest

from fotrain.sw.pinn.collocation import Collocation
from fotrain.sw.pinn.problems import HJB, Heat
from fotrain.sw.pinn.stencil import fd_stencil


def test_heat_exact_network_residual_small():
    heat = Heat()
    col = Collocation(
        heat, fd_stencil(21, 0.01, heat.laplacian_axes), np.random.default_rng(8).random((20, 21))
    )
    r = col.residuals(heat.exact_network(col.points)[None])
    assert np.abs(r).max() < 1e-4  # O(h^2) truncation of the finite differences


@pytest.mark.parametrize("problem", [HJB(), Heat()], ids=lambda p: p.name)
def test_boundary_term_is_the_weighted_squared_error_at_the_face_points(problem, boundary_col):
    col = boundary_col(problem)
    inner = Collocation(problem, col.stencil, col.xp[:3])
    # 2 networks: 3 interior points x E stencil inputs, then the 2 face points once each
    assert col.points.shape == (3 * col.e + 2, 21)
    np.testing.assert_array_equal(col.points[: 3 * col.e], inner.points)
    np.testing.assert_array_equal(col.points[3 * col.e :], col.xp[3:])
    nn = np.random.default_rng(13).normal(size=(2, 3 * col.e + 2))
    u_face = np.stack([problem.ansatz(col.xp[3:], nn[c, 3 * col.e :]) for c in range(2)])
    want = inner.losses(nn[:, : 3 * col.e]) + 0.5 * np.mean(
        (u_face - problem.exact(col.xp[3:])) ** 2, axis=1
    )
    np.testing.assert_allclose(col.losses(nn), want, rtol=1e-13)
    exact = problem.exact_network(col.points)[None]
    np.testing.assert_allclose(col.boundary_errors(exact), 0.0, atol=1e-12)
