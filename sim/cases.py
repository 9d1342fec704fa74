"""Random and edge-case TT-engine test cases shared by the Amaranth-sim and cocotb tiers.

Contract: :func:`random_case` draws a geometry (``cores`` 1..4, modes 1..8, ranks 1..8, sizes
bounded so one case stays cheap), formats (8..24-bit weight and act, every rounding and overflow
mode, ``acc`` just wide enough), lanes (1..16), batch, codes of random magnitude (so that some
tensors saturate and others exercise rounding), optional bias, and idle/stall patterns, all from
one ``np.random.Generator``. :func:`edge_cases` lists the fixed corner cases.
:func:`ci_cases` lists the fixed cases of the cocotb CI tier: together they use every rounding
mode (TRN, RND, RND_CONV) with and without a bias and every overflow mode (WRAP, SAT,
SAT_SYM), with formats whose few fraction bits make rounding ties and overflows common, so a
mutant of any of these (or of the bias alignment) changes some output word.
"""

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from fotrain.sw.config import Config, FormatConfig, HardwareConfig, LayerConfig
from fotrain.sw.qformat import Overflow, QFormat, Rounding
from fotrain.sw.tt import tt_core_shapes

__all__ = ["TTCase", "ci_cases", "edge_cases", "random_case", "random_codes"]


@dataclass
class TTCase:
    """Everything one engine run needs; ``cfg`` is the one-layer config the engine is built from."""

    name: str
    cfg: Config
    cores: list[npt.NDArray[np.int64]]
    x: npt.NDArray[np.int64]
    bias: npt.NDArray[np.int64] | None = None
    idle: tuple[int, ...] | None = None
    stall: tuple[int, ...] | None = None
    meta: dict = field(default_factory=dict)


def random_codes(rng: np.random.Generator, fmt: QFormat, shape) -> npt.NDArray[np.int64]:
    """Codes of ``fmt`` with a random magnitude: ``|c| < 2**e``, ``e`` uniform in 1..width-1,
    and now and then the extreme codes."""
    e = int(rng.integers(1, fmt.width))
    c = rng.integers(-(1 << e), 1 << e, size=shape, dtype=np.int64, endpoint=False)
    if rng.random() < 0.2:
        c.flat[0] = fmt.min_code
        c.flat[-1] = fmt.max_code
    return np.clip(c, fmt.min_code, fmt.max_code)


def _formats(rng: np.random.Generator, max_k: int, bias: bool) -> FormatConfig:
    aw, ww = (int(v) for v in rng.integers(8, 25, size=2))
    af = int(rng.integers(0, aw))
    wf = int(rng.integers(0, ww))
    rnd = [Rounding.TRN, Rounding.RND, Rounding.RND_CONV]
    ovf = [Overflow.WRAP, Overflow.SAT, Overflow.SAT_SYM]
    act = QFormat(aw, af, rounding=rnd[int(rng.integers(3))], overflow=ovf[int(rng.integers(3))])
    weight = QFormat(ww, wf, rounding="RND", overflow="SAT")
    need = FormatConfig(weight=weight, act=act, acc=QFormat(60, af + wf)).acc_bits_needed(
        max_k, bias
    )
    acc = QFormat(need + int(rng.integers(0, 3)), af + wf, rounding="RND", overflow="SAT")
    return FormatConfig(weight=weight, act=act, acc=acc)


def random_case(
    rng: np.random.Generator,
    *,
    max_io: int = 64,
    max_macs: int = 1500,
    max_batch: int = 20,
    name: str = "random",
) -> TTCase:
    """One random case; ``max_io`` bounds ``prod n`` and ``prod m``, ``max_macs`` the MACs of
    one sample."""
    while True:
        d = int(rng.integers(1, 5)) if rng.random() < 0.15 else int(rng.integers(2, 5))
        ins = [int(v) for v in rng.integers(1, 9, size=d)]
        outs = [int(v) for v in rng.integers(1, 9, size=d)]
        ranks = [1] + [int(v) for v in rng.integers(1, 9, size=d - 1)] + [1]
        if math.prod(ins) > max_io or math.prod(outs) > max_io:
            continue
        layer = LayerConfig.tt(
            ins,
            outs,
            ranks,
            bias=bool(rng.random() < 0.4),
            activation="relu" if rng.random() < 0.2 else "none",
        )
        if layer.macs(1) > max_macs:
            continue
        lanes = int(rng.integers(1, 17))
        fmts = _formats(rng, max(layer.contraction_lengths), layer.bias)
        break
    cfg = Config(name=name, layers=(layer,), formats=fmts, hardware=HardwareConfig(lanes=lanes))
    cores = [random_codes(rng, fmts.weight, s) for s in tt_core_shapes(ins, outs, ranks)]
    batch = int(rng.integers(1, max_batch + 1))
    x = random_codes(rng, fmts.act, (batch, layer.in_features))
    bias = random_codes(rng, fmts.act, layer.out_features) if layer.bias else None
    pats = [None, (1, 0), (0, 0, 1), (1, 1, 1, 0), tuple(int(v) for v in rng.integers(0, 2, 7))]
    idle = pats[int(rng.integers(len(pats)))]
    stall = pats[int(rng.integers(len(pats)))]
    if stall is not None and all(stall):
        stall = None
    if idle is not None and all(idle):
        idle = None
    return TTCase(name, cfg, cores, x, bias, idle, stall)


def _case(name, ins, outs, ranks, fmts, lanes, batch, fill, *, bias=False) -> TTCase:
    layer = LayerConfig.tt(ins, outs, ranks, bias=bias)
    cfg = Config(name=name, layers=(layer,), formats=fmts, hardware=HardwareConfig(lanes=lanes))
    shapes = tt_core_shapes(ins, outs, ranks)
    cores = [fill(fmts.weight, s) for s in shapes]
    x = fill(fmts.act, (batch, layer.in_features))
    b = fill(fmts.act, (layer.out_features,)) if bias else None
    return TTCase(name, cfg, cores, x, b)


def edge_cases() -> list[TTCase]:
    """Corner cases: zeros, extreme codes, rank 1, single-mode cores, one core, one lane."""
    f16 = FormatConfig()
    f8 = FormatConfig(
        weight=QFormat(8, 6, rounding="RND", overflow="SAT"),
        act=QFormat(8, 4, rounding="RND_CONV", overflow="SAT_SYM"),
        acc=QFormat(22, 10),
    )

    def zeros(f, s):
        return np.zeros(s, np.int64)

    def maxc(f, s):
        return np.full(s, f.max_code, np.int64)

    def minc(f, s):
        return np.full(s, f.min_code, np.int64)

    def alt(f, s):
        even = np.arange(math.prod(s)).reshape(s) % 2 == 0
        return np.where(even, f.max_code, f.min_code).astype(np.int64)

    def ramp(f, s):
        return (np.arange(math.prod(s), dtype=np.int64).reshape(s) * 37) % 201 - 100

    return [
        _case("zeros", [2, 3], [3, 2], [1, 2, 1], f16, 4, 5, zeros, bias=True),
        _case("max_codes", [2, 3], [2, 2], [1, 3, 1], f16, 2, 3, maxc),
        _case("min_codes", [3, 2], [2, 2], [1, 2, 1], f8, 3, 4, minc, bias=True),
        _case("alternating", [4, 2], [2, 3], [1, 4, 1], f8, 4, 4, alt),
        _case("rank1", [2, 2, 2], [2, 2, 2], [1, 1, 1, 1], f16, 2, 3, ramp),
        _case("single_modes", [1, 5, 1], [3, 1, 1], [1, 2, 3, 1], f8, 2, 3, ramp, bias=True),
        _case("one_core", [6], [5], [1, 1], f8, 3, 7, ramp, bias=True),
        _case("one_lane", [2, 3], [3, 2], [1, 2, 1], f16, 1, 2, ramp),
        _case("lanes_gt_batch", [2, 2], [2, 2], [1, 2, 1], f16, 16, 3, ramp),
        _case("all_ones", [1, 1], [1, 1], [1, 1, 1], f8, 2, 3, ramp, bias=True),
    ]


def _ci(
    name, ins, outs, ranks, act, *, bias, lanes, batch, seed, idle=None, stall=None, relu=False
):
    layer = LayerConfig.tt(ins, outs, ranks, bias=bias, activation="relu" if relu else "none")
    # 3 weight fraction bits: the requantizer drops 3 bits, so a tie is 1 word in 8
    weight = QFormat(10, 3, rounding="RND", overflow="SAT")
    need = FormatConfig(weight=weight, act=act, acc=QFormat(60, act.frac + 3)).acc_bits_needed(
        max(layer.contraction_lengths), bias
    )
    fmts = FormatConfig(weight=weight, act=act, acc=QFormat(need, act.frac + 3))
    cfg = Config(name=name, layers=(layer,), formats=fmts, hardware=HardwareConfig(lanes=lanes))
    rng = np.random.default_rng(seed)
    cores = [random_codes(rng, weight, sh) for sh in tt_core_shapes(ins, outs, ranks)]
    x = random_codes(rng, act, (batch, layer.in_features))
    b = random_codes(rng, act, layer.out_features) if bias else None
    return TTCase(name, cfg, cores, x, b, idle, stall, meta={"seed": seed})


def ci_cases() -> list[TTCase]:
    """The cocotb CI tier: each rounding mode with and without a bias, each overflow mode.

    ``meta["seed"]`` is the cocotb seed of the bench run (cocotb combines it with the test's
    name into the seed the bench draws its data from); each was picked so that every mutant
    of tests/test_cocotb_mutants.py that touches the case changes some of its output words,
    not only the first case the mutation test reaches. ``cores``/``x``/``bias`` are drawn from
    the same seed for the Amaranth-simulator tier.
    """

    def act(w, f, r, o):
        return QFormat(w, f, rounding=r, overflow=o)

    return [
        _ci(
            "ci_trn_wrap_bias",
            [2, 3],
            [3, 2],
            [1, 3, 1],
            act(10, 2, "TRN", "WRAP"),
            bias=True,
            lanes=3,
            batch=7,
            seed=39,
            idle=(1, 0),
            relu=True,
        ),
        _ci(
            "ci_trn_sat",
            [4, 2],
            [2, 3],
            [1, 2, 1],
            act(12, 4, "TRN", "SAT"),
            bias=False,
            lanes=2,
            batch=5,
            seed=28,
            stall=(0, 0, 1),
        ),
        _ci(
            "ci_rnd_sat_bias",
            [2, 2, 2],
            [2, 2, 2],
            [1, 2, 2, 1],
            act(10, 3, "RND", "SAT"),
            bias=True,
            lanes=4,
            batch=6,
            seed=32,
            idle=(0, 0, 1),
            stall=(1, 0),
        ),
        _ci(
            "ci_rnd_wrap",
            [3, 2],
            [2, 2],
            [1, 2, 1],
            act(9, 2, "RND", "WRAP"),
            bias=False,
            lanes=2,
            batch=4,
            seed=20,
        ),
        _ci(
            "ci_conv_satsym_bias",
            [2, 3],
            [2, 3],
            [1, 2, 1],
            act(8, 2, "RND_CONV", "SAT_SYM"),
            bias=True,
            lanes=3,
            batch=6,
            seed=18,
            stall=(1, 1, 0),
        ),
        _ci(
            "ci_conv_wrap",
            [3, 3],
            [2, 2],
            [1, 3, 1],
            act(10, 3, "RND_CONV", "WRAP"),
            bias=False,
            lanes=4,
            batch=5,
            seed=14,
            idle=(0, 1),
        ),
    ]
