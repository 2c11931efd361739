"""isp.grid: valid-region window sums, shifts, sub-lattice helpers against plain numpy."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from isp.grid import Grid, interleave, offsets, parity, wsum, wsums, wsums2


def naive_wsum(a: np.ndarray, axis: int, lo: int, hi: int) -> np.ndarray:
    n = a.shape[axis] - (hi - lo)
    parts = [np.take(a, np.arange(o - lo, o - lo + n), axis=axis) for o in range(lo, hi + 1)]
    return np.sum(parts, axis=0)


@settings(max_examples=40, deadline=None)
@given(
    h=st.integers(5, 12), w=st.integers(5, 12), axis=st.sampled_from([0, 1]),
    lo=st.integers(-3, 1), n=st.integers(1, 3), r0=st.integers(-4, 4), c0=st.integers(0, 4),
)
def test_wsum_matches_naive_and_tracks_the_region(h, w, axis, lo, n, r0, c0):
    a = np.random.default_rng(h * w).random((h, w), dtype=np.float32)
    g = Grid.from2d(a, r0, c0, stride=w + c0 + 2)
    s = wsum(g, axis, lo, lo + n - 1)
    assert np.allclose(s.to2d(), naive_wsum(a, axis, lo, lo + n - 1), atol=1e-5)
    assert (s.r0, s.c0) == ((r0 - lo, c0) if axis == 0 else (r0, c0 - lo))
    shared = wsums(g, axis, [(lo, lo + n - 1), (lo - 1, lo + n - 1)])
    assert np.array_equal(shared[0].to2d(), s.to2d())
    both = wsums2(g, [((lo, lo + n - 1), (0, 1))])[0]
    assert np.allclose(both.to2d(), naive_wsum(naive_wsum(a, 0, lo, lo + n - 1), 1, 0, 1), atol=1e-5)


def test_arithmetic_uses_the_common_region_and_shifts_are_free():
    a = Grid.from2d(np.arange(20, dtype=np.float32).reshape(4, 5))
    b = a.shift(1, 2)  # b[i, j] = a[i + 1, j + 2]
    assert b.a is a.a
    d = b - a
    assert d.region == (0, 3, 0, 3)
    assert np.array_equal(d.to2d(), np.full((3, 3), 7.0))
    with pytest.raises(ValueError):
        Grid.from2d(np.zeros((2, 2), np.float32)) + Grid.from2d(np.zeros((2, 3), np.float32))


def test_offsets_count_the_samples_in_a_window():
    for k in range(1, 8):
        for p_out in (0, 1):
            for p_in in (0, 1):
                lo, hi = offsets(p_out, p_in, k)
                inside = [j for j in range(-10, 11) if abs(2 * j + p_in - p_out) <= k]
                assert (lo, hi) == (min(inside), max(inside))


def test_interleave_and_parity_are_inverse():
    rng = np.random.default_rng(0)
    full = rng.random((6, 8), dtype=np.float32)
    for axis in (0, 1):
        g0 = Grid.from2d(full[0::2] if axis == 0 else full[:, 0::2])
        g1 = Grid.from2d(full[1::2] if axis == 0 else full[:, 1::2])
        both = interleave(g0, g1, axis)
        assert np.array_equal(both.to2d(), full)
        assert np.array_equal(parity(both, axis, 1).to2d(), g1.to2d())
