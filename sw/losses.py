"""Task losses on network outputs, per sample and averaged, with their gradients.

``ce``: softmax cross-entropy ``L = mean_b(logsumexp(s_b) - s_b[y_b])``;
``mse``: ``L = mean_b(0.5 * sum_c (s_bc - onehot(y_b)_c)**2)``.
Gradients are with respect to the scores ``s`` of the batch-mean loss.
"""

import numpy as np
import numpy.typing as npt

__all__ = ["loss_and_grad", "loss_per_query", "onehot"]

FloatArray = npt.NDArray[np.float64]


def onehot(y: npt.NDArray[np.int64], classes: int) -> FloatArray:
    """One-hot rows ``(B, classes)``."""
    out = np.zeros((len(y), classes))
    out[np.arange(len(y)), y] = 1.0
    return out


def _log_softmax(s: FloatArray) -> FloatArray:
    s = s - s.max(axis=-1, keepdims=True)
    return s - np.log(np.exp(s).sum(axis=-1, keepdims=True))


def loss_per_query(kind: str, scores: FloatArray, y: npt.NDArray[np.int64]) -> FloatArray:
    """Batch-mean loss for each leading query: ``scores (..., B, C)`` -> ``(...)``."""
    if kind == "ce":
        ls = _log_softmax(scores)
        picked = np.take_along_axis(ls, np.broadcast_to(y[:, None], ls.shape[:-1] + (1,)), axis=-1)[
            ..., 0
        ]
        return -picked.mean(axis=-1)
    diff = scores - onehot(y, scores.shape[-1])
    return 0.5 * (diff**2).sum(axis=-1).mean(axis=-1)


def loss_and_grad(
    kind: str, scores: FloatArray, y: npt.NDArray[np.int64]
) -> tuple[float, FloatArray]:
    """Batch-mean loss and its gradient with respect to ``scores (B, C)``."""
    b = len(y)
    if kind == "ce":
        ls = _log_softmax(scores)
        loss = -float(ls[np.arange(b), y].mean())
        g = np.exp(ls)
        g[np.arange(b), y] -= 1.0
        return loss, g / b
    diff = scores - onehot(y, scores.shape[-1])
    return 0.5 * float((diff**2).sum(axis=-1).mean()), diff / b
