"""The runner of a ``fotrain compare`` sweep: worker processes, skipping and resuming runs.

Runs train through :func:`fotrain.sw.train.session.run_training` in ``jobs`` worker processes
(``concurrent.futures.ProcessPoolExecutor``, spawn start, BLAS limited to ``cpu_count // jobs``
threads each). :func:`classify` reads a run directory: a run that finished (``summary.json``, or
``failed.json`` for a deterministic failure such as divergence) is skipped, one that holds a
checkpoint is resumed bit-identically (``run_training(..., resume=True)``), the rest start; a
directory whose ``config.toml`` differs from the planned config is refused (an unfinished run may
differ in ``train.epochs``/``max_steps``: resume adopts the planned length). Finished runs'
checkpoints are deleted unless ``keep_checkpoints`` (the committed default study stays small).
"""

from __future__ import annotations

import json
import multiprocessing
import os
import time
import traceback
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from pathlib import Path
from typing import Any

from .planning import RunSpec
from .scaling import ZO_METHODS, user_error

__all__ = ["classify", "run_sweep"]


def _flat(d: Any, prefix: str = "") -> dict[str, Any]:
    if isinstance(d, dict):
        out: dict[str, Any] = {}
        for k, v in d.items():
            out.update(_flat(v, f"{prefix}{k}."))
        return out
    if isinstance(d, list) and d and isinstance(d[0], dict):
        out = {}
        for i, v in enumerate(d):
            out.update(_flat(v, f"{prefix}{i}."))
        return out
    return {prefix[:-1]: d}


def classify(spec: RunSpec) -> None:
    """Set ``spec.status`` from what its directory holds; refuse a foreign run there.

    Parameters
    ----------
    spec : RunSpec
        Its ``status`` becomes ``"done"``, ``"failed"``, ``"resume"`` or ``"pending"``.
    """
    from ..sw.config import load_config

    d = spec.run_dir
    saved = d / "config.toml"
    if saved.is_file():
        have, want = _flat(load_config(saved).to_dict()), _flat(spec.cfg.to_dict())
        diff = [k for k in want if have.get(k) != want[k]] + [k for k in have if k not in want]
        if not (d / "summary.json").is_file():  # resuming adopts the planned run length
            diff = [k for k in diff if k not in ("train.epochs", "train.max_steps")]
        if diff:
            k = diff[0]
            raise user_error(
                f"compare: {d} holds a run of another config ({k} = "
                f"{have.get(k)!r}, planned {want.get(k)!r}); use a fresh "
                "--out/--runs or delete it"
            )
    if (d / "summary.json").is_file():
        spec.status = "done"
    elif (d / "failed.json").is_file():
        spec.status = "failed"
    elif (d / "checkpoint.npz").is_file():
        spec.status = "resume"
    else:
        spec.status = "pending"


def _execute(job: dict[str, Any]) -> dict[str, Any]:
    """Worker: train one run; deterministic failures leave ``failed.json`` (not retried)."""
    from ..sw.config import Config
    from ..sw.errors import FotrainError
    from ..sw.train.session import run_training
    from ..sw.train.trainer import TrainingDiverged

    out = Path(job["out"])
    t0 = time.perf_counter()
    try:
        run_training(
            Config.from_json(job["cfg"]),
            out,
            resume=job["resume"],
            data_dir=job["data_dir"],
            progress=False,
        )
    except FotrainError as e:
        status = "diverged" if isinstance(e, TrainingDiverged) else "error"
        rec = {"status": status, "message": str(e), "error": type(e).__name__}
        out.mkdir(parents=True, exist_ok=True)
        (out / "failed.json").write_text(json.dumps(rec, indent=2) + "\n")
        return {**rec, "seconds": time.perf_counter() - t0}
    except Exception as e:  # a bug: reported, not marked, so a rerun tries again
        tb = traceback.format_exc(limit=3).strip().splitlines()
        return {
            "status": "crashed",
            "message": f"{type(e).__name__}: {e}",
            "traceback": tb[-6:],
            "seconds": time.perf_counter() - t0,
        }
    if not job["keep_checkpoints"]:
        (out / "checkpoint.npz").unlink(missing_ok=True)
    return {"status": "done", "message": "", "seconds": time.perf_counter() - t0}


class _ThreadEnv:
    """Limit BLAS threads of spawned workers (restored afterwards)."""

    KEYS = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")

    def __init__(self, threads: int):
        self.threads, self.saved = str(threads), {}

    def __enter__(self):
        for k in self.KEYS:
            self.saved[k] = os.environ.get(k)
            if self.saved[k] is None:
                os.environ[k] = self.threads
        return self

    def __exit__(self, *exc):
        for k, v in self.saved.items():
            if v is None:
                os.environ.pop(k, None)


def _run_parallel(
    todo: Sequence[RunSpec],
    jobs: int,
    job: Callable[[RunSpec], dict[str, Any]],
    finished: Callable[[RunSpec, dict[str, Any]], None],
) -> None:
    """Run ``todo`` in ``jobs`` spawned workers, calling ``finished`` as each run ends."""
    workers = min(jobs, len(todo))
    ctx = multiprocessing.get_context("spawn")
    with (
        _ThreadEnv(max(1, (os.cpu_count() or 1) // workers)),
        ProcessPoolExecutor(workers, mp_context=ctx) as pool,
    ):
        futures: dict[Future, RunSpec] = {pool.submit(_execute, job(s)): s for s in todo}
        pending = set(futures)
        try:
            while pending:
                done, pending = wait(pending, return_when=FIRST_COMPLETED)
                for fut in done:
                    finished(futures[fut], fut.result())
        except BaseException:
            for fut in pending:
                fut.cancel()
            raise


def run_sweep(
    specs: Sequence[RunSpec],
    *,
    jobs: int = 2,
    data_dir: str | None = None,
    progress: bool = True,
    keep_checkpoints: bool = False,
    on_result: Callable[[RunSpec, dict[str, Any]], None] | None = None,
) -> dict[str, dict[str, Any]]:
    """Run every unfinished spec (``jobs`` workers; ``jobs == 1`` runs in this process).

    Parameters
    ----------
    specs : sequence of RunSpec
        The planned runs; each is classified first, finished ones are skipped.
    jobs : int
        Worker processes.
    data_dir : str or None
        Dataset directory passed to every run.
    progress : bool
        Show a progress bar.
    keep_checkpoints : bool
        Keep ``checkpoint.npz`` of runs that finish.
    on_result : callable or None
        Called in this process after each run with the spec and its outcome (an exception
        from it stops the sweep; finished runs stay finished).

    Returns
    -------
    dict
        ``{run_dir: outcome}`` for the runs executed now.
    """
    from tqdm import tqdm

    for s in specs:
        classify(s)
    todo = [s for s in specs if s.status in ("pending", "resume")]
    # long runs first (fixed-point ZO is the slowest) so the last worker is not left alone
    todo.sort(key=lambda s: (s.numerics != "fixed", s.cfg.train.method not in ZO_METHODS))
    outcomes: dict[str, dict[str, Any]] = {}
    bar = tqdm(
        total=len(specs),
        initial=len(specs) - len(todo),
        disable=not progress,
        desc="compare",
        unit="run",
        dynamic_ncols=True,
    )

    def job(s: RunSpec) -> dict[str, Any]:
        return {
            "cfg": s.cfg.to_json(),
            "out": str(s.run_dir),
            "resume": s.status == "resume",
            "data_dir": None if data_dir is None else str(data_dir),
            "keep_checkpoints": keep_checkpoints,
        }

    def finished(s: RunSpec, res: dict[str, Any]) -> None:
        outcomes[str(s.run_dir)] = res
        s.status = "done" if res["status"] == "done" else "failed"
        bar.update(1)
        bar.set_postfix_str(f"{s.name}: {res['status']}")
        if res["status"] == "crashed":
            bar.write(f"fotrain: warning: {s.name} crashed: {res['message']}")
        if on_result is not None:
            on_result(s, res)

    try:
        if jobs <= 1 or len(todo) <= 1:
            for s in todo:
                finished(s, _execute(job(s)))
        else:
            _run_parallel(todo, jobs, job, finished)
    finally:
        bar.close()
    return outcomes
