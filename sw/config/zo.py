"""``[zo]``: zeroth-order gradient estimation settings (:class:`ZOConfig`)."""

from dataclasses import dataclass
from typing import ClassVar

from .section import Section

__all__ = ["ZOConfig"]


@dataclass(frozen=True)
class ZOConfig(Section):
    """``[zo]``: zeroth-order gradient estimation (see ``fotrain.sw.zo.method``).

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
        "estimator": ("rge", "cge", "scd"),
        "sided": ("antithetic", "one"),
        "distribution": ("rademacher", "gaussian"),
        "blocks": ("all", "layer", "core"),
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
