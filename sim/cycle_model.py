"""Cycle model of :class:`fotrain.hw.tt.TTEngine`: handshakes and progress, cycle by cycle.

This is the documented timing contract of the engine written as a transaction-level state
machine (no data, no Amaranth). Per cycle, given the inputs ``w.valid``, ``x.valid``,
``x.payload.last`` and ``y.ready``, it predicts the engine's ``w.ready``, ``x.ready``,
``y.valid``, ``y.payload.last``, ``issue``, ``core`` and ``busy``. Rules:

* ``w`` is accepted while the contraction is idle and either no group is waiting or a weight
  load is half done; the write address wraps after ``weights + bias`` entries.
* ``x`` is accepted while the input buffer X is free; a group closes after ``L`` samples or on
  ``last`` at a sample's final code; X is freed ``FLUSH_CYCLES`` cycles after core 0's last MAC.
* Each core takes one start cycle (it waits there while its output buffer is being drained or,
  for core 0, until a group is loaded and no weight load is half done), ``R M K`` issue cycles
  and ``FLUSH_CYCLES`` flush cycles.
* The drain starts after the last core's flush and emits ``n_out`` codes per sample, samples in
  order through three registered stages (RAM data, word, payload) that advance together
  when ``~y.valid | y.ready``.

The checker compares every one of these signals every cycle; a single differing cycle fails.

The constants (issue cycles per core, buffer parity, weight entries, ``FLUSH_CYCLES``) are
derived here from the layer config alone, not taken from :mod:`fotrain.hw.plan`: the RTL is
built from the plan, so a model sharing the plan's numbers would agree with a wrong plan.
"""

import math
from dataclasses import dataclass

from fotrain.sw.config import Config, LayerConfig

__all__ = ["FLUSH_CYCLES", "CycleOutputs", "EngineCycleModel", "core_issues"]

#: Cycles from a core's last MAC issue to the cycle after its last buffer write: one register
#: each for the read address, the RAM output, the operands, the product, the accumulator, the
#: rounding and the saturation (the engine's documented MAC pipeline).
FLUSH_CYCLES = 7

_WAIT, _ISSUE, _FLUSH = 0, 1, 2


@dataclass(frozen=True)
class CycleOutputs:
    """Engine outputs during one cycle (sampled before the clock edge)."""

    w_ready: int
    x_ready: int
    y_valid: int
    y_last: int
    issue: int
    core: int
    busy: int


def core_issues(layer: LayerConfig) -> list[int]:
    """MAC issue cycles per group of each core: ``K M R`` with ``K = r_{k-1} n_k``,
    ``M = m_k r_k`` and ``R = prod(m_<k) prod(n_>k)`` (the columns of the running tensor)."""
    ins, outs, ranks = layer.in_modes, layer.out_modes, layer.ranks
    return [
        ranks[k] * ins[k] * outs[k] * ranks[k + 1] * math.prod(outs[:k]) * math.prod(ins[k + 1 :])
        for k in range(len(ins))
    ]


class EngineCycleModel:
    """Step once per clock; :meth:`outputs` is valid before each :meth:`step`.

    Built from ``cfg.layers[layer]`` and ``cfg.hardware.lanes``; an
    :class:`~fotrain.hw.plan.EnginePlan` is accepted too, of which only the layer config and
    the lane count are read.
    """

    def __init__(self, source, layer: int = 0):
        if isinstance(source, Config):
            lc, lanes = source.layers[layer], source.hardware.lanes
        else:  # a plan: its config values only, none of its derived numbers
            lc, lanes = source.layer, source.cfg.hardware.lanes
        ins, outs, ranks = lc.in_modes, lc.out_modes, lc.ranks
        self.n_in, self.n_out = math.prod(ins), math.prod(outs)
        self.lanes, self.n_cores = lanes, len(ins)
        self.issues_per_core = core_issues(lc)
        # cores write P0, P1, P0, ... in turn; the last one writes the buffer the drain reads
        self.y_writers = [k % 2 == (self.n_cores - 1) % 2 for k in range(self.n_cores)]
        weights = sum(ranks[k] * ins[k] * outs[k] * ranks[k + 1] for k in range(self.n_cores))
        self.n_wtot = weights + (self.n_out if lc.bias else 0)
        self.st, self.core, self.fcnt, self.remaining = _WAIT, 0, 0, 0
        self.x_full, self.w_addr, self.x_j, self.x_l = 0, 0, 0, 0
        self.ld_lanes, self.ld_last, self.c_lanes, self.c_last = 0, 0, 0, 0
        self.d_busy = self.d_active = self.d_l = self.d_i = self.d_lanes = self.d_last = 0
        self.y_valid = self.y_final = self.y_last = 0
        self.d1_valid = self.d1_fin = self.d1_last = 0
        self.q_valid = self.q_fin = self.q_last = 0
        self.cycle = 0
        self.issues = 0

    def _ok(self, k: int) -> bool:
        return not (self.y_writers[k] and self.d_busy)

    def outputs(self) -> CycleOutputs:
        """The engine's outputs in the current cycle."""
        idle = self.st == _WAIT and self.core == 0
        return CycleOutputs(
            w_ready=int(idle and (not self.x_full or self.w_addr != 0)),
            x_ready=int(not self.x_full),
            y_valid=self.y_valid,
            y_last=self.y_last,
            issue=int(self.st == _ISSUE),
            core=self.core,
            busy=int(not idle),
        )

    def quiet_issue_cycles(self, x_can_send: bool, w_can_send: bool) -> int:
        """Cycles from now in which nothing but the issue counter can change (0 if none).

        True while a core is issuing, no ``x`` transfer is possible (X full or nothing to send),
        no weights are offered and the drain is idle; a bench may then skip that many cycles
        with :meth:`skip_issue` instead of stepping each one.
        """
        if (
            self.st != _ISSUE
            or self.remaining <= 2
            or (x_can_send and not self.x_full)
            or w_can_send
            or self.d_active
            or self.y_valid
            or self.d1_valid
            or self.q_valid
        ):
            return 0
        return self.remaining - 2

    def skip_issue(self, n: int) -> None:
        """Advance ``n`` quiet issue cycles (see :meth:`quiet_issue_cycles`)."""
        if not 0 < n < self.remaining - 1 or self.st != _ISSUE:
            raise ValueError(f"skip_issue: cannot skip {n} cycles in this state")
        self.remaining -= n
        self.issues += n
        self.cycle += n

    def step(
        self, *, w_valid: int = 0, x_valid: int = 0, x_last: int = 0, y_ready: int = 0
    ) -> CycleOutputs:
        """Advance one clock edge; return the outputs that held during the cycle."""
        out = self.outputs()
        nxt: dict[str, int] = {}  # register updates, applied together at the edge
        if w_valid and out.w_ready:
            nxt["w_addr"] = (self.w_addr + 1) % self.n_wtot
        if x_valid and out.x_ready:
            if self.x_j == self.n_in - 1:
                nxt["x_j"] = 0
                if self.x_l == self.lanes - 1 or x_last:
                    nxt.update(x_full=1, ld_lanes=self.x_l + 1, ld_last=int(bool(x_last)), x_l=0)
                else:
                    nxt["x_l"] = self.x_l + 1
            else:
                nxt["x_j"] = self.x_j + 1
        drain_start = False
        if self.st == _WAIT:
            k = self.core
            go = self._ok(k) and (k != 0 or (self.x_full and self.w_addr == 0))
            if go:
                nxt.update(st=_ISSUE, remaining=self.issues_per_core[k])
                if k == 0:
                    nxt.update(c_lanes=self.ld_lanes, c_last=self.ld_last)
        elif self.st == _ISSUE:
            nxt["remaining"] = self.remaining - 1
            self.issues += 1
            if self.remaining == 1:
                nxt.update(st=_FLUSH, fcnt=0)
        else:
            nxt["fcnt"] = self.fcnt + 1
            if self.fcnt == FLUSH_CYCLES - 1:
                nxt["st"] = _WAIT
                if self.core == 0:
                    nxt["x_full"] = 0
                if self.core == self.n_cores - 1:
                    nxt["core"] = 0
                    drain_start = True
                else:
                    nxt["core"] = self.core + 1
        if not self.y_valid or y_ready:  # the three drain stages shift together
            nxt.update(
                y_valid=self.q_valid,
                y_final=self.q_fin,
                y_last=self.q_last,
                q_valid=self.d1_valid,
                q_fin=self.d1_fin,
                q_last=self.d1_last,
            )
            if self.d_active:
                fin = self.d_l == self.d_lanes - 1 and self.d_i == self.n_out - 1
                nxt.update(d1_valid=1, d1_fin=int(fin), d1_last=int(fin and self.d_last))
                if self.d_i == self.n_out - 1:
                    nxt["d_i"] = 0
                    if self.d_l == self.d_lanes - 1:
                        nxt["d_active"] = 0
                    else:
                        nxt["d_l"] = self.d_l + 1
                else:
                    nxt["d_i"] = self.d_i + 1
            else:
                nxt["d1_valid"] = 0
        if self.y_valid and y_ready and self.y_final:
            nxt["d_busy"] = 0
        if drain_start:
            nxt.update(d_busy=1, d_active=1, d_l=0, d_i=0, d_lanes=self.c_lanes, d_last=self.c_last)
        self.__dict__.update(nxt)
        self.cycle += 1
        return out
