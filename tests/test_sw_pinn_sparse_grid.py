"""Smolyak Gauss-Hermite rule: the reference d = 21 grid, node counts, exactness, folding."""

import itertools
import math

import numpy as np
import pytest

from fotrain.sw.errors import FotrainError
from fotrain.sw.pinn.sparse_grid import (
    fold_symmetric,
    gauss_hermite_1d,
    smolyak_gauss_hermite,
    smolyak_size,
    symmetric_smolyak,
)

# Node counts after merging duplicates (rows: d = 1..4, columns: level = 1..5). Computed with the
# difference-form construction of test_matches_difference_form (independent of the module) and
# matching the published GQN sizes: 13 for d = 2 level 3; 2d^2 + 2d + 1 for level 3, d >= 2.
COUNTS = {
    1: [1, 2, 3, 4, 5],
    2: [1, 5, 13, 29, 53],
    3: [1, 7, 25, 69, 165],
    4: [1, 9, 41, 137, 385],
}


def normal_moment(k: int) -> float:
    """E[z^k] for z ~ N(0, 1): (k - 1)!! for even k, 0 for odd k."""
    return 0.0 if k % 2 else float(math.prod(range(k - 1, 0, -2)))


def compositions(total: int, parts: int):
    """Every tuple of `parts` positive integers summing to `total`."""
    for cuts in itertools.combinations(range(1, total), parts - 1):
        bounds = (0, *cuts, total)
        yield tuple(b - a for a, b in itertools.pairwise(bounds))


def monomial_errors(d: int, level: int, degree: int) -> np.ndarray:
    """|Q(z^a) - E(z^a)| (relative to max(1, E)) for every exponent vector a with |a| == degree."""
    z, w = smolyak_gauss_hermite(d, level)
    powers = z.T[:, None, :] ** np.arange(degree + 1)[None, :, None]  # (d, degree + 1, K)
    errs = []
    for n_axes in range(1, min(d, degree) + 1):
        axes = np.array(list(itertools.combinations(range(d), n_axes)))  # (A, n_axes)
        for exps in compositions(degree, n_axes):
            vals = np.ones((len(axes), len(w)))
            for col, e in enumerate(exps):
                vals *= powers[axes[:, col], e]
            exact = math.prod(normal_moment(e) for e in exps)
            errs.append(np.abs(vals @ w - exact) / max(1.0, abs(exact)))
    return np.concatenate(errs)


def test_reference_grid_d21_level3():
    z, w = smolyak_gauss_hermite(21, 3)
    assert z.shape == (925, 21) and w.shape == (925,)
    assert smolyak_size(21, 3) == 925 == 2 * 21**2 + 2 * 21 + 1
    nnz = np.count_nonzero(z, axis=1)
    assert nnz.max() == 2
    vals = set(np.round(np.abs(z[z != 0]), 12))
    assert vals == {1.0, round(math.sqrt(3), 12)}
    centre = nnz == 0
    axis1 = (nnz == 1) & np.isclose(np.abs(z).max(axis=1), 1.0)
    axis3 = (nnz == 1) & np.isclose(np.abs(z).max(axis=1), math.sqrt(3))
    pair = nnz == 2
    assert np.all(np.abs(z[pair][z[pair] != 0]) == 1.0)
    table = [(centre, 1, 204.0), (axis1, 42, -10.0), (axis3, 42, 1 / 6), (pair, 840, 0.25)]
    for mask, count, weight in table:
        assert mask.sum() == count
        np.testing.assert_allclose(w[mask], weight, rtol=1e-12)
    assert abs(w.sum() - 1.0) < 1e-12
    assert abs(np.abs(w).sum() - 841.0) < 1e-9


@pytest.mark.parametrize("d", [2, 3, 5, 8])
def test_level3_class_weights_general_d(d):
    z, w = smolyak_gauss_hermite(d, 3)
    assert len(w) == 2 * d * d + 2 * d + 1
    centre = np.count_nonzero(z, axis=1) == 0
    np.testing.assert_allclose(w[centre], (d - 1) * (d - 2) / 2 + 2 * d / 3, rtol=1e-12)


@pytest.mark.parametrize("d", sorted(COUNTS))
def test_node_count_table(d):
    assert [smolyak_size(d, lev) for lev in range(1, 6)] == COUNTS[d]


def difference_form(d: int, level: int) -> dict[tuple[float, ...], float]:
    """Q = sum_{|l| - d <= level - 1} (x) Delta^{l_i}, Delta^l = U^l - U^{l-1}, all l in a box."""

    def rule(n):
        if n == 0:
            return {}
        x, w = np.polynomial.hermite_e.hermegauss(n)
        return {
            round(float(a), 9) + 0.0: float(b) / math.sqrt(2 * math.pi)
            for a, b in zip(x, w, strict=True)
        }

    deltas = {}
    for n in range(1, level + 1):
        delta = dict(rule(n))
        for k, v in rule(n - 1).items():
            delta[k] = delta.get(k, 0.0) - v
        deltas[n] = delta
    total: dict[tuple[float, ...], float] = {}
    for levels in itertools.product(range(1, level + 1), repeat=d):
        if sum(levels) - d > level - 1:
            continue
        for combo in itertools.product(*[deltas[n].items() for n in levels]):
            key = tuple(c[0] for c in combo)
            total[key] = total.get(key, 0.0) + math.prod(c[1] for c in combo)
    return {k: v for k, v in total.items() if abs(v) > 1e-12}


@pytest.mark.parametrize(("d", "level"), [(1, 4), (2, 3), (2, 5), (3, 3), (3, 4), (4, 3)])
def test_matches_difference_form(d, level):
    ref = difference_form(d, level)
    z, w = smolyak_gauss_hermite(d, level)
    got = {
        tuple(round(float(a), 9) + 0.0 for a in row): float(b) for row, b in zip(z, w, strict=True)
    }
    assert set(got) == set(ref)
    for k, v in ref.items():
        assert abs(got[k] - v) < 1e-11, (k, got[k], v)


@pytest.mark.parametrize(
    ("d", "level"), [(1, 5), (2, 2), (2, 4), (3, 3), (4, 3), (5, 2), (6, 4), (21, 3)]
)
def test_exact_for_total_degree_up_to_2l_minus_1(d, level):
    top = 2 * level - 1
    assert abs(smolyak_gauss_hermite(d, level)[1].sum() - 1.0) < 1e-12
    for degree in range(1, top + 1):
        errs = monomial_errors(d, level, degree)
        assert errs.max() < 1e-11, (degree, errs.max())
    if d <= 6:  # and the degree is sharp: some monomial of degree 2l is not integrated exactly
        assert monomial_errors(d, level, top + 1).max() > 1e-3


def test_gauss_hermite_1d():
    x, w = gauss_hermite_1d(3)
    np.testing.assert_allclose(x, [-math.sqrt(3), 0.0, math.sqrt(3)], rtol=1e-14)
    assert x[1] == 0.0
    np.testing.assert_allclose(w, [1 / 6, 2 / 3, 1 / 6], rtol=1e-14)
    for n in range(1, 12):
        x, w = gauss_hermite_1d(n)
        for k in range(2 * n):
            scale = w @ np.abs(x) ** k  # size of the summed terms (odd k cancel to 0)
            assert abs(w @ x**k - normal_moment(k)) <= 1e-14 + 1e-13 * scale


def test_results_are_cached_and_read_only():
    z, w = smolyak_gauss_hermite(4, 3)
    assert z is smolyak_gauss_hermite(4, 3)[0]
    with pytest.raises(ValueError):
        z[0, 0] = 1.0
    with pytest.raises(ValueError):
        w[0] = 1.0


def test_fold_symmetric_reference():
    z, w = smolyak_gauss_hermite(21, 3)
    g = symmetric_smolyak(21, 3)
    assert g.nodes.shape == (462, 21) and 1 + 2 * len(g.weights) == 925
    assert abs(g.centre_weight - 204.0) < 1e-9
    assert abs(g.centre_weight + 2 * g.weights.sum() - 1.0) < 1e-12
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=21), rng.normal(size=(21, 21))

    def fun(p):
        return np.cos(p @ a) + np.einsum("ki,ij,kj->k", p, b, p) ** 2

    full = w @ fun(z)
    folded = g.centre_weight * fun(np.zeros((1, 21)))[0] + g.weights @ (
        fun(g.nodes) + fun(-g.nodes)
    )
    assert abs(full - folded) < 1e-9 * np.abs(w).sum()


def test_fold_symmetric_rejects_asymmetry():
    z, w = smolyak_gauss_hermite(2, 3)
    w2 = np.array(w)
    w2[np.flatnonzero(np.count_nonzero(z, axis=1))[0]] += 0.1
    with pytest.raises(FotrainError, match="not symmetric"):
        fold_symmetric(z, w2)
    with pytest.raises(FotrainError, match="mirror"):
        fold_symmetric(np.array([[0.0, 0.0], [1.0, 0.0]]), np.array([0.5, 0.5]))


def test_no_centre_rule_folds_with_zero_centre():
    g = symmetric_smolyak(1, 2)
    assert g.centre_weight == 0.0 and g.nodes.tolist() == [[1.0]]


@pytest.mark.parametrize(
    ("d", "level", "match"),
    [
        (0, 3, "d must"),
        (2, 0, "level must"),
        (2, 2.0, "level must"),
        (True, 2, "d must"),
        (2, 99, "level must"),
    ],
)
def test_bad_arguments(d, level, match):
    with pytest.raises(FotrainError, match=match):
        smolyak_gauss_hermite(d, level)
