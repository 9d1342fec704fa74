"""Projection codes: LFSR codes are regenerated bit for bit, balanced and nearly orthogonal."""

import numpy as np

from fotrain.sw.local.targets import projection_codes


def test_lfsr_codes_are_regenerated_and_balanced():
    a = projection_codes("lfsr", 7, 0, 4096, 10, np.float64)
    b = projection_codes("lfsr", 7, 0, 4096, 10, np.float64)
    np.testing.assert_array_equal(a, b)
    assert set(np.unique(a)) == {-1.0, 1.0}
    assert abs(a.mean()) < 0.05
    cos = (a.T @ a) / 4096
    assert np.max(np.abs(cos - np.eye(10))) < 0.1  # nearly orthogonal class codes
    assert not np.array_equal(a, projection_codes("lfsr", 7, 1, 4096, 10, np.float64))
