"""The contract between the one trainer (:mod:`.trainer`) and every training method.

A method owns its parameters and optimiser state; the trainer owns data order, the learning-rate
schedule, evaluation, metrics, checkpoints and resume. Reproducibility rule: all randomness of a
step comes from ``step_rng(seed, step)``, so a run resumed from a checkpoint at step ``s`` draws
exactly what the uninterrupted run drew, and parameters end bit-identical.
"""

from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

__all__ = ["Method", "step_rng"]


def step_rng(seed: int, step: int, stream: int = 0) -> np.random.Generator:
    """The generator of step ``step`` (independent of every other step and stream)."""
    return np.random.default_rng([int(seed), int(step), int(stream)])


class Method(Protocol):
    """What the trainer needs from a training method.

    Constructed as ``Method(cfg, seed=seed)``: parameters are initialised deterministically from
    ``seed``. Inputs are float64 ``(B, in_features)`` (pixels in ``[0, 1]`` for image tasks),
    labels int64 ``(B,)``.
    """

    def state(self) -> dict[str, npt.NDArray[Any]]:
        """All arrays needed to resume bit-identically (parameters, optimiser state, counters)."""
        ...

    def load_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        """Restore :meth:`state`; raise ``FotrainError`` naming the first mismatching array."""
        ...

    def train_step(
        self,
        x: npt.NDArray[np.float64],
        y: npt.NDArray[np.int64],
        *,
        step: int,
        epoch: int,
        lr: float,
    ) -> dict[str, float]:
        """One update on a mini-batch; returns metrics, at least ``loss``."""
        ...

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Scores ``(B, classes)`` (or outputs for regression tasks)."""
        ...

    @property
    def forward_passes(self) -> int:
        """Cumulative network evaluations on training batches (one per batch forward)."""
        ...

    @property
    def params(self) -> int:
        """Trainable entries."""
        ...

    def summary(self) -> dict[str, Any]:
        """Extra JSON-able facts for ``summary.json`` (memory accounting, diagnostics)."""
        ...
