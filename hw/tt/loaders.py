"""The engine's memories and its loaders: the ``w`` and ``x`` streams into block RAM."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib.memory import Memory

from ..plan import EnginePlan
from .state import Control, Memories

__all__ = ["build_input_loader", "build_memories", "build_weight_loader"]


def build_memories(m: Module, plan: EnginePlan) -> Memories:
    """X, the used ping-pong buffers (all lanes side by side in one word), weights and bias."""
    aw = plan.cfg.formats.act.width
    word = unsigned(plan.lanes * aw)
    m.submodules.xmem = xmem = Memory(shape=word, depth=plan.n_in, init=[])
    p_wr, p_rd = {}, {}
    for b in (0, 1):
        if plan.depth(b):
            mem = Memory(shape=word, depth=plan.depth(b), init=[])
            m.submodules[f"p{b}mem"] = mem
            p_wr[b], p_rd[b] = mem.write_port(), mem.read_port()
    wmem = Memory(shape=signed(plan.cfg.formats.weight.width), depth=plan.weight_entries, init=[])
    m.submodules.wmem = wmem
    b_wr = b_rd = None
    if plan.bias:
        m.submodules.bmem = bmem = Memory(shape=signed(aw), depth=plan.n_out, init=[])
        b_wr, b_rd = bmem.write_port(), bmem.read_port()
    return Memories(
        x_wr=xmem.write_port(granularity=aw),
        x_rd=xmem.read_port(),
        p_wr=p_wr,
        p_rd=p_rd,
        w_wr=wmem.write_port(),
        w_rd=wmem.read_port(),
        b_wr=b_wr,
        b_rd=b_rd,
    )


def build_weight_loader(m: Module, plan: EnginePlan, ctl: Control, mems: Memories, w) -> None:
    """``w`` stream -> weight RAM, then bias RAM; the address wraps after the last entry.

    Ready only while idle, and not while a loaded group waits unless a load is half done (so a
    group never starts on half-written weights and a started load always completes).
    """
    n_w = plan.weight_entries
    n_tot = n_w + (plan.n_out if plan.bias else 0)
    w_addr = Signal(range(max(n_tot, 2)), name="w_addr")
    m.d.comb += w.ready.eq(ctl.idle & (~ctl.x_full | ctl.w_mid))
    fire = w.valid & w.ready
    m.d.comb += [
        mems.w_wr.addr.eq(w_addr),
        mems.w_wr.data.eq(w.payload),
        mems.w_wr.en.eq(fire & (w_addr < n_w)),
    ]
    if plan.bias:
        m.d.comb += [
            mems.b_wr.addr.eq(w_addr - n_w),
            mems.b_wr.data.eq(w.payload),
            mems.b_wr.en.eq(fire & (w_addr >= n_w)),
        ]
    with m.If(fire):
        wrap = w_addr == n_tot - 1
        # w_mid == (w_addr != 0), kept as a register because it gates the start of core 0
        m.d.sync += [w_addr.eq(Mux(wrap, 0, w_addr + 1)), ctl.w_mid.eq(~wrap)]


def build_input_loader(m: Module, plan: EnginePlan, ctl: Control, mems: Memories, x) -> None:
    """``x`` stream -> X: code ``x[b, j]`` to entry ``j`` of lane ``b mod L``.

    A group closes after ``L`` samples or on ``last`` at a sample's final code; X is freed at
    the end of core 0's flush (core 0 is the only reader of X).
    """
    n_in, lanes = plan.n_in, plan.lanes
    x_j = Signal(range(max(n_in, 2)), name="x_j")
    x_l = Signal(range(max(lanes, 2)), name="x_l")
    m.d.comb += x.ready.eq(~ctl.x_full)
    fire = x.valid & x.ready
    m.d.comb += [
        mems.x_wr.addr.eq(x_j),
        mems.x_wr.data.eq(Cat(*[x.payload.data] * lanes)),
        mems.x_wr.en.eq(Mux(fire, Const(1, lanes) << x_l, 0)),
    ]
    with m.If(fire):
        with m.If(x_j == n_in - 1):
            m.d.sync += x_j.eq(0)
            with m.If((x_l == lanes - 1) | x.payload.last):
                m.d.sync += [
                    ctl.x_full.eq(1),
                    ctl.ld_lanes.eq(x_l + 1),
                    ctl.ld_last.eq(x.payload.last),
                    x_l.eq(0),
                ]
            with m.Else():
                m.d.sync += x_l.eq(x_l + 1)
        with m.Else():
            m.d.sync += x_j.eq(x_j + 1)
    with m.If(ctl.flush_end & (ctl.core == 0)):
        m.d.sync += ctl.x_full.eq(0)


# -- sequencer -------------------------------------------------------------------------------------
