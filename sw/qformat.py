"""Fixed-point number formats, rounding and requantization: the type the RTL implements.

A :class:`QFormat` describes two's-complement (or unsigned) codes of ``width`` bits whose value is
``code * 2**-frac``. All arithmetic here runs on ``np.int64`` arrays of raw codes and is exact up to
the documented rounding points, so the hardware can copy it bit for bit (the arithmetic
operations are in :mod:`.qarith`):

===================  ========================================================================
operation            where rounding / overflow happens
===================  ========================================================================
``quantize``         float -> code: ``x * 2**frac`` is rounded by ``fmt.rounding`` (the only
                     float step; exact for ``|x * 2**frac| < 2**52``), then ``fmt.overflow``.
``requantize``       code in ``src`` -> code in ``dst``: if ``dst.frac < src.frac`` the dropped
                     LSBs are rounded by ``dst.rounding`` (TRN = arithmetic shift right, RND = add
                     half an output LSB then shift, RND_CONV = ties to even); if ``dst.frac >=
                     src.frac`` the shift left is exact. Then ``dst.overflow`` applies.
``add`` / ``sub``    both operands aligned exactly to the finer binary point, summed exactly, then
                     one ``requantize`` into ``dst``.
``mul``              exact product in ``frac = a.frac + b.frac``, then one ``requantize`` into
                     ``dst`` (the "multiply and rescale" of a DSP slice followed by a rounder).
``shift_left`` /     multiply / divide by ``2**n`` inside one format: right shifts round by
``shift_right``      ``fmt.rounding``, left shifts apply ``fmt.overflow``.
``accumulate``       terms aligned exactly to ``acc.frac`` and summed in accumulation order;
                     ``acc.overflow`` WRAP wraps (order-independent), SAT/SAT_SYM saturate after
                     every addition, like a saturating accumulator register.
``mac``              exact integer dot products (no rounding at all), then ``acc.overflow`` on the
                     final sum; callers size ``acc`` so that it never overflows (the config checks).
===================  ========================================================================

Overflow is never silent: every function takes ``stats=`` (an :class:`OverflowStats`) and adds the
number of codes that fell outside the destination range, whatever the overflow mode, under a site
name. Any format combination whose intermediate integers could exceed ``int64`` is refused with a
:class:`~fotrain.sw.errors.FormatError`: every code, product and aligned operand must fit in 62
bits, so no numpy operation here can overflow silently.
"""

import enum
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

from .errors import FormatError

__all__ = [
    "EXACT_FLOAT",
    "MAX_BITS",
    "Overflow",
    "OverflowStats",
    "QFormat",
    "Rounding",
    "align_codes",
    "check_bits",
    "requantize",
    "round_shift",
]

IntArray = npt.NDArray[np.int64]

#: Largest width of any code, product or aligned operand. 62 bits leaves one bit of headroom in
#: int64 so that a single addition of two in-range values cannot overflow numpy silently.
MAX_BITS = 62

#: Integer dot products are computed with float64 BLAS when every partial sum provably stays
#: below this bound (then float64 arithmetic on integers is exact, whatever the summation order).
EXACT_FLOAT = 2**53


class Rounding(enum.Enum):
    """How dropped LSBs are rounded (hls4ml vocabulary)."""

    #: Truncate: floor toward minus infinity; an arithmetic shift right. Default; free in hardware.
    TRN = "TRN"
    #: Round half up: add half an output LSB, then floor. One adder in hardware.
    RND = "RND"
    #: Round half to even (convergent): like RND but exact ties go to the even code.
    RND_CONV = "RND_CONV"

    @classmethod
    def from_string(cls, text: str) -> "Rounding":
        """Parse ``"TRN"``, ``"RND"`` or ``"RND_CONV"`` (case-insensitive)."""
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            choices = ", ".join(m.name for m in cls)
            raise FormatError(f"rounding: unknown mode {text!r} (choose from {choices})") from None


class Overflow(enum.Enum):
    """What happens to a value outside the representable range."""

    #: Two's-complement wrap-around (drop MSBs). Default; free in hardware.
    WRAP = "WRAP"
    #: Saturate to the most negative / most positive code.
    SAT = "SAT"
    #: Saturate symmetrically to +-max_code (the most negative code is never produced).
    SAT_SYM = "SAT_SYM"

    @classmethod
    def from_string(cls, text: str) -> "Overflow":
        """Parse ``"WRAP"``, ``"SAT"`` or ``"SAT_SYM"`` (case-insensitive)."""
        try:
            return cls[str(text).strip().upper()]
        except KeyError:
            choices = ", ".join(m.name for m in cls)
            raise FormatError(f"overflow: unknown mode {text!r} (choose from {choices})") from None


@dataclass
class OverflowStats:
    """Count of out-of-range codes per site; pass one as ``stats=`` to see every overflow event."""

    counts: dict[str, int] = field(default_factory=dict)

    def add(self, site: str, n: int) -> None:
        """Add ``n`` events at ``site`` (sites with zero events are recorded too)."""
        self.counts[site] = self.counts.get(site, 0) + int(n)

    @property
    def total(self) -> int:
        """Total events over all sites."""
        return sum(self.counts.values())

    def merge(self, other: "OverflowStats") -> None:
        """Add all counts of ``other`` into this object."""
        for site, n in other.counts.items():
            self.add(site, n)

    def arrays(self, prefix: str = "overflow/") -> dict[str, np.ndarray]:
        """The counts as int64 scalars keyed ``prefix + site`` (for checkpoints)."""
        return {prefix + s: np.array(n, np.int64) for s, n in self.counts.items()}

    def restore(self, arrays: dict[str, np.ndarray], prefix: str = "overflow/") -> None:
        """Replace the counts by those :meth:`arrays` saved (a checkpoint written before counts
        were saved holds none: the counts stay as they are)."""
        saved = {k[len(prefix) :]: np.asarray(v) for k, v in arrays.items() if k.startswith(prefix)}
        if not saved:
            return
        bad = [k for k, v in saved.items() if v.shape != () or v.dtype.kind not in "iu"]
        if bad:
            raise FormatError(
                f"checkpoint: overflow count {prefix + bad[0]!r} is not an integer scalar"
            )
        self.counts = {k: int(v) for k, v in saved.items()}

    def report(self) -> str:
        """One line: ``site=n`` for sites with events, or ``no overflow``."""
        hits = [f"{s}={n}" for s, n in sorted(self.counts.items()) if n]
        return "overflow events: " + ", ".join(hits) if hits else "no overflow"


_STRING_RE = re.compile(
    r"^\s*(u?)fixed\s*<\s*(-?\d+)\s*,\s*(-?\d+)\s*(?:,\s*([A-Za-z_]+)\s*)?(?:,\s*([A-Za-z_]+)\s*)?>\s*$"
)


@dataclass(frozen=True)
class QFormat:
    """A fixed-point format: ``width`` bits, ``frac`` of them after the binary point.

    Value of a code ``c``: ``c * 2**-frac``. Signed codes lie in ``[-2**(width-1), 2**(width-1))``,
    unsigned in ``[0, 2**width)``. ``rounding`` applies whenever LSBs are dropped *into* this
    format, ``overflow`` whenever a value lands outside its range.
    """

    width: int
    frac: int
    signed: bool = True
    rounding: Rounding = Rounding.TRN
    overflow: Overflow = Overflow.WRAP

    def __post_init__(self) -> None:
        if not isinstance(self.width, int) or isinstance(self.width, bool):
            raise FormatError(f"width: must be an integer, got {self.width!r}")
        if not isinstance(self.frac, int) or isinstance(self.frac, bool):
            raise FormatError(f"frac: must be an integer, got {self.frac!r}")
        lo = 2 if self.signed else 1
        if not lo <= self.width <= MAX_BITS:
            raise FormatError(
                f"width: {self.width} is outside {lo}..{MAX_BITS} (int64 codes need headroom)"
            )
        if not -MAX_BITS <= self.frac <= MAX_BITS:
            raise FormatError(f"frac: {self.frac} is outside -{MAX_BITS}..{MAX_BITS}")
        if isinstance(self.rounding, str):
            object.__setattr__(self, "rounding", Rounding.from_string(self.rounding))
        if isinstance(self.overflow, str):
            object.__setattr__(self, "overflow", Overflow.from_string(self.overflow))
        if not self.signed and self.overflow is Overflow.SAT_SYM:
            raise FormatError("overflow: SAT_SYM needs a signed format")

    # -- derived numbers -------------------------------------------------------------------------
    @property
    def integer(self) -> int:
        """Integer bits including the sign bit (hls4ml's ``I`` in ``fixed<W, I>``)."""
        return self.width - self.frac

    @property
    def lsb(self) -> float:
        """Value of one code step, ``2**-frac``."""
        return 2.0**-self.frac

    @property
    def min_code(self) -> int:
        """Most negative code (``-max_code`` for SAT_SYM, which never produces ``-2**(w-1)``)."""
        if not self.signed:
            return 0
        if self.overflow is Overflow.SAT_SYM:
            return -(1 << (self.width - 1)) + 1
        return -(1 << (self.width - 1))

    @property
    def max_code(self) -> int:
        """Most positive code."""
        return (1 << (self.width - (1 if self.signed else 0))) - 1

    @property
    def min(self) -> float:
        """Most negative representable value."""
        return self.min_code * self.lsb

    @property
    def max(self) -> float:
        """Most positive representable value."""
        return self.max_code * self.lsb

    @property
    def max_abs_code(self) -> int:
        """Largest ``|code|`` (used for worst-case bounds)."""
        return max(abs(self.min_code), self.max_code)

    def with_(self, **changes: Any) -> "QFormat":
        """Return a copy with some fields replaced."""
        d: dict[str, Any] = {
            "width": self.width,
            "frac": self.frac,
            "signed": self.signed,
            "rounding": self.rounding,
            "overflow": self.overflow,
        }
        d.update(changes)
        return QFormat(**d)

    # -- text and dict forms ---------------------------------------------------------------------
    @classmethod
    def from_string(cls, text: str) -> "QFormat":
        """Parse hls4ml-style ``fixed<W,I[,ROUNDING[,OVERFLOW]]>`` or ``ufixed<...>``.

        ``I`` counts integer bits including the sign bit, so ``frac = W - I``.
        """
        m = _STRING_RE.match(str(text))
        if not m:
            raise FormatError(
                f"format: cannot parse {text!r} (expected e.g. 'fixed<16,4,RND,SAT>')"
            )
        unsigned, w, i, rnd, ovf = m.groups()
        return cls(
            int(w),
            int(w) - int(i),
            signed=not unsigned,
            rounding=Rounding.from_string(rnd) if rnd else Rounding.TRN,
            overflow=Overflow.from_string(ovf) if ovf else Overflow.WRAP,
        )

    def __str__(self) -> str:
        kind = "fixed" if self.signed else "ufixed"
        return f"{kind}<{self.width},{self.integer},{self.rounding.name},{self.overflow.name}>"

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for TOML/JSON."""
        return {
            "width": self.width,
            "frac": self.frac,
            "signed": self.signed,
            "rounding": self.rounding.name,
            "overflow": self.overflow.name,
        }

    # -- conversions -----------------------------------------------------------------------------
    def fit(
        self, codes: npt.ArrayLike, *, stats: OverflowStats | None = None, site: str = "fit"
    ) -> IntArray:
        """Apply this format's overflow mode to integer codes already at this binary point.

        Returns the input array itself (no copy) when every code is already in range.
        """
        c = np.asarray(codes, dtype=np.int64)
        lo, hi = self.min_code, self.max_code
        if c.size == 0 or (int(c.min()) >= lo and int(c.max()) <= hi):
            if stats is not None:
                stats.add(site, 0)
            return c
        if stats is not None:
            stats.add(site, int(np.count_nonzero((c < lo) | (c > hi))))
        if self.overflow is Overflow.WRAP:
            span = 1 << self.width
            base = -(1 << (self.width - 1)) if self.signed else 0
            return (c - base) % span + base
        return np.clip(c, lo, hi)

    def quantize(
        self, x: npt.ArrayLike, *, stats: OverflowStats | None = None, site: str = "quantize"
    ) -> IntArray:
        """Round floats to codes (``fmt.rounding``), then apply ``fmt.overflow``."""
        v = np.asarray(x, dtype=np.float64)
        if not np.all(np.isfinite(v)):
            raise FormatError(
                f"quantize: input holds {np.count_nonzero(~np.isfinite(v))} "
                "non-finite values (nan or inf)"
            )
        scaled = np.ldexp(v, self.frac)
        if self.rounding is Rounding.TRN:
            # floor(); a negative value so tiny that the scaling underflowed to -0.0 floors to -1
            r = np.where((scaled == 0) & (v < 0), -1.0, np.floor(scaled))
        elif self.rounding is Rounding.RND:
            r = np.floor(scaled + 0.5)
        else:
            r = np.rint(scaled)  # IEEE round-half-even
        # Clamp far outside every legal range before the int cast (keeps the cast defined); any
        # value clamped here is out of range anyway and is counted and handled by fit().
        r = np.clip(r, -(2.0**MAX_BITS), 2.0**MAX_BITS)
        return self.fit(r.astype(np.int64), stats=stats, site=site)

    def to_float(self, codes: npt.ArrayLike) -> npt.NDArray[np.float64]:
        """Exact value of each code as float64 (exact for widths up to 53 bits)."""
        return np.ldexp(np.asarray(codes, dtype=np.int64).astype(np.float64), -self.frac)

    def random_codes(self, rng: np.random.Generator, shape: int | tuple[int, ...]) -> IntArray:
        """Uniformly random in-range codes (for tests and benches)."""
        return rng.integers(self.min_code, self.max_code, size=shape, endpoint=True, dtype=np.int64)


# -- integer helpers -----------------------------------------------------------------------------
def check_bits(bits: int, what: str) -> None:
    """Refuse an intermediate of ``bits`` bits that int64 codes cannot hold exactly."""
    if bits > MAX_BITS:
        raise FormatError(
            f"{what}: needs {bits} bits, more than the {MAX_BITS} that int64 codes "
            "hold exactly; use narrower formats"
        )


def round_shift(codes: npt.ArrayLike, shift: int, rounding: Rounding) -> IntArray:
    """Divide integer codes by ``2**shift`` (``shift >= 0``) with the given rounding.

    Requires ``|codes| < 2**62``. TRN is ``codes >> shift``; RND adds ``2**(shift-1)`` first;
    RND_CONV rounds exact ties to the even result.
    """
    c = np.asarray(codes, dtype=np.int64)
    if shift < 0:
        raise ValueError("round_shift: shift must be >= 0")
    if shift == 0:
        return c.copy()
    if shift > MAX_BITS:  # |c| < 2**62 <= 2**(shift-1): only floor's sign survives
        if rounding is Rounding.TRN:
            return np.where(c < 0, -1, 0).astype(np.int64)
        return np.zeros_like(c)
    if rounding is Rounding.TRN:
        return c >> shift
    half = np.int64(1) << np.int64(shift - 1)
    if rounding is Rounding.RND:
        return (c + half) >> shift
    q = c >> shift
    r = c & ((np.int64(1) << np.int64(shift)) - 1)
    return q + ((r > half) | ((r == half) & ((q & 1) == 1))).astype(np.int64)


def align_codes(codes: IntArray, fmt_bits: int, shift_up: int, what: str) -> IntArray:
    """Shift ``codes`` of a ``fmt_bits``-bit format left by ``shift_up`` (exact), checked."""
    check_bits(fmt_bits + shift_up, what)
    return codes << np.int64(shift_up) if shift_up else codes


def requantize(
    codes: npt.ArrayLike,
    src: QFormat,
    dst: QFormat,
    *,
    stats: OverflowStats | None = None,
    site: str = "requantize",
) -> IntArray:
    """Convert codes from ``src`` to ``dst``: round dropped LSBs by ``dst.rounding``, then overflow.

    Widening the binary point (``dst.frac > src.frac``) is an exact shift left.
    """
    c = np.asarray(codes, dtype=np.int64)
    shift = src.frac - dst.frac
    if shift >= 0:
        c = round_shift(c, shift, dst.rounding)
    else:
        c = align_codes(c, src.width, -shift, f"requantize {src} -> {dst}")
    return dst.fit(c, stats=stats, site=site)
