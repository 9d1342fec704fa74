"""First-order (backprop) reference for TT and dense networks, in numpy.

It exists only to measure how close forward-only training gets (the training method that uses it
is :class:`fotrain.sw.train.backprop.BPMethod`). :func:`tt_backward` reverses the
left-to-right contraction of :mod:`fotrain.sw.tt` core by core (one GEMM per core for the core
gradient, one for the input gradient); :func:`network_grad` chains layers. Both are verified
against finite differences in the tests.
"""

import math
from typing import Any

import numpy as np
import numpy.typing as npt

from .config import Config
from .losses import loss_and_grad
from .model import activation_grad, network_forward
from .tt import core_matrix

__all__ = ["network_grad", "tt_backward"]

FloatArray = npt.NDArray[np.float64]


def tt_backward(
    cores: list[FloatArray], core_inputs: list[FloatArray], gz: FloatArray, need_input: bool = True
) -> tuple[list[FloatArray], FloatArray | None]:
    """Gradients of a TT layer: ``gz = dL/dz (B, M)`` -> ``([dL/dG_k], dL/dx (B, N))``.

    ``core_inputs`` are the matrices cached by the forward pass (``cache=`` of
    :func:`~fotrain.sw.tt.contract_from`).
    """
    shapes = [g.shape for g in cores]
    batch, d = gz.shape[0], len(cores)
    modes = [sh[2] for sh in shapes]
    g = np.ascontiguousarray(gz.T)  # [i_1..i_d, b], the layout contract_from ends in
    grads: list[FloatArray] = [np.empty(0)] * d
    for k in range(d - 1, -1, -1):
        r0, n, m, r1 = shapes[k]
        rest = math.prod(sh[1] for sh in shapes[k + 1 :])
        i_done = math.prod(modes[:k])
        g_out = np.ascontiguousarray(g.reshape(r1, rest, i_done, m, batch).transpose(3, 0, 1, 2, 4))
        g_out = g_out.reshape(m * r1, rest * i_done * batch)
        grads[k] = (g_out @ core_inputs[k].T).T.reshape(r0, n, m, r1)
        if k or need_input:
            g = core_matrix(cores[k]).T @ g_out
    gx = g.reshape(-1, batch).T if need_input else None
    return grads, gx


def network_grad(
    cfg: Config, params: dict[str, FloatArray], x: FloatArray, y: npt.NDArray[np.int64]
) -> tuple[float, dict[str, FloatArray]]:
    """Batch-mean loss (``cfg.train.loss``) and its exact gradient for every parameter."""
    caches: dict[int, Any] = {}
    out = network_forward(cfg, params, x, caches=caches)
    loss, gh = loss_and_grad(cfg.train.loss, out, y)
    grads: dict[str, FloatArray] = {}
    for i in range(len(cfg.layers) - 1, -1, -1):
        layer, c = cfg.layers[i], caches[i]
        gz = gh * activation_grad(layer.activation, c["z"])
        if layer.bias:
            grads[f"{i}.bias"] = gz.sum(axis=0)
        if layer.kind == "tt":
            cores = [params[f"{i}.core{k}"] for k in range(len(layer.in_modes))]
            gcores, gin = tt_backward(cores, c["T"], gz, need_input=i > 0)
            for k, gc in enumerate(gcores):
                grads[f"{i}.core{k}"] = gc
            if gin is not None:  # None only for layer 0, the last one visited
                gh = gin
        else:
            grads[f"{i}.w"] = gz.T @ c["h"]
            gh = gz @ params[f"{i}.w"]
    return loss, grads
