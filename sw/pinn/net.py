"""Batched float evaluation of a PINN network at collocation points x stencil offsets.

The PINN loss needs the network at ``S = P * E`` inputs (``P`` collocation points, ``E`` stencil
offsets; boundary points add one input each) for the base parameters and for every perturbed
query. This module evaluates the network built from ``Config.layers`` on those inputs with
three exact rewrites (same function as :func:`~fotrain.sw.model.network_forward`, up to float
rounding; tested):

1. **Dense equivalents.** Every TT layer is contracted to its dense ``W`` once per parameter set
   (:func:`tt_dense`): at the HJB sizes one ``(S, 512) x (512, 512)`` BLAS GEMM is faster in
   numpy than the four-core contraction with its transposes, although it has 5x the MACs
   (timing in docs/PINN.md). ``W`` of a perturbed core is formed per query, not per sample.
2. **Input linearity.** Layer 0 sees ``x_p + o_e``, so ``z_0 = x_p W^T + o_e W^T + b``: ``(P + E)
   * N * M`` MACs instead of ``P * E * N * M`` (plus ``X * N * M`` for ``X`` extra points
   evaluated once, the PINN's boundary points).
3. **Per-array linear shortcut.** A layer's pre-activation is linear in each single core, weight
   matrix or bias: with one array perturbed, ``z(theta + s u_q) = z + s * dz(u_q)`` where
   ``dz = h dW(u_q)^T`` (``dW`` is the TT with that core replaced by ``u_q``); ``dz`` is formed
   once for the ``+`` and ``-`` steps, layers below are not recomputed, and the layers above run
   on all queries in one batched pass. Blocks of several arrays (``zo.blocks`` = ``layer`` or
   ``all``) use the perturbed dense matrices per query from their first layer on.

:func:`tt_dense_adjoint` is the transpose of rule 1 (gradient of ``W`` -> gradient of each core),
used by the first-order reference.

Cost per evaluated input: ``sum_l M_l N_l`` MACs (dense) plus one activation per hidden unit;
memory is bounded by evaluating at most ``CHUNK_ELEMENTS`` hidden values at once.
"""

import string
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
import numpy.typing as npt

from ..config import Config
from ..model import activate

__all__ = [
    "CHUNK_ELEMENTS",
    "BaseEval",
    "layer_mats",
    "run_from",
    "tt_dense",
    "tt_dense_adjoint",
    "z_first",
]

FloatArray = npt.NDArray[np.floating[Any]]

#: Largest number of hidden values (queries x inputs x units) held at once.
CHUNK_ELEMENTS = 6_000_000

_I, _J, _R = string.ascii_lowercase[:8], string.ascii_lowercase[8:16], string.ascii_uppercase


def _subscripts(d: int) -> tuple[list[str], str, str]:
    cores = [f"{_R[k]}{_J[k]}{_I[k]}{_R[k + 1]}" for k in range(d)]
    return cores, _I[:d], _J[:d]


def tt_dense(cores: Sequence[FloatArray]) -> FloatArray:
    """Dense ``W (..., M, N)`` of TT cores; any core may carry leading query axes
    ``(..., r, n, m, r')`` (broadcast against the others; ``W`` is linear in each core).

    Left to right, one batched GEMM per core: ``R (..., N_<, M_<, r) -> (..., N_< n, M_< m, r')``.
    """
    res = np.ones((1, 1, 1), dtype=np.result_type(*cores))  # (N_< = 1, M_< = 1, r_0 = 1)
    for g in cores:
        r0, n, m, r1 = g.shape[-4:]
        lead = np.broadcast_shapes(res.shape[:-3], g.shape[:-4])
        nd, md = res.shape[-3], res.shape[-2]
        t = np.matmul(
            res.reshape(*res.shape[:-3], nd * md, r0), g.reshape(*g.shape[:-4], r0, n * m * r1)
        )
        t = t.reshape(*lead, nd, md, n, m, r1)
        k = len(lead)
        t = t.transpose(*range(k), k, k + 2, k + 1, k + 3, k + 4)
        res = t.reshape(*lead, nd * n, md * m, r1)
    return np.swapaxes(res[..., 0], -1, -2)


def tt_dense_adjoint(cores: Sequence[FloatArray], gw: FloatArray) -> list[FloatArray]:
    """Gradient of each core from the gradient ``gw (M, N)`` of the dense ``W``."""
    d = len(cores)
    subs, out_i, out_j = _subscripts(d)
    modes = [g.shape[2] for g in cores] + [g.shape[1] for g in cores]
    gt = gw.reshape(modes)
    grads = []
    for k in range(d):
        others = [(s, g) for j, (s, g) in enumerate(zip(subs, cores, strict=True)) if j != k]
        ins = [out_i + out_j] + [s for s, _ in others]
        out = "".join(c for c in subs[k] if any(c in s for s in ins))  # boundary ranks drop
        spec = ",".join(ins) + "->" + out
        g = np.einsum(spec, gt, *[g for _, g in others], optimize=True)
        grads.append(g.reshape(cores[k].shape))
    return grads


def layer_mats(
    cfg: Config, p: Mapping[str, FloatArray], dtype: np.dtype
) -> list[tuple[FloatArray, FloatArray | None]]:
    """``(W (M, N), bias or None)`` of every layer, in ``dtype``."""
    out = []
    for i, layer in enumerate(cfg.layers):
        if layer.kind == "tt":
            w = tt_dense([p[f"{i}.core{k}"] for k in range(len(layer.in_modes))])
        else:
            w = p[f"{i}.w"]
        b = p.get(f"{i}.bias")
        out.append((np.asarray(w, dtype), None if b is None else np.asarray(b, dtype)))
    return out


def z_first(
    w: FloatArray,
    b: FloatArray | None,
    xp: FloatArray,
    offsets: FloatArray,
    extra: FloatArray | None = None,
) -> FloatArray:
    """Layer-0 pre-activation at ``x_p + o_e`` by input linearity, then at the ``extra``
    points (each once): ``(..., P * E + X, M)`` for ``w`` of shape ``(..., M, N)`` (``b``
    broadcast the same way, or None)."""
    wt = np.swapaxes(w, -1, -2)
    zp = np.matmul(xp, wt)  # (..., P, M)
    zo = np.matmul(offsets, wt)  # (..., E, M)
    z = zp[..., :, None, :] + zo[..., None, :, :]
    z = z.reshape(*z.shape[:-3], -1, z.shape[-1])
    if extra is not None and len(extra):
        ze = np.matmul(extra, wt)  # (..., X, M)
        z = np.concatenate([z, np.broadcast_to(ze, (*z.shape[:-2], *ze.shape[-2:]))], axis=-2)
    if b is not None:
        z = z + b[..., None, :]
    return z


def run_from(
    cfg: Config,
    mats: list[tuple[FloatArray, FloatArray | None]],
    i: int,
    z: FloatArray,
    per_query: dict[int, tuple[FloatArray, FloatArray | None]] | None = None,
) -> FloatArray:
    """Outputs ``(..., S)`` from layer ``i``'s pre-activation ``z (..., S, M_i)``.

    ``per_query[l] = (W (C, M, N), b (C, M) or None)`` replaces layer ``l``'s matrices with one
    per leading query (``z`` then has shape ``(C, S, M_i)``).
    """
    per_query = per_query or {}
    h = activate(cfg.layers[i].activation, z)
    for j in range(i + 1, len(cfg.layers)):
        if j in per_query:
            w, b = per_query[j]
            z = np.matmul(h, np.swapaxes(w, -1, -2))
            if b is not None:
                z = z + b[:, None, :]
        else:
            w, b = mats[j]
            z = h @ w.T
            if b is not None:
                z = z + b
        h = activate(cfg.layers[j].activation, z)
    return h[..., 0]


class BaseEval:
    """The unperturbed network at all ``P * E`` inputs ``x_p + o_e`` and then at the ``extra``
    points (each once; the PINN's boundary points), with each layer's input and pre-activation
    kept for the shortcuts (rule 3)."""

    def __init__(
        self,
        cfg: Config,
        p: Mapping[str, FloatArray],
        xp: FloatArray,
        offsets: FloatArray,
        dtype: npt.DTypeLike,
        extra: FloatArray | None = None,
    ):
        self.cfg, self.dtype = cfg, np.dtype(dtype)
        self.xp = np.asarray(xp, self.dtype)
        self.offsets = np.asarray(offsets, self.dtype)
        self.extra = None if extra is None else np.asarray(extra, self.dtype)
        self.mats = layer_mats(cfg, p, self.dtype)
        self.h: list[FloatArray | None] = [None]  # layer inputs (layer 0: implicit)
        self.z: list[FloatArray] = []
        w, b = self.mats[0]
        z = z_first(w, b, self.xp, self.offsets, self.extra)
        for i in range(len(cfg.layers)):
            self.z.append(z)
            h = activate(cfg.layers[i].activation, z)
            if i + 1 < len(cfg.layers):
                self.h.append(h)
                w, b = self.mats[i + 1]
                z = h @ w.T
                if b is not None:
                    z = z + b
        self.out = h[:, 0]

    @property
    def size(self) -> int:
        """Evaluated inputs ``S``."""
        return int(self.out.shape[0])

    def linear(self, i: int, w: FloatArray, b: FloatArray | None) -> FloatArray:
        """Layer ``i``'s affine map with matrices ``w (..., M, N)`` on its cached input."""
        if i == 0:
            return z_first(w, b, self.xp, self.offsets, self.extra)
        h = self.h[i]
        assert h is not None  # only layer 0's input is implicit
        z = np.matmul(h, np.swapaxes(w, -1, -2))
        return z if b is None else z + b[..., None, :]
