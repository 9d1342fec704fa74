"""cocotb bench of the TT engine: every y word vs ``tt_forward_fixed``, every cycle vs the cycle
model (run through :func:`fotrain.sim.cocotb_runner.run_cocotb`; the ``tb_`` prefix keeps
pytest from collecting it). The DUT is the engine wrapped in
:class:`fotrain.sim.probes.IssueCounted`: the issue count reported is the RTL's own counter.

Environment: ``FOTRAIN_CFG`` (one-layer :class:`Config` as JSON), ``NUM_SAMPLES`` (batch size,
default 16), ``NUM_BATCHES`` (back-to-back batches, default 1), ``FOTRAIN_IDLE`` /
``FOTRAIN_STALL`` (JSON 0/1 patterns or ``null``), ``FOTRAIN_FAST=1`` (skip the cycles in which
the cycle model predicts that only the MAC counter moves; the RTL counts its issues during them
and the state after them is checked), ``TB_INJECT_ERROR=1`` (corrupt one expected word: the
bench must fail), ``FOTRAIN_REPORT`` (where the JSON summary goes).
"""

import json
import os
import time

import cocotb
import numpy as np
from cocotb.clock import Clock
from cocotb.triggers import ClockCycles, FallingEdge, RisingEdge

from fotrain.hw.plan import make_plan
from fotrain.sim.cases import random_codes
from fotrain.sim.cycle_model import EngineCycleModel
from fotrain.sim.run import weight_words
from fotrain.sw.config import Config
from fotrain.sw.tt import tt_core_shapes, tt_forward_fixed

from .components import InOrderChecker, StreamMonitor, StreamSink, StreamSource, read_uint

__all__ = ["EngineTB", "engine_random"]


class EngineTB:
    """Sources for ``w`` and ``x``, a sink for ``y``, the cycle model and the checkers."""

    def __init__(self, dut, cfg: Config, *, idle=None, stall=None, fast: bool = False):
        self.dut, self.cfg = dut, cfg
        self.plan = make_plan(cfg)
        f = cfg.formats
        aw = f.act.width
        amask = (1 << aw) - 1
        wmask = (1 << max(f.weight.width, aw if self.plan.bias else 0)) - 1

        def signed(u: int) -> int:
            return u - (1 << aw) if u >> (aw - 1) else u

        self.w = StreamSource(dut, "w", encode=lambda v: v & wmask)
        self.x = StreamSource(dut, "x", idle=idle, encode=lambda b: (b[0] & amask) | (b[1] << aw))
        self.y = StreamSink(
            dut, "y", stall=stall, decode=lambda u: (signed(u & amask), (u >> aw) & 1)
        )
        self.model = EngineCycleModel(cfg)
        self.checker = InOrderChecker("y", dut._log)
        self.x_mon, self.y_mon = StreamMonitor("x"), StreamMonitor("y")
        self.fast = fast
        self.cycle_errors = 0
        self.cycle_reports: list[str] = []
        self.cycles = 0
        self.skipped = 0
        self.sampled_issues = 0  # issue cycles seen by the bench (all of them unless fast)

    async def reset(self) -> None:
        """Hold ``rst`` for two cycles."""
        self.dut.rst.value = 1
        await ClockCycles(self.dut.clk, 2)
        self.dut.rst.value = 0
        await RisingEdge(self.dut.clk)

    def load(self, cores, bias=None) -> None:
        """Queue the cores (and bias) on the ``w`` stream."""
        self.w.send(weight_words(cores, bias))

    def send(self, x: np.ndarray, y_expected: np.ndarray) -> None:
        """Queue one batch and its expected outputs (``last`` on the final code of each)."""
        flat = np.asarray(x, dtype=np.int64).reshape(-1)
        self.x.send((int(v), int(k == flat.size - 1)) for k, v in enumerate(flat))
        ye = np.asarray(y_expected, dtype=np.int64).reshape(-1)
        self.checker.expect((int(v), int(k == ye.size - 1)) for k, v in enumerate(ye))

    def _cycle_error(self, msg: str) -> None:
        self.cycle_errors += 1
        if len(self.cycle_reports) < 10:
            self.cycle_reports.append(msg)
            self.dut._log.error(msg)

    async def run(self, max_cycles: int) -> None:
        """Step the DUT and the model until every expected word arrived (or ``max_cycles``)."""
        dut, model = self.dut, self.model
        names = ("w_ready", "x_ready", "y_valid", "issue", "core", "busy")
        handles = (dut.w__ready, dut.x__ready, dut.y__valid, dut.issue, dut.core, dut.busy)
        while self.checker.pending and self.cycles < max_cycles:
            await FallingEdge(dut.clk)
            if self.fast:
                n = model.quiet_issue_cycles(not self.x.idle, not self.w.idle)
                if n:
                    model.skip_issue(n)
                    self.skipped += n
                    self.cycles += n
                    await ClockCycles(dut.clk, n)
                    continue
            rtl = tuple(read_uint(h) for h in handles)
            wv, xv, yr = self.w.drive(), self.x.drive(), self.y.drive()
            head = self.x.head()
            want = model.step(w_valid=wv, x_valid=xv, x_last=head[1] if xv else 0, y_ready=yr)
            ref = (want.w_ready, want.x_ready, want.y_valid, want.issue, want.core, want.busy)
            if rtl != ref:
                diff = ", ".join(
                    f"{n} rtl {a} model {b}"
                    for n, a, b in zip(names, rtl, ref, strict=True)
                    if a != b
                )
                self._cycle_error(f"cycle {self.cycles}: {diff}")
            self.sampled_issues += rtl[3]
            self.w.commit(rtl[0])
            sent = self.x.commit(rtl[1])
            if sent is not None:
                self.x_mon.record(self.cycles, sent)
            got = self.y.commit(rtl[2])
            if got is not None:
                self.y_mon.record(self.cycles, got)
                self.checker.check(got, f"(cycle {self.cycles})")
            self.cycles += 1


def _pattern(name: str):
    v = json.loads(os.environ.get(name, "null"))
    return tuple(int(b) for b in v) if v else None


@cocotb.test()
async def engine_random(dut):
    """Random cores and inputs for the config in ``FOTRAIN_CFG``; words and cycles checked."""
    cfg = Config.from_json(os.environ["FOTRAIN_CFG"])
    batch = int(os.environ.get("NUM_SAMPLES", "16"))
    batches = int(os.environ.get("NUM_BATCHES", "1"))
    idle, stall = _pattern("FOTRAIN_IDLE"), _pattern("FOTRAIN_STALL")
    tb = EngineTB(dut, cfg, idle=idle, stall=stall, fast=os.environ.get("FOTRAIN_FAST") == "1")
    rng = np.random.default_rng(cocotb.RANDOM_SEED)
    layer, f = cfg.layers[0], cfg.formats
    Clock(dut.clk, 10, unit="ns").start()
    await tb.reset()
    shapes = tt_core_shapes(layer.in_modes, layer.out_modes, layer.ranks)
    cores = [random_codes(rng, f.weight, s) for s in shapes]
    bias = random_codes(rng, f.act, layer.out_features) if layer.bias else None
    tb.load(cores, bias)
    for b in range(batches):
        x = random_codes(rng, f.act, (batch, layer.in_features))
        y = tt_forward_fixed(cores, x, f, bias=bias)
        if tb.plan.activation == "relu":
            y = np.maximum(y, 0)
        if b == 0 and os.environ.get("TB_INJECT_ERROR") == "1":
            y = y.copy()
            y.flat[y.size // 2] ^= 1
        tb.send(x, y)
    slow = 1 + 4 * (idle is not None) + 4 * (stall is not None)
    budget = (batches * tb.plan.batch_cycles(batch) * 2 + 200 * batch) * slow + 10_000
    t0 = time.perf_counter()
    await tb.run(budget)
    wall = time.perf_counter() - t0
    first_x = tb.x_mon.transfers[0][0] if tb.x_mon.count else 0
    last_y = tb.y_mon.transfers[-1][0] if tb.y_mon.count else 0
    report = {
        "words": tb.checker.checked,
        "errors": tb.checker.errors,
        "pending": tb.checker.pending,
        "cycle_errors": tb.cycle_errors,
        "reports": tb.checker.reports + tb.cycle_reports,
        "cycles": tb.cycles,
        "skipped_cycles": tb.skipped,
        "batch_cycles": last_y - first_x + 1,
        "predicted": tb.plan.batch_cycles(batch),
        "issues": read_uint(dut.issue_count),
        "sampled_issues": tb.sampled_issues,
        "model_issues": tb.model.issues,
        "macs": layer.macs(batch) * batches,
        "lanes": cfg.hardware.lanes,
        "wall_s": wall,
        "cycles_per_s": tb.cycles / wall if wall else 0.0,
    }
    with open(os.environ["FOTRAIN_REPORT"], "w", encoding="utf-8") as fh:
        json.dump(report, fh)
    assert tb.checker.errors == 0, tb.checker.reports
    assert tb.checker.pending == 0, f"{tb.checker.pending} words never arrived"
    assert tb.cycle_errors == 0, tb.cycle_reports
