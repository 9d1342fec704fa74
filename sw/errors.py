"""Error types for user mistakes, and the field checks that raise them.

Everything a user can get wrong (a config field, a preset name, a file) raises a subclass of
:class:`FotrainError` whose message is one line naming the field and the bad value. The CLI prints
that line and exits non-zero without a traceback; programming errors stay ordinary exceptions.
"""

from dataclasses import fields
from typing import Any

__all__ = ["ConfigError", "FotrainError", "FormatError", "check_int", "check_ints", "check_keys"]


class FotrainError(ValueError):
    """A user-facing error: one line, names the field and the offending value."""


class ConfigError(FotrainError):
    """A configuration value breaks a stated rule."""


class FormatError(FotrainError):
    """A fixed-point format, or a combination of formats, cannot be computed exactly."""


def check_int(value: Any, name: str, *, lo: int = 1) -> int:
    """Return ``value`` if it is an integer ``>= lo``, else raise naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: must be an integer, got {value!r}")
    if value < lo:
        raise ConfigError(f"{name}: must be >= {lo}, got {value}")
    return value


def check_ints(value: Any, name: str) -> tuple[int, ...]:
    """Return ``value`` as a tuple of positive integers, else raise naming the entry."""
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name}: must be a list of integers, got {value!r}")
    out = tuple(value)
    for i, v in enumerate(out):
        check_int(v, f"{name}[{i}]")
    return out


def check_keys(d: dict[str, Any], cls: type, where: str) -> None:
    """Raise unless ``d`` is a table whose keys are all fields of the dataclass ``cls``."""
    if not isinstance(d, dict):
        raise ConfigError(f"{where or 'config'}: must be a table, got {d!r}")
    known = {f.name for f in fields(cls)}
    for key in d:
        if key not in known:
            raise ConfigError(
                f"{where}{'.' if where else ''}{key}: unknown key "
                f"(known: {', '.join(sorted(known))})"
            )
