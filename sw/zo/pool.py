"""Worker processes for integer forwards of many parameter sets on the same inputs.

The ``2Q`` perturbed networks of a fixed-point PINN step with ``zo.blocks = "all"`` are
independent forwards of one input batch. :class:`ForwardPool` splits the list of parameter sets
into ``workers`` contiguous groups: the calling process runs the first group, ``workers - 1``
spawned processes run the others. Every process limits BLAS to one thread and keeps its heap
(:mod:`~..train.runtime`). Workers ignore Ctrl-C (the parent stops them) and exit on their own when
the parent dies without stopping them (killed, ``SIGTERM``). Results come back as the same integers
in the same order as one process computing every set, and overflow counts are added group by
group, so a run is bit-identical for any number of workers (tested).

Cost: one pickled parameter set (a few thousand integers) per network and the input batch once
per group and step; nothing else crosses the process boundary.
"""

import multiprocessing
import os
import signal
import threading
import time
import weakref
from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..qformat import OverflowStats
from ..train.runtime import single_thread_blas
from .fixed import ZOFixedMethod

__all__ = ["ForwardPool"]

Params = dict[str, npt.NDArray[np.int64]]

_ENGINE: ZOFixedMethod | None = None  # the worker process's engine
_BLAS_LIMIT: list = []


def _exit_with_parent(parent: int) -> None:
    """Worker thread: leave the process once the parent is gone (re-parented)."""
    while os.getppid() == parent:
        time.sleep(1.0)
    os._exit(0)


def _init_worker(cfg_json: str, seed: int) -> None:
    global _ENGINE
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    threading.Thread(target=_exit_with_parent, args=(os.getppid(),), daemon=True).start()
    _BLAS_LIMIT.append(single_thread_blas())  # kept for the life of the worker
    _ENGINE = ZOFixedMethod(Config.from_json(cfg_json), seed=seed)  # also retains the heap


def _forward_group(
    engine: ZOFixedMethod, params: list[Params], x_codes: np.ndarray, stats: OverflowStats
) -> list[np.ndarray]:
    return [engine._forward_codes(p, x_codes, stats=stats)[0] for p in params]


def _worker_task(
    params: list[Params], x_codes: np.ndarray
) -> tuple[list[np.ndarray], dict[str, int]]:
    assert _ENGINE is not None, "worker not initialised"
    stats = OverflowStats()
    return _forward_group(_ENGINE, params, x_codes, stats), stats.counts


class ForwardPool:
    """``outputs(params, x_codes, stats)``: output codes of every parameter set on ``x_codes``.

    ``workers = 1`` computes everything in the calling process (no processes started). The
    pool starts on first use and stops with :meth:`close` or when the object is collected.
    """

    def __init__(self, engine: ZOFixedMethod, workers: int = 1):
        if workers < 1:
            raise ValueError(f"workers: need at least 1, got {workers}")
        self.engine, self.workers = engine, workers
        self._pool: Any = None
        self._finalizer: Any = None

    def _executor(self):
        if self._pool is None:
            from concurrent.futures import ProcessPoolExecutor

            self._pool = ProcessPoolExecutor(
                self.workers - 1,
                mp_context=multiprocessing.get_context("spawn"),
                initializer=_init_worker,
                initargs=(self.engine.cfg.to_json(), self.engine.seed),
            )
            self._finalizer = weakref.finalize(self, self._pool.shutdown, cancel_futures=True)
        return self._pool

    def outputs(
        self, params: list[Params], x_codes: np.ndarray, stats: OverflowStats
    ) -> list[np.ndarray]:
        groups = [g for g in np.array_split(np.arange(len(params)), self.workers) if len(g)]
        futures = []
        if len(groups) > 1:
            pool = self._executor()
            futures = [
                pool.submit(_worker_task, [params[i] for i in g], x_codes) for g in groups[1:]
            ]
        out = _forward_group(self.engine, [params[i] for i in groups[0]], x_codes, stats)
        for f in futures:
            codes, counts = f.result()
            out += codes
            for site, n in counts.items():
                stats.add(site, n)
        return out

    def close(self) -> None:
        """Stop the worker processes (if any were started)."""
        if self._finalizer is not None:
            self._finalizer()
            self._pool = self._finalizer = None
