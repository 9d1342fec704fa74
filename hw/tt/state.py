"""State shared by the engine's parts: the pipeline-tag and per-core layouts, the memories,
the control signals and the loop counters."""

from dataclasses import dataclass

from amaranth.hdl import Module, Signal, signed
from amaranth.lib import data, enum

from ..plan import FLUSH_CYCLES, CorePlan, EnginePlan

__all__ = [
    "Control",
    "Counters",
    "Memories",
    "Phase",
    "core_param_layout",
    "count_shape",
    "drain_tag_layout",
    "mac_tag_layout",
    "out_addr_shape",
    "stage",
]


class Phase(enum.Enum, shape=2):
    """State of the contraction sequencer (an enum shape, so waveforms show the names)."""

    #: Between cores: waits until core ``core`` may start (see :func:`start_core`).
    WAIT = 0
    #: One MAC issue per cycle, ``R M K`` cycles.
    ISSUE = 1
    #: ``FLUSH_CYCLES`` cycles for the pipeline to write the core's last results.
    FLUSH = 2


def count_shape(maxval: int) -> range:
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
    return data.StructLayout(
        {
            "km1": count_shape(max(c.K for c in cores)),
            "r1m1": count_shape(max(c.r1 for c in cores)),
            "mm1": count_shape(max(c.m for c in cores)),
            "rm1": count_shape(max(c.R for c in cores)),
            "r": count_shape(max(c.R for c in cores)),
            "mstride": count_shape(max(c.M for c in cores)),
            "m": count_shape(max(c.m for c in cores)),
            "rm": count_shape(max(c.R * c.m for c in cores)),
            "gbase": count_shape(plan.weight_entries),
            "src": 2,
            "dst": 1,
            "is_last": 1,
        }
    )


def out_addr_shape(plan: EnginePlan) -> range:
    return count_shape(max(c.out_size for c in plan.cores))


def mac_tag_layout(plan: EnginePlan) -> data.StructLayout:
    """What travels with a MAC down the pipeline, one register of this layout per stage.

    ``valid``: the stage holds an issued MAC (from the accumulator on: a finished sum);
    ``first`` / ``last``: first / last term of a sum; ``addr``: buffer address of the sum;
    ``bias`` (layers with a bias only): the bias code read for ``addr``, joined from the stage
    after the RAM read on.
    """
    fields = {"valid": 1, "first": 1, "last": 1, "addr": out_addr_shape(plan)}
    if plan.bias:
        fields["bias"] = signed(plan.cfg.formats.act.width)
    return data.StructLayout(fields)


def drain_tag_layout(plan: EnginePlan) -> data.StructLayout:
    """What travels with an output code through the drain stages.

    ``valid``: the stage holds a code; ``fin``: the group's final code (frees the y buffer);
    ``last``: the batch's final code (``y.payload.last``); ``lane``: which lane's code it is.
    """
    return data.StructLayout({"valid": 1, "fin": 1, "last": 1, "lane": range(max(plan.lanes, 2))})


def stage(m: Module, prev, name: str, **fields):
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
        return cls(
            phase=Signal(Phase, name="phase"),
            core=Signal(range(max(plan.n_cores, 2)), name="core"),
            fcnt=Signal(range(FLUSH_CYCLES + 1), name="fcnt"),
            c_lanes=Signal(lanes, name="c_lanes"),
            c_last=Signal(name="c_last"),
            x_full=Signal(name="x_full"),
            w_mid=Signal(name="w_mid"),
            ld_lanes=Signal(lanes, name="ld_lanes"),
            ld_last=Signal(name="ld_last"),
            d_busy=Signal(name="d_busy"),
        )

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
        out = out_addr_shape(plan)
        return cls(
            kk=Signal(count_shape(max(c.K for c in cores)), name="kk"),
            a=Signal(count_shape(max(c.r1 for c in cores)), name="a"),
            i=Signal(count_shape(max(c.m for c in cores)), name="i"),
            col=Signal(count_shape(max(c.R for c in cores)), name="col"),
            t_addr=Signal(count_shape(max_in), name="t_addr"),
            g_addr=Signal(count_shape(n_w), name="g_addr"),
            o_base=Signal(count_shape(n_w), name="o_base"),
            colm=Signal(out, name="colm"),
            ci=Signal(out, name="ci"),
            out_addr=Signal(out, name="out_addr"),
        )

    def restart(self, c: CorePlan) -> list:
        """Statements that put every counter at the first issue of core ``c``."""
        return [
            self.kk.eq(0),
            self.a.eq(0),
            self.i.eq(0),
            self.col.eq(0),
            self.t_addr.eq(0),
            self.g_addr.eq(c.g_base),
            self.o_base.eq(c.g_base),
            self.colm.eq(0),
            self.ci.eq(0),
            self.out_addr.eq(0),
        ]


# -- memories and loaders --------------------------------------------------------------------------
