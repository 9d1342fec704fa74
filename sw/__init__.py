"""fotrain golden model: numpy only (never imports amaranth or cocotb).

Modules: :mod:`.qformat` (fixed-point type), :mod:`.config` (the one config), :mod:`.tt` (TT-matrix
layers), :mod:`.dense` (dense layers), :mod:`.errors` (user-facing errors).
"""

from . import config, dense, errors, perturb, qformat, tt

__all__ = ["config", "dense", "errors", "perturb", "qformat", "tt"]
