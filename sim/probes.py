"""Bench-only wrappers that add observation ports to a component before it goes to Verilog.

Contract: :class:`IssueCounted` has every port of the :class:`~fotrain.hw.tt.TTEngine` it wraps,
under the same names, plus ``issue_count``, the number of cycles in which the engine's ``issue``
output was high since reset. A cocotb bench that skips cycles without sampling them (the fast
mode of :mod:`fotrain.sim.tb.tb_engine`) still reads the RTL's own issue count from it, instead
of crediting the cycle model's count to the RTL.
"""

from amaranth.hdl import Module
from amaranth.lib import wiring
from amaranth.lib.wiring import Out

__all__ = ["IssueCounted"]


class IssueCounted(wiring.Component):
    """``engine`` with an ``issue_count`` output (``width`` bits, wraps; reset by ``rst``)."""

    def __init__(self, engine, width: int = 48):
        self.engine = engine
        self.plan = engine.plan
        members = dict(engine.signature.members.items())
        if "issue_count" in members:
            raise ValueError("IssueCounted: the engine already has an issue_count port")
        super().__init__({**members, "issue_count": Out(width)})

    def elaborate(self, platform):
        """Forward every port to the engine and count its ``issue`` cycles."""
        m = Module()
        m.submodules.engine = e = self.engine
        for name, member in e.signature.members.items():
            if member.is_signature:
                inner, outer = getattr(e, name), getattr(self, name)
                if member.flow == wiring.In:
                    wiring.connect(m, wiring.flipped(outer), inner)
                else:
                    wiring.connect(m, inner, wiring.flipped(outer))
            elif member.flow == wiring.Out:
                m.d.comb += getattr(self, name).eq(getattr(e, name))
            else:
                m.d.comb += getattr(e, name).eq(getattr(self, name))
        with m.If(e.issue):
            m.d.sync += self.issue_count.eq(self.issue_count + 1)
        return m
