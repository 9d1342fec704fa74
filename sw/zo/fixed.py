"""Zeroth-order training with the whole step in integers: the spec an on-chip trainer copies.

State: TT cores / dense weights as ``formats.weight`` codes, biases as ``formats.act`` codes.
One step on a mini-batch ``x`` (pixels quantized to ``formats.act``, RND), labels ``y``:

1. **Perturb** block ``b`` (one TT core, weight matrix or bias vector; ``zo.blocks = "core"``)
   along ``Q`` Rademacher directions ``u_q`` from the LFSR model (``query_seed(seed,
   step * n_blocks + b, q)``), by ``s = zo.fixed_mu_lsb`` LSBs: ``theta +- s u_q``.
2. **Forward** each perturbed network with :func:`~fotrain.sw.tt.tt_forward_fixed` semantics.
   The accumulator of the perturbed core is exact and linear, so
   ``acc(theta +- s u_q) = acc(theta) +- s * acc(u_q)``; it is then requantized and the rest of
   the network runs on ``2Q x B`` samples, all in integer codes (bit-identical to ``2Q``
   separate :func:`~fotrain.sw.model.network_forward_fixed` calls; tested).
3. **Loss** (hardware-friendly, exact int64): ``L = sum_b sum_c (s_bc - T_bc)**2`` with
   ``T = onehot(y) * 2**act.frac`` (MSE to one-hot; float equivalent ``L * lsb_act**2 / (2B)``).
4. **Estimate** ``g_i = sum_q (L+_q - L-_q) u_qi`` (int64, exact).
5. **Update** (``sgd``) ``theta_i -= RND(g_i * M / 2**S)``, or (``signsgd``)
   ``theta_i -= RND(lr / lsb) * sign(g_i)``, then the format's overflow (SAT, counted). For sgd the
   scalar ``M / 2**S`` (12-bit mantissa ``M``) equals ``lr * lsb_act**2 / (4 B s Q lsb_w**2)``,
   the float SGD step ``theta -= lr * (L+ - L-) / (2 mu Q) u`` with ``mu = s * lsb_w``,
   expressed in codes (for biases ``lsb_w`` is the act LSB). The host computes ``M, S`` from the
   scheduled learning rate once per step (a register write for the hardware).

**Hybrid** (``train.method = "hybrid"``): from epoch ``zo.switch_epoch`` on, step 4-5 become
integer coordinate descent (ZO-SCD). Per block, ``max(1, round((1 - zo.scd_sparsity) * size))``
coordinates are drawn without replacement by the host (the step's seeded generator
:func:`~fotrain.sw.train.method.step_rng`, one draw per block in block order: a coordinate list the
host writes, the hardware stores no randomness); each is tried at ``theta_i +- k`` with
``k = max(1, RND(zo.scd_lr / lsb))`` LSBs (all trials of a block batched like the RGE queries), and
``theta_i`` moves by ``+k`` if the ``+`` trial's integer loss is below the unperturbed loss, else by
``-k`` if the ``-`` trial's is, else stays. All blocks are tried from the same ``theta``; the moves
are applied together with the format's overflow (SAT, counted). No multiplier: compare and add.

Diagnostics per step: share of parameter updates that rounded to zero (RGE) or of trials that
were rejected (SCD), share of queries whose loss difference was exactly zero, saturation events
per tensor.
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..errors import ConfigError, FormatError
from ..model import activate_fixed, init_params, param_names, quantize_params
from ..perturb import query_seed, rademacher
from ..qformat import Overflow, OverflowStats, Rounding, round_shift
from ..train.method import step_rng
from ..train.network import Counted, method_state, restore_arrays
from ..train.runtime import retain_heap
from ..tt import contract_from, core_matrix, stack_queries, tt_core_costs
from .method import block_plan

__all__ = ["ZOFixedMethod", "lr_multiplier", "mse_loss_codes"]

IntArray = npt.NDArray[np.int64]
FloatCodes = npt.NDArray[np.float64]  # integer codes carried exactly in float64
MANTISSA_BITS = 12
CHUNK_ELEMENTS = 1 << 18  #: values per chunk of the batched integer forward (~2 MiB)


def lr_multiplier(scale: float) -> tuple[int, int]:
    """``(M, S)`` with ``M / 2**S ~= scale`` and ``M`` a ``MANTISSA_BITS``-bit integer."""
    if scale <= 0:
        return 0, 0
    shift = MANTISSA_BITS - 1 - math.floor(math.log2(scale))
    return int(round(scale * 2.0**shift)), shift


def mse_loss_codes(scores: IntArray, y: npt.NDArray[np.int64], frac: int) -> IntArray:
    """``sum_b sum_c (s_bc - onehot * 2**frac)**2`` over the last two axes (exact int64)."""
    target = np.zeros(scores.shape[-2:], np.int64)
    target[np.arange(len(y)), y] = 1 << frac
    return ((scores - target) ** 2).sum(axis=(-1, -2))


class ZOFixedMethod(Counted):
    """The integer ZO trainer (``train.numerics = "fixed"``); see the module docstring."""

    def __init__(self, cfg: Config, *, seed: int):
        if (
            cfg.zo.blocks != "core"
            or cfg.zo.estimator != "rge"
            or cfg.train.method not in ("zo", "hybrid")
        ):
            raise ConfigError(
                "zo: fixed numerics implement methods 'zo' and 'hybrid' with "
                "estimator 'rge' and blocks 'core'; got "
                f"{cfg.train.method}/{cfg.zo.estimator}/{cfg.zo.blocks}"
            )
        if cfg.formats.acc.width > 53:
            raise ConfigError(
                f"formats.acc.width: {cfg.formats.acc.width} > 53; the integer ZO "
                "trainer carries codes exactly in float64 (53-bit significand)"
            )
        if cfg.zo.sided != "antithetic" or cfg.train.loss != "mse":
            raise ConfigError(
                "train.loss: fixed numerics use antithetic queries and the mse "
                f"loss; got {cfg.zo.sided}/{cfg.train.loss}"
            )
        self.cfg, self.seed = cfg, seed
        retain_heap()  # the chunked forward reuses freed memory instead of page-faulting
        float_init = init_params(cfg, rng=np.random.default_rng([seed, 0xC0DE]))
        self.stats = OverflowStats()
        self.q = quantize_params(cfg, float_init, stats=self.stats)
        self.blocks = block_plan(cfg, param_names(cfg))
        self._forward = 0

    # -- Method protocol -------------------------------------------------------------------------
    def trainable(self) -> dict[str, np.ndarray]:
        return self.q

    def state(self) -> dict[str, np.ndarray]:
        return method_state(self.q, "q.", self._forward, stats=self.stats)

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        restore_arrays(self.q, arrays, "q.")
        self._forward = int(arrays["forward_passes"])
        self.stats.restore(arrays)

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        f = self.cfg.formats
        xq = f.act.quantize(x).astype(np.float64)
        return self._forward_codes(self._float_params(), xq)[0] * f.act.lsb

    def summary(self) -> dict[str, Any]:
        return {"overflow_events": self.stats.total, "overflow_by_site": self.stats.counts}

    # -- integer forward with caches -------------------------------------------------------------
    # Codes travel as float64 arrays holding integers: every accumulator is below 2**53 (the
    # config's accumulator rule with acc.width <= 53), so GEMMs, power-of-two scaling, floor
    # and clip are exact and the results equal the int64 reference bit for bit (tested), at BLAS
    # speed and without int64 <-> float64 conversions.
    def _fmt(self, name: str):
        f = self.cfg.formats
        return f.act if name.endswith(".bias") else f.weight

    def _fit(self, c: FloatCodes, fmt, stats: OverflowStats | None, site: str) -> FloatCodes:
        lo, hi = fmt.min_code, fmt.max_code
        if c.size == 0 or (c.min() >= lo and c.max() <= hi):
            if stats is not None:
                stats.add(site, 0)
            return c
        if stats is not None:
            stats.add(site, int(np.count_nonzero((c < lo) | (c > hi))))
        if fmt.overflow is Overflow.WRAP:
            base = float(-(1 << (fmt.width - 1)) if fmt.signed else 0)
            return np.mod(c - base, float(1 << fmt.width)) + base
        return np.clip(c, lo, hi, out=c)  # c is always a fresh array owned by _round / caller

    def _round(self, acc: FloatCodes, stats: OverflowStats | None, site: str) -> FloatCodes:
        """``acc`` (acc format) -> ``act`` codes: drop ``weight.frac`` LSBs by ``act.rounding``."""
        f = self.cfg.formats
        v = np.multiply(acc, 2.0 ** -(f.acc.frac - f.act.frac))  # the only new array
        if f.act.rounding is Rounding.RND:
            v += 0.5
        if f.act.rounding is Rounding.RND_CONV:
            np.rint(v, out=v)
        else:
            np.floor(v, out=v)
        return self._fit(v, f.act, stats, site)

    def _layer(
        self,
        q: dict[str, FloatCodes],
        i: int,
        h: FloatCodes | None,
        cache: dict | None,
        stats: OverflowStats | None,
        start_core: int = 0,
        t_start=None,
        batch: int = 0,
    ) -> FloatCodes:
        """Fixed layer ``i``: pre-activation codes (``tt_forward_fixed`` semantics).

        With ``t_start`` it resumes a TT layer at ``start_core`` on a running tensor of
        ``batch`` samples. ``cache`` receives the core inputs ``T`` and the final accumulator
        ``acc`` (before the bias).
        """
        layer = self.cfg.layers[i]
        if layer.kind == "dense":
            assert h is not None  # only a resumed TT layer (t_start) comes without h
            acc = h @ q[f"{i}.w"].T
        else:
            cores = [q[f"{i}.core{k}"] for k in range(len(layer.in_modes))]
            mats = [core_matrix(g) for g in cores]
            last = len(cores) - 1

            def step(t: FloatCodes, k: int) -> FloatCodes:
                acc = mats[k] @ t
                if k == last:  # rounded below, after the bias joins
                    return acc
                return self._round(acc, stats, f"{i}.core{k}")

            if t_start is None:
                assert h is not None  # only a resumed TT layer (t_start) comes without h
                t_start, batch = np.ascontiguousarray(h.T), h.shape[0]
            core_inputs = cache.setdefault("T", []) if cache is not None else None
            acc = contract_from(
                cores,
                t_start,
                batch,
                step,
                k0=start_core,
                i_done=math.prod(layer.out_modes[:start_core]),
                cache=core_inputs,
            )
        if cache is not None:
            cache["acc"] = acc
        return self._finish(q, i, acc, stats)

    def _finish(self, q, i, acc, stats):
        """Add the layer's bias into the accumulator and round once into ``act``."""
        bias = q.get(f"{i}.bias")
        if bias is not None:
            acc = acc + bias * 2.0**self.cfg.formats.weight.frac
        return self._round(acc, stats, f"{i}.out")

    def _activate(self, name: str, z: FloatCodes, stats) -> FloatCodes:
        if name == "relu":
            return np.maximum(z, 0.0)
        if name == "none":
            return z
        return activate_fixed(name, z.astype(np.int64), self.cfg.formats.act, stats).astype(
            np.float64
        )

    def _forward_codes(self, q, x_codes, caches=None, start=0, stats=None):
        """Output codes of layers ``start..`` on ``x_codes`` (and the per-layer caches).

        Without ``caches`` the batch runs in chunks of rows whose largest intermediate stays
        near :data:`CHUNK_ELEMENTS` values (cache-resident): the same integers, row by row,
        at 2-3x the speed of one pass over a large batch.
        """
        rows = max(1, CHUNK_ELEMENTS // self._row_width(start))
        if caches is None and x_codes.shape[0] > rows:
            parts = [
                self._forward_layers(q, x_codes[r : r + rows], None, start, stats)[0]
                for r in range(0, x_codes.shape[0], rows)
            ]
            return np.concatenate(parts), None
        return self._forward_layers(q, x_codes, caches, start, stats)

    def _row_width(self, start: int) -> int:
        """Largest intermediate (values per sample) of layers ``start..``."""
        widths = [1]
        for layer in self.cfg.layers[start:]:
            widths.append(max(layer.in_features, layer.out_features))
            if layer.kind == "tt":
                widths += [
                    c.out_size + c.rows * c.k
                    for c in tt_core_costs(layer.in_modes, layer.out_modes, layer.ranks)
                ]
        return max(widths)

    def _forward_layers(
        self,
        q: dict[str, FloatCodes],
        x_codes: FloatCodes,
        caches: dict[int, Any] | None,
        start: int,
        stats: OverflowStats | None,
    ) -> tuple[FloatCodes, dict[int, Any] | None]:
        h = x_codes
        for i in range(start, len(self.cfg.layers)):
            cache: dict[str, Any] | None = {} if caches is not None else None
            z = self._layer(q, i, h, cache, stats)
            if caches is not None:
                assert cache is not None  # made just above
                cache["h"], cache["z"] = h, z
                caches[i] = cache
            h = self._activate(self.cfg.layers[i].activation, z, stats)
        return h, caches

    def _perturbed_scores(
        self,
        name: str,
        u: npt.NDArray[Any],
        caches: dict,
        s: int,
        stats: OverflowStats,
        q: dict[str, FloatCodes] | None = None,
    ) -> FloatCodes:
        """Scores ``(2Q, B, C)`` for ``theta + s u_q`` (first ``Q``) and ``theta - s u_q``."""
        f = self.cfg.formats
        q = q if q is not None else self._float_params()
        u = np.asarray(u, np.float64)
        i = int(name.split(".")[0])
        layer, c = self.cfg.layers[i], caches[i]
        nq, batch = u.shape[0], c["h"].shape[0]
        signs = np.array([s, -s], np.float64)
        if name.endswith(".bias"):  # the bias joins the final accumulator: re-round it
            moved = q[name][None, None] + signs[:, None, None] * u[None]  # (2, Q, M)
            acc = c["acc"][None, None] + (moved * 2.0**f.weight.frac)[:, :, None, :]
            zq = self._round(acc, stats, f"{i}.out")
        elif name.endswith(".w"):
            du = np.einsum("bi,qoi->qbo", c["h"], u, optimize=True)
            acc = c["acc"][None, None] + signs[:, None, None, None] * du[None]
            zq = self._finish(q, i, acc, stats)
        else:
            k = int(name.split("core")[1])
            cores = [q[f"{i}.core{j}"] for j in range(len(layer.in_modes))]
            r0, n, m, r1 = cores[k].shape
            t_in = c["T"][k]
            base = core_matrix(cores[k]) @ t_in
            du = np.matmul(u.reshape(nq, r0 * n, m * r1).transpose(0, 2, 1), t_in)
            acc = base[None, None] + signs[:, None, None, None] * du[None]  # (2, Q, mr, cols)
            acc = acc.reshape(2 * nq, m * r1, -1)
            rest = math.prod(layer.in_modes[k + 1 :])
            i_done = math.prod(layer.out_modes[:k])
            if k < len(cores) - 1:
                acc = self._round(acc, stats, f"{i}.core{k}")
                t = stack_queries(acc, 2 * nq, m, r1, rest, batch, i_done)
                zq = self._layer(
                    q, i, None, None, stats, start_core=k + 1, t_start=t, batch=2 * nq * batch
                )
            else:  # the last core: [r1 = 1, rest = 1, I, m, 2Q, b] -> (2Q b, M)
                t = stack_queries(acc, 2 * nq, m, r1, rest, batch, i_done)
                zq = self._finish(
                    q, i, np.ascontiguousarray(t.reshape(-1, 2 * nq * batch).T), stats
                )
        zq = zq.reshape(2 * nq * batch, -1)
        h = self._activate(layer.activation, zq, stats)
        out, _ = self._forward_codes(q, h, start=i + 1, stats=stats)
        return out.reshape(2 * nq, batch, -1)

    def _float_params(self) -> dict[str, FloatCodes]:
        return {k: v.astype(np.float64) for k, v in self.q.items()}

    # -- the step --------------------------------------------------------------------------------
    def train_step(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        *,
        step: int,
        epoch: int,
        lr: float,
    ) -> dict[str, float]:
        cfg, zo, f = self.cfg, self.cfg.zo, self.cfg.formats
        if cfg.train.optimizer not in ("sgd", "signsgd"):  # checked here: the forward engine
            # of this class is also used by other integer trainers with their own update
            raise ConfigError(
                f"train.optimizer: {cfg.train.optimizer!r} has no integer version;"
                " fixed numerics use 'sgd' or 'signsgd'"
            )
        rng = step_rng(self.seed, step)  # RGE: LFSR directions; SCD: the coordinate lists
        batch = len(y)
        xq = f.act.quantize(x, stats=self.stats, site="input").astype(np.float64)
        qf = self._float_params()
        caches: dict[int, Any] = {}
        out, _ = self._forward_codes(qf, xq, caches, stats=self.stats)
        base = int(mse_loss_codes(out.astype(np.int64), y, f.act.frac))
        self._forward += 1
        if cfg.train.method == "hybrid" and epoch >= zo.switch_epoch:
            updates, diag = self._scd_updates(qf, caches, y, base, rng)
        else:
            updates, diag = self._rge_updates(qf, caches, y, step, lr)
        for name, delta in updates.items():  # all blocks were evaluated at the same theta
            fmt = self._fmt(name)
            self.q[name] = fmt.fit(self.q[name] + delta, stats=self.stats, site=f"update.{name}")
        loss = base * f.act.lsb**2 / (2 * batch)
        return {"loss": loss, **diag, "overflow_events": float(self.stats.total)}

    def _rge_updates(
        self, qf, caches, y, step: int, lr: float
    ) -> tuple[dict[str, IntArray], dict[str, float]]:
        """Steps 1-5 for every block: the integer RGE estimate and its sgd/signsgd update."""
        cfg, zo, f = self.cfg, self.cfg.zo, self.cfg.formats
        s, nq, batch = zo.fixed_mu_lsb, zo.queries, len(y)
        updates: dict[str, IntArray] = {}
        zero_diff = zero_upd = total_upd = 0
        for b, block in enumerate(self.blocks):
            name = block[0]
            shape = self.q[name].shape
            seeds = [
                query_seed(self.seed, step * len(self.blocks) + b, j, cfg.hardware.prng_width)
                for j in range(nq)
            ]
            u = rademacher(seeds, math.prod(shape), cfg.hardware.prng_width)
            u = u.astype(np.int64).reshape((nq, *shape))
            scores = self._perturbed_scores(name, u, caches, s, self.stats, qf)
            self._forward += 2 * nq
            losses = mse_loss_codes(scores.astype(np.int64), y, f.act.frac)
            dl = losses[:nq] - losses[nq:]
            zero_diff += int(np.count_nonzero(dl == 0))
            g = np.tensordot(dl, u, axes=1)  # exact int64
            lsb_p = self._fmt(name).lsb
            if cfg.train.optimizer == "signsgd":  # a fixed step of round(lr / lsb) LSBs
                delta = -int(np.floor(lr / lsb_p + 0.5)) * np.sign(g)
            else:
                scale = lr * f.act.lsb**2 / (4 * batch * s * nq * lsb_p**2)
                mant, shift = lr_multiplier(scale)
                if int(np.abs(g).max(initial=0)) * mant >= 1 << 62:
                    raise FormatError(
                        f"zo: update product of {name} overflows int64; use a "
                        "narrower act format or a smaller batch"
                    )
                delta = (
                    -round_shift(g * mant, shift, Rounding.RND)
                    if shift >= 0
                    else (-(g * mant) << -shift)
                )
            updates[name] = delta
            zero_upd += int(np.count_nonzero(delta == 0))
            total_upd += delta.size
        return updates, {
            "zero_update_frac": zero_upd / max(total_upd, 1),
            "zero_loss_diff_frac": zero_diff / max(nq * len(self.blocks), 1),
            "perturb_lsb": float(s),
        }

    def _scd_updates(
        self, qf, caches, y, base: int, rng: np.random.Generator, chunk: int = 64
    ) -> tuple[dict[str, IntArray], dict[str, float]]:
        """The hybrid's coordinate phase: try ``theta_i +- k`` LSBs, keep a move that lowers
        the integer loss (module docstring)."""
        zo, f = self.cfg.zo, self.cfg.formats
        updates: dict[str, IntArray] = {}
        tried = accepted = ties = 0
        k_lsb = 0
        for block in self.blocks:
            name = block[0]
            shape, size = self.q[name].shape, self.q[name].size
            count = max(1, int(round((1 - zo.scd_sparsity) * size)))
            coords = (
                np.sort(rng.choice(size, size=count, replace=False))
                if count < size
                else np.arange(size)
            )  # the float hybrid's draw (sw/zo/method.py)
            k = max(1, int(np.floor(zo.scd_lr / self._fmt(name).lsb + 0.5)))
            k_lsb = max(k_lsb, k)
            delta = np.zeros(size, np.int64)
            for c0 in range(0, count, chunk):
                idx = coords[c0 : c0 + chunk]
                u = np.zeros((len(idx), size), np.int64)
                u[np.arange(len(idx)), idx] = 1
                scores = self._perturbed_scores(
                    name, u.reshape((len(idx), *shape)), caches, k, self.stats, qf
                )
                self._forward += 2 * len(idx)
                losses = mse_loss_codes(scores.astype(np.int64), y, f.act.frac)
                plus, minus = losses[: len(idx)], losses[len(idx) :]
                up = plus < base
                down = ~up & (minus < base)
                delta[idx] = np.where(up, k, np.where(down, -k, 0))
                ties += int(np.count_nonzero(plus == minus))
            updates[name] = delta.reshape(shape)
            tried += count
            accepted += int(np.count_nonzero(delta))
        return updates, {
            "zero_update_frac": 1 - accepted / max(tried, 1),
            "zero_loss_diff_frac": ties / max(tried, 1),
            "perturb_lsb": float(k_lsb),
            "scd_accepted": float(accepted),
        }
