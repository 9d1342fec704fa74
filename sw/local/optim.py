"""Per-parameter optimisers for the local-learning methods (float path).

Each parameter is updated on its own as soon as its gradient exists (a local rule updates layer
``k`` before layer ``k + 1`` has run), so the state is a dict per parameter name. With gradient
``g`` (plus ``weight_decay * w``) and learning rate ``lr``:

==========  ====================================================================================
sgd         ``w -= lr g``
momentum    ``v = mu v + g;  w -= lr v``
nesterov    ``v = mu v + g;  w -= lr (g + mu v)``
signsgd     ``w -= lr sign(g)``
adam        ``m = b1 m + (1-b1) g;  v = b2 v + (1-b2) g^2;  n += 1;``
            ``w -= lr (m / (1 - b1^n)) / (sqrt(v / (1 - b2^n)) + eps)``
==========  ====================================================================================

The step count ``n`` is per parameter (a greedy schedule leaves frozen layers' counts alone).
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["Optimizer"]


class Optimizer:
    """The optimiser named by ``train.optimizer`` over a dict of float parameters."""

    def __init__(self, train: Any, params: dict[str, npt.NDArray[np.floating]]):
        self.kind = train.optimizer
        self.mu, self.b1, self.b2, self.eps = train.momentum, train.beta1, train.beta2, train.eps
        self.wd = train.weight_decay
        self.slots: dict[str, npt.NDArray[Any]] = {}
        self._scratch: dict[str, npt.NDArray[Any]] = {}
        for name, p in params.items():
            if self.kind in ("momentum", "nesterov"):
                self.slots[f"{name}/v"] = np.zeros_like(p)
            elif self.kind == "adam":
                self.slots[f"{name}/m"] = np.zeros_like(p)
                self.slots[f"{name}/v"] = np.zeros_like(p)
                self.slots[f"{name}/n"] = np.zeros((), np.int64)

    @property
    def nbytes(self) -> int:
        """Bytes of optimiser state held (every slot array)."""
        return int(sum(a.nbytes for a in self.slots.values()))

    def step(
        self, name: str, p: npt.NDArray[np.floating], g: npt.NDArray[np.floating], lr: float
    ) -> None:
        """Update ``p`` in place from its gradient ``g``."""
        if self.wd:
            g = g + self.wd * p
        lr_ = p.dtype.type(lr)
        if self.kind == "sgd":
            p -= lr_ * g
        elif self.kind == "signsgd":
            p -= lr_ * np.sign(g)
        elif self.kind in ("momentum", "nesterov"):
            v = self.slots[f"{name}/v"]
            v *= p.dtype.type(self.mu)
            v += g
            p -= lr_ * (g + p.dtype.type(self.mu) * v if self.kind == "nesterov" else v)
        else:
            m, v = self.slots[f"{name}/m"], self.slots[f"{name}/v"]
            n = self.slots[f"{name}/n"]
            n += 1
            t = int(n)
            f = p.dtype.type
            tmp = self._scratch.get(name)
            if tmp is None or tmp.shape != p.shape:
                tmp = self._scratch[name] = np.empty_like(p)
            np.subtract(g, m, out=tmp)  # m += (1 - b1) (g - m)
            tmp *= f(1 - self.b1)
            m += tmp
            np.multiply(g, g, out=tmp)  # v += (1 - b2) (g^2 - v)
            tmp -= v
            tmp *= f(1 - self.b2)
            v += tmp
            np.sqrt(v, out=tmp)  # sqrt(v / c2) + eps = (sqrt(v) + eps sqrt(c2)) / sqrt(c2)
            c2 = math.sqrt(1 - self.b2**t)
            tmp += f(self.eps * c2)
            np.divide(m, tmp, out=tmp)
            tmp *= f(lr * c2 / (1 - self.b1**t))
            p -= tmp
