"""TT-matrix layer engine: ``y = x @ W.T (+ bias)`` on fixed-point codes, W held as TT cores.

Mirrors :func:`fotrain.sw.tt.tt_forward_fixed` bit for bit (same contraction order, exact integer
accumulation, one requantization to ``formats.act`` after every core, bias aligned by
``weight.frac`` into the last core's accumulator), optionally followed by a fused ReLU.

The engine is elaborated in five parts, one module each: the memories, the
loaders (``w`` and ``x`` streams into RAM), the sequencer (a three-state machine stepping the
loop nest of :mod:`fotrain.hw.plan`), the MAC pipeline (operand reads, one multiplier per lane,
the accumulators and one :class:`~fotrain.hw.requantize.Requantize` per lane) and the output
drain (y buffer to the ``y`` stream). Signals that more than one part reads live in
:class:`Control`.
"""

from .engine import Phase, TTEngine
from .state import core_param_layout, drain_tag_layout, mac_tag_layout

__all__ = ["Phase", "TTEngine", "core_param_layout", "drain_tag_layout", "mac_tag_layout"]
