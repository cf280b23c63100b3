import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim.land import LandState, LandUse
from metrosim.market import develop, expected_rent, fit_hedonic, update_rents


def small_land(n=50, seed=0):
    rng = np.random.default_rng(seed)
    use = np.where(rng.random(n) < 0.5, LandUse.AGRICULTURAL, LandUse.RES_MEDIUM).astype(np.uint8)
    cap = np.where(use == LandUse.RES_MEDIUM, rng.integers(1, 20, n), 0).astype(np.int32)
    occ = np.zeros((n, 5), dtype=np.int32)
    occ[:, 0] = cap
    return LandState(
        land_use=use,
        developable=np.ones(n, dtype=bool),
        zoned_max_dw_ha=np.full(n, 150, dtype=np.float32),
        plan_max_dw_ha=np.full(n, np.inf, dtype=np.float32),
        capacity=cap,
        occupancy=occ,
        rent=np.full(n, 200e3),
        urban_start=use != LandUse.AGRICULTURAL,
    )


KW = dict(
    natural_vacancy=0.06,
    scale=10,
    cell_area_ha=6.25,
    cost_base=20e6,
    cost_per_density=1e5,
    farmland_price_ha=100e6,
    servicing_cost_ha_km=30e6,
    min_density=5.0,
    redevelopment_premium=1.0,
    heterogeneity=0.2,
)


def test_hedonic_recovers_known_coefficients():
    rng = np.random.default_rng(1)
    x = rng.normal(size=(500, 2))
    rent = np.exp(12 + 0.3 * x[:, 0] - 0.2 * x[:, 1])
    coef = fit_hedonic(rent, x, np.ones(500))
    np.testing.assert_allclose(coef, [12, 0.3, -0.2], atol=1e-10)
    np.testing.assert_allclose(expected_rent(coef, x), rent, rtol=1e-10)


def test_rents_rise_when_vacancy_is_low_and_fall_when_high():
    rent = np.full(3, 100.0)
    out = update_rents(
        rent,
        np.array([0.0, 0.06, 0.3]),
        np.ones(3, bool),
        natural_vacancy=0.06,
        speed=2.0,
        floor=1.0,
    )
    assert out[0] > 100 and out[1] == pytest.approx(100) and out[2] < 100


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), households=st.integers(0, 2000))
def test_development_meets_target_without_exceeding_caps(seed, households):
    land = small_land(seed=seed)
    value = np.random.default_rng(seed).uniform(20e6, 80e6, land.capacity.size)
    before = land.capacity.copy()
    res = develop(
        land,
        value,
        households=households,
        distance_to_urban_km=np.zeros(50),
        rng=np.random.default_rng(seed),
        **KW,
    )
    assert res.built >= 0
    assert (land.capacity >= before).all()
    assert land.capacity.sum() - before.sum() == res.built
    assert res.built <= res.target
    dens = land.capacity * 10 / 6.25
    grew = land.capacity > before
    assert (dens[grew] <= 150 + 1e-6).all()
    assert np.isfinite(land.rent).all()


def test_plan_cap_of_zero_blocks_greenfield_development():
    land = small_land()
    land.plan_max_dw_ha[land.land_use == LandUse.AGRICULTURAL] = 0
    before = land.capacity.copy()
    develop(
        land,
        np.full(50, 60e6),
        households=5000,
        distance_to_urban_km=np.zeros(50),
        rng=np.random.default_rng(0),
        **KW,
    )
    agri = land.urban_start == False  # noqa: E712
    np.testing.assert_array_equal(land.capacity[agri], before[agri])


def test_profit_maximising_density_rises_with_value():
    lo, hi = small_land(seed=3), small_land(seed=3)
    for land, v in ((lo, 35e6), (hi, 60e6)):
        land.capacity[:] = 0
        land.occupancy[:] = 0
        land.land_use[:] = LandUse.AGRICULTURAL
        develop(
            land,
            np.full(50, v),
            households=10_000,
            distance_to_urban_km=np.zeros(50),
            rng=np.random.default_rng(0),
            **KW,
        )
    d_lo = lo.capacity[lo.capacity > 0].max()
    d_hi = hi.capacity[hi.capacity > 0].max()
    assert d_hi > d_lo


@settings(max_examples=100, deadline=None)
@given(
    st.integers(0, 80),
    st.integers(0, 400),
    st.integers(1, 100),
    st.integers(0, 2**32 - 1),
)
def test_projects_in_order_partial_sort_takes_the_full_orders_prefix(n, target, first, seed):
    from metrosim.market import _projects_in_order

    rng = np.random.default_rng(seed)
    keys = rng.integers(-3, 4, n).astype(float)  # many ties
    cand = np.sort(rng.choice(10 * n + 1, n, replace=False))
    gain = rng.random(n) * 12.0 - 2.0  # some projects add no dwelling
    kw = dict(cell_area_ha=6.25, scale=10, target=target)
    full = _projects_in_order(keys, cand, gain, first=max(n, 1), **kw)
    part = _projects_in_order(keys, cand, gain, first=first, **kw)
    n_take = int(np.searchsorted(full[2], target) + 1)
    for a, b in zip(full, part, strict=True):
        np.testing.assert_array_equal(a[:n_take], b[:n_take])
    if full[2].size and full[2][-1] < target:
        assert part[0].size == full[0].size  # short of the target: every project


def numpy_candidates(land, value, dist, *, cost_base, cpd, farm, serv, min_d, prem, scale, area):
    """The numpy form of develop's candidate evaluation (the kernel must equal it bit for bit)."""
    agricultural = land.land_use == LandUse.AGRICULTURAL
    residential = (land.land_use >= LandUse.RES_LOW) & (land.land_use <= LandUse.RES_HIGH)
    sites = np.flatnonzero(land.developable & (agricultural | residential))
    cap = np.minimum(land.zoned_max_dw_ha[sites], land.plan_max_dw_ha[sites]).astype(np.float64)
    v = value[sites]
    d_star = np.clip((v - cost_base) / (2.0 * cpd), 0.0, cap)
    margin = v - cost_base - cpd * d_star
    d0 = land.capacity[sites] * scale / area
    green = agricultural[sites] & (d_star >= min_d) & (d_star > d0)
    p_green = (d_star - d0) * margin - farm - serv * dist[sites]
    dense = residential[sites] & (d_star > 1.25 * d0 + 1.0)
    p_dense = (d_star - d0) * margin - prem * d0 * v
    profit = np.where(green, p_green, np.where(dense, p_dense, -np.inf))
    cost = np.maximum((d_star - d0) * (cost_base + cpd * d_star), 1.0)
    pick = np.flatnonzero(np.isfinite(profit) & (profit > 0))
    return sites[pick], profit[pick], cost[pick], d_star[pick], d0[pick]


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 300), st.integers(0, 2**32 - 1))
def test_candidate_kernel_equals_numpy_form(n, seed):
    from metrosim._kernels.market import candidate_projects

    rng = np.random.default_rng(seed)
    uses = np.array(
        [
            LandUse.AGRICULTURAL,
            LandUse.RES_LOW,
            LandUse.RES_MEDIUM,
            LandUse.RES_HIGH,
            LandUse.JOBS,
            LandUse.PARK,
        ],
        dtype=np.uint8,
    )
    land = LandState(
        land_use=rng.choice(uses, n),
        developable=rng.random(n) < 0.8,
        zoned_max_dw_ha=rng.choice([0.0, 20.0, 60.0, 150.0], n).astype(np.float32),
        plan_max_dw_ha=rng.choice([np.inf, 0.0, 40.0], n).astype(np.float32),
        capacity=rng.integers(0, 60, n).astype(np.int32),
        occupancy=np.zeros((n, 5), dtype=np.int32),
        rent=np.ones(n),
        urban_start=np.zeros(n, dtype=bool),
    )
    value = rng.lognormal(17.5, 0.8, n)
    dist = rng.random(n) * 10.0
    kw = dict(
        cost_base=3.0e7, cpd=1.5e5, farm=2.0e8, serv=5.0e6, min_d=8.0, prem=0.3, scale=10, area=6.25
    )
    ref = numpy_candidates(land, value, dist, **kw)
    got = candidate_projects(
        land.land_use,
        land.developable,
        land.zoned_max_dw_ha,
        land.plan_max_dw_ha,
        land.capacity,
        value,
        dist,
        int(LandUse.AGRICULTURAL),
        int(LandUse.RES_LOW),
        int(LandUse.RES_HIGH),
        kw["cost_base"],
        kw["cpd"],
        kw["farm"],
        kw["serv"],
        kw["min_d"],
        kw["prem"],
        kw["scale"],
        kw["area"],
    )
    for a, b in zip(ref, got, strict=True):
        assert a.tobytes() == b.tobytes()


@settings(max_examples=40, deadline=None)
@given(st.integers(0, 50), st.integers(1, 40), st.integers(0, 2**32 - 1))
def test_hedonic_features_kernel_equals_column_stack(n_cells, n_pick, seed):
    from metrosim._kernels.market import hedonic_features

    rng = np.random.default_rng(seed)
    n = max(n_cells, 1)
    commute, service, green = rng.random(n) * 90, rng.random(n) * 5, rng.normal(size=n)
    mix = rng.dirichlet(np.ones(5), size=n)
    cells = rng.integers(0, n, size=n_pick if n_cells else 0)
    want = np.column_stack(
        [commute[cells], service[cells], green[cells], mix[cells, 0], mix[cells, 4]]
    )
    got = hedonic_features(cells, commute, service, green, mix, 0, 4, np.empty((cells.size, 5)))
    assert got.shape == (cells.size, 5)
    np.testing.assert_array_equal(got, want)
