"""Tests for metrosim.metrics.coverage: hand cases, brute-force loops, invariants, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim.metrics import CoverageShare, coverage_share, green_per_person, mean_by_group

SETTINGS = settings(max_examples=60, deadline=None)


@st.composite
def households_and_distance(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    n = draw(st.integers(1, 40))
    k = draw(st.integers(1, 5))
    h = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 20)))
    assume(h.sum() > 0)
    d = draw(
        hnp.arrays(
            np.float64,
            n,
            elements=st.floats(0, 100, allow_nan=False) | st.just(np.inf),
        )
    )
    return h, d


# --------------------------------------------------------------------------------------------
# coverage_share
# --------------------------------------------------------------------------------------------


def test_coverage_share_by_hand():
    hh = np.array([[10, 0], [0, 10], [10, 10], [0, 0]])
    dist = np.array([5.0, 20.0, 10.0, np.nan])  # NaN allowed where nobody lives
    res = coverage_share(hh, dist, threshold=10.0)  # the threshold itself counts as covered
    assert isinstance(res, CoverageShare)
    assert res.overall == 0.75
    np.testing.assert_array_equal(res.by_group, [1.0, 0.5])
    res = coverage_share(hh, dist, threshold=0.0)
    assert res.overall == 0.0


def test_unreachable_cells_are_not_covered_and_empty_groups_are_nan():
    hh = np.array([[3, 0, 0], [1, 1, 0]])
    res = coverage_share(hh, np.array([np.inf, 1.0]), threshold=1e9)
    assert res.overall == 0.4
    assert res.by_group[0] == 0.25 and res.by_group[1] == 1.0
    assert math.isnan(res.by_group[2])


@SETTINGS
@given(households_and_distance(), st.floats(0, 120))
def test_coverage_share_matches_loop(hd, threshold):
    h, d = hd
    res = coverage_share(h, d, threshold=threshold)
    covered = [i for i in range(len(d)) if d[i] <= threshold]
    total = h.sum()
    assert res.overall == pytest.approx(sum(h[i].sum() for i in covered) / total, abs=1e-12)
    for k in range(h.shape[1]):
        nk = h[:, k].sum()
        expected = sum(h[i, k] for i in covered) / nk if nk else math.nan
        assert res.by_group[k] == pytest.approx(expected, abs=1e-12, nan_ok=True)
    # overall is the household-weighted mean of the group shares
    present = h.sum(axis=0) > 0
    weighted = (res.by_group[present] * h.sum(axis=0)[present]).sum() / total
    assert res.overall == pytest.approx(weighted, abs=1e-12)


@SETTINGS
@given(households_and_distance(), st.floats(0, 50), st.floats(0, 50))
def test_coverage_grows_with_threshold_and_reaches_one(hd, a, b):
    h, d = hd
    lo, hi = sorted((a, b))
    assert coverage_share(h, d, threshold=lo).overall <= coverage_share(h, d, threshold=hi).overall
    if np.isfinite(d[h.sum(axis=1) > 0]).all():
        assert coverage_share(h, d, threshold=100.0).overall == 1.0


@SETTINGS
@given(households_and_distance(), st.randoms(use_true_random=False))
def test_coverage_invariant_to_cell_order_and_scaling(hd, rnd):
    h, d = hd
    order = list(range(len(d)))
    rnd.shuffle(order)
    ref = coverage_share(h, d, threshold=30.0)
    for hh, dd in ((h[order], d[order]), (h * 5, d)):
        other = coverage_share(hh, dd, threshold=30.0)
        assert other.overall == pytest.approx(ref.overall, abs=1e-12)
        np.testing.assert_allclose(other.by_group, ref.by_group, atol=1e-12)


# --------------------------------------------------------------------------------------------
# green_per_person
# --------------------------------------------------------------------------------------------


def test_green_per_person_by_hand():
    green = np.array([100.0, 0.0, 50.0, 0.0, 30.0])
    pop = np.array([10.0, 10.0, 0.0, 0.0, 3.0])
    out = green_per_person(green, pop, np.array([0, 0, 1, 1, 3]), n_regions=4)
    np.testing.assert_array_equal(out, [5.0, np.nan, np.nan, 10.0])


@SETTINGS
@given(st.integers(1, 40), st.integers(1, 8), st.data())
def test_green_per_person_matches_loop(n, n_regions, data):
    green = data.draw(hnp.arrays(np.float64, n, elements=st.floats(0, 1e4)))
    pop = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, 50)))
    regions = data.draw(hnp.arrays(np.int64, n, elements=st.integers(0, n_regions - 1)))
    assume(pop.sum() > 0)
    out = green_per_person(green, pop, regions, n_regions=n_regions)
    assert out.shape == (n_regions,)
    for r in range(n_regions):
        p = pop[regions == r].sum()
        expected = green[regions == r].sum() / p if p else math.nan
        assert out[r] == pytest.approx(expected, rel=1e-12, nan_ok=True)


# --------------------------------------------------------------------------------------------
# mean_by_group
# --------------------------------------------------------------------------------------------


def test_mean_by_group_by_hand():
    hh = np.array([[3, 0, 0], [1, 2, 0], [0, 0, 0]])
    out = mean_by_group(hh, np.array([10.0, 50.0, np.nan]))  # NaN where nobody lives
    np.testing.assert_array_equal(out, [20.0, 50.0, np.nan])


@SETTINGS
@given(households_and_distance())
def test_mean_by_group_is_np_average(hd):
    h, d = hd
    values = np.where(np.isfinite(d), d, 0.0)
    out = mean_by_group(h, values)
    for k in range(h.shape[1]):
        if h[:, k].sum():
            assert out[k] == pytest.approx(
                np.average(values, weights=h[:, k]), rel=1e-12, abs=1e-12
            )
        else:
            assert math.isnan(out[k])
    assert out[~np.isnan(out)].min(initial=np.inf) >= values.min() - 1e-12


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

HH = np.array([[1, 0], [0, 2]])


@pytest.mark.parametrize(
    ("hh", "dist", "threshold", "match"),
    [
        (HH, np.array([1.0]), 1.0, r"distance must be a 1-D array of length n_cells = 2.*\(1,\)"),
        (HH, np.ones((2, 1)), 1.0, r"distance must be a 1-D array.*got shape \(2, 1\)"),
        (
            HH,
            np.array([1.0, np.nan]),
            1.0,
            r"distance must be a number \(inf allowed\) in every cell with households; "
            r"found nan at index 1",
        ),
        (HH, np.array(["a", "b"]), 1.0, r"distance must hold real numbers"),
        (HH, np.ones(2), -1.0, r"threshold must be a finite number >= 0; got -1.0"),
        (HH, np.ones(2), np.inf, r"threshold must be a finite number >= 0; got inf"),
        (HH, np.ones(2), None, r"threshold must be a real number; got None"),
        (
            np.zeros((2, 2)),
            np.ones(2),
            1.0,
            r"households has no households \(all 2 cells are zero\)",
        ),
        (
            -HH,
            np.ones(2),
            1.0,
            r"households must be non-negative numbers; found -1 at index \(0, 0\)",
        ),
        (
            np.ones(2),
            np.ones(2),
            1.0,
            r"households must be a 2-D array of shape \(n_units, n_groups\)",
        ),
    ],
)
def test_coverage_share_errors(hh, dist, threshold, match):
    with pytest.raises(ValueError, match=match):
        coverage_share(hh, dist, threshold=threshold)


@pytest.mark.parametrize(
    ("args", "n_regions", "match"),
    [
        (
            (np.ones(3), np.ones(2), np.zeros(3, int)),
            1,
            r"population must have the length of green_m2 \(n_cells = 3\); got shape \(2,\)",
        ),
        (
            (np.ones(2), np.ones(2), np.zeros(3, int)),
            1,
            r"regions must be a 1-D array of length n_cells = 2; got shape \(3,\)",
        ),
        (
            (np.ones(2), np.ones(2), np.array([0, 2])),
            2,
            r"regions must be labels in \[0, 1\] \(n_regions = 2\); found 2 at index 1",
        ),
        (
            (np.ones(2), np.ones(2), np.array([0, -1])),
            2,
            r"regions must be non-negative region labels; found -1 at index 1",
        ),
        (
            (np.ones(2), np.ones(2), np.array([0.0, 1.0])),
            2,
            r"regions must be an integer array; got dtype float64",
        ),
        ((np.ones(2), np.zeros(2), np.array([0, 1])), 2, r"population is zero in all 2 cells"),
        (
            (np.array([1.0, -5.0]), np.ones(2), np.array([0, 1])),
            2,
            r"green_m2 must be non-negative finite numbers; found -5.0 at index 1",
        ),
        (
            (np.ones(2), np.array([1.0, np.inf]), np.array([0, 1])),
            2,
            r"population must be non-negative finite numbers; found inf at index 1",
        ),
        (
            (np.ones(2), np.ones(2), np.array([0, 0])),
            0,
            r"n_regions must be an integer in \[1, .*\]; got 0",
        ),
        (
            (np.ones(2), np.ones(2), np.array([0, 0])),
            2.0,
            r"n_regions must be an integer.*got 2.0 of type float",
        ),
    ],
)
def test_green_per_person_errors(args, n_regions, match):
    with pytest.raises(ValueError, match=match):
        green_per_person(*args, n_regions=n_regions)


@pytest.mark.parametrize(
    ("hh", "values", "match"),
    [
        (
            HH,
            np.array([1.0, np.nan]),
            r"values must be a finite number in every cell with households; found nan at index 1",
        ),
        (HH, np.array([np.inf, 1.0]), r"values must be a finite number.*found inf at index 0"),
        (HH, np.ones(3), r"values must be a 1-D array of length n_cells = 2"),
        (np.zeros((2, 2)), np.ones(2), r"households has no households"),
        ([[1.0, np.nan]], np.ones(1), r"households must be non-negative finite numbers; found nan"),
    ],
)
def test_mean_by_group_errors(hh, values, match):
    with pytest.raises(ValueError, match=match):
        mean_by_group(hh, values)
