"""The perturbation generator model: primitivity/period, fast == reference, order, statistics."""

import math

import numpy as np
import pytest

from fotrain.sw.errors import FotrainError
from fotrain.sw.perturb import (
    GALOIS_TAPS,
    lfsr_bits,
    lfsr_bits_reference,
    lfsr_step,
    perturb_words,
    query_seed,
    rademacher,
)

# -- GF(2) primitivity check, independent of the generator code ---------------------------------


def _factor(n):
    out, p = set(), 2
    while p * p <= n and p < 1 << 20:
        while n % p == 0:
            out.add(p)
            n //= p
        p += 1
    if n > 1:
        stack = [n]
        while stack:
            m = stack.pop()
            if _is_prime(m):
                out.add(m)
                continue
            d = _rho(m)
            stack += [d, m // d]
    return out


def _is_prime(n):
    if n < 2:
        return False
    small = [2, 3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37]
    if n in small:
        return True
    if any(n % p == 0 for p in small):
        return False
    d, s = n - 1, 0
    while d % 2 == 0:
        d, s = d // 2, s + 1
    for a in small:
        x = pow(a, d, n)
        if x in (1, n - 1):
            continue
        for _ in range(s - 1):
            x = x * x % n
            if x == n - 1:
                break
        else:
            return False
    return True


def _rho(n):
    c = 1
    while True:
        x = y = 2
        d = 1
        while d == 1:
            x = (x * x + c) % n
            y = (y * y + c) % n
            y = (y * y + c) % n
            d = math.gcd(abs(x - y), n)
        if d != n:
            return d
        c += 1


def _polymulmod(a, b, p, deg):
    r = 0
    while b:
        if b & 1:
            r ^= a
        b >>= 1
        a <<= 1
        if (a >> deg) & 1:
            a ^= p
    return r


def _polypow(e, p, deg):
    r, b = 1, 2
    while e:
        if e & 1:
            r = _polymulmod(r, b, p, deg)
        b = _polymulmod(b, b, p, deg)
        e >>= 1
    return r


def _primitive(mask, w):
    p = 1 << w
    for i in range(w):
        if (mask >> i) & 1:
            p |= 1 << (w - 1 - i)
    n = (1 << w) - 1
    return _polypow(n, p, w) == 1 and all(_polypow(n // q, p, w) != 1 for q in _factor(n))


def _period(w, seed=1):
    s, n = seed, 0
    while True:
        s, _ = lfsr_step(s, w)
        n += 1
        if s == seed:
            return n


@pytest.mark.parametrize("width", sorted(GALOIS_TAPS))
def test_every_mask_is_primitive(width):
    assert GALOIS_TAPS[width] >> (width - 1) == 1
    assert _primitive(GALOIS_TAPS[width], width)


@pytest.mark.parametrize("width", range(3, 17))
def test_full_period_small_widths(width):
    assert _period(width) == 2**width - 1


def test_primitivity_check_agrees_with_brute_force():
    """The algebraic check itself: a non-maximal mask must be rejected."""
    for w in range(3, 9):
        for mask in range(1 << (w - 1), 1 << w):
            assert _primitive(mask, w) == (_period_mask(mask, w) == 2**w - 1)


def _period_mask(mask, w):
    s, n = 1, 0
    while True:
        s = (s >> 1) ^ (mask if s & 1 else 0)
        n += 1
        if s == 1:
            return n


@pytest.mark.parametrize("width", [3, 7, 16, 31, 32, 33, 48, 64])
def test_fast_equals_reference(width):
    rng = np.random.default_rng(width)
    seeds = [int(s) for s in rng.integers(1, 2 ** min(width, 63) - 1, size=3)]
    fast = lfsr_bits(seeds, 3 * width + 5, width)
    for row, s in zip(fast, seeds, strict=True):
        np.testing.assert_array_equal(row, lfsr_bits_reference(s, 3 * width + 5, width))


def test_stream_wraps_after_period():
    w = 10
    bits = lfsr_bits(77, 2 * (2**w - 1), w)
    np.testing.assert_array_equal(bits[: 2**w - 1], bits[2**w - 1 :])


@pytest.mark.parametrize("b", [1, 3, 8, 32])
def test_words_carry_stream_bits_lsb_first(b):
    bits = lfsr_bits(0xACE1, 5 * b)
    words = perturb_words(0xACE1, 5, b)
    for c in range(5):
        assert int(words[c]) == sum(int(bits[c * b + i]) << i for i in range(b))


def test_rademacher_mapping():
    bits = lfsr_bits(12345, 100)
    z = rademacher(12345, 100)
    assert z.dtype == np.int8
    np.testing.assert_array_equal(z, np.where(bits == 0, 1, -1))


def test_balance_and_correlations():
    seeds = [query_seed(7, step, q) for step in range(4) for q in range(10)]
    z = rademacher(seeds, 20_000).astype(np.float64)  # 40 queries x 20,000 parameters
    n = z.shape[1]
    # balance: mean of +-1 within 5 sigma of 0 per query
    assert np.abs(z.mean(axis=1)).max() < 5 / math.sqrt(n)
    # between queries: normalised inner products ~ N(0, 1/n)
    g = (z @ z.T) / n
    off = g[~np.eye(len(seeds), dtype=bool)]
    assert np.abs(off).max() < 5 / math.sqrt(n)
    assert abs(off.std() * math.sqrt(n) - 1) < 0.3
    # between parameters: lag-k autocorrelation small for all lags up to 2 widths
    for lag in range(1, 65):
        assert abs(np.mean(z[:, lag:] * z[:, :-lag])) < 5 / math.sqrt(z[:, lag:].size)


def test_query_seeds_are_distinct_and_reproducible():
    seeds = {query_seed(3, s, q) for s in range(200) for q in range(20)}
    assert len(seeds) == 4000 and 0 not in seeds
    assert query_seed(3, 5, 1) == query_seed(3, 5, 1) != query_seed(4, 5, 1)
    assert all(0 < query_seed(1, s, 0, 8) < 256 for s in range(100))


def test_bad_seeds_and_widths():
    with pytest.raises(FotrainError, match="seed: 0 must be non-zero"):
        lfsr_bits(0, 10)
    with pytest.raises(FotrainError, match="seed: 256 must be non-zero and fit 8 bits"):
        lfsr_bits(256, 10, 8)
    with pytest.raises(FotrainError, match="prng_width: 2 is not supported"):
        lfsr_bits(1, 10, 2)
