"""Smolyak sparse-grid Gauss-Hermite quadrature for the standard normal, and symmetric folding.

Rule. ``E[g(z)], z ~ N(0, I_d)`` is approximated by ``sum_k w_k g(z_k)``. The 1-D building
block ``U^l`` is the ``l``-point Gauss-Hermite rule for ``N(0, 1)`` (probabilists' Hermite, "GQN"
growth of Heiss & Winschel 2008: level ``l`` has ``l`` points and is exact for degree ``2l - 1``):
``U^1 = {0: 1}``, ``U^2 = {+-1: 1/2}``, ``U^3 = {0: 2/3, +-sqrt(3): 1/6}``, ... The level-``L``
Smolyak rule in ``d`` dimensions is the combination technique with ``q = d + L - 1``::

    Q_{d,L} = sum_{l in N^d, l_i >= 1, max(d, q - d + 1) <= |l|_1 <= q}
              (-1)^(q - |l|_1) * C(d - 1, q - |l|_1) * (U^{l_1} x ... x U^{l_d})

after which coinciding nodes are merged (weights summed; key: coordinates rounded to 1e-12, the
1-D nodes of different levels are far apart and each 1-D rule is computed once, so the key is
exact in practice). It is exact for every polynomial of total degree ``<= 2L - 1``, weights sum to
1, and the rule is symmetric (``w(z) == w(-z)``). Node counts (computed): ``2d^2 + 2d + 1``
for ``L = 3``, ``d >= 2`` (925 for ``d = 21``: centre weight ``(d-1)(d-2)/2 + 2d/3``, ``+-1``
on one axis ``-(d-1)/2``, ``+-sqrt 3`` on one axis ``1/6``, ``(+-1, +-1)`` on a coordinate pair
``1/4``; for ``d = 1`` the ``+-1`` weight is 0 and such zero-weight nodes are dropped).

Cost: the rule is built from sparse multi-indices (only coordinates with ``l_i > 1`` are
enumerated), ``O(K_raw * d)`` memory for ``K_raw`` unmerged nodes; results are cached per
``(d, level)`` and returned as read-only arrays.

Hand-written because the established implementation (Heiss & Winschel tables, the C++
``Tasmanian`` library) has no numpy-only wheel; the 1-D rules come from
``numpy.polynomial.hermite_e.hermegauss``.

Folding (:func:`fold_symmetric`): the derivative estimators of :mod:`.stein` use the symmetry to
write every sum over nodes as a centre term plus antithetic pair terms ``g(z) +- g(-z)``.
"""

import functools
import math
from collections.abc import Iterator
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from ..errors import FotrainError

__all__ = [
    "SymmetricGrid",
    "fold_symmetric",
    "gauss_hermite_1d",
    "smolyak_gauss_hermite",
    "smolyak_size",
    "symmetric_smolyak",
]

FloatArray = npt.NDArray[np.float64]

#: Merge key resolution: nodes closer than this (per coordinate) are the same node.
KEY_RESOLUTION = 1e-12
#: Largest level accepted; hermegauss stays accurate well beyond this, node counts explode first.
MAX_LEVEL = 40


class SymmetricGrid(NamedTuple):
    """A symmetric rule split as ``sum_k w_k g(z_k) = w_0 g(0) + sum_p w_p (g(z_p) + g(-z_p))``."""

    centre_weight: float  #: ``w_0``; 0.0 when the rule has no node at the origin
    nodes: FloatArray  #: ``(M, d)`` one representative ``z_p`` per pair (first non-zero > 0)
    weights: FloatArray  #: ``(M,)`` weight of *each* member of the pair (the pair carries 2 w_p)


def _check_int(value: object, name: str, lo: int, hi: int | None = None) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise FotrainError(f"{name} must be an integer, got {value!r}")
    v = int(value)
    if v < lo or (hi is not None and v > hi):
        rng_text = f">= {lo}" if hi is None else f"in [{lo}, {hi}]"
        raise FotrainError(f"{name} must be {rng_text}, got {v}")
    return v


@functools.lru_cache(maxsize=64)
def _gh_1d(n: int) -> tuple[FloatArray, FloatArray]:
    x, w = np.polynomial.hermite_e.hermegauss(n)
    # Enforce exact symmetry (and an exact 0 for odd n), and normalise to the N(0, 1) measure.
    x = 0.5 * (x - x[::-1])
    w = 0.5 * (w + w[::-1])
    if n % 2:
        x[n // 2] = 0.0
    w = w / w.sum()
    x.setflags(write=False)
    w.setflags(write=False)
    return x, w


def gauss_hermite_1d(n: int) -> tuple[FloatArray, FloatArray]:
    """Return the ``n``-point Gauss-Hermite rule for ``N(0, 1)``: nodes ascending, weights sum 1.

    Exact for polynomials of degree ``<= 2n - 1``. Read-only arrays (cached).
    """
    n = _check_int(n, "n", 1, MAX_LEVEL)
    return _gh_1d(n)


def _excess_vectors(d: int, budget: int) -> Iterator[list[tuple[int, int]]]:
    """Yield each sparse ``e = l - 1 >= 0``, ``|e|_1 <= budget``, as ``[(axis, e_axis), ...]``."""

    def rec(
        start: int, remaining: int, current: list[tuple[int, int]]
    ) -> Iterator[list[tuple[int, int]]]:
        yield current
        for axis in range(start, d):
            for v in range(1, remaining + 1):
                yield from rec(axis + 1, remaining - v, [*current, (axis, v)])

    yield from rec(0, budget, [])


@functools.lru_cache(maxsize=32)
def _smolyak(d: int, level: int) -> tuple[FloatArray, FloatArray]:
    budget = level - 1  # |e|_1 = |l|_1 - d <= q - d = level - 1
    blocks_x: list[FloatArray] = []
    blocks_w: list[FloatArray] = []
    for e in _excess_vectors(d, budget):
        gap = budget - sum(v for _, v in e)  # q - |l|_1
        if gap > d - 1:
            continue
        coeff = (-1) ** gap * math.comb(d - 1, gap)
        if not e:
            blocks_x.append(np.zeros((1, d)))
            blocks_w.append(np.array([float(coeff)]))
            continue
        rules = [_gh_1d(v + 1) for _, v in e]
        grids_x = np.meshgrid(*[r[0] for r in rules], indexing="ij")
        grids_w = np.meshgrid(*[r[1] for r in rules], indexing="ij")
        pts = np.zeros((grids_x[0].size, d))
        w = np.full(grids_x[0].size, float(coeff))
        for (axis, _), gx, gw in zip(e, grids_x, grids_w, strict=True):
            pts[:, axis] = gx.ravel()
            w *= gw.ravel()
        blocks_x.append(pts)
        blocks_w.append(w)
    raw_x = np.concatenate(blocks_x)
    raw_w = np.concatenate(blocks_w)
    keys = np.rint(raw_x / KEY_RESOLUTION).astype(np.int64)
    _, first, inverse = np.unique(keys, axis=0, return_index=True, return_inverse=True)
    weights = np.bincount(inverse.ravel(), weights=raw_w, minlength=first.size)
    nodes = raw_x[first] + 0.0  # + 0.0 turns -0.0 into 0.0
    # Non-nested rules can cancel a merged weight to zero; such a node costs an evaluation and
    # contributes nothing, so it is dropped (none occur for the tabled cases, see the tests).
    keep = np.abs(weights) > 1e-13 * np.abs(raw_w).max()
    nodes, weights = nodes[keep], weights[keep]
    nodes.setflags(write=False)
    weights.setflags(write=False)
    return nodes, weights


def smolyak_gauss_hermite(d: int, level: int) -> tuple[FloatArray, FloatArray]:
    """Build the level-``level`` Smolyak Gauss-Hermite rule for ``N(0, I_d)``.

    Returns ``(nodes (K, d), weights (K,))`` (read-only, cached; copy before modifying) with
    ``E[g(z)] ~= sum_k weights[k] * g(nodes[k])``, exact for total degree ``<= 2 * level - 1``.
    Nodes are sorted lexicographically; duplicates merged as described in the module docstring.
    """
    d = _check_int(d, "d", 1)
    level = _check_int(level, "level", 1, MAX_LEVEL)
    return _smolyak(d, level)


def smolyak_size(d: int, level: int) -> int:
    """Return the node count ``K`` of :func:`smolyak_gauss_hermite` (builds the rule)."""
    return int(smolyak_gauss_hermite(d, level)[1].size)


def fold_symmetric(
    nodes: npt.ArrayLike, weights: npt.ArrayLike, *, rtol: float = 1e-12
) -> SymmetricGrid:
    """Split a symmetric rule into its centre weight and one representative of each ``+-z`` pair.

    ``sum_k w_k g(z_k) == centre_weight * g(0) + sum_p w_p * (g(z_p) + g(-z_p))``. The
    representative is the member whose first non-zero coordinate is positive. Raises
    :class:`FotrainError` if a node has no mirror image or the two weights of a pair differ by
    more than ``rtol * max|w|``.
    """
    z = np.asarray(nodes, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if z.ndim != 2 or w.shape != (z.shape[0],):
        raise FotrainError(f"nodes/weights must have shapes (K, d)/(K,), got {z.shape}/{w.shape}")
    keys = np.rint(z / KEY_RESOLUTION).astype(np.int64)
    index = {k.tobytes(): i for i, k in enumerate(keys)}
    nonzero = keys != 0
    is_centre = ~nonzero.any(axis=1)
    first_nz = np.argmax(nonzero, axis=1)
    positive = keys[np.arange(len(keys)), first_nz] > 0
    reps = np.flatnonzero(~is_centre & positive)
    mates = []
    for i in reps:
        j = index.get((-keys[i]).tobytes())
        if j is None:
            raise FotrainError(f"nodes: node {i} = {z[i].tolist()} has no mirror image -z")
        mates.append(j)
    mates_a = np.asarray(mates, dtype=np.int64)
    scale = np.abs(w).max() if w.size else 1.0
    bad: npt.NDArray[np.intp] | list[int] = (
        np.flatnonzero(np.abs(w[reps] - w[mates_a]) > rtol * scale) if reps.size else []
    )
    if len(bad):
        i = reps[bad[0]]
        raise FotrainError(
            f"weights: rule is not symmetric at node {i} "
            f"(w = {w[i]!r}, w(-z) = {w[mates_a[bad[0]]]!r})"
        )
    if 2 * reps.size + int(is_centre.sum()) != z.shape[0] or is_centre.sum() > 1:
        raise FotrainError(f"nodes: {z.shape[0]} nodes do not split into a centre and +-z pairs")
    centre = float(w[is_centre].sum())
    half_w = 0.5 * (w[reps] + w[mates_a])
    return SymmetricGrid(centre, z[reps].copy(), half_w)


@functools.lru_cache(maxsize=32)
def _symmetric_smolyak(d: int, level: int) -> SymmetricGrid:
    g = fold_symmetric(*_smolyak(d, level))
    g.nodes.setflags(write=False)
    g.weights.setflags(write=False)
    return g


def symmetric_smolyak(d: int, level: int) -> SymmetricGrid:
    """Return :func:`fold_symmetric` of :func:`smolyak_gauss_hermite` ``(d, level)`` (cached).

    For ``d = 21``, ``level = 3``: centre weight 204 and 462 pairs (``1 + 2 * 462 = 925``).
    """
    d = _check_int(d, "d", 1)
    level = _check_int(level, "level", 1, MAX_LEVEL)
    return _symmetric_smolyak(d, level)
