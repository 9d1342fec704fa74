"""Physics-informed training without backprop: derivatives and parameter gradients from values.

Loss of a step on ``P`` collocation points ``x_p`` (``train.batch_size``), plus ``nb`` boundary
points ``x_b`` with Dirichlet data when ``pinn.boundary_points`` is set:

    L(theta) = (1/P) sum_p r(x_p)^2 + boundary_weight * (1/nb) sum_b (u(x_b) - u_exact(x_b))^2
    r = problem.residual(x, value, grad, laplacian)

where ``u = problem.ansatz(x, NN_theta(x))`` (hard terminal/initial condition) and the estimates
come from the stencil of ``pinn.derivatives`` (:mod:`.stencil`: ``fd`` central differences
with step ``sigma``, 43 evaluations per point for ``dim = 21``; ``sparse_grid`` the Stein
estimator of the smoothed ``u_sigma`` with the Smolyak rule, 925 per point at level 3). The
estimates are linear in ``u`` at the ``E`` offsets, so the loss is a function of the ``P * E``
network values only (plus one value per boundary point, ``pinn.boundary_points``).

Methods (``train.method``):

- ``zo``: the zeroth-order estimator of :mod:`~fotrain.sw.zo.method` on ``L``: ``zo.blocks`` /
``queries`` /
  ``mu`` / ``distribution`` / ``sided`` / ``scale`` / ``hardware_prng`` with the same direction
  seeds as :class:`~..zo.method.ZOMethod` (``estimator = "rge"`` only), then the ``[train]``
  optimiser. Every perturbed loss needs the network at all ``S`` inputs; they are computed
  with the exact rewrites of :mod:`.net` (dense equivalents, input linearity of layer 0,
  per-array linear shortcut), all queries of a block batched. Network evaluations per iteration:
  ``S * (1 + n_blocks * 2Q)`` (antithetic) or ``S * (1 + n_blocks * Q)`` (one-sided) with
  ``S = train.batch_size * E + pinn.boundary_points`` inputs per loss (a boundary point needs
  ``u`` only, one evaluation).
  Working precision of the forwards: ``zo.precision``; estimates, residuals and losses in float64.
- ``bp``: the first-order reference *on the same estimator*: the exact gradient of the same
  ``L`` (same stencil, same points) by the chain rule, ``dL/d(estimates) -> dL/du`` (the
  stencil's transpose) ``-> dL/dNN`` (ansatz factor) then backprop through the dense-equivalent
  network and :func:`.net.tt_dense_adjoint` into the cores; float64. ``S``
  evaluations (plus one backward) per iteration.

``numerics = "fixed"`` is :class:`.fixed.PINNFixedMethod` (the registry,
:func:`fotrain.sw.train.registry.make_method`, picks one of the two).

``predict(x)`` returns the solution ``u`` as ``(B, 1)``: the hard-constrained network itself
(``pinn.predict = "raw"``) or its smoothed value with the training rule (``"smoothed"``).
``forward_passes`` counts network evaluations at single inputs (``S`` per loss), the unit
the hardware has to deliver.
"""

from typing import Any, cast

import numpy as np
import numpy.typing as npt

from ..config import Config, PINNConfig
from ..model import activation_grad, param_names
from ..train.method import step_rng
from ..train.network import NetworkMethod
from ..zo.method import block_plan, directions
from .collocation import Collocation, check_method, collocation, evals_per_iteration, pinn_stencil
from .net import CHUNK_ELEMENTS, BaseEval, run_from, tt_dense, tt_dense_adjoint
from .net import FloatArray as NetArray
from .task import pinn_settings, problem_for

__all__ = ["PINNMethod"]

FloatArray = npt.NDArray[np.float64]


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
        return cast(FloatArray, ev.out)  # evaluated in float64

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = np.asarray(x, np.float64)
        if self.pinn.predict == "smoothed":
            col = Collocation(self.problem, self.stencil, x)
            nn = cast(
                FloatArray, BaseEval(self.cfg, self.p, x, self.stencil.offsets, np.float64).out
            )  # evaluated in float64
            return col.estimates(nn[None])[0][0][:, None]
        return self.problem.ansatz(x, self.network(x))[:, None]

    def summary(self) -> dict[str, Any]:
        per_it = evals_per_iteration(self.cfg, self.pinn, self.stencil, len(self.blocks))
        return {
            "pinn_problem": self.problem.name,
            "derivatives": self.stencil.kind,
            "sigma": self.pinn.sigma or self.problem.default_sigma,
            "evals_per_point": self.stencil.evals_per_point,
            "collocation_points": self.cfg.train.batch_size,
            "boundary_points": self.pinn.boundary_points,
            "zo_blocks": len(self.blocks) if self.cfg.train.method == "zo" else 0,
            "network_evals_per_iteration": per_it,
            "network_evals_total": self._forward,
        }

    # -- training --------------------------------------------------------------------------------
    def train_step(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        *,
        step: int,
        epoch: int,
        lr: float,
    ) -> dict[str, float]:
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
            u = {
                n: directions(
                    cfg,
                    self.p[n].shape,
                    zo.queries,
                    seed=self.seed,
                    stream=stream * len(block) + j,
                    rng=rng,
                )
                for j, n in enumerate(block)
            }
            ls = self.block_losses(base, col, block, u, steps)
            self._forward += len(steps) * zo.queries * base.size
            coef = (
                (ls[0] - ls[1]) / (2 * zo.mu)
                if zo.sided == "antithetic"
                else (ls[0] - base_loss) / zo.mu
            )
            shrink = 1.0
            if zo.scale == "dim":
                d = sum(self.p[n].size for n in block)
                shrink = zo.queries / (zo.queries + d - 1)
            for n in block:
                grads[n] = shrink * np.tensordot(coef, u[n], axes=1) / zo.queries
        return base_loss, grads

    def _delta(self, name: str, u: NetArray) -> tuple[NetArray | None, NetArray | None]:
        """``(dW (Q, M, N) or None, db (Q, M) or None)`` of one array moved along ``u``."""
        if name.endswith(".bias"):
            return None, u
        if name.endswith(".w"):
            return u, None
        i, k = int(name.split(".")[0]), int(name.split("core")[1])
        n_cores = len(self.cfg.layers[i].in_modes)
        cores = [u if j == k else self.p[f"{i}.core{j}"].astype(u.dtype) for j in range(n_cores)]
        return tt_dense(cores), None

    def _moved_mats(
        self, i: int, block: list[str], u: dict[str, FloatArray], steps: FloatArray, dt: np.dtype
    ) -> tuple[FloatArray, FloatArray | None]:
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

    def block_losses(
        self,
        base: BaseEval,
        col: Collocation,
        block: list[str],
        u: dict[str, FloatArray],
        steps: list[float],
    ) -> FloatArray:
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
            uq = {n: v[q0 : q0 + chunk].astype(dt) for n, v in u.items()}
            nq = next(iter(uq.values())).shape[0]
            if len(block) == 1:  # linear shortcut: z + s dz
                dw, db = self._delta(block[0], uq[block[0]])
                if dw is not None:
                    dz = base.linear(i0, dw, None)
                else:
                    assert db is not None  # _delta moves exactly one of W and b
                    dz = db[:, None, :]
                z: NetArray = base.z[i0][None, None] + st[:, None, None, None] * dz[None]
                nn = run_from(cfg, base.mats, i0, z.reshape(ns * nq, *z.shape[2:]))
            else:
                per = {i: self._moved_mats(i, block, uq, st, dt) for i in layers}
                z = base.linear(i0, *per[i0])
                nn = run_from(cfg, base.mats, i0, z, {i: per[i] for i in layers[1:]})
            out[:, q0 : q0 + nq] = col.losses(nn.astype(np.float64)).reshape(ns, nq)
        return out

    def first_order(self, col: Collocation) -> tuple[float, dict[str, FloatArray]]:
        """Loss and its exact gradient (the ``bp`` reference, float64)."""
        cfg = self.cfg
        base = BaseEval(cfg, self.p, col.xi, self.stencil.offsets, np.float64, extra=col.xb)
        # everything below is float64 (base ran in float64); the arrays of BaseEval are typed
        # for any float dtype
        loss, g_nn = col.loss_grad(cast(FloatArray, base.out))
        grads: dict[str, NetArray] = {}
        gh: NetArray = g_nn[:, None]
        for i in range(len(cfg.layers) - 1, -1, -1):
            layer = cfg.layers[i]
            gz = gh * activation_grad(layer.activation, base.z[i])
            hin = col.points if i == 0 else base.h[i]
            assert hin is not None  # base.h[i] holds layer i's input for every i > 0
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
        return loss, cast(dict[str, FloatArray], grads)
