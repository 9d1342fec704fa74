"""Amaranth shapes and stream payload layouts derived from the one config.

Contract: :func:`shape_of` maps a :class:`~fotrain.sw.qformat.QFormat` to the Amaranth shape that
holds its codes (``signed(width)`` or ``unsigned(width)``); the ``*_layout`` functions give the
payload shapes of the :class:`~fotrain.hw.tt.TTEngine` streams, so benches and wrappers never
re-derive widths. Verilog ports are flat and unsigned: a struct payload comes out as one vector
with the first field in the least significant bits.
"""

from amaranth.hdl import Shape, signed, unsigned
from amaranth.lib import data

from fotrain.sw.config import Config
from fotrain.sw.qformat import QFormat

__all__ = ["act_stream_layout", "shape_of", "weight_stream_shape"]


def shape_of(fmt: QFormat) -> Shape:
    """Shape of the codes of ``fmt``: ``signed(width)`` (or ``unsigned`` for unsigned formats)."""
    return signed(fmt.width) if fmt.signed else unsigned(fmt.width)


def act_stream_layout(cfg: Config) -> data.StructLayout:
    """Payload of the ``x`` and ``y`` streams: one ``act`` code and a ``last`` flag.

    ``last`` marks the final code of a batch (bits ``[0, act.width)`` are ``data``, bit
    ``act.width`` is ``last``).
    """
    return data.StructLayout({"data": shape_of(cfg.formats.act), "last": 1})


def weight_stream_shape(cfg: Config, *, bias: bool) -> Shape:
    """Payload of the ``w`` stream: a signed code wide enough for a weight (and a bias) code."""
    width = cfg.formats.weight.width
    if bias:
        width = max(width, cfg.formats.act.width)
    return signed(width)
