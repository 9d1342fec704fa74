"""Derivatives of a Gaussian-smoothed function from function values only (no autodiff).

Smoothing: ``u_sigma(x) = E[f(x + sigma z)]``, ``z ~ N(0, I_d)``. Stein's identity gives

    grad u_sigma(x)        = E[z f(x + sigma z)] / sigma
    d^2 u_sigma / dx_i^2   = E[(z_i^2 - 1) f(x + sigma z)] / sigma^2

Every estimator here evaluates ``f_0 = f(x)`` and ``f_k = f(x + sigma z_k)`` and accumulates only
the *differences* ``D_k = f_k - f_0`` (the form a fixed-point datapath needs: ``D_k`` is small and
its quantization error is what the gains ``1/sigma`` and ``1/sigma^2`` amplify). With a symmetric
node set (pairs ``+-z_p``, ``D_p^+ = f(x + sigma z_p) - f_0``, ``D_p^- = f(x - sigma z_p) - f_0``):

    value   u   = f_0 + sum_p w_p (D_p^+ + D_p^-)                     (+ w_0 * 0 for the centre)
    gradient g  = (1/sigma)   sum_p w_p z_p (D_p^+ - D_p^-)
    diagonal h_i = (1/sigma^2) sum_p w_p (z_{p,i}^2 - 1) (D_p^+ + D_p^-)
    laplacian   = sum_{i in axes} h_i

Estimators (``f`` is vectorised: ``f(points (N, d)) -> (N,)``; all points x all offsets go into
ONE call with ``N = P * per_point``, point-major):

=============================  ==========================  ========================================
function                       weights / offsets           evaluations per point
=============================  ==========================  ========================================
:func:`sparse_grid_stein`      Smolyak Gauss-Hermite rule  ``K`` (the grid size, centre included):
                               folded into +-z pairs       925 for ``d = 21``, level 3 (the
                               (:mod:`.sparse_grid`)       symmetric shortcut: each node once)
:func:`mc_stein`               ``w_p = 1/(2N)``, antithetic ``2N + 1``
                               ``z_p ~ N(0, I)`` per point
:func:`finite_differences`     central, step ``h``:        ``2d + 1`` (43 for ``d = 21``)
                               ``g_i = (D_i^+ - D_i^-)/2h``,
                               ``h_i = (D_i^+ + D_i^-)/h^2``
=============================  ==========================  ========================================

The sparse-grid estimate is exact (to rounding) when ``f`` is a polynomial of degree
``<= 2L - 2`` (gradient) or ``<= 2L - 3`` (second derivatives) for grid level ``L``; otherwise it
carries a quadrature error (for level 3 the second-derivative error is ``O(sigma^2)`` times the
4th derivatives of ``f``, the same order as the smoothing bias ``u_sigma - u``).
Finite differences estimate the derivatives of ``f`` itself (no smoothing); ``value`` is ``f_0``.

Fixed point (``diff_format=``): each ``D_k`` is rounded to ``diff_format`` (its rounding and
overflow modes, overflow counted in ``stats`` under ``"stein.diff"``) right after the subtraction;
that is the only rounding point, the weighted sums are then formed in float64 (standing in for a
wide accumulator). ``f_0`` itself is not quantized by this module. Gains for d = 21, level 3
(computed): each gradient component sums ``|w_k z_{k,i}|`` = 40.6 (``/sigma``); the Laplacian
over 20 axes uses ``W_k = w_k (|z_k|^2 - 20)`` with ``sum |W_k|`` = 16,000 and ``||W||_2`` = 4,265
(``/sigma^2``): the Laplacian amplifies the rounding of the differences far more than the
gradient does (measured noise per LSB in docs/PINN.md).
"""

from collections.abc import Callable, Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import FotrainError
from ..qformat import OverflowStats, QFormat
from .sparse_grid import SymmetricGrid, symmetric_smolyak

__all__ = [
    "Fn",
    "SteinEstimate",
    "finite_differences",
    "mc_stein",
    "sparse_grid_stein",
    "symmetric_stein",
]

FloatArray = npt.NDArray[np.float64]
#: A vectorised scalar function: ``(N, d)`` points -> ``(N,)`` values.
Fn = Callable[[FloatArray], npt.ArrayLike]


class SteinEstimate(NamedTuple):
    """Estimates at ``P`` points of a ``d``-input function."""

    value: FloatArray  #: ``(P,)`` smoothed value ``u_sigma(x)`` (``f(x)`` for finite differences)
    grad: FloatArray  #: ``(P, d)`` gradient, every input (``t`` included when it is an input)
    laplacian: FloatArray  #: ``(P,)`` sum of ``hess_diag`` over the chosen axes
    hess_diag: FloatArray  #: ``(P, d)`` second derivatives ``d^2 u / dx_i^2`` for every input
    evals: int  #: total function evaluations, ``P * evals_per_point``
    evals_per_point: int  #: evaluations per point


def _check_points(x: npt.ArrayLike) -> FloatArray:
    a = np.asarray(x, dtype=np.float64)
    if a.ndim != 2 or a.shape[0] < 1 or a.shape[1] < 1:
        raise FotrainError(f"x must have shape (P, d) with P, d >= 1, got {a.shape}")
    return a


def _check_positive(v: float, name: str) -> float:
    if not np.isfinite(v) or v <= 0:
        raise FotrainError(f"{name} must be a positive finite number, got {v!r}")
    return float(v)


def _axes(laplacian_axes: Sequence[int] | None, d: int) -> npt.NDArray[np.intp]:
    if laplacian_axes is None:
        return np.arange(d)
    ax = np.asarray(list(laplacian_axes), dtype=np.intp)
    if ax.size and (ax.min() < 0 or ax.max() >= d or np.unique(ax).size != ax.size):
        raise FotrainError(
            f"laplacian_axes must be distinct indices in [0, {d}), got {list(laplacian_axes)}"
        )
    return ax


def _evaluate(f: Fn, pts: FloatArray, shape: tuple[int, int]) -> FloatArray:
    out = np.asarray(f(pts), dtype=np.float64)
    if out.shape not in ((pts.shape[0],), (pts.shape[0], 1)):
        raise FotrainError(
            f"f must map ({pts.shape[0]}, d) points to ({pts.shape[0]},) values, "
            f"returned shape {out.shape}"
        )
    return out.reshape(shape)


def _quantize_diffs(
    diff: FloatArray, fmt: QFormat | None, stats: OverflowStats | None
) -> FloatArray:
    if fmt is None:
        return diff
    return fmt.to_float(fmt.quantize(diff, stats=stats, site="stein.diff"))


def _pair_estimate(
    f0: FloatArray,
    dp: FloatArray,
    dm: FloatArray,
    z: FloatArray,
    w: FloatArray,
    sigma: float,
    axes: npt.NDArray[np.intp],
) -> tuple[FloatArray, FloatArray, FloatArray, FloatArray]:
    """Accumulate pair differences; ``z`` is ``(M, d)`` (shared) or ``(P, M, d)`` (per point)."""
    odd = (dp - dm) * w  # (P, M)
    even = (dp + dm) * w
    if z.ndim == 2:
        grad = odd @ z / sigma
        hess = even @ (z * z - 1.0) / sigma**2
    else:
        grad = np.einsum("pm,pmd->pd", odd, z) / sigma
        hess = np.einsum("pm,pmd->pd", even, z * z - 1.0) / sigma**2
    value = f0 + even.sum(axis=1)
    return value, grad, hess, hess[:, axes].sum(axis=1)


def symmetric_stein(
    f: Fn,
    x: npt.ArrayLike,
    *,
    sigma: float,
    grid: SymmetricGrid,
    laplacian_axes: Sequence[int] | None = None,
    diff_format: QFormat | None = None,
    stats: OverflowStats | None = None,
) -> SteinEstimate:
    """Estimate value, gradient and diagonal Hessian of ``u_sigma`` with a folded symmetric rule.

    ``grid`` is a :class:`.sparse_grid.SymmetricGrid` (from :func:`.sparse_grid.fold_symmetric`)
    whose weights sum to 1 over all nodes. One batched call of ``f`` on ``P * (1 + 2M)`` points,
    ordered per point as ``[x, x + sigma z_1..z_M, x - sigma z_1..z_M]``. Formulas in the module
    docstring; ``laplacian_axes`` (default: all inputs) selects the Laplacian coordinates.
    """
    xa = _check_points(x)
    sigma = _check_positive(sigma, "sigma")
    p, d = xa.shape
    z = np.asarray(grid.nodes, dtype=np.float64)
    w = np.asarray(grid.weights, dtype=np.float64)
    if z.ndim != 2 or z.shape[1] != d:
        raise FotrainError(f"grid.nodes must have shape (M, {d}) to match x, got {z.shape}")
    axes = _axes(laplacian_axes, d)
    m = z.shape[0]
    offsets = np.concatenate([np.zeros((1, d)), sigma * z, -sigma * z])  # (1 + 2M, d)
    pts = (xa[:, None, :] + offsets[None, :, :]).reshape(-1, d)
    vals = _evaluate(f, pts, (p, 1 + 2 * m))
    f0 = vals[:, 0]
    diffs = _quantize_diffs(vals[:, 1:] - f0[:, None], diff_format, stats)
    value, grad, hess, lap = _pair_estimate(f0, diffs[:, :m], diffs[:, m:], z, w, sigma, axes)
    per = 1 + 2 * m
    return SteinEstimate(value, grad, lap, hess, p * per, per)


def sparse_grid_stein(
    f: Fn,
    x: npt.ArrayLike,
    *,
    sigma: float,
    level: int = 3,
    laplacian_axes: Sequence[int] | None = None,
    diff_format: QFormat | None = None,
    stats: OverflowStats | None = None,
) -> SteinEstimate:
    """Estimate ``u_sigma`` and its derivatives at ``x (P, d)`` with the Smolyak rule.

    Uses :func:`.sparse_grid.smolyak_gauss_hermite` ``(d, level)`` folded into ``+-z`` pairs
    (:func:`symmetric_stein`), so each grid node is evaluated once: ``K`` evaluations per point
    (925 for ``d = 21``, ``level = 3``; ``K + 1`` if the rule lacks a centre node, e.g. ``d = 1``,
    even level). ``value`` is ``sum_k w_k f(x + sigma z_k)``.
    """
    xa = _check_points(x)
    return symmetric_stein(
        f,
        xa,
        sigma=sigma,
        grid=symmetric_smolyak(xa.shape[1], level),
        laplacian_axes=laplacian_axes,
        diff_format=diff_format,
        stats=stats,
    )


def mc_stein(
    f: Fn,
    x: npt.ArrayLike,
    *,
    sigma: float,
    n_samples: int,
    rng: np.random.Generator,
    laplacian_axes: Sequence[int] | None = None,
    diff_format: QFormat | None = None,
    stats: OverflowStats | None = None,
) -> SteinEstimate:
    """Monte-Carlo antithetic Stein estimate with ``n_samples`` independent draws per point.

    ``z_{p,s} ~ N(0, I_d)`` drawn from ``rng`` (shape ``(P, n_samples, d)``), weights
    ``1/(2 n_samples)`` per member of each pair; ``2 n_samples + 1`` evaluations per point.
    Unbiased for ``grad u_sigma`` and ``hess_diag u_sigma``; the per-sample variance of the
    gradient component ``i`` is ``Var[z_i (f(x+sz) - f(x-sz))/(2s)]`` (for an affine ``f`` with
    gradient ``a``: ``(a_i^2 + |a|^2)`` per draw, divided by ``n_samples``).
    """
    xa = _check_points(x)
    sigma = _check_positive(sigma, "sigma")
    if isinstance(n_samples, bool) or not isinstance(n_samples, int | np.integer) or n_samples < 1:
        raise FotrainError(f"n_samples must be a positive integer, got {n_samples!r}")
    if not isinstance(rng, np.random.Generator):
        raise FotrainError(f"rng must be a numpy.random.Generator, got {type(rng).__name__}")
    p, d = xa.shape
    n = int(n_samples)
    axes = _axes(laplacian_axes, d)
    z = rng.standard_normal((p, n, d))
    pts = np.concatenate(
        [xa[:, None, :], xa[:, None, :] + sigma * z, xa[:, None, :] - sigma * z], axis=1
    ).reshape(-1, d)
    vals = _evaluate(f, pts, (p, 1 + 2 * n))
    f0 = vals[:, 0]
    diffs = _quantize_diffs(vals[:, 1:] - f0[:, None], diff_format, stats)
    w = np.full(n, 0.5 / n)
    value, grad, hess, lap = _pair_estimate(f0, diffs[:, :n], diffs[:, n:], z, w, sigma, axes)
    per = 1 + 2 * n
    return SteinEstimate(value, grad, lap, hess, p * per, per)


def finite_differences(
    f: Fn,
    x: npt.ArrayLike,
    *,
    h: float,
    laplacian_axes: Sequence[int] | None = None,
    diff_format: QFormat | None = None,
    stats: OverflowStats | None = None,
) -> SteinEstimate:
    """Central finite differences of ``f`` itself (no smoothing): ``2d + 1`` evaluations per point.

    ``g_i = (f(x + h e_i) - f(x - h e_i)) / (2h)``, ``h_i = (f(x + h e_i) + f(x - h e_i) - 2 f(x))
    / h^2``, formed from the differences ``D_i^+-``; truncation error ``O(h^2)`` (``f'''`` resp.
    ``f''''``). ``value`` is ``f(x)``.
    """
    xa = _check_points(x)
    h = _check_positive(h, "h")
    p, d = xa.shape
    axes = _axes(laplacian_axes, d)
    eye = np.eye(d)
    offsets = np.concatenate([np.zeros((1, d)), h * eye, -h * eye])
    pts = (xa[:, None, :] + offsets[None, :, :]).reshape(-1, d)
    vals = _evaluate(f, pts, (p, 1 + 2 * d))
    f0 = vals[:, 0]
    diffs = _quantize_diffs(vals[:, 1:] - f0[:, None], diff_format, stats)
    dp, dm = diffs[:, :d], diffs[:, d:]
    grad = (dp - dm) / (2.0 * h)
    hess = (dp + dm) / h**2
    per = 1 + 2 * d
    return SteinEstimate(f0, grad, hess[:, axes].sum(axis=1), hess, p * per, per)
