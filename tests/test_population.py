"""Initial population: apportionment, income groups from poverty rates, census per commune."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim.data import load_city
from metrosim.grid import load_grid
from metrosim.population import (
    N_GROUPS,
    Households,
    initial_population,
    largest_remainder,
    place_groups,
    quintile_shares,
)
from metrosim.scenario import Scenario

REGION_POPULATION = 7_112_808
CASES = {
    "1000m-scale50": Scenario(cell_size_m=1000.0, scale=50),
    "250m-scale10": Scenario(cell_size_m=250.0, scale=10),
    "500m-scale1": Scenario(cell_size_m=500.0, scale=1),
}


@pytest.fixture(scope="session")
def city():
    return load_city()


def _build(city, s):
    grid = load_grid(s.region, s.cell_size_m)
    slope = np.nan_to_num(grid.slope_deg.ravel(), nan=s.slope_outside_dem_deg)
    developable = (grid.commune.ravel() >= 0) & (slope <= s.max_slope_deg)
    init = initial_population(
        city,
        grid,
        scale=s.scale,
        household_size=s.household_size,
        vacancy=s.vacancy_initial,
        developable=developable,
    )
    return grid, init


@pytest.fixture(scope="session")
def built(city):
    return {k: (s, *_build(city, s)) for k, s in CASES.items()}


# --- largest remainder ---------------------------------------------------------------------
@settings(max_examples=300, deadline=None)
@given(
    total=st.integers(0, 10**7),
    weights=st.lists(
        st.one_of(st.just(0.0), st.floats(1e-6, 1e6, allow_nan=False)), min_size=1, max_size=60
    ),
)
def test_largest_remainder_sums_and_stays_within_one(total, weights):
    w = np.array(weights)
    counts = largest_remainder(total, w)
    assert counts.dtype == np.int64 and counts.shape == w.shape
    assert (counts >= 0).all()
    if w.sum() == 0:
        assert (counts == 0).all()
        return
    assert int(counts.sum()) == total
    exact = total * w / w.sum()
    assert (np.abs(counts - exact) < 1 + 1e-9 * max(total, 1)).all()
    assert (counts[w == 0] == 0).all()
    # quota property: each count is the floor or the ceiling of its exact share
    assert ((counts >= np.floor(exact) - 1e-9) | (counts <= np.ceil(exact) + 1e-9)).all()


def test_largest_remainder_ties_go_to_the_lower_index():
    assert largest_remainder(10, np.ones(3)).tolist() == [4, 3, 3]
    assert largest_remainder(2, np.ones(4)).tolist() == [1, 1, 0, 0]
    assert largest_remainder(7, np.array([0.0, 1.0])).tolist() == [0, 7]


def test_largest_remainder_refuses_negative_input():
    with pytest.raises(ValueError, match="must be non-negative"):
        largest_remainder(-1, np.ones(2))
    with pytest.raises(ValueError, match="must be non-negative"):
        largest_remainder(3, np.array([1.0, -0.5]))


# --- quintile shares -----------------------------------------------------------------------
def _check_shares(shares, poverty, weights):
    assert shares.shape == (poverty.size, N_GROUPS)
    assert (shares >= 0).all()
    np.testing.assert_allclose(shares.sum(axis=1), 1.0, atol=1e-12)
    w = weights / weights.sum()
    np.testing.assert_allclose(w @ shares, np.full(N_GROUPS, 0.2), atol=1e-9)
    order = np.argsort(poverty, kind="stable")
    s = shares[order]
    # poorer commune -> more of the poorest quintile, less of the richest
    assert (np.diff(s[:, 0]) >= -1e-12).all()
    assert (np.diff(s[:, 4]) <= 1e-12).all()
    # and its whole income distribution is lower (first-order stochastic dominance)
    cum = np.cumsum(s, axis=1)[:, :-1]
    assert (np.diff(cum, axis=0) >= -1e-12).all()


def test_quintile_shares_on_the_communes(city):
    shares = quintile_shares(city.poverty_2022, city.population.astype(float))
    _check_shares(shares, city.poverty_2022, city.population.astype(float))
    # measured: Vitacura (0.9% poor) 40% in the richest quintile and 7% in the poorest;
    # San Pedro (14.1% poor) 42% in the poorest and 6% in the richest
    rich, poor = np.argmin(city.poverty_2022), np.argmax(city.poverty_2022)
    assert shares[rich].argmax() == 4 and shares[rich, 4] > 0.35 and shares[rich, 0] < 0.1
    assert shares[poor].argmax() == 0 and shares[poor, 0] > 0.35 and shares[poor, 4] < 0.1


@settings(max_examples=60, deadline=None)
@given(
    data=st.lists(st.tuples(st.floats(0.005, 0.6), st.floats(1.0, 1e6)), min_size=2, max_size=30)
)
def test_quintile_shares_properties(data):
    poverty = np.array([p for p, _ in data])
    weights = np.array([w for _, w in data])
    _check_shares(quintile_shares(poverty, weights), poverty, weights)


def test_quintile_shares_refuses_rates_outside_0_1():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        quintile_shares(np.array([0.0, 0.2]), np.ones(2))
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        quintile_shares(np.array([1.0, 0.2]), np.ones(2))


# --- initial population --------------------------------------------------------------------
@pytest.mark.parametrize("case", list(CASES))
def test_population_per_commune_equals_the_census_within_rounding(built, city, case):
    s, grid, init = built[case]
    per_hh = s.household_size * s.scale
    persons = init.commune_households * per_hh
    assert (np.abs(persons - city.population) <= per_hh / 2 + 1e-6).all()
    assert city.population.sum() == REGION_POPULATION
    assert abs(persons.sum() - REGION_POPULATION) <= len(city.cut) * per_hh / 2 + 1e-6
    # households on the grid: every one of a commune's households is on one of its cells
    commune = grid.commune.ravel()
    assert (init.households[commune < 0] == 0).all()
    on_grid = np.bincount(
        commune[commune >= 0], weights=init.households[commune >= 0], minlength=52
    )
    np.testing.assert_array_equal(on_grid.astype(np.int64), init.commune_households)


@pytest.mark.parametrize("case", list(CASES))
def test_households_follow_the_census_zones(built, city, case):
    s, grid, init = built[case]
    zone = grid.zone.ravel()
    in_zones = init.households[zone >= 0].sum()
    # 6.67 M of 7.11 M persons live in zones with a polygon; small zones may fall back to the
    # cell of their centroid, which can lie outside any zone, so allow a little slack
    zone_share = city.zone_population.sum() / city.population.sum()
    assert abs(in_zones / init.households.sum() - zone_share) < 0.02
    # park cells hold no households
    park = grid.park_m2.ravel() >= 0.5 * grid.cell_size_m**2
    assert init.households[park].sum() == 0


@pytest.mark.parametrize("case", list(CASES))
def test_dwellings_and_vacancy(built, city, case):
    s, grid, init = built[case]
    assert (init.dwellings >= init.households).all()
    assert (init.dwellings[init.households == 0] == 0).all()
    commune = grid.commune.ravel()
    inside = commune >= 0
    dw = np.bincount(commune[inside], weights=init.dwellings[inside], minlength=52)
    hh = init.commune_households
    # each commune: round(H / (1 - v)) dwellings
    np.testing.assert_array_equal(dw.astype(np.int64), np.rint(hh / (1 - s.vacancy_initial)))
    vac = 1 - hh / dw
    assert (np.abs(vac - s.vacancy_initial) <= 0.5 / dw + 1e-12).all()
    region_vacancy = 1 - hh.sum() / dw.sum()
    assert abs(region_vacancy - s.vacancy_initial) < 0.001


@pytest.mark.parametrize("case", list(CASES))
def test_group_counts_per_commune_are_exact(built, case):
    s, grid, init = built[case]
    np.testing.assert_array_equal(init.commune_groups.sum(axis=1), init.commune_households)
    exact = init.commune_households[:, None] * init.group_shares
    assert (np.abs(init.commune_groups - exact) < 1).all()
    commune = grid.commune.ravel().astype(np.int32)
    hh = place_groups(init, commune, np.random.default_rng(11))
    assert isinstance(hh, Households) and len(hh) == init.households.sum()
    assert hh.cell.dtype == np.int32 and hh.group.dtype == np.int8
    np.testing.assert_array_equal(
        np.bincount(hh.cell, minlength=init.households.size), init.households
    )
    tally = np.zeros_like(init.commune_groups)
    np.add.at(tally, (commune[hh.cell], hh.group), 1)
    np.testing.assert_array_equal(tally, init.commune_groups)


def test_place_groups_is_random_only_within_communes(built):
    s, grid, init = built["1000m-scale50"]
    commune = grid.commune.ravel().astype(np.int32)
    a = place_groups(init, commune, np.random.default_rng(1))
    b = place_groups(init, commune, np.random.default_rng(1))
    c = place_groups(init, commune, np.random.default_rng(2))
    np.testing.assert_array_equal(a.group, b.group)
    np.testing.assert_array_equal(a.cell, c.cell)
    assert not np.array_equal(a.group, c.group)


def test_initial_population_is_deterministic(built, city):
    s, grid, init = built["1000m-scale50"]
    _, again = _build(city, s)
    np.testing.assert_array_equal(init.households, again.households)
    np.testing.assert_array_equal(init.dwellings, again.dwellings)


def test_household_store_add_and_remove():
    hh = Households(cell=np.array([3, 4, 5], dtype=np.int32), group=np.array([0, 1, 2], np.int8))
    hh.add(np.array([4, 4]))
    assert len(hh) == 5 and hh.cell.tolist() == [3, 4, 5, -1, -1]
    assert hh.group.dtype == np.int8 and hh.group.tolist() == [0, 1, 2, 4, 4]
    hh.remove(np.array([0, 3]))
    assert hh.cell.tolist() == [4, 5, -1] and hh.group.tolist() == [1, 2, 4]
    assert hh.nbytes() == 3 * 4 + 3 * 1
