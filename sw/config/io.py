"""Reading and writing configs: presets shipped in ``fotrain.sw.config.presets``, TOML files."""

import tomllib
from importlib import resources
from pathlib import Path

from ..errors import ConfigError
from .run import Config

__all__ = ["dump_toml", "load_config", "preset_names"]

PRESETS = "fotrain.sw.config.presets"


def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    root = resources.files(PRESETS)
    return sorted(p.name[:-5] for p in root.iterdir() if p.name.endswith(".toml"))


def _parse_toml(text: str, source: str) -> Config:
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(f"{source}: not valid TOML ({e})") from None
    try:
        return Config.from_dict(data)
    except ConfigError as e:
        raise ConfigError(f"{source}: {e}") from None


def load_config(name_or_path: str | Path) -> Config:
    """Load a preset by name or a TOML file by path."""
    p = Path(name_or_path)
    name = str(name_or_path)
    if p.is_dir() and name not in preset_names():  # a run directory may share a preset's name
        raise ConfigError(f"config: {name!r} is a directory, not a .toml file or preset name")
    if p.suffix == ".toml" or p.is_file():
        if not p.is_file():
            raise ConfigError(f"config: no such file {str(p)!r}")
        try:
            text = p.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as e:
            raise ConfigError(f"config: cannot read {str(p)!r} ({e})") from None
        return _parse_toml(text, str(p))
    if name == "default":
        return Config()
    names = preset_names()
    if name not in names:
        raise ConfigError(
            f"preset: unknown name {name!r} (known: default, {', '.join(names)}; "
            "or give a path to a .toml file)"
        )
    text = resources.files(PRESETS).joinpath(f"{name}.toml").read_text("utf-8")
    return _parse_toml(text, f"preset {name}")


def dump_toml(cfg: Config, path: str | Path) -> None:
    """Write ``cfg`` as TOML atomically (temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(cfg.to_toml(), encoding="utf-8")
    tmp.replace(p)
