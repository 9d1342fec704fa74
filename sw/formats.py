"""The number formats of a network: ``weight``, ``act`` and ``acc`` (:class:`FormatConfig`).

Shared by the configuration (:mod:`fotrain.sw.config`), the TT and dense golden models and the RTL,
so it sits below all of them.
"""

from dataclasses import dataclass
from typing import Any

from .errors import ConfigError, FotrainError, check_keys
from .qformat import Overflow, QFormat, Rounding

__all__ = ["FormatConfig", "format_from"]


def format_from(value: Any, where: str) -> QFormat:
    """A :class:`QFormat` from a format, a ``fixed<W,I,...>`` string or a table."""
    if isinstance(value, QFormat):
        return value
    try:
        if isinstance(value, str):
            return QFormat.from_string(value)
        if isinstance(value, dict):
            check_keys(value, QFormat, where)
            if "width" not in value or "frac" not in value:
                raise ConfigError(f"{where}: needs width and frac, got {value!r}")
            return QFormat(**value)
    except FotrainError as e:
        raise ConfigError(f"{where}.{e}") from None
    raise ConfigError(f"{where}: must be a table or 'fixed<W,I,...>' string, got {value!r}")


@dataclass(frozen=True)
class FormatConfig:
    """Number formats: ``weight`` (TT cores, dense weights), ``act`` (layer inputs, every
    intermediate between cores, outputs, biases) and ``acc`` (accumulator).

    ``acc.frac`` must equal ``act.frac + weight.frac``: products enter the accumulator unrounded
    and the only rounding of a core is the requantization of ``acc`` into ``act``.
    """

    weight: QFormat = QFormat(16, 14, rounding=Rounding.RND, overflow=Overflow.SAT)
    act: QFormat = QFormat(16, 10, rounding=Rounding.RND, overflow=Overflow.SAT)
    acc: QFormat = QFormat(40, 24, rounding=Rounding.RND, overflow=Overflow.SAT)

    def __post_init__(self) -> None:
        for name in ("weight", "act", "acc"):
            object.__setattr__(self, name, format_from(getattr(self, name), name))
        if self.acc.frac != self.act.frac + self.weight.frac:
            raise ConfigError(
                f"acc.frac: {self.acc.frac} != act.frac {self.act.frac} + "
                f"weight.frac {self.weight.frac} (products enter the "
                "accumulator unrounded)"
            )
        if not (self.act.signed and self.weight.signed and self.acc.signed):
            raise ConfigError("formats: weight, act and acc must be signed")

    def acc_bits_needed(self, terms: int, bias: bool = False) -> int:
        """Signed accumulator width that holds any sum of ``terms`` products (+ an aligned bias)."""
        bound = terms * self.act.max_abs_code * self.weight.max_abs_code
        if bias:
            bound += self.act.max_abs_code << max(self.weight.frac, 0)
        return bound.bit_length() + 1

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "formats") -> "FormatConfig":
        """Build from a TOML/JSON table of formats."""
        check_keys(d, cls, where)
        try:
            return cls(**{k: format_from(v, f"{where}.{k}") for k, v in d.items()})
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(where) else f"{where}.{msg}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for TOML/JSON."""
        return {k: getattr(self, k).to_dict() for k in ("weight", "act", "acc")}
