"""TT-matrix layers: float and bit-exact fixed-point forward, TT-SVD, initialiser, costs.

Convention (shared with ``fotrain.hw.tt``): core ``G_k`` has shape ``(r_{k-1}, n_k, m_k, r_k)``
with ``r_0 = r_d = 1`` and

    W[i, j] = G_1[:, j_1, i_1, :] @ G_2[:, j_2, i_2, :] @ ... @ G_d[:, j_d, i_d, :]

where ``i = (i_1..i_d)`` indexes ``prod(m)`` outputs and ``j = (j_1..j_d)`` indexes ``prod(n)``
inputs, both flattened row-major (mode 1 most significant). A layer computes ``y = x @ W.T (+ b)``
for ``x`` of shape ``(B, prod n)``; ``W`` is never formed.

Contraction order (left to right, one GEMM per core). The running tensor after core ``k`` is

    t_k[a_k, j_{k+1}..j_d, i_1..i_k, b] = sum_{a_{k-1}, j_k} G_k[a_{k-1}, j_k, i_k, a_k]
                                           * t_{k-1}[a_{k-1}, j_k..j_d, i_1..i_{k-1}, b]

with ``t_0[0, j, b] = x[b, j]``: core ``k`` is the matrix product of ``G_k`` viewed as
``(m_k r_k) x (r_{k-1} n_k)`` with the running tensor viewed as ``(r_{k-1} n_k) x rest``; between
cores a transpose moves ``i_k`` behind the done output modes; ``y[b, i]`` is read out at the end.

Fixed point (:func:`tt_forward_fixed`, the specification ``fotrain.hw.tt`` copies bit for bit):

1. ``x`` codes are in ``formats.act``, core codes in ``formats.weight``.
2. Each core's sums of products are formed exactly in ``formats.acc``
   (``acc.frac = act.frac + weight.frac``); the config guarantees they cannot overflow.
3. On the last core only, the bias (``formats.act`` codes) is added into the accumulator,
   aligned exactly by a left shift of ``weight.frac`` bits.
4. Every accumulator value is requantized to ``formats.act`` (rounding by ``act.rounding``,
   overflow by ``act.overflow``) after *every* core; this is the only rounding point.
"""

import math
from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from .errors import FotrainError
from .formats import FormatConfig
from .qarith import mac
from .qformat import OverflowStats, Rounding, requantize

__all__ = [
    "CoreCost",
    "check_cores",
    "contract_from",
    "core_matrix",
    "stack_queries",
    "tt_core_costs",
    "tt_core_shapes",
    "tt_fixed_error_bound",
    "tt_forward",
    "tt_forward_fixed",
    "tt_from_dense",
    "tt_init",
    "tt_to_dense",
]

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]


class CoreCost(NamedTuple):
    """Cost of contracting one core for a batch: one ``rows x k`` by ``k x out`` GEMM."""

    rows: int  #: ``B * prod(m_<k) * prod(n_>k)``
    k: int  #: contraction length ``r_{k-1} * n_k``
    out: int  #: ``m_k * r_k``
    macs: int  #: ``rows * k * out``
    out_size: int  #: entries of the running tensor after this core, ``rows * out``


def tt_core_shapes(
    in_modes: Sequence[int], out_modes: Sequence[int], ranks: Sequence[int]
) -> list[tuple[int, int, int, int]]:
    """Core shapes ``(r_{k-1}, n_k, m_k, r_k)``."""
    return [(ranks[k], in_modes[k], out_modes[k], ranks[k + 1]) for k in range(len(in_modes))]


def tt_core_costs(
    in_modes: Sequence[int], out_modes: Sequence[int], ranks: Sequence[int], batch: int = 1
) -> list[CoreCost]:
    """Per-core MACs and intermediate sizes of the left-to-right contraction."""
    costs = []
    for k, (r0, n, m, r1) in enumerate(tt_core_shapes(in_modes, out_modes, ranks)):
        rows = batch * math.prod(out_modes[:k]) * math.prod(in_modes[k + 1 :])
        costs.append(CoreCost(rows, r0 * n, m * r1, rows * r0 * n * m * r1, rows * m * r1))
    return costs


def check_cores(cores: Sequence[npt.ArrayLike]) -> tuple[list[int], list[int], list[int]]:
    """Check that cores chain (4-D, boundary ranks 1); return ``(in_modes, out_modes, ranks)``."""
    if len(cores) == 0:
        raise FotrainError("cores: need at least one core")
    ranks = [1]
    ins, outs = [], []
    for k, g in enumerate(cores):
        shape = np.shape(g)
        if len(shape) != 4:
            raise FotrainError(f"cores[{k}]: shape {shape} is not (r_prev, n, m, r_next)")
        if shape[0] != ranks[-1]:
            raise FotrainError(
                f"cores[{k}]: leading rank {shape[0]} != previous trailing rank {ranks[-1]}"
            )
        ins.append(shape[1])
        outs.append(shape[2])
        ranks.append(shape[3])
    if ranks[-1] != 1:
        raise FotrainError(f"cores[{len(cores) - 1}]: trailing rank {ranks[-1]} != 1")
    return ins, outs, ranks


def _contract(cores, x, core_step, *, cache=None):
    """Left-to-right contraction of ``x`` (``(B, prod n)``); see :func:`contract_from`."""
    ins, _, _ = check_cores(cores)
    x = np.asarray(x)
    if x.ndim != 2 or x.shape[1] != math.prod(ins):
        raise FotrainError(f"x: shape {x.shape} does not match (batch, {math.prod(ins)})")
    t = np.ascontiguousarray(x.T)  # [j_1..j_d, b] with a leading rank 1 and trailing I = 1
    return contract_from(cores, t, x.shape[0], core_step, k0=0, i_done=1, cache=cache)


def contract_from(
    cores, t, batch: int, core_step, *, k0: int = 0, i_done: int = 1, cache: list | None = None
):
    """Run cores ``k0..d-1`` on the running tensor ``t`` and return ``y`` of shape ``(batch, M)``.

    Memory layout of the running tensor before core ``k`` (the "reshape unit" between cores):
    ``[r_{k-1}, j_k..j_d, i_1..i_{k-1}, b]``, the batch innermost, so every transpose moves
    contiguous runs of ``batch`` values. ``core_step(T, k)`` maps the ``(r_{k-1} n_k) x cols``
    matrix ``T`` to the ``(m_k r_k) x cols`` result of core ``k``; ``cache`` (a list) receives
    each ``T``. Stacked perturbation queries fold into ``batch`` (see :func:`stack_queries`).
    """
    shapes = [np.shape(g) for g in cores]
    for k in range(k0, len(cores)):
        r0, n, m, r1 = shapes[k]
        rest = math.prod(s[1] for s in shapes[k + 1 :])
        mat = t.reshape(r0 * n, rest * i_done * batch)
        if cache is not None:
            cache.append(mat)
        out = core_step(mat, k).reshape(m, r1, rest, i_done, batch)
        t = np.ascontiguousarray(out.transpose(1, 2, 3, 0, 4))  # [r_k, j_{k+1}.., I, i_k, b]
        i_done *= m
    return np.ascontiguousarray(t.reshape(i_done, batch).T)


def stack_queries(out, q: int, m: int, r1: int, rest: int, batch: int, i_done: int):
    """Reorder ``q`` stacked results of one core, ``(q, m r', rest * I * batch)``, into the
    running-tensor layout ``[r', rest, I, m, q, b]`` so the remaining cores see ``q * batch``
    samples (query-major)."""
    out = out.reshape(q, m, r1, rest, i_done, batch)
    return np.ascontiguousarray(out.transpose(2, 3, 4, 1, 0, 5))


def core_matrix(g: npt.ArrayLike) -> np.ndarray:
    """Core as the ``(m_k r_k) x (r_{k-1} n_k)`` left operand of the per-core GEMM."""
    g = np.asarray(g)
    r0, n, m, r1 = g.shape
    return np.ascontiguousarray(g.reshape(r0 * n, m * r1).T)


def tt_forward(
    cores: Sequence[npt.ArrayLike], x: npt.ArrayLike, bias: npt.ArrayLike | None = None
) -> FloatArray:
    """Float TT-matrix layer ``x @ W.T (+ bias)``, contracting core by core; W is never formed."""
    mats = [core_matrix(np.asarray(g, dtype=np.float64)) for g in cores]
    y = _contract(cores, np.asarray(x, dtype=np.float64), lambda t, k: mats[k] @ t)
    return y + np.asarray(bias, dtype=np.float64) if bias is not None else y


def tt_forward_fixed(
    cores: Sequence[npt.ArrayLike],
    x: npt.ArrayLike,
    formats: FormatConfig,
    *,
    bias: npt.ArrayLike | None = None,
    stats: OverflowStats | None = None,
) -> IntArray:
    """Bit-exact integer TT layer: codes in, codes (``formats.act``) out.

    See the module docstring for the four rounding/overflow rules; ``stats`` receives the
    requantization overflow count of each core under ``"tt.core<k>"``.
    """
    fw, fa, fc = formats.weight, formats.act, formats.acc
    mats = [core_matrix(np.asarray(g, dtype=np.int64)) for g in cores]
    last = len(cores) - 1

    def step(t: IntArray, k: int) -> IntArray:
        acc = mac(mats[k], fw, t, fa, fc, stats=stats, site=f"tt.acc{k}")
        if k == last:  # rounded below, after the bias joins the accumulator
            return acc
        return requantize(acc, fc, fa, stats=stats, site=f"tt.core{k}")

    acc = _contract(cores, np.asarray(x, dtype=np.int64), step)
    if bias is not None:
        acc = acc + requantize(bias, fa, fc)  # exact: act codes shifted by weight.frac
    return requantize(acc, fc, fa, stats=stats, site=f"tt.core{last}")


def tt_to_dense(cores: Sequence[npt.ArrayLike]) -> FloatArray:
    """Reconstruct the dense ``W`` of shape ``(prod m, prod n)`` (in the cores' dtype)."""
    check_cores(cores)
    g0 = np.asarray(cores[0])
    res = g0.reshape(g0.shape[1], g0.shape[2], g0.shape[3])  # [N_done, M_done, r]
    for g in cores[1:]:
        g = np.asarray(g)
        nd, md, _ = res.shape
        res = np.einsum("abr,rnms->anbms", res, g).reshape(
            nd * g.shape[1], md * g.shape[2], g.shape[3]
        )
    return np.ascontiguousarray(res[..., 0].T)


def tt_from_dense(
    w: npt.ArrayLike,
    in_modes: Sequence[int],
    out_modes: Sequence[int],
    max_rank: int | None = None,
    *,
    rtol: float = 0.0,
) -> list[FloatArray]:
    """TT-SVD of ``w`` (shape ``(prod m, prod n)``) into cores ``(r, n_k, m_k, r')``.

    Ranks are capped at ``max_rank`` (``None``: full rank, exact round trip) and singular values
    below ``rtol * s_max`` of each unfolding are dropped.
    """
    w = np.asarray(w, dtype=np.float64)
    d = len(in_modes)
    if len(out_modes) != d:
        raise FotrainError(
            f"out_modes: {list(out_modes)} and in_modes {list(in_modes)} differ in length"
        )
    if w.shape != (math.prod(out_modes), math.prod(in_modes)):
        raise FotrainError(
            f"w: shape {w.shape} != (prod(out_modes), prod(in_modes)) = "
            f"({math.prod(out_modes)}, {math.prod(in_modes)})"
        )
    if max_rank is not None and max_rank < 1:
        raise FotrainError(f"max_rank: must be >= 1, got {max_rank}")
    t = w.reshape(*out_modes, *in_modes)
    t = t.transpose([p for k in range(d) for p in (d + k, k)])  # [n1, m1, n2, m2, ...]
    cores, r = [], 1
    c = t.reshape(1, -1)
    for k in range(d - 1):
        c = c.reshape(r * in_modes[k] * out_modes[k], -1)
        u, s, vt = np.linalg.svd(c, full_matrices=False)
        keep = len(s) if max_rank is None else min(max_rank, len(s))
        if rtol > 0 and s.size:
            keep = max(1, min(keep, int(np.count_nonzero(s > rtol * s[0]))))
        cores.append(u[:, :keep].reshape(r, in_modes[k], out_modes[k], keep))
        c = s[:keep, None] * vt[:keep]
        r = keep
    cores.append(c.reshape(r, in_modes[-1], out_modes[-1], 1))
    return cores


def tt_init(
    in_modes: Sequence[int],
    out_modes: Sequence[int],
    ranks: Sequence[int],
    *,
    rng: np.random.Generator,
    gain: float = 2.0,
) -> list[FloatArray]:
    """Gaussian cores whose reconstructed ``W`` has Kaiming variance ``gain / prod(in_modes)``.

    ``W[i, j]`` is a sum over ``prod(r_1..r_{d-1})`` rank paths, each a product of ``d``
    independent core entries of variance ``s**2``, so ``Var W = prod(r) * s**(2d)``; ``s`` is
    chosen to make that equal ``gain / fan_in``.
    """
    d = len(in_modes)
    target = gain / math.prod(in_modes)
    paths = math.prod(ranks[1:-1])
    std = (target / paths) ** (1.0 / (2 * d))
    return [rng.normal(0.0, std, size=s) for s in tt_core_shapes(in_modes, out_modes, ranks)]


def tt_fixed_error_bound(cores: Sequence[npt.ArrayLike], formats: FormatConfig) -> float:
    """Worst-case ``|tt_forward_fixed - tt_forward|`` on the same (dequantized) cores and inputs.

    Each requantization into ``act`` adds at most ``rho`` (one LSB for TRN, half an LSB for RND
    and RND_CONV); core ``k`` amplifies an incoming error by at most ``A_k``, the largest
    column sum of ``|G_k|`` over ``(r_{k-1}, n_k)``. Hence ``e_k <= A_k e_{k-1} + rho`` with
    ``e_0 = 0``. Valid when no value saturates or wraps (check ``OverflowStats.total == 0``).
    """
    fa = formats.act
    rho = fa.lsb if fa.rounding is Rounding.TRN else fa.lsb / 2
    err = 0.0
    for g in cores:
        a = float(np.abs(core_matrix(np.asarray(g, dtype=np.float64))).sum(axis=1).max())
        err = a * err + rho
    return err
