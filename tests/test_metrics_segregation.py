"""Tests for metrosim.metrics.segregation: PySAL agreement, hand cases, invariants, errors."""

from __future__ import annotations

import decimal
import math

import numpy as np
import pandas as pd
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim.metrics import (
    TheilDecomposition,
    dissimilarity,
    exposure,
    isolation,
    multigroup_dissimilarity,
    theil_h,
)

# segregation calls np.seterr(divide="ignore", invalid="ignore") when imported, which would
# silence numpy warnings for the whole test session; errstate restores the state on exit.
with np.errstate():
    from segregation.multigroup import MultiDissim, MultiInfoTheory
    from segregation.singlegroup import Dissim, Interaction, Isolation

TOL = 1e-9
SETTINGS = settings(max_examples=40, deadline=None)


# --------------------------------------------------------------------------------------------
# strategies and helpers
# --------------------------------------------------------------------------------------------


@st.composite
def count_arrays(
    draw: st.DrawFn, *, groups: tuple[int, int] = (2, 6), floats: bool | None = None
) -> np.ndarray:
    """Counts (n_units, n_groups) with a positive total; some rows may be empty."""
    n = draw(st.integers(1, 40))
    k = draw(st.integers(*groups))
    if floats is None:
        floats = draw(st.booleans())
    if floats:
        elems = st.just(0.0) | st.floats(1e-3, 1e4, allow_nan=False, allow_infinity=False)
        c = draw(hnp.arrays(np.float64, (n, k), elements=elems))
    else:
        c = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 60)))
    assume(c.sum() > 0)
    return c


def all_groups_present(c: np.ndarray) -> bool:
    return bool((c.sum(axis=0) > 0).all())


def frame(c: np.ndarray) -> tuple[pd.DataFrame, list[str]]:
    groups = [f"g{k}" for k in range(c.shape[1])]
    df = pd.DataFrame(np.asarray(c, dtype=float), columns=groups)
    df["total"] = df[groups].sum(axis=1)
    return df, groups


def pysal(index, *args) -> float:
    with np.errstate(all="ignore"):  # PySAL divides 0/0 for empty units
        return float(index(*args).statistic)


def entropy(counts) -> float:
    """Shannon entropy of the shares of ``counts``, in 40-digit decimal arithmetic."""
    with decimal.localcontext(prec=40):
        n = [decimal.Decimal(float(x)) for x in counts]
        total = sum(n)
        return float(-sum(x / total * (x / total).ln() for x in n if x > 0))


# --------------------------------------------------------------------------------------------
# agreement with PySAL segregation
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(count_arrays(groups=(2, 2)))
def test_dissimilarity_matches_pysal_dissim(c):
    assume(all_groups_present(c))
    df, g = frame(c)
    assert abs(dissimilarity(c) - pysal(Dissim, df, g[0], "total")) <= TOL


@SETTINGS
@given(count_arrays())
def test_multigroup_dissimilarity_matches_pysal_multidissim(c):
    assume((c.sum(axis=0) > 0).sum() >= 2)  # an absent group is fine for both
    df, g = frame(c)
    assert abs(multigroup_dissimilarity(c) - pysal(MultiDissim, df, g)) <= TOL


@SETTINGS
@given(count_arrays())
def test_theil_h_matches_pysal_multiinfotheory(c):
    assume(all_groups_present(c))
    df, g = frame(c)
    assert abs(theil_h(c) - pysal(MultiInfoTheory, df, g)) <= TOL


@SETTINGS
@given(count_arrays(groups=(3, 5)))
def test_theil_h_absent_group_is_pysal_without_that_column(c):
    """PySAL returns nan when a group column is all zero; here the group is just absent."""
    c = c.copy()
    c[:, 0] = 0
    assume(all_groups_present(c[:, 1:]))
    df, g = frame(c[:, 1:])
    assert math.isnan(pysal(MultiInfoTheory, *frame(c)))
    assert abs(theil_h(c) - pysal(MultiInfoTheory, df, g)) <= TOL


@SETTINGS
@given(count_arrays(), st.data())
def test_isolation_matches_pysal_isolation(c, data):
    k = data.draw(st.integers(0, c.shape[1] - 1))
    assume(c[:, k].sum() > 0)
    df, g = frame(c)
    assert abs(isolation(c, k) - pysal(Isolation, df, g[k], "total")) <= TOL


@SETTINGS
@given(count_arrays(), st.data())
def test_exposure_to_everybody_else_is_pysal_interaction(c, data):
    """PySAL's Interaction is the exposure of x to all other groups combined."""
    a = data.draw(st.integers(0, c.shape[1] - 1))
    assume(c[:, a].sum() > 0)
    df, g = frame(c)
    ours = sum(exposure(c, a, b) for b in range(c.shape[1]) if b != a)
    assert abs(ours - pysal(Interaction, df, g[a], "total")) <= TOL


# --------------------------------------------------------------------------------------------
# hand-computed cases
# --------------------------------------------------------------------------------------------

# two units, two groups: unit 0 has 30 of A and 10 of B, unit 1 has 10 of A and 50 of B
HAND = np.array([[30, 10], [10, 50]])


def test_dissimilarity_by_hand():
    # 0.5 * (|30/40 - 10/60| + |10/40 - 50/60|) = 7/12
    assert dissimilarity(HAND) == pytest.approx(7 / 12, abs=1e-15)
    assert multigroup_dissimilarity(HAND) == pytest.approx(7 / 12, abs=1e-15)


def test_theil_h_by_hand():
    E = entropy([40, 60])
    E0, E1 = entropy([30, 10]), entropy([10, 50])
    expected = (40 * (E - E0) + 60 * (E - E1)) / (100 * E)
    assert theil_h(HAND) == pytest.approx(expected, abs=1e-14)


def test_isolation_and_exposure_by_hand():
    assert isolation(HAND, 0) == pytest.approx(30 / 40 * 30 / 40 + 10 / 40 * 10 / 60, abs=1e-15)
    assert isolation(HAND, 0) == pytest.approx(29 / 48, abs=1e-15)
    assert exposure(HAND, 0, 1) == pytest.approx(19 / 48, abs=1e-15)
    assert exposure(HAND, 1, 0) == pytest.approx(19 / 72, abs=1e-15)
    assert exposure(HAND, 0, 0) == isolation(HAND, 0)


def test_three_group_multigroup_dissimilarity_by_hand():
    # P = (1/2, 1/4, 1/4), I = 1/4 + 3/16 + 3/16 = 5/8
    # unit 0 (t=4): |4-2| + |0-1| + |0-1| = 4; unit 1 (t=4): |0-2| + |2-1| + |2-1| = 4
    c = np.array([[4, 0, 0], [0, 2, 2]])
    assert multigroup_dissimilarity(c) == pytest.approx(8 / (2 * 8 * 5 / 8), abs=1e-15)


def test_theil_decomposition_by_hand():
    # region 0 = two pure units, region 1 = two 50/50 units; regions have equal composition
    d = theil_h(np.array([[4, 0], [0, 4], [2, 2], [2, 2]]), regions=np.array([0, 0, 1, 1]))
    assert isinstance(d, TheilDecomposition)
    assert d == pytest.approx((0.5, 0.0, 0.5), abs=1e-15)
    # regions completely separated: all segregation is between regions
    d = theil_h(np.array([[4, 0], [4, 0], [0, 2], [0, 6]]), regions=np.array([0, 0, 1, 1]))
    assert d == pytest.approx((1.0, 1.0, 0.0), abs=1e-15)


# --------------------------------------------------------------------------------------------
# invariants
# --------------------------------------------------------------------------------------------

INDICES = {
    "multigroup_dissimilarity": multigroup_dissimilarity,
    "theil_h": theil_h,
}


@SETTINGS
@given(count_arrays())
def test_indices_in_unit_interval(c):
    assume((c.sum(axis=0) > 0).sum() >= 2)
    for fn in INDICES.values():
        assert 0.0 <= fn(c) <= 1.0
    two = c[:, :2]
    if all_groups_present(two):
        assert 0.0 <= dissimilarity(two) <= 1.0
    for k in range(c.shape[1]):
        if c[:, k].sum() > 0:
            share = c[:, k].sum() / c.sum()
            assert share - 1e-12 <= isolation(c, k) <= 1.0


@SETTINGS
@given(
    hnp.arrays(np.int64, st.integers(1, 30), elements=st.integers(0, 100)),
    hnp.arrays(np.int64, st.integers(2, 6), elements=st.integers(1, 20)),
)
def test_zero_for_an_even_mix(sizes, composition):
    assume(sizes.sum() > 0)
    c = np.outer(sizes, composition)
    for fn in INDICES.values():
        assert fn(c) == pytest.approx(0.0, abs=1e-12)
    assert dissimilarity(c[:, :2]) == pytest.approx(0.0, abs=1e-12)
    for k in range(c.shape[1]):
        assert isolation(c, k) == pytest.approx(composition[k] / composition.sum(), abs=1e-12)


@SETTINGS
@given(st.integers(2, 6), st.data())
def test_one_for_complete_separation(k, data):
    n = data.draw(st.integers(k, 30))
    extra = data.draw(hnp.arrays(np.int64, n - k, elements=st.integers(0, k - 1)))
    group_of_unit = np.concatenate([np.arange(k), extra])  # every group has a unit
    sizes = data.draw(hnp.arrays(np.int64, n, elements=st.integers(1, 100)))
    c = np.zeros((n, k), dtype=np.int64)
    c[np.arange(n), group_of_unit] = sizes
    for fn in INDICES.values():
        assert fn(c) == pytest.approx(1.0, abs=1e-12)
    assert dissimilarity(c[:, :2]) == pytest.approx(1.0, abs=1e-12)
    for g in range(k):
        assert isolation(c, g) == pytest.approx(1.0, abs=1e-12)


@SETTINGS
@given(count_arrays(), st.randoms(use_true_random=False), st.sampled_from([0.5, 3.0, 1000.0]))
def test_invariant_to_unit_order_scaling_and_empty_units(c, rnd, factor):
    assume((c.sum(axis=0) > 0).sum() >= 2)
    order = list(range(c.shape[0]))
    rnd.shuffle(order)
    variants = [c[order], c * factor, np.vstack([c, np.zeros((3, c.shape[1]))])]
    for fn in INDICES.values():
        ref = fn(c)
        for other in variants:
            assert fn(other) == pytest.approx(ref, abs=1e-12)
    for k in range(c.shape[1]):
        if c[:, k].sum() > 0:
            for other in variants:
                assert isolation(other, k) == pytest.approx(isolation(c, k), abs=1e-12)


@SETTINGS
@given(count_arrays(groups=(2, 2)))
def test_two_group_multigroup_dissimilarity_is_dissimilarity(c):
    assume(all_groups_present(c))
    assert multigroup_dissimilarity(c) == pytest.approx(dissimilarity(c), abs=1e-12)


@SETTINGS
@given(count_arrays(), st.data())
def test_exposure_rows_sum_to_one_and_are_reciprocal(c, data):
    a = data.draw(st.integers(0, c.shape[1] - 1))
    b = data.draw(st.integers(0, c.shape[1] - 1))
    assume(c[:, a].sum() > 0 and c[:, b].sum() > 0)
    k = c.shape[1]
    assert sum(exposure(c, a, j) for j in range(k)) == pytest.approx(1.0, abs=1e-12)
    # N_a * aPb == N_b * bPa (both are sum_i a_i b_i / t_i)
    assert c[:, a].sum() * exposure(c, a, b) == pytest.approx(
        c[:, b].sum() * exposure(c, b, a), rel=1e-12
    )


@st.composite
def counts_and_regions(draw: st.DrawFn) -> tuple[np.ndarray, np.ndarray]:
    c = draw(count_arrays())
    n_reg = draw(st.integers(1, 6))
    regions = draw(hnp.arrays(np.int64, c.shape[0], elements=st.integers(0, n_reg - 1)))
    return c, regions


@SETTINGS
@given(counts_and_regions())
def test_decomposition_adds_up_and_matches_its_definition(cr):
    c, regions = cr
    assume((c.sum(axis=0) > 0).sum() >= 2)
    d = theil_h(c, regions=regions)
    assert abs(d.total - (d.between + d.within)) <= 1e-12
    assert d.total == pytest.approx(theil_h(c), abs=1e-15)
    # between: H of the counts aggregated by region
    agg = np.zeros((regions.max() + 1, c.shape[1]))
    np.add.at(agg, regions, c)
    assert d.between == pytest.approx(theil_h(agg), abs=1e-12)
    # within: sum_r T_r E_r / (T E) * H_r, with H_r computed on each region alone
    T, E = c.sum(), entropy(c.sum(axis=0))
    within = 0.0
    for r in np.unique(regions):
        cr_ = c[regions == r]
        Tr = cr_.sum()
        if Tr == 0:
            continue
        Er = entropy(cr_.sum(axis=0))
        if (cr_.sum(axis=0) > 0).sum() >= 2:  # otherwise E_r = 0 and H_r is undefined
            within += Tr * Er / (T * E) * theil_h(cr_)
    assert d.within == pytest.approx(within, abs=1e-12)
    assert min(d) >= 0.0


def test_undefined_indices_are_nan():
    assert math.isnan(dissimilarity([[3, 0], [5, 0]]))  # group b has no members
    assert math.isnan(multigroup_dissimilarity([[3, 0], [5, 0]]))
    assert math.isnan(theil_h([[3, 0], [5, 0]]))
    d = theil_h([[3, 0], [5, 0]], regions=[0, 1])
    assert all(math.isnan(x) for x in d)
    assert math.isnan(isolation([[3, 0], [5, 0]], 1))
    assert math.isnan(exposure([[3, 0], [5, 0]], 1, 0))


def test_no_warnings_and_no_global_error_state_change():
    before = np.geterr()
    with np.errstate(all="raise"):  # any 0/0 or log(0) in the code would raise here
        c = np.array([[0, 0, 0], [3, 0, 0], [0, 0, 0], [1, 2, 0]])
        dissimilarity(c[:, :2])
        multigroup_dissimilarity(c)
        theil_h(c)
        theil_h(c, regions=np.array([0, 0, 5, 1]))
        isolation(c, 2)
        exposure(c, 0, 2)
    assert np.geterr() == before


def test_accepts_lists_ints_floats_and_bools():
    assert theil_h([[1, 0], [0, 1]]) == 1.0
    assert theil_h(np.array([[True, False], [False, True]])) == 1.0
    assert theil_h(np.array([[1, 0], [0, 1]], dtype=np.uint8)) == 1.0
    assert theil_h(np.array([[1.0, 0.0], [0.0, 1.0]], dtype=np.float32)) == 1.0


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("counts", "match"),
    [
        ([[1, 2], [-1, 3]], r"counts must be non-negative.*-1 at index \(1, 0\)"),
        ([[1.0, np.nan], [1, 3]], r"counts must be non-negative finite.*nan at index \(0, 1\)"),
        ([[1.0, np.inf], [1, 3]], r"counts must be non-negative finite.*inf at index \(0, 1\)"),
        ([1, 2, 3], r"counts must be a 2-D array of shape \(n_units, n_groups\); got 1-D"),
        (np.ones((2, 2, 2)), r"counts must be a 2-D array.*got 3-D array of shape \(2, 2, 2\)"),
        (np.zeros((0, 2)), r"counts must not be empty.*got shape \(0, 2\)"),
        ([[0, 0], [0, 0]], r"counts has zero total population \(all 2 units are empty\)"),
        ([["a", "b"]], r"counts must hold real numbers.*got dtype <U1"),
        ([[1 + 1j, 0]], r"counts must hold real numbers.*complex128"),
    ],
)
def test_invalid_counts(counts, match):
    for fn in (dissimilarity, multigroup_dissimilarity, theil_h):
        with pytest.raises(ValueError, match=match):
            fn(counts)
    with pytest.raises(ValueError, match=match):
        isolation(counts, 0)
    with pytest.raises(ValueError, match=match):
        exposure(counts, 0, 1)


def test_dissimilarity_needs_two_groups():
    with pytest.raises(ValueError, match=r"exactly 2 group columns; got shape \(2, 3\)"):
        dissimilarity([[1, 2, 3], [3, 2, 1]])
    with pytest.raises(ValueError, match=r"counts\[:, \[0, 4\]\]"):
        dissimilarity([[1], [2]])


@pytest.mark.parametrize(
    ("group", "match"),
    [
        (2, r"group must be an integer in \[0, 1\]; got 2"),
        (-1, r"group must be an integer in \[0, 1\]; got -1"),
        (1.0, r"group must be an integer in \[0, 1\]; got 1.0 of type float"),
        (True, r"group must be an integer.*got True of type bool"),
        ("q1", r"group must be an integer.*got 'q1' of type str"),
    ],
)
def test_isolation_group_out_of_range(group, match):
    with pytest.raises(ValueError, match=match):
        isolation(HAND, group)


def test_exposure_group_names_in_messages():
    with pytest.raises(ValueError, match=r"group_a must be an integer in \[0, 1\]; got 5"):
        exposure(HAND, 5, 0)
    with pytest.raises(ValueError, match=r"group_b must be an integer in \[0, 1\]; got 7"):
        exposure(HAND, 0, np.int64(7))


@pytest.mark.parametrize(
    ("regions", "match"),
    [
        ([0, 1, 2], r"regions must be a 1-D array of length n_units = 2; got shape \(3,\)"),
        ([[0, 1]], r"regions must be a 1-D array of length n_units = 2; got shape \(1, 2\)"),
        ([0, -1], r"regions must be non-negative region labels; found -1 at index 1"),
        ([0.0, 1.0], r"regions must be an integer array; got dtype float64"),
    ],
)
def test_invalid_regions(regions, match):
    with pytest.raises(ValueError, match=match):
        theil_h(HAND, regions=regions)
