"""PDE problems for physics-informed training with derivative estimates from function values.

Interface (every problem is a frozen dataclass with these members; a trainer needs nothing else):

==============================================  ===============================================
member                                          contract
==============================================  ===============================================
``name: str``                                   short id (presets, summaries)
``dim: int``                                    network input size: spatial coordinates, then
                                                ``t`` last (``time_axis == dim - 1``)
``laplacian_axes: tuple[int, ...]``             inputs the Laplacian sums over (the spatial ones)
``default_sigma: float``                        smoothing scale the problem is tuned for
``sample_collocation(n, *, rng) -> (n, dim)``   i.i.d. uniform training points in ``[0, 1]^dim``
``sample_test(n=10_000, *, rng) -> (n, dim)``   i.i.d. uniform test points in ``[0, 1]^dim``
``sample_boundary(n, *, rng) -> (n, dim)``      uniform points on the lateral faces (one
                                                spatial coordinate 0 or 1), for Dirichlet data
``ansatz(points, nn) -> (n,)``                  hard-constrained solution from raw network outputs
``wrap(net) -> u``                              ``u(points) = ansatz(points, net(points))``
``residual(points, value, grad, laplacian)``    PDE residual per point from estimates of ``u``
                                                (``grad`` has all ``dim`` components, ``u_t`` is
                                                ``grad[:, time_axis]``; ``laplacian`` over
                                                ``laplacian_axes``); the loss is ``mean(r^2)``
``exact(points) -> (n,)``                       closed-form solution ``u``
``exact_smoothed(points, sigma) -> (n,)``       ``u_sigma(x) = E[u(x + sigma z)]`` over all
                                                ``dim`` inputs (``t`` is smoothed too)
``exact_smoothed_derivatives(points, sigma)``   ``(grad (n, dim), laplacian (n,))`` of
                                                ``u_sigma`` (what a Stein estimator targets)
``exact_network(points) -> (n,)``               the raw network output that makes the ansatz
                                                exact (for pipeline checks)
==============================================  ===============================================

Problems:

* :class:`HJB` (``hjb20``): ``u_t + Lap_x u - 0.05 |grad_x u|^2 + 2 = 0`` on ``[0, 1]^21``
  (``x`` in ``[0, 1]^20``, ``t`` in ``[0, 1]``), terminal condition ``u(x, 1) = sum(x)`` imposed by
  ``u = sum(x) + (1 - t) NN(x, t)``; exact ``u = sum(x) + 1 - t`` (affine, so ``u_sigma = u`` and
  the exact network output is ``NN == 1``). Other ``d``/``mu``: ``u = sum(x) + (2 - mu d)(1 - t)``.
* :class:`Heat` (``heat20``): ``u_t = k Lap_x u`` on ``[0, 1]^(d+1)`` with initial condition
  ``u(x, 0) = g(x) = prod_i cos(a x_i)`` imposed by ``u = g(x) + t NN(x, t)``; exact
  ``u = exp(-c t) g(x)`` with ``c = k d a^2`` (defaults ``d = 20``, ``a = 0.5``, ``k = 0.2`` so
  ``c = 1``: ``u`` varies over ``[0.03, 1]``, every mixed derivative is non-zero, ``Lap u = -5 u``).
  Smoothing bias, in closed form: ``u_sigma = u * exp(sigma^2 (c^2 - d a^2) / 2)``, a constant
  factor (0.980 at ``sigma = 0.1``). A linear constant-coefficient PDE commutes with smoothing, so
  ``u_sigma`` satisfies it exactly; the smoothed model therefore converges to ``u_sigma``, not
  ``u``: measure the heat problem on the raw ``u`` (``wrap(net)``), whose target is unbiased.
  ``default_sigma = 0.01``: the level-3 sparse grid is exact only for low-degree polynomials, and
  on this coupled solution its Laplacian estimate of ``u_sigma`` has an ``O(sigma^2)`` relative
  error, so ``sigma`` must be small (the errors per ``sigma`` are in docs/PINN.md). (The HJB
  solution is affine, so its estimates are exact for any ``sigma``.)

As in the reference HJB code, lateral boundary values are not imposed by default (only the
terminal/initial condition is hard); the collocation loss alone selects the solution. That is
enough for the HJB run but not for the heat problem: on the box, heat flowing in through the faces
also solves ``u_t = k Lap u`` with the same initial data, so ``pinn.boundary_points`` adds
Dirichlet data ``u = exact`` on points of :meth:`Problem.sample_boundary` as a second loss term.

Costs: samplers ``O(n * dim)``; every other member is elementwise ``O(n * dim)``.
"""

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from ..errors import FotrainError

__all__ = ["HJB", "PROBLEMS", "Heat", "Problem", "get_problem", "rel_l2"]

FloatArray = npt.NDArray[np.float64]
Fn = Callable[[FloatArray], npt.ArrayLike]

#: Test points of the reported metric (the reference protocol).
N_TEST = 10_000


def rel_l2(u_pred: npt.ArrayLike, u_exact: npt.ArrayLike) -> float:
    """Return ``||u_pred - u_exact||_2 / ||u_exact||_2`` over all entries."""
    p = np.asarray(u_pred, dtype=np.float64).ravel()
    e = np.asarray(u_exact, dtype=np.float64).ravel()
    if p.shape != e.shape or p.size == 0:
        raise FotrainError(
            f"u_pred and u_exact must have the same non-zero size, got "
            f"{np.shape(u_pred)} and {np.shape(u_exact)}"
        )
    norm = float(np.linalg.norm(e))
    if not norm > 0:
        raise FotrainError("u_exact has zero norm; relative L2 error is undefined")
    return float(np.linalg.norm(p - e)) / norm


def _check_n(n: int, name: str) -> int:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise FotrainError(f"{name} must be a positive integer, got {n!r}")
    return int(n)


@dataclass(frozen=True)
class Problem:
    """Shared machinery: uniform samplers on ``[0, 1]^dim``, ``wrap``, input checks."""

    d: int = 20  #: spatial dimension; ``dim = d + 1``
    default_sigma: float = 0.1

    def __post_init__(self) -> None:
        if isinstance(self.d, bool) or not isinstance(self.d, int) or self.d < 1:
            raise FotrainError(f"d must be a positive integer, got {self.d!r}")
        if not (math.isfinite(self.default_sigma) and self.default_sigma > 0):
            raise FotrainError(f"default_sigma must be positive, got {self.default_sigma!r}")

    @property
    def name(self) -> str:
        raise NotImplementedError

    @property
    def dim(self) -> int:
        return self.d + 1

    @property
    def time_axis(self) -> int:
        return self.d

    @property
    def laplacian_axes(self) -> tuple[int, ...]:
        return tuple(range(self.d))

    def _points(self, points: npt.ArrayLike) -> FloatArray:
        a = np.asarray(points, dtype=np.float64)
        if a.ndim != 2 or a.shape[1] != self.dim:
            raise FotrainError(f"points must have shape (n, {self.dim}), got {a.shape}")
        return a

    def sample_collocation(self, n: int, *, rng: np.random.Generator) -> FloatArray:
        """Draw ``n`` i.i.d. uniform collocation points in ``[0, 1]^dim``."""
        return rng.uniform(0.0, 1.0, size=(_check_n(n, "n"), self.dim))

    def sample_boundary(self, n: int, *, rng: np.random.Generator) -> FloatArray:
        """Draw ``n`` uniform points on the lateral faces: uniform in ``[0, 1]^dim``, then one
        spatial axis (uniform over the ``d``) set to 0 or 1 (fair coin)."""
        x = rng.uniform(0.0, 1.0, size=(_check_n(n, "n"), self.dim))
        axis = rng.integers(0, self.d, size=n)
        x[np.arange(n), axis] = rng.integers(0, 2, size=n).astype(np.float64)
        return x

    def sample_test(self, n: int = N_TEST, *, rng: np.random.Generator) -> FloatArray:
        """Draw ``n`` (default 10,000) i.i.d. uniform test points in ``[0, 1]^dim``."""
        return rng.uniform(0.0, 1.0, size=(_check_n(n, "n"), self.dim))

    def ansatz(self, points: npt.ArrayLike, nn: npt.ArrayLike) -> FloatArray:
        raise NotImplementedError

    def residual(
        self,
        points: npt.ArrayLike,
        value: npt.ArrayLike,
        grad: npt.ArrayLike,
        laplacian: npt.ArrayLike,
    ) -> FloatArray:
        raise NotImplementedError

    def exact(self, points: npt.ArrayLike) -> FloatArray:
        raise NotImplementedError

    def wrap(self, net: Fn) -> Fn:
        """Turn a raw network ``net(points) -> (n,)`` into the hard-constrained solution ``u``."""

        def u(points: FloatArray) -> FloatArray:
            return self.ansatz(points, net(points))

        return u

    def _nn(self, points: FloatArray, nn: npt.ArrayLike) -> FloatArray:
        v = np.asarray(nn, dtype=np.float64)
        if v.size != points.shape[0]:
            raise FotrainError(
                f"nn must hold one value per point ({points.shape[0]}), got shape {v.shape}"
            )
        return v.reshape(points.shape[0])

    def _estimates(
        self,
        points: npt.ArrayLike,
        value: npt.ArrayLike,
        grad: npt.ArrayLike,
        laplacian: npt.ArrayLike,
    ) -> tuple[FloatArray, FloatArray, FloatArray]:
        x = self._points(points)
        n = x.shape[0]
        v = np.asarray(value, dtype=np.float64)
        g = np.asarray(grad, dtype=np.float64)
        lap = np.asarray(laplacian, dtype=np.float64)
        if v.shape != (n,) or g.shape != (n, self.dim) or lap.shape != (n,):
            raise FotrainError(
                f"value/grad/laplacian must have shapes ({n},)/({n}, {self.dim})/"
                f"({n},), got {v.shape}/{g.shape}/{lap.shape}"
            )
        return v, g, lap


@dataclass(frozen=True)
class HJB(Problem):
    """20-dim HJB ``u_t + Lap_x u - mu |grad_x u|^2 + 2 = 0``, ``mu = 0.05`` (see module doc)."""

    mu: float = 0.05

    def __post_init__(self) -> None:
        super().__post_init__()
        if not math.isfinite(self.mu):
            raise FotrainError(f"mu must be finite, got {self.mu!r}")

    @property
    def name(self) -> str:
        return f"hjb{self.d}"

    @property
    def offset(self) -> float:
        """``lam = 2 - mu d`` in the exact ``u = sum(x) + lam (1 - t)`` (1 for the default)."""
        return 2.0 - self.mu * self.d

    def ansatz(self, points: npt.ArrayLike, nn: npt.ArrayLike) -> FloatArray:
        """Return ``sum(x) + (1 - t) * nn`` (equals ``sum(x)`` at ``t = 1``)."""
        x = self._points(points)
        return x[:, : self.d].sum(axis=1) + (1.0 - x[:, self.d]) * self._nn(x, nn)

    def residual(
        self,
        points: npt.ArrayLike,
        value: npt.ArrayLike,
        grad: npt.ArrayLike,
        laplacian: npt.ArrayLike,
    ) -> FloatArray:
        """Return ``u_t + laplacian - mu * |grad_x u|^2 + 2`` per point."""
        _, g, lap = self._estimates(points, value, grad, laplacian)
        gx = g[:, : self.d]
        return g[:, self.d] + lap - self.mu * np.einsum("ij,ij->i", gx, gx) + 2.0

    def exact(self, points: npt.ArrayLike) -> FloatArray:
        """Return ``sum(x) + lam (1 - t)``, ``lam = 2 - mu d`` (``sum(x) + 1 - t`` by default)."""
        x = self._points(points)
        return x[:, : self.d].sum(axis=1) + self.offset * (1.0 - x[:, self.d])

    def exact_smoothed(self, points: npt.ArrayLike, sigma: float) -> FloatArray:
        """Return ``u_sigma``, equal to ``u`` (affine functions are unchanged by smoothing)."""
        return self.exact(points)

    def exact_smoothed_derivatives(
        self, points: npt.ArrayLike, sigma: float
    ) -> tuple[FloatArray, FloatArray]:
        """Return ``(grad, laplacian)`` of ``u_sigma``: ``grad = (1, .., 1, -lam)``, Laplacian 0."""
        x = self._points(points)
        g = np.ones_like(x)
        g[:, self.d] = -self.offset
        return g, np.zeros(x.shape[0])

    def exact_network(self, points: npt.ArrayLike) -> FloatArray:
        """Return ``NN == lam`` (1 by default), the raw output that makes :meth:`ansatz` exact."""
        return np.full(self._points(points).shape[0], self.offset)


@dataclass(frozen=True)
class Heat(Problem):
    """Heat equation ``u_t = k Lap_x u``, ``u = exp(-c t) prod cos(a x_i)`` (see module doc)."""

    default_sigma: float = 0.01
    a: float = 0.5  #: spatial frequency
    k: float = 0.2  #: diffusivity; decay rate ``c = k d a^2``

    def __post_init__(self) -> None:
        super().__post_init__()
        for fname in ("a", "k"):
            v = getattr(self, fname)
            if not (math.isfinite(v) and v > 0):
                raise FotrainError(f"{fname} must be a positive finite number, got {v!r}")

    @property
    def name(self) -> str:
        return f"heat{self.d}"

    @property
    def rate(self) -> float:
        """Decay rate ``c = k d a^2``."""
        return self.k * self.d * self.a**2

    def initial(self, points: npt.ArrayLike) -> FloatArray:
        """Return ``g(x) = prod_i cos(a x_i)`` (ignores ``t``)."""
        x = self._points(points)
        return np.prod(np.cos(self.a * x[:, : self.d]), axis=1)

    def ansatz(self, points: npt.ArrayLike, nn: npt.ArrayLike) -> FloatArray:
        """Return ``g(x) + t * nn`` (equals ``g(x)`` at ``t = 0``)."""
        x = self._points(points)
        return self.initial(x) + x[:, self.d] * self._nn(x, nn)

    def residual(
        self,
        points: npt.ArrayLike,
        value: npt.ArrayLike,
        grad: npt.ArrayLike,
        laplacian: npt.ArrayLike,
    ) -> FloatArray:
        """Return ``u_t - k * laplacian`` per point."""
        _, g, lap = self._estimates(points, value, grad, laplacian)
        return g[:, self.d] - self.k * lap

    def exact(self, points: npt.ArrayLike) -> FloatArray:
        """Return ``exp(-c t) prod_i cos(a x_i)``."""
        x = self._points(points)
        return np.exp(-self.rate * x[:, self.d]) * self.initial(x)

    def smoothing_factor(self, sigma: float) -> float:
        """Return ``u_sigma / u = exp(sigma^2 (c^2 - d a^2) / 2)`` (the same at every point).

        From ``E[cos(a (x + s z))] = exp(-a^2 s^2 / 2) cos(a x)`` per spatial axis and
        ``E[exp(-c (t + s z))] = exp(c^2 s^2 / 2) exp(-c t)``.
        """
        return math.exp(sigma**2 * (self.rate**2 - self.d * self.a**2) / 2.0)

    def exact_smoothed(self, points: npt.ArrayLike, sigma: float) -> FloatArray:
        """Return ``u_sigma = smoothing_factor(sigma) * u``."""
        return self.smoothing_factor(sigma) * self.exact(points)

    def exact_smoothed_derivatives(
        self, points: npt.ArrayLike, sigma: float
    ) -> tuple[FloatArray, FloatArray]:
        """Return ``(grad, laplacian)`` of ``u_sigma``: ``d_i u = -a tan(a x_i) u``,
        ``u_t = -c u``, ``Lap_x u = -d a^2 u``, all times :meth:`smoothing_factor`."""
        x = self._points(points)
        us = self.exact_smoothed(x, sigma)
        g = np.empty_like(x)
        g[:, : self.d] = -self.a * np.tan(self.a * x[:, : self.d]) * us[:, None]
        g[:, self.d] = -self.rate * us
        return g, -self.d * self.a**2 * us

    def exact_network(self, points: npt.ArrayLike) -> FloatArray:
        """Return ``g(x) (exp(-c t) - 1) / t`` (``-c g`` at ``t = 0``): makes the ansatz exact."""
        x = self._points(points)
        ct = self.rate * x[:, self.d]
        small = np.abs(ct) < 1e-6
        t_safe = np.where(small, 1.0, x[:, self.d])
        ratio = np.where(
            small, -self.rate * (1.0 - ct / 2.0 + ct * ct / 6.0), np.expm1(-ct) / t_safe
        )
        return self.initial(x) * ratio


#: Problem constructors by name (default parameters).
PROBLEMS: dict[str, Callable[[], Problem]] = {"hjb20": HJB, "heat20": Heat}


def get_problem(name: str, **params: float) -> Problem:
    """Return the problem ``name`` (a key of :data:`PROBLEMS`) built with ``params``."""
    if name not in PROBLEMS:
        raise FotrainError(f"problem must be one of {sorted(PROBLEMS)}, got {name!r}")
    try:
        return PROBLEMS[name](**params)
    except TypeError as exc:
        raise FotrainError(f"problem {name!r}: bad parameters {sorted(params)}: {exc}") from None
