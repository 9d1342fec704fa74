"""PDE problems: hard constraints, exact solutions, residual through the estimator pipeline."""

import math

import numpy as np
import pytest

from fotrain.sw.errors import FotrainError
from fotrain.sw.pinn.problems import HJB, N_TEST, Heat, get_problem, rel_l2
from fotrain.sw.pinn.sparse_grid import smolyak_gauss_hermite
from fotrain.sw.pinn.stein import finite_differences, sparse_grid_stein


def pipeline(problem, x, sigma, level=3):
    """Exact network output -> ansatz -> sparse-grid Stein estimate -> residual."""
    u = problem.wrap(problem.exact_network)
    e = sparse_grid_stein(u, x, sigma=sigma, level=level, laplacian_axes=problem.laplacian_axes)
    return e, problem.residual(x, e.value, e.grad, e.laplacian)


def test_hjb_residual_of_exact_solution_through_pipeline():
    hjb = HJB()
    assert (hjb.dim, hjb.time_axis, hjb.laplacian_axes, hjb.name) == (
        21,
        20,
        tuple(range(20)),
        "hjb20",
    )
    x = hjb.sample_collocation(100, rng=np.random.default_rng(0))
    e, r = pipeline(hjb, x, sigma=0.1)
    assert e.evals_per_point == 925
    # Only float64 rounding of the evaluation points x + sigma z_k remains; the Laplacian weights
    # w_k (|z_k|^2 - 20) / sigma^2 sum to 1.6e6 in absolute value and amplify it (1000 points:
    # rms 4e-10, max 1.3e-9).
    assert np.sqrt(np.mean(r**2)) < 1e-9
    assert np.abs(r).max() < 5e-9
    np.testing.assert_allclose(e.value, hjb.exact(x), atol=1e-12)
    g, lap = hjb.exact_smoothed_derivatives(x, 0.1)
    np.testing.assert_allclose(e.grad, g, atol=1e-11)
    np.testing.assert_allclose(e.laplacian, lap, atol=5e-9)


def test_hjb_residual_detects_wrong_solution():
    hjb = HJB()
    x = hjb.sample_collocation(20, rng=np.random.default_rng(1))
    e = sparse_grid_stein(
        hjb.wrap(lambda p: np.full(len(p), 2.0)), x, sigma=0.1, laplacian_axes=hjb.laplacian_axes
    )
    # u = sum(x) + 2 (1 - t): u_t = -2, |grad_x u|^2 = 20 -> residual -2 - 1 + 2 = -1
    np.testing.assert_allclose(hjb.residual(x, e.value, e.grad, e.laplacian), -1.0, atol=1e-8)


def test_hjb_exact_solution_and_constraint():
    hjb = HJB()
    rng = np.random.default_rng(2)
    x = hjb.sample_collocation(50, rng=rng)
    np.testing.assert_allclose(hjb.exact(x), x[:, :20].sum(1) + 1 - x[:, 20], rtol=1e-15)
    # terminal condition holds whatever the network says
    x[:, 20] = 1.0
    np.testing.assert_allclose(hjb.ansatz(x, rng.normal(size=50)), x[:, :20].sum(1), rtol=1e-15)
    # the residual with the closed-form derivatives is zero; general d/mu keeps that true
    for p in (hjb, HJB(d=5, mu=0.3)):
        pts = p.sample_collocation(10, rng=rng)
        g, lap = p.exact_smoothed_derivatives(pts, 0.1)
        np.testing.assert_allclose(p.residual(pts, p.exact(pts), g, lap), 0.0, atol=1e-14)
        fd = finite_differences(p.exact, pts, h=1e-3)
        np.testing.assert_allclose(fd.grad, g, atol=1e-9)


def test_heat_exact_solution_solves_pde():
    heat = Heat()
    assert heat.rate == pytest.approx(1.0) and heat.dim == 21 and heat.name == "heat20"
    x = heat.sample_collocation(30, rng=np.random.default_rng(3))
    g, lap = heat.exact_smoothed_derivatives(x, 0.0)  # sigma = 0: derivatives of u itself
    fd = finite_differences(heat.exact, x, h=1e-3, laplacian_axes=heat.laplacian_axes)
    np.testing.assert_allclose(fd.grad, g, atol=1e-7)
    np.testing.assert_allclose(fd.laplacian, lap, atol=1e-5)
    np.testing.assert_allclose(heat.residual(x, fd.value, fd.grad, fd.laplacian), 0.0, atol=1e-5)
    np.testing.assert_allclose(heat.residual(x, heat.exact(x), g, lap), 0.0, atol=1e-14)
    # the solution is far from constant or affine: the Laplacian is -5 u and u spans a wide range
    u = heat.exact(heat.sample_test(rng=np.random.default_rng(4)))
    assert u.max() / u.min() > 5


def test_heat_constraint_and_exact_network():
    heat = Heat()
    rng = np.random.default_rng(5)
    x = heat.sample_collocation(40, rng=rng)
    x[:10, 20] = 0.0
    x[10:15, 20] = 1e-9
    np.testing.assert_allclose(
        heat.ansatz(x[:10], rng.normal(size=10)), heat.initial(x[:10]), rtol=1e-15
    )
    np.testing.assert_allclose(
        heat.wrap(heat.exact_network)(x), heat.exact(x), rtol=1e-13, atol=1e-15
    )
    np.testing.assert_allclose(
        heat.exact_network(x[:10]), -heat.rate * heat.initial(x[:10]), rtol=1e-15
    )


@pytest.mark.parametrize("level", [6, 7])
def test_heat_pipeline_matches_smoothed_exact_solution(level):
    # Small d and a high level make the quadrature error negligible: the estimates equal the
    # closed-form smoothed solution and its derivatives, and the residual of u_sigma vanishes.
    heat = Heat(d=3, a=1.0, k=1 / 3)
    sigma = 0.1
    x = heat.sample_collocation(60, rng=np.random.default_rng(6))
    e, r = pipeline(heat, x, sigma=sigma, level=level)
    g, lap = heat.exact_smoothed_derivatives(x, sigma)
    tol = 10.0 ** (-(level + 3))
    np.testing.assert_allclose(e.value, heat.exact_smoothed(x, sigma), atol=1e-12)
    np.testing.assert_allclose(e.grad, g, atol=tol)
    np.testing.assert_allclose(e.laplacian, lap, atol=tol * 10)
    assert np.abs(r).max() < tol * 10
    # ... and u_sigma is not u: the bias is the closed-form factor exp(sigma^2 (c^2 - d a^2) / 2)
    factor = math.exp(sigma**2 * (1.0 - 3.0) / 2)
    assert heat.smoothing_factor(sigma) == pytest.approx(factor, rel=1e-15)
    assert rel_l2(e.value, heat.exact(x)) == pytest.approx(1 - factor, rel=1e-9)


def test_heat20_level3_quadrature_bias_is_order_sigma_squared():
    heat = Heat()
    x = heat.sample_collocation(40, rng=np.random.default_rng(7))
    errs = []
    for sigma in (0.02, 0.01):
        e, r = pipeline(heat, x, sigma=sigma)
        g, lap = heat.exact_smoothed_derivatives(x, sigma)
        errs.append(np.linalg.norm(e.laplacian - lap) / np.linalg.norm(lap))
        assert np.linalg.norm(e.grad - g) / np.linalg.norm(g) < 1e-6
    assert errs[1] < 1.5e-3  # at default_sigma = 0.01
    assert 3.5 < errs[0] / errs[1] < 4.5  # a quadrature bias ~ sigma^2, not a bug or noise
    assert heat.default_sigma == 0.01


def test_smoothed_value_by_quadrature_matches_closed_form():
    # u_sigma of the heat solution by a direct high-level quadrature in d + 1 = 3 inputs
    heat = Heat(d=2, a=1.3, k=0.4)
    sigma = 0.3
    x = heat.sample_test(5, rng=np.random.default_rng(8))
    z, w = smolyak_gauss_hermite(3, 10)
    direct = np.array([w @ heat.exact(p + sigma * z) for p in x])
    np.testing.assert_allclose(direct, heat.exact_smoothed(x, sigma), rtol=1e-10)


def test_rel_l2():
    rng = np.random.default_rng(9)
    u = rng.normal(size=100)
    assert rel_l2(u, u) == 0.0
    assert rel_l2(2 * u, u) == pytest.approx(1.0)
    assert rel_l2(np.zeros(100), u) == pytest.approx(1.0)
    assert rel_l2(u + 0.01 * np.linalg.norm(u) / 10, u) == pytest.approx(0.01)
    assert rel_l2(u[:, None], u) == 0.0  # (n, 1) network outputs are accepted
    with pytest.raises(FotrainError, match="same non-zero size"):
        rel_l2(u[:5], u)
    with pytest.raises(FotrainError, match="zero norm"):
        rel_l2(u, np.zeros(100))


@pytest.mark.parametrize("problem", [HJB(), Heat()], ids=lambda p: p.name)
def test_samplers_reproducible(problem):
    a = problem.sample_test(rng=np.random.default_rng(42))
    b = problem.sample_test(rng=np.random.default_rng(42))
    c = problem.sample_test(rng=np.random.default_rng(43))
    assert a.shape == (N_TEST, 21) == (10_000, problem.dim)
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert a.min() >= 0.0 and a.max() < 1.0
    # uniform: mean 1/2, variance 1/12 per coordinate (10,000 samples, 6 standard errors)
    assert np.abs(a.mean(0) - 0.5).max() < 6 * math.sqrt(1 / 12 / N_TEST)
    col = problem.sample_collocation(100, rng=np.random.default_rng(42))
    assert col.shape == (100, 21)
    np.testing.assert_array_equal(
        col, problem.sample_collocation(100, rng=np.random.default_rng(42))
    )


def test_rel_l2_of_smoothed_hjb_is_zero_and_heat_is_biased():
    rng = np.random.default_rng(10)
    x = HJB().sample_test(rng=rng)
    assert rel_l2(HJB().exact_smoothed(x, 0.1), HJB().exact(x)) == 0.0
    heat = Heat()
    assert rel_l2(heat.exact_smoothed(x, 0.01), heat.exact(x)) == pytest.approx(2e-4, rel=1e-3)


def test_get_problem_and_bad_arguments():
    assert get_problem("hjb20") == HJB()
    assert get_problem("heat20", a=0.3).a == 0.3
    with pytest.raises(FotrainError, match="problem must be one of"):
        get_problem("wave")
    with pytest.raises(FotrainError, match="bad parameters"):
        get_problem("hjb20", nope=1.0)
    with pytest.raises(FotrainError, match="d must"):
        HJB(d=0)
    with pytest.raises(FotrainError, match="k must"):
        Heat(k=-1.0)
    with pytest.raises(FotrainError, match="points must"):
        HJB().exact(np.zeros((3, 20)))
    with pytest.raises(FotrainError, match="n must"):
        HJB().sample_collocation(0, rng=np.random.default_rng(0))
    with pytest.raises(FotrainError, match="nn must"):
        HJB().ansatz(np.zeros((3, 21)), np.zeros(4))
    with pytest.raises(FotrainError, match="value/grad/laplacian"):
        HJB().residual(np.zeros((3, 21)), np.zeros(3), np.zeros((3, 20)), np.zeros(3))


@pytest.mark.parametrize("problem", [HJB(), Heat()], ids=lambda p: p.name)
def test_boundary_samples_lie_on_the_lateral_faces(problem):
    x = problem.sample_boundary(400, rng=np.random.default_rng(11))
    assert x.shape == (400, problem.dim)
    spatial = x[:, : problem.d]
    on_face = (spatial == 0.0) | (spatial == 1.0)
    assert (on_face.sum(axis=1) == 1).all()  # exactly one spatial coordinate on a face
    assert set(np.unique(spatial[on_face])) == {0.0, 1.0}
    assert len(np.unique(np.nonzero(on_face)[1])) > problem.d // 2  # faces of many axes
    assert not np.isin(x[:, problem.d], (0.0, 1.0)).any()  # t stays inside
    np.testing.assert_array_equal(x, problem.sample_boundary(400, rng=np.random.default_rng(11)))
