"""The output drain: the y buffer to the ``y`` stream, honouring ``ready``."""

from amaranth.hdl import Module, Mux, Signal, signed

from ..plan import EnginePlan
from .state import Control, Counters, Memories, drain_tag_layout

__all__ = ["build_drain", "build_drain_counter"]


def build_drain(
    m: Module, plan: EnginePlan, ctl: Control, cnt: Counters, mems: Memories, y
) -> None:
    """Y buffer lane ``l``, entries ``0..n_out-1``, for ``l`` in ``0..lanes-1``, onto ``y``.

    Three stages advance together on ``~y.valid | y.ready``: RAM data (``d1``), word register
    (``q``, so RAM clock-to-out never meets the lane mux) and payload register (``ytag``). The
    drain starts at the end of the last core's flush and owns the y buffer's read port while
    ``d_busy``; otherwise the MAC pipeline reads it at ``t_addr``.
    """
    aw, lanes = plan.cfg.formats.act.width, plan.lanes
    layout = drain_tag_layout(plan)
    d1, q, ytag = (Signal(layout, name=n) for n in ("d1", "q", "ytag"))
    q_word = Signal(lanes * aw, name="q_word")
    y_data = Signal(signed(aw), name="y_data")
    advance = ~y.valid | y.ready
    d_i, next_tag = build_drain_counter(m, plan, ctl, advance)
    rd = mems.p_rd[plan.y_buffer]
    m.d.comb += [rd.addr.eq(Mux(ctl.d_busy, d_i, cnt.t_addr)), rd.en.eq(~ctl.d_busy | advance)]
    m.d.comb += [y.valid.eq(ytag.valid), y.payload.data.eq(y_data), y.payload.last.eq(ytag.last)]
    with m.If(advance):
        m.d.sync += [
            ytag.eq(q),
            y_data.eq(q_word.word_select(q.lane, aw)),
            q.eq(d1),
            q_word.eq(rd.data),
        ]
        with m.If(next_tag.valid):
            m.d.sync += d1.eq(next_tag)
        with m.Else():  # the other fields hold: y.payload.last shows the last code's flag
            m.d.sync += d1.valid.eq(0)
    with m.If(y.valid & y.ready & ytag.fin):
        m.d.sync += ctl.d_busy.eq(0)
    with m.If(ctl.flush_end & (ctl.core == plan.n_cores - 1)):
        m.d.sync += ctl.d_busy.eq(1)


def build_drain_counter(m: Module, plan: EnginePlan, ctl: Control, advance):
    """Entry ``d_i`` of lane ``d_l`` for the RAM read, stepping when the drain advances.

    Returns ``(d_i, tag)``: the read address and the drain tag of the entry being read; ``valid``
    is low while no group is being drained (after its ``c_lanes`` lanes have been read).
    """
    lanes, n_out = plan.lanes, plan.n_out
    d_active = Signal(name="d_active")
    d_l = Signal(range(max(lanes, 2)), name="d_l")
    d_i = Signal(range(max(n_out, 2)), name="d_i")
    d_lanes = Signal(range(lanes + 1), name="d_lanes")
    d_last = Signal(name="d_last")
    tag = Signal(drain_tag_layout(plan), name="d0")
    fin = (d_l == d_lanes - 1) & (d_i == n_out - 1)
    m.d.comb += [
        tag.valid.eq(d_active),
        tag.fin.eq(fin),
        tag.last.eq(fin & d_last),
        tag.lane.eq(d_l),
    ]
    with m.If(advance & d_active):
        with m.If(d_i == n_out - 1):
            m.d.sync += d_i.eq(0)
            with m.If(d_l == d_lanes - 1):
                m.d.sync += d_active.eq(0)
            with m.Else():
                m.d.sync += d_l.eq(d_l + 1)
        with m.Else():
            m.d.sync += d_i.eq(d_i + 1)
    with m.If(ctl.flush_end & (ctl.core == plan.n_cores - 1)):
        m.d.sync += [
            d_active.eq(1),
            d_l.eq(0),
            d_i.eq(0),
            d_lanes.eq(ctl.c_lanes),
            d_last.eq(ctl.c_last),
        ]
    return d_i, tag
