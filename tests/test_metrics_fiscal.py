"""Tests for metrosim.metrics.fiscal: Gini against its pairwise definition, ratios, errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim.metrics import gini, ratio_max_min, ratio_p90_p10

SETTINGS = settings(max_examples=80, deadline=None)

AMOUNT = st.just(0.0) | st.floats(1e-3, 1e6, allow_nan=False, allow_infinity=False)
amounts = hnp.arrays(np.float64, st.integers(1, 50), elements=AMOUNT)


@st.composite
def amounts_and_weights(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    x = draw(amounts)
    w = draw(hnp.arrays(np.float64, x.shape, elements=st.just(0.0) | st.floats(0.01, 1e5)))
    assume((w * x).sum() > 0)
    return x, w


def pairwise_gini(x: np.ndarray, w: np.ndarray) -> float:
    """The definition: sum_ij w_i w_j |x_i - x_j| / (2 W^2 mu), O(n^2)."""
    W = w.sum()
    mu = (w * x).sum() / W
    return float((np.outer(w, w) * np.abs(x[:, None] - x[None, :])).sum() / (2 * W * W * mu))


# --------------------------------------------------------------------------------------------
# Gini
# --------------------------------------------------------------------------------------------


def test_gini_by_hand():
    assert gini([5.0, 5.0, 5.0, 5.0]) == 0.0
    assert gini([0.0, 0.0, 0.0, 8.0]) == 0.75  # one of n has everything: 1 - 1/n
    assert gini([1.0, 2.0, 3.0]) == pytest.approx(2 / 9)  # (2*(1+2+1)) / (2*9*2)
    assert gini([0.0, 1.0], weights=[3, 1]) == 0.75
    assert gini([7.0]) == 0.0


@SETTINGS
@given(amounts_and_weights())
def test_weighted_gini_matches_pairwise_definition(xw):
    x, w = xw
    assert gini(x, weights=w) == pytest.approx(pairwise_gini(x, w), abs=1e-12)


@SETTINGS
@given(amounts)
def test_unweighted_gini_matches_pairwise_definition(x):
    assume(x.sum() > 0)
    g = gini(x)
    assert g == pytest.approx(pairwise_gini(x, np.ones_like(x)), abs=1e-12)
    assert 0.0 <= g <= 1.0 - 1.0 / len(x) + 1e-12


@SETTINGS
@given(amounts, st.data())
def test_integer_weights_equal_repetition(x, data):
    w = data.draw(hnp.arrays(np.int64, x.shape, elements=st.integers(0, 6)))
    assume((w * x).sum() > 0)
    assert gini(x, weights=w) == pytest.approx(gini(np.repeat(x, w)), abs=1e-12)


@SETTINGS
@given(amounts_and_weights(), st.randoms(use_true_random=False), st.sampled_from([1e-3, 2.0, 1e4]))
def test_gini_invariances(xw, rnd, factor):
    x, w = xw
    ref = gini(x, weights=w)
    order = list(range(len(x)))
    rnd.shuffle(order)
    assert gini(x[order], weights=w[order]) == pytest.approx(ref, abs=1e-12)
    assert gini(x * factor, weights=w) == pytest.approx(ref, abs=1e-12)  # scale-free
    assert gini(x, weights=w * factor) == pytest.approx(ref, abs=1e-12)
    # an entry with zero weight is ignored, whatever its value
    assert gini(np.append(x, 1e6), weights=np.append(w, 0.0)) == pytest.approx(ref, abs=1e-12)


@SETTINGS
@given(amounts_and_weights())
def test_transfer_to_the_poorest_lowers_gini(xw):
    x, w = xw
    pos = w > 0
    assume(pos.sum() >= 2)
    idx = np.flatnonzero(pos)
    rich, poor = idx[np.argmax(x[idx])], idx[np.argmin(x[idx])]
    assume(x[rich] > x[poor] * (1 + 1e-6) + 1e-6)
    # Pigou-Dalton: move a small amount per person from the richest to the poorest group
    delta = (x[rich] - x[poor]) / 4
    y = x.copy()
    y[rich] -= delta * w[poor] / (w[rich] + w[poor])
    y[poor] += delta * w[rich] / (w[rich] + w[poor])
    assert gini(y, weights=w) < gini(x, weights=w) + 1e-12


# --------------------------------------------------------------------------------------------
# ratios
# --------------------------------------------------------------------------------------------


def test_ratios_by_hand():
    assert ratio_max_min([100.0, 250.0, 400.0]) == 4.0
    assert ratio_max_min([0.0, 3.0]) == math.inf
    assert ratio_max_min([2.0]) == 1.0
    assert ratio_p90_p10(np.arange(1.0, 12.0)) == 5.0
    assert ratio_p90_p10([0.0, 0.0, 1.0]) == math.inf
    assert ratio_p90_p10([1.0, 3.0]) == pytest.approx(2.8 / 1.2)  # interpolated percentiles


@SETTINGS
@given(amounts, st.sampled_from([1e-3, 3.0, 1e3]))
def test_ratios_definitions_and_scale_invariance(x, factor):
    assume(x.sum() > 0)
    r, p = ratio_max_min(x), ratio_p90_p10(x)
    assert r >= p >= 1.0
    lo, hi = np.percentile(x, [10, 90])
    assert p == (hi / lo if lo > 0 else math.inf)
    assert r == (x.max() / x.min() if x.min() > 0 else math.inf)
    assert ratio_max_min(x * factor) == pytest.approx(r, rel=1e-12)
    assert ratio_p90_p10(x * factor) == pytest.approx(p, rel=1e-12)


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("x", "match"),
    [
        ([], r"x must not be empty \(shape \(n,\)\); got shape \(0,\)"),
        ([1.0, -2.0], r"x must be non-negative finite numbers; found -2.0 at index 1"),
        ([1.0, np.nan], r"x must be non-negative finite numbers; found nan at index 1"),
        ([1.0, np.inf], r"x must be non-negative finite numbers; found inf at index 1"),
        ([[1.0, 2.0]], r"x must be a 1-D array of shape \(n,\); got 2-D array of shape \(1, 2\)"),
        (["a"], r"x must hold real numbers"),
    ],
)
def test_invalid_amounts(x, match):
    for fn in (ratio_max_min, ratio_p90_p10, gini):
        with pytest.raises(ValueError, match=match):
            fn(x)


def test_all_zero_amounts():
    for fn in (ratio_max_min, ratio_p90_p10):
        with pytest.raises(ValueError, match=r"x is zero everywhere \(3 values\)"):
            fn([0.0, 0.0, 0.0])
    with pytest.raises(ValueError, match=r"x has a \(weighted\) mean of zero"):
        gini([0.0, 0.0])
    with pytest.raises(ValueError, match=r"x has a \(weighted\) mean of zero"):
        gini([0.0, 5.0], weights=[1.0, 0.0])


@pytest.mark.parametrize(
    ("weights", "match"),
    [
        ([1.0], r"weights must have the length of x \(2\); got shape \(1,\)"),
        ([1.0, -1.0], r"weights must be non-negative finite numbers; found -1.0 at index 1"),
        ([1.0, np.nan], r"weights must be non-negative finite numbers; found nan at index 1"),
        ([0.0, 0.0], r"weights are zero everywhere \(2 values\)"),
        ([[1.0, 1.0]], r"weights must be a 1-D array"),
    ],
)
def test_invalid_weights(weights, match):
    with pytest.raises(ValueError, match=match):
        gini([1.0, 2.0], weights=weights)
