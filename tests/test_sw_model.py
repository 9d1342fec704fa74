"""Fixed-point activations: the lookup table equals the direct rounding of the exact function
for every code, and formats it cannot serve fall back to the direct computation."""

import numpy as np
import pytest
from numpy.testing import assert_array_equal

from fotrain.sw.model import activate, activate_fixed, activation_lut
from fotrain.sw.qformat import OverflowStats, QFormat, Rounding


def direct(name, codes, fmt, stats):
    """The definition: the exact function of the code's value rounded into ``fmt`` (RND)."""
    return fmt.with_(rounding=Rounding.RND).quantize(
        activate(name, fmt.to_float(codes)), stats=stats, site=f"act.{name}"
    )


@pytest.mark.parametrize(
    "spec",
    ["fixed<16,12>", "fixed<16,15>", "fixed<8,6,TRN>", "fixed<12,4,RND,WRAP>", "ufixed<8,4>"],
)
@pytest.mark.parametrize("name", ["sin", "tanh"])
def test_activation_table_equals_direct_rounding_for_every_code(spec, name):
    fmt = QFormat.from_string(spec)
    codes = np.arange(fmt.min_code, fmt.max_code + 1, dtype=np.int64)
    want_stats, got_stats = OverflowStats(), OverflowStats()
    want = direct(name, codes, fmt, want_stats)
    got = activate_fixed(name, codes[::-1], fmt, got_stats)[::-1]
    assert_array_equal(got, want)
    assert got_stats.counts == want_stats.counts


def test_saturating_or_wide_formats_compute_directly_and_count():
    sat = QFormat.from_string("ufixed<8,4>")  # sin < 0 saturates at code 0
    assert activation_lut("sin", sat) is None and activation_lut("tanh", sat) is not None
    stats = OverflowStats()
    codes = np.arange(sat.min_code, sat.max_code + 1)
    activate_fixed("sin", codes, sat, stats)
    assert stats.counts["act.sin"] == np.count_nonzero(np.sin(sat.to_float(codes)) * 16 < -0.5)
    wide = QFormat.from_string("fixed<24,20>")
    assert activation_lut("sin", wide) is None
    c = wide.random_codes(np.random.default_rng(0), 1000)
    assert_array_equal(activate_fixed("sin", c, wide), direct("sin", c, wide, None))


def test_codes_outside_the_format_give_the_function_of_their_value():
    fmt = QFormat.from_string("fixed<8,4>")
    codes = np.array([-300, fmt.min_code, 0, fmt.max_code, 300])
    stats = OverflowStats()
    assert_array_equal(activate_fixed("tanh", codes, fmt, stats), direct("tanh", codes, fmt, None))
    assert stats.counts == {"act.tanh": 0}
