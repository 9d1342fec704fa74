"""One training step's collocation points, stencil and loss, shared by the float and fixed PINN.

:class:`Collocation` turns network values at the stencil inputs into derivative estimates,
residuals and the loss (and its gradient with respect to the values); the helpers choose the
stencil and count the network evaluations of a step.
"""

import numpy as np
import numpy.typing as npt

from ..config import Config, PINNConfig
from ..errors import ConfigError
from .problems import Problem
from .stencil import Stencil, make_stencil

__all__ = ["Collocation", "check_method", "collocation", "evals_per_iteration", "pinn_stencil"]

FloatArray = npt.NDArray[np.float64]


def pinn_stencil(cfg: Config, pinn: PINNConfig, problem: Problem) -> Stencil:
    """The stencil of ``pinn.derivatives`` with ``sigma`` (0: the problem's default)."""
    sigma = pinn.sigma or problem.default_sigma
    return make_stencil(pinn.derivatives, problem.dim, sigma, pinn.level, problem.laplacian_axes)


def evals_per_iteration(cfg: Config, pinn: PINNConfig, stencil: Stencil, n_blocks: int) -> int:
    """Network evaluations (single inputs) of one training step."""
    per_loss = cfg.train.batch_size * stencil.evals_per_point + pinn.boundary_points
    if cfg.train.method == "bp":
        return per_loss
    per_block = (2 if cfg.zo.sided == "antithetic" else 1) * cfg.zo.queries
    return per_loss * (1 + n_blocks * per_block)


class Collocation:
    """One step's points: offsets, the ansatz as ``u = g + c * NN``, loss and its gradient.

    ``xp`` holds ``ni = P - nb`` interior points, then ``nb = boundary`` points with Dirichlet
    data. Loss: ``mean_interior(r^2) + boundary_weight * mean_boundary((u(x) - u_exact(x))^2)``.
    Network inputs (``points``, ``S = ni * E + nb`` rows): every interior point at its ``E``
    stencil offsets (point-major), then each boundary point once (it needs ``u`` only).
    """

    def __init__(
        self,
        problem: Problem,
        stencil: Stencil,
        xp: FloatArray,
        boundary: int = 0,
        boundary_weight: float = 1.0,
    ):
        self.problem, self.stencil = problem, stencil
        self.xp = np.asarray(xp, np.float64)
        self.p, self.e = self.xp.shape[0], stencil.evals_per_point
        if not 0 <= boundary < self.p:
            raise ConfigError(
                f"pinn.boundary_points: {boundary} of {self.p} points leaves no interior point"
            )
        self.nb, self.ni, self.wb = boundary, self.p - boundary, float(boundary_weight)
        self.xi, self.xb = self.xp[: self.ni], self.xp[self.ni :]
        self.u_boundary = problem.exact(self.xb) if boundary else np.zeros(0)
        grid = (self.xi[:, None, :] + stencil.offsets[None]).reshape(-1, problem.dim)
        self.points = np.concatenate([grid, self.xb])
        self.split = grid.shape[0]  # interior stencil inputs come first
        n = self.points.shape[0]
        self.g = problem.ansatz(self.points, np.zeros(n))
        self.c = problem.ansatz(self.points, np.ones(n)) - self.g

    def _u(self, nn: FloatArray) -> FloatArray:
        """``u`` at every network input, ``(C, S)``."""
        return self.g + self.c * np.asarray(nn, np.float64).reshape(-1, self.points.shape[0])

    def estimates(self, nn: FloatArray) -> tuple[FloatArray, FloatArray, FloatArray]:
        """Network values ``(C, S)`` -> ``(value (C, ni), grad (C, ni, dim), lap (C, ni))`` at
        the interior points."""
        u = self._u(nn)[:, : self.split]
        return self.stencil.estimate(u.reshape(-1, self.ni, self.e))

    def residuals(self, nn: FloatArray) -> FloatArray:
        """``(C, ni)`` residuals at the interior points of ``C`` networks' values ``(C, S)``."""
        value, grad, lap = self.estimates(nn)
        c, dim = value.shape[0], self.problem.dim
        r = self.problem.residual(
            np.tile(self.xp[: self.ni], (c, 1)),
            value.reshape(-1),
            grad.reshape(-1, dim),
            lap.reshape(-1),
        )
        return r.reshape(c, self.ni)

    def boundary_errors(self, nn: FloatArray) -> FloatArray:
        """``(C, nb)`` errors ``u(x) - u_exact(x)`` at the boundary points."""
        return self._u(nn)[:, self.split :] - self.u_boundary

    def losses(self, nn: FloatArray) -> FloatArray:
        """``(C,)`` mean squared residuals (plus the weighted boundary term)."""
        out = np.mean(self.residuals(nn) ** 2, axis=1)
        if self.nb:
            out = out + self.wb * np.mean(self.boundary_errors(nn) ** 2, axis=1)
        return out

    def loss_grad(self, nn: FloatArray) -> tuple[float, FloatArray]:
        """Loss of one network ``(S,)`` and ``dL/dNN (S,)``.

        ``dr/d(estimates)`` by central differences of unit step in estimate space, exact because
        every residual of :mod:`.problems` is a polynomial of degree <= 2 in the estimates.
        """
        value, grad, lap = (a[0] for a in self.estimates(nn[None]))
        est = np.concatenate([value[:, None], grad, lap[:, None]], axis=1)  # (P - nb, dim + 2)
        dim, xi = self.problem.dim, self.xp[: self.ni]

        def res(e: FloatArray) -> FloatArray:
            return self.problem.residual(xi, e[:, 0], e[:, 1 : dim + 1], e[:, dim + 1])

        r = res(est)
        jac = np.empty_like(est)
        for j in range(est.shape[1]):
            step = np.zeros(est.shape[1])
            step[j] = 1.0
            jac[:, j] = 0.5 * (res(est + step) - res(est - step))
        dl_est = (2.0 / self.ni) * r[:, None] * jac
        s = self.stencil
        dl_d = (
            dl_est[:, :1] * s.a_value
            + dl_est[:, 1 : dim + 1] @ s.a_grad.T
            + dl_est[:, dim + 1 :] * s.a_lap
        )  # (P - nb, E - 1)
        dl_u = np.zeros(self.points.shape[0])
        dl_u[: self.split] = np.concatenate(
            [dl_est[:, :1] - dl_d.sum(axis=1, keepdims=True), dl_d], axis=1
        ).reshape(-1)
        loss = float(np.mean(r**2))
        if self.nb:
            eb = self.boundary_errors(nn[None])[0]
            dl_u[self.split :] = (2.0 * self.wb / self.nb) * eb
            loss += self.wb * float(np.mean(eb**2))
        return loss, dl_u * self.c


def collocation(
    problem: Problem, stencil: Stencil, pinn: PINNConfig, x: FloatArray
) -> "Collocation":
    """The :class:`Collocation` of a training batch ``x`` (its last ``pinn.boundary_points``
    points carry Dirichlet data)."""
    return Collocation(problem, stencil, x, pinn.boundary_points, pinn.boundary_weight)


def check_method(cfg: Config) -> None:
    """Reject settings the PINN methods do not implement (one-line ``ConfigError``)."""
    if cfg.train.method not in ("zo", "bp"):
        raise ConfigError(
            f"train.method: {cfg.train.method!r} has no implementation for task "
            f"{cfg.train.task!r} (zo, bp)"
        )
    if cfg.train.method == "zo" and cfg.zo.estimator != "rge":
        raise ConfigError(f"zo.estimator: PINN training implements 'rge', got {cfg.zo.estimator!r}")
