"""The backprop training method: the first-order reference for TT and dense networks."""

import numpy as np
import numpy.typing as npt

from ..bp import network_grad
from .network import NetworkMethod

__all__ = ["BPMethod"]

FloatArray = npt.NDArray[np.float64]


class BPMethod(NetworkMethod):
    """Backprop with the configured optimiser (the first-order reference)."""

    def train_step(
        self, x: FloatArray, y: npt.NDArray[np.int64], *, step: int, epoch: int, lr: float
    ) -> dict[str, float]:
        loss, grads = network_grad(self.cfg, self.p, x, y)
        self.opt.step(self.p, grads, lr)
        self._forward += 1
        return {"loss": loss}
