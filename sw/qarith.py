"""Exact integer arithmetic on :class:`~.qformat.QFormat` codes: add, subtract, multiply, shift,
accumulate and multiply-accumulate, each followed by at most one requantization (the rounding
points are tabulated in :mod:`.qformat`). These are the operations of the RTL's adders,
DSP multipliers and accumulator registers.
"""

import numpy as np
import numpy.typing as npt

from .errors import FormatError
from .qformat import (
    EXACT_FLOAT,
    Overflow,
    OverflowStats,
    QFormat,
    align_codes,
    check_bits,
    requantize,
    round_shift,
)

__all__ = ["accumulate", "add", "mac", "mul", "product_format", "shift_left", "shift_right", "sub"]

IntArray = npt.NDArray[np.int64]


def _aligned_sum(
    a: npt.ArrayLike, fa: QFormat, b: npt.ArrayLike, fb: QFormat, sign: int, what: str
) -> tuple[IntArray, QFormat]:
    frac = max(fa.frac, fb.frac)
    ua, ub = frac - fa.frac, frac - fb.frac
    bits = max(fa.width + ua, fb.width + ub) + 1
    check_bits(bits, what)
    s = align_codes(np.asarray(a, np.int64), fa.width, ua, what)
    t = align_codes(np.asarray(b, np.int64), fb.width, ub, what)
    return s + sign * t, QFormat(bits, frac)


def add(
    a: npt.ArrayLike,
    fa: QFormat,
    b: npt.ArrayLike,
    fb: QFormat,
    dst: QFormat,
    *,
    stats: OverflowStats | None = None,
    site: str = "add",
) -> IntArray:
    """``a + b`` computed exactly, then requantized once into ``dst``."""
    s, exact = _aligned_sum(a, fa, b, fb, 1, f"add {fa} + {fb}")
    return requantize(s, exact, dst, stats=stats, site=site)


def sub(
    a: npt.ArrayLike,
    fa: QFormat,
    b: npt.ArrayLike,
    fb: QFormat,
    dst: QFormat,
    *,
    stats: OverflowStats | None = None,
    site: str = "sub",
) -> IntArray:
    """``a - b`` computed exactly, then requantized once into ``dst``."""
    s, exact = _aligned_sum(a, fa, b, fb, -1, f"sub {fa} - {fb}")
    return requantize(s, exact, dst, stats=stats, site=site)


def product_format(fa: QFormat, fb: QFormat) -> QFormat:
    """Format that holds every exact product of ``fa`` and ``fb`` codes."""
    bits = fa.width + fb.width
    check_bits(bits, f"product {fa} * {fb}")
    return QFormat(bits, fa.frac + fb.frac, signed=True)


def mul(
    a: npt.ArrayLike,
    fa: QFormat,
    b: npt.ArrayLike,
    fb: QFormat,
    dst: QFormat,
    *,
    stats: OverflowStats | None = None,
    site: str = "mul",
) -> IntArray:
    """Exact product (``frac = fa.frac + fb.frac``), then one requantize into ``dst``."""
    pf = product_format(fa, fb)
    p = np.asarray(a, np.int64) * np.asarray(b, np.int64)
    return requantize(p, pf, dst, stats=stats, site=site)


def shift_right(codes: npt.ArrayLike, fmt: QFormat, n: int) -> IntArray:
    """Divide by ``2**n`` inside ``fmt``, rounding by ``fmt.rounding`` (never overflows)."""
    if n < 0:
        raise ValueError("shift_right: n must be >= 0")
    return round_shift(codes, n, fmt.rounding)


def shift_left(
    codes: npt.ArrayLike,
    fmt: QFormat,
    n: int,
    *,
    stats: OverflowStats | None = None,
    site: str = "shift_left",
) -> IntArray:
    """Multiply by ``2**n`` inside ``fmt``, then apply ``fmt.overflow``."""
    if n < 0:
        raise ValueError("shift_left: n must be >= 0")
    c = align_codes(np.asarray(codes, np.int64), fmt.width, n, f"shift_left {fmt} by {n}")
    return fmt.fit(c, stats=stats, site=site)


def accumulate(
    codes: npt.ArrayLike,
    src: QFormat,
    acc: QFormat,
    *,
    axis: int = -1,
    stats: OverflowStats | None = None,
    site: str = "accumulate",
) -> IntArray:
    """Sum ``codes`` (format ``src``) along ``axis`` in accumulator ``acc``, in index order.

    Terms are aligned exactly to ``acc.frac`` (``acc.frac >= src.frac`` is required: an
    accumulator never rounds its inputs). WRAP: the exact sum wrapped once, equal to wrapping after
    every addition. SAT / SAT_SYM: saturate after every addition, as a saturating register does.
    Overflow events counted: partial sums outside ``acc``'s range.
    """
    if acc.frac < src.frac:
        raise FormatError(
            f"accumulate: acc.frac {acc.frac} < input frac {src.frac}; an "
            "accumulator must not round its inputs"
        )
    c = np.moveaxis(np.asarray(codes, np.int64), axis, -1)
    c = align_codes(c, src.width, acc.frac - src.frac, f"accumulate {src} into {acc}")
    n = c.shape[-1]
    if acc.overflow is Overflow.WRAP:
        check_bits(acc.width + max(n, 1).bit_length(), f"accumulate {n} terms in {acc}")
        partial = np.cumsum(c, axis=-1)
        if stats is not None:
            stats.add(
                site, int(np.count_nonzero((partial < acc.min_code) | (partial > acc.max_code)))
            )
        total = partial[..., -1] if n else np.zeros(c.shape[:-1], np.int64)
        return acc.fit(total)
    total = np.zeros(c.shape[:-1], np.int64)
    for k in range(n):  # sequential saturation: the order matters, as in the register
        total = acc.fit(total + c[..., k], stats=stats, site=site)
    return total


def mac(
    a: npt.ArrayLike,
    fa: QFormat,
    b: npt.ArrayLike,
    fb: QFormat,
    acc: QFormat,
    *,
    stats: OverflowStats | None = None,
    site: str = "mac",
) -> IntArray:
    """Integer matrix product ``a @ b`` of codes, exact, landing in accumulator ``acc``.

    ``acc.frac`` must equal ``fa.frac + fb.frac`` (products enter the accumulator unrounded).
    Exact products and sums are formed; the result then gets ``acc.overflow`` once (equal to
    per-addition wrapping; for saturation the config guarantees no partial sum can overflow).
    Uses float64 BLAS when ``K * max|a| * max|b| < 2**53`` (provably exact), else int64 matmul.
    """
    if acc.frac != fa.frac + fb.frac:
        raise FormatError(
            f"mac: acc.frac {acc.frac} != {fa.frac} + {fb.frac}; products must "
            "enter the accumulator unrounded"
        )
    a = np.asarray(a, np.int64)
    b = np.asarray(b, np.int64)
    k = a.shape[-1]
    bound = max(k, 1) * fa.max_abs_code * fb.max_abs_code
    check_bits(bound.bit_length() + 1, f"mac over {k} terms of {fa} * {fb}")
    if bound < EXACT_FLOAT:
        out = np.matmul(a.astype(np.float64), b.astype(np.float64)).astype(np.int64)
    else:
        out = np.matmul(a, b)
    return acc.fit(out, stats=stats, site=site)
