import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim import MetroModel, Scenario, ScenarioError
from metrosim.experiments import replicate_seeds
from metrosim.governments.municipal import best_site_per_commune, election, zoning_update

COARSE = Scenario(cell_size_m=1000.0, scale=50)


@settings(max_examples=6, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    fcm_rate=st.floats(0, 1),
    metro=st.floats(0, 0.5),
    assoc=st.floats(0, 1),
    fcm=st.booleans(),
)
def test_money_is_conserved_through_the_budget_year(seed, fcm_rate, metro, assoc, fcm):
    s = COARSE.replace(
        fcm_property_rate=fcm_rate,
        metro_fund_share=metro,
        association_members="13115,13132,13114",
        association_share=assoc,
        fcm_enabled=fcm,
    )
    m = MetroModel(s, rng=seed)
    m.step()
    f = m.finance
    gross = f["revenue_gross"].sum()
    assert f["budget"].sum() + f["metro_fund_paid"].sum() == pytest.approx(gross, rel=1e-9)
    assert f["fcm_paid"].sum() == pytest.approx(f["fcm_received"].sum(), rel=1e-9)
    assert f["association_paid"].sum() == pytest.approx(f["association_received"].sum(), rel=1e-9)
    assert (f["budget"] >= 0).all()
    assert (m.savings >= -1e-6).all()


def test_no_new_housing_outside_the_boundary_when_plan_and_ministries_align():
    s = Scenario.load("metropolitan_authority").replace(cell_size_m=1000.0, scale=50)
    m = MetroModel(s, rng=3)
    outside = m.land.plan_max_dw_ha == 0
    before = m.land.capacity[outside].copy()
    for _ in range(6):
        m.step()
        assert (m.land.effective_cap()[outside] == 0).all()
    np.testing.assert_array_equal(m.land.capacity[outside], before)


def test_zoning_caps_follow_the_stated_motives():
    cap = np.full(3, 100.0)
    out = zoning_update(
        cap,
        tax_per_dwelling=np.array([3e6, 3e6, 1e5]),
        cost_per_household=1e6,
        rich_share=np.array([0.0, 0.9, 0.0]),
        homevoter_weight=2.0,
        speed=0.1,
        low=10,
        high=600,
    )
    assert out[0] > 100 > out[1] and out[2] < 100


def test_election_rewards_coverage_and_is_seeded():
    a = election(
        np.array([0.2, -0.2]), np.zeros(2), sensitivity=5, noise=0.01, rng=np.random.default_rng(1)
    )
    b = election(
        np.array([0.2, -0.2]), np.zeros(2), sensitivity=5, noise=0.01, rng=np.random.default_rng(1)
    )
    np.testing.assert_array_equal(a[0], b[0])
    assert a[1].tolist() == [True, False]


def test_unknown_association_member_is_a_clear_error():
    with pytest.raises(ScenarioError, match="'99999' is not a commune code"):
        MetroModel(COARSE.replace(association_members="13114,99999", association_share=0.1))


def test_municipal_table_has_finance_and_services():
    m = MetroModel(COARSE, rng=0)
    m.step()
    for col in (
        "revenue_own",
        "fcm_paid",
        "fcm_received",
        "budget",
        "budget_per_capita",
        "schools",
        "clinics",
        "park_ha",
        "green_m2_per_person",
        "density_cap",
    ):
        assert np.isfinite(m.municipal[col]).all(), col
    for col in (
        "budget_per_capita_ratio_max_min",
        "budget_per_capita_gini",
        "budget_per_capita_ratio_max_min_pre",
        "budget_per_capita_gini_pre",
    ):
        assert np.isfinite(m.yearly[col]), col


@pytest.mark.slow
def test_fcm_narrows_the_per_capita_budget_spread_over_seeds():
    diffs = []
    for seed in replicate_seeds(2, 4):
        spread = {}
        for fcm in (True, False):
            m = MetroModel(COARSE.replace(fcm_enabled=fcm), rng=seed)
            for _ in range(3):
                m.step()
            spread[fcm] = m.yearly["budget_per_capita_gini"]
        diffs.append(spread[False] - spread[True])
    assert min(diffs) > 0, diffs


def test_yearly_table_carries_the_outcome_metrics():
    m = MetroModel(COARSE, rng=1)
    m.step()
    for col in (
        "dissimilarity_q1_q5",
        "multigroup_dissimilarity",
        "theil_h",
        "theil_h_between",
        "theil_h_within",
        "isolation_q1",
        "isolation_q5",
        "spatial_theil_h",
        "morans_i_income",
        "urban_patches",
        "edge_density",
        "compactness",
        "coverage_school",
        "coverage_clinic",
        "coverage_park",
        "coverage_park_q1",
        "coverage_park_q5",
        "green_m2_per_person_gini",
    ):
        assert np.isfinite(m.yearly[col]), col
    y = m.yearly
    assert y["theil_h"] == pytest.approx(y["theil_h_between"] + y["theil_h_within"])
    assert 0 <= y["dissimilarity_q1_q5"] <= 1 and y["morans_i_income"] > 0


def test_metro_extension_and_fiscal_decentralisation_act_through_the_model():
    m = MetroModel(COARSE.replace(metro_interval=1), rng=2)
    stations = sum(len(c) for c, _ in m.metro_lines.values())
    m.step()
    assert m.metro_extensions == 1
    assert sum(len(c) for c, _ in m.metro_lines.values()) == stations + 1
    lo = MetroModel(COARSE.replace(fiscal_decentralisation=0.5), rng=2)
    hi = MetroModel(COARSE.replace(fiscal_decentralisation=2.0), rng=2)
    lo.step()
    hi.step()
    assert hi.finance["revenue_gross"].sum() == pytest.approx(
        4 * lo.finance["revenue_gross"].sum(), rel=1e-9
    )


def test_plan_density_floor_binds_municipal_caps_inside_the_boundary_only():
    s = Scenario.load("metropolitan_authority").replace(
        cell_size_m=1000.0, scale=50, plan_density_floor_dw_ha=120.0, homevoter_weight=20.0
    )
    m = MetroModel(s, rng=4)
    m.step()
    land = m.land
    inside = land.developable & (land.plan_max_dw_ha > 0) & (m.commune_of_cell >= 0)
    outside = land.developable & (land.plan_max_dw_ha == 0)
    assert (land.zoned_max_dw_ha[inside] >= 120.0).all()
    assert (land.effective_cap()[outside] == 0).all()


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 300).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=st.sampled_from([-1.0, 0.0, 1.0, 2.0, np.nan])),
            hnp.arrays(np.int16, n, elements=st.integers(-1, 5)),
        )
    )
)
def test_best_site_is_the_first_highest_positive_score_of_each_commune(data):
    score, commune = data
    got = best_site_per_commune(score, commune, 6)
    for c in range(6):
        ok = np.flatnonzero((commune == c) & (score > 0))
        if ok.size == 0:
            assert got[c] == -1
        else:
            assert got[c] == ok[np.argmax(score[ok])]  # argmax: first of the highest


@settings(max_examples=80, deadline=None)
@given(
    st.integers(0, 60),
    st.integers(-1, 70),
    st.sampled_from(["least_cost", "accessible"]),
    st.booleans(),
    st.integers(0, 2**32 - 1),
)
def test_social_housing_sites_limit_is_a_prefix_of_the_full_order(n, limit, siting, nans, seed):
    from metrosim.governments.ministries import social_housing_sites

    rng = np.random.default_rng(seed)
    cand = rng.random(n) < 0.7
    price = rng.integers(0, 5, n).astype(float)  # many ties
    commute = rng.integers(0, 5, n).astype(float)
    if nans and n:
        price[rng.random(n) < 0.2] = np.nan
        commute[rng.random(n) < 0.2] = np.nan
    full = social_housing_sites(cand, price, commute, siting)
    assert sorted(full.tolist()) == np.flatnonzero(cand).tolist()
    got = social_housing_sites(cand, price, commute, siting, limit=limit)
    np.testing.assert_array_equal(got, full[: max(limit, 0)])


@settings(max_examples=80, deadline=None)
@given(
    st.integers(1, 60),
    st.integers(1, 6),
    st.sampled_from([0.0, 0.3, 0.5, 1.0]),
    st.sampled_from(["int64", "float64"]),
    st.integers(0, 2**32 - 1),
)
def test_best_sites_equals_site_scores_then_best_site(n, n_communes, p, dtype, seed):
    from metrosim.governments.municipal import best_sites, site_scores

    rng = np.random.default_rng(seed)
    unc = rng.integers(0, 5, n).astype(dtype)  # ties
    hh = (unc + rng.integers(0, 5, n)).astype(dtype)
    commune = rng.integers(-1, n_communes, n).astype(np.int32)
    score = site_scores(unc, hh, p)
    ref = best_site_per_commune(score, commune, n_communes)
    sites, top = best_sites(unc, hh, p, commune, n_communes)
    np.testing.assert_array_equal(sites, ref)
    ref_top = np.where(ref >= 0, score[np.maximum(ref, 0)], 0.0)
    assert top.tobytes() == ref_top.tobytes()


@settings(max_examples=120, deadline=None)
@given(
    st.integers(1, 40),
    st.integers(1, 40),
    st.integers(0, 6),
    st.integers(0, 7),
    st.integers(0, 50),
    st.integers(0, 2**32 - 1),
)
def test_corridor_band_is_the_iterated_cross_dilation(ny, nx, band, direction, length, seed):
    from scipy.ndimage import binary_dilation

    from metrosim.governments.ministries import DIRECTIONS, corridor_band, corridor_cells

    rng = np.random.default_rng(seed)
    origin = int(rng.integers(ny * nx))
    line = corridor_cells((ny, nx), origin, DIRECTIONS[direction], length)
    full = np.zeros((ny, nx), dtype=bool)
    full.flat[line] = True
    if band:
        full = binary_dilation(full, iterations=band)
    rows, cols, mask = corridor_band((ny, nx), line, band)
    got = np.zeros((ny, nx), dtype=bool)
    got[rows, cols] = mask
    np.testing.assert_array_equal(got, full)
    # the window's values in C order are the full mask's: the same float sum, bit for bit
    w = rng.random((ny, nx)) * 10.0 ** rng.integers(-3, 6, (ny, nx))
    assert w[rows, cols][mask].sum() == w[full].sum()


def _revenue_bases_numpy(commune, occupancy, capacity, value, jobs, n, scale, p):
    """revenue_bases as numpy operations (the reference the kernel must equal bit for bit)."""
    hs, exemption = p["household_size"], p["exemption_value"]
    inside = commune >= 0
    built = np.flatnonzero(inside & (capacity > 0))
    c = commune[built]
    dwellings = capacity[built].astype(np.float64) * scale
    v = value[built]
    taxable = v > exemption
    tax_dw = np.bincount(c, weights=np.where(taxable, dwellings * v, 0.0), minlength=n)
    exempt = np.bincount(c, weights=np.where(taxable, 0.0, dwellings), minlength=n)
    with_jobs = np.flatnonzero(inside & (jobs != 0))
    job_sum = np.bincount(commune[with_jobs], weights=jobs[with_jobs], minlength=n)
    occ = occupancy[built].astype(np.float64) * scale
    cars = np.bincount(c, weights=occ @ p["cars_per_household"], minlength=n)
    hh = np.bincount(c, weights=occ.sum(axis=1), minlength=n)
    poor = np.bincount(c, weights=occ[:, 0], minlength=n) * hs
    return (
        p["property_tax_rate"] * tax_dw + p["tax_per_job"] * job_sum,
        cars * p["permit_fee"],
        p["licence_per_job"] * job_sum,
        exempt,
        poor,
        hh * hs,
    )


@settings(max_examples=60, deadline=None)
@given(
    n=st.integers(1, 400),
    n_communes=st.integers(1, 6),
    scale=st.integers(1, 50),
    seed=st.integers(0, 2**32 - 1),
)
def test_revenue_bases_equals_its_numpy_sums_bit_for_bit(n, n_communes, scale, seed):
    from metrosim.governments.municipal import revenue_bases

    rng = np.random.default_rng(seed)
    commune = rng.integers(-1, n_communes, n).astype(np.int32)
    capacity = (rng.integers(0, 40, n) * (rng.random(n) < 0.6)).astype(np.int32)
    occupancy = np.zeros((n, 5), dtype=np.int32)
    for i in range(n):
        occupancy[i] = rng.multinomial(rng.integers(0, capacity[i] + 1), np.full(5, 0.2))
    value = rng.lognormal(17.0, 1.0, n)
    value[rng.random(n) < 0.1] = 3e7  # exactly at the exemption
    jobs = np.where(rng.random(n) < 0.4, rng.random(n) * 100, 0.0)
    cars = np.linspace(0.3, 1.4, 5)
    args = dict(
        n_communes=n_communes,
        scale=scale,
        household_size=3.1,
        property_tax_rate=0.011,
        exemption_value=3e7,
        tax_per_job=1.7e5,
        licence_per_job=9e4,
        cars_per_household=cars,
        permit_fee=1.3e5,
    )
    got = revenue_bases(commune, occupancy, capacity, value, jobs, **args)
    want = _revenue_bases_numpy(commune, occupancy, capacity, value, jobs, n_communes, scale, args)
    for g, w in zip(got, want, strict=True):
        assert g.tobytes() == w.tobytes()


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 400), n_communes=st.integers(1, 6), seed=st.integers(0, 2**32 - 1))
def test_dwellings_by_region_equals_bincount_sums(n, n_communes, seed):
    from metrosim._kernels.regions import dwellings_by_region

    rng = np.random.default_rng(seed)
    commune = rng.integers(-1, n_communes, n).astype(np.int32)
    capacity = (rng.integers(0, 40, n) * (rng.random(n) < 0.6)).astype(np.int32)
    occupancy = (rng.random((n, 5)) * capacity[:, None] / 5).astype(np.int32)
    scale = float(rng.integers(1, 50)) * 1.1
    dw, groups = dwellings_by_region(commune, capacity, occupancy, scale, n_communes)
    built = np.flatnonzero((commune >= 0) & (capacity > 0))
    c = commune[built]
    want_dw = np.bincount(c, weights=capacity[built] * scale, minlength=n_communes)
    assert dw.tobytes() == want_dw.tobytes()
    for g in range(5):
        want = np.bincount(c, weights=occupancy[built, g], minlength=n_communes)
        np.testing.assert_array_equal(groups[:, g], want)
