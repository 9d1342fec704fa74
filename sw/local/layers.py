"""Float primitives of the local-learning networks: activations, local error signals, convolution
by im2col, max-pooling, and the TT-core gradient of a TT-matrix layer.

Layouts: images are NHWC ``(B, H, W, C)``; a convolution weight is ``(C_out, C_in * k * k)`` with
the column order ``(c, di, dj)``; a fully connected weight is ``(out, in)`` (``y = x @ w.T + b``).

Convolution (stride 1, 'same' zero padding ``p = k // 2``)::

    z[b, i, j, o] = sum_{c, di, dj} w[o, (c, di, dj)] * xp[b, i + di, j + dj, c] + bias[o]

computed as one GEMM ``cols @ w.T`` with ``cols[(b, i, j), (c, di, dj)] = xp[b, i+di, j+dj, c]``.
Its weight gradient is ``dz^T @ cols``; its input gradient is the transposed scatter (col2im).

Max-pooling ``p x p`` (stride ``p``, trailing rows/columns that do not fill a window dropped)
routes the gradient to the first maximum of each window (``argmax``), so it is exact wherever the
maximum is unique.
"""

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from ..errors import FotrainError

__all__ = [
    "act",
    "act_grad",
    "conv_forward",
    "conv_input_grad",
    "im2col",
    "local_error",
    "local_loss_value",
    "pool_backward",
    "pool_forward",
    "tt_core_grads",
]

Array = npt.NDArray[np.floating]


# -- activations ----------------------------------------------------------------------------------
def act(name: str, z: Array) -> Array:
    """``tanh``, ``relu`` or ``none`` (identity), elementwise."""
    if name == "tanh":
        return np.tanh(z)
    if name == "relu":
        return np.maximum(z, 0)
    if name == "none":
        return z
    raise FotrainError(f"activation: {name!r} is not one of tanh, relu, none")


def act_grad(name: str, y: Array) -> Array:
    """``f'(z)`` from the output ``y = f(z)``: ``1 - y^2`` (tanh), ``[y > 0]`` (relu), ``1``."""
    if name == "tanh":
        return 1 - y * y
    if name == "relu":
        return (y > 0).astype(y.dtype)
    if name == "none":
        return np.ones_like(y)
    raise FotrainError(f"activation: {name!r} is not one of tanh, relu, none")


# -- local losses ---------------------------------------------------------------------------------
def _squash(y: Array, t: Array) -> tuple[Array, Array]:
    q = np.clip((1 + y) / 2, 1e-6, 1 - 1e-6)
    p = 1 / (1 + np.exp(-t))
    return q, p


def local_loss_value(loss: str, y: Array, t: Array, beta: float = 1.0) -> float:
    """``sum ell(y, t)`` over all entries (see :func:`local_error` for the losses)."""
    d = y - t
    if loss == "mse":
        return float(0.5 * np.sum(d * d))
    if loss == "l1":
        return float(np.sum(np.abs(d)))
    if loss == "smooth_l1":
        a = np.abs(d)
        return float(np.sum(np.where(a < beta, 0.5 * d * d / beta, a - 0.5 * beta)))
    if loss == "bce":
        q, p = _squash(y, t)
        return float(-np.sum(p * np.log(q) + (1 - p) * np.log(1 - q)))
    raise FotrainError(f"local_loss: {loss!r} is not one of mse, l1, smooth_l1, bce")


def local_error(loss: str, y: Array, t: Array, beta: float = 1.0) -> Array:
    """``e = d ell(y, t) / d y`` elementwise.

    ``mse``: ``y - t``; ``l1``: ``sign(y - t)``; ``smooth_l1``: ``clip(y - t, -beta, beta) /
    beta``; ``bce`` (``q = (1 + y) / 2`` clipped to ``[1e-6, 1 - 1e-6]``, ``p = sigmoid(t)``):
    ``(q - p) / (2 q (1 - q))``, so that with tanh ``e * (1 - y^2) = 2 (q - p)``.
    """
    d = y - t
    if loss == "mse":
        return d
    if loss == "l1":
        return np.sign(d)
    if loss == "smooth_l1":
        return np.clip(d, -beta, beta) / beta
    if loss == "bce":
        q, p = _squash(y, t)
        return (q - p) / (2 * q * (1 - q))
    raise FotrainError(f"local_loss: {loss!r} is not one of mse, l1, smooth_l1, bce")


# -- convolution and pooling ----------------------------------------------------------------------
def im2col(x: Array, k: int) -> Array:
    """Columns ``(B*H*W, C*k*k)`` of NHWC ``x`` for a 'same' ``k x k`` convolution."""
    b, h, w, c = x.shape
    p = k // 2
    xp = np.pad(x, ((0, 0), (p, p), (p, p), (0, 0)))
    win = np.lib.stride_tricks.sliding_window_view(xp, (k, k), axis=(1, 2))  # (B,H,W,C,k,k)
    return win.reshape(b * h * w, c * k * k)


def conv_forward(x: Array, w: Array, bias: Array, k: int) -> tuple[Array, Array]:
    """``(z, cols)``: NHWC pre-activation ``(B, H, W, C_out)`` and the im2col columns."""
    b, h, wd, _ = x.shape
    cols = im2col(x, k)
    z = cols @ w.T + bias
    return z.reshape(b, h, wd, w.shape[0]), cols


def conv_input_grad(dz: Array, w: Array, x_shape: Sequence[int], k: int) -> Array:
    """``dL/dx`` (NHWC) of a 'same' convolution from ``dz = dL/dz`` (col2im of ``dz @ w``)."""
    b, h, wd, c = x_shape
    p = k // 2
    dcols = (dz.reshape(b * h * wd, -1) @ w).reshape(b, h, wd, c, k, k)
    dxp = np.zeros((b, h + 2 * p, wd + 2 * p, c), dz.dtype)
    for di in range(k):
        for dj in range(k):
            dxp[:, di : di + h, dj : dj + wd, :] += dcols[..., di, dj]
    return dxp[:, p : p + h, p : p + wd, :]


def pool_forward(y: Array, p: int) -> tuple[Array, npt.NDArray[np.int8]]:
    """``p x p`` max-pool of NHWC ``y``: ``(pooled, argmax)``, ``argmax = di * p + dj`` of the
    first maximum of each window (row-major order)."""
    b, h, w, c = y.shape
    ho, wo = h // p, w // p
    win = y[:, : ho * p, : wo * p, :].reshape(b, ho, p, wo, p, c)
    pooled = win[:, :, 0, :, 0, :].copy()
    for o in range(1, p * p):
        np.maximum(pooled, win[:, :, o // p, :, o % p, :], out=pooled)
    idx = np.zeros((b, ho, wo, c), np.int8)
    found = win[:, :, 0, :, 0, :] == pooled
    for o in range(1, p * p):  # the first maximum wins
        take = win[:, :, o // p, :, o % p, :] == pooled
        take &= ~found
        found |= take
        idx += take.view(np.int8) * np.int8(o)
    return pooled, idx


def pool_backward(
    dpooled: Array, idx: npt.NDArray[np.int8], y_shape: Sequence[int], p: int
) -> Array:
    """Route ``dL/dpooled`` to the argmax of each window; zeros elsewhere (NHWC ``y_shape``)."""
    b, h, w, c = y_shape
    ho, wo = h // p, w // p
    out = np.zeros((b, h, w, c), dpooled.dtype)
    view = out[:, : ho * p, : wo * p, :].reshape(b, ho, p, wo, p, c)
    for o in range(p * p):
        view[:, :, o // p, :, o % p, :] = np.where(idx == o, dpooled, 0)
    if ho * p == h and wo * p == w:
        return view.reshape(b, h, w, c)
    out[:, : ho * p, : wo * p, :] = view.reshape(b, ho * p, wo * p, c)
    return out


# -- TT-matrix layers -----------------------------------------------------------------------------
def tt_core_grads(cores: Sequence[Array], gw: Array) -> list[Array]:
    """Gradients ``dL/dG_k`` of a TT-matrix layer from the dense ``gw = dL/dW`` ``(M, N)``.

    With ``W[(i_<, i_k, i_>), (j_<, j_k, j_>)] = sum_{a, b} L[j_<, i_<, a] G_k[a, j_k, i_k, b]
    R[b, j_>, i_>]`` (``L``/``R``: contractions of the cores left/right of ``k``, modes row-major
    as in :mod:`fotrain.sw.tt`): ``dL/dG_k[a, j, i, b] = sum L[P, Q, a] gw[Q, i, S, P, j, T]
    R[b, T, S]``.
    """
    d = len(cores)
    ins = [g.shape[1] for g in cores]
    outs = [g.shape[2] for g in cores]
    lefts: list[Array] = [np.ones((1, 1, 1), gw.dtype)]
    for g in cores[:-1]:
        left = lefts[-1]
        nl, ml, _ = left.shape
        nxt = np.einsum("pqa,anmb->pnqmb", left, g)
        lefts.append(nxt.reshape(nl * g.shape[1], ml * g.shape[2], g.shape[3]))
    rights: list[Array] = [np.ones((1, 1, 1), gw.dtype)]
    for g in reversed(cores[1:]):
        right = rights[-1]
        _, nr, mr = right.shape
        nxt = np.einsum("anmb,bst->ansmt", g, right)
        rights.append(nxt.reshape(g.shape[0], g.shape[1] * nr, g.shape[2] * mr))
    rights.reverse()
    grads = []
    for k in range(d):
        left, right = lefts[k], rights[k]
        g6 = gw.reshape(
            math.prod(outs[:k]),
            outs[k],
            math.prod(outs[k + 1 :]),
            math.prod(ins[:k]),
            ins[k],
            math.prod(ins[k + 1 :]),
        )
        grads.append(np.einsum("pqa,qispjt,bts->ajib", left, g6, right, optimize=True))
    return grads
