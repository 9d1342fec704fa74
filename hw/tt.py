"""TT-matrix layer engine: ``y = x @ W.T (+ bias)`` on fixed-point codes, W held as TT cores.

Mirrors :func:`fotrain.sw.tt.tt_forward_fixed` bit for bit (same contraction order, exact integer
accumulation, one requantization to ``formats.act`` after every core, bias aligned by
``weight.frac`` into the last core's accumulator), optionally followed by a fused ReLU.

The engine is elaborated in five parts, each a function of this module: the memories, the
loaders (``w`` and ``x`` streams into RAM), the sequencer (a three-state machine stepping the
loop nest of :mod:`fotrain.hw.plan`), the MAC pipeline (operand reads, one multiplier per lane,
the accumulators and one :class:`~fotrain.hw.requantize.Requantize` per lane) and the output
drain (y buffer to the ``y`` stream). Signals that more than one part reads live in
:class:`Control`.
"""

from dataclasses import dataclass

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import data, enum, stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from fotrain.sw.config import Config

from .layouts import act_stream_layout, weight_stream_shape
from .plan import FLUSH_CYCLES, CorePlan, EnginePlan, make_plan
from .requantize import Requantize

__all__ = ["Phase", "TTEngine", "core_param_layout", "drain_tag_layout", "mac_tag_layout"]


class Phase(enum.Enum, shape=2):
    """State of the contraction sequencer (an enum shape, so waveforms show the names)."""

    #: Between cores: waits until core ``core`` may start (see :func:`start_core`).
    WAIT = 0
    #: One MAC issue per cycle, ``R M K`` cycles.
    ISSUE = 1
    #: ``FLUSH_CYCLES`` cycles for the pipeline to write the core's last results.
    FLUSH = 2


def _engine_plan(source: EnginePlan | Config, layer: int, activation: str | None) -> EnginePlan:
    """The plan of ``source``: a plan as given, or :func:`make_plan` of a config."""
    if isinstance(source, EnginePlan):
        if layer != 0 or activation is not None:
            raise TypeError("TTEngine: layer and activation come from the plan; pass them to "
                            "make_plan or from_config instead")
        return source
    return make_plan(source, layer, activation=activation)


class TTEngine(wiring.Component):
    """Multiply a batch by a TT-matrix, one core per pass, ``L`` samples in parallel lanes.

    Computation (``sw/tt.py`` convention, core ``G_k`` of shape ``(r_{k-1}, n_k, m_k, r_k)``)::

        t_k[a_k, j_{k+1}..j_d, i_1..i_k] = rq( sum_{a_{k-1}, j_k} G_k[a_{k-1}, j_k, i_k, a_k]
                                                * t_{k-1}[a_{k-1}, j_k..j_d, i_1..i_{k-1}] )

    per sample, ``t_0 = x[b]``, ``rq`` = requantize ``formats.acc -> formats.act``; on the last
    core ``bias[i] << weight.frac`` joins the accumulator before ``rq``, then the optional ReLU;
    ``y[b, i] = t_d[0, i]``. Lanes run samples ``g*L .. g*L + L - 1`` (group ``g``) in lockstep,
    sharing each weight read; every lane does one exact MAC per issue cycle.

    Parameters
    ----------
    source : EnginePlan or Config
        The plan to build (:func:`~fotrain.hw.plan.make_plan`), or a config whose layer
        ``layer`` is planned here with ``activation`` (default: the layer's own); a layer the
        engine cannot build raises :class:`~fotrain.sw.errors.ConfigError`.

    Members
    -------
    w : ``In(stream.Signature(signed(max(weight.width, act.width if bias))))``
        Core entries (cores in order, each in C order of its shape), then ``out_features`` bias
        codes if the layer has a bias; the write address wraps after the last entry. Accepted
        only between groups (``ready`` is low while a group is being contracted); load before
        streaming ``x``.
    x : ``In(stream.Signature(StructLayout({"data": act, "last": 1})))``
        Row-major ``x[b, j]``, one code per beat; ``last`` on the final code of the batch
        (honoured only on a sample's last code) closes a partial group.
    y : ``Out(stream.Signature(StructLayout({"data": act, "last": 1})))``
        Row-major ``y[b, i]``, ``last`` on the batch's final code. ``valid`` never waits for
        ``ready``; any backpressure pattern is tolerated (the drain stalls, the MACs do not).
    busy, issue, core : ``Out(1)``, ``Out(1)``, ``Out(range(max(d, 2)))``
        Progress counters for the cycle checker: a group is in the contraction, a MAC issues this
        cycle, the core being contracted.

    Latency and throughput: ``FLUSH_CYCLES`` from a core's last MAC issue to its last buffer
    write; one cycle per core to start; per group of ``L`` samples
    ``C = sum_k (1 + R_k M_k K_k + FLUSH_CYCLES)`` cycles (``K = r_{k-1} n_k``, ``M = m_k r_k``,
    ``R = prod(m_<k) prod(n_>k)``). Loading the next group overlaps cores ``1..d-1`` and
    draining the previous group overlaps the cores before the first one writing its buffer, so
    a batch of ``B`` samples, ``G = ceil(B / L)`` groups, takes
    ``T = n_in L_0 + G C + n_out L_last + 3`` cycles from first ``x`` to last ``y`` beat
    (:meth:`EnginePlan.batch_cycles`, exact when :meth:`EnginePlan.overlap_ok`). The first
    ``y`` beat of a group comes 3 cycles after its last core's flush (RAM, word and payload
    registers of the drain); ``fotrain.sim.cycle_model`` states every handshake cycle by cycle.

    Targets: one ``L * act.width``-bit block RAM per buffer (X, P0, P1; read ``t`` for all lanes
    at one address), a ``weight.width`` RAM for the cores, one DSP multiplier per lane
    (``SB_MAC16`` / ``MULT18X18D`` for 16-bit formats).
    """

    FLUSH_CYCLES = FLUSH_CYCLES

    def __new__(cls, source: EnginePlan | Config, layer: int = 0, *,
                activation: str | None = None):
        # Plan before the component exists, so a rejected layer raises without leaving a
        # component behind that Amaranth would report as created but never elaborated.
        _engine_plan(source, layer, activation)
        return super().__new__(cls, src_loc_at=1)

    def __init__(self, source: EnginePlan | Config, layer: int = 0, *,
                 activation: str | None = None):
        self.plan: EnginePlan = _engine_plan(source, layer, activation)
        self.cfg: Config = self.plan.cfg
        super().__init__({
            "w": In(stream.Signature(weight_stream_shape(self.cfg, bias=self.plan.bias))),
            "x": In(stream.Signature(act_stream_layout(self.cfg))),
            "y": Out(stream.Signature(act_stream_layout(self.cfg))),
            "busy": Out(1),
            "issue": Out(1),
            "core": Out(range(max(self.plan.n_cores, 2))),
        })

    @classmethod
    def from_config(cls, cfg: Config, layer: int = 0, *,
                    activation: str | None = None) -> "TTEngine":
        """Build layer ``layer`` of ``cfg`` (``activation`` overrides the layer's own)."""
        return cls(make_plan(cfg, layer, activation=activation))

    def elaborate(self, platform):
        """Wire the memories, loaders, sequencer, MAC pipeline and drain together."""
        m = Module()
        plan = self.plan
        mems = build_memories(m, plan)
        ctl = Control.create(plan)
        m.d.comb += [self.busy.eq(~ctl.idle), self.issue.eq(ctl.phase == Phase.ISSUE),
                     self.core.eq(ctl.core)]
        build_weight_loader(m, plan, ctl, mems, self.w)
        build_input_loader(m, plan, ctl, mems, self.x)
        params, cnt = build_sequencer(m, plan, ctl)
        build_mac(m, plan, ctl, params, cnt, mems)
        build_drain(m, plan, ctl, cnt, mems, self.y)
        return m


# -- layouts ---------------------------------------------------------------------------------------
def _count(maxval: int) -> range:
    """Shape of a counter or constant that reaches ``maxval`` (at least one bit)."""
    return range(max(maxval, 1) + 1)


def core_param_layout(plan: EnginePlan) -> data.StructLayout:
    """Per-core constants, loaded into one register when a core starts.

    ``km1``, ``r1m1``, ``mm1``, ``rm1``: last values of the loop counters ``kk``, ``a``, ``i``,
    ``col``; ``r``, ``mstride``, ``m``, ``rm``: address strides; ``gbase``: first weight address;
    ``src``: buffer read (0 X, 1 P0, 2 P1); ``dst``: buffer written; ``is_last``: last core (bias
    and ReLU apply).
    """
    cores = plan.cores
    return data.StructLayout({
        "km1": _count(max(c.K for c in cores)), "r1m1": _count(max(c.r1 for c in cores)),
        "mm1": _count(max(c.m for c in cores)), "rm1": _count(max(c.R for c in cores)),
        "r": _count(max(c.R for c in cores)), "mstride": _count(max(c.M for c in cores)),
        "m": _count(max(c.m for c in cores)), "rm": _count(max(c.R * c.m for c in cores)),
        "gbase": _count(plan.weight_entries), "src": 2, "dst": 1, "is_last": 1,
    })


def _out_addr_shape(plan: EnginePlan) -> range:
    return _count(max(c.out_size for c in plan.cores))


def mac_tag_layout(plan: EnginePlan) -> data.StructLayout:
    """What travels with a MAC down the pipeline, one register of this layout per stage.

    ``valid``: the stage holds an issued MAC (from the accumulator on: a finished sum);
    ``first`` / ``last``: first / last term of a sum; ``addr``: buffer address of the sum;
    ``bias`` (layers with a bias only): the bias code read for ``addr``, joined from the stage
    after the RAM read on.
    """
    fields = {"valid": 1, "first": 1, "last": 1, "addr": _out_addr_shape(plan)}
    if plan.bias:
        fields["bias"] = signed(plan.cfg.formats.act.width)
    return data.StructLayout(fields)


def drain_tag_layout(plan: EnginePlan) -> data.StructLayout:
    """What travels with an output code through the drain stages.

    ``valid``: the stage holds a code; ``fin``: the group's final code (frees the y buffer);
    ``last``: the batch's final code (``y.payload.last``); ``lane``: which lane's code it is.
    """
    return data.StructLayout({"valid": 1, "fin": 1, "last": 1,
                              "lane": range(max(plan.lanes, 2))})


def _stage(m: Module, prev, name: str, **fields):
    """Register the tag ``prev`` into a new stage ``name``, with ``fields`` replaced."""
    tag = Signal(prev.shape(), name=name)
    m.d.sync += tag.eq(prev)
    m.d.sync += [tag[field].eq(value) for field, value in fields.items()]
    return tag


# -- shared state ----------------------------------------------------------------------------------
@dataclass
class Memories:
    """The engine's RAMs as ports: X (input), P0/P1 (ping-pong), weights, bias."""

    x_wr: object
    x_rd: object
    p_wr: dict
    p_rd: dict
    w_wr: object
    w_rd: object
    b_wr: object | None
    b_rd: object | None


@dataclass
class Control:
    """Registers read by more than one part of the engine (each has one owner that writes it).

    Sequencer: ``phase``, ``core``, ``fcnt`` (flush counter), ``c_lanes`` / ``c_last`` (the
    contracted group's size and whether it ends the batch). Loaders: ``x_full`` (a group waits
    in X), ``w_mid`` (a weight load is half done), ``ld_lanes`` / ``ld_last`` (the loaded group).
    Drain: ``d_busy`` (the y buffer holds results not yet sent).
    """

    phase: Signal
    core: Signal
    fcnt: Signal
    c_lanes: Signal
    c_last: Signal
    x_full: Signal
    w_mid: Signal
    ld_lanes: Signal
    ld_last: Signal
    d_busy: Signal

    @classmethod
    def create(cls, plan: EnginePlan) -> "Control":
        """Fresh registers sized for ``plan``."""
        lanes = range(plan.lanes + 1)
        return cls(phase=Signal(Phase, name="phase"),
                   core=Signal(range(max(plan.n_cores, 2)), name="core"),
                   fcnt=Signal(range(FLUSH_CYCLES + 1), name="fcnt"),
                   c_lanes=Signal(lanes, name="c_lanes"), c_last=Signal(name="c_last"),
                   x_full=Signal(name="x_full"), w_mid=Signal(name="w_mid"),
                   ld_lanes=Signal(lanes, name="ld_lanes"), ld_last=Signal(name="ld_last"),
                   d_busy=Signal(name="d_busy"))

    @property
    def idle(self):
        """No group in the contraction: waiting in front of core 0."""
        return (self.phase == Phase.WAIT) & (self.core == 0)

    @property
    def flush_end(self):
        """Last flush cycle of the current core (its last result is being written)."""
        return (self.phase == Phase.FLUSH) & (self.fcnt == FLUSH_CYCLES - 1)


@dataclass
class Counters:
    """The sequencer's loop counters and addresses (see :mod:`fotrain.hw.plan`'s loop nest).

    ``kk``, ``a``, ``i``, ``col``: loop indices; ``t_addr``, ``g_addr``, ``out_addr``: addresses
    of the input entry, weight and output of the current issue; ``o_base``, ``colm``, ``ci``:
    running bases those addresses restart from when an inner loop wraps.
    """

    kk: Signal
    a: Signal
    i: Signal
    col: Signal
    t_addr: Signal
    g_addr: Signal
    o_base: Signal
    colm: Signal
    ci: Signal
    out_addr: Signal

    @classmethod
    def create(cls, plan: EnginePlan) -> "Counters":
        """Fresh counters sized for ``plan``."""
        cores, n_w = plan.cores, plan.weight_entries
        max_in = max(plan.depth(-1), plan.depth(0), plan.depth(1))
        out = _out_addr_shape(plan)
        return cls(kk=Signal(_count(max(c.K for c in cores)), name="kk"),
                   a=Signal(_count(max(c.r1 for c in cores)), name="a"),
                   i=Signal(_count(max(c.m for c in cores)), name="i"),
                   col=Signal(_count(max(c.R for c in cores)), name="col"),
                   t_addr=Signal(_count(max_in), name="t_addr"),
                   g_addr=Signal(_count(n_w), name="g_addr"),
                   o_base=Signal(_count(n_w), name="o_base"),
                   colm=Signal(out, name="colm"), ci=Signal(out, name="ci"),
                   out_addr=Signal(out, name="out_addr"))

    def restart(self, c: CorePlan) -> list:
        """Statements that put every counter at the first issue of core ``c``."""
        return [self.kk.eq(0), self.a.eq(0), self.i.eq(0), self.col.eq(0), self.t_addr.eq(0),
                self.g_addr.eq(c.g_base), self.o_base.eq(c.g_base), self.colm.eq(0),
                self.ci.eq(0), self.out_addr.eq(0)]


# -- memories and loaders --------------------------------------------------------------------------
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
    wmem = Memory(shape=signed(plan.cfg.formats.weight.width), depth=plan.weight_entries,
                  init=[])
    m.submodules.wmem = wmem
    b_wr = b_rd = None
    if plan.bias:
        m.submodules.bmem = bmem = Memory(shape=signed(aw), depth=plan.n_out, init=[])
        b_wr, b_rd = bmem.write_port(), bmem.read_port()
    return Memories(x_wr=xmem.write_port(granularity=aw), x_rd=xmem.read_port(), p_wr=p_wr,
                    p_rd=p_rd, w_wr=wmem.write_port(), w_rd=wmem.read_port(), b_wr=b_wr,
                    b_rd=b_rd)


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
    m.d.comb += [mems.w_wr.addr.eq(w_addr), mems.w_wr.data.eq(w.payload),
                 mems.w_wr.en.eq(fire & (w_addr < n_w))]
    if plan.bias:
        m.d.comb += [mems.b_wr.addr.eq(w_addr - n_w), mems.b_wr.data.eq(w.payload),
                     mems.b_wr.en.eq(fire & (w_addr >= n_w))]
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
    m.d.comb += [mems.x_wr.addr.eq(x_j), mems.x_wr.data.eq(Cat(*[x.payload.data] * lanes)),
                 mems.x_wr.en.eq(Mux(fire, Const(1, lanes) << x_l, 0))]
    with m.If(fire):
        with m.If(x_j == n_in - 1):
            m.d.sync += x_j.eq(0)
            with m.If((x_l == lanes - 1) | x.payload.last):
                m.d.sync += [ctl.x_full.eq(1), ctl.ld_lanes.eq(x_l + 1),
                             ctl.ld_last.eq(x.payload.last), x_l.eq(0)]
            with m.Else():
                m.d.sync += x_l.eq(x_l + 1)
        with m.Else():
            m.d.sync += x_j.eq(x_j + 1)
    with m.If(ctl.flush_end & (ctl.core == 0)):
        m.d.sync += ctl.x_full.eq(0)


# -- sequencer -------------------------------------------------------------------------------------
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
            m.d.sync += [ctl.phase.eq(Phase.ISSUE), params.eq(layout.const({
                "km1": c.K - 1, "r1m1": c.r1 - 1, "mm1": c.m - 1, "rm1": c.R - 1, "r": c.R,
                "mstride": c.M, "m": c.m, "rm": c.R * c.m, "gbase": c.g_base,
                "src": c.src + 1, "dst": c.dst, "is_last": int(k == d - 1)}))]
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
        m.d.sync += [n.kk.eq(n.kk + 1), n.t_addr.eq(n.t_addr + p.r),
                     n.g_addr.eq(n.g_addr + p.mstride)]
    with m.Else():
        m.d.sync += n.kk.eq(0)
        with m.If(n.a != p.r1m1):
            m.d.sync += [n.a.eq(n.a + 1), n.o_base.eq(n.o_base + 1), n.g_addr.eq(n.o_base + 1),
                         n.t_addr.eq(n.col), n.out_addr.eq(n.out_addr + p.rm)]
        with m.Elif(n.i != p.mm1):
            m.d.sync += [n.a.eq(0), n.i.eq(n.i + 1), n.o_base.eq(n.o_base + 1),
                         n.g_addr.eq(n.o_base + 1), n.t_addr.eq(n.col), n.ci.eq(n.ci + 1),
                         n.out_addr.eq(n.ci + 1)]
        with m.Elif(n.col != p.rm1):
            m.d.sync += [n.a.eq(0), n.i.eq(0), n.col.eq(n.col + 1), n.o_base.eq(p.gbase),
                         n.g_addr.eq(p.gbase), n.t_addr.eq(n.col + 1), n.colm.eq(n.colm + p.m),
                         n.ci.eq(n.colm + p.m), n.out_addr.eq(n.colm + p.m)]
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
def build_mac(m: Module, plan: EnginePlan, ctl: Control, params, cnt: Counters,
              mems: Memories) -> None:
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
    m.d.comb += [tag0.valid.eq(ctl.phase == Phase.ISSUE), tag0.first.eq(n.kk == 0),
                 tag0.last.eq(n.kk == p.km1), tag0.addr.eq(n.out_addr)]
    # S1
    tag1 = _stage(m, tag0, "tag1")
    xq, wq = Signal(lanes * aw, name="xq"), Signal(signed(len(mems.w_rd.data)), name="wq")
    pq = {b: Signal(lanes * aw, name=f"p{b}q") for b in mems.p_rd}
    m.d.sync += [xq.eq(mems.x_rd.data), wq.eq(mems.w_rd.data)]
    m.d.sync += [pq[b].eq(pr.data) for b, pr in mems.p_rd.items()]
    # S1b
    tag1b = _stage(m, tag1, "tag1b", **({"bias": mems.b_rd.data} if plan.bias else {}))
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
    return _stage(m, tag1b, "tag2"), opa, opb


def build_multiply_accumulate(m: Module, plan: EnginePlan, p, tag2, opa, opb):
    """S2 products, one multiplier per lane; S3 exact accumulation.

    The accumulator restarts on a sum's first term, from the bias aligned by ``weight.frac`` on
    the last core; ``plan.acc_bits`` holds every exact sum (the config guarantees it). Returns
    ``(tag4, acc per lane)`` where ``tag4.valid`` marks a finished sum.
    """
    aw, fw = plan.cfg.formats.act.width, plan.cfg.formats.weight
    prod = [Signal(signed(aw + len(opb)), name=f"prod{lane}") for lane in range(plan.lanes)]
    m.d.sync += [prod[lane].eq(opa[lane] * opb) for lane in range(plan.lanes)]
    tag3 = _stage(m, tag2, "tag3")
    start = Mux(p.is_last, tag3.bias << fw.frac, 0) if plan.bias else Const(0)
    acc = [Signal(signed(plan.acc_bits), name=f"acc{lane}") for lane in range(plan.lanes)]
    m.d.sync += [acc[lane].eq(Mux(tag3.first, start, acc[lane]) + prod[lane])
                 for lane in range(plan.lanes)]
    return _stage(m, tag3, "tag4", valid=tag3.valid & tag3.last), acc


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
        tag = _stage(m, tag, f"tag{5 + s}")
    for b, pw in mems.p_wr.items():
        m.d.comb += [pw.addr.eq(tag.addr), pw.data.eq(Cat(*codes)),
                     pw.en.eq(tag.valid & (p.dst == b))]


# -- output drain ----------------------------------------------------------------------------------
def build_drain(m: Module, plan: EnginePlan, ctl: Control, cnt: Counters, mems: Memories,
                y) -> None:
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
    m.d.comb += [y.valid.eq(ytag.valid), y.payload.data.eq(y_data),
                 y.payload.last.eq(ytag.last)]
    with m.If(advance):
        m.d.sync += [ytag.eq(q), y_data.eq(q_word.word_select(q.lane, aw)),
                     q.eq(d1), q_word.eq(rd.data)]
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
    m.d.comb += [tag.valid.eq(d_active), tag.fin.eq(fin), tag.last.eq(fin & d_last),
                 tag.lane.eq(d_l)]
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
        m.d.sync += [d_active.eq(1), d_l.eq(0), d_i.eq(0), d_lanes.eq(ctl.c_lanes),
                     d_last.eq(ctl.c_last)]
    return d_i, tag
