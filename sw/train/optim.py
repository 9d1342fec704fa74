"""First-order update rules applied to a gradient (or a zeroth-order gradient estimate).

For parameters ``p``, gradient ``g`` (with weight decay: ``g + wd * p``) and learning rate ``lr``:

- ``sgd``: ``p -= lr * g``
- ``momentum``: ``v = mu v + g; p -= lr v``;  ``nesterov``: ``v = mu v + g; p -= lr (g + mu v)``
- ``signsgd``: ``p -= lr * sign(g)``
- ``adam``: ``m = b1 m + (1-b1) g; v = b2 v + (1-b2) g^2; p -= lr * mhat / (sqrt(vhat) + eps)``

State arrays are exposed for checkpoints (``state`` / ``load_state``).
"""

import numpy as np
import numpy.typing as npt

from ..config import TrainConfig
from ..errors import FotrainError

__all__ = ["Optimizer"]


class Optimizer:
    """One of the update rules above over a ``dict`` of float parameter arrays."""

    def __init__(self, train: TrainConfig, params: dict[str, npt.NDArray[np.float64]]):
        self.kind = train.optimizer
        self.t = train
        self.m = {k: np.zeros_like(v) for k, v in params.items()}
        self.v = {k: np.zeros_like(v) for k, v in params.items()} if self.kind == "adam" else {}
        self.count = 0

    def step(
        self,
        params: dict[str, npt.NDArray[np.float64]],
        grads: dict[str, npt.NDArray[np.float64]],
        lr: float,
    ) -> None:
        """Update ``params`` in place from ``grads`` (names missing from ``grads`` are kept)."""
        t = self.t
        self.count += 1
        for k, g in grads.items():
            p = params[k]
            if t.weight_decay:
                g = g + t.weight_decay * p
            if self.kind == "sgd":
                p -= lr * g
            elif self.kind == "signsgd":
                p -= lr * np.sign(g)
            elif self.kind in ("momentum", "nesterov"):
                m = self.m[k]
                m *= t.momentum
                m += g
                p -= lr * (g + t.momentum * m if self.kind == "nesterov" else m)
            else:
                m, v = self.m[k], self.v[k]
                m *= t.beta1
                m += (1 - t.beta1) * g
                v *= t.beta2
                v += (1 - t.beta2) * g * g
                mhat = m / (1 - t.beta1**self.count)
                vhat = v / (1 - t.beta2**self.count)
                p -= lr * mhat / (np.sqrt(vhat) + t.eps)

    def state(self) -> dict[str, np.ndarray]:
        """Arrays for a checkpoint."""
        out = {f"opt.m.{k}": v for k, v in self.m.items()}
        out.update({f"opt.v.{k}": v for k, v in self.v.items()})
        out["opt.count"] = np.array(self.count, np.int64)
        return out

    def load_state(self, arrays: dict[str, np.ndarray]) -> None:
        """Restore :meth:`state` output."""
        try:
            for k in self.m:
                self.m[k][...] = arrays[f"opt.m.{k}"]
            for k in self.v:
                self.v[k][...] = arrays[f"opt.v.{k}"]
            self.count = int(arrays["opt.count"])
        except KeyError as e:
            raise FotrainError(f"checkpoint: optimiser array {e.args[0]!r} missing") from None
