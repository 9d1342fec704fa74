"""The :class:`TTEngine` component: ports, construction from a plan, and the wiring of its parts."""

from amaranth.hdl import Module
from amaranth.lib import stream, wiring
from amaranth.lib.wiring import In, Out

from fotrain.sw.config import Config

from ..layouts import act_stream_layout, weight_stream_shape
from ..plan import FLUSH_CYCLES, EnginePlan, make_plan
from .drain import build_drain
from .loaders import build_input_loader, build_memories, build_weight_loader
from .mac import build_mac
from .sequencer import build_sequencer
from .state import Control, Phase

__all__ = ["TTEngine"]


def _engine_plan(source: EnginePlan | Config, layer: int, activation: str | None) -> EnginePlan:
    """The plan of ``source``: a plan as given, or :func:`make_plan` of a config."""
    if isinstance(source, EnginePlan):
        if layer != 0 or activation is not None:
            raise TypeError(
                "TTEngine: layer and activation come from the plan; pass them to "
                "make_plan or from_config instead"
            )
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

    def __new__(cls, source: EnginePlan | Config, layer: int = 0, *, activation: str | None = None):
        # Plan before the component exists, so a rejected layer raises without leaving a
        # component behind that Amaranth would report as created but never elaborated.
        _engine_plan(source, layer, activation)
        return super().__new__(cls, src_loc_at=1)

    def __init__(
        self, source: EnginePlan | Config, layer: int = 0, *, activation: str | None = None
    ):
        self.plan: EnginePlan = _engine_plan(source, layer, activation)
        self.cfg: Config = self.plan.cfg
        super().__init__(
            {
                "w": In(stream.Signature(weight_stream_shape(self.cfg, bias=self.plan.bias))),
                "x": In(stream.Signature(act_stream_layout(self.cfg))),
                "y": Out(stream.Signature(act_stream_layout(self.cfg))),
                "busy": Out(1),
                "issue": Out(1),
                "core": Out(range(max(self.plan.n_cores, 2))),
            }
        )

    @classmethod
    def from_config(
        cls, cfg: Config, layer: int = 0, *, activation: str | None = None
    ) -> "TTEngine":
        """Build layer ``layer`` of ``cfg`` (``activation`` overrides the layer's own)."""
        return cls(make_plan(cfg, layer, activation=activation))

    def elaborate(self, platform):
        """Wire the memories, loaders, sequencer, MAC pipeline and drain together."""
        m = Module()
        plan = self.plan
        mems = build_memories(m, plan)
        ctl = Control.create(plan)
        m.d.comb += [
            self.busy.eq(~ctl.idle),
            self.issue.eq(ctl.phase == Phase.ISSUE),
            self.core.eq(ctl.core),
        ]
        build_weight_loader(m, plan, ctl, mems, self.w)
        build_input_loader(m, plan, ctl, mems, self.x)
        params, cnt = build_sequencer(m, plan, ctl)
        build_mac(m, plan, ctl, params, cnt, mems)
        build_drain(m, plan, ctl, cnt, mems, self.y)
        return m
