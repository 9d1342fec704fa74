"""``[hardware]``: accelerator parameters (:class:`HardwareConfig`)."""

from dataclasses import dataclass, fields
from typing import Any

from ..errors import ConfigError, check_int, check_keys

__all__ = ["HardwareConfig"]


@dataclass(frozen=True)
class HardwareConfig:
    """Accelerator parameters: MAC ``lanes``, memory word widths and the perturbation PRNG."""

    lanes: int = 8
    weight_mem_width: int = 64
    act_mem_width: int = 64
    prng_width: int = 32
    perturb_bits_per_cycle: int = 8

    def __post_init__(self) -> None:
        check_int(self.lanes, "lanes")
        if self.lanes > 256:
            raise ConfigError(f"lanes: {self.lanes} is more than 256")
        for name in ("weight_mem_width", "act_mem_width"):
            check_int(getattr(self, name), name, lo=8)
        check_int(self.prng_width, "prng_width", lo=8)
        if self.prng_width > 64:
            raise ConfigError(f"prng_width: {self.prng_width} is more than 64")
        check_int(self.perturb_bits_per_cycle, "perturb_bits_per_cycle")
        if self.perturb_bits_per_cycle > self.prng_width:
            raise ConfigError(
                f"perturb_bits_per_cycle: {self.perturb_bits_per_cycle} is more "
                f"than prng_width {self.prng_width}"
            )

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "hardware") -> "HardwareConfig":
        """Build from a TOML/JSON table."""
        check_keys(d, cls, where)
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{where}.{e}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for TOML/JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}
