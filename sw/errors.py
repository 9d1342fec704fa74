"""Error types for user mistakes.

Everything a user can get wrong (a config field, a preset name, a file) raises a subclass of
:class:`FotrainError` whose message is one line naming the field and the bad value. The CLI prints
that line and exits non-zero without a traceback; programming errors stay ordinary exceptions.
"""

__all__ = ["ConfigError", "FotrainError", "FormatError"]


class FotrainError(ValueError):
    """A user-facing error: one line, names the field and the offending value."""


class ConfigError(FotrainError):
    """A configuration value breaks a stated rule."""


class FormatError(FotrainError):
    """A fixed-point format, or a combination of formats, cannot be computed exactly."""
