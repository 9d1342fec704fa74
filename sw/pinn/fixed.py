"""PINN training with 16-bit fixed-point network evaluations (``train.numerics = "fixed"``).

Spec (what an on-chip PINN trainer computes; the tests check the batched implementation
against it):

1. **Parameters** are ``formats.weight`` codes (cores, dense weights) and ``formats.act`` codes
   (biases), initialised as :func:`~fotrain.sw.model.quantize_params` of the float init.
2. **Points.** Collocation points are rounded to the ``formats.act`` grid first; the stencil
   inputs ``x + o_e`` are rounded to ``act`` as well (exact when ``o_e`` is a multiple of the
   LSB; the estimator uses the nominal offsets).
3. **Network evaluations** are :func:`~fotrain.sw.model.network_forward_fixed` of the (perturbed)
   codes, bit for bit. Perturbations are ``theta +- s u_q`` with ``s = zo.fixed_mu_lsb`` LSBs
   and Rademacher ``u_q`` from the LFSR (``query_seed(seed, step * n_blocks + b, q)``, one TT
   core / weight / bias vector per block): the batched engine of
   :class:`~fotrain.sw.zo.fixed.ZOFixedMethod` (exact accumulator shortcut at the perturbed
   core, integer everywhere).
4. **Differences and loss.** The output codes are exact multiples of the act LSB; the ansatz,
   the differences ``u(x + o_e) - u(x)``, the stencil sums, the residual and ``L = mean r^2`` are
   formed in float64 (standing in for the wide accumulator of the Stein unit and the host).
5. **Update.** ``g = sum_q (L+_q - L-_q) / (2 s lsb) u_q / Q`` per block, the ``[train]``
   optimiser (Adam state in float64) on the dequantized codes, and the new values rounded back
   into codes (``pinn.fixed_update``: ``nearest`` or ``stochastic`` rounding with uniform
   dither from ``step_rng(seed, step, 1)``), then the format's saturation (counted).

Cost: ``S * (1 + 2Q * n_blocks)`` integer network evaluations per iteration, ``S = ni * E + nb``
(``ni = train.batch_size`` interior points, one evaluation per boundary point; 12 blocks
for the HJB TT network with ``zo.blocks = "core"``).
``zo.blocks = "all"`` perturbs every array at once (one block; the directions of query ``q``
are one LFSR stream ``query_seed(seed, step, q)`` split over the arrays in parameter order, each
array moved by ``s`` of its own LSBs, so the estimate divides by each array's ``s * lsb``):
``2Q`` plain integer forwards per step, no per-core shortcut, the float preset's estimator.
Those forwards can run on ``workers`` processes (:class:`~fotrain.sw.zo.pool.ForwardPool`,
``fotrain train --workers``); the step is bit-identical for any count. BLAS runs on one thread
inside the step (the per-core GEMMs are too small to gain from threads).
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import Config, PINNConfig
from ..errors import ConfigError
from ..model import param_names
from ..perturb import query_seed, rademacher
from ..train.method import step_rng
from ..train.network import Counted, method_state
from ..train.optim import Optimizer
from ..train.runtime import single_thread_blas
from ..zo.fixed import ZOFixedMethod
from ..zo.method import block_plan
from ..zo.pool import ForwardPool
from .collocation import Collocation, check_method, collocation, evals_per_iteration, pinn_stencil
from .task import pinn_settings, problem_for

__all__ = ["PINNFixedMethod"]

FloatArray = npt.NDArray[np.float64]


class PINNFixedMethod(Counted):
    """Fixed-point ZO PINN training (module docstring)."""

    def __init__(self, cfg: Config, *, seed: int, pinn: PINNConfig | None = None, workers: int = 1):
        check_method(cfg)
        zo = cfg.zo
        if cfg.train.method != "zo" or zo.blocks not in ("core", "all") or zo.sided != "antithetic":
            raise ConfigError(
                "zo.blocks: fixed-point PINN training implements method 'zo' with "
                f"blocks 'core' or 'all', antithetic; got {cfg.train.method}/"
                f"{zo.blocks}/{zo.sided}"
            )
        self.cfg, self.seed = cfg, seed
        self.pinn = pinn or pinn_settings(cfg)
        self.problem = problem_for(cfg)
        self.stencil = pinn_stencil(cfg, self.pinn, self.problem)
        engine_train = cfg.train.__class__(**{**cfg.train.to_dict(), "loss": "mse"})
        engine_zo = zo.__class__(**{**zo.to_dict(), "blocks": "core"})  # per-core shortcut
        self.engine = ZOFixedMethod(cfg.replace(train=engine_train, zo=engine_zo), seed=seed)
        self.q = self.engine.q  # the codes (shared with the engine)
        self.stats = self.engine.stats
        self.blocks = (
            block_plan(cfg, param_names(cfg)) if zo.blocks == "all" else self.engine.blocks
        )
        self.opt = Optimizer(cfg.train, self._floats())
        self._forward = 0
        self.pool = ForwardPool(self.engine, workers)

    # -- helpers ---------------------------------------------------------------------------------
    def _fmt(self, name: str):
        f = self.cfg.formats
        return f.act if name.endswith(".bias") else f.weight

    def _floats(self) -> dict[str, FloatArray]:
        return {k: self._fmt(k).to_float(v) for k, v in self.q.items()}

    def _codes(self, points: FloatArray) -> npt.NDArray[np.int64]:
        return self.cfg.formats.act.quantize(points, stats=self.stats, site="pinn.input")

    def collocation(self, x: FloatArray) -> Collocation:
        """Step points rounded to the act grid (spec item 2)."""
        act = self.cfg.formats.act
        return collocation(self.problem, self.stencil, self.pinn, act.to_float(act.quantize(x)))

    def network_codes(
        self,
        points: FloatArray,
        q: dict[str, npt.NDArray[np.int64]] | None = None,
        caches: dict | None = None,
    ) -> npt.NDArray[np.int64]:
        """Output codes ``(n,)`` of the fixed network at ``points`` (spec item 3)."""
        out, _ = self.engine._forward_codes(
            q or self.q, self._codes(points), caches, stats=self.stats
        )
        return out[:, 0]

    # -- Method protocol -------------------------------------------------------------------------
    def trainable(self) -> dict[str, np.ndarray]:
        return self.q

    def state(self) -> dict[str, np.ndarray]:
        return method_state(self.q, "q.", self._forward, opt=self.opt, stats=self.stats)

    def close(self) -> None:
        """Stop the worker processes of the perturbed forwards (if any were started)."""
        self.pool.close()

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        self.engine.load_state({**arrays, "forward_passes": arrays["forward_passes"]})
        self.opt.load_state(arrays)
        self._forward = int(arrays["forward_passes"])

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        x = np.asarray(x, np.float64)
        with single_thread_blas():  # evaluation: kept out of the training overflow counts
            out, _ = self.engine._forward_codes(self.q, self.cfg.formats.act.quantize(x))
            nn = self.cfg.formats.act.to_float(out[:, 0])
        return self.problem.ansatz(x, nn)[:, None]

    def summary(self) -> dict[str, Any]:
        return {
            "pinn_problem": self.problem.name,
            "derivatives": self.stencil.kind,
            "sigma": self.pinn.sigma or self.problem.default_sigma,
            "evals_per_point": self.stencil.evals_per_point,
            "collocation_points": self.cfg.train.batch_size,
            "boundary_points": self.pinn.boundary_points,
            "zo_blocks": len(self.blocks),
            "network_evals_per_iteration": evals_per_iteration(
                self.cfg, self.pinn, self.stencil, len(self.blocks)
            ),
            "network_evals_total": self._forward,
            "host_workers": self.pool.workers if self.cfg.zo.blocks == "all" else 1,
            "overflow_events": self.stats.total,
            "overflow_by_site": self.stats.counts,
        }

    # -- the step --------------------------------------------------------------------------------
    def block_losses(
        self, col: Collocation, caches: dict, name: str, u: npt.NDArray[np.int64]
    ) -> FloatArray:
        """Losses ``(2, Q)`` at ``theta + s u_q`` and ``theta - s u_q`` for one array."""
        s, act = self.cfg.zo.fixed_mu_lsb, self.cfg.formats.act
        scores = self.engine._perturbed_scores(name, u, caches, s, self.stats)  # (2Q, S, 1)
        nq = u.shape[0]
        return col.losses(act.to_float(scores[..., 0])).reshape(2, nq)

    def all_losses(self, col: Collocation, u: dict[str, npt.NDArray[np.int64]]) -> FloatArray:
        """Losses ``(2, Q)`` at ``theta +- s u_q`` with every array of ``u`` moved at once
        (``zo.blocks = "all"``): one plain integer forward per perturbed network."""
        s, act = self.cfg.zo.fixed_mu_lsb, self.cfg.formats.act
        xq = act.quantize(col.points)  # the base forward of the step already counted the inputs
        nq = next(iter(u.values())).shape[0]
        moved = [
            {**self.q, **{n: self.q[n] + sign * d[j] for n, d in u.items()}}
            for sign in (s, -s)
            for j in range(nq)
        ]
        codes = self.pool.outputs(moved, xq.astype(np.float64), self.stats)
        # one network per call: the same float64 sums as the spec's separate evaluations
        return np.array([col.losses(act.to_float(c[:, 0])[None])[0] for c in codes]).reshape(2, nq)

    def _all_directions(self, step: int) -> dict[str, npt.NDArray[np.int64]]:
        """LFSR Rademacher directions ``(Q, ...)`` per array of the single block of ``step``
        (one stream per query, split over the arrays in parameter order)."""
        zo, names = self.cfg.zo, self.blocks[0]
        seeds = [
            query_seed(self.seed, step, j, self.cfg.hardware.prng_width) for j in range(zo.queries)
        ]
        sizes = [int(self.q[n].size) for n in names]
        flat = rademacher(seeds, sum(sizes), self.cfg.hardware.prng_width).astype(np.int64)
        parts = np.split(flat, np.cumsum(sizes)[:-1], axis=1)
        return {
            n: p.reshape((zo.queries, *self.q[n].shape)) for n, p in zip(names, parts, strict=True)
        }

    def _core_directions(self, step: int, b: int, name: str) -> npt.NDArray[np.int64]:
        """LFSR Rademacher directions ``(Q, ...)`` of per-core block ``b`` at ``step``."""
        zo, width = self.cfg.zo, self.cfg.hardware.prng_width
        seeds = [
            query_seed(self.seed, step * len(self.blocks) + b, j, width) for j in range(zo.queries)
        ]
        u = rademacher(seeds, int(self.q[name].size), width).astype(np.int64)
        return u.reshape((zo.queries, *self.q[name].shape))

    def zo_gradient(
        self, col: Collocation, caches: dict, step: int
    ) -> tuple[dict[str, FloatArray], int]:
        """RGE estimate of every array at ``step`` and the count of zero loss differences:
        ``g = sum_q (L+_q - L-_q) / (2 s lsb) u_q / Q`` with each array's own ``lsb``."""
        zo = self.cfg.zo
        if zo.blocks == "all":
            u_all = self._all_directions(step)
            trials = [(u_all, self.all_losses(col, u_all))]
        else:
            trials = []
            for b, (name, *_) in enumerate(self.blocks):
                u = self._core_directions(step, b, name)
                trials.append(({name: u}, self.block_losses(col, caches, name, u)))
        grads: dict[str, FloatArray] = {}
        zero_diff = 0
        for u_by_name, ls in trials:
            self._forward += 2 * zo.queries * col.points.shape[0]
            dl = ls[0] - ls[1]
            zero_diff += int(np.count_nonzero(dl == 0))
            for name, u in u_by_name.items():
                mu = zo.fixed_mu_lsb * self._fmt(name).lsb
                grads[name] = np.tensordot(dl / (2 * mu), u.astype(np.float64), axes=1) / zo.queries
        return grads, zero_diff

    def train_step(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        *,
        step: int,
        epoch: int,
        lr: float,
    ) -> dict[str, float]:
        with single_thread_blas():
            return self._train_step(x, step=step, lr=lr)

    def _train_step(self, x: npt.NDArray[np.float64], *, step: int, lr: float) -> dict[str, float]:
        zo, act = self.cfg.zo, self.cfg.formats.act
        col = self.collocation(x)
        caches: dict[int, Any] = {}
        nn = act.to_float(self.network_codes(col.points, caches=caches))
        base = float(col.losses(nn[None])[0])
        self._forward += col.points.shape[0]
        grads, zero_diff = self.zo_gradient(col, caches, step)
        p = self._floats()
        self.opt.step(p, grads, lr)
        dither = step_rng(self.seed, step, 1)
        for name, v in p.items():
            fmt = self._fmt(name)
            if self.pinn.fixed_update == "stochastic":
                codes = np.floor(v / fmt.lsb + dither.random(v.shape)).astype(np.int64)
            else:
                codes = np.rint(v / fmt.lsb).astype(np.int64)
            self.q[name][...] = fmt.fit(codes, stats=self.stats, site=f"update.{name}")
        return {
            "loss": base,
            "zero_loss_diff_frac": zero_diff / (zo.queries * len(self.blocks)),
            "overflow_events": float(self.stats.total),
        }
