"""``[[layers]]``: one TT-matrix or dense layer (:class:`LayerConfig`) and its derived sizes."""

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, check_int, check_ints, check_keys
from ..tt import tt_core_costs, tt_core_shapes

__all__ = ["ACTIVATIONS", "LAYER_KINDS", "LayerConfig"]

ACTIVATIONS = ("none", "relu", "tanh", "sin")
LAYER_KINDS = ("tt", "dense")


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
        check_int(self.in_features, "in_features")
        check_int(self.out_features, "out_features")
        if self.kind not in LAYER_KINDS:
            raise ConfigError(f"kind: {self.kind!r} is not one of {', '.join(LAYER_KINDS)}")
        if self.activation not in ACTIVATIONS:
            raise ConfigError(
                f"activation: {self.activation!r} is not one of {', '.join(ACTIVATIONS)}"
            )
        if not isinstance(self.bias, bool):
            raise ConfigError(f"bias: must be true or false, got {self.bias!r}")
        for name in ("in_modes", "out_modes", "ranks"):
            object.__setattr__(self, name, tuple(getattr(self, name)))
        if self.kind == "dense":
            for name in ("in_modes", "out_modes", "ranks"):
                if getattr(self, name):
                    raise ConfigError(
                        f"{name}: a dense layer takes no {name}, got {list(getattr(self, name))}"
                    )
            return
        ins, outs = check_ints(self.in_modes, "in_modes"), check_ints(self.out_modes, "out_modes")
        if not ins:
            raise ConfigError("in_modes: a TT layer needs at least one mode")
        if len(ins) != len(outs):
            raise ConfigError(
                f"out_modes: {len(outs)} modes {list(outs)} but in_modes has "
                f"{len(ins)} {list(ins)}; the lists must have the same length"
            )
        if math.prod(ins) != self.in_features:
            raise ConfigError(
                f"in_modes: product of {list(ins)} is {math.prod(ins)} != "
                f"in_features {self.in_features}"
            )
        if math.prod(outs) != self.out_features:
            raise ConfigError(
                f"out_modes: product of {list(outs)} is {math.prod(outs)} != "
                f"out_features {self.out_features}"
            )
        ranks = check_ints(self.ranks, "ranks")
        if len(ranks) != len(ins) + 1:
            raise ConfigError(
                f"ranks: {list(ranks)} has {len(ranks)} entries; {len(ins)} cores "
                f"need {len(ins) + 1}"
            )
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
    def tt(
        cls,
        in_modes: Sequence[int],
        out_modes: Sequence[int],
        ranks: Sequence[int],
        *,
        bias: bool = False,
        activation: str = "none",
    ) -> "LayerConfig":
        """A TT layer whose feature counts are the products of its modes."""
        return cls(
            math.prod(in_modes),
            math.prod(out_modes),
            in_modes=tuple(in_modes),
            out_modes=tuple(out_modes),
            ranks=tuple(ranks),
            bias=bias,
            activation=activation,
        )

    @classmethod
    def from_dict(cls, d: dict[str, Any], where: str = "layer") -> "LayerConfig":
        """Build from a TOML/JSON table; ``ranks`` may be one integer (interior rank)."""
        check_keys(d, cls, where)
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
        d: dict[str, Any] = {
            "kind": self.kind,
            "in_features": self.in_features,
            "out_features": self.out_features,
        }
        if self.kind == "tt":
            d.update(
                in_modes=list(self.in_modes), out_modes=list(self.out_modes), ranks=list(self.ranks)
            )
        d.update(bias=self.bias, activation=self.activation)
        return d
