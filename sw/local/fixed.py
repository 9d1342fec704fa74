"""Fixed-point local learning: the MLP forward pass and the local update on ``QFormat`` integers.

The specification a hardware trainer copies (``train.numerics = "fixed"``, ``local.arch = "mlp"``,
dense layers, rules ``tpsgd`` (``local_loss`` ``mse`` or ``l1``), ``drtp``, ``shallow``;
optimiser ``sgd``). Formats come from ``cfg.formats`` (``weight`` W, ``act`` A, ``acc``), so a
word-length sweep is ``--set formats.act.width=...`` (or :func:`with_word_length`).

Per layer, on a batch of ``B`` samples (all values are codes; ``Q_A(v)`` rounds to A):

1. ``z = dense_forward_fixed(W, h, formats, bias)`` (exact MACs in ``acc``, one rounding to A);
   ``y = Q_A(tanh(z))`` (a lookup table indexed by the A code), ``max(z, 0)`` or ``z``.
2. Hidden error at the target ``t = Q_A(a S[:, c])``: ``e = y - t`` (tpSGD MSE), ``sign(y - t)``
   (tpSGD L1, ``+-1`` in A) or ``-t`` (DRTP), all in A; output layer: ``e = Q_A(softmax(z)) -
   onehot`` (``ce``; a softmax unit modelled in float, rounded to A) or ``z - onehot`` (``mse``).
3. ``delta = Q_A(e * f')`` with ``f' = Q_A(1 - Q_A(y * y))`` (tanh), ``[y > 0]`` (relu) or 1.
4. ``G = delta^T h`` and ``g_b = sum_b delta``: exact integer sums in the gradient accumulator
   ``G_fmt = fixed<fixed_grad_width, ...>`` with ``2 * A.frac`` fractional bits (saturating).
5. Update: ``r = round(lr / B * 2**fixed_lr_frac)`` (the learning-rate register, an integer);
   ``dW = round_F(G * r)`` from ``2 A.frac + fixed_lr_frac`` down to ``W.frac`` fractional bits
   (bias: to ``A.frac``), where ``round_F`` is round-half-up (``fixed_update = "nearest"``) or
   stochastic rounding (``"stochastic"``: add a uniform integer in ``[0, 2**shift)`` drawn from
   ``step_rng(seed, step)``, then floor; unbiased, so updates below one LSB still act on
   average). ``W = sat_W(W - dW)``.

Every saturation is counted (``OverflowStats``) and reported as ``sat_*`` metrics.
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from ..dense import dense_forward_fixed
from ..errors import ConfigError
from ..qarith import mac, mul, sub
from ..qformat import Overflow, OverflowStats, QFormat, Rounding, requantize
from .targets import projection_codes

__all__ = ["FixedMLP", "with_word_length"]

IntArray = npt.NDArray[np.int64]


def with_word_length(cfg: Any, weight_bits: int, act_bits: int) -> Any:
    """``cfg`` with ``formats.weight``/``act`` of the given widths, integer bits kept.

    ``acc`` keeps its integer bits and gets ``frac = act.frac + weight.frac`` (the sweep hook).
    """
    f = cfg.formats
    w = f.weight.with_(width=weight_bits, frac=weight_bits - f.weight.integer)
    a = f.act.with_(width=act_bits, frac=act_bits - f.act.integer)
    frac = w.frac + a.frac
    acc = f.acc.with_(width=f.acc.integer + frac, frac=frac)
    return cfg.replace(formats=type(f)(weight=w, act=a, acc=acc))


class FixedMLP:
    """Integer state and step of the fixed-point local rules (see the module docstring)."""

    RULES = ("tpsgd", "drtp", "shallow")

    def __init__(self, cfg: Any, net: Any, seed: int):
        t, lc = cfg.train, cfg.local
        if lc.arch not in ("none", "mlp"):
            raise ConfigError(f"local.arch: fixed point supports 'mlp' only, got {lc.arch!r}")
        for i, layer in enumerate(cfg.layers):
            if layer.kind != "dense":
                raise ConfigError(
                    f"layers[{i}].kind: fixed point supports dense layers only, got {layer.kind!r}"
                )
        if t.method not in self.RULES:
            raise ConfigError(
                f"train.method: fixed point supports {', '.join(self.RULES)}, got {t.method!r}"
            )
        if t.method == "tpsgd" and lc.local_loss not in ("mse", "l1"):
            raise ConfigError(
                f"local.local_loss: fixed point supports mse and l1, got {lc.local_loss!r}"
            )
        if t.optimizer != "sgd":
            raise ConfigError(f"train.optimizer: fixed point supports 'sgd', got {t.optimizer!r}")
        self.cfg, self.net, self.seed = cfg, net, seed
        f = cfg.formats
        self.fw, self.fa = f.weight, f.act
        self.fg = QFormat(
            lc.fixed_grad_width, 2 * f.act.frac, rounding=Rounding.RND, overflow=Overflow.SAT
        )
        p0 = net.init(seed, np.float64)
        self.params: dict[str, IntArray] = {}
        for name, v in p0.items():
            fmt = self.fw if name.endswith(".w") else self.fa
            self.params[name] = fmt.quantize(v)
        self.slots: dict[str, IntArray] = {}
        self.stats = OverflowStats()
        self._codes: dict[int, IntArray] = {}
        self._peak = {"activations": 0, "gradients": 0}
        self._target_sat: dict[int, npt.NDArray[np.int64]] = {}

    # -- helpers -----------------------------------------------------------------------------------
    def _act(self, name: str, z: IntArray) -> IntArray:
        if name == "tanh":
            return self.fa.quantize(np.tanh(self.fa.to_float(z)))
        if name == "relu":
            return np.maximum(z, 0)
        return z

    def _dact(self, name: str, y: IntArray) -> IntArray:
        one = 1 << self.fa.frac
        if name == "tanh":
            ysq = mul(y, self.fa, y, self.fa, self.fa)
            return np.int64(one) - ysq
        if name == "relu":
            return np.where(y > 0, one, 0).astype(np.int64)
        return np.full_like(y, one)

    def _layer(self, i: int, h: IntArray, *, count: bool = True) -> tuple[IntArray, Any]:
        st = self.net.all_stages[i]
        z = dense_forward_fixed(
            self.params[f"{st.name}.w"],
            h,
            self.cfg.formats,
            bias=self.params.get(f"{st.name}.b"),
            stats=self.stats if count else None,
        )
        return self._act(st.activation, z), st

    def forward(self, x: npt.NDArray[np.float64]) -> IntArray:
        """Output codes (A) for float inputs (quantized to A); evaluation, so its saturations
        stay out of the training counts (a resumed run must report the same events)."""
        h = self.fa.quantize(x)
        for i in range(len(self.net.all_stages)):
            h, _ = self._layer(i, h, count=False)
        return h

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Output scores as floats."""
        return self.fa.to_float(self.forward(x))

    def targets(self, k: int, y: npt.NDArray[np.int64]) -> IntArray:
        """Target codes ``Q_A(a S_k[:, y])^T`` ``(B, units)``. Their saturations are counted
        at every use (``"target"``), as a unit that quantizes each projected target would count
        them, so the count does not depend on the cache (or on a resume)."""
        codes = self._target_codes(k)
        self.stats.add("target", int(self._target_sat[k][y].sum()))
        return codes[:, y].T

    def _target_codes(self, k: int) -> IntArray:
        """``Q_A(a S_k)`` ``(units, classes)`` and its saturations per class, computed once."""
        if k not in self._codes:
            st = self.net.stages[k]
            s = projection_codes(
                self.cfg.local.projection,
                self.seed,
                k,
                st.code_shape[0],
                self.net.out.layer.out_features,
                np.float64,
            )
            v = self.cfg.local.target_amp * s
            self._codes[k] = self.fa.quantize(v)
            per_class = []
            for c in range(v.shape[1]):
                scratch = OverflowStats()
                self.fa.quantize(v[:, c], stats=scratch)
                per_class.append(scratch.total)
            self._target_sat[k] = np.array(per_class, np.int64)
        return self._codes[k]

    def _update(
        self,
        st: Any,
        h: IntArray,
        y_out: IntArray,
        e: IntArray,
        lr: float,
        rng: np.random.Generator,
    ) -> None:
        fa, fw, fg = self.fa, self.fw, self.fg
        delta = mul(e, fa, self._dact(st.activation, y_out), fa, fa, stats=self.stats, site="delta")
        g = mac(delta.T, fa, h, fa, fg, stats=self.stats, site="grad")
        self._peak["activations"] = max(
            self._peak["activations"], (h.size + y_out.size + delta.size)
        )
        self._peak["gradients"] = max(self._peak["gradients"], g.size + delta.shape[1])
        lc = self.cfg.local
        r = round(lr / len(h) * 2.0**lc.fixed_lr_frac)
        rfmt = QFormat(fg.width + max(r, 1).bit_length() + 1, fg.frac + lc.fixed_lr_frac)
        targets = [(f"{st.name}.w", g, fw)]
        if f"{st.name}.b" in self.params:
            gb = np.clip(delta.sum(axis=0) << np.int64(fa.frac), fg.min_code, fg.max_code)
            targets.append((f"{st.name}.b", gb, fa))
        for name, gcode, fmt in targets:
            prod = gcode * np.int64(r)
            shift = rfmt.frac - fmt.frac
            if lc.fixed_update == "stochastic" and shift > 0:
                noise = rng.integers(0, 1 << shift, size=prod.shape, dtype=np.int64)
                step = (prod + noise) >> np.int64(shift)
            else:
                step = requantize(prod, rfmt, QFormat(62, fmt.frac, rounding=Rounding.RND))
            self.params[name] = fmt.fit(
                self.params[name] - step, stats=self.stats, site=f"{name}.sat"
            )

    # -- the step ----------------------------------------------------------------------------------
    def train_step(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        *,
        rule: str,
        active: list[int],
        step: int,
        lr: float,
        rng: np.random.Generator,
    ) -> dict[str, float]:
        """One integer update (module docstring); returns loss, accuracy and saturation counts."""
        before = self.stats.total
        lc = self.cfg.local
        fa = self.fa
        one = 1 << fa.frac
        h = fa.quantize(x, stats=self.stats, site="input")
        for k in range(len(self.net.stages)):
            y_out, st = self._layer(k, h)
            if k in active:
                t = self.targets(k, y)
                if rule == "drtp":
                    e = -t
                elif lc.local_loss == "l1":
                    e = np.sign(y_out - t) * np.int64(one)
                else:
                    e = sub(y_out, fa, t, fa, fa, stats=self.stats, site="err")
                self._update(st, h, y_out, e, lr, rng)
            h = y_out
        z, st = self._layer(len(self.net.stages), h)
        zf = fa.to_float(z)
        b = len(y)
        onehot = np.zeros_like(zf)
        onehot[np.arange(b), y] = 1
        zs = zf - zf.max(axis=1, keepdims=True)
        sm = np.exp(zs) / np.exp(zs).sum(axis=1, keepdims=True)
        loss = float(np.mean(-np.log(np.maximum(sm[np.arange(b), y], 1e-30))))
        if self.cfg.train.loss == "mse":
            e = z - fa.quantize(onehot)
            loss = float(0.5 * np.sum((zf - onehot) ** 2) / b)
        else:
            e = fa.quantize(sm) - fa.quantize(onehot)
        self._update(st, h, z, e, lr, rng)
        return {
            "loss": loss,
            "acc": float(np.mean(np.argmax(zf, 1) == y)),
            "sat_step": float(self.stats.total - before),
            "sat_total": float(self.stats.total),
        }

    def memory(self) -> dict[str, int]:
        """Bytes in hardware words: codes held x ``ceil(width / 8)``."""
        wa = math.ceil(self.fa.width / 8)
        wg = math.ceil(self.fg.width / 8)
        m = {
            "activations": self._peak["activations"] * wa,
            "gradients": self._peak["gradients"] * wg,
            "optimizer": 0,
            "projection": 0,
        }
        m["training_state"] = sum(m.values())
        m["parameters"] = sum(
            a.size * math.ceil((self.fw if n.endswith(".w") else self.fa).width / 8)
            for n, a in self.params.items()
        )
        m["projection_cache"] = sum(c.size for c in self._codes.values()) * wa
        return m
