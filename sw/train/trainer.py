"""The one trainer: data order, learning-rate schedule, evaluation, metrics, checkpoints, resume.

Every method (zeroth-order, local learning, backprop reference, PINN) implements
:class:`.method.Method`; every task (image classification, PDE) implements
:class:`Task`. The trainer writes to ``out``:

- ``metrics.jsonl``: one JSON object per line, ``{"kind": "train", ...}`` every ``log_every``
  steps and ``{"kind": "eval", ...}`` after every epoch;
- ``checkpoint.npz``: parameters, optimiser state and trainer counters (with the losses of the
  running log window), written atomically (temporary file + rename) at step 0, after every epoch
  and every ``checkpoint_every`` steps; plain arrays, loaded with ``allow_pickle=False``;
- ``summary.json``: ``task, method, numerics, test_accuracy (or the task's metric),
  train_forward_passes, params, wall_s, seed`` and more; ``best_<metric>`` is the best of the
  end-of-epoch evaluations and the final one;
- ``config.toml``: the exact config of the run.

Resume (``resume=True``) restores the checkpoint and continues: data order comes from
``(seed, epoch)`` and step randomness from ``(seed, step)``, so parameters and the summary
(apart from ``wall_s``) equal an uninterrupted run's wherever it stopped, and so does
``metrics.jsonl`` after a kill (the lines after the checkpoint are dropped and written again); a
run stopped inside an epoch by ``max_steps`` keeps the eval line of that stop as its record. A
non-finite loss, one above ``divergence_factor`` times the first logged loss, or non-finite
parameters at a checkpoint stop training with :class:`TrainingDiverged`; the last good
checkpoint stays.
"""

import json
import math
import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..errors import FotrainError
from .checkpoint import (
    CheckpointError,
    check_against,
    load_checkpoint,
    read_metrics,
    save_checkpoint,
    write_text_atomic,
)
from .data import load
from .method import Method

__all__ = [
    "CheckpointError",
    "ClassificationTask",
    "Task",
    "Trainer",
    "TrainingDiverged",
    "learning_rate",
    "load_checkpoint",
    "save_checkpoint",
]


class TrainingDiverged(FotrainError):
    """The loss became non-finite or ran away; the last good checkpoint is kept."""


class Task(Protocol):
    """A source of training batches and an evaluation."""

    name: str

    def steps_per_epoch(self, batch_size: int) -> int:
        """Number of training steps in one epoch."""
        ...

    def batches(
        self, epoch: int, batch_size: int, seed: int
    ) -> Iterator[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]]:
        """The epoch's mini-batches, in an order fixed by ``(seed, epoch)``."""
        ...

    def evaluate(self, method: Method, batch: int) -> dict[str, float]:
        """Test metrics; the first key is the headline metric."""
        ...


class ClassificationTask:
    """Image classification (MNIST, Fashion-MNIST): pixels scaled to [0, 1], accuracy metric."""

    def __init__(
        self, name: str, x_train, y_train, x_test, y_test, classes: int = 10, augment_shift: int = 0
    ):
        self.name = name
        self.x_train, self.y_train = x_train, y_train
        self.x_test, self.y_test = x_test, y_test
        self.classes = classes
        self.augment_shift = augment_shift

    @classmethod
    def load(
        cls,
        name: str,
        data_dir: str | Path | None = None,
        train_limit: int = 0,
        test_limit: int = 0,
        *,
        augment_shift: int = 0,
    ) -> "ClassificationTask":
        """Load a dataset by task name (``mnist``, ``fmnist``) through :mod:`.data`."""
        ds = load(name, data_dir)
        ntr = train_limit or len(ds.y_train)
        nte = test_limit or len(ds.y_test)
        return cls(
            name,
            ds.x_train[:ntr],
            ds.y_train[:ntr],
            ds.x_test[:nte],
            ds.y_test[:nte],
            ds.classes,
            augment_shift,
        )

    def steps_per_epoch(self, batch_size: int) -> int:
        """Full batches per epoch (the last partial batch is dropped)."""
        return max(1, len(self.y_train) // batch_size)

    def batches(self, epoch: int, batch_size: int, seed: int):
        """Shuffled full mini-batches; the permutation depends only on ``(seed, epoch)``, the
        offsets of ``augment_shift`` only on ``(seed, epoch, batch)``."""
        order = np.random.default_rng([seed, epoch, 0x5EED]).permutation(len(self.y_train))
        for s in range(self.steps_per_epoch(batch_size)):
            idx = order[s * batch_size : (s + 1) * batch_size]
            x = self.x_train[idx]
            if self.augment_shift:
                x = shift_images(
                    x, self.augment_shift, np.random.default_rng([seed, epoch, s, 0xA06])
                )
            yield x.astype(np.float64) / 255.0, self.y_train[idx]

    def evaluate(self, method: Method, batch: int) -> dict[str, float]:
        """Test accuracy (percent) over the whole test split."""
        correct = 0
        for s in range(0, len(self.y_test), batch):
            x = self.x_test[s : s + batch].astype(np.float64) / 255.0
            correct += int(
                np.sum(np.argmax(method.predict(x), axis=1) == self.y_test[s : s + batch])
            )
        return {"test_accuracy": 100.0 * correct / len(self.y_test)}


def shift_images(x: np.ndarray, shift: int, rng: np.random.Generator) -> np.ndarray:
    """Move each flattened square image of ``x`` ``(B, side**2)`` by offsets drawn uniformly
    from ``[-shift, shift]`` per axis (rows, then columns), filling with zeros."""
    b, n = x.shape
    side = math.isqrt(n)
    if side * side != n:
        raise FotrainError(f"train.augment_shift: images of {n} pixels are not square")
    img = np.pad(x.reshape(b, side, side), ((0, 0), (shift, shift), (shift, shift)))
    d = rng.integers(0, 2 * shift + 1, size=(b, 2))
    r = d[:, 0, None] + np.arange(side)  # (B, side) source rows; d = shift means no move
    c = d[:, 1, None] + np.arange(side)
    return img[np.arange(b)[:, None, None], r[:, :, None], c[:, None, :]].reshape(b, n)


def learning_rate(cfg: Config, epoch: int, step: int, total_steps: int) -> float:
    """Learning rate of ``step`` (0-based, global) in ``epoch`` under ``cfg.train``."""
    t = cfg.train
    if t.lr_schedule == "exp":
        return t.lr * t.lr_decay**epoch
    if t.lr_schedule == "step":
        return t.lr * t.lr_decay ** sum(1 for e in t.lr_step_epochs if epoch >= e)
    if t.lr_schedule == "cosine":
        frac = min(step / max(total_steps, 1), 1.0)
        lo = t.lr * t.lr_min_ratio
        return lo + 0.5 * (t.lr - lo) * (1 + math.cos(math.pi * frac))
    return t.lr


# -- the trainer ---------------------------------------------------------------------------------
class Trainer:
    """Drive ``method`` on ``task`` under ``cfg.train``; see the module docstring for outputs."""

    def __init__(
        self,
        cfg: Config,
        method: Method,
        task: Task,
        out: str | Path,
        *,
        progress: bool = True,
        log: Callable[[str], None] | None = None,
    ):
        self.cfg, self.method, self.task = cfg, method, task
        self.out = Path(out)
        self.progress = progress
        self.log = log or (lambda s: None)
        self.epoch = 0
        self.step = 0
        self.wall = 0.0
        self.ref_loss = float("nan")
        self.best: float | None = None  # over end-of-epoch evaluations only
        self.running: list[float] = []  # losses since the last train line (checkpointed)
        self.last_eval: dict[str, float] = {}
        self.begun = False  # begin() wrote the first consistent state
        self._logged_eval_at = -1  # the step of an eval line that survived a resume's truncation

    # paths
    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.npz"

    @property
    def metrics_path(self) -> Path:
        return self.out / "metrics.jsonl"

    def _trainer_state(self) -> dict[str, np.ndarray]:
        return {
            "epoch": np.array(self.epoch, np.int64),
            "step": np.array(self.step, np.int64),
            "wall": np.array(self.wall, np.float64),
            "ref_loss": np.array(self.ref_loss, np.float64),
            "best": np.array(np.nan if self.best is None else self.best, np.float64),
            "running": np.array(self.running, np.float64),
        }

    def begin(self) -> None:
        """Write the first consistent state of a fresh run into ``out``: ``config.toml``, an
        empty ``metrics.jsonl`` and the step-0 checkpoint (a run directory is resumable from the
        moment it exists; :func:`.session.run_training` builds it in a staging directory)."""
        self.out.mkdir(parents=True, exist_ok=True)
        write_text_atomic(self.out / "config.toml", self.cfg.to_toml())
        write_text_atomic(self.metrics_path, "")
        self.save()
        self.begun = True

    def save(self) -> None:
        """Atomically write the checkpoint of the current state, after the metrics it covers.

        Raises
        ------
        TrainingDiverged
            A parameter or optimiser array is not finite: the last good checkpoint stays.
        """
        state = self.method.state()
        self._check_finite(state)
        arrays = {f"method/{k}": v for k, v in state.items()}
        arrays.update({f"trainer/{k}": v for k, v in self._trainer_state().items()})
        arrays["meta/config"] = np.frombuffer(self.cfg.to_json().encode(), dtype=np.uint8)
        if self.metrics_path.is_file():  # the lines up to this step reach the disk first
            with open(self.metrics_path, "rb+") as f:
                os.fsync(f.fileno())
        save_checkpoint(self.checkpoint_path, arrays)

    def _check_finite(self, state: dict[str, np.ndarray]) -> None:
        for name, v in state.items():
            if np.issubdtype(v.dtype, np.floating) and not np.isfinite(v).all():
                raise TrainingDiverged(
                    f"train: {name} holds non-finite values at step {self.step}; stopped "
                    f"(last good checkpoint: {self.checkpoint_path})"
                )

    def restore(self) -> None:
        """Load the checkpoint in ``out`` (validated against this config) and its counters."""
        path = self.checkpoint_path
        saved = load_checkpoint(path)
        # checkpoints written before the loss window was saved: resume with an empty window
        saved.setdefault("trainer/running", np.zeros(0, np.float64))
        check_against(saved, self.method.state(), path, "method/")
        check_against(saved, self._trainer_state(), path, "trainer/", ragged=("running",))
        self.method.load_state({k[7:]: v for k, v in saved.items() if k.startswith("method/")})
        self.epoch = int(saved["trainer/epoch"])
        self.step = int(saved["trainer/step"])
        self.wall = float(saved["trainer/wall"])
        self.ref_loss = float(saved["trainer/ref_loss"])
        best = float(saved["trainer/best"])
        self.best = None if math.isnan(best) else best
        self.running = [float(v) for v in saved["trainer/running"]]
        if self.epoch > self.cfg.train.epochs:
            raise FotrainError(
                f"--epochs: {self.cfg.train.epochs} is fewer than the {self.epoch} epochs "
                "the run has done (--epochs only extends a run)"
            )
        self._truncate_metrics()
        self.begun = True

    def _truncate_metrics(self) -> None:
        """Drop the metric lines the checkpoint does not cover (the run writes them again).

        Kept: lines of earlier steps, the train line of the checkpoint's step, and an eval line
        of that step if the checkpoint followed it: an end-of-epoch evaluation (its epoch was
        counted before the save) or the evaluation where a run stopped inside an epoch
        (``max_steps``; kept as the record of that stop, it never counts toward ``best``).
        Dropped: later lines, a partial line, and an end-of-epoch evaluation the checkpoint
        precedes (the run makes it again).
        """
        per_epoch = self.task.steps_per_epoch(self.cfg.train.batch_size)
        inside = self.step % per_epoch != 0  # the checkpoint's step is inside an epoch
        keep = [
            r
            for r in read_metrics(self.metrics_path)
            if r.get("step", 0) < self.step
            or (
                r.get("step", 0) == self.step
                and (r.get("kind") != "eval" or inside or r.get("epoch", 0) < self.epoch)
            )
        ]
        if any(r.get("kind") == "eval" and r.get("step") == self.step for r in keep):
            self._logged_eval_at = self.step
        write_text_atomic(self.metrics_path, "".join(json.dumps(r) + "\n" for r in keep))

    def _metric(self, record: dict[str, Any]) -> None:
        with open(self.metrics_path, "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def _last_lr(self, per_epoch: int, horizon: int) -> float:
        """The learning rate of the last step taken (a function of the step alone, so an
        evaluation logs the same value whether or not the process was restarted before it)."""
        if not self.step:
            return self.cfg.train.lr
        return learning_rate(self.cfg, (self.step - 1) // per_epoch, self.step - 1, horizon)

    def run(self, *, resume: bool = False) -> dict[str, Any]:
        """Train to ``cfg.train.epochs`` (or ``max_steps``); return the summary dict."""
        from tqdm import tqdm

        t = self.cfg.train
        if resume:
            self.restore()
            (self.out / "summary.json").unlink(missing_ok=True)  # unfinished again until the end
            write_text_atomic(self.out / "config.toml", self.cfg.to_toml())
        elif not self.begun:
            self.begin()
        per_epoch = self.task.steps_per_epoch(t.batch_size)
        horizon = per_epoch * (t.schedule_epochs or t.epochs)  # the lr schedule's length
        total = per_epoch * t.epochs
        if t.max_steps:
            total = min(total, t.max_steps)
        bar = tqdm(
            total=total,
            initial=min(self.step, total),
            disable=not self.progress,
            desc=f"{self.cfg.name}",
            unit="step",
            dynamic_ncols=True,
        )
        try:
            while self.epoch < t.epochs:
                t0 = time.perf_counter()
                skip = self.step - self.epoch * per_epoch  # resuming inside an epoch
                if skip < per_epoch:
                    if self.step >= total:
                        break  # stopped inside this epoch (max_steps): nothing left to do
                    self._train_epoch(skip, per_epoch, horizon, total, bar, t0)
                    t0 = time.perf_counter()
                self.wall += time.perf_counter() - t0
                finished_epoch = self.step >= (self.epoch + 1) * per_epoch
                self._evaluate(self._last_lr(per_epoch, horizon), count=finished_epoch)
                if finished_epoch:
                    self.epoch += 1
                self.save()
                if self.step >= total:
                    break
        finally:
            bar.close()
        if not self.last_eval:  # resumed a run that had already stopped: report it again
            lr = self._last_lr(per_epoch, horizon)
            self._evaluate(lr, count=False, write=self._logged_eval_at != self.step)
        return self._summary()

    def _train_epoch(self, skip: int, per_epoch: int, horizon: int, total: int, bar, t0) -> None:
        """The steps of the current epoch from batch ``skip`` on, up to ``total`` steps."""
        t = self.cfg.train
        for i, (x, y) in enumerate(self.task.batches(self.epoch, t.batch_size, t.seed)):
            if i < skip:
                continue
            lr = learning_rate(self.cfg, self.epoch, self.step, horizon)
            m = self.method.train_step(x, y, step=self.step, epoch=self.epoch, lr=lr)
            loss = float(m["loss"])
            self._guard(loss)
            self.step += 1
            self.running.append(loss)
            bar.update(1)
            if self.step % t.log_every == 0:
                avg = float(np.mean(self.running))
                self.running.clear()
                bar.set_postfix(loss=f"{avg:.4f}", lr=f"{lr:.2g}")
                self._metric(
                    {
                        "kind": "train",
                        "epoch": self.epoch,
                        "step": self.step,
                        "loss": avg,
                        "lr": lr,
                        **{k: v for k, v in m.items() if k != "loss"},
                    }
                )
            if t.checkpoint_every and self.step % t.checkpoint_every == 0:
                self.wall += time.perf_counter() - t0
                t0 = time.perf_counter()
                self.save()
            if self.step >= total:
                break
        self.wall += time.perf_counter() - t0

    def _guard(self, loss: float) -> None:
        t = self.cfg.train
        if not math.isfinite(loss):
            raise TrainingDiverged(
                f"train: loss became {loss} at step {self.step}; stopped "
                f"(last good checkpoint: {self.checkpoint_path})"
            )
        if math.isnan(self.ref_loss):
            self.ref_loss = loss
        elif loss > t.divergence_factor * self.ref_loss:
            raise TrainingDiverged(
                f"train: loss {loss:.4g} at step {self.step} is more than "
                f"{t.divergence_factor:g}x the first loss {self.ref_loss:.4g};"
                f" stopped (last good checkpoint: {self.checkpoint_path})"
            )

    def _better(self, a: float, b: float | None) -> bool:
        """Whether headline value ``a`` beats ``b`` (accuracy: higher; errors: lower)."""
        if b is None:
            return True
        return a > b if "accuracy" in next(iter(self.last_eval)) else a < b

    def _evaluate(self, lr: float, *, count: bool, write: bool = True) -> None:
        """Evaluate; ``count``: an end-of-epoch evaluation, the only kind ``best`` tracks (so it
        does not depend on where a run was interrupted); ``write``: log the eval line."""
        t0 = time.perf_counter()
        metrics = self.task.evaluate(self.method, self.cfg.train.eval_batch)
        self.wall += time.perf_counter() - t0
        self.last_eval = metrics
        head = next(iter(metrics.values()))
        if count and self._better(head, self.best):
            self.best = head
        self.log(
            f"epoch {self.epoch} step {self.step}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        )
        if write:
            self._metric(
                {
                    "kind": "eval",
                    "epoch": self.epoch,
                    "step": self.step,
                    "lr": lr,
                    "forward_passes": self.method.forward_passes,
                    "wall_s": self.wall,
                    **metrics,
                }
            )

    def _summary(self) -> dict[str, Any]:
        t = self.cfg.train
        key = next(iter(self.last_eval), "test_accuracy")
        final = self.last_eval.get(key)
        # best over the end-of-epoch evaluations and the final one: the same for a run however
        # often it was interrupted and resumed
        best = final if final is not None and self._better(final, self.best) else self.best
        s: dict[str, Any] = {
            "task": t.task,
            "method": t.method,
            "numerics": t.numerics,
            "config": self.cfg.name,
            key: final,
            f"best_{key}": best,
            "train_forward_passes": self.method.forward_passes,
            "params": self.method.params,
            "wall_s": self.wall,
            "seed": t.seed,
            "epochs": self.epoch,
            "steps": self.step,
            **self.last_eval,
        }
        s.update(self.method.summary())
        write_text_atomic(self.out / "summary.json", json.dumps(s, indent=2) + "\n")
        return s
