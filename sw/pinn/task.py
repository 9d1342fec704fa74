"""The PDE tasks of the trainer (``train.task`` = ``hjb20`` or ``heat``): collocation batches and
the relative-L2 metric.

Batches: step ``s`` of epoch ``e`` draws ``train.batch_size`` i.i.d. uniform collocation points
in ``[0, 1]^dim`` from ``default_rng([seed, e, s, 0xC011])`` (so a resumed run redraws the same
points), followed by ``pinn.boundary_points`` points on the lateral faces (Dirichlet data) from
``default_rng([seed, e, s, 0xB0D])``; the label array is a dummy of zeros (the Method
protocol's ``y``). An epoch is ``pinn.steps_per_epoch`` steps.

Metric (:meth:`PDETask.evaluate`, headline first): ``rel_l2 = ||u_pred - u||_2 / ||u||_2`` on
``pinn.test_points`` (10,000) uniform test points drawn once from ``pinn.test_seed``, where
``u_pred = method.predict(points)[:, 0]`` is the hard-constrained network (the PINN methods
return the solution, not the raw network output); also ``max_abs_err`` and ``rmse``.
"""

from collections.abc import Iterator

import numpy as np
import numpy.typing as npt

from ..config import Config, PINNConfig
from ..errors import ConfigError
from ..train.method import Method
from .problems import Problem, get_problem, rel_l2

__all__ = ["TASK_PROBLEMS", "PDETask", "pinn_settings", "problem_for"]

#: ``train.task`` -> :data:`~fotrain.sw.pinn.problems.PROBLEMS` name.
TASK_PROBLEMS = {"hjb20": "hjb20", "heat": "heat20"}


def pinn_settings(cfg: Config) -> PINNConfig:
    """``cfg.pinn`` once the section is wired into :class:`Config`, else the defaults."""
    return getattr(cfg, "pinn", None) or PINNConfig()


def problem_for(cfg: Config) -> Problem:
    """The PDE of ``cfg.train.task``; checks the network maps ``dim`` inputs to one output."""
    task = cfg.train.task
    if task not in TASK_PROBLEMS:
        raise ConfigError(
            f"train.task: {task!r} is not a PDE task (one of {', '.join(TASK_PROBLEMS)})"
        )
    problem = get_problem(TASK_PROBLEMS[task])
    if cfg.in_features != problem.dim or cfg.out_features != 1:
        raise ConfigError(
            f"layers: task {task} needs {problem.dim} inputs and 1 output, the "
            f"network has {cfg.in_features} -> {cfg.out_features}"
        )
    return problem


class PDETask:
    """A PDE of :mod:`.problems` as a trainer task (module docstring)."""

    def __init__(self, cfg: Config):
        self.problem = problem_for(cfg)
        self.pinn = pinn_settings(cfg)
        self.name = cfg.train.task
        rng = np.random.default_rng(self.pinn.test_seed)
        self.x_test = self.problem.sample_test(self.pinn.test_points, rng=rng)
        self.u_test = self.problem.exact(self.x_test)

    def steps_per_epoch(self, batch_size: int) -> int:
        """``pinn.steps_per_epoch`` (points are drawn afresh every step)."""
        return self.pinn.steps_per_epoch

    def batches(
        self, epoch: int, batch_size: int, seed: int
    ) -> Iterator[tuple[npt.NDArray[np.float64], npt.NDArray[np.int64]]]:
        """``(points (batch_size + nb, dim), zeros)`` per step, fixed by ``(seed, epoch, step)``:
        ``batch_size`` interior points, then ``nb = pinn.boundary_points`` points on the lateral
        faces from a separate stream (so the interior points do not depend on ``nb``)."""
        nb = self.pinn.boundary_points
        for s in range(self.steps_per_epoch(batch_size)):
            rng = np.random.default_rng([int(seed), int(epoch), s, 0xC011])
            x = self.problem.sample_collocation(batch_size, rng=rng)
            if nb:
                brng = np.random.default_rng([int(seed), int(epoch), s, 0xB0D])
                x = np.concatenate([x, self.problem.sample_boundary(nb, rng=brng)])
            yield x, np.zeros(x.shape[0], np.int64)

    def predict(self, method: Method, batch: int) -> npt.NDArray[np.float64]:
        """``u_pred`` on the test points, ``batch`` points per call."""
        return np.concatenate(
            [
                np.asarray(method.predict(self.x_test[s : s + batch]), np.float64).reshape(-1)
                for s in range(0, len(self.x_test), batch)
            ]
        )

    def evaluate(self, method: Method, batch: int) -> dict[str, float]:
        """``rel_l2`` (headline, minimised), ``max_abs_err``, ``rmse`` on the test set."""
        u = self.predict(method, batch)
        err = u - self.u_test
        return {
            "rel_l2": rel_l2(u, self.u_test),
            "max_abs_err": float(np.abs(err).max()),
            "rmse": float(np.sqrt(np.mean(err**2))),
        }
