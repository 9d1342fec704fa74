"""Perturbation generator: the Galois LFSR of ``fotrain.sw.perturb`` as a stream of sign bits.

Mirrors ``sw/perturb.py`` bit for bit (see its docstring for the stream definition): beat ``c`` of
the ``bits`` stream carries stream bits ``c*b .. c*b + b - 1``, stream bit ``c*b + i`` in payload
bit ``i``; bit 1 means ``-1`` (Rademacher). A perturbation is *replayed* by loading the same seed
again, so it is regenerated for the update instead of stored.
"""

from amaranth.hdl import Cat, Module, Signal
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from fotrain.sw.config import Config
from fotrain.sw.errors import ConfigError
from fotrain.sw.perturb import GALOIS_TAPS

__all__ = ["PerturbGen", "check_params", "lfsr_masks"]


def lfsr_masks(width: int, steps: int) -> tuple[list[int], list[int]]:
    """GF(2) masks of ``steps`` Galois steps: ``(out_masks, next_masks)``.

    Output bit ``i`` is the parity of ``state & out_masks[i]`` and next-state bit ``j`` the parity
    of ``state & next_masks[j]`` (the LFSR is linear, so ``steps`` unrolled steps are XOR trees).
    """
    taps = GALOIS_TAPS[width]
    out_masks, next_masks = [0] * steps, [0] * width
    for j in range(width):
        s = 1 << j
        for i in range(steps):
            bit = s & 1
            s >>= 1
            if bit:
                s ^= taps
            if bit:
                out_masks[i] |= 1 << j
        for jj in range(width):
            if (s >> jj) & 1:
                next_masks[jj] |= 1 << j
    return out_masks, next_masks


def check_params(width: int, bits_per_cycle: int) -> None:
    """Raise :class:`~fotrain.sw.errors.ConfigError` unless the generator can be built."""
    if width not in GALOIS_TAPS:
        raise ConfigError(f"hardware.prng_width: {width} is not supported (3..64)")
    if not 1 <= bits_per_cycle <= width:
        raise ConfigError(
            f"hardware.perturb_bits_per_cycle: {bits_per_cycle} is outside 1..{width}"
        )


class PerturbGen(wiring.Component):
    """Emit ``bits_per_cycle`` LFSR sign bits per beat; reload the seed to replay a sequence.

    Computation: with ``s`` the state, one Galois step is ``bit = s & 1; s = (s >> 1) ^ (TAPS if
    bit else 0)`` (``TAPS = GALOIS_TAPS[width]``); a beat unrolls ``b`` steps combinationally as
    precomputed XOR trees, payload bit ``i`` = output bit of step ``i``.

    Members
    -------
    seed : ``In(width)``
        Seed, taken when ``load`` is high (must be non-zero; the model rejects 0).
    load : ``In(1)``
        Load ``seed`` into the state; the next beat is stream bit 0. Takes priority over a
        transfer in the same cycle (a pending beat is dropped: a reload is a restart).
    en : ``In(1)``
        Request beats. ``bits.valid`` follows ``en`` one cycle later and, once high, stays high
        until the beat is taken.
    bits : ``Out(stream.Signature(bits_per_cycle))``
        Sign bits. ``valid`` never depends on ``ready``; the payload holds while stalled.

    Latency one cycle from ``en`` (or ``load``) to a valid beat; throughput one beat per cycle.
    Targets LUTs and ``width`` flip-flops (no DSP, no RAM). The state resets to 1.
    """

    LATENCY = 1

    def __new__(cls, width: int = 32, bits_per_cycle: int = 8):
        # Check before the component exists, so rejected parameters raise without leaving a
        # component behind that Amaranth would report as created but never elaborated.
        check_params(width, bits_per_cycle)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, width: int = 32, bits_per_cycle: int = 8):
        self.width = width
        self.bits_per_cycle = bits_per_cycle
        super().__init__(
            {
                "seed": In(width),
                "load": In(1),
                "en": In(1),
                "bits": Out(stream.Signature(bits_per_cycle)),
            }
        )

    @classmethod
    def from_config(cls, cfg: Config) -> "PerturbGen":
        """Build with ``cfg.hardware.prng_width`` and ``perturb_bits_per_cycle``."""
        hw = cfg.hardware
        return cls(hw.prng_width, hw.perturb_bits_per_cycle)

    def elaborate(self, platform):
        """Build the state register, XOR trees and the stream handshake."""
        m = Module()
        out_masks, next_masks = lfsr_masks(self.width, self.bits_per_cycle)
        state = Signal(self.width, init=1)
        nxt = Signal(self.width)
        m.d.comb += [
            nxt.eq(Cat(*((state & mask).xor() for mask in next_masks))),
            self.bits.payload.eq(Cat(*((state & mask).xor() for mask in out_masks))),
        ]
        fire = self.bits.valid & self.bits.ready
        m.d.sync += self.bits.valid.eq(self.en | (self.bits.valid & ~self.bits.ready))
        with m.If(self.load):
            m.d.sync += state.eq(self.seed)
        with m.Elif(fire):
            m.d.sync += state.eq(nxt)
        return m
