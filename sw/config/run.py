"""The root :class:`Config`: layers, formats, hardware and the run sections, validated together.

The accumulator sizing rule lives here: ``Config`` refuses any ``formats.acc`` that some core of
some layer could overflow.
"""

import json
import tomllib
from dataclasses import dataclass, field, replace
from typing import Any

import tomli_w

from ..errors import ConfigError, check_keys
from ..formats import FormatConfig
from .hardware import HardwareConfig
from .layer import LayerConfig
from .local import LocalConfig
from .pinn import PINNConfig
from .section import Section
from .train import TrainConfig
from .zo import ZOConfig

__all__ = ["SECTIONS", "Config"]


def _default_layers() -> tuple[LayerConfig, ...]:
    return (
        LayerConfig(784, 256, in_modes=(4, 7, 7, 4), out_modes=(4, 4, 4, 4), ranks=(1, 4, 4, 4, 1)),
    )


SECTIONS: dict[str, type[Section]] = {
    "train": TrainConfig,
    "zo": ZOConfig,
    "local": LocalConfig,
    "pinn": PINNConfig,
}


@dataclass(frozen=True)
class Config:
    """The single source of truth: ``layers`` (applied in order), ``formats``, ``hardware``.

    The default is the MNIST TT layer 784 -> 256 (``[4,7,7,4] -> [4,4,4,4]``, rank 4, 1,024 core
    entries) in 16-bit fixed point on an 8-lane engine.
    """

    name: str = "default"
    layers: tuple[LayerConfig, ...] = field(default_factory=_default_layers)
    formats: FormatConfig = field(default_factory=FormatConfig)
    hardware: HardwareConfig = field(default_factory=HardwareConfig)
    train: TrainConfig = field(default_factory=TrainConfig)
    zo: ZOConfig = field(default_factory=ZOConfig)
    local: LocalConfig = field(default_factory=LocalConfig)
    pinn: PINNConfig = field(default_factory=PINNConfig)

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name:
            raise ConfigError(f"name: must be a non-empty string, got {self.name!r}")
        object.__setattr__(self, "layers", tuple(self.layers))
        if not self.layers:
            raise ConfigError("layers: at least one layer is needed")
        for i, (a, b) in enumerate(zip(self.layers, self.layers[1:], strict=False)):
            if a.out_features != b.in_features:
                raise ConfigError(
                    f"layers[{i + 1}].in_features: {b.in_features} != "
                    f"layers[{i}].out_features {a.out_features}"
                )
        f = self.formats
        for i, layer in enumerate(self.layers):
            ks = layer.contraction_lengths
            needs = [
                f.acc_bits_needed(t, bias=layer.bias and k == len(ks) - 1) for k, t in enumerate(ks)
            ]
            need = max(needs)
            k = needs.index(need)
            if need > f.acc.width:  # report the worst core of the layer
                raise ConfigError(
                    f"formats.acc.width: {f.acc.width} is too narrow for layers[{i}] core "
                    f"{k} ({ks[k]} products of {f.act} x {f.weight}); needs {need} bits"
                )
        if f.weight.width > self.hardware.weight_mem_width:
            raise ConfigError(
                f"hardware.weight_mem_width: {self.hardware.weight_mem_width} < "
                f"formats.weight.width {f.weight.width}"
            )
        if f.act.width > self.hardware.act_mem_width:
            raise ConfigError(
                f"hardware.act_mem_width: {self.hardware.act_mem_width} < "
                f"formats.act.width {f.act.width}"
            )

    @property
    def in_features(self) -> int:
        """Inputs of the first layer."""
        return self.layers[0].in_features

    @property
    def out_features(self) -> int:
        """Outputs of the last layer."""
        return self.layers[-1].out_features

    @property
    def params(self) -> int:
        """Trainable entries of the whole network."""
        return sum(layer.params for layer in self.layers)

    def replace(self, **changes: Any) -> "Config":
        """Return a validated copy with top-level fields replaced."""
        return replace(self, **changes)

    # -- serialisation ---------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """Plain nested dict (TOML/JSON)."""
        d: dict[str, Any] = {
            "name": self.name,
            "formats": self.formats.to_dict(),
            "hardware": self.hardware.to_dict(),
        }
        for name in SECTIONS:
            d[name] = getattr(self, name).to_dict()
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        """Build and validate from a nested dict; unknown keys are errors."""
        check_keys(d, cls, "")
        layers = d.get("layers")
        kw: dict[str, Any] = {}
        if "name" in d:
            kw["name"] = d["name"]
        if layers is not None:
            if not isinstance(layers, list):
                raise ConfigError(f"layers: must be a list of tables, got {layers!r}")
            kw["layers"] = tuple(
                LayerConfig.from_dict(ld, f"layers[{i}]") for i, ld in enumerate(layers)
            )
        if "formats" in d:
            kw["formats"] = FormatConfig.from_dict(d["formats"])
        if "hardware" in d:
            kw["hardware"] = HardwareConfig.from_dict(d["hardware"])
        for name, section in SECTIONS.items():
            if name in d:
                kw[name] = section.from_dict(d[name], name)
        return cls(**kw)

    def with_overrides(self, assignments: list[str]) -> "Config":
        """Apply ``section.key=value`` strings (values parsed as TOML, bare words as strings)."""
        d = self.to_dict()
        for text in assignments:
            key, sep, raw = text.partition("=")
            key = key.strip()
            if not sep or not key:
                raise ConfigError(f"--set: expected key=value, got {text!r}")
            try:
                value = tomllib.loads(f"v = {raw.strip()}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw.strip()
            node: Any = d
            parts = key.split(".")
            for part in parts[:-1]:
                if isinstance(node, list):
                    if not part.isdigit() or int(part) >= len(node):
                        raise ConfigError(f"--set {key}: no list entry {part!r}")
                    node = node[int(part)]
                elif isinstance(node, dict) and part in node:
                    node = node[part]
                else:
                    raise ConfigError(f"--set {key}: unknown section {part!r}")
            if not isinstance(node, dict) or parts[-1] not in node:
                raise ConfigError(f"--set {key}: unknown key {parts[-1]!r}")
            node[parts[-1]] = value
        return Config.from_dict(d)

    def to_json(self) -> str:
        """Compact JSON (what cocotb benches receive in ``FOTRAIN_CFG``)."""
        return json.dumps(self.to_dict(), separators=(",", ":"))

    @classmethod
    def from_json(cls, text: str) -> "Config":
        """Inverse of :meth:`to_json`."""
        return cls.from_dict(json.loads(text))

    def to_toml(self) -> str:
        """TOML text that :func:`load_config` reads back to an equal object."""
        return tomli_w.dumps(self.to_dict())
