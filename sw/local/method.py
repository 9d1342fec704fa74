"""Local, forward-only learning rules (tpSGD, DRTP, DFA, sDFA, shallow) and BP as the reference.

:class:`LocalMethod` implements :class:`fotrain.sw.train.method.Method` for ``train.method`` in
``tpsgd, drtp, dfa, sdfa, shallow`` (always) and ``bp`` (when ``[local]`` sets ``arch``). The
network (``fotrain.sw.local.net``) is a list of hidden stages with local targets and an output
layer that learns from the task loss ``train.loss``.

Hidden stage ``k`` with output ``y_k`` at its target point, label ``c``, codes ``S_k`` (one
column per class, entries +-1 or U(-1, 1)) and ``a = local.target_amp``; the stage's error signal
``e_k = dL_k/dy_k`` (batch mean folded in) is

==========  ================================================================================
tpsgd       ``e_k = ell'(y_k, t_k)``, ``t_k = a S_k[:, c]`` (local loss ``local.local_loss``)
drtp        ``e_k = -t_k`` (the tpSGD-MSE signal without its restoring term ``y_k``)
dfa         ``e_k = a (dL/dz) S_k^T`` (the output error projected by the same codes)
sdfa        ``e_k = a sign(dL/dz) S_k^T``
shallow     hidden stages frozen at their initial values
bp          ``dL/dy_k`` by backprop (through time for recurrent stages)
==========  ================================================================================

and the stage's own parameters step along ``e_k * f'(z_k)`` times its (detached) input. tpSGD
with MSE and DRTP are one family: ``e = lam y - t'`` with ``t' = S[:, c]`` is the gradient of
``(lam/2) |y|^2 - <y, t'>``; tpSGD-MSE is ``lam = 1/a`` scaled by ``a``, DRTP is ``lam = 0``
(scaled by ``a``).

Schedules: ``simultaneous``: every stage updates during the same forward sweep, right after its
own forward step (the next stage sees the pre-update output); DFA/sDFA wait for the output error.
``greedy``: during epochs ``[k g, (k + 1) g)`` (``g = local.greedy_epochs``) only hidden stage
``k`` and the output layer learn; afterwards only the output layer.

Projections (:func:`projection_codes`): ``lfsr`` (+-1) and ``lfsr_uniform`` (256-level uniform)
codes are regenerated from the hardware LFSR model (:mod:`fotrain.sw.perturb`, seed
:func:`~fotrain.sw.perturb.query_seed` of ``(seed, stage, class)``), so hardware stores none;
this model caches them (``projection_cache`` in the memory report). ``uniform`` codes come from a
seeded numpy generator and count as stored.

Diagnostics: every ``local.cosine_every`` steps the BP gradient of the task loss is computed at
the same parameters (not counted as a training forward pass) and the cosine between each hidden
stage's local gradient and its BP gradient is accumulated (``cosine_bp`` in the summary).

Memory accounting (``memory_bytes`` in the summary): peak bytes of the arrays the step holds
(``activations``: stage inputs, outputs and caches kept for an update; ``gradients``: gradient
arrays alive at once), optimiser slots, stored projections and parameters, measured from the
arrays themselves. Fixed point (``train.numerics = "fixed"``): :mod:`.fixed`.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import LOCAL_RULES
from ..errors import ConfigError, FotrainError
from ..train.method import step_rng
from .fixed import FixedMLP
from .layers import local_error, local_loss_value
from .net import LocalNet, task_loss
from .optim import Optimizer
from .targets import projection_codes

__all__ = ["LocalMethod", "MemTracker", "network_in_features"]


class MemTracker:
    """Peak bytes per category of arrays held at once (held arrays counted once by ``id``)."""

    def __init__(self) -> None:
        self.cur: dict[str, dict[int, int]] = {}
        self.peak: dict[str, int] = {}

    def hold(self, cat: str, arrays: list[Any]) -> None:
        """Count ``arrays`` as held in ``cat`` until :meth:`free`."""
        d = self.cur.setdefault(cat, {})
        for a in arrays:
            if isinstance(a, np.ndarray):
                d[id(a)] = a.nbytes
        self.peak[cat] = max(self.peak.get(cat, 0), sum(d.values()))

    def free(self, cat: str) -> None:
        """Release everything held in ``cat``."""
        self.cur[cat] = {}


def network_in_features(cfg: Any) -> int:
    """Input size the network of ``cfg`` reads: ``image_size^2 * in_channels`` (``cnn``),
    ``rnn_steps * rnn_input`` (``rnn``), else ``layers[0].in_features``."""
    return LocalNet(cfg).in_features


def _cos(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> float:
    dot = sum(float(np.vdot(a[k].astype(np.float64), b[k].astype(np.float64))) for k in a)
    na = np.sqrt(sum(float(np.vdot(a[k], a[k])) for k in a))
    nb = np.sqrt(sum(float(np.vdot(b[k], b[k])) for k in a))
    return dot / (na * nb) if na > 0 and nb > 0 else 0.0


class LocalMethod:
    """Local-learning method over the network of ``cfg`` (see the module docstring)."""

    def __init__(self, cfg: Any, seed: int | None = None):
        t, lc = cfg.train, cfg.local
        self.cfg = cfg
        self.rule = t.method
        if self.rule not in LOCAL_RULES:
            raise ConfigError(
                f"train.method: {self.rule!r} is not a local rule ({', '.join(LOCAL_RULES)})"
            )
        if lc.schedule == "greedy" and self.rule == "bp":
            raise ConfigError("local.schedule: 'greedy' needs a local rule, not bp")
        self.seed = int(t.seed if seed is None else seed)
        self.dtype = np.dtype(lc.dtype)
        self.net = LocalNet(cfg)
        self.classes = cfg.layers[-1].out_features
        self.fixed = None
        # int64 codes (fixed point) or float parameters in ``local.dtype``
        self.p: dict[str, np.ndarray]
        if t.numerics == "fixed":
            self.fixed = FixedMLP(cfg, self.net, self.seed)
            self.p = self.fixed.params
        else:
            self.p = self.net.init(self.seed, self.dtype)
            self.opt = Optimizer(t, self.p)
        self._codes: dict[int, np.ndarray] = {}
        nh = len(self.net.stages)
        self.cos_sum = np.zeros(nh, np.float64)
        self.cos_n = np.zeros(nh, np.int64)
        self._fp = np.zeros((), np.int64)
        self.mem = MemTracker()

    # -- codes -------------------------------------------------------------------------------------
    def codes(self, k: int) -> np.ndarray:
        """Codes ``S_k`` ``(units, classes)`` of hidden stage ``k`` (cached)."""
        if k not in self._codes:
            units = int(np.prod(self.net.stages[k].code_shape))
            self._codes[k] = projection_codes(
                self.cfg.local.projection, self.seed, k, units, self.classes, self.dtype
            )
        return self._codes[k]

    def targets(self, k: int, y: npt.NDArray[np.int64]) -> np.ndarray:
        """``t_k = a S_k[:, y]`` shaped ``(B,) + code_shape`` (``(B, T, H)`` for ramped RNN
        targets)."""
        st = self.net.stages[k]
        t = self.codes(k)[:, y].T * self.dtype.type(self.cfg.local.target_amp)
        t = t.reshape((len(y),) + st.code_shape)
        if getattr(st, "steps", None) == "ramp":  # recurrent: (B, T, H), scaled by (t + 1) / T
            steps = self.cfg.local.rnn_steps
            ramp = (np.arange(1, steps + 1, dtype=self.dtype) / steps)[None, :, None]
            t = t * ramp
        return t

    def signal(
        self,
        k: int,
        yk: np.ndarray,
        y: npt.NDArray[np.int64],
        dz: np.ndarray | None,
        with_loss: bool = True,
    ) -> tuple[np.ndarray, float]:
        """``(e_k, local loss)`` of hidden stage ``k`` at its target point ``yk`` (the loss is
        ``nan`` for DRTP/DFA/sDFA and when ``with_loss`` is false)."""
        lc = self.cfg.local
        b = len(y)
        if self.rule in ("dfa", "sdfa"):
            assert dz is not None
            src = dz * b if self.rule == "dfa" else np.sign(dz)
            e = (src @ self.codes(k).T) * self.dtype.type(lc.target_amp / b)
            e = e.reshape((b,) + self.net.stages[k].code_shape)
            return np.broadcast_to(e, yk.shape).astype(yk.dtype), float("nan")
        t = self.targets(k, y)
        if self.rule == "drtp":
            return np.broadcast_to(-t / b, yk.shape).astype(yk.dtype), float("nan")
        e = local_error(lc.local_loss, yk, t, lc.smooth_l1_beta) / self.dtype.type(b)
        if not with_loss:
            return e.astype(yk.dtype), float("nan")
        return e.astype(yk.dtype), local_loss_value(lc.local_loss, yk, t, lc.smooth_l1_beta) / b

    def _active(self, epoch: int) -> list[int]:
        nh = len(self.net.stages)
        if self.rule == "shallow":
            return []
        if self.cfg.local.schedule == "greedy":
            k = epoch // self.cfg.local.greedy_epochs
            return [k] if k < nh else []
        return list(range(nh))

    # -- Method protocol ---------------------------------------------------------------------------
    def train_step(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        *,
        step: int,
        epoch: int,
        lr: float,
    ) -> dict[str, float]:
        """One update on a mini-batch (see the module docstring)."""
        self._fp += 1
        if self.fixed is not None:
            return self.fixed.train_step(
                x,
                y,
                rule=self.rule,
                active=self._active(epoch),
                step=step,
                lr=lr,
                rng=step_rng(self.seed, step),
            )
        return self._step(x.astype(self.dtype), np.asarray(y), step, epoch, lr, update=True)

    def _step(
        self,
        x: np.ndarray,
        y: npt.NDArray[np.int64],
        step: int,
        epoch: int,
        lr: float,
        *,
        update: bool,
    ) -> dict[str, float]:
        lc, loss_kind = self.cfg.local, self.cfg.train.loss
        mem = MemTracker()
        if self.rule == "bp":
            loss, z, grads = self.net.bp(self.p, x, y, loss_kind, mem)
            if update:
                for n, gn in grads.items():
                    self.opt.step(n, self.p[n], gn, lr)
            self._merge_mem(mem)
            return {"loss": loss, "acc": float(np.mean(np.argmax(z, 1) == y))}
        active = self._active(epoch)
        bpg = None
        if update and lc.cosine_every and step % lc.cosine_every == 0 and active:
            bpg = self.net.bp(self.p, x, y, loss_kind)[2]
        deferred = self.rule in ("dfa", "sdfa")
        pending: list[tuple[int, Any]] = []
        out: dict[str, float] = {}
        h = x
        for k, st in enumerate(self.net.stages):
            h = self.net.enter(k, h)
            h, cache = st.forward(self.p, h)
            if k in active:
                mem.hold("activations", st.cache_arrays(cache))
                if deferred:
                    pending.append((k, cache))
                    continue
                logged = (step + 1) % self.cfg.train.log_every == 0
                e, lloss = self.signal(k, st.target(cache), y, None, logged)
                if logged:
                    out[f"local_loss{k}"] = lloss
                self._update(k, st, cache, e, bpg, lr, mem, update)
                mem.free("activations")
            else:
                mem.hold("activations", [h])
                mem.free("activations")
        h = self.net.enter(len(self.net.stages), h)
        z, cache = self.net.out.forward(self.p, h)
        mem.hold("activations", self.net.out.cache_arrays(cache))
        loss, dz = task_loss(z, y, loss_kind)
        for k, kcache in pending:
            st = self.net.stages[k]
            e, _ = self.signal(k, st.target(kcache), y, dz)
            self._update(k, st, kcache, e, bpg, lr, mem, update)
        g = self.net.out.local_grads(self.p, cache, dz)
        mem.hold("gradients", list(g.values()))
        if update:
            for n, gn in g.items():
                self.opt.step(n, self.p[n], gn, lr)
        self._merge_mem(mem)
        out.update({"loss": loss, "acc": float(np.mean(np.argmax(z, 1) == y))})
        for k in range(len(self.net.stages)):
            if self.cos_n[k]:
                out[f"cos{k}"] = float(self.cos_sum[k] / self.cos_n[k])
        return out

    def _update(
        self,
        k: int,
        st: Any,
        cache: Any,
        e: np.ndarray,
        bpg: Any,
        lr: float,
        mem: MemTracker,
        update: bool,
    ) -> None:
        g = st.local_grads(self.p, cache, e)
        mem.hold("gradients", list(g.values()))
        if bpg is not None:
            self.cos_sum[k] += _cos(g, {n: bpg[n] for n in g})
            self.cos_n[k] += 1
        if update:
            for n, gn in g.items():
                self.opt.step(n, self.p[n], gn, lr)
        mem.free("gradients")

    def _merge_mem(self, mem: MemTracker) -> None:
        for cat, v in mem.peak.items():
            self.mem.peak[cat] = max(self.mem.peak.get(cat, 0), v)

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Scores ``(B, classes)``."""
        if self.fixed is not None:
            return self.fixed.predict(x)
        return self.net.forward(self.p, x.astype(self.dtype)).astype(np.float64)

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """Parameters, optimiser slots, cosine accumulators, the pass counter and (fixed point)
        the overflow counts."""
        s: dict[str, npt.NDArray[Any]] = {f"p/{n}": a for n, a in self.p.items()}
        slots = self.fixed.slots if self.fixed is not None else self.opt.slots
        s.update({f"opt/{n}": a for n, a in slots.items()})
        s.update({"cos_sum": self.cos_sum, "cos_n": self.cos_n, "forward_passes": self._fp})
        if self.fixed is not None:
            s.update(self.fixed.stats.arrays())
        return s

    def load_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Restore :meth:`state` in place; refuse a missing or mismatching array."""
        mine = {k: v for k, v in self.state().items() if not k.startswith("overflow/")}
        for name, ref in mine.items():
            if name not in arrays:
                raise FotrainError(f"load_state: array {name!r} is missing")
            got = np.asarray(arrays[name])
            if got.shape != ref.shape or got.dtype != ref.dtype:
                raise FotrainError(
                    f"load_state: array {name!r} is {got.dtype}{list(got.shape)},"
                    f" expected {ref.dtype}{list(ref.shape)}"
                )
        for name, ref in mine.items():
            np.copyto(ref, arrays[name])
        if self.fixed is not None:
            self.fixed.stats.restore(arrays)

    @property
    def forward_passes(self) -> int:
        """Training-batch forward passes (BP diagnostics for the cosine are not counted)."""
        return int(self._fp)

    @property
    def params(self) -> int:
        """Trainable entries."""
        return int(sum(a.size for a in self.p.values()))

    def memory(self) -> dict[str, int]:
        """Bytes of training state by category (measures one dry step if none ran yet)."""
        if not self.mem.peak and self.fixed is None:
            b = self.cfg.train.batch_size
            x0 = np.zeros((b, self.net.in_features), self.dtype)
            y0 = np.arange(b, dtype=np.int64) % self.classes
            self._step(x0, y0, 1, 0, self.cfg.train.lr, update=False)
        if self.fixed is not None:
            return self.fixed.memory()
        stored = sum(c.nbytes for c in self._codes.values())
        m = {
            "activations": self.mem.peak.get("activations", 0),
            "gradients": self.mem.peak.get("gradients", 0),
            "optimizer": self.opt.nbytes,
            "projection": stored if self.cfg.local.projection == "uniform" else 0,
        }
        m["training_state"] = sum(m.values())
        m["parameters"] = int(sum(a.nbytes for a in self.p.values()))
        m["projection_cache"] = stored if self.cfg.local.projection != "uniform" else 0
        return m

    def summary(self) -> dict[str, Any]:
        """Rule, network, memory accounting and the mean cosine to the BP gradient per stage."""
        lc = self.cfg.local
        cos = [float(s / n) if n else None for s, n in zip(self.cos_sum, self.cos_n, strict=True)]
        return {
            "local": {
                "rule": self.rule,
                "arch": lc.arch,
                "schedule": lc.schedule,
                "projection": lc.projection,
                "target_amp": lc.target_amp,
                "local_loss": lc.local_loss,
                "cnn_target": lc.cnn_target,
                "stages": [st.names[0].split(".")[0] for st in self.net.stages],
            },
            "memory_bytes": self.memory(),
            "cosine_bp": cos,
            "cosine_bp_samples": [int(n) for n in self.cos_n],
        }
