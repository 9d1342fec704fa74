"""Base class for flat, typed config sections (``[train]``, ``[zo]``, ``[local]``, ``[pinn]``).

A section is a frozen dataclass whose fields are ``int``, ``float``, ``bool``, ``str`` or tuples of
those. :class:`Section` gives it type checking with field-naming errors, choice checks
(``CHOICES``), and ``from_dict`` / ``to_dict`` for TOML and JSON. Subclasses call
``self.check()`` first in ``__post_init__`` and then add their own rules with :meth:`require`.
"""

import typing
from dataclasses import fields
from typing import Any, ClassVar

from ..errors import ConfigError

__all__ = ["Section"]


def _coerce(value: Any, tp: Any, name: str) -> Any:
    origin = typing.get_origin(tp)
    if origin is tuple:
        args = typing.get_args(tp)
        if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
            raise ConfigError(f"{name}: must be a list, got {value!r}")
        item = args[0]
        return tuple(_coerce(v, item, f"{name}[{i}]") for i, v in enumerate(value))
    if tp is bool:
        if not isinstance(value, bool):
            raise ConfigError(f"{name}: must be true or false, got {value!r}")
        return value
    if tp is int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"{name}: must be an integer, got {value!r}")
        return value
    if tp is float:
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise ConfigError(f"{name}: must be a number, got {value!r}")
        if value != value or value in (float("inf"), float("-inf")):
            raise ConfigError(f"{name}: must be finite, got {value!r}")
        return float(value)
    if tp is str:
        if not isinstance(value, str):
            raise ConfigError(f"{name}: must be a string, got {value!r}")
        return value
    raise TypeError(f"unsupported section field type {tp!r} for {name}")


class Section:
    """Mixin for frozen dataclass config sections (see the module docstring)."""

    #: field name -> allowed string values
    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {}

    def check(self) -> None:
        """Coerce and type-check every field; check ``CHOICES``. Raises :class:`ConfigError`."""
        hints = typing.get_type_hints(type(self))
        for f in fields(self):  # type: ignore[arg-type]
            value = _coerce(getattr(self, f.name), hints[f.name], f.name)
            object.__setattr__(self, f.name, value)
        for name, choices in self.CHOICES.items():
            if getattr(self, name) not in choices:
                raise ConfigError(
                    f"{name}: {getattr(self, name)!r} is not one of {', '.join(choices)}"
                )

    def require(self, ok: bool, name: str, rule: str) -> None:
        """Raise ``ConfigError("<name>: <rule>, got <value>")`` unless ``ok``."""
        if not ok:
            raise ConfigError(f"{name}: {rule}, got {getattr(self, name)!r}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str) -> Any:
        """Build from a table; unknown keys and bad values name ``where.field``."""
        if not isinstance(d, dict):
            raise ConfigError(f"{where}: must be a table, got {d!r}")
        known = {f.name for f in fields(cls)}  # type: ignore[arg-type]
        for key in d:
            if key not in known:
                raise ConfigError(f"{where}.{key}: unknown key (known: {', '.join(sorted(known))})")
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{where}.{e}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict (tuples become lists) for TOML/JSON."""
        out = {}
        for f in fields(self):  # type: ignore[arg-type]
            v = getattr(self, f.name)
            out[f.name] = list(v) if isinstance(v, tuple) else v
        return out
