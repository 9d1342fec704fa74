"""Requantizer: a two-stage pipeline that copies :func:`fotrain.sw.qformat.requantize` bit for bit.

Contract: ``code = requantize(acc, src, dst)`` (optionally ``max(code, 0)``), with the rounding of
``dst.rounding`` in the first stage and the overflow of ``dst.overflow`` in the second, so the
carry chain of the rounding adder and the range comparators of the saturation never share a
cycle.
"""

from amaranth.hdl import Module, Mux, Signal, signed
from amaranth.lib import wiring
from amaranth.lib.wiring import In, Out

from fotrain.sw.errors import ConfigError
from fotrain.sw.qformat import Overflow, QFormat, Rounding

__all__ = ["Requantize", "overflow_expr", "round_expr"]


def round_expr(m: Module, acc, shift: int, rounding: Rounding, name: str):
    """Expression for ``round_shift(acc, shift, rounding)``; ``shift < 0`` is an exact shift left.

    ``shift = src.frac - dst.frac``. TRN is an arithmetic shift right, RND adds half an output
    LSB first, RND_CONV rounds exact ties to the even result. ``acc`` is sign-extended into a
    ``{name}_wide`` signal two bits wider than ``max(len(acc), shift)``, so adding the half LSB
    cannot overflow and the dropped bits always exist.
    """
    if shift <= 0:
        return acc << -shift
    wide = Signal(signed(max(len(acc), shift) + 2), name=f"{name}_wide")
    m.d.comb += wide.eq(acc)
    if rounding is Rounding.TRN:
        return wide >> shift
    half = 1 << (shift - 1)
    if rounding is Rounding.RND:
        return (wide + half) >> shift
    q = wide >> shift
    r = wide[:shift]
    return q + ((r > half) | ((r == half) & q[0]))


def overflow_expr(v, dst: QFormat):
    """Expression for ``dst.fit(v)`` on a signed value already at ``dst``'s binary point.

    WRAP keeps the low ``dst.width`` bits (two's complement); SAT and SAT_SYM clamp to
    ``[dst.min_code, dst.max_code]`` (SAT_SYM's ``min_code`` is ``-max_code``).
    """
    if dst.overflow is Overflow.WRAP:
        return v[: dst.width].as_signed()
    lo, hi = dst.min_code, dst.max_code
    return Mux(v > hi, hi, Mux(v < lo, lo, v))


class Requantize(wiring.Component):
    """Convert a signed code from ``src`` to ``dst``: round dropped LSBs, then apply overflow.

    Computation (``shift = src.frac - dst.frac``)::

        rounded = round_shift(acc, shift, dst.rounding)   if shift >= 0
                = acc << -shift                           otherwise (exact)
        code    = dst.fit(rounded)                        (WRAP, SAT or SAT_SYM)
        code    = max(code, 0)                            if relu was high with acc

    which is ``fotrain.sw.qformat.requantize(acc, src, dst)`` for every ``acc`` in range.

    Parameters
    ----------
    src, dst : QFormat
        Source and destination formats; both must be signed (the engine's formats are).
    width : int, optional
        Width of ``acc`` (default ``src.width``); narrower when the caller knows that fewer bits
        hold every value it presents.
    relu : bool
        Add the ``relu`` input (the fused activation of the engine's last core).

    Members
    -------
    acc : ``In(signed(width))``
        Code in ``src``, taken every cycle.
    relu : ``In(1)``, only with ``relu=True``
        Clamp this result at zero; sampled together with ``acc``.
    code : ``Out(signed(dst.width))``
        Code in ``dst``, ``LATENCY`` cycles after ``acc``.

    Latency ``LATENCY`` (2) cycles: stage 1 registers the rounded value, stage 2 the fitted (and
    clamped) code. Throughput one code per cycle; there is no handshake and no stall (the engine's
    MAC pipeline never stops).
    """

    LATENCY = 2

    def __new__(cls, src: QFormat, dst: QFormat, **kwargs):
        # Check before the component exists: a rejected component must not be reported as
        # created but never elaborated.
        for what, fmt in (("src", src), ("dst", dst)):
            if not fmt.signed:
                raise ConfigError(
                    f"requantize {what}: {fmt} is unsigned; only signed formats are supported"
                )
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, src: QFormat, dst: QFormat, *, width: int | None = None, relu: bool = False):
        self.src, self.dst = src, dst
        self.width = src.width if width is None else width
        self.has_relu = relu
        ports = {"acc": In(signed(self.width)), "code": Out(signed(dst.width))}
        if relu:
            ports["relu"] = In(1)
        super().__init__(ports)

    def elaborate(self, platform):
        """Build the rounding stage and the overflow (and ReLU) stage."""
        m = Module()
        rounded = round_expr(m, self.acc, self.src.frac - self.dst.frac, self.dst.rounding, "rq")
        rq = Signal(signed(len(rounded)), name="rounded")
        m.d.sync += rq.eq(rounded)
        fitted = overflow_expr(rq, self.dst)
        if self.has_relu:
            relu = Signal(name="relu_s1")
            m.d.sync += relu.eq(self.relu)
            fitted = Mux(relu & (fitted < 0), 0, fitted)
        m.d.sync += self.code.eq(fitted)
        return m
