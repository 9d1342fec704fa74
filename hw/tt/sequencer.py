"""The sequencer: a three-state machine (WAIT, ISSUE, FLUSH) stepping the loop nest of
:mod:`fotrain.hw.plan`, one MAC issue per cycle."""

from amaranth.hdl import Const, Module, Signal

from ..plan import FLUSH_CYCLES, EnginePlan
from .state import Control, Counters, Phase, core_param_layout

__all__ = ["build_sequencer", "flush_step", "issue_step", "start_core"]


def build_sequencer(m: Module, plan: EnginePlan, ctl: Control):
    """The WAIT -> ISSUE -> FLUSH machine over the cores; returns ``(params, counters)``."""
    params = Signal(core_param_layout(plan), name="params")
    cnt = Counters.create(plan)
    with m.Switch(ctl.phase):
        with m.Case(Phase.WAIT):
            start_core(m, plan, ctl, params, cnt)
        with m.Case(Phase.ISSUE):
            issue_step(m, ctl, params, cnt)
        with m.Case(Phase.FLUSH):
            flush_step(m, plan, ctl)
        with m.Default():  # unreachable state code: recover to waiting (and a full case)
            m.d.sync += ctl.phase.eq(Phase.WAIT)
    return params, cnt


def start_core(m: Module, plan: EnginePlan, ctl: Control, params, cnt: Counters) -> None:
    """WAIT: start core ``core`` when it may, loading its constants and restarting the counters.

    A core that writes the y buffer waits while the drain still reads it; core 0 also waits for
    a loaded group and for no weight load to be half done.
    """
    layout = core_param_layout(plan)
    d = plan.n_cores
    for k, c in enumerate(plan.cores):
        may_write = ~ctl.d_busy if c.dst == plan.y_buffer else Const(1)
        go = may_write & (ctl.x_full & ~ctl.w_mid if k == 0 else Const(1))
        with m.If((ctl.core == k) & go):
            m.d.sync += [
                ctl.phase.eq(Phase.ISSUE),
                params.eq(
                    layout.const(
                        {
                            "km1": c.K - 1,
                            "r1m1": c.r1 - 1,
                            "mm1": c.m - 1,
                            "rm1": c.R - 1,
                            "r": c.R,
                            "mstride": c.M,
                            "m": c.m,
                            "rm": c.R * c.m,
                            "gbase": c.g_base,
                            "src": c.src + 1,
                            "dst": c.dst,
                            "is_last": int(k == d - 1),
                        }
                    )
                ),
            ]
            m.d.sync += cnt.restart(c)
            if k == 0:
                m.d.sync += [ctl.c_lanes.eq(ctl.ld_lanes), ctl.c_last.eq(ctl.ld_last)]


def issue_step(m: Module, ctl: Control, p, n: Counters) -> None:
    """ISSUE: advance the loop nest ``col > i > a > kk`` by one MAC; FLUSH after the last.

    ``kk`` steps the input by ``R`` and the weight by ``M``; a new ``a`` or ``i`` moves to the
    next weight column (``o_base + 1``) and output, a new ``col`` restarts the weights at the
    core's base and the output at ``colm + m``.
    """
    with m.If(n.kk != p.km1):
        m.d.sync += [
            n.kk.eq(n.kk + 1),
            n.t_addr.eq(n.t_addr + p.r),
            n.g_addr.eq(n.g_addr + p.mstride),
        ]
    with m.Else():
        m.d.sync += n.kk.eq(0)
        with m.If(n.a != p.r1m1):
            m.d.sync += [
                n.a.eq(n.a + 1),
                n.o_base.eq(n.o_base + 1),
                n.g_addr.eq(n.o_base + 1),
                n.t_addr.eq(n.col),
                n.out_addr.eq(n.out_addr + p.rm),
            ]
        with m.Elif(n.i != p.mm1):
            m.d.sync += [
                n.a.eq(0),
                n.i.eq(n.i + 1),
                n.o_base.eq(n.o_base + 1),
                n.g_addr.eq(n.o_base + 1),
                n.t_addr.eq(n.col),
                n.ci.eq(n.ci + 1),
                n.out_addr.eq(n.ci + 1),
            ]
        with m.Elif(n.col != p.rm1):
            m.d.sync += [
                n.a.eq(0),
                n.i.eq(0),
                n.col.eq(n.col + 1),
                n.o_base.eq(p.gbase),
                n.g_addr.eq(p.gbase),
                n.t_addr.eq(n.col + 1),
                n.colm.eq(n.colm + p.m),
                n.ci.eq(n.colm + p.m),
                n.out_addr.eq(n.colm + p.m),
            ]
        with m.Else():
            m.d.sync += [ctl.phase.eq(Phase.FLUSH), ctl.fcnt.eq(0)]


def flush_step(m: Module, plan: EnginePlan, ctl: Control) -> None:
    """FLUSH: count ``FLUSH_CYCLES`` cycles, then wait in front of the next core."""
    m.d.sync += ctl.fcnt.eq(ctl.fcnt + 1)
    with m.If(ctl.fcnt == FLUSH_CYCLES - 1):
        m.d.sync += ctl.phase.eq(Phase.WAIT)
        with m.If(ctl.core == plan.n_cores - 1):
            m.d.sync += ctl.core.eq(0)
        with m.Else():
            m.d.sync += ctl.core.eq(ctl.core + 1)


# -- MAC pipeline ----------------------------------------------------------------------------------
