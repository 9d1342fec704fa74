"""Physics-informed training without backprop: derivatives and parameter gradients from values.

Loss of a step on ``P`` collocation points ``x_p`` (``train.batch_size``), plus ``nb`` boundary
points ``x_b`` with Dirichlet data when ``pinn.boundary_points`` is set:

    L(theta) = (1/P) sum_p r(x_p)^2 + boundary_weight * (1/nb) sum_b (u(x_b) - u_exact(x_b))^2
    r = problem.residual(x, value, grad, laplacian)

where ``u = problem.ansatz(x, NN_theta(x))`` (hard terminal/initial condition) and the estimates
come from the stencil of ``pinn.derivatives`` (:mod:`.pinn_stencil`: ``fd`` central differences
with step ``sigma``, 43 evaluations per point for ``dim = 21``; ``sparse_grid`` the Stein
estimator of the smoothed ``u_sigma`` with the Smolyak rule, 925 per point at level 3). The
estimates are linear in ``u`` at the ``E`` offsets, so the loss is a function of the ``P * E``
network values only (plus one value per boundary point, ``pinn.boundary_points``).

Methods (``train.method``):

- ``zo``: the zeroth-order estimator of :mod:`.zo` on ``L``: ``zo.blocks`` / ``queries`` /
  ``mu`` / ``distribution`` / ``sided`` / ``scale`` / ``hardware_prng`` with the same direction
  seeds as :class:`~fotrain.sw.zo.ZOMethod` (``estimator = "rge"`` only), then the ``[train]``
  optimiser. Every perturbed loss needs the network at all ``S`` inputs; they are computed
  with the exact rewrites of :mod:`.pinn_net` (dense equivalents, input linearity of layer 0,
  per-array linear shortcut), all queries of a block batched. Network evaluations per iteration:
  ``S * (1 + n_blocks * 2Q)`` (antithetic) or ``S * (1 + n_blocks * Q)`` (one-sided) with
  ``S = train.batch_size * E + pinn.boundary_points`` inputs per loss (a boundary point needs
  ``u`` only, one evaluation).
  Working precision of the forwards: ``zo.precision``; estimates, residuals and losses in float64.
- ``bp``: the first-order reference *on the same estimator*: the exact gradient of the same
  ``L`` (same stencil, same points) by the chain rule, ``dL/d(estimates) -> dL/du`` (the
  stencil's transpose) ``-> dL/dNN`` (ansatz factor) then backprop through the dense-equivalent
  network and :func:`~.pinn_net.tt_dense_adjoint` into the cores; float64. ``S``
  evaluations (plus one backward) per iteration.

``numerics = "fixed"`` is :class:`fotrain.sw.pinn_fixed.PINNFixedMethod` (built by
:func:`make_pinn_method`).

``predict(x)`` returns the solution ``u`` as ``(B, 1)``: the hard-constrained network itself
(``pinn.predict = "raw"``) or its smoothed value with the training rule (``"smoothed"``).
``forward_passes`` counts network evaluations at single inputs (``S`` per loss), the unit
the hardware has to deliver.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from .config import Config
from .errors import ConfigError
from .method import Method, step_rng
from .model import activation_grad, param_names
from .netmethod import NetworkMethod
from .pde import Problem
from .pde_task import pinn_settings, problem_for
from .pinn_config import PINNConfig
from .pinn_net import CHUNK_ELEMENTS, BaseEval, run_from, tt_dense, tt_dense_adjoint
from .pinn_stencil import Stencil, make_stencil
from .zo import block_plan, directions

__all__ = ["Collocation", "PINNMethod", "collocation", "evals_per_iteration", "make_pinn_method",
           "pinn_stencil"]

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

    def __init__(self, problem: Problem, stencil: Stencil, xp: FloatArray, boundary: int = 0,
                 boundary_weight: float = 1.0):
        self.problem, self.stencil = problem, stencil
        self.xp = np.asarray(xp, np.float64)
        self.p, self.e = self.xp.shape[0], stencil.evals_per_point
        if not 0 <= boundary < self.p:
            raise ConfigError(f"pinn.boundary_points: {boundary} of {self.p} points leaves no "
                              "interior point")
        self.nb, self.ni, self.wb = boundary, self.p - boundary, float(boundary_weight)
        self.xi, self.xb = self.xp[:self.ni], self.xp[self.ni:]
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
        u = self._u(nn)[:, :self.split]
        return self.stencil.estimate(u.reshape(-1, self.ni, self.e))

    def residuals(self, nn: FloatArray) -> FloatArray:
        """``(C, ni)`` residuals at the interior points of ``C`` networks' values ``(C, S)``."""
        value, grad, lap = self.estimates(nn)
        c, dim = value.shape[0], self.problem.dim
        r = self.problem.residual(np.tile(self.xp[:self.ni], (c, 1)), value.reshape(-1),
                                  grad.reshape(-1, dim), lap.reshape(-1))
        return r.reshape(c, self.ni)

    def boundary_errors(self, nn: FloatArray) -> FloatArray:
        """``(C, nb)`` errors ``u(x) - u_exact(x)`` at the boundary points."""
        return self._u(nn)[:, self.split:] - self.u_boundary

    def losses(self, nn: FloatArray) -> FloatArray:
        """``(C,)`` mean squared residuals (plus the weighted boundary term)."""
        out = np.mean(self.residuals(nn) ** 2, axis=1)
        if self.nb:
            out = out + self.wb * np.mean(self.boundary_errors(nn) ** 2, axis=1)
        return out

    def loss_grad(self, nn: FloatArray) -> tuple[float, FloatArray]:
        """Loss of one network ``(S,)`` and ``dL/dNN (S,)``.

        ``dr/d(estimates)`` by central differences of unit step in estimate space, exact because
        every residual of :mod:`.pde` is a polynomial of degree <= 2 in the estimates.
        """
        value, grad, lap = (a[0] for a in self.estimates(nn[None]))
        est = np.concatenate([value[:, None], grad, lap[:, None]], axis=1)  # (P - nb, dim + 2)
        dim, xi = self.problem.dim, self.xp[:self.ni]

        def res(e: FloatArray) -> FloatArray:
            return self.problem.residual(xi, e[:, 0], e[:, 1:dim + 1], e[:, dim + 1])

        r = res(est)
        jac = np.empty_like(est)
        for j in range(est.shape[1]):
            step = np.zeros(est.shape[1])
            step[j] = 1.0
            jac[:, j] = 0.5 * (res(est + step) - res(est - step))
        dl_est = (2.0 / self.ni) * r[:, None] * jac
        s = self.stencil
        dl_d = (dl_est[:, :1] * s.a_value + dl_est[:, 1:dim + 1] @ s.a_grad.T
                + dl_est[:, dim + 1:] * s.a_lap)  # (P - nb, E - 1)
        dl_u = np.zeros(self.points.shape[0])
        dl_u[:self.split] = np.concatenate([dl_est[:, :1] - dl_d.sum(axis=1, keepdims=True),
                                            dl_d], axis=1).reshape(-1)
        loss = float(np.mean(r**2))
        if self.nb:
            eb = self.boundary_errors(nn[None])[0]
            dl_u[self.split:] = (2.0 * self.wb / self.nb) * eb
            loss += self.wb * float(np.mean(eb**2))
        return loss, dl_u * self.c


def collocation(problem: Problem, stencil: Stencil, pinn: PINNConfig, x: FloatArray
                ) -> "Collocation":
    """The :class:`Collocation` of a training batch ``x`` (its last ``pinn.boundary_points``
    points carry Dirichlet data)."""
    return Collocation(problem, stencil, x, pinn.boundary_points, pinn.boundary_weight)


def check_method(cfg: Config) -> None:
    """Reject settings the PINN methods do not implement (one-line ``ConfigError``)."""
    if cfg.train.method not in ("zo", "bp"):
        raise ConfigError(f"train.method: {cfg.train.method!r} has no implementation for task "
                          f"{cfg.train.task!r} (zo, bp)")
    if cfg.train.method == "zo" and cfg.zo.estimator != "rge":
        raise ConfigError(f"zo.estimator: PINN training implements 'rge', got "
                          f"{cfg.zo.estimator!r}")


class PINNMethod(NetworkMethod):
    """Float PINN training, ``zo`` or the ``bp`` reference (module docstring).

    Parameters, optimiser, counters and checkpoint state come from :class:`NetworkMethod`.
    """

    def __init__(self, cfg: Config, *, seed: int, pinn: PINNConfig | None = None):
        check_method(cfg)
        super().__init__(cfg, seed=seed)
        self.pinn = pinn or pinn_settings(cfg)
        self.problem = problem_for(cfg)
        self.stencil = pinn_stencil(cfg, self.pinn, self.problem)
        self.blocks = block_plan(cfg, param_names(cfg))

    def network(self, x: FloatArray, params: dict[str, FloatArray] | None = None) -> FloatArray:
        """Raw network output ``(B,)`` in float64."""
        x = np.asarray(x, np.float64)
        ev = BaseEval(self.cfg, params or self.p, x, np.zeros((1, x.shape[1])), np.float64)
        return ev.out

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = np.asarray(x, np.float64)
        if self.pinn.predict == "smoothed":
            col = Collocation(self.problem, self.stencil, x)
            nn = BaseEval(self.cfg, self.p, x, self.stencil.offsets, np.float64).out
            return col.estimates(nn[None])[0][0][:, None]
        return self.problem.ansatz(x, self.network(x))[:, None]

    def summary(self) -> dict[str, Any]:
        per_it = evals_per_iteration(self.cfg, self.pinn, self.stencil, len(self.blocks))
        return {"pinn_problem": self.problem.name, "derivatives": self.stencil.kind,
                "sigma": self.pinn.sigma or self.problem.default_sigma,
                "evals_per_point": self.stencil.evals_per_point,
                "collocation_points": self.cfg.train.batch_size,
                "boundary_points": self.pinn.boundary_points,
                "zo_blocks": len(self.blocks) if self.cfg.train.method == "zo" else 0,
                "network_evals_per_iteration": per_it,
                "network_evals_total": self._forward}

    # -- training --------------------------------------------------------------------------------
    def train_step(self, x: npt.NDArray[np.float64], y: npt.NDArray[np.int64], *, step: int,
                   epoch: int, lr: float) -> dict[str, float]:
        col = collocation(self.problem, self.stencil, self.pinn, x)
        if self.cfg.train.method == "bp":
            loss, grads = self.first_order(col)
            self.opt.step(self.p, grads, lr)
            self._forward += col.points.shape[0]
            return {"loss": loss}
        loss, grads = self.zo_gradient(col, step)
        self.opt.step(self.p, grads, lr)
        return {"loss": loss}

    def zo_gradient(self, col: Collocation, step: int) -> tuple[float, dict[str, FloatArray]]:
        """Base loss and the RGE gradient estimate of every block at ``step``."""
        cfg, zo = self.cfg, self.cfg.zo
        rng = step_rng(self.seed, step)
        dt = np.dtype(zo.precision)
        base = BaseEval(cfg, self.p, col.xi, self.stencil.offsets, dt, extra=col.xb)
        base_loss = float(col.losses(base.out[None].astype(np.float64))[0])
        self._forward += base.size
        steps = [zo.mu, -zo.mu] if zo.sided == "antithetic" else [zo.mu]
        grads: dict[str, FloatArray] = {}
        for b, block in enumerate(self.blocks):
            stream = step * len(self.blocks) + b
            u = {n: directions(cfg, self.p[n].shape, zo.queries, seed=self.seed,
                               stream=stream * len(block) + j, rng=rng)
                 for j, n in enumerate(block)}
            ls = self.block_losses(base, col, block, u, steps)
            self._forward += len(steps) * zo.queries * base.size
            coef = ((ls[0] - ls[1]) / (2 * zo.mu) if zo.sided == "antithetic"
                    else (ls[0] - base_loss) / zo.mu)
            shrink = 1.0
            if zo.scale == "dim":
                d = sum(self.p[n].size for n in block)
                shrink = zo.queries / (zo.queries + d - 1)
            for n in block:
                grads[n] = shrink * np.tensordot(coef, u[n], axes=1) / zo.queries
        return base_loss, grads

    def _delta(self, name: str, u: FloatArray) -> tuple[FloatArray | None, FloatArray | None]:
        """``(dW (Q, M, N) or None, db (Q, M) or None)`` of one array moved along ``u``."""
        if name.endswith(".bias"):
            return None, u
        if name.endswith(".w"):
            return u, None
        i, k = int(name.split(".")[0]), int(name.split("core")[1])
        n_cores = len(self.cfg.layers[i].in_modes)
        cores = [u if j == k else self.p[f"{i}.core{j}"].astype(u.dtype) for j in range(n_cores)]
        return tt_dense(cores), None

    def _moved_mats(self, i: int, block: list[str], u: dict[str, FloatArray],
                    steps: FloatArray, dt: np.dtype) -> tuple[FloatArray, FloatArray | None]:
        """Layer ``i``'s matrices for every ``(step, query)`` combination: ``(C, M, N)``."""
        def moved(n: str) -> FloatArray:
            p = self.p[n].astype(dt)
            if n in block:
                s = steps.reshape(-1, *([1] * (p.ndim + 1)))
                return (p + s * u[n][None]).reshape(-1, *p.shape)
            return p

        layer = self.cfg.layers[i]
        if layer.kind == "tt":
            w = tt_dense([moved(f"{i}.core{k}") for k in range(len(layer.in_modes))])
        else:
            w = moved(f"{i}.w")
        c = len(steps) * next(iter(u.values())).shape[0]
        w = np.broadcast_to(w, (c, *w.shape[-2:]))
        b = moved(f"{i}.bias") if layer.bias else None
        if b is not None:
            b = np.broadcast_to(b, (c, b.shape[-1]))
        return w.astype(dt), None if b is None else b.astype(dt)

    def block_losses(self, base: BaseEval, col: Collocation, block: list[str],
                     u: dict[str, FloatArray], steps: list[float]) -> FloatArray:
        """Losses ``(len(steps), Q)`` at ``theta + s u_q`` (block arrays moved together)."""
        cfg, dt = self.cfg, base.dtype
        layers = sorted({int(n.split(".")[0]) for n in block})
        i0 = layers[0]
        q = next(iter(u.values())).shape[0]
        ns = len(steps)
        width = max(layer.out_features for layer in cfg.layers[i0:])
        chunk = max(1, CHUNK_ELEMENTS // (base.size * width * ns))
        st = np.asarray(steps, dt)
        out = np.empty((ns, q))
        for q0 in range(0, q, chunk):
            uq = {n: v[q0:q0 + chunk].astype(dt) for n, v in u.items()}
            nq = next(iter(uq.values())).shape[0]
            if len(block) == 1:  # linear shortcut: z + s dz
                dw, db = self._delta(block[0], uq[block[0]])
                dz = base.linear(i0, dw, None) if dw is not None else db[:, None, :]
                z = base.z[i0][None, None] + st[:, None, None, None] * dz[None]
                nn = run_from(cfg, base.mats, i0, z.reshape(ns * nq, *z.shape[2:]))
            else:
                per = {i: self._moved_mats(i, block, uq, st, dt) for i in layers}
                z = base.linear(i0, *per[i0])
                nn = run_from(cfg, base.mats, i0, z, {i: per[i] for i in layers[1:]})
            out[:, q0:q0 + nq] = col.losses(nn.astype(np.float64)).reshape(ns, nq)
        return out

    def first_order(self, col: Collocation) -> tuple[float, dict[str, FloatArray]]:
        """Loss and its exact gradient (the ``bp`` reference, float64)."""
        cfg = self.cfg
        base = BaseEval(cfg, self.p, col.xi, self.stencil.offsets, np.float64, extra=col.xb)
        loss, g_nn = col.loss_grad(base.out)
        grads: dict[str, FloatArray] = {}
        gh = g_nn[:, None]
        for i in range(len(cfg.layers) - 1, -1, -1):
            layer = cfg.layers[i]
            gz = gh * activation_grad(layer.activation, base.z[i])
            hin = col.points if i == 0 else base.h[i]
            gw = gz.T @ hin
            if layer.bias:
                grads[f"{i}.bias"] = gz.sum(axis=0)
            if layer.kind == "tt":
                cores = [self.p[f"{i}.core{k}"] for k in range(len(layer.in_modes))]
                for k, gc in enumerate(tt_dense_adjoint(cores, gw)):
                    grads[f"{i}.core{k}"] = gc
            else:
                grads[f"{i}.w"] = gw
            if i:
                gh = gz @ base.mats[i][0]
        return loss, grads


def make_pinn_method(cfg: Config, *, seed: int, workers: int = 1) -> Method:
    """The PINN method of ``cfg`` (float :class:`PINNMethod` or the fixed-point one, whose
    perturbed forwards run on ``workers`` processes)."""
    if cfg.train.numerics == "fixed":
        from .pinn_fixed import PINNFixedMethod

        return PINNFixedMethod(cfg, seed=seed, workers=workers)
    return PINNMethod(cfg, seed=seed)
