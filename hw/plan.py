"""Elaboration plan of the TT engine: per-core loop bounds, buffer depths and the cycle model.

Pure Python (no Amaranth), shared by :class:`fotrain.hw.tt.TTEngine` (which turns it into
constants) and by the cycle-accurate reference model in :mod:`fotrain.sim.cycle_model`, so the
hardware and the checker cannot disagree about geometry.

Per sample the engine runs core ``k`` (shape ``(r0, n, m, r1)``) as the loop nest

    for col in range(R): for i in range(m): for a in range(r1): for kk in range(K):
        acc += G[kk * M + i * r1 + a] * t_in[kk * R + col]
    t_out[(a * R + col) * m + i] = requantize(acc)

with ``K = r0 * n``, ``M = m * r1`` and ``R = prod(m_<k) * prod(n_>k)``; the addresses are the
row-major layouts of ``sw/tt.py``'s running tensor with the batch index removed (every lane holds
its own sample), so the last core writes ``y`` in natural order.
"""

import math
from dataclasses import dataclass

from fotrain.sw.config import Config, LayerConfig
from fotrain.sw.errors import ConfigError
from fotrain.sw.qformat import Overflow, Rounding

__all__ = ["FLUSH_CYCLES", "CorePlan", "EnginePlan", "make_plan"]

#: Cycles from the last MAC issue of a core to the cycle after its last buffer write (the
#: pipeline: read, RAM output register, operand register, product, accumulate, round,
#: saturate, write).
FLUSH_CYCLES = 7

#: Activations the engine can fuse after the last core's requantization.
FUSED_ACTIVATIONS = ("none", "relu")


@dataclass(frozen=True)
class CorePlan:
    """Loop bounds and memory placement of one core (per sample)."""

    r0: int
    n: int
    m: int
    r1: int
    K: int  #: contraction length ``r0 * n``
    M: int  #: outputs per column ``m * r1``
    R: int  #: columns ``prod(m_<k) * prod(n_>k)``
    g_base: int  #: first weight address of the core (cores are stored back to back, C order)
    src: int  #: buffer read: -1 = X (input), 0 = P0, 1 = P1
    dst: int  #: buffer written: 0 = P0, 1 = P1

    @property
    def issues(self) -> int:
        """MAC issue cycles of this core per group (``R * M * K``)."""
        return self.R * self.M * self.K

    @property
    def out_size(self) -> int:
        """Entries written per sample (``R * M``)."""
        return self.R * self.M


@dataclass(frozen=True)
class EnginePlan:
    """Everything the engine needs from the config, as plain integers."""

    cfg: Config
    layer: LayerConfig
    lanes: int
    cores: tuple[CorePlan, ...]
    bias: bool
    activation: str
    acc_bits: int  #: accumulator width that holds every exact sum (<= formats.acc.width)

    # -- sizes ------------------------------------------------------------------------------------
    @property
    def n_in(self) -> int:
        """Inputs per sample ``prod(in_modes)``."""
        return self.layer.in_features

    @property
    def n_out(self) -> int:
        """Outputs per sample ``prod(out_modes)``."""
        return self.layer.out_features

    @property
    def n_cores(self) -> int:
        """Number of cores ``d``."""
        return len(self.cores)

    @property
    def weight_entries(self) -> int:
        """Core entries held in the weight memory."""
        return sum(c.r0 * c.n * c.m * c.r1 for c in self.cores)

    @property
    def y_buffer(self) -> int:
        """Ping-pong buffer the last core writes and the output drain reads."""
        return self.cores[-1].dst

    def depth(self, buf: int) -> int:
        """Depth (entries per lane) of buffer ``buf`` (-1 = X, 0 = P0, 1 = P1); 0 if unused."""
        if buf < 0:
            return self.n_in
        return max((c.out_size for c in self.cores if c.dst == buf), default=0)

    @property
    def macs_per_sample(self) -> int:
        """MACs of one sample (``LayerConfig.macs(1)``)."""
        return sum(c.issues for c in self.cores)

    @property
    def buffer_bits(self) -> int:
        """Activation buffer bits (X + P0 + P1, all lanes)."""
        w = self.cfg.formats.act.width
        return self.lanes * w * sum(self.depth(b) for b in (-1, 0, 1))

    # -- cycle model (no input gaps, no output backpressure) --------------------------------------
    def group_compute_cycles(self) -> int:
        """Cycles of one group's contraction: ``sum_k (1 + R_k M_k K_k + FLUSH_CYCLES)``."""
        return sum(1 + c.issues + FLUSH_CYCLES for c in self.cores)

    def overlap_ok(self) -> bool:
        """True when loading and draining hide behind computing (the formula below is exact).

        Needs ``n_in * L <= compute of cores 1..d-1`` (the next group loads while they run) and
        ``n_out * L`` below the compute time before the first core that writes the y buffer.
        """
        cores = self.cores
        load_window = sum(1 + c.issues + FLUSH_CYCLES for c in cores[1:])
        first = next(k for k, c in enumerate(cores) if c.dst == self.y_buffer)
        drain_window = sum(1 + c.issues + FLUSH_CYCLES for c in cores[:first]) + 1
        return (
            len(cores) > 1
            and self.n_in * self.lanes <= load_window
            and self.n_out * self.lanes + 4 <= drain_window
        )

    def batch_cycles(self, batch: int) -> int:
        """Cycles from the first ``x`` beat to the last ``y`` beat, both streams never stalled.

        ``T(B) = n_in * L_0 + G * C + n_out * L_last + 3``, with ``G = ceil(B / L)`` groups,
        ``L_g`` samples in group ``g``, ``C = group_compute_cycles()``; exact when
        :meth:`overlap_ok` (loads of later groups and drains of earlier ones hide behind the
        contraction). Cycles are counted inclusively (a single-cycle transfer counts 1).
        """
        if batch < 1:
            raise ConfigError(f"batch: must be >= 1, got {batch}")
        groups = math.ceil(batch / self.lanes)
        first = min(self.lanes, batch)
        last = batch - (groups - 1) * self.lanes
        return self.n_in * first + groups * self.group_compute_cycles() + self.n_out * last + 3

    def utilisation_ratio(self, batch: int) -> float:
        """``batch_cycles / (MACs / L)``; 1.0 would be every lane busy on every cycle."""
        return self.batch_cycles(batch) / (self.layer.macs(batch) / self.lanes)


def make_plan(cfg: Config, layer: int = 0, *, activation: str | None = None) -> EnginePlan:
    """Check that ``cfg.layers[layer]`` can be built and compute its plan.

    Raises :class:`~fotrain.sw.errors.ConfigError` (one line, naming the field) for dense layers,
    activations other than ``none``/``relu``, and a bias with negative ``weight.frac``.
    """
    if not isinstance(layer, int) or not 0 <= layer < len(cfg.layers):
        raise ConfigError(f"layer: {layer!r} is not an index into the {len(cfg.layers)} layers")
    lc = cfg.layers[layer]
    if lc.kind != "tt":
        raise ConfigError(
            f"layers[{layer}].kind: the TT engine needs a 'tt' layer, got {lc.kind!r}"
        )
    act = lc.activation if activation is None else activation
    if act not in FUSED_ACTIVATIONS:
        raise ConfigError(
            f"layers[{layer}].activation: {act!r} cannot be fused into the TT engine "
            f"(supported: {', '.join(FUSED_ACTIVATIONS)}); build it with "
            "activation='none' and apply it outside"
        )
    f = cfg.formats
    if lc.bias and f.weight.frac < 0:
        raise ConfigError(
            f"formats.weight.frac: {f.weight.frac} < 0 cannot align a bias "
            "(shift_left needs n >= 0)"
        )
    for name in ("weight", "act", "acc"):
        fmt = getattr(f, name)
        if not isinstance(fmt.rounding, Rounding) or not isinstance(fmt.overflow, Overflow):
            raise ConfigError(f"formats.{name}: unsupported rounding/overflow {fmt}")
    ins, outs, ranks = lc.in_modes, lc.out_modes, lc.ranks
    d = len(ins)
    cores, base = [], 0
    for k in range(d):
        r0, n, m, r1 = ranks[k], ins[k], outs[k], ranks[k + 1]
        cores.append(
            CorePlan(
                r0=r0,
                n=n,
                m=m,
                r1=r1,
                K=r0 * n,
                M=m * r1,
                R=math.prod(outs[:k]) * math.prod(ins[k + 1 :]),
                g_base=base,
                src=-1 if k == 0 else (k - 1) % 2,
                dst=k % 2,
            )
        )
        base += r0 * n * m * r1
    need = max(f.acc_bits_needed(c.K, bias=lc.bias and k == d - 1) for k, c in enumerate(cores))
    return EnginePlan(
        cfg=cfg,
        layer=lc,
        lanes=cfg.hardware.lanes,
        cores=tuple(cores),
        bias=lc.bias,
        activation=act,
        acc_bits=min(need, f.acc.width),
    )
