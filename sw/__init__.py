"""fotrain golden model: numpy only (never imports amaranth or cocotb).

The top level is the specification the hardware mirrors: :mod:`.qformat` (the fixed-point type),
:mod:`.formats` (a network's number formats), :mod:`.tt` (TT-matrix layers), :mod:`.dense`,
:mod:`.perturb` (the LFSR perturbation generator), :mod:`.model` (networks of layers),
:mod:`.bp` (the backprop gradient), :mod:`.losses` and :mod:`.errors`. One subpackage per
concern sits above it: :mod:`.config` (the one config, a file per section, presets),
:mod:`.train` (trainer, method protocol and registry, optimisers, data, runs), :mod:`.zo`
(zeroth-order training, float and integer), :mod:`.local` (tpSGD, DRTP, DFA),
:mod:`.pinn` (BP-free physics-informed training) and :mod:`.studies`.

The names below are re-exported lazily (:pep:`562`), so ``import fotrain.sw`` loads no numpy
module until one of them is used: ``from fotrain.sw import Config, QFormat, tt_forward_fixed``.
"""

import importlib
from typing import Any

#: public name -> defining module (relative to this package)
_EXPORTS = {
    "Config": "config",
    "FormatConfig": "formats",
    "HardwareConfig": "config",
    "LayerConfig": "config",
    "load_config": "config",
    "preset_names": "config",
    "dump_toml": "config",
    "QFormat": "qformat",
    "Rounding": "qformat",
    "Overflow": "qformat",
    "OverflowStats": "qformat",
    "requantize": "qformat",
    "tt_forward": "tt",
    "tt_forward_fixed": "tt",
    "tt_init": "tt",
    "tt_to_dense": "tt",
    "tt_from_dense": "tt",
    "tt_fixed_error_bound": "tt",
    "dense_forward": "dense",
    "dense_forward_fixed": "dense",
    "lfsr_bits": "perturb",
    "perturb_words": "perturb",
    "query_seed": "perturb",
    "rademacher": "perturb",
    "init_params": "model",
    "network_forward": "model",
    "network_forward_fixed": "model",
    "quantize_params": "model",
    "network_grad": "bp",
    "make_method": "train.registry",
    "run_training": "train.session",
    "ConfigError": "errors",
    "FormatError": "errors",
    "FotrainError": "errors",
}
_SUBMODULES = (
    "bp",
    "config",
    "dense",
    "errors",
    "formats",
    "local",
    "losses",
    "model",
    "perturb",
    "pinn",
    "qformat",
    "studies",
    "train",
    "tt",
    "zo",
)

__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name in _EXPORTS:
        value = getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
    elif name in _SUBMODULES:
        value = importlib.import_module(f".{name}", __name__)
    else:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS) | set(_SUBMODULES))
