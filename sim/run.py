"""RTL twins of the golden functions: same arguments, same ndarray result, run in amaranth.sim.

Contract: ``rtl_tt_forward(cores, x, formats, *, bias=None)`` returns what
``fotrain.sw.tt.tt_forward_fixed(cores, x, formats, bias=bias)`` returns (shape ``(B, prod m)``,
``int64`` codes), and ``rtl_perturb_words(seed, beats, bits_per_cycle, width)`` what
``fotrain.sw.perturb.perturb_words`` returns (``uint64``). The stress knobs are keyword-only:
``idle`` (input gaps) and ``stall`` (output backpressure) patterns as in
:mod:`fotrain.sim.streams`, and ``lanes`` for the engine width. A test is one
``assert_array_equal``. ``rtl_tt_run`` also returns the cycle counts.
"""

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from fotrain.sw.config import Config, FormatConfig, HardwareConfig, LayerConfig
from fotrain.sw.errors import FotrainError
from fotrain.sw.tt import check_cores

from .streams import stream_drain, stream_send

__all__ = [
    "Lockstep",
    "TTRun",
    "check_codes",
    "engine_config",
    "rtl_perturb_words",
    "rtl_tt_forward",
    "rtl_tt_lockstep",
    "rtl_tt_run",
    "weight_words",
    "x_beats",
]

_CLOCK = 1e-6


def engine_config(
    cores: Sequence[npt.ArrayLike],
    formats: Config | FormatConfig,
    *,
    bias: bool = False,
    lanes: int | None = None,
    activation: str = "none",
) -> Config:
    """The one-layer :class:`Config` that describes ``cores`` with these formats and lanes."""
    ins, outs, ranks = check_cores(cores)
    if isinstance(formats, Config):
        fmts, hw = formats.formats, formats.hardware
    else:
        fmts, hw = formats, HardwareConfig()
    if lanes is not None:
        hw = HardwareConfig(**{**hw.to_dict(), "lanes": lanes})
    layer = LayerConfig.tt(ins, outs, ranks, bias=bias, activation=activation)
    return Config(name="rtl", layers=(layer,), formats=fmts, hardware=hw)


def check_codes(
    cfg: Config, cores: Sequence[npt.ArrayLike], x: npt.ArrayLike, bias: npt.ArrayLike | None
) -> None:
    """Raise :class:`FotrainError` unless every code fits the port it is streamed into."""
    f = cfg.formats
    items = [(f"cores[{k}]", g, f.weight) for k, g in enumerate(cores)]
    items += [("x", x, f.act)] + ([("bias", bias, f.act)] if bias is not None else [])
    for what, codes, fmt in items:
        c = np.asarray(codes, dtype=np.int64)
        lo, hi = -(1 << (fmt.width - 1)), (1 << (fmt.width - 1)) - 1
        if c.size and (c.min() < lo or c.max() > hi):
            raise FotrainError(
                f"{what}: codes {c.min()}..{c.max()} do not fit {fmt.width} bits ({fmt})"
            )


def weight_words(cores: Sequence[npt.ArrayLike], bias: npt.ArrayLike | None = None) -> list[int]:
    """Payloads of the engine's ``w`` stream: every core in C order, then the bias codes."""
    words = [int(v) for g in cores for v in np.asarray(g, dtype=np.int64).reshape(-1)]
    if bias is not None:
        words += [int(v) for v in np.asarray(bias, dtype=np.int64).reshape(-1)]
    return words


def x_beats(x: npt.ArrayLike) -> list[dict[str, int]]:
    """Payloads of the engine's ``x`` stream: row-major codes, ``last`` on the final one."""
    flat = np.asarray(x, dtype=np.int64).reshape(-1)
    return [{"data": int(v), "last": int(k == flat.size - 1)} for k, v in enumerate(flat)]


@dataclass
class TTRun:
    """Result of :func:`rtl_tt_run`."""

    y: npt.NDArray[np.int64]
    cycles: int  #: first x transfer to last y transfer, inclusive
    issue_cycles: int  #: cycles with a MAC issue (``-1`` when not counted)


def rtl_tt_run(
    cores: Sequence[npt.ArrayLike],
    x: npt.ArrayLike,
    formats: Config | FormatConfig,
    *,
    bias: npt.ArrayLike | None = None,
    lanes: int | None = None,
    activation: str = "none",
    idle=None,
    stall=None,
    count_issues: bool = False,
    vcd: str | None = None,
) -> TTRun:
    """Simulate :class:`~fotrain.hw.tt.TTEngine` on ``x`` and return outputs and cycle counts."""
    from amaranth.sim import Simulator

    from fotrain.hw.tt import TTEngine

    x = np.asarray(x, dtype=np.int64)
    cfg = engine_config(cores, formats, bias=bias is not None, lanes=lanes, activation=activation)
    if x.ndim != 2 or x.shape[1] != cfg.in_features or x.shape[0] < 1:
        raise FotrainError(f"x: shape {x.shape} does not match (batch >= 1, {cfg.in_features})")
    check_codes(cfg, cores, x, bias)
    dut = TTEngine.from_config(cfg)
    plan = dut.plan
    count = x.shape[0] * cfg.out_features
    result: dict[str, Any] = {}  # filled by the testbenches: y, x_ticks, y_ticks, issues

    async def feed(ctx):
        w_ticks = await stream_send(ctx, dut.w, weight_words(cores, bias))
        offset = w_ticks[-1] + 1  # stream_send counts from its own start
        ticks = await stream_send(ctx, dut.x, x_beats(x), idle=idle)
        result["x_ticks"] = [t + offset for t in ticks]

    async def drain(ctx):
        got, ticks = await stream_drain(ctx, dut.y, count, stall=stall)
        result["y"] = got
        result["y_ticks"] = ticks

    async def issues(ctx):
        n = 0
        while "y" not in result:
            *_, issue = await ctx.tick().sample(dut.issue)
            n += issue
        result["issues"] = n

    sim = Simulator(dut)
    sim.add_clock(_CLOCK)
    sim.add_testbench(feed)
    sim.add_testbench(drain)
    if count_issues:
        sim.add_testbench(issues, background=True)
    slow = 1 + 4 * (any(pattern_list(idle)) + any(pattern_list(stall)))
    budget = (
        plan.batch_cycles(x.shape[0])
        + len(weight_words(cores, bias))
        + (cfg.in_features + cfg.out_features) * x.shape[0]
    ) * 2 * slow + 1000
    if vcd:
        with sim.write_vcd(vcd):
            sim.run_until(budget * _CLOCK)
    else:
        sim.run_until(budget * _CLOCK)
    if "y" not in result:
        raise RuntimeError(f"rtl_tt_run: engine produced no complete output in {budget} cycles")
    got = result["y"]
    y = np.array([p.data for p in got], dtype=np.int64).reshape(x.shape[0], cfg.out_features)
    lasts = [int(p.last) for p in got]
    if lasts != [0] * (count - 1) + [1]:
        raise RuntimeError("rtl_tt_run: y.last is not set on exactly the final beat")
    x_ticks, y_ticks = result["x_ticks"], result["y_ticks"]
    return TTRun(
        y=y, cycles=y_ticks[-1] - x_ticks[0] + 1, issue_cycles=int(result.get("issues", -1))
    )


def pattern_list(spec) -> list[int]:
    """First 64 entries of an idle/stall pattern as ints (for sizing the time budget)."""
    if spec is None:
        return []
    if isinstance(spec, (list, tuple)):
        return [int(bool(v)) for v in spec]
    return [1]  # an arbitrary iterator: assume it stalls


def rtl_tt_forward(
    cores: Sequence[npt.ArrayLike],
    x: npt.ArrayLike,
    formats: Config | FormatConfig,
    *,
    bias: npt.ArrayLike | None = None,
    lanes: int | None = None,
    activation: str = "none",
    idle=None,
    stall=None,
) -> npt.NDArray[np.int64]:
    """Twin of ``tt_forward_fixed``: the engine's ``y`` codes, shape ``(B, prod m)``."""
    return rtl_tt_run(
        cores, x, formats, bias=bias, lanes=lanes, activation=activation, idle=idle, stall=stall
    ).y


@dataclass
class Lockstep:
    """Result of :func:`rtl_tt_lockstep`."""

    y: npt.NDArray[np.int64]
    cycles: int  #: cycles simulated until the last y transfer (inclusive)
    issues: int  #: MAC issue cycles seen
    mismatches: list[str]  #: first differences between the RTL and the cycle model


def rtl_tt_lockstep(
    cores: Sequence[npt.ArrayLike],
    x: npt.ArrayLike,
    formats: Config | FormatConfig,
    *,
    bias: npt.ArrayLike | None = None,
    lanes: int | None = None,
    activation: str = "none",
    idle=None,
    stall=None,
    max_mismatches: int = 10,
) -> Lockstep:
    """Drive the engine cycle by cycle and compare every handshake with the cycle model.

    Weights and inputs are offered from cycle 0 (``x`` with ``idle`` gaps before beats, held
    valid until taken); ``y.ready`` follows ``stall``. Every cycle, ``w.ready``, ``x.ready``,
    ``y.valid``, ``y.last``, ``issue``, ``core`` and ``busy`` are compared with
    :class:`~fotrain.sim.cycle_model.EngineCycleModel`.
    """
    from amaranth.sim import Simulator

    from fotrain.hw.tt import TTEngine

    from .cycle_model import EngineCycleModel
    from .streams import pattern

    x = np.asarray(x, dtype=np.int64)
    cfg = engine_config(cores, formats, bias=bias is not None, lanes=lanes, activation=activation)
    check_codes(cfg, cores, x, bias)
    dut = TTEngine.from_config(cfg)
    model = EngineCycleModel(dut.plan)
    w_words, xs = weight_words(cores, bias), x_beats(x)
    count = x.shape[0] * cfg.out_features
    gaps, holds = pattern(idle), pattern(stall)
    res = Lockstep(y=np.zeros(0, np.int64), cycles=0, issues=0, mismatches=[])
    names = ("w_ready", "x_ready", "y_valid", "y_last", "issue", "core", "busy")
    limit = (
        4
        * dut.plan.batch_cycles(x.shape[0])
        * (1 + 4 * (idle is not None) + 4 * (stall is not None))
        + 10_000
    )

    async def bench(ctx):
        wi = xi = 0
        presenting = False
        got = []
        cycle = 0
        while len(got) < count and cycle < limit:
            wv = int(wi < len(w_words))
            if wv:
                ctx.set(dut.w.payload, w_words[wi])
            ctx.set(dut.w.valid, wv)
            if not presenting and xi < len(xs):
                presenting = not next(gaps)
            xv = int(presenting)
            if xv:
                ctx.set(dut.x.payload, xs[xi])
            ctx.set(dut.x.valid, xv)
            yr = int(not next(holds))
            ctx.set(dut.y.ready, yr)
            rtl = (
                ctx.get(dut.w.ready),
                ctx.get(dut.x.ready),
                ctx.get(dut.y.valid),
                ctx.get(dut.y.payload.last),
                ctx.get(dut.issue),
                ctx.get(dut.core),
                ctx.get(dut.busy),
            )
            want = model.step(
                w_valid=wv, x_valid=xv, x_last=xs[xi]["last"] if xv else 0, y_ready=yr
            )
            ref = tuple(getattr(want, n) for n in names)
            if rtl != ref and len(res.mismatches) < max_mismatches:
                diff = ", ".join(
                    f"{n} rtl {a} model {b}"
                    for n, a, b in zip(names, rtl, ref, strict=True)
                    if a != b
                )
                res.mismatches.append(f"cycle {cycle}: {diff}")
            res.issues += rtl[4]
            if wv and rtl[0]:
                wi += 1
            if xv and rtl[1]:
                xi += 1
                presenting = False
            if rtl[2] and yr:
                got.append(ctx.get(dut.y.payload.data))
            await ctx.tick()
            cycle += 1
        res.cycles = cycle
        res.y = np.array(got, dtype=np.int64)

    sim = Simulator(dut)
    sim.add_clock(_CLOCK)
    sim.add_testbench(bench)
    sim.run()
    if res.y.size != count:
        res.mismatches.append(f"only {res.y.size} of {count} outputs in {limit} cycles")
    else:
        res.y = res.y.reshape(x.shape[0], cfg.out_features)
    return res


def rtl_perturb_words(
    seed: int, beats: int, bits_per_cycle: int, width: int = 32, *, stall=None
) -> npt.NDArray[np.uint64]:
    """Twin of ``perturb_words``: the first ``beats`` payloads of :class:`PerturbGen`."""
    from amaranth.sim import Simulator

    from fotrain.hw.perturb import PerturbGen

    if not 0 < int(seed) < (1 << width):
        raise FotrainError(f"seed: {seed} must be non-zero and fit {width} bits")
    dut = PerturbGen(width, bits_per_cycle)
    out: list[int] = []

    async def bench(ctx):
        ctx.set(dut.seed, seed)
        ctx.set(dut.load, 1)
        await ctx.tick()
        ctx.set(dut.load, 0)
        ctx.set(dut.en, 1)
        got, _ = await stream_drain(ctx, dut.bits, beats, stall=stall)
        out.extend(int(v) for v in got)

    sim = Simulator(dut)
    sim.add_clock(_CLOCK)
    sim.add_testbench(bench)
    sim.run()
    return np.array(out, dtype=np.uint64)
