"""cocotb bench of the perturbation generator: every beat vs ``fotrain.sw.perturb.perturb_words``,
under random output stalls, with a replay (seed reload) in the middle.

Environment: ``FOTRAIN_CFG`` (:class:`Config` JSON; ``hardware.prng_width`` and
``perturb_bits_per_cycle``), ``NUM_BITS`` (stream bits to compare, default 20000),
``FOTRAIN_SEED`` (LFSR seed), ``FOTRAIN_STALL`` (JSON 0/1 pattern or ``null``),
``TB_INJECT_ERROR=1`` (corrupt one expected beat), ``FOTRAIN_REPORT``.
"""

import json
import os
import time

import cocotb
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from fotrain.sw.config import Config
from fotrain.sw.perturb import perturb_words

from .components import InOrderChecker, StreamSink, read_uint

__all__ = ["perturb_stream"]


async def _load(dut, seed: int) -> None:
    """From the next falling edge: hold ``ready`` low and pulse ``load`` for one cycle."""
    await FallingEdge(dut.clk)
    dut.bits__ready.value = 0
    dut.seed.value = seed
    dut.load.value = 1
    await FallingEdge(dut.clk)
    dut.load.value = 0


@cocotb.test()
async def perturb_stream(dut):
    """Compare ``NUM_BITS`` bits, reload the seed halfway and compare the replay."""
    hw = Config.from_json(os.environ["FOTRAIN_CFG"]).hardware
    width, b = hw.prng_width, hw.perturb_bits_per_cycle
    seed = int(os.environ.get("FOTRAIN_SEED", "1"))
    beats = -(-int(os.environ.get("NUM_BITS", "20000")) // b)
    stall = json.loads(os.environ.get("FOTRAIN_STALL", "null"))
    replay_at = beats // 2
    ref = [int(v) for v in perturb_words(seed, beats, b, width)]
    expected = ref[:replay_at] + ref
    if os.environ.get("TB_INJECT_ERROR") == "1":
        expected[len(expected) // 3] ^= 1
    checker = InOrderChecker("bits", dut._log)
    checker.expect(expected)
    sink = StreamSink(dut, "bits", stall=stall)
    Clock(dut.clk, 10, unit="ns").start()
    dut.rst.value = 1
    dut.en.value = 0
    dut.load.value = 0
    await ClockCycles(dut.clk, 2)
    dut.rst.value = 0
    await RisingEdge(dut.clk)
    await _load(dut, seed)
    dut.en.value = 1
    t0 = time.perf_counter()
    cycles = received = 0
    while checker.pending and cycles < 10 * len(expected) + 100:
        await FallingEdge(dut.clk)
        valid = read_uint(dut.bits__valid)
        sink.drive()
        got = sink.commit(valid)
        cycles += 1
        if got is not None:
            checker.check(got, f"(beat {received})")
            received += 1
            if received == replay_at:  # replay: the same seed regenerates the same signs
                await _load(dut, seed)
                cycles += 2
    wall = time.perf_counter() - t0
    with open(os.environ["FOTRAIN_REPORT"], "w", encoding="utf-8") as fh:
        json.dump(
            {
                "bits": checker.checked * b,
                "beats": checker.checked,
                "errors": checker.errors,
                "pending": checker.pending,
                "cycles": cycles,
                "cycles_per_s": cycles / wall if wall else 0.0,
                "reports": checker.reports,
            },
            fh,
        )
    assert checker.errors == 0, checker.reports
    assert checker.pending == 0
