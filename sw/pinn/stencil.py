"""Derivative estimators of :mod:`.stein` as fixed linear stencils, for batched PINN losses.

Every estimator the PINN uses evaluates ``u`` at ``E`` offsets ``o_0 = 0, o_1..o_{E-1}`` around
each collocation point and is *linear in the differences* ``D_e = u(x + o_e) - u(x)``:

    value = u(x) + D @ a_value,   grad = D @ A_grad (E-1, dim),   laplacian = D @ a_lap

:func:`fd_stencil` is :func:`.stein.finite_differences` (``E = 2 dim + 1``), :func:`grid_stencil`
is :func:`.stein.sparse_grid_stein` (the folded Smolyak rule, each node once: ``E = K``); the
tests check both against :mod:`.stein` to rounding. Writing them as matrices lets the PINN form
the estimates of all points and all perturbed networks with one small GEMM, and lets the
first-order reference differentiate the loss through them (the transpose of the same matrices).

Costs: building ``O(E * dim)``; applying ``O(n * E * (dim + 2))``.
"""

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import FotrainError
from .sparse_grid import symmetric_smolyak

__all__ = ["Stencil", "fd_stencil", "grid_stencil", "make_stencil"]

FloatArray = npt.NDArray[np.float64]


class Stencil(NamedTuple):
    """Offsets and the linear maps from differences to estimates (module docstring)."""

    offsets: FloatArray  #: ``(E, dim)``, ``offsets[0] == 0``
    a_value: FloatArray  #: ``(E-1,)`` (zeros for finite differences: value is ``u(x)``)
    a_grad: FloatArray  #: ``(E-1, dim)``
    a_lap: FloatArray  #: ``(E-1,)`` Laplacian over the chosen axes
    kind: str  #: ``fd`` or ``sparse_grid``

    @property
    def evals_per_point(self) -> int:
        """Network evaluations per collocation point (``E``)."""
        return int(self.offsets.shape[0])

    def estimate(self, u: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """``u (..., P, E)`` values at the offsets -> ``(value (..., P), grad (..., P, dim),
        laplacian (..., P))``."""
        d = u[..., 1:] - u[..., :1]
        return u[..., 0] + d @ self.a_value, d @ self.a_grad, d @ self.a_lap


def _axes(laplacian_axes: Sequence[int], dim: int) -> npt.NDArray[np.intp]:
    ax = np.asarray(list(laplacian_axes), dtype=np.intp)
    if ax.size and (ax.min() < 0 or ax.max() >= dim or np.unique(ax).size != ax.size):
        raise FotrainError(
            f"laplacian_axes must be distinct indices in [0, {dim}), got {list(laplacian_axes)}"
        )
    return ax


def fd_stencil(dim: int, h: float, laplacian_axes: Sequence[int]) -> Stencil:
    """Central differences with step ``h``: offsets ``0, +h e_i, -h e_i`` (``2 dim + 1``)."""
    if not (np.isfinite(h) and h > 0):
        raise FotrainError(f"h must be a positive finite number, got {h!r}")
    eye = np.eye(dim)
    offsets = np.concatenate([np.zeros((1, dim)), h * eye, -h * eye])
    a_grad = np.concatenate([eye, -eye]) / (2.0 * h)
    mask = np.zeros(dim)
    mask[_axes(laplacian_axes, dim)] = 1.0
    a_lap = np.concatenate([mask, mask]) / h**2
    return Stencil(offsets, np.zeros(2 * dim), a_grad, a_lap, "fd")


def grid_stencil(dim: int, sigma: float, level: int, laplacian_axes: Sequence[int]) -> Stencil:
    """Stein estimator of ``u_sigma`` with the folded level-``level`` Smolyak rule.

    Offsets ``0, +sigma z_p, -sigma z_p``; with pair weights ``w_p``: value weights ``w_p``,
    gradient ``+-w_p z_p / sigma``, Laplacian ``w_p sum_{i in axes}(z_{p,i}^2 - 1) / sigma^2``.
    """
    if not (np.isfinite(sigma) and sigma > 0):
        raise FotrainError(f"sigma must be a positive finite number, got {sigma!r}")
    g = symmetric_smolyak(dim, level)
    z, w = np.asarray(g.nodes), np.asarray(g.weights)
    axes = _axes(laplacian_axes, dim)
    offsets = np.concatenate([np.zeros((1, dim)), sigma * z, -sigma * z])
    a_value = np.concatenate([w, w])
    a_grad = np.concatenate([w[:, None] * z, -w[:, None] * z]) / sigma
    lap = w * (z[:, axes] ** 2 - 1.0).sum(axis=1) / sigma**2
    return Stencil(offsets, a_value, a_grad, np.concatenate([lap, lap]), "sparse_grid")


def make_stencil(
    kind: str, dim: int, sigma: float, level: int, laplacian_axes: Sequence[int]
) -> Stencil:
    """``fd`` -> :func:`fd_stencil` (``h = sigma``), ``sparse_grid`` -> :func:`grid_stencil`."""
    if kind == "fd":
        return fd_stencil(dim, sigma, laplacian_axes)
    if kind == "sparse_grid":
        return grid_stencil(dim, sigma, level, laplacian_axes)
    raise FotrainError(f"derivatives must be 'fd' or 'sparse_grid', got {kind!r}")
