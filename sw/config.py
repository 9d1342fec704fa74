"""The one configuration object: network geometry, number formats and hardware parameters.

:class:`Config` is frozen and validated on construction; every error names the field path and the
bad value (``layers[0].in_modes: product 784 != in_features 785``). It round-trips through TOML
(``load_config`` / ``dump_toml``) and JSON (``to_json`` / ``from_json``, for cocotb's
``extra_env``). Presets are TOML files shipped in ``fotrain.sw.presets``.

Accumulator sizing rule (checked here, relied on by ``tt_forward_fixed`` and the RTL): for every
core of every layer, ``K * max|act| * max|weight|`` (+ the aligned bias on the last core) must fit
``formats.acc``, so the accumulator can never overflow and the order of additions is irrelevant.
"""

import json
import math
import tomllib
from dataclasses import dataclass, field, fields, replace
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar

import tomli_w

from .errors import ConfigError, FotrainError
from .local_config import LocalConfig
from .pinn_config import PINNConfig
from .qformat import QFormat
from .section import Section
from .tt import tt_core_costs, tt_core_shapes

__all__ = [
    "ACTIVATIONS",
    "Config",
    "FormatConfig",
    "HardwareConfig",
    "LayerConfig",
    "LocalConfig",
    "PINNConfig",
    "TrainConfig",
    "ZOConfig",
    "dump_toml",
    "load_config",
    "preset_names",
]

ACTIVATIONS = ("none", "relu", "tanh", "sin")
LAYER_KINDS = ("tt", "dense")


def _int(value: Any, name: str, *, lo: int = 1) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{name}: must be an integer, got {value!r}")
    if value < lo:
        raise ConfigError(f"{name}: must be >= {lo}, got {value}")
    return value


def _ints(value: Any, name: str) -> tuple[int, ...]:
    if isinstance(value, (str, bytes)) or not hasattr(value, "__iter__"):
        raise ConfigError(f"{name}: must be a list of integers, got {value!r}")
    out = tuple(value)
    for i, v in enumerate(out):
        _int(v, f"{name}[{i}]")
    return out


def _check_keys(d: dict[str, Any], cls: type, where: str) -> None:
    if not isinstance(d, dict):
        raise ConfigError(f"{where or 'config'}: must be a table, got {d!r}")
    known = {f.name for f in fields(cls)}
    for key in d:
        if key not in known:
            raise ConfigError(f"{where}{'.' if where else ''}{key}: unknown key "
                              f"(known: {', '.join(sorted(known))})")


@dataclass(frozen=True)
class LayerConfig:
    """One layer: a TT-matrix (``kind="tt"``) or a dense matrix, ``in_features -> out_features``.

    TT layers give ``in_modes`` (``prod == in_features``), ``out_modes`` (``prod ==
    out_features``) and ``ranks`` of length ``d + 1`` with ``ranks[0] == ranks[-1] == 1``; core k
    has shape ``(ranks[k], in_modes[k], out_modes[k], ranks[k+1])``.
    """

    in_features: int
    out_features: int
    kind: str = "tt"
    in_modes: tuple[int, ...] = ()
    out_modes: tuple[int, ...] = ()
    ranks: tuple[int, ...] = ()
    bias: bool = False
    activation: str = "none"

    def __post_init__(self) -> None:
        _int(self.in_features, "in_features")
        _int(self.out_features, "out_features")
        if self.kind not in LAYER_KINDS:
            raise ConfigError(f"kind: {self.kind!r} is not one of {', '.join(LAYER_KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(f"activation: {self.activation!r} is not one of "
                              f"{', '.join(ACTIVATIONS)}")
        if not isinstance(self.bias, bool):
            raise ConfigError(f"bias: must be true or false, got {self.bias!r}")
        for name in ("in_modes", "out_modes", "ranks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.kind == "dense":
            for name in ("in_modes", "out_modes", "ranks"):
                if getattr(self, name):
                    raise ConfigError(f"{name}: a dense layer takes no {name}, got "
                                      f"{list(getattr(self, name))}")
            return
        ins, outs = _ints(self.in_modes, "in_modes"), _ints(self.out_modes, "out_modes")
        if not ins:
            raise ConfigError("in_modes: a TT layer needs at least one mode")
        if len(ins) != len(outs):
            raise ConfigError(f"out_modes: {len(outs)} modes {list(outs)} but in_modes has "
                              f"{len(ins)} {list(ins)}; the lists must have the same length")
        if math.prod(ins) != self.in_features:
            raise ConfigError(f"in_modes: product of {list(ins)} is {math.prod(ins)} != "
                              f"in_features {self.in_features}")
        if math.prod(outs) != self.out_features:
            raise ConfigError(f"out_modes: product of {list(outs)} is {math.prod(outs)} != "
                              f"out_features {self.out_features}")
        ranks = _ints(self.ranks, "ranks")
        if len(ranks) != len(ins) + 1:
            raise ConfigError(f"ranks: {list(ranks)} has {len(ranks)} entries; {len(ins)} cores "
                              f"need {len(ins) + 1}")
        if ranks[0] != 1 or ranks[-1] != 1:
            raise ConfigError(f"ranks: boundary ranks must be 1, got {list(ranks)}")

    # -- derived numbers -------------------------------------------------------------------------
    @property
    def core_shapes(self) -> list[tuple[int, int, int, int]]:
        """Shapes ``(r_{k-1}, n_k, m_k, r_k)`` of the TT cores (empty for dense)."""
        if self.kind == "dense":
            return []
        return tt_core_shapes(self.in_modes, self.out_modes, self.ranks)

    @property
    def weight_params(self) -> int:
        """Trainable weight entries (TT core entries, or ``out * in`` for dense)."""
        if self.kind == "dense":
            return self.in_features * self.out_features
        return sum(math.prod(s) for s in self.core_shapes)

    @property
    def params(self) -> int:
        """Trainable entries including the bias."""
        return self.weight_params + (self.out_features if self.bias else 0)

    @property
    def dense_params(self) -> int:
        """Entries of the equivalent dense layer (weights + bias)."""
        return self.in_features * self.out_features + (self.out_features if self.bias else 0)

    def macs(self, batch: int = 1) -> int:
        """Multiply-accumulates of one forward pass over ``batch`` inputs."""
        if self.kind == "dense":
            return batch * self.in_features * self.out_features
        return sum(c.macs for c in tt_core_costs(self.in_modes, self.out_modes, self.ranks, batch))

    @property
    def contraction_lengths(self) -> list[int]:
        """Terms summed per accumulator, per core (``r_{k-1} * n_k``; ``in_features`` if dense)."""
        if self.kind == "dense":
            return [self.in_features]
        return [s[0] * s[1] for s in self.core_shapes]

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "layer") -> "LayerConfig":
        """Build from a TOML/JSON table; ``ranks`` may be one integer (interior rank)."""
        _check_keys(d, cls, where)
        d = dict(d)
        if isinstance(d.get("ranks"), int) and not isinstance(d.get("ranks"), bool):
            r, n = d["ranks"], len(d.get("in_modes", ()))
            d["ranks"] = (1,) + (r,) * max(n - 1, 0) + (1,)
        for key in ("in_features", "out_features"):
            if key not in d:
                raise ConfigError(f"{where}.{key}: missing")
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{where}.{e}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for TOML/JSON (dense layers omit the TT fields)."""
        d: dict[str, Any] = {"kind": self.kind, "in_features": self.in_features,
                             "out_features": self.out_features}
        if self.kind == "tt":
            d.update(in_modes=list(self.in_modes), out_modes=list(self.out_modes),
                     ranks=list(self.ranks))
        d.update(bias=self.bias, activation=self.activation)
        return d


def _fmt_from(value: Any, where: str) -> QFormat:
    if isinstance(value, QFormat):
        return value
    try:
        if isinstance(value, str):
            return QFormat.from_string(value)
        if isinstance(value, dict):
            _check_keys(value, QFormat, where)
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

    weight: QFormat = QFormat(16, 14, rounding="RND", overflow="SAT")
    act: QFormat = QFormat(16, 10, rounding="RND", overflow="SAT")
    acc: QFormat = QFormat(40, 24, rounding="RND", overflow="SAT")

    def __post_init__(self) -> None:
        for name in ("weight", "act", "acc"):
            object.__setattr__(self, name, _fmt_from(getattr(self, name), name))
        if self.acc.frac != self.act.frac + self.weight.frac:
            raise ConfigError(f"acc.frac: {self.acc.frac} != act.frac {self.act.frac} + "
                              f"weight.frac {self.weight.frac} (products enter the "
                              "accumulator unrounded)")
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
        _check_keys(d, cls, where)
        try:
            return cls(**{k: _fmt_from(v, f"{where}.{k}") for k, v in d.items()})
        except ConfigError as e:
            msg = str(e)
            raise ConfigError(msg if msg.startswith(where) else f"{where}.{msg}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for TOML/JSON."""
        return {k: getattr(self, k).to_dict() for k in ("weight", "act", "acc")}


@dataclass(frozen=True)
class HardwareConfig:
    """Accelerator parameters: MAC ``lanes``, memory word widths and the perturbation PRNG."""

    lanes: int = 8
    weight_mem_width: int = 64
    act_mem_width: int = 64
    prng_width: int = 32
    perturb_bits_per_cycle: int = 8

    def __post_init__(self) -> None:
        _int(self.lanes, "lanes")
        if self.lanes > 256:
            raise ConfigError(f"lanes: {self.lanes} is more than 256")
        for name in ("weight_mem_width", "act_mem_width"):
            _int(getattr(self, name), name, lo=8)
        _int(self.prng_width, "prng_width", lo=8)
        if self.prng_width > 64:
            raise ConfigError(f"prng_width: {self.prng_width} is more than 64")
        _int(self.perturb_bits_per_cycle, "perturb_bits_per_cycle")
        if self.perturb_bits_per_cycle > self.prng_width:
            raise ConfigError(f"perturb_bits_per_cycle: {self.perturb_bits_per_cycle} is more "
                              f"than prng_width {self.prng_width}")

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "hardware") -> "HardwareConfig":
        """Build from a TOML/JSON table."""
        _check_keys(d, cls, where)
        try:
            return cls(**d)
        except ConfigError as e:
            raise ConfigError(f"{where}.{e}") from None

    def to_dict(self) -> dict[str, Any]:
        """Plain dict for TOML/JSON."""
        return {f.name: getattr(self, f.name) for f in fields(self)}


TASKS = ("mnist", "fmnist", "hjb20", "heat")
METHODS = ("zo", "hybrid", "bp", "tpsgd", "drtp", "dfa", "sdfa", "shallow")


@dataclass(frozen=True)
class TrainConfig(Section):
    """``[train]``: what to learn, with which method and numerics, and the optimiser schedule.

    ``lr`` follows ``lr_schedule``: ``constant``; ``exp`` multiplies by ``lr_decay`` after every
    epoch; ``step`` multiplies by ``lr_decay`` at each epoch in ``lr_step_epochs``; ``cosine``
    anneals from ``lr`` to ``lr * lr_min_ratio`` over ``schedule_epochs`` epochs (0: over
    ``epochs``). ``max_steps`` never changes the schedule, so a run cut short by it and resumed
    is bit-identical to an uninterrupted one. ``augment_shift``: image tasks move every training
    image by a random whole-pixel offset in ``[-augment_shift, augment_shift]`` along each axis
    (zero fill; test images are never moved).
    """

    task: str = "mnist"
    method: str = "zo"
    numerics: str = "float"
    epochs: int = 1
    max_steps: int = 0
    batch_size: int = 128
    loss: str = "ce"
    optimizer: str = "adam"
    lr: float = 1e-3
    lr_schedule: str = "constant"
    lr_decay: float = 1.0
    lr_step_epochs: tuple[int, ...] = ()
    lr_min_ratio: float = 0.0
    schedule_epochs: int = 0
    momentum: float = 0.9
    beta1: float = 0.9
    beta2: float = 0.999
    eps: float = 1e-8
    weight_decay: float = 0.0
    seed: int = 0
    train_limit: int = 0
    test_limit: int = 0
    augment_shift: int = 0
    eval_batch: int = 1000
    log_every: int = 20
    checkpoint_every: int = 0
    divergence_factor: float = 20.0

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "task": TASKS, "method": METHODS, "numerics": ("float", "fixed"),
        "loss": ("ce", "mse"),
        "optimizer": ("sgd", "momentum", "nesterov", "signsgd", "adam"),
        "lr_schedule": ("constant", "exp", "step", "cosine"),
    }

    def __post_init__(self) -> None:
        self.check()
        for name in ("epochs", "batch_size", "eval_batch", "log_every"):
            self.require(getattr(self, name) >= 1, name, "must be >= 1")
        for name in ("max_steps", "train_limit", "test_limit", "checkpoint_every", "seed",
                     "schedule_epochs", "augment_shift"):
            self.require(getattr(self, name) >= 0, name, "must be >= 0")
        self.require(self.lr > 0, "lr", "must be > 0")
        self.require(0 < self.lr_decay <= 1, "lr_decay", "must be in (0, 1]")
        self.require(0 <= self.lr_min_ratio <= 1, "lr_min_ratio", "must be in [0, 1]")
        for name in ("momentum", "beta1", "beta2"):
            self.require(0 <= getattr(self, name) < 1, name, "must be in [0, 1)")
        self.require(self.eps > 0, "eps", "must be > 0")
        self.require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        self.require(self.divergence_factor > 1, "divergence_factor", "must be > 1")


@dataclass(frozen=True)
class ZOConfig(Section):
    """``[zo]``: zeroth-order gradient estimation (see ``fotrain.sw.zo``).

    ``estimator``: ``rge`` (random directions), ``cge`` (coordinates), ``scd`` (coordinate
    descent, keep a step if the loss drops). ``blocks``: perturb ``all`` parameters at once, one
    ``layer`` at a time or one TT ``core`` (and bias vector) at a time, ``queries`` directions per
    block. Fixed point perturbs by ``fixed_mu_lsb`` weight LSBs (``mu`` is then ignored).
    ``precision``: dtype of the float perturbed forwards (parameters and updates stay float64).
    The ``hybrid`` method runs ``rge`` until ``switch_epoch``, then ``scd``.
    """

    estimator: str = "rge"
    sided: str = "antithetic"
    queries: int = 10
    mu: float = 0.01
    distribution: str = "rademacher"
    blocks: str = "core"
    perturb_bias: bool = True
    scale: str = "none"
    cge_coords: int = 0
    scd_sparsity: float = 0.5
    scd_lr: float = 1e-3
    switch_epoch: int = 10
    fixed_mu_lsb: int = 1
    hardware_prng: bool = True
    precision: str = "float32"

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "precision": ("float32", "float64"),
        "estimator": ("rge", "cge", "scd"), "sided": ("antithetic", "one"),
        "distribution": ("rademacher", "gaussian"), "blocks": ("all", "layer", "core"),
        "scale": ("none", "dim"),
    }

    def __post_init__(self) -> None:
        self.check()
        self.require(self.queries >= 1, "queries", "must be >= 1")
        self.require(self.mu > 0, "mu", "must be > 0")
        self.require(self.cge_coords >= 0, "cge_coords", "must be >= 0")
        self.require(0 <= self.scd_sparsity < 1, "scd_sparsity", "must be in [0, 1)")
        self.require(self.scd_lr > 0, "scd_lr", "must be > 0")
        self.require(self.switch_epoch >= 0, "switch_epoch", "must be >= 0")
        self.require(self.fixed_mu_lsb >= 1, "fixed_mu_lsb", "must be >= 1")


def _default_layers() -> tuple[LayerConfig, ...]:
    return (LayerConfig(784, 256, in_modes=(4, 7, 7, 4), out_modes=(4, 4, 4, 4),
                        ranks=(1, 4, 4, 4, 1)),)


SECTIONS: dict[str, type] = {"train": TrainConfig, "zo": ZOConfig, "local": LocalConfig,
                             "pinn": PINNConfig}


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
                raise ConfigError(f"layers[{i + 1}].in_features: {b.in_features} != "
                                  f"layers[{i}].out_features {a.out_features}")
        f = self.formats
        for i, layer in enumerate(self.layers):
            ks = layer.contraction_lengths
            needs = [f.acc_bits_needed(t, bias=layer.bias and k == len(ks) - 1)
                     for k, t in enumerate(ks)]
            need = max(needs)
            k = needs.index(need)
            if need > f.acc.width:  # report the worst core of the layer
                raise ConfigError(
                    f"formats.acc.width: {f.acc.width} is too narrow for layers[{i}] core "
                    f"{k} ({ks[k]} products of {f.act} x {f.weight}); needs {need} bits")
        if f.weight.width > self.hardware.weight_mem_width:
            raise ConfigError(f"hardware.weight_mem_width: {self.hardware.weight_mem_width} < "
                              f"formats.weight.width {f.weight.width}")
        if f.act.width > self.hardware.act_mem_width:
            raise ConfigError(f"hardware.act_mem_width: {self.hardware.act_mem_width} < "
                              f"formats.act.width {f.act.width}")

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
        d = {"name": self.name, "formats": self.formats.to_dict(),
             "hardware": self.hardware.to_dict()}
        for name in SECTIONS:
            d[name] = getattr(self, name).to_dict()
        d["layers"] = [layer.to_dict() for layer in self.layers]
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Config":
        """Build and validate from a nested dict; unknown keys are errors."""
        _check_keys(d, cls, "")
        layers = d.get("layers")
        kw: dict[str, Any] = {}
        if "name" in d:
            kw["name"] = d["name"]
        if layers is not None:
            if not isinstance(layers, list):
                raise ConfigError(f"layers: must be a list of tables, got {layers!r}")
            kw["layers"] = tuple(LayerConfig.from_dict(ld, f"layers[{i}]")
                                 for i, ld in enumerate(layers))
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


def preset_names() -> list[str]:
    """Names of the presets shipped with the package."""
    root = resources.files("fotrain.sw.presets")
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
        raise ConfigError(f"preset: unknown name {name!r} (known: default, {', '.join(names)}; "
                          "or give a path to a .toml file)")
    text = resources.files("fotrain.sw.presets").joinpath(f"{name}.toml").read_text("utf-8")
    return _parse_toml(text, f"preset {name}")


def dump_toml(cfg: Config, path: str | Path) -> None:
    """Write ``cfg`` as TOML atomically (temporary file, then rename)."""
    p = Path(path)
    tmp = p.with_name(p.name + ".tmp")
    tmp.write_text(cfg.to_toml(), encoding="utf-8")
    tmp.replace(p)
