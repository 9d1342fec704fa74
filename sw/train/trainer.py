"""The one trainer: data order, learning-rate schedule, evaluation, metrics, checkpoints, resume.

Every method (zeroth-order, local learning, backprop reference, PINN) implements
:class:`.method.Method`; every task (image classification, PDE) implements
:class:`Task`. The trainer writes to ``out``:

- ``metrics.jsonl``: one JSON object per line, ``{"kind": "train", ...}`` every ``log_every``
  steps and ``{"kind": "eval", ...}`` after every epoch;
- ``checkpoint.npz``: parameters, optimiser state and trainer counters, written atomically
  (temporary file + rename) after every epoch and every ``checkpoint_every`` steps; plain arrays,
  loaded with ``allow_pickle=False``;
- ``summary.json``: ``task, method, numerics, test_accuracy (or the task's metric),
  train_forward_passes, params, wall_s, seed`` and more;
- ``config.toml``: the exact config of the run.

Resume (``resume=True``) restores the checkpoint and continues: data order comes from
``(seed, epoch)`` and step randomness from ``(seed, step)``, so the result is bit-identical to an
uninterrupted run. A non-finite loss, or one above ``divergence_factor`` times the first logged
loss, stops training with :class:`TrainingDiverged`; the last good checkpoint stays.
"""

import io
import json
import math
import os
import time
import zipfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Protocol, cast

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..errors import FotrainError
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


class CheckpointError(FotrainError):
    """A checkpoint is unreadable, truncated, pickled, or does not match the config."""


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


# -- checkpoints ---------------------------------------------------------------------------------
def save_checkpoint(path: Path, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` to ``path`` as an ``.npz`` atomically (temporary file, fsync, rename)."""
    tmp = path.with_name(path.name + ".tmp")
    with open(tmp, "wb") as f:
        # cast: mypy would match ``**arrays`` against savez's ``allow_pickle: bool`` keyword too
        np.savez(f, **cast(dict[str, Any], arrays))
        f.flush()
        os.fsync(f.fileno())
    tmp.replace(path)


def load_checkpoint(path: Path) -> dict[str, np.ndarray]:
    """Read a checkpoint without pickle; refuse unreadable, truncated or object-bearing files."""
    if not path.is_file():
        raise CheckpointError(f"{path}: no checkpoint to resume from")
    try:
        data = path.read_bytes()
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            return {k: z[k] for k in z.files}
    except ValueError as e:
        if "pickle" in str(e).lower():
            raise CheckpointError(f"{path}: holds pickled objects; refusing to load it") from None
        raise CheckpointError(f"{path}: unreadable checkpoint ({e})") from None
    except (OSError, EOFError, zipfile.BadZipFile, KeyError) as e:
        raise CheckpointError(f"{path}: truncated or corrupt checkpoint ({e})") from None


def _check_against(
    saved: dict[str, np.ndarray], expected: dict[str, np.ndarray], path: Path, prefix: str
) -> None:
    # overflow counters ("overflow/<site>") appear as sites are first used: not part of the match
    names = {
        k[len(prefix) :]
        for k in saved
        if k.startswith(prefix) and not k.startswith(prefix + "overflow/")
    }
    expected = {k: v for k, v in expected.items() if not k.startswith("overflow/")}
    if names != set(expected):
        missing = sorted(set(expected) - names)
        extra = sorted(names - set(expected))
        raise CheckpointError(
            f"{path}: arrays do not match the config (missing {missing[:3]}, "
            f"unexpected {extra[:3]})"
        )
    for name, ref in expected.items():
        got = saved[prefix + name]
        if got.shape != ref.shape or got.dtype != ref.dtype:
            raise CheckpointError(
                f"{path}: array {name!r} is {got.dtype}{list(got.shape)}, "
                f"the config needs {ref.dtype}{list(ref.shape)}"
            )


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
        self.best: float | None = None
        self.last_eval: dict[str, float] = {}

    # paths
    @property
    def checkpoint_path(self) -> Path:
        return self.out / "checkpoint.npz"

    def _trainer_state(self) -> dict[str, np.ndarray]:
        return {
            "epoch": np.array(self.epoch, np.int64),
            "step": np.array(self.step, np.int64),
            "wall": np.array(self.wall, np.float64),
            "ref_loss": np.array(self.ref_loss, np.float64),
            "best": np.array(np.nan if self.best is None else self.best, np.float64),
        }

    def save(self) -> None:
        """Atomically write the checkpoint of the current state."""
        arrays = {f"method/{k}": v for k, v in self.method.state().items()}
        arrays.update({f"trainer/{k}": v for k, v in self._trainer_state().items()})
        arrays["meta/config"] = np.frombuffer(self.cfg.to_json().encode(), dtype=np.uint8)
        save_checkpoint(self.checkpoint_path, arrays)

    def restore(self) -> None:
        """Load the checkpoint in ``out`` (validated against this config) and its counters."""
        path = self.checkpoint_path
        saved = load_checkpoint(path)
        _check_against(saved, self.method.state(), path, "method/")
        _check_against(saved, self._trainer_state(), path, "trainer/")
        self.method.load_state({k[7:]: v for k, v in saved.items() if k.startswith("method/")})
        self.epoch = int(saved["trainer/epoch"])
        self.step = int(saved["trainer/step"])
        self.wall = float(saved["trainer/wall"])
        self.ref_loss = float(saved["trainer/ref_loss"])
        best = float(saved["trainer/best"])
        self.best = None if math.isnan(best) else best
        self._truncate_metrics()

    def _truncate_metrics(self) -> None:
        """Drop metric lines written after the checkpoint (they will be written again)."""
        path = self.out / "metrics.jsonl"
        if not path.is_file():
            return
        keep = [
            line
            for line in path.read_text().splitlines()
            if line.strip() and json.loads(line).get("step", 0) <= self.step
        ]
        path.write_text("".join(line + "\n" for line in keep))

    def _metric(self, record: dict[str, Any]) -> None:
        with open(self.out / "metrics.jsonl", "a", encoding="utf-8") as f:
            f.write(json.dumps(record) + "\n")

    def run(self, *, resume: bool = False) -> dict[str, Any]:
        """Train to ``cfg.train.epochs`` (or ``max_steps``); return the summary dict."""
        from tqdm import tqdm

        t = self.cfg.train
        self.out.mkdir(parents=True, exist_ok=True)
        if resume:
            self.restore()
        else:
            (self.out / "metrics.jsonl").write_text("")
        (self.out / "config.toml").write_text(self.cfg.to_toml())
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
        running: list[float] = []
        stopped = self.step >= total
        try:
            while not stopped and self.epoch < t.epochs:
                t0 = time.perf_counter()
                skip = self.step - self.epoch * per_epoch  # resuming inside an epoch
                for i, (x, y) in enumerate(self.task.batches(self.epoch, t.batch_size, t.seed)):
                    if i < skip:
                        continue
                    lr = learning_rate(self.cfg, self.epoch, self.step, horizon)
                    m = self.method.train_step(x, y, step=self.step, epoch=self.epoch, lr=lr)
                    loss = float(m["loss"])
                    self._guard(loss)
                    self.step += 1
                    running.append(loss)
                    bar.update(1)
                    if self.step % t.log_every == 0:
                        avg = float(np.mean(running))
                        running.clear()
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
                        stopped = True
                        break
                self.wall += time.perf_counter() - t0
                finished_epoch = self.step >= (self.epoch + 1) * per_epoch
                self._evaluate(lr if self.step else t.lr)
                if finished_epoch:
                    self.epoch += 1
                self.save()
        finally:
            bar.close()
        if not self.last_eval:  # resumed a run that had already finished: report it again
            self._evaluate(learning_rate(self.cfg, self.epoch, self.step, horizon))
        return self._summary()

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

    def _evaluate(self, lr: float) -> None:
        t0 = time.perf_counter()
        metrics = self.task.evaluate(self.method, self.cfg.train.eval_batch)
        self.wall += time.perf_counter() - t0
        self.last_eval = metrics
        head = next(iter(metrics.values()))
        better = (lambda a, b: a > b) if "accuracy" in next(iter(metrics)) else (lambda a, b: a < b)
        if self.best is None or better(head, self.best):
            self.best = head
        self.log(
            f"epoch {self.epoch} step {self.step}: "
            + ", ".join(f"{k} {v:.4g}" for k, v in metrics.items())
        )
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
        s: dict[str, Any] = {
            "task": t.task,
            "method": t.method,
            "numerics": t.numerics,
            "config": self.cfg.name,
            key: self.last_eval.get(key),
            f"best_{key}": self.best,
            "train_forward_passes": self.method.forward_passes,
            "params": self.method.params,
            "wall_s": self.wall,
            "seed": t.seed,
            "epochs": self.epoch,
            "steps": self.step,
            **self.last_eval,
        }
        s.update(self.method.summary())
        tmp = self.out / "summary.json.tmp"
        tmp.write_text(json.dumps(s, indent=2) + "\n")
        tmp.replace(self.out / "summary.json")
        return s
