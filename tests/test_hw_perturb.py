"""PerturbGen in the Amaranth simulator against the bit-exact model ``fotrain.sw.perturb``."""

import numpy as np
import pytest
from amaranth.sim import Simulator
from numpy.testing import assert_array_equal

from fotrain.hw.perturb import PerturbGen, lfsr_masks
from fotrain.sim.run import rtl_perturb_words
from fotrain.sim.streams import stream_drain
from fotrain.sw.errors import FotrainError
from fotrain.sw.perturb import GALOIS_TAPS, lfsr_bits_reference, perturb_words


@pytest.mark.parametrize("width,bits,seed", [(8, 3, 1), (8, 8, 0xA5), (10, 1, 0x3FF), (10, 7, 77)])
def test_full_period_small_width(width, bits, seed):
    period = (1 << width) - 1
    beats = -(-(period + 64) // bits)  # one whole period plus a wrap-around
    got = rtl_perturb_words(seed, beats, bits, width, stall=(0, 1, 0, 0, 1, 1))
    assert_array_equal(got, perturb_words(seed, beats, bits, width))
    # the stream really is periodic with 2**w - 1 (checked on the RTL bits)
    stream = ((got[:, None] >> np.arange(bits, dtype=np.uint64)) & np.uint64(1)).reshape(-1)
    assert_array_equal(stream[period : period + 64], stream[:64])


@pytest.mark.parametrize("bits", [1, 8, 32])
def test_default_width_many_bits(bits):
    beats = (8_000 if bits == 1 else 24_000) // bits
    seed = 0xC0FFEE11
    got = rtl_perturb_words(seed, beats, bits, 32, stall=(1, 0, 0))
    assert_array_equal(got, perturb_words(seed, beats, bits, 32))


def test_masks_match_reference_steps():
    for width in (3, 16, 33, 64):
        out, _ = lfsr_masks(width, 5)
        seed = GALOIS_TAPS[width] | 1
        bits = [bin(seed & mk).count("1") & 1 for mk in out]
        assert bits == list(lfsr_bits_reference(seed, 5, width))


def test_replay_hold_and_enable():
    """Reload replays; payload holds while stalled; valid stays up until taken."""
    dut = PerturbGen(16, 4)
    seen = {}

    async def bench(ctx):
        ctx.set(dut.seed, 0xBEEF)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.en, 1)
        first, _ = await stream_drain(ctx, dut.bits, 20, stall=(1, 1, 0))
        # stall with en dropped: the pending beat stays valid and unchanged
        ctx.set(dut.en, 0)
        ctx.set(dut.bits.ready, 0)
        await ctx.tick()
        held = []
        for _ in range(5):
            *_, p, v = await ctx.tick().sample(dut.bits.payload, dut.bits.valid)
            held.append((p, v))
        seen["held"] = held
        ctx.set(dut.seed, 0xBEEF)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.en, 1)
        again, _ = await stream_drain(ctx, dut.bits, 20)
        seen["first"], seen["again"] = first, again

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    ref = perturb_words(0xBEEF, 21, 4, 16)
    assert_array_equal(np.array(seen["first"], np.uint64), ref[:20])
    assert_array_equal(np.array(seen["again"], np.uint64), ref[:20])
    assert seen["held"] == [(int(ref[20]), 1)] * 5


def test_checker_bites_on_a_flipped_tap(monkeypatch):
    """A one-bit mutation of the RTL's taps must be detected by the comparison."""
    import fotrain.hw.perturb as hwp

    monkeypatch.setattr(hwp, "GALOIS_TAPS", {**GALOIS_TAPS, 8: GALOIS_TAPS[8] ^ 0x01})
    got = rtl_perturb_words(1, 100, 3, 8)
    assert not np.array_equal(got, perturb_words(1, 100, 3, 8))


@pytest.mark.parametrize("width,bits", [(2, 1), (65, 1), (16, 0), (16, 17)])
def test_rejects_bad_parameters(width, bits):
    with pytest.raises(FotrainError):
        PerturbGen(width, bits)
