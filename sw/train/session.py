"""Build the task and method a config asks for and run the trainer (what ``fotrain train`` does)."""

from pathlib import Path
from typing import Any

from ..config import Config, load_config
from ..errors import FotrainError
from ..local.method import network_in_features
from ..pinn.task import PDETask
from .registry import make_method
from .rundir import check_fresh_out, check_resume_dir, discard, publish, stage
from .trainer import ClassificationTask, Task, Trainer

__all__ = ["build_task", "run_training"]


def build_task(cfg: Config, data_dir: str | Path | None = None) -> Task:
    """The task of ``cfg.train.task`` (image classification loads the dataset)."""
    t = cfg.train
    if t.task in ("mnist", "fmnist"):
        n_in = cfg.in_features
        if cfg.local.arch in ("cnn", "rnn"):  # layers are only the head after the front end
            n_in = network_in_features(cfg)
        if n_in != 784 or cfg.out_features != 10:
            raise FotrainError(
                f"layers: task {t.task} needs 784 inputs and 10 outputs, the "
                f"network has {n_in} -> {cfg.out_features}"
            )
        if t.augment_shift > 13:
            raise FotrainError(
                f"train.augment_shift: {t.augment_shift} moves a 28 x 28 image "
                "out of its frame; use 0..13"
            )
        if t.augment_shift and cfg.local.arch == "cnn" and cfg.local.in_channels != 1:
            raise FotrainError(
                "train.augment_shift: shifts one-channel 28 x 28 images; "
                f"local.in_channels is {cfg.local.in_channels}"
            )
        return ClassificationTask.load(
            t.task, data_dir, t.train_limit, t.test_limit, augment_shift=t.augment_shift
        )
    if t.augment_shift:
        raise FotrainError(
            f"train.augment_shift: {t.augment_shift} applies to image tasks; "
            f"task {t.task!r} samples collocation points"
        )
    return PDETask(cfg)


def run_training(
    cfg: Config,
    out: str | Path,
    *,
    resume: bool = False,
    force: bool = False,
    data_dir: str | Path | None = None,
    progress: bool = True,
    log=None,
    workers: int = 1,
) -> dict[str, Any]:
    """Train ``cfg`` into ``out`` (or continue the run there); return ``summary.json``'s dict.

    A fresh run refuses a non-empty ``out`` unless ``force`` (which moves it aside, see
    :mod:`.rundir`) and is built in a staging directory until its step-0 state exists, so ``out``
    never holds a partial run. On resume only the run's length (``train.epochs``,
    ``train.max_steps``) is taken from ``cfg``; everything else comes from ``out/config.toml``.
    ``workers`` processes share the method's forwards where it supports that (fixed-point PINN
    training); the results do not depend on it. Every check on ``out`` comes before any work.
    """
    out = Path(out)
    if resume:
        if force:
            raise FotrainError("--force: starts a run afresh; it cannot go with --resume")
        check_resume_dir(out)
        base = load_config(out / "config.toml")
        # only the length of the run may change on resume
        cfg = base.replace(
            train=base.train.__class__(
                **{
                    **base.train.to_dict(),
                    "epochs": cfg.train.epochs,
                    "max_steps": cfg.train.max_steps,
                    "lr_step_epochs": base.train.lr_step_epochs,
                }
            )
        )
    else:
        check_fresh_out(out, force=force)
    method = make_method(cfg, seed=cfg.train.seed, workers=workers)  # config errors first
    try:
        task = build_task(cfg, data_dir)
        trainer = Trainer(cfg, method, task, out, progress=progress, log=log)
        if not resume:
            staging = stage(out)
            try:
                trainer.out = staging
                trainer.begin()
                publish(staging, out, force=force, log=log)
            except BaseException:
                discard(staging)
                raise
            trainer.out = out
        return trainer.run(resume=resume)
    finally:
        close = getattr(method, "close", None)
        if close is not None:
            close()
