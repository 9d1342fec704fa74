"""The one configuration object and its sections, one file per section.

:class:`Config` (``run``) is frozen and validated on construction; every error names the field path
and the bad value (``layers[0].in_modes: product 784 != in_features 785``). It round-trips
through TOML (``load_config`` / ``dump_toml``) and JSON (``to_json`` / ``from_json``, for cocotb's
``extra_env``). Presets are TOML files shipped in ``fotrain.sw.config.presets``.

Accumulator sizing rule (checked in ``Config``, relied on by ``tt_forward_fixed`` and the RTL): for
every core of every layer, ``K * max|act| * max|weight|`` (+ the aligned bias on the last core)
must fit ``formats.acc``, so the accumulator can never overflow and the order of additions is
irrelevant.
"""

from ..formats import FormatConfig
from .hardware import HardwareConfig
from .io import dump_toml, load_config, preset_names
from .layer import ACTIVATIONS, LAYER_KINDS, LayerConfig
from .local import LOCAL_RULES, LocalConfig
from .pinn import PINNConfig
from .run import SECTIONS, Config
from .section import Section
from .train import METHODS, TASKS, TrainConfig
from .zo import ZOConfig

__all__ = [
    "ACTIVATIONS",
    "LAYER_KINDS",
    "LOCAL_RULES",
    "METHODS",
    "SECTIONS",
    "TASKS",
    "Config",
    "FormatConfig",
    "HardwareConfig",
    "LayerConfig",
    "LocalConfig",
    "PINNConfig",
    "Section",
    "TrainConfig",
    "ZOConfig",
    "dump_toml",
    "load_config",
    "preset_names",
]
