"""QFormat arithmetic against an exact reference in Python integers and Fractions."""

import math
from fractions import Fraction

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from fotrain.sw.errors import FormatError
from fotrain.sw.qarith import accumulate, add, mac, mul, shift_left, shift_right, sub
from fotrain.sw.qformat import Overflow, OverflowStats, QFormat, Rounding, requantize

# -- exact reference -----------------------------------------------------------------------------


def ref_round(v: Fraction, mode: Rounding) -> int:
    """Round an exact rational to an integer by ``mode``."""
    if mode is Rounding.TRN:
        return math.floor(v)
    if mode is Rounding.RND:
        return math.floor(v + Fraction(1, 2))
    fl = math.floor(v)
    rem = v - fl
    if rem > Fraction(1, 2) or (rem == Fraction(1, 2) and fl % 2 == 1):
        return fl + 1
    return fl


def ref_fit(c: int, f: QFormat) -> int:
    if f.overflow is Overflow.WRAP:
        span = 1 << f.width
        base = -(1 << (f.width - 1)) if f.signed else 0
        return (c - base) % span + base
    return min(max(c, f.min_code), f.max_code)


def ref_to_code(v: Fraction, f: QFormat) -> int:
    """Exact value -> code in ``f``: round at ``2**-frac``, then overflow."""
    return ref_fit(ref_round(v * Fraction(2) ** f.frac, f.rounding), f)


def val(c: int, f: QFormat) -> Fraction:
    return Fraction(c) * Fraction(2) ** -f.frac


# -- strategies ----------------------------------------------------------------------------------

roundings = st.sampled_from(list(Rounding))
overflows = st.sampled_from(list(Overflow))


@st.composite
def qformats(draw, max_width: int = 24, signed: bool | None = None):
    s = draw(st.booleans()) if signed is None else signed
    width = draw(st.integers(2 if s else 1, max_width))
    frac = draw(st.integers(-4, width + 4))
    ovf = draw(overflows)
    if not s and ovf is Overflow.SAT_SYM:
        ovf = Overflow.SAT
    return QFormat(width, frac, signed=s, rounding=draw(roundings), overflow=ovf)


@st.composite
def codes_of(draw, f: QFormat, n: int = 6):
    return np.array(
        draw(st.lists(st.integers(f.min_code, f.max_code), min_size=n, max_size=n)), dtype=np.int64
    )


# -- properties ----------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(f=qformats(), xs=st.lists(st.floats(-1e6, 1e6, allow_nan=False), min_size=1, max_size=8))
def test_quantize_matches_exact(f, xs):
    stats = OverflowStats()
    got = f.quantize(np.array(xs), stats=stats)
    want = [ref_to_code(Fraction(x), f) for x in xs]
    assert got.tolist() == want
    raw = [ref_round(Fraction(x) * Fraction(2) ** f.frac, f.rounding) for x in xs]
    assert stats.total == sum(not f.min_code <= r <= f.max_code for r in raw)


@settings(max_examples=300, deadline=None)
@given(data=st.data(), src=qformats(32), dst=qformats(24))
def test_requantize_matches_exact(data, src, dst):
    c = data.draw(codes_of(src))
    got = requantize(c, src, dst)
    assert got.tolist() == [ref_to_code(val(int(v), src), dst) for v in c]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), fa=qformats(20), fb=qformats(20), dst=qformats(24))
def test_add_sub_mul_match_exact(data, fa, fb, dst):
    a, b = data.draw(codes_of(fa)), data.draw(codes_of(fb))
    pairs = [(val(int(x), fa), val(int(y), fb)) for x, y in zip(a, b, strict=True)]
    assert add(a, fa, b, fb, dst).tolist() == [ref_to_code(x + y, dst) for x, y in pairs]
    assert sub(a, fa, b, fb, dst).tolist() == [ref_to_code(x - y, dst) for x, y in pairs]
    assert mul(a, fa, b, fb, dst).tolist() == [ref_to_code(x * y, dst) for x, y in pairs]


@settings(max_examples=200, deadline=None)
@given(data=st.data(), f=qformats(24), n=st.integers(0, 12))
def test_shifts_match_exact(data, f, n):
    c = data.draw(codes_of(f))
    assert shift_right(c, f, n).tolist() == [
        ref_fit(ref_round(Fraction(int(v), 2**n), f.rounding), f) for v in c
    ]
    assert shift_left(c, f, n).tolist() == [ref_fit(int(v) << n, f) for v in c]


@settings(max_examples=200, deadline=None)
@given(
    data=st.data(),
    src=qformats(16, signed=True),
    extra=st.integers(0, 6),
    width=st.integers(4, 30),
    ovf=overflows,
    n=st.integers(0, 9),
)
def test_accumulate_matches_sequential_register(data, src, extra, width, ovf, n):
    acc = QFormat(width, src.frac + extra, overflow=ovf)
    rows = [data.draw(codes_of(src, n)) for _ in range(3)]
    c = np.stack(rows)
    stats = OverflowStats()
    got = accumulate(c, src, acc, axis=1, stats=stats)
    want, events = [], 0
    for row in rows:
        total = 0
        for v in row:
            exact = total + (int(v) << extra)
            events += not acc.min_code <= exact <= acc.max_code
            total = ref_fit(exact, acc)
        want.append(total)
    assert got.tolist() == want
    if ovf is not Overflow.WRAP:  # saturating: the register itself overflowed
        assert stats.total == events


@settings(max_examples=100, deadline=None)
@given(
    data=st.data(), fa=qformats(20, signed=True), fb=qformats(20, signed=True), k=st.integers(1, 7)
)
def test_mac_is_exact_dot_product(data, fa, fb, k):
    acc = QFormat(min(fa.width + fb.width + 4, 62), fa.frac + fb.frac)
    a = np.stack([data.draw(codes_of(fa, k)) for _ in range(2)])
    b = np.stack([data.draw(codes_of(fb, k)) for _ in range(3)]).T
    got = mac(a, fa, b, fb, acc)
    want = [
        [ref_fit(int(np.dot(a[i].astype(object), b[:, j].astype(object))), acc) for j in range(3)]
        for i in range(2)
    ]
    assert got.tolist() == want


def test_mac_int64_path_for_wide_formats():
    """Beyond 2**53 the float path would be inexact; the int64 path must be used and be exact."""
    fa = QFormat(30, 0)
    fb = QFormat(30, 0)
    acc = QFormat(62, 0)
    a = np.array([[fa.max_code, fa.max_code - 1]], dtype=np.int64)
    b = np.array([[fb.max_code], [fb.max_code - 3]], dtype=np.int64)
    want = fa.max_code * fb.max_code + (fa.max_code - 1) * (fb.max_code - 3)
    assert mac(a, fa, b, fb, acc).tolist() == [[want]]


# -- edge cases and refusals ---------------------------------------------------------------------


def test_rounding_ties():
    f_trn = QFormat(8, 1, rounding="TRN")
    f_rnd = QFormat(8, 1, rounding="RND")
    f_even = QFormat(8, 1, rounding="RND_CONV")
    x = np.array([0.25, 0.75, -0.25, -0.75, 1.25])  # exact ties at half an LSB (0.5)
    assert f_trn.quantize(x).tolist() == [0, 1, -1, -2, 2]
    assert f_rnd.quantize(x).tolist() == [1, 2, 0, -1, 3]
    assert f_even.quantize(x).tolist() == [0, 2, 0, -2, 2]


def test_overflow_modes_and_counts():
    x = np.array([-300.0, -128.0, 0.0, 127.0, 200.0])
    for ovf, want in [
        ("WRAP", [-44, -128, 0, 127, -56]),
        ("SAT", [-128, -128, 0, 127, 127]),
        ("SAT_SYM", [-127, -127, 0, 127, 127]),
    ]:
        stats = OverflowStats()
        assert QFormat(8, 0, overflow=ovf).quantize(x, stats=stats, site="q").tolist() == want
        assert stats.counts == {"q": 3 if ovf == "SAT_SYM" else 2}
    u = QFormat(4, 0, signed=False, overflow="SAT")
    assert u.quantize([-1.0, 3.0, 99.0]).tolist() == [0, 3, 15]


def test_format_properties_and_strings():
    f = QFormat.from_string("fixed<16,4,RND,SAT>")
    assert (f.width, f.frac, f.integer, f.signed) == (16, 12, 4, True)
    assert f.rounding is Rounding.RND and f.overflow is Overflow.SAT
    assert QFormat.from_string(str(f)) == f
    assert f.lsb == 2.0**-12 and f.max == (2**15 - 1) / 4096 and f.min == -8.0
    u = QFormat.from_string("ufixed<8,8>")
    assert (u.min_code, u.max_code, u.signed) == (0, 255, False)
    np.testing.assert_array_equal(f.to_float(f.quantize([1.5, -2.25])), [1.5, -2.25])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"width": 63, "frac": 0}, "width: 63"),
        ({"width": 1, "frac": 0}, "width: 1"),
        ({"width": 8, "frac": 99}, "frac: 99"),
        ({"width": 8, "frac": 0, "rounding": "UP"}, "rounding: unknown mode 'UP'"),
        ({"width": 8, "frac": 0, "overflow": "CLIP"}, "overflow: unknown mode 'CLIP'"),
        ({"width": 8, "frac": 0, "signed": False, "overflow": "SAT_SYM"}, "SAT_SYM"),
        ({"width": 8.0, "frac": 0}, "width: must be an integer"),
    ],
)
def test_bad_formats_are_refused(kwargs, match):
    with pytest.raises(FormatError, match=match):
        QFormat(**kwargs)


def test_int64_overflowing_combinations_are_refused():
    with pytest.raises(FormatError, match="product"):
        mul([1], QFormat(40, 0), [1], QFormat(30, 0), QFormat(16, 0))
    with pytest.raises(FormatError, match="bits"):
        requantize([1], QFormat(40, 0), QFormat(40, 30))
    with pytest.raises(FormatError, match="mac over"):
        mac(
            np.ones((1, 4), np.int64),
            QFormat(31, 0),
            np.ones((4, 1), np.int64),
            QFormat(31, 0),
            QFormat(62, 0),
        )
    with pytest.raises(FormatError, match="non-finite"):
        QFormat(8, 0).quantize([np.nan])
    with pytest.raises(FormatError, match="acc.frac"):
        mac(
            np.ones((1, 2), np.int64),
            QFormat(8, 2),
            np.ones((2, 1), np.int64),
            QFormat(8, 3),
            QFormat(24, 4),
        )
