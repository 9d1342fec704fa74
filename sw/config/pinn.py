"""``[pinn]`` config section: physics-informed training (see ``fotrain.sw.pinn.method``).

The PDE comes from ``train.task`` (``hjb20`` -> :class:`~fotrain.sw.pinn.problems.HJB`, ``heat`` ->
:class:`~fotrain.sw.pinn.problems.Heat`), the collocation points from ``train.batch_size``, the
zeroth-order estimator from ``[zo]``; this section holds the rest:

- ``derivatives``: how the loss gets ``u_t``, ``grad_x u`` and ``Lap_x u`` from function values:
  ``fd`` central finite differences with step ``sigma`` (``2 dim + 1`` = 43 network evaluations
  per point for ``dim = 21``), ``sparse_grid`` the Stein estimator of the Gaussian-smoothed
  network with the level-``level`` Smolyak Gauss-Hermite rule (925 per point for level 3).
- ``sigma``: smoothing scale / finite-difference step; ``0`` takes the problem's
  ``default_sigma`` (HJB 0.1, heat 0.01).
- ``steps_per_epoch``: the PDE tasks draw fresh points every step; an "epoch" is this many steps
  (evaluation after each).
- ``test_points`` / ``test_seed``: the fixed uniform test set of the ``rel_l2`` metric.
- ``predict``: ``raw`` evaluates the hard-constrained network ``u``; ``smoothed`` evaluates
  ``u_sigma`` with the training rule (sparse grid only; ``K`` evaluations per test point).
- ``boundary_points`` / ``boundary_weight``: Dirichlet data on the lateral faces. Each step
  adds ``boundary_points`` points drawn on the faces ``x_i in {0, 1}`` (spatial axes) and the
  loss term ``boundary_weight * mean((u - u_exact)^2)`` over them; ``0`` (default) imposes no
  lateral data (the HJB set-up of the reference). The heat problem needs it: with the initial
  condition alone it is not well posed on the box.
- ``fixed_update``: fixed numerics keep the parameters as ``formats.weight`` codes; the optimiser
  step is rounded into codes ``nearest`` or ``stochastic`` (from the step's generator).
"""

from dataclasses import dataclass
from typing import ClassVar

from .section import Section

__all__ = ["PINNConfig"]


@dataclass(frozen=True)
class PINNConfig(Section):
    """Settings of the PINN tasks and method (module docstring)."""

    derivatives: str = "fd"
    sigma: float = 0.0
    level: int = 3
    steps_per_epoch: int = 100
    test_points: int = 10_000
    test_seed: int = 20_240_707
    predict: str = "raw"
    fixed_update: str = "stochastic"
    boundary_points: int = 0
    boundary_weight: float = 1.0

    CHOICES: ClassVar[dict[str, tuple[str, ...]]] = {
        "derivatives": ("fd", "sparse_grid"),
        "predict": ("raw", "smoothed"),
        "fixed_update": ("nearest", "stochastic"),
    }

    def __post_init__(self) -> None:
        self.check()
        self.require(self.sigma >= 0, "sigma", "must be >= 0 (0: the problem's default)")
        self.require(
            3 <= self.level <= 6,
            "level",
            "must be in 3..6 (level 2 cannot estimate second derivatives)",
        )
        self.require(self.steps_per_epoch >= 1, "steps_per_epoch", "must be >= 1")
        self.require(self.test_points >= 1, "test_points", "must be >= 1")
        self.require(self.test_seed >= 0, "test_seed", "must be >= 0")
        self.require(self.boundary_points >= 0, "boundary_points", "must be >= 0 (0: none)")
        self.require(self.boundary_weight > 0, "boundary_weight", "must be > 0")
        self.require(
            self.predict == "raw" or self.derivatives == "sparse_grid",
            "predict",
            "'smoothed' needs derivatives = 'sparse_grid'",
        )
