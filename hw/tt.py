"""TT-matrix layer engine: ``y = x @ W.T (+ bias)`` on fixed-point codes, W held as TT cores.

Mirrors :func:`fotrain.sw.tt.tt_forward_fixed` bit for bit (same contraction order, exact integer
accumulation, one requantization to ``formats.act`` after every core, bias aligned by
``weight.frac`` into the last core's accumulator), optionally followed by a fused ReLU.
"""

from amaranth.hdl import Cat, Const, Module, Mux, Signal, signed, unsigned
from amaranth.lib import stream, wiring
from amaranth.lib.memory import Memory
from amaranth.lib.wiring import In, Out

from fotrain.sw.config import Config
from fotrain.sw.errors import FotrainError
from fotrain.sw.qformat import Overflow, QFormat, Rounding

from .layouts import act_stream_layout, weight_stream_shape
from .plan import FLUSH_CYCLES, EnginePlan, make_plan

__all__ = ["TTEngine", "requantize_hw"]

_WAIT, _ISSUE, _FLUSH = 0, 1, 2


def requantize_hw(m: Module, acc, shift: int, dst: QFormat, name: str):
    """Return ``(round_expr, fit)``: the rounding of ``requantize`` and a function applying
    ``dst.overflow`` (combinational; the caller registers between the two for timing).

    ``shift = src.frac - dst.frac``; TRN is an arithmetic shift, RND adds half an output LSB,
    RND_CONV rounds exact ties to even, a negative shift is an exact shift left.
    """
    if shift <= 0:
        rounded = acc << -shift
    else:
        wide = Signal(signed(max(len(acc), shift) + 2), name=f"{name}_wide")
        m.d.comb += wide.eq(acc)
        if dst.rounding is Rounding.TRN:
            rounded = wide >> shift
        elif dst.rounding is Rounding.RND:
            rounded = (wide + (1 << (shift - 1))) >> shift
        else:
            q = wide >> shift
            r = wide[:shift]
            half = 1 << (shift - 1)
            rounded = q + ((r > half) | ((r == half) & q[0]))

    def fit(v):
        if dst.overflow is Overflow.WRAP:
            return v[:dst.width].as_signed()
        lo, hi = dst.min_code, dst.max_code
        return Mux(v > hi, hi, Mux(v < lo, lo, v))

    return rounded, fit


class TTEngine(wiring.Component):
    """Multiply a batch by a TT-matrix, one core per pass, ``L`` samples in parallel lanes.

    Computation (``sw/tt.py`` convention, core ``G_k`` of shape ``(r_{k-1}, n_k, m_k, r_k)``)::

        t_k[a_k, j_{k+1}..j_d, i_1..i_k] = rq( sum_{a_{k-1}, j_k} G_k[a_{k-1}, j_k, i_k, a_k]
                                                * t_{k-1}[a_{k-1}, j_k..j_d, i_1..i_{k-1}] )

    per sample, ``t_0 = x[b]``, ``rq`` = requantize ``formats.acc -> formats.act``; on the last
    core ``bias[i] << weight.frac`` joins the accumulator before ``rq``, then the optional ReLU;
    ``y[b, i] = t_d[0, i]``. Lanes run samples ``g*L .. g*L + L - 1`` (group ``g``) in lockstep,
    sharing each weight read; every lane does one exact MAC per issue cycle.

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

    Latency and throughput: ``FLUSH_CYCLES`` (7) from a core's last MAC issue to its last buffer
    write; one cycle per core to start; per group of ``L`` samples
    ``C = sum_k (1 + R_k M_k K_k + 7)`` cycles (``K = r_{k-1} n_k``, ``M = m_k r_k``,
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

    def __init__(self, cfg: Config, layer: int = 0, *, activation: str | None = None):
        self.cfg = cfg
        try:
            self.plan: EnginePlan = make_plan(cfg, layer, activation=activation)
        except FotrainError:
            self._MustUse__silence = True  # a rejected component is not an unused one
            raise
        d = self.plan.n_cores
        super().__init__({
            "w": In(stream.Signature(weight_stream_shape(cfg, bias=self.plan.bias))),
            "x": In(stream.Signature(act_stream_layout(cfg))),
            "y": Out(stream.Signature(act_stream_layout(cfg))),
            "busy": Out(1),
            "issue": Out(1),
            "core": Out(range(max(d, 2))),
        })

    def elaborate(self, platform):
        """Build the loaders, the issue counters, the MAC pipeline and the output drain."""
        m = Module()
        plan, f = self.plan, self.cfg.formats
        fa, fw, fc = f.act, f.weight, f.acc
        lanes, aw, ww = plan.lanes, fa.width, fw.width
        cores, d = plan.cores, plan.n_cores
        n_in, n_out = plan.n_in, plan.n_out
        ybuf = plan.y_buffer

        # -- memories ------------------------------------------------------------------------
        xmem = Memory(shape=unsigned(lanes * aw), depth=n_in, init=[])
        m.submodules.xmem = xmem
        xw = xmem.write_port(granularity=aw)
        xr = xmem.read_port()
        pmems, pws, prs = {}, {}, {}
        for b in (0, 1):
            depth = plan.depth(b)
            if depth:
                mem = Memory(shape=unsigned(lanes * aw), depth=depth, init=[])
                m.submodules[f"p{b}mem"] = mem
                pmems[b], pws[b], prs[b] = mem, mem.write_port(), mem.read_port()
        n_w = plan.weight_entries
        wmem = Memory(shape=signed(ww), depth=n_w, init=[])
        m.submodules.wmem = wmem
        wwp, wrp = wmem.write_port(), wmem.read_port()
        if plan.bias:
            bmem = Memory(shape=signed(aw), depth=n_out, init=[])
            m.submodules.bmem = bmem
            bwp, brp = bmem.write_port(), bmem.read_port()

        # -- control state --------------------------------------------------------------------
        st = Signal(2, init=_WAIT)
        core = Signal(range(max(d, 2)))
        fcnt = Signal(range(FLUSH_CYCLES + 1))
        x_full = Signal()
        d_busy = Signal()
        idle = (st == _WAIT) & (core == 0)
        m.d.comb += [self.busy.eq(~idle), self.issue.eq(st == _ISSUE), self.core.eq(core)]

        # -- weight loader ----------------------------------------------------------------------
        n_wtot = n_w + (n_out if plan.bias else 0)
        w_addr = Signal(range(max(n_wtot, 2)))
        w_mid = Signal()  # == (w_addr != 0), kept as a register: it gates the core-0 start
        m.d.comb += self.w.ready.eq(idle & (~x_full | w_mid))
        w_fire = self.w.valid & self.w.ready
        m.d.comb += [wwp.addr.eq(w_addr), wwp.data.eq(self.w.payload),
                     wwp.en.eq(w_fire & (w_addr < n_w))]
        if plan.bias:
            m.d.comb += [bwp.addr.eq(w_addr - n_w), bwp.data.eq(self.w.payload),
                         bwp.en.eq(w_fire & (w_addr >= n_w))]
        with m.If(w_fire):
            wrap = w_addr == n_wtot - 1
            m.d.sync += [w_addr.eq(Mux(wrap, 0, w_addr + 1)), w_mid.eq(~wrap)]

        # -- input loader: x[b, j] -> X[j], lane b mod L ----------------------------------------
        x_j = Signal(range(max(n_in, 2)))
        x_l = Signal(range(max(lanes, 2)))
        ld_lanes = Signal(range(lanes + 1))
        ld_last = Signal()
        m.d.comb += self.x.ready.eq(~x_full)
        x_fire = self.x.valid & self.x.ready
        m.d.comb += [xw.addr.eq(x_j), xw.data.eq(Cat(*[self.x.payload.data] * lanes)),
                     xw.en.eq(Mux(x_fire, Const(1, lanes) << x_l, 0))]
        with m.If(x_fire):
            with m.If(x_j == n_in - 1):
                m.d.sync += x_j.eq(0)
                with m.If((x_l == lanes - 1) | self.x.payload.last):
                    m.d.sync += [x_full.eq(1), ld_lanes.eq(x_l + 1),
                                 ld_last.eq(self.x.payload.last), x_l.eq(0)]
                with m.Else():
                    m.d.sync += x_l.eq(x_l + 1)
            with m.Else():
                m.d.sync += x_j.eq(x_j + 1)

        # -- per-core constants, loaded into registers when a core starts ----------------------
        def reg(maxval, name):
            return Signal(range(max(maxval, 1) + 1), name=name)

        max_in = max(plan.depth(-1), plan.depth(0), plan.depth(1))
        max_r = max(c.R for c in cores)
        p_km1, p_r1m1, p_mm1, p_rm1 = (reg(max(getattr(c, a) for c in cores), n) for a, n in
                                       (("K", "p_km1"), ("r1", "p_r1m1"), ("m", "p_mm1"),
                                        ("R", "p_rm1")))
        p_r, p_mstride, p_m = reg(max_r, "p_r"), reg(max(c.M for c in cores), "p_M"), \
            reg(max(c.m for c in cores), "p_m")
        p_rm = reg(max(c.R * c.m for c in cores), "p_rm")
        p_gbase = reg(n_w, "p_gbase")
        src = Signal(2)  # 0: X, 1: P0, 2: P1
        dst = Signal()
        is_last = Signal()
        c_lanes = Signal(range(lanes + 1))
        c_last = Signal()

        # issue counters
        kk, a, i, col = reg(max(c.K for c in cores), "kk"), reg(max(c.r1 for c in cores), "a"), \
            reg(max(c.m for c in cores), "i"), reg(max_r, "col")
        t_addr = reg(max_in, "t_addr")
        g_addr, o_base = reg(n_w, "g_addr"), reg(n_w, "o_base")
        max_out = max(c.out_size for c in cores)
        colm, ci, out_addr = reg(max_out, "colm"), reg(max_out, "ci"), reg(max_out, "out_addr")

        def ok(k):  # a core that writes the y buffer waits while it is drained
            return ~d_busy if cores[k].dst == ybuf else Const(1)

        with m.Switch(st):
            with m.Case(_WAIT):
                for k, c in enumerate(cores):
                    go = ok(k) & (x_full & ~w_mid if k == 0 else Const(1))
                    with m.If((core == k) & go):
                        m.d.sync += [
                            st.eq(_ISSUE),
                            p_km1.eq(c.K - 1), p_r1m1.eq(c.r1 - 1), p_mm1.eq(c.m - 1),
                            p_rm1.eq(c.R - 1), p_r.eq(c.R), p_mstride.eq(c.M), p_m.eq(c.m),
                            p_rm.eq(c.R * c.m), p_gbase.eq(c.g_base),
                            src.eq(c.src + 1), dst.eq(c.dst), is_last.eq(k == d - 1),
                            kk.eq(0), a.eq(0), i.eq(0), col.eq(0), t_addr.eq(0),
                            g_addr.eq(c.g_base), o_base.eq(c.g_base),
                            colm.eq(0), ci.eq(0), out_addr.eq(0),
                        ]
                        if k == 0:
                            m.d.sync += [c_lanes.eq(ld_lanes), c_last.eq(ld_last)]
            with m.Case(_ISSUE):
                with m.If(kk != p_km1):
                    m.d.sync += [kk.eq(kk + 1), t_addr.eq(t_addr + p_r),
                                 g_addr.eq(g_addr + p_mstride)]
                with m.Else():
                    m.d.sync += kk.eq(0)
                    with m.If(a != p_r1m1):
                        m.d.sync += [a.eq(a + 1), o_base.eq(o_base + 1), g_addr.eq(o_base + 1),
                                     t_addr.eq(col), out_addr.eq(out_addr + p_rm)]
                    with m.Elif(i != p_mm1):
                        m.d.sync += [a.eq(0), i.eq(i + 1), o_base.eq(o_base + 1),
                                     g_addr.eq(o_base + 1), t_addr.eq(col), ci.eq(ci + 1),
                                     out_addr.eq(ci + 1)]
                    with m.Elif(col != p_rm1):
                        m.d.sync += [a.eq(0), i.eq(0), col.eq(col + 1), o_base.eq(p_gbase),
                                     g_addr.eq(p_gbase), t_addr.eq(col + 1),
                                     colm.eq(colm + p_m), ci.eq(colm + p_m),
                                     out_addr.eq(colm + p_m)]
                    with m.Else():
                        m.d.sync += [st.eq(_FLUSH), fcnt.eq(0)]
            with m.Case(_FLUSH):
                m.d.sync += fcnt.eq(fcnt + 1)
                with m.If(fcnt == FLUSH_CYCLES - 1):
                    m.d.sync += st.eq(_WAIT)
                    with m.If(core == 0):
                        m.d.sync += x_full.eq(0)
                    with m.If(core == d - 1):
                        m.d.sync += core.eq(0)
                    with m.Else():
                        m.d.sync += core.eq(core + 1)
            with m.Default():  # unreachable state code: recover to waiting (and a full case)
                m.d.sync += st.eq(_WAIT)

        # -- MAC pipeline ---------------------------------------------------------------------
        issuing = st == _ISSUE
        first0, last0 = kk == 0, kk == p_km1
        m.d.comb += [xr.addr.eq(t_addr), wrp.addr.eq(g_addr)]
        if plan.bias:
            m.d.comb += brp.addr.eq(out_addr)

        # S1: memory data registered as it leaves the RAMs (the BRAM output register: RAM
        # clock-to-out plus routing alone is ~9.5 ns on an ECP5); S1b: source mux -> operands
        v1, first1, last1 = Signal(), Signal(), Signal()
        oaddr1 = Signal.like(out_addr)
        m.d.sync += [v1.eq(issuing), first1.eq(first0), last1.eq(last0), oaddr1.eq(out_addr)]
        xq = Signal(lanes * aw)
        pq = {b: Signal(lanes * aw, name=f"p{b}q") for b in prs}
        wq = Signal(signed(ww))
        m.d.sync += [xq.eq(xr.data), wq.eq(wrp.data)]
        m.d.sync += [pq[b].eq(pr.data) for b, pr in prs.items()]
        v1b, first1b, last1b = Signal(), Signal(), Signal()
        oaddr1b = Signal.like(out_addr)
        m.d.sync += [v1b.eq(v1), first1b.eq(first1), last1b.eq(last1), oaddr1b.eq(oaddr1)]
        bias1b = Signal(signed(aw))
        if plan.bias:
            m.d.sync += bias1b.eq(brp.data)
        src_word = Signal(lanes * aw)
        with m.Switch(src):
            for b in prs:
                with m.Case(b + 1):
                    m.d.comb += src_word.eq(pq[b])
            with m.Default():  # 0: the input buffer X
                m.d.comb += src_word.eq(xq)
        opa = [Signal(signed(aw), name=f"opa{lane}") for lane in range(lanes)]
        opb = Signal(signed(ww))
        v2, first2, last2 = Signal(), Signal(), Signal()
        oaddr2 = Signal.like(out_addr)
        m.d.sync += [opb.eq(wq), v2.eq(v1b), first2.eq(first1b), last2.eq(last1b),
                     oaddr2.eq(oaddr1b)]
        m.d.sync += [opa[lane].eq(src_word.word_select(lane, aw)) for lane in range(lanes)]
        bias2 = Signal(signed(aw))
        if plan.bias:
            m.d.sync += bias2.eq(bias1b)

        # S2: products
        prod = [Signal(signed(aw + ww), name=f"prod{lane}") for lane in range(lanes)]
        v3, first3, last3 = Signal(), Signal(), Signal()
        oaddr3 = Signal.like(out_addr)
        bias3 = Signal(signed(aw))
        m.d.sync += [v3.eq(v2), first3.eq(first2), last3.eq(last2), oaddr3.eq(oaddr2),
                     bias3.eq(bias2)]
        m.d.sync += [prod[lane].eq(opa[lane] * opb) for lane in range(lanes)]

        # S3: accumulate (exact: plan.acc_bits holds every sum, the config guarantees it)
        acc = [Signal(signed(plan.acc_bits), name=f"acc{lane}") for lane in range(lanes)]
        if plan.bias:
            start = Mux(is_last, bias3 << fw.frac, 0)
        else:
            start = Const(0)
        m.d.sync += [acc[lane].eq(Mux(first3, start, acc[lane]) + prod[lane])
                     for lane in range(lanes)]
        done4 = Signal()
        oaddr4 = Signal.like(out_addr)
        m.d.sync += [done4.eq(v3 & last3), oaddr4.eq(oaddr3)]

        # S4: rounding; S5: overflow (+ ReLU on the last core)
        v5 = Signal()
        oaddr5 = Signal.like(out_addr)
        m.d.sync += [v5.eq(done4), oaddr5.eq(oaddr4)]
        wen6 = Signal()
        waddr6 = Signal.like(out_addr)
        m.d.sync += [wen6.eq(v5), waddr6.eq(oaddr5)]
        wdata = []
        for lane in range(lanes):
            rounded, fit = requantize_hw(m, acc[lane], fc.frac - fa.frac, fa, f"rq{lane}")
            rq = Signal(signed(len(rounded)), name=f"rq{lane}")
            m.d.sync += rq.eq(rounded)
            sat = fit(rq)
            wd = Signal(signed(aw), name=f"wdata{lane}")
            if plan.activation == "relu":
                m.d.sync += wd.eq(Mux(is_last & (sat < 0), 0, sat))
            else:
                m.d.sync += wd.eq(sat)
            wdata.append(wd)

        # S6: buffer write
        for b, pw in pws.items():
            m.d.comb += [pw.addr.eq(waddr6), pw.data.eq(Cat(*wdata)),
                         pw.en.eq(wen6 & (dst == b))]

        # -- output drain: Y buffer lane l, entries 0..n_out-1, for l in 0..lanes-1 --------------
        # Three stages advance together on ~y.valid | y.ready: RAM data (D1), word register
        # (Q, so RAM clock-to-out never meets the lane mux), payload register (Y).
        d_active = Signal()
        d_l = Signal(range(max(lanes, 2)))
        d_i = Signal(range(max(n_out, 2)))
        d_lanes = Signal(range(lanes + 1))
        d_last = Signal()
        d1_valid, d1_fin, d1_last = Signal(), Signal(), Signal()
        d1_lane = Signal(range(max(lanes, 2)))
        q_valid, q_fin, q_last = Signal(), Signal(), Signal()
        q_lane = Signal(range(max(lanes, 2)))
        q_word = Signal(lanes * aw)
        y_data = Signal(signed(aw))
        y_final = Signal()
        y_last = Signal()
        advance = ~self.y.valid | self.y.ready
        for b, pr in prs.items():
            if b == ybuf:
                m.d.comb += [pr.addr.eq(Mux(d_busy, d_i, t_addr)),
                             pr.en.eq(~d_busy | advance)]
            else:
                m.d.comb += pr.addr.eq(t_addr)
        m.d.comb += [self.y.payload.data.eq(y_data), self.y.payload.last.eq(y_last)]
        with m.If(advance):
            m.d.sync += [self.y.valid.eq(q_valid), y_data.eq(q_word.word_select(q_lane, aw)),
                         y_final.eq(q_fin), y_last.eq(q_last),
                         q_valid.eq(d1_valid), q_word.eq(prs[ybuf].data), q_lane.eq(d1_lane),
                         q_fin.eq(d1_fin), q_last.eq(d1_last)]
            with m.If(d_active):
                fin = (d_l == d_lanes - 1) & (d_i == n_out - 1)
                m.d.sync += [d1_valid.eq(1), d1_lane.eq(d_l), d1_fin.eq(fin),
                             d1_last.eq(fin & d_last)]
                with m.If(d_i == n_out - 1):
                    m.d.sync += d_i.eq(0)
                    with m.If(d_l == d_lanes - 1):
                        m.d.sync += d_active.eq(0)
                    with m.Else():
                        m.d.sync += d_l.eq(d_l + 1)
                with m.Else():
                    m.d.sync += d_i.eq(d_i + 1)
            with m.Else():
                m.d.sync += d1_valid.eq(0)
        with m.If(self.y.valid & self.y.ready & y_final):
            m.d.sync += d_busy.eq(0)
        with m.If((st == _FLUSH) & (fcnt == FLUSH_CYCLES - 1) & (core == d - 1)):
            m.d.sync += [d_busy.eq(1), d_active.eq(1), d_l.eq(0), d_i.eq(0),
                         d_lanes.eq(c_lanes), d_last.eq(c_last)]
        return m
