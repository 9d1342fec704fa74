"""Bit-exact model of the hardware perturbation generator (``fotrain.hw.perturb`` copies it).

Generator: a right-shifting Galois LFSR of ``width`` bits (3..64) with toggle mask
``GALOIS_TAPS[width]``. One step::

    bit   = state & 1
    state = (state >> 1) ^ (GALOIS_TAPS[width] if bit else 0)

Every mask in the table has a primitive characteristic polynomial
``x^w + sum_i mask_i x^(w-1-i)``, so any non-zero seed cycles through all ``2**w - 1`` non-zero
states (period and primitivity are tested). The default is 32 bits, mask ``0x80200003``
(taps at bits 31, 21, 1, 0, a pentanomial).

Bit stream and order. The stream is the sequence of shifted-out bits ``bit_0, bit_1, ...`` after
loading ``seed``. The RTL emits ``b = bits_per_cycle`` of them per accepted beat by unrolling
``b`` steps combinationally: beat ``c`` carries stream bits ``c*b .. c*b + b - 1`` with stream bit
``c*b + i`` in payload bit ``i`` (LSB first). The stream itself does not depend on ``b``.

Sign mapping (Rademacher): bit 0 -> ``+1``, bit 1 -> ``-1`` (``z = 1 - 2*bit``); parameter ``p``
of a perturbation uses stream bit ``p``. A perturbation for ``(step, query)`` is regenerated from
its seed (:func:`query_seed`), never stored.

Speed: the LFSR is linear over GF(2), so the next ``width`` output bits and the state ``width``
steps ahead are linear maps of the state; they are applied with byte lookup tables, vectorised over
many seeds at once (one numpy pass per ``width`` bits, not per bit).
"""

from functools import cache

import numpy as np
import numpy.typing as npt

from .errors import FotrainError

__all__ = [
    "DEFAULT_WIDTH",
    "GALOIS_TAPS",
    "gaussian",
    "lfsr_bits",
    "lfsr_bits_reference",
    "lfsr_step",
    "perturb_words",
    "query_seed",
    "rademacher",
]

DEFAULT_WIDTH = 32

#: Galois toggle masks with primitive characteristic polynomials (fewest taps, smallest mask).
GALOIS_TAPS: dict[int, int] = {
    3: 0x5,
    4: 0x9,
    5: 0x12,
    6: 0x21,
    7: 0x41,
    8: 0xC3,
    9: 0x108,
    10: 0x204,
    11: 0x402,
    12: 0x883,
    13: 0x1013,
    14: 0x2803,
    15: 0x4001,
    16: 0x8805,
    17: 0x10004,
    18: 0x20040,
    19: 0x40013,
    20: 0x80004,
    21: 0x100002,
    22: 0x200001,
    23: 0x400010,
    24: 0x800043,
    25: 0x1000004,
    26: 0x2000023,
    27: 0x4000013,
    28: 0x8000004,
    29: 0x10000002,
    30: 0x20400003,
    31: 0x40000004,
    32: 0x80200003,
    33: 0x100001000,
    34: 0x204000003,
    35: 0x400000002,
    36: 0x800000400,
    37: 0x1000000103,
    38: 0x2000001005,
    39: 0x4000000008,
    40: 0x8400000003,
    41: 0x10000000004,
    42: 0x20010000003,
    43: 0x40000000803,
    44: 0x82000000005,
    45: 0x10000000000D,
    46: 0x200000000105,
    47: 0x400000000010,
    48: 0x800008000005,
    49: 0x1000000000100,
    50: 0x2000000008003,
    51: 0x4000008000003,
    52: 0x8000000000004,
    53: 0x10000000000023,
    54: 0x20000000010003,
    55: 0x40000000800000,
    56: 0x80020000000003,
    57: 0x100000000000040,
    58: 0x200000000040000,
    59: 0x400000000800003,
    60: 0x800000000000001,
    61: 0x1000000000000013,
    62: 0x2000000008000005,
    63: 0x4000000000000001,
    64: 0x8000000000000403,
}


def _check_width(width: int) -> int:
    if width not in GALOIS_TAPS:
        raise FotrainError(f"prng_width: {width} is not supported (3..64)")
    return width


def _check_seed(seed: int, width: int) -> int:
    seed = int(seed)
    if not 0 < seed < (1 << width):
        raise FotrainError(
            f"seed: {seed} must be non-zero and fit {width} bits (an all-zero "
            "LFSR state never changes)"
        )
    return seed


def lfsr_step(state: int, width: int = DEFAULT_WIDTH) -> tuple[int, int]:
    """One Galois step: return ``(new_state, output_bit)``."""
    bit = state & 1
    state >>= 1
    if bit:
        state ^= GALOIS_TAPS[width]
    return state, bit


def lfsr_bits_reference(seed: int, n: int, width: int = DEFAULT_WIDTH) -> npt.NDArray[np.uint8]:
    """The first ``n`` stream bits, one Python step at a time (slow; the readable definition)."""
    _check_width(width)
    s = _check_seed(seed, width)
    out = np.empty(n, dtype=np.uint8)
    for i in range(n):
        s, out[i] = lfsr_step(s, width)
    return out


@cache
def _tables(width: int) -> tuple[np.ndarray, np.ndarray]:
    """Byte tables of the linear maps state -> next ``width`` output bits, and state -> state."""
    nbytes = (width + 7) // 8
    basis_out, basis_next = [], []
    for j in range(width):  # images of the unit states e_j
        s, word = 1 << j, 0
        for i in range(width):
            s, bit = lfsr_step(s, width)
            word |= bit << i
        basis_out.append(word)
        basis_next.append(s)
    t_out = np.zeros((nbytes, 256), dtype=np.uint64)
    t_next = np.zeros((nbytes, 256), dtype=np.uint64)
    for byte in range(nbytes):
        for v in range(256):
            o = n = 0
            for k in range(8):
                j = 8 * byte + k
                if (v >> k) & 1 and j < width:
                    o ^= basis_out[j]
                    n ^= basis_next[j]
            t_out[byte, v], t_next[byte, v] = o, n
    return t_out, t_next


def lfsr_bits(seeds: npt.ArrayLike, n: int, width: int = DEFAULT_WIDTH) -> npt.NDArray[np.uint8]:
    """First ``n`` stream bits for each seed: shape ``seeds.shape + (n,)``, values 0/1."""
    _check_width(width)
    seeds_arr = np.asarray(seeds, dtype=np.uint64)
    flat = seeds_arr.reshape(-1)
    for s in flat:
        _check_seed(int(s), width)
    t_out, t_next = _tables(width)
    nbytes = t_out.shape[0]
    chunks = -(-n // width)
    words = np.empty((chunks, flat.size), dtype=np.uint64)
    state = flat.copy()
    mask8 = np.uint64(0xFF)
    for c in range(chunks):
        o = np.zeros_like(state)
        nxt = np.zeros_like(state)
        for byte in range(nbytes):
            v = ((state >> np.uint64(8 * byte)) & mask8).astype(np.intp)
            o ^= t_out[byte, v]
            nxt ^= t_next[byte, v]
        words[c] = o
        state = nxt
    shifts = np.arange(width, dtype=np.uint64)
    bits = ((words.T[:, :, None] >> shifts) & np.uint64(1)).astype(np.uint8)
    return bits.reshape(flat.size, chunks * width)[:, :n].reshape(seeds_arr.shape + (n,))


def rademacher(seeds: npt.ArrayLike, n: int, width: int = DEFAULT_WIDTH) -> npt.NDArray[np.int8]:
    """Rademacher +-1 vectors of length ``n`` from the LFSR (bit 0 -> +1, bit 1 -> -1)."""
    return (1 - 2 * lfsr_bits(seeds, n, width).astype(np.int8)).astype(np.int8)


def perturb_words(
    seed: int, beats: int, bits_per_cycle: int, width: int = DEFAULT_WIDTH
) -> npt.NDArray[np.uint64]:
    """Payloads of the first ``beats`` RTL output beats (stream bit ``c*b + i`` in bit ``i``)."""
    if not 1 <= bits_per_cycle <= 64:
        raise FotrainError(f"bits_per_cycle: {bits_per_cycle} is outside 1..64")
    bits = lfsr_bits(seed, beats * bits_per_cycle, width).reshape(beats, bits_per_cycle)
    weights = np.left_shift(np.uint64(1), np.arange(bits_per_cycle, dtype=np.uint64))
    return (bits.astype(np.uint64) * weights).sum(axis=1, dtype=np.uint64)


def query_seed(base_seed: int, step: int, query: int, width: int = DEFAULT_WIDTH) -> int:
    """LFSR seed of perturbation ``(step, query)``: a splitmix64 mix, folded to ``width`` bits.

    Non-zero by construction (0 maps to 1). The host (or an on-chip counter) derives it; nothing
    about the perturbation itself is stored.
    """
    _check_width(width)
    m = (1 << 64) - 1
    z = (
        int(base_seed) * 0x9E3779B97F4A7C15
        + int(step) * 0xBF58476D1CE4E5B9
        + int(query) * 0x94D049BB133111EB
        + 0x632BE59BD9B4E019
    ) & m
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & m
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & m
    z ^= z >> 31
    folded = 0
    while z:
        folded ^= z & ((1 << width) - 1)
        z >>= width
    return folded or 1


def gaussian(n: int | tuple[int, ...], *, rng: np.random.Generator) -> npt.NDArray[np.float64]:
    """Standard normal directions for float-only studies (no hardware twin)."""
    return rng.standard_normal(n)
