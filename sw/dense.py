"""Dense layers with the same float / fixed-point pair as the TT layers.

For layers where TT does not pay (a narrow input layer, a 512 -> 1 head). ``w`` has shape
``(out_features, in_features)``; a layer computes ``y = x @ w.T (+ b)``.

Fixed point follows the same rules as :func:`fotrain.sw.tt.tt_forward_fixed`: exact products and
sums in ``formats.acc``, the bias (``formats.act`` codes) added into the accumulator aligned by a
left shift of ``weight.frac`` bits, one requantization into ``formats.act``.
"""

import math

import numpy as np
import numpy.typing as npt

from .errors import FotrainError
from .qarith import mac
from .qformat import OverflowStats, requantize

__all__ = ["dense_forward", "dense_forward_fixed", "dense_init"]


def _check(w: np.ndarray, x: np.ndarray) -> None:
    if w.ndim != 2:
        raise FotrainError(f"w: shape {w.shape} is not (out_features, in_features)")
    if x.ndim != 2 or x.shape[1] != w.shape[1]:
        raise FotrainError(f"x: shape {x.shape} does not match (batch, {w.shape[1]})")


def dense_forward(
    w: npt.ArrayLike, x: npt.ArrayLike, bias: npt.ArrayLike | None = None
) -> npt.NDArray[np.float64]:
    """Float ``x @ w.T (+ bias)``."""
    w, x = np.asarray(w, np.float64), np.asarray(x, np.float64)
    _check(w, x)
    y = x @ w.T
    return y + np.asarray(bias, np.float64) if bias is not None else y


def dense_forward_fixed(
    w: npt.ArrayLike,
    x: npt.ArrayLike,
    formats,
    *,
    bias: npt.ArrayLike | None = None,
    stats: OverflowStats | None = None,
) -> npt.NDArray[np.int64]:
    """Bit-exact integer ``x @ w.T (+ bias)``: codes in, ``formats.act`` codes out."""
    w, x = np.asarray(w, np.int64), np.asarray(x, np.int64)
    _check(w, x)
    fw, fa, fc = formats.weight, formats.act, formats.acc
    acc = mac(x, fa, w.T, fw, fc, stats=stats, site="dense.acc")
    if bias is not None:
        acc = acc + requantize(bias, fa, fc)  # exact: act codes shifted by weight.frac
    return requantize(acc, fc, fa, stats=stats, site="dense.out")


def dense_init(
    out_features: int, in_features: int, *, rng: np.random.Generator, gain: float = 2.0
) -> npt.NDArray[np.float64]:
    """Gaussian ``w`` with Kaiming variance ``gain / in_features``."""
    return rng.normal(0.0, math.sqrt(gain / in_features), size=(out_features, in_features))
