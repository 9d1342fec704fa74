"""Stein / sparse-grid / finite-difference derivative estimators against closed forms."""

import math

import numpy as np
import pytest

from fotrain.sw.errors import FotrainError
from fotrain.sw.pinn.sparse_grid import smolyak_gauss_hermite
from fotrain.sw.pinn.stein import finite_differences, mc_stein, sparse_grid_stein
from fotrain.sw.qformat import OverflowStats, QFormat, Rounding


class Counted:
    """Wrap f, recording the shape of every call."""

    def __init__(self, f):
        self.f, self.shapes = f, []

    def __call__(self, p):
        self.shapes.append(p.shape)
        return self.f(p)


def quadratic(d, seed):
    """f = x'Ax/2 + b'x + c with u_sigma = f + sigma^2 tr(A)/2, grad = Ax + b, hess_ii = A_ii."""
    rng = np.random.default_rng(seed)
    m = rng.normal(size=(d, d))
    a = (m + m.T) / 2
    b, c = rng.normal(size=d), rng.normal()

    def f(p):
        return 0.5 * np.einsum("ki,ij,kj->k", p, a, p) + p @ b + c

    return f, a, b, c


def sin_sum(p):
    return np.sin(p).sum(axis=1)


def gh(n):
    """An n-point Gauss-Hermite rule for N(0, 1) straight from numpy (independent of the module)."""
    x, w = np.polynomial.hermite_e.hermegauss(n)
    return x, w / w.sum()


@pytest.mark.parametrize(
    ("d", "level", "sigma"), [(3, 3, 0.1), (5, 3, 0.3), (21, 3, 0.1), (4, 4, 1.0)]
)
def test_sparse_grid_quadratic_exact(d, level, sigma):
    f, a, b, c = quadratic(d, seed=d)
    x = np.random.default_rng(1).uniform(-1, 1, size=(7, d))
    e = sparse_grid_stein(f, x, sigma=sigma, level=level)
    scale = 1 + np.abs(a).sum()
    np.testing.assert_allclose(e.value, f(x) + sigma**2 * np.trace(a) / 2, atol=1e-11 * scale)
    np.testing.assert_allclose(e.grad, x @ a + b, atol=1e-10 * scale / sigma)
    np.testing.assert_allclose(
        e.hess_diag, np.broadcast_to(np.diag(a), (7, d)), atol=1e-10 * scale / sigma**2
    )
    np.testing.assert_allclose(e.laplacian, np.trace(a), atol=1e-9 * scale / sigma**2)


def test_sparse_grid_ridge_polynomials_exact_to_their_degree():
    # f = s^3 and s^4 with s = v.x couple every pair of inputs. Level 3 is exact for the gradient
    # up to degree 4 and for second derivatives up to degree 3 (u_sigma in closed form).
    d, sigma = 21, 0.2
    rng = np.random.default_rng(5)
    v = rng.normal(size=d) / math.sqrt(d)
    x = rng.uniform(size=(6, d))
    s, vv = x @ v, v @ v
    e3 = sparse_grid_stein(lambda p: (p @ v) ** 3, x, sigma=sigma)
    np.testing.assert_allclose(e3.value, s**3 + 3 * sigma**2 * vv * s, atol=1e-12)
    np.testing.assert_allclose(e3.grad, (3 * s**2 + 3 * sigma**2 * vv)[:, None] * v, atol=1e-11)
    np.testing.assert_allclose(e3.hess_diag, 6 * s[:, None] * v**2, atol=1e-10)
    e4 = sparse_grid_stein(lambda p: (p @ v) ** 4, x, sigma=sigma)
    np.testing.assert_allclose(
        e4.grad, (4 * s**3 + 12 * sigma**2 * vv * s)[:, None] * v, atol=1e-11
    )
    # second derivatives of a quartic are beyond the rule: the test would notice a wrong claim
    hess4 = (12 * s**2 + 12 * sigma**2 * vv)[:, None] * v**2
    assert np.abs(e4.hess_diag - hess4).max() > 1e-6


@pytest.mark.parametrize("sigma", [0.1, 0.3])
def test_sparse_grid_sin_gradient(sigma):
    d = 21
    x = np.random.default_rng(2).uniform(size=(5, d))
    e = sparse_grid_stein(sin_sum, x, sigma=sigma, level=3)
    # closed form of the smoothed gradient; the level-3 rule has relative error 0.05 sigma^4
    smooth = np.cos(x) * math.exp(-(sigma**2) / 2)
    np.testing.assert_allclose(e.grad, smooth, atol=0.06 * sigma**4)
    assert np.abs(e.grad - smooth).max() > 0.01 * sigma**4  # (the bound is not vacuous)
    # exactly: cross terms z_i g(z_j) are odd and vanish; the i-th term sees the 1-D rule U^3
    z, w = gh(3)
    factor = w @ (z * np.sin(sigma * z)) / sigma
    np.testing.assert_allclose(e.grad, np.cos(x) * factor, atol=1e-12)
    np.testing.assert_allclose(e.value, np.sin(x).sum(1) * (w @ np.cos(sigma * z)), atol=1e-12)


def test_sparse_grid_sin_second_derivatives_level3_quadrature():
    # For f = sum_j sin(x_j + s z_j) the Smolyak rule reduces to 1-D and 2-D rules:
    #   Q[(z_i^2 - 1) sin(x_i + s z_i)] = U^3[...] and, for j != i,
    #   Q[(z_i^2 - 1) sin(x_j + s z_j)] = (U^2 - U^3) sin(x_j + s .)   (an O(s^4) quadrature error)
    d, sigma = 21, 0.1
    x = np.random.default_rng(3).uniform(size=(5, d))
    e = sparse_grid_stein(sin_sum, x, sigma=sigma, level=3)
    (z2, w2), (z3, w3) = gh(2), gh(3)
    own = w3 @ ((z3**2 - 1) * np.cos(sigma * z3)) / sigma**2
    cross = (w2 @ np.cos(sigma * z2) - w3 @ np.cos(sigma * z3)) / sigma**2
    sx = np.sin(x)
    expect = own * sx + cross * (sx.sum(1, keepdims=True) - sx)
    np.testing.assert_allclose(e.hess_diag, expect, atol=1e-10)
    # the closed-form smoothed value -sin(x) exp(-s^2/2) is off by ~(d - 1) s^2 / 12 here
    assert np.abs(e.hess_diag + sx * math.exp(-(sigma**2) / 2)).max() > 1e-3


@pytest.mark.parametrize(("d", "level"), [(2, 7), (3, 7)])
def test_sparse_grid_sin_high_level_matches_smoothed_closed_form(d, level):
    sigma = 0.2
    x = np.random.default_rng(4).uniform(size=(6, d))
    e = sparse_grid_stein(sin_sum, x, sigma=sigma, level=level, laplacian_axes=[0])
    damp = math.exp(-(sigma**2) / 2)
    np.testing.assert_allclose(e.value, np.sin(x).sum(1) * damp, atol=1e-12)
    np.testing.assert_allclose(e.grad, np.cos(x) * damp, atol=1e-11)
    np.testing.assert_allclose(e.hess_diag, -np.sin(x) * damp, atol=1e-9)
    np.testing.assert_allclose(e.laplacian, e.hess_diag[:, 0], atol=1e-15)


def test_sparse_grid_one_batched_call_and_counts():
    f = Counted(sin_sum)
    x = np.random.default_rng(0).uniform(size=(4, 21))
    e = sparse_grid_stein(f, x, sigma=0.1, laplacian_axes=range(20))
    assert f.shapes == [(4 * 925, 21)]
    assert e.evals_per_point == 925 and e.evals == 4 * 925
    np.testing.assert_allclose(e.laplacian, e.hess_diag[:, :20].sum(1), rtol=1e-14)
    assert e.grad.shape == (4, 21) and e.value.shape == (4,)
    # a rule without a centre node (d = 1, level 2) still evaluates f(x): K + 1 per point
    assert sparse_grid_stein(sin_sum, x[:, :1], sigma=0.1, level=2).evals_per_point == 3


def test_estimators_use_differences_only():
    # adding a constant to f changes only the value (derivatives are formed from f_k - f_0; the
    # offset is kept moderate so the rounding of f itself, amplified by 1/h^2, stays below atol)
    x = np.random.default_rng(6).uniform(size=(3, 5))
    for est in (
        lambda f: sparse_grid_stein(f, x, sigma=0.1),
        lambda f: mc_stein(f, x, sigma=0.1, n_samples=8, rng=np.random.default_rng(1)),
        lambda f: finite_differences(f, x, h=0.01),
    ):
        a, b = est(sin_sum), est(lambda p: sin_sum(p) + 1e3)
        np.testing.assert_allclose(b.value - a.value, 1e3, rtol=1e-12)
        np.testing.assert_allclose(b.grad, a.grad, atol=1e-10)
        np.testing.assert_allclose(b.hess_diag, a.hess_diag, atol=1e-8)


def test_mc_statistical_tolerance_and_counts():
    # f = x'Ax/2 + b'x with diagonal A. Per antithetic draw the gradient term is z (g.z)
    # (the quadratic part cancels), variance |g|^2 + g_i^2; the second-derivative term is
    # Y_i = (z_i^2 - 1) z'Az / 2, E[Y_i^2] = (78 a_i^2 + 20 a_i S1 + 2 (S1^2 + 2 S2)) / 4 with
    # S1 = sum_{j != i} a_j, S2 = sum_{j != i} a_j^2 (normal moments 3, 15, 105).
    d, n, p, sigma = 5, 400, 40, 0.2
    rng = np.random.default_rng(11)
    a = rng.uniform(-2, 2, size=d)
    b = rng.normal(size=d)
    x = rng.uniform(size=(p, d))
    f = Counted(lambda q: 0.5 * (q * q) @ a + q @ b)
    e = mc_stein(f, x, sigma=sigma, n_samples=n, rng=np.random.default_rng(7))
    assert f.shapes == [(p * (2 * n + 1), d)] and e.evals_per_point == 2 * n + 1
    g = x * a + b
    se_g = np.sqrt(((g * g).sum(1, keepdims=True) + g * g) / n)
    zg = (e.grad - g) / se_g
    s1 = a.sum() - a
    s2 = (a * a).sum() - a * a
    se_h = np.sqrt(((78 * a**2 + 20 * a * s1 + 2 * (s1**2 + 2 * s2)) / 4 - a**2) / n)
    zh = (e.hess_diag - a) / se_h
    for zs in (zg, zh):
        assert np.abs(zs).max() < 5.0
        assert 0.7 < np.sqrt((zs**2).mean()) < 1.3  # the tolerance is the right size
    # value = f0 + (sigma^2 / 2) mean(sum_j a_j z_j^2): unbiased for u_sigma = f + sigma^2 sum(a)/2,
    # standard error (sigma^2 / 2) sqrt(2 sum(a^2) / n)
    se_v = sigma**2 / 2 * np.sqrt(2 * (a * a).sum() / n)
    assert np.abs(e.value - (f.f(x) + sigma**2 * a.sum() / 2)).max() < 5 * se_v


def test_mc_reproducible_with_seed():
    x = np.random.default_rng(0).uniform(size=(3, 4))
    e1 = mc_stein(sin_sum, x, sigma=0.1, n_samples=16, rng=np.random.default_rng(5))
    e2 = mc_stein(sin_sum, x, sigma=0.1, n_samples=16, rng=np.random.default_rng(5))
    e3 = mc_stein(sin_sum, x, sigma=0.1, n_samples=16, rng=np.random.default_rng(6))
    np.testing.assert_array_equal(e1.grad, e2.grad)
    assert not np.array_equal(e1.grad, e3.grad)


def test_finite_differences():
    f, a, b, c = quadratic(21, seed=3)
    x = np.random.default_rng(1).uniform(size=(5, 21))
    g = Counted(f)
    e = finite_differences(g, x, h=1e-2, laplacian_axes=range(20))
    assert g.shapes == [(5 * 43, 21)] and e.evals_per_point == 43
    np.testing.assert_allclose(e.value, f(x), rtol=1e-15)
    np.testing.assert_allclose(e.grad, x @ a + b, atol=1e-10)
    np.testing.assert_allclose(e.hess_diag, np.broadcast_to(np.diag(a), (5, 21)), atol=1e-9)
    np.testing.assert_allclose(e.laplacian, np.trace(a) - a[20, 20], atol=1e-8)
    # sin: truncation errors h^2/6 (gradient) and h^2/12 (second derivative), no smoothing
    h = 0.05
    s = finite_differences(sin_sum, x, h=h)
    np.testing.assert_allclose(s.grad, np.cos(x), atol=h**2 / 6 * 1.01)
    np.testing.assert_allclose(s.hess_diag, -np.sin(x), atol=h**2 / 12 * 1.01)
    assert np.abs(s.grad - np.cos(x)).max() > h**2 / 6 * 0.3


def test_fixed_point_differences():
    # D_k rounded to a QFormat (the only rounding point): error bounded by the LSB times the
    # absolute estimator gains, and the overflow counter sees out-of-range differences.
    x = np.random.default_rng(2).uniform(size=(4, 21))
    sigma = 0.1
    z, w = smolyak_gauss_hermite(21, 3)
    ref = sparse_grid_stein(sin_sum, x, sigma=sigma)
    fmt = QFormat(32, frac=24, rounding=Rounding.RND)
    got = sparse_grid_stein(sin_sum, x, sigma=sigma, diff_format=fmt)
    half = fmt.lsb / 2
    grad_gain = (np.abs(w)[:, None] * np.abs(z)).sum(0) / sigma
    hess_gain = (np.abs(w)[:, None] * np.abs(z * z - 1)).sum(0) / sigma**2
    assert np.all(np.abs(got.grad - ref.grad) <= grad_gain * half + 1e-12)
    assert np.all(np.abs(got.hess_diag - ref.hess_diag) <= hess_gain * half + 1e-12)
    assert np.abs(got.hess_diag - ref.hess_diag).max() > 1e-3 * hess_gain.max() * half
    stats = OverflowStats()
    sparse_grid_stein(sin_sum, x, sigma=sigma, diff_format=QFormat(8, frac=10), stats=stats)
    assert stats.total > 0


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"x": np.zeros(3)}, "x must"),
        ({"sigma": 0.0}, "sigma must"),
        ({"sigma": float("nan")}, "sigma must"),
        ({"laplacian_axes": [0, 7]}, "laplacian_axes"),
        ({"laplacian_axes": [1, 1]}, "laplacian_axes"),
        ({"f": lambda p: np.zeros((len(p), 2))}, "f must"),
    ],
)
def test_bad_arguments(kwargs, match):
    args = {"f": sin_sum, "x": np.zeros((2, 3)), "sigma": 0.1} | kwargs
    with pytest.raises(FotrainError, match=match):
        sparse_grid_stein(**args)


def test_mc_bad_arguments():
    x = np.zeros((2, 3))
    with pytest.raises(FotrainError, match="n_samples"):
        mc_stein(sin_sum, x, sigma=0.1, n_samples=0, rng=np.random.default_rng(0))
    with pytest.raises(FotrainError, match="rng"):
        mc_stein(sin_sum, x, sigma=0.1, n_samples=4, rng=0)
    with pytest.raises(FotrainError, match="h must"):
        finite_differences(sin_sum, x, h=-1.0)
