"""Requantize in the Amaranth simulator against ``fotrain.sw.qformat.requantize``: every rounding
and overflow mode, shifts right, none and left, random codes and the edges of both ranges."""

import itertools

import numpy as np
import pytest
from amaranth.sim import Simulator
from numpy.testing import assert_array_equal

from fotrain.hw.requantize import Requantize
from fotrain.sw.errors import FotrainError
from fotrain.sw.qformat import Overflow, QFormat, Rounding, requantize

SRC = QFormat(24, 10)
#: destination (width, frac): shift 6 right, 0, 2 left, and a shift wider than the destination
DSTS = {"right": (8, 4), "none": (12, 10), "left": (8, 12), "wide": (6, -6)}


def run(dut: Requantize, codes, relu=None) -> np.ndarray:
    """Present one code per cycle; return ``code`` as it appears ``LATENCY`` cycles later."""
    out: list[int] = []

    async def bench(ctx):
        n = len(codes)
        for k in range(n + dut.LATENCY - 1):
            if k < n:
                ctx.set(dut.acc, int(codes[k]))
                if relu is not None:
                    ctx.set(dut.relu, int(relu[k]))
            await ctx.tick()  # after edge k the output holds the code presented before edge k-1
            if k >= dut.LATENCY - 1:
                out.append(ctx.get(dut.code))

    sim = Simulator(dut)
    sim.add_clock(1e-6)
    sim.add_testbench(bench)
    sim.run()
    return np.array(out, dtype=np.int64)


def edge_codes(src: QFormat, dst: QFormat, width: int) -> np.ndarray:
    """Range ends, zero and +-1, exact ties around zero and codes around the saturation points."""
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    shift = src.frac - dst.frac
    codes = [lo, lo + 1, hi - 1, hi, 0, 1, -1]
    if shift > 0:
        one, half = 1 << shift, 1 << (shift - 1)
        codes += [k * one + half + d for k in range(-4, 4) for d in (-1, 0, 1)]
        for end in (dst.max_code, dst.min_code, dst.min_code + 1):
            codes += [
                end * one + d
                for d in (-half - 1, -half, -half + 1, -1, 0, 1, half - 1, half, half + 1)
            ]
    else:
        for end in (dst.max_code, dst.min_code, dst.min_code + 1):
            codes += [(end >> -shift) + d for d in (-1, 0, 1)]
    return np.clip(np.array(codes, dtype=np.int64), lo, hi)


def stimulus(src: QFormat, dst: QFormat, width: int, seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    lo, hi = -(1 << (width - 1)), (1 << (width - 1)) - 1
    near = rng.integers(-(1 << 14), 1 << 14, 200)  # mostly in range of dst after the shift
    wide = rng.integers(lo, hi, 200, endpoint=True)  # mostly overflowing
    return np.concatenate([edge_codes(src, dst, width), np.clip(near, lo, hi), wide])


@pytest.mark.parametrize(
    "rounding,overflow,kind",
    list(itertools.product(Rounding, Overflow, DSTS)),
    ids=lambda v: getattr(v, "value", v),
)
def test_matches_qformat(rounding, overflow, kind):
    width, frac = DSTS[kind]
    dst = QFormat(width, frac, rounding=rounding, overflow=overflow)
    codes = stimulus(SRC, dst, SRC.width, seed=len(kind))
    got = run(Requantize(SRC, dst), codes)
    assert_array_equal(got, requantize(codes, SRC, dst))


@pytest.mark.parametrize("rounding", list(Rounding), ids=lambda r: r.value)
def test_narrow_input_port(rounding):
    """``width`` below ``src.width`` (the engine's exact accumulator): same result in range."""
    dst = QFormat(8, 3, rounding=rounding, overflow=Overflow.SAT)
    codes = stimulus(SRC, dst, 15, seed=3)
    got = run(Requantize(SRC, dst, width=15), codes)
    assert_array_equal(got, requantize(codes, SRC, dst))


@pytest.mark.parametrize("overflow", list(Overflow), ids=lambda o: o.value)
def test_relu_clamps_only_when_asked(overflow):
    dst = QFormat(8, 4, rounding=Rounding.RND_CONV, overflow=overflow)
    codes = stimulus(SRC, dst, SRC.width, seed=7)
    relu = np.random.default_rng(8).integers(0, 2, codes.size)
    want = requantize(codes, SRC, dst)
    got = run(Requantize(SRC, dst, relu=True), codes, relu)
    assert_array_equal(got, np.where(relu == 1, np.maximum(want, 0), want))


def test_rejects_unsigned_formats():
    with pytest.raises(FotrainError, match="unsigned"):
        Requantize(SRC, QFormat(8, 4, signed=False))
