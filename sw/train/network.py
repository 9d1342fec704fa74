"""Shared base of methods that train a network built from ``Config.layers`` in float.

Holds the parameters (initialised from the seed), the optimiser, the forward-pass counter, and
implements the state / restore / predict parts of :class:`.method.Method`.
"""

from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..errors import FotrainError
from ..model import init_params, network_forward
from .optim import Optimizer

__all__ = ["Counted", "NetworkMethod", "method_state", "restore_arrays"]


def restore_arrays(
    target: dict[str, np.ndarray], arrays: dict[str, np.ndarray], prefix: str
) -> None:
    """Copy ``arrays[prefix + name]`` into each ``target[name]`` (same shape and dtype)."""
    for name, dst in target.items():
        key = prefix + name
        if key not in arrays:
            raise FotrainError(f"checkpoint: array {key!r} missing")
        src = arrays[key]
        if src.shape != dst.shape or src.dtype != dst.dtype:
            raise FotrainError(
                f"checkpoint: array {key!r} is {src.dtype}{list(src.shape)}, "
                f"expected {dst.dtype}{list(dst.shape)}"
            )
        dst[...] = src


def method_state(
    params: dict[str, np.ndarray], prefix: str, forward: int, *, opt: Any = None, stats: Any = None
) -> dict[str, np.ndarray]:
    """Checkpoint arrays of a method: ``prefix + name`` per parameter, the optimiser's slots,
    ``forward_passes`` and the overflow counters (so a resumed run reports every event)."""
    out = {f"{prefix}{k}": v for k, v in params.items()}
    if opt is not None:
        out.update(opt.state())
    out["forward_passes"] = np.array(forward, np.int64)
    if stats is not None:
        out.update(stats.arrays())
    return out


class Counted:
    """The counters of the :class:`~.method.Method` protocol: ``forward_passes`` from
    ``self._forward``, ``params`` from the arrays :meth:`trainable` returns."""

    _forward: int

    def trainable(self) -> dict[str, npt.NDArray[Any]]:
        """The trained arrays (float parameters or integer codes) by name."""
        raise NotImplementedError

    @property
    def forward_passes(self) -> int:
        return self._forward

    @property
    def params(self) -> int:
        return int(sum(v.size for v in self.trainable().values()))


class NetworkMethod(Counted):
    """Float parameters + optimiser + counters; subclasses implement ``train_step``."""

    def __init__(self, cfg: Config, *, seed: int):
        self.cfg = cfg
        self.seed = seed
        self.p = init_params(cfg, rng=np.random.default_rng([seed, 0xC0DE]))
        self.opt = Optimizer(cfg.train, self.p)
        self._forward = 0

    def trainable(self) -> dict[str, npt.NDArray[Any]]:
        return self.p

    def state(self) -> dict[str, npt.NDArray[Any]]:
        return method_state(self.p, "p.", self._forward, opt=self.opt)

    def load_state(self, arrays: dict[str, npt.NDArray[Any]]) -> None:
        restore_arrays(self.p, arrays, "p.")
        self.opt.load_state(arrays)
        self._forward = int(arrays["forward_passes"])

    def predict(self, x: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        return network_forward(self.cfg, self.p, x)

    def summary(self) -> dict[str, Any]:
        return {}
