"""``[train]``: task, method, numerics and optimiser schedule (:class:`TrainConfig`)."""

from dataclasses import dataclass
from typing import ClassVar

from .section import Section

__all__ = ["METHODS", "TASKS", "TrainConfig"]

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
        "task": TASKS,
        "method": METHODS,
        "numerics": ("float", "fixed"),
        "loss": ("ce", "mse"),
        "optimizer": ("sgd", "momentum", "nesterov", "signsgd", "adam"),
        "lr_schedule": ("constant", "exp", "step", "cosine"),
    }

    def __post_init__(self) -> None:
        self.check()
        for name in ("epochs", "batch_size", "eval_batch", "log_every"):
            self.require(getattr(self, name) >= 1, name, "must be >= 1")
        for name in (
            "max_steps",
            "train_limit",
            "test_limit",
            "checkpoint_every",
            "seed",
            "schedule_epochs",
            "augment_shift",
        ):
            self.require(getattr(self, name) >= 0, name, "must be >= 0")
        self.require(self.lr > 0, "lr", "must be > 0")
        self.require(0 < self.lr_decay <= 1, "lr_decay", "must be in (0, 1]")
        self.require(0 <= self.lr_min_ratio <= 1, "lr_min_ratio", "must be in [0, 1]")
        for name in ("momentum", "beta1", "beta2"):
            self.require(0 <= getattr(self, name) < 1, name, "must be in [0, 1)")
        self.require(self.eps > 0, "eps", "must be > 0")
        self.require(self.weight_decay >= 0, "weight_decay", "must be >= 0")
        self.require(self.divergence_factor > 1, "divergence_factor", "must be > 1")
