"""The MAC pipeline: operand reads, one multiplier per lane, the accumulators and one
:class:`~fotrain.hw.requantize.Requantize` per lane writing back to the activation buffer."""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed

from ..plan import EnginePlan
from ..requantize import Requantize
from .state import Control, Counters, Memories, Phase, mac_tag_layout, stage

__all__ = ["build_mac", "build_multiply_accumulate", "build_operands", "build_write_back"]


def build_mac(
    m: Module, plan: EnginePlan, ctl: Control, params, cnt: Counters, mems: Memories
) -> None:
    """Issue -> read -> operands -> product -> accumulate -> requantize -> buffer write."""
    tag2, opa, opb = build_operands(m, plan, ctl, params, cnt, mems)
    tag4, acc = build_multiply_accumulate(m, plan, params, tag2, opa, opb)
    build_write_back(m, plan, params, tag4, acc, mems)


def build_operands(m: Module, plan: EnginePlan, ctl: Control, p, n: Counters, mems: Memories):
    """S0 addresses; S1 RAM data registered; S1b source mux into the operand registers.

    The RAM data is registered as it leaves the RAMs (the block RAM's output register) because
    RAM clock-to-out plus routing alone leaves no time for the mux in the same cycle. Returns the
    tag and operands at S2: ``(tag2, opa per lane, opb)``.
    """
    aw, lanes = plan.cfg.formats.act.width, plan.lanes
    m.d.comb += [mems.x_rd.addr.eq(n.t_addr), mems.w_rd.addr.eq(n.g_addr)]
    m.d.comb += [pr.addr.eq(n.t_addr) for b, pr in mems.p_rd.items() if b != plan.y_buffer]
    if plan.bias:
        m.d.comb += mems.b_rd.addr.eq(n.out_addr)
    tag0 = Signal(mac_tag_layout(plan), name="tag0")
    m.d.comb += [
        tag0.valid.eq(ctl.phase == Phase.ISSUE),
        tag0.first.eq(n.kk == 0),
        tag0.last.eq(n.kk == p.km1),
        tag0.addr.eq(n.out_addr),
    ]
    # S1
    tag1 = stage(m, tag0, "tag1")
    xq, wq = Signal(lanes * aw, name="xq"), Signal(signed(len(mems.w_rd.data)), name="wq")
    pq = {b: Signal(lanes * aw, name=f"p{b}q") for b in mems.p_rd}
    m.d.sync += [xq.eq(mems.x_rd.data), wq.eq(mems.w_rd.data)]
    m.d.sync += [pq[b].eq(pr.data) for b, pr in mems.p_rd.items()]
    # S1b
    tag1b = stage(m, tag1, "tag1b", **({"bias": mems.b_rd.data} if plan.bias else {}))
    src_word = Signal(lanes * aw, name="src_word")
    with m.Switch(p.src):
        for b in pq:
            with m.Case(b + 1):
                m.d.comb += src_word.eq(pq[b])
        with m.Default():  # 0: the input buffer X
            m.d.comb += src_word.eq(xq)
    opa = [Signal(signed(aw), name=f"opa{lane}") for lane in range(lanes)]
    opb = Signal(signed(len(wq)), name="opb")
    m.d.sync += opb.eq(wq)
    m.d.sync += [opa[lane].eq(src_word.word_select(lane, aw)) for lane in range(lanes)]
    return stage(m, tag1b, "tag2"), opa, opb


def build_multiply_accumulate(m: Module, plan: EnginePlan, p, tag2, opa, opb):
    """S2 products, one multiplier per lane; S3 exact accumulation.

    The accumulator restarts on a sum's first term, from the bias aligned by ``weight.frac`` on
    the last core; ``plan.acc_bits`` holds every exact sum (the config guarantees it). Returns
    ``(tag4, acc per lane)`` where ``tag4.valid`` marks a finished sum.
    """
    aw, fw = plan.cfg.formats.act.width, plan.cfg.formats.weight
    prod = [Signal(signed(aw + len(opb)), name=f"prod{lane}") for lane in range(plan.lanes)]
    m.d.sync += [prod[lane].eq(opa[lane] * opb) for lane in range(plan.lanes)]
    tag3 = stage(m, tag2, "tag3")
    start = Mux(p.is_last, tag3.bias << fw.frac, 0) if plan.bias else Const(0)
    acc = [Signal(signed(plan.acc_bits), name=f"acc{lane}") for lane in range(plan.lanes)]
    m.d.sync += [
        acc[lane].eq(Mux(tag3.first, start, acc[lane]) + prod[lane]) for lane in range(plan.lanes)
    ]
    return stage(m, tag3, "tag4", valid=tag3.valid & tag3.last), acc


def build_write_back(m: Module, plan: EnginePlan, p, tag4, acc, mems: Memories) -> None:
    """S4-S5 :class:`Requantize` per lane (ReLU on the last core); S6 the buffer write."""
    f = plan.cfg.formats
    relu = plan.activation == "relu"
    codes = []
    for lane in range(plan.lanes):
        rq = Requantize(f.acc, f.act, width=plan.acc_bits, relu=relu)
        m.submodules[f"rq{lane}"] = rq
        m.d.comb += rq.acc.eq(acc[lane])
        if relu:
            m.d.comb += rq.relu.eq(p.is_last)
        codes.append(rq.code)
    tag = tag4
    for s in range(Requantize.LATENCY):  # the tag keeps pace with the requantizer
        tag = stage(m, tag, f"tag{5 + s}")
    for b, pw in mems.p_wr.items():
        m.d.comb += [
            pw.addr.eq(tag.addr),
            pw.data.eq(Cat(*codes)),
            pw.en.eq(tag.valid & (p.dst == b)),
        ]


# -- output drain ----------------------------------------------------------------------------------
