"""Tests for metrosim.governments.fiscal: FCM contributions and distribution, budgets, pools."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

import metrosim.data
from metrosim.governments.fiscal import (
    FCM_SHARES,
    HIGH_CONTRIBUTION_CUTS,
    MunicipalBudget,
    PoolTransfer,
    default_licence_rates,
    default_property_rates,
    fcm_contributions,
    fcm_distribution,
    municipal_budget,
    pool_transfer,
)

COMMUNES_CSV = Path(metrosim.data.__file__).parent / "santiago" / "communes.csv"

# --------------------------------------------------------------------------------------------
# strategies
# --------------------------------------------------------------------------------------------

MONEY = st.floats(0.0, 1e9, allow_nan=False, allow_infinity=False)
COUNT = st.floats(0.0, 1e6, allow_nan=False, allow_infinity=False)
# inhabitants: none, or at least one (a subnormal population is not a population)
PEOPLE = st.just(0.0) | st.floats(1.0, 1e7)
RATE = st.floats(0.0, 1.0, allow_nan=False, allow_infinity=False)
SETTINGS = settings(max_examples=60, deadline=None)


def vec(n: int, elements: st.SearchStrategy[float]) -> st.SearchStrategy[np.ndarray]:
    return hnp.arrays(np.float64, n, elements=elements)


@st.composite
def communes(draw: st.DrawFn) -> dict[str, np.ndarray]:
    """Random per-commune inputs for many communes."""
    n = draw(st.integers(1, 60))
    return {
        "property_tax": draw(vec(n, MONEY)),
        "vehicle_permits": draw(vec(n, MONEY)),
        "licences": draw(vec(n, MONEY)),
        "property_rate": draw(vec(n, RATE)),
        "permit_rate": draw(vec(n, RATE)),
        "licence_rate": draw(vec(n, RATE)),
        "n_poor": draw(vec(n, COUNT)),
        "n_exempt": draw(vec(n, COUNT)),
        "population": draw(vec(n, PEOPLE)),
        "income": draw(vec(n, MONEY)),
        "coverage": draw(vec(n, st.floats(0.0, 100.0))),
        "members": draw(hnp.arrays(np.bool_, n)),
    }


@st.composite
def share_tuples(draw: st.DrawFn) -> tuple[float, float, float, float]:
    raw = draw(st.lists(st.floats(0.0, 1.0), min_size=4, max_size=4).filter(lambda v: sum(v) > 0))
    total = math.fsum(raw)
    s = [v / total for v in raw]
    s[-1] = 1.0 - math.fsum(s[:-1])  # exact-ish sum
    return (s[0], s[1], s[2], max(s[3], 0.0))


def conserved(a: float, b: float) -> bool:
    return math.isclose(a, b, rel_tol=1e-9, abs_tol=1e-9)


# --------------------------------------------------------------------------------------------
# contribution rates
# --------------------------------------------------------------------------------------------


def test_default_property_rates_on_the_52_communes() -> None:
    with COMMUNES_CSV.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    cuts = np.array([int(r["cut"]) for r in rows])
    names = {int(r["cut"]): r["name"] for r in rows}
    assert cuts.size == 52
    rates = default_property_rates(cuts)
    high = {int(c) for c in cuts[rates == 0.65]}
    assert high == set(HIGH_CONTRIBUTION_CUTS)
    assert {names[c] for c in high} == {"Santiago", "Providencia", "Las Condes", "Vitacura"}
    assert np.count_nonzero(rates == 0.60) == 48


def test_default_rates_accept_integral_floats_and_reject_others() -> None:
    assert default_property_rates(np.array([13101.0, 13102.0])).tolist() == [0.65, 0.60]
    assert default_licence_rates([13101, 13123, 13102]).tolist() == [0.55, 0.65, 0.0]
    with pytest.raises(ValueError, match=r"cuts=.*allowed: integer CUT codes"):
        default_property_rates([13101.5])
    with pytest.raises(ValueError, match=r"cuts has shape \(1, 2\)"):
        default_property_rates([[13101, 13102]])


# --------------------------------------------------------------------------------------------
# contributions
# --------------------------------------------------------------------------------------------


def test_contributions_hand_case() -> None:
    paid = fcm_contributions(
        [100.0, 50.0, 0.0],
        [8.0, 16.0, 40.0],
        property_rate=[0.65, 0.60, 0.60],
        other=[10.0, 0.0, 5.0],
        other_rate=[0.55, 0.0, 0.0],
    )
    np.testing.assert_allclose(paid, [65.0 + 5.0 + 5.5, 30.0 + 10.0, 25.0])


def test_contributions_scalar_rates_broadcast() -> None:
    paid = fcm_contributions([10.0, 20.0], [0.0, 8.0], property_rate=0.6, permit_rate=0.5)
    np.testing.assert_allclose(paid, [6.0, 16.0])


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"property_rate": [0.6, 1.2]}, r"property_rate\[1\]=1\.2 is invalid; allowed: .*\[0, 1\]"),
        ({"property_rate": 0.6, "permit_rate": -0.1}, r"permit_rate\[0\]=-0\.1"),
        ({"property_rate": [0.6, 0.6, 0.6]}, r"property_rate has shape \(3,\); allowed"),
        ({"property_rate": 0.6, "other": [1.0, 1.0]}, r"other was given without other_rate"),
        ({"property_rate": 0.6, "other_rate": 0.5}, r"other_rate was given without other"),
        ({"property_rate": "high"}, r"property_rate='high' is invalid"),
    ],
)
def test_contributions_validation(kwargs: dict, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fcm_contributions([1.0, 2.0], [1.0, 2.0], **kwargs)


def test_contributions_reject_bad_amounts() -> None:
    with pytest.raises(ValueError, match=r"property_tax\[1\]=-5\.0 is invalid; allowed: finite"):
        fcm_contributions([1.0, -5.0], [0.0, 0.0], property_rate=0.6)
    with pytest.raises(ValueError, match=r"vehicle_permits\[0\]=nan"):
        fcm_contributions([1.0], [np.nan], property_rate=0.6)
    with pytest.raises(ValueError, match=r"vehicle_permits has shape \(3,\); allowed: .*length 2"):
        fcm_contributions([1.0, 2.0], [0.0, 0.0, 0.0], property_rate=0.6)


# --------------------------------------------------------------------------------------------
# distribution: each component by hand
# --------------------------------------------------------------------------------------------

BASE = {
    "n_poor": [1.0, 3.0, 0.0, 0.0],
    "n_exempt": [2.0, 2.0, 4.0, 0.0],
    "own_income_per_capita": [1.0, 2.0, 3.0, 6.0],
}


def test_equal_component() -> None:
    r = fcm_distribution(100.0, **BASE, shares=(1, 0, 0, 0))
    np.testing.assert_allclose(r, [25.0, 25.0, 25.0, 25.0])


def test_poor_component() -> None:
    r = fcm_distribution(100.0, **BASE, shares=(0, 1, 0, 0))
    np.testing.assert_allclose(r, [25.0, 75.0, 0.0, 0.0])


def test_exempt_component() -> None:
    r = fcm_distribution(100.0, **BASE, shares=(0, 0, 1, 0))
    np.testing.assert_allclose(r, [25.0, 25.0, 50.0, 0.0])


def test_income_component_shortfall_from_plain_mean() -> None:
    # mean income 3: shortfalls (2, 1, 0, 0)
    r = fcm_distribution(90.0, **BASE, shares=(0, 0, 0, 1))
    np.testing.assert_allclose(r, [60.0, 30.0, 0.0, 0.0])


def test_income_component_shortfall_population_weighted() -> None:
    # reference = (2*1 + 1*2 + 1*5) / 4 = 2.25: shortfalls (1.25, 0.25, 0)
    r = fcm_distribution(
        60.0,
        n_poor=[0, 0, 0],
        n_exempt=[0, 0, 0],
        own_income_per_capita=[1.0, 2.0, 5.0],
        population=[2.0, 1.0, 1.0],
        shares=(0, 0, 0, 1),
    )
    np.testing.assert_allclose(r, [50.0, 10.0, 0.0])


def test_income_component_given_reference() -> None:
    # national average 4 above everyone: shortfalls (3, 2, 1)
    r = fcm_distribution(
        60.0,
        n_poor=[0, 0, 0],
        n_exempt=[0, 0, 0],
        own_income_per_capita=[1.0, 2.0, 3.0],
        reference_income_per_capita=4.0,
        shares=(0, 0, 0, 1),
    )
    np.testing.assert_allclose(r, [30.0, 20.0, 10.0])


def test_income_component_inverse_rule() -> None:
    # weights 1, 1/2, 1/4 -> 4/7, 2/7, 1/7
    r = fcm_distribution(
        70.0,
        n_poor=[0, 0, 0],
        n_exempt=[0, 0, 0],
        own_income_per_capita=[1.0, 2.0, 4.0],
        shares=(0, 0, 0, 1),
        income_rule="inverse",
    )
    np.testing.assert_allclose(r, [40.0, 20.0, 10.0])


def test_legal_shares_combined_hand_case() -> None:
    r = fcm_distribution(1000.0, **BASE)
    equal = np.full(4, 250.0 / 4)
    poor = 100.0 * np.array([0.25, 0.75, 0, 0])
    exempt = 300.0 * np.array([0.25, 0.25, 0.5, 0])
    income = 350.0 * np.array([2 / 3, 1 / 3, 0, 0])
    np.testing.assert_allclose(r, equal + poor + exempt + income)
    assert FCM_SHARES == (0.25, 0.10, 0.30, 0.35)


# --------------------------------------------------------------------------------------------
# distribution: edge cases
# --------------------------------------------------------------------------------------------


def test_no_poor_and_no_exempt_fall_back_to_equal_shares() -> None:
    r = fcm_distribution(40.0, n_poor=[0, 0], n_exempt=[0, 0], own_income_per_capita=[1.0, 1.0])
    assert np.isfinite(r).all()
    np.testing.assert_allclose(r, [20.0, 20.0])


def test_nobody_below_reference_falls_back_to_equal_shares() -> None:
    r = fcm_distribution(
        10.0,
        n_poor=[0, 0],
        n_exempt=[0, 0],
        own_income_per_capita=[5.0, 7.0],
        reference_income_per_capita=1.0,
        shares=(0, 0, 0, 1),
    )
    np.testing.assert_allclose(r, [5.0, 5.0])


def test_zero_population_commune_takes_no_part_in_income_component() -> None:
    r = fcm_distribution(
        10.0,
        n_poor=[0, 0, 0],
        n_exempt=[0, 0, 0],
        own_income_per_capita=[0.0, 1.0, 3.0],
        population=[0.0, 1.0, 1.0],
        shares=(0, 0, 0, 1),
    )
    np.testing.assert_allclose(r, [0.0, 10.0, 0.0])
    for rule in ("shortfall", "inverse"):
        r = fcm_distribution(
            10.0,
            n_poor=[0, 0],
            n_exempt=[0, 0],
            own_income_per_capita=[0.0, 0.0],
            population=[0.0, 0.0],
            income_rule=rule,
        )
        assert np.isfinite(r).all()
        np.testing.assert_allclose(r, [5.0, 5.0])


def test_inverse_rule_zero_income_takes_the_limit() -> None:
    r = fcm_distribution(
        10.0,
        n_poor=[0, 0, 0],
        n_exempt=[0, 0, 0],
        own_income_per_capita=[0.0, 0.0, 5.0],
        shares=(0, 0, 0, 1),
        income_rule="inverse",
    )
    np.testing.assert_allclose(r, [5.0, 5.0, 0.0])


def test_zero_total_gives_zeros() -> None:
    r = fcm_distribution(0.0, **BASE)
    assert r.tolist() == [0.0, 0.0, 0.0, 0.0]


@pytest.mark.parametrize(
    ("shares", "match"),
    [
        ((0.25, 0.10, 0.30, 0.30), r"shares=\(0\.25, 0\.1, 0\.3, 0\.3\) sums to 0\.95"),
        ((0.5, -0.1, 0.3, 0.3), r"shares=.* is invalid; allowed: 4 numbers >= 0 summing to 1"),
        ((0.5, 0.5), r"shares=\(0\.5, 0\.5\) is invalid; allowed: 4 numbers"),
        ((np.nan, 0.5, 0.25, 0.25), r"shares=.* is invalid"),
        ("abcd", r"shares='abcd' is invalid"),
    ],
)
def test_shares_validation(shares: object, match: str) -> None:
    with pytest.raises(ValueError, match=match):
        fcm_distribution(1.0, **BASE, shares=shares)  # type: ignore[arg-type]


def test_distribution_validation() -> None:
    with pytest.raises(ValueError, match=r"total=-1\.0 is invalid; allowed: a finite number"):
        fcm_distribution(-1.0, **BASE)
    with pytest.raises(ValueError, match=r"total=inf is invalid"):
        fcm_distribution(math.inf, **BASE)
    with pytest.raises(ValueError, match=r"income_rule='log' is invalid; allowed: 'shortfall', "):
        fcm_distribution(1.0, **BASE, income_rule="log")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"n_poor has shape \(2,\); allowed: .*length 4"):
        fcm_distribution(1.0, **{**BASE, "n_poor": [1.0, 2.0]})
    with pytest.raises(ValueError, match=r"population\[2\]=-1\.0 is invalid"):
        fcm_distribution(1.0, **BASE, population=[1.0, 1.0, -1.0, 1.0])
    with pytest.raises(ValueError, match=r"reference_income_per_capita=-2\.0 is invalid"):
        fcm_distribution(1.0, **BASE, reference_income_per_capita=-2.0)
    with pytest.raises(ValueError, match=r"own_income_per_capita has length 0"):
        fcm_distribution(1.0, n_poor=[], n_exempt=[], own_income_per_capita=[])


# --------------------------------------------------------------------------------------------
# properties: conservation
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(c=communes(), shares=share_tuples(), rule=st.sampled_from(["shortfall", "inverse"]))
def test_fcm_conserves_money(c: dict[str, np.ndarray], shares: tuple, rule: str) -> None:
    paid = fcm_contributions(
        c["property_tax"],
        c["vehicle_permits"],
        property_rate=c["property_rate"],
        permit_rate=c["permit_rate"],
        other=c["licences"],
        other_rate=c["licence_rate"],
    )
    gross = c["property_tax"] + c["vehicle_permits"] + c["licences"]
    assert (paid >= 0).all() and (paid <= gross * (1 + 1e-12)).all()
    received = fcm_distribution(
        math.fsum(paid),
        n_poor=c["n_poor"],
        n_exempt=c["n_exempt"],
        own_income_per_capita=c["income"],
        population=c["population"],
        shares=shares,
        income_rule=rule,  # type: ignore[arg-type]
    )
    assert np.isfinite(received).all() and (received >= 0).all()
    assert conserved(math.fsum(received), math.fsum(paid))


@SETTINGS
@given(c=communes(), derive_income=st.booleans())
def test_budget_conserves_money(c: dict[str, np.ndarray], derive_income: bool) -> None:
    b = municipal_budget(
        c["property_tax"],
        c["vehicle_permits"],
        property_rate=c["property_rate"],
        permit_rate=c["permit_rate"],
        licences=c["licences"],
        licence_rate=c["licence_rate"],
        n_poor=c["n_poor"],
        n_exempt=c["n_exempt"],
        population=c["population"],
        own_income_per_capita=None if derive_income else c["income"],
    )
    assert isinstance(b, MunicipalBudget)
    gross = c["property_tax"] + c["vehicle_permits"] + c["licences"]
    for arr in b:
        assert np.isfinite(arr).all()
    np.testing.assert_allclose(b.revenue_own + b.fcm_paid, gross, rtol=1e-12, atol=1e-6)
    np.testing.assert_allclose(b.budget, b.revenue_own + b.fcm_received, rtol=1e-12)
    assert conserved(math.fsum(b.fcm_received), math.fsum(b.fcm_paid))
    assert conserved(math.fsum(b.budget), math.fsum(gross))


@SETTINGS
@given(c=communes(), rule=st.sampled_from(["per_capita", "need"]), scalar_rate=st.booleans())
def test_pool_conserves_money(c: dict[str, np.ndarray], rule: str, scalar_rate: bool) -> None:
    rates = 0.3 if scalar_rate else c["property_rate"]
    t = pool_transfer(
        c["property_tax"],
        rates,
        c["members"],
        rule=rule,  # type: ignore[arg-type]
        population=c["population"],
        coverage=c["coverage"],
    )
    assert isinstance(t, PoolTransfer)
    assert np.isfinite(t.received).all() and (t.received >= 0).all()
    assert conserved(math.fsum(t.received), math.fsum(t.paid))
    outside = ~c["members"]
    assert (t.paid[outside] == 0).all() and (t.received[outside] == 0).all()


# --------------------------------------------------------------------------------------------
# properties: monotonicity
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(
    c=communes(),
    total=st.floats(1.0, 1e9),
    data=st.data(),
    extra=st.floats(1.0, 1e6),
)
def test_more_poor_weakly_more_receipts(
    c: dict[str, np.ndarray], total: float, data: st.DataObject, extra: float
) -> None:
    i = data.draw(st.integers(0, c["n_poor"].size - 1))
    kw = {
        "n_exempt": c["n_exempt"],
        "own_income_per_capita": c["income"],
        "population": c["population"],
    }
    before = fcm_distribution(total, n_poor=c["n_poor"], **kw)
    more = c["n_poor"].copy()
    more[i] += extra
    after = fcm_distribution(total, n_poor=more, **kw)
    assert after[i] >= before[i] - 1e-9 * total


@SETTINGS
@given(
    c=communes(),
    data=st.data(),
    raise_by=st.floats(0.0, 1e6),
    rule=st.sampled_from(["shortfall", "inverse"]),
    use_population=st.booleans(),
    reference=st.none() | st.floats(0.0, 1e9),
)
def test_higher_income_weakly_less_from_income_component(
    c: dict[str, np.ndarray],
    data: st.DataObject,
    raise_by: float,
    rule: str,
    use_population: bool,
    reference: float | None,
) -> None:
    i = data.draw(st.integers(0, c["income"].size - 1))
    kw = {
        "n_poor": c["n_poor"],
        "n_exempt": c["n_exempt"],
        "shares": (0.0, 0.0, 0.0, 1.0),
        "population": c["population"] if use_population else None,
        "reference_income_per_capita": reference,
        "income_rule": rule,
    }
    total = 1e6
    before = fcm_distribution(total, own_income_per_capita=c["income"], **kw)
    richer = c["income"].copy()
    richer[i] += raise_by
    after = fcm_distribution(total, own_income_per_capita=richer, **kw)
    assert after[i] <= before[i] + 1e-9 * total


def test_budget_hand_case() -> None:
    b = municipal_budget(
        [100.0, 20.0],
        [16.0, 0.0],
        property_rate=[0.65, 0.60],
        licences=[10.0, 5.0],
        licence_rate=[0.5, 0.0],
        n_poor=[0, 0],
        n_exempt=[0, 0],
        population=[1.0, 1.0],
        shares=(1, 0, 0, 0),
    )
    paid = np.array([65.0 + 10.0 + 5.0, 12.0])
    np.testing.assert_allclose(b.fcm_paid, paid)
    np.testing.assert_allclose(b.revenue_own, [126.0 - 80.0, 25.0 - 12.0])
    np.testing.assert_allclose(b.fcm_received, [46.0, 46.0])
    np.testing.assert_allclose(b.budget, [92.0, 59.0])


def test_budget_derives_income_per_head_and_handles_zero_population() -> None:
    # commune 0 keeps 4 for 1 inhabitant, commune 1 keeps 4 for 4, commune 2 is empty
    b = municipal_budget(
        [10.0, 10.0, 10.0],
        [0.0, 0.0, 0.0],
        property_rate=0.6,
        n_poor=[0, 0, 0],
        n_exempt=[0, 0, 0],
        population=[1.0, 4.0, 0.0],
        shares=(0, 0, 0, 1),
    )
    # incomes per head 4 and 1, weighted reference (4 + 4) / 5 = 1.6 -> only commune 1 short
    np.testing.assert_allclose(b.fcm_received, [0.0, 18.0, 0.0])
    assert np.isfinite(b.budget).all()


# --------------------------------------------------------------------------------------------
# pools
# --------------------------------------------------------------------------------------------


def test_pool_per_capita_hand_case() -> None:
    t = pool_transfer(
        [100.0, 50.0, 0.0, 80.0],
        [0.1, 0.2, 0.5, 0.5],
        [True, True, True, False],
        population=[1.0, 1.0, 2.0, 10.0],
    )
    np.testing.assert_allclose(t.paid, [10.0, 10.0, 0.0, 0.0])
    np.testing.assert_allclose(t.received, [5.0, 5.0, 10.0, 0.0])


def test_pool_need_hand_case() -> None:
    # inverse coverage 1, 1/3 -> 3/4, 1/4
    t = pool_transfer([40.0, 40.0], 0.5, [1, 1], rule="need", coverage=[1.0, 3.0])
    np.testing.assert_allclose(t.received, [30.0, 10.0])
    t = pool_transfer([40.0, 40.0, 0.0], 0.5, [1, 1, 1], rule="need", coverage=[0.0, 3.0, 0.0])
    np.testing.assert_allclose(t.received, [20.0, 0.0, 20.0])


def test_pool_edge_cases() -> None:
    none = pool_transfer([10.0, 10.0], 0.5, [False, False], population=[1.0, 1.0])
    assert none.paid.tolist() == [0.0, 0.0] and none.received.tolist() == [0.0, 0.0]
    empty = pool_transfer([10.0, 10.0], 0.5, [True, True], population=[0.0, 0.0])
    np.testing.assert_allclose(empty.received, [5.0, 5.0])
    nothing = pool_transfer([0.0, 10.0], 0.0, [True, True], population=[1.0, 1.0])
    assert nothing.received.tolist() == [0.0, 0.0]


def test_pool_validation() -> None:
    with pytest.raises(ValueError, match=r"rule='per_capita' needs population"):
        pool_transfer([1.0], 0.5, [True])
    with pytest.raises(ValueError, match=r"rule='need' needs coverage"):
        pool_transfer([1.0], 0.5, [True], rule="need")
    with pytest.raises(ValueError, match=r"rule='vote' is invalid; allowed: 'per_capita', 'need'"):
        pool_transfer([1.0], 0.5, [True], rule="vote", population=[1.0])  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"members=.* is invalid; allowed: booleans"):
        pool_transfer([1.0, 1.0], 0.5, [2, 0], population=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"members has shape \(1,\); allowed: .*length 2"):
        pool_transfer([1.0, 1.0], 0.5, [True], population=[1.0, 1.0])
    with pytest.raises(ValueError, match=r"rates\[0\]=1\.5 is invalid"):
        pool_transfer([1.0], 1.5, [True], population=[1.0])
    with pytest.raises(ValueError, match=r"coverage\[0\]=-1\.0 is invalid"):
        pool_transfer([1.0], 0.5, [True], rule="need", coverage=[-1.0])


def test_pool_residual_never_goes_to_a_non_member():
    """A pool of one subnormal peso split between two members underflows to zero shares; the
    rounding residual must still go to a member."""
    t = pool_transfer(
        np.array([5e-324, 5e-324, 5e-324]),
        np.array([1.0, 0.0, 1.0]),
        np.array([False, True, True]),
        population=np.zeros(3),
    )
    assert t.received[0] == 0.0
    assert math.fsum(t.received) == math.fsum(t.paid)
