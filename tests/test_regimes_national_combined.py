"""National master plan (greenbelt, plan authority, municipal say) and combined authority."""

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim import MetroModel, Scenario, ScenarioError
from metrosim.cli import COMPARE_PRESETS, main
from metrosim.experiments import replicate_seeds
from metrosim.governments.combined import combined_transfer, horizon_years, review_membership
from metrosim.governments.national import greenbelt_cells, zoning_in_force
from metrosim.land import LandUse
from metrosim.scenario import preset_names

COARSE = Scenario(cell_size_m=1000.0, scale=50)
CA = COARSE.replace(combined_authority_share=0.05, combined_authority_grant=50e9)
#: Las Condes, Vitacura, Providencia, Lo Barnechea: the richest communes per head.
RICH = (13114, 13132, 13123, 13115)

NEW_LEVERS = {
    # name: (a good value, a bad value, what the error names)
    "plan_authority": ("national", "federal", "allowed values"),
    "greenbelt_width_km": (5.0, -1.0, "out of range"),
    "municipal_zoning_say": (0.2, 1.5, "out of range"),
    "combined_authority_share": (0.1, 0.9, "out of range"),
    "combined_authority_grant": (1e9, -5.0, "out of range"),
    "combined_authority_rule": ("need", "equal", "allowed values"),
    "combined_authority_switch_cost": (0.1, 20.0, "out of range"),
    "plan_scope": ("combined_authority", "nation", "allowed values"),
}


# --- levers ---------------------------------------------------------------------------------
@pytest.mark.parametrize("name", sorted(NEW_LEVERS))
def test_each_new_lever_is_settable_alone_and_validated(name):
    good, bad, message = NEW_LEVERS[name]
    s = Scenario.load("fragmented").replace(**{name: good})
    assert getattr(s, name) == good
    # only that field differs from the preset
    diff = {k for k, v in s.to_dict().items() if Scenario.load("fragmented").to_dict()[k] != v}
    assert diff == {name}
    raw = f'"{good}"' if isinstance(good, str) else str(good)
    assert getattr(Scenario().with_overrides([f"{name}={raw}"]), name) == good
    with pytest.raises(ScenarioError, match=f"{name}.*{message}"):
        Scenario().replace(**{name: bad})


@pytest.mark.parametrize(
    "lever", ["greenbelt_width_km", "municipal_zoning_say", "plan_authority", "plan_scope"]
)
def test_each_new_lever_runs_alone(lever):
    value = NEW_LEVERS[lever][0]
    m = MetroModel(COARSE.replace(**{lever: value}), rng=2)
    m.step()
    assert m.land.capacity.sum() > 0
    m.land.check()


def test_levers_are_levers_and_defaults_change_nothing():
    levers = set(Scenario.levers())
    assert set(NEW_LEVERS) - {"combined_authority_switch_cost"} <= levers
    s = Scenario()
    assert s.greenbelt_width_km == 0 and s.municipal_zoning_say == 1
    assert s.plan_authority == "regional" and s.plan_scope == "region"
    assert s.combined_authority_share == 0 and s.combined_authority_grant == 0


# --- greenbelt ------------------------------------------------------------------------------
def test_greenbelt_is_the_ring_just_outside_the_line():
    line = np.zeros((9, 9), dtype=bool)
    line[3:6, 3:6] = True
    region = np.ones_like(line)
    belt = greenbelt_cells(line, region, line, width_km=1.0, cell_size_m=1000.0).reshape(9, 9)
    assert not (belt & line).any()
    # every belt cell is within 1 km of the line; every cell within 1 km is in the belt
    assert belt.sum() == 12  # the four sides of the 3x3 square (diagonals are 1.41 km away)
    wider = greenbelt_cells(line, region, line, width_km=2.0, cell_size_m=1000.0).reshape(9, 9)
    assert (wider >= belt).all() and wider.sum() > belt.sum()
    none = greenbelt_cells(line, region, line, width_km=0.0, cell_size_m=1000.0)
    assert not none.any()


@pytest.mark.parametrize("seed", replicate_seeds(11, 3))
def test_greenbelt_cells_are_never_developed(seed):
    # the greenbelt alone, with the default sectoral ministries that build on cheap farmland
    m = MetroModel(COARSE.replace(greenbelt_width_km=4.0), rng=int(seed))
    belt = m.greenbelt
    assert belt.sum() > 50
    assert not (belt & m.land.urban_start).any()
    assert (m.land.land_use[belt] == LandUse.PROTECTED).sum() > 0.9 * belt.sum()
    uses, capacity = m.land.land_use[belt].copy(), m.land.capacity[belt].copy()
    for _ in range(5):
        m.step()
        assert (m.land.effective_cap()[belt] == 0).all()
    np.testing.assert_array_equal(m.land.land_use[belt], uses)
    np.testing.assert_array_equal(m.land.capacity[belt], capacity)
    assert m.yearly["dwellings_built"] > 0  # the city still grows, elsewhere


# --- national authority and municipal say -----------------------------------------------------
def test_national_plan_needs_no_vote_and_aligns_ministries():
    base = COARSE.replace(growth_boundary="urban_limit_2017", competence_transfer="negotiated")
    regional = MetroModel(base.replace(committee_majority_land_use=1.0), rng=1)
    national = MetroModel(
        base.replace(committee_majority_land_use=1.0, plan_authority="national"), rng=1
    )
    assert not regional.plan_in_force and not regional.ministries_aligned
    assert national.plan_in_force and math.isnan(national.plan_vote_share)
    assert national.ministries_aligned


def test_zoning_in_force_blends_the_national_standard_and_the_communes_cap():
    own = np.array([10.0, 150.0, 600.0])
    np.testing.assert_array_equal(zoning_in_force(own, 150.0, 1.0), own)
    np.testing.assert_allclose(zoning_in_force(own, 150.0, 0.0), 150.0)
    half = zoning_in_force(own, 150.0, 0.5)
    assert (np.abs(np.log(half / 150.0)) <= np.abs(np.log(own / 150.0)) + 1e-12).all()


def test_without_municipal_say_every_commune_has_the_national_standard():
    m = MetroModel(COARSE.replace(municipal_zoning_say=0.0, zoning_speed=0.5), rng=4)
    for _ in range(3):
        m.step()
    zoned = m.land.developable & (m.commune_of_cell >= 0)
    assert np.ptp(m.density_cap) > 1.0  # communes still want different caps ...
    np.testing.assert_allclose(m.land.zoned_max_dw_ha[zoned], 150.0, rtol=1e-6)  # ... in vain


# --- combined authority: money --------------------------------------------------------------
@settings(max_examples=80, deadline=None)
@given(
    data=st.integers(1, 30).flatmap(
        lambda n: st.tuples(
            hnp.arrays(np.float64, n, elements=st.floats(0, 1e12)),
            hnp.arrays(np.float64, n, elements=st.floats(0, 1e7)),
            hnp.arrays(np.bool_, n),
            hnp.arrays(np.float64, n, elements=st.floats(0, 1)),
        )
    ),
    share=st.floats(0, 1),
    grant=st.floats(0, 1e12),
    rule=st.sampled_from(["per_capita", "need"]),
)
def test_combined_fund_conserves_money(data, share, grant, rule):
    revenue, population, members, coverage = data
    t = combined_transfer(
        revenue,
        share,
        members,
        grant=grant,
        rule=rule,
        population=population,
        coverage=coverage,
    )
    assert (t.paid[~members] == 0).all() and (t.received[~members] == 0).all()
    assert (t.received >= 0).all()
    expected = math.fsum(t.paid) + grant if members.any() else 0.0
    assert math.fsum(t.received) == pytest.approx(expected, rel=1e-12, abs=1e-6)
    np.testing.assert_allclose(t.paid[members], share * revenue[members])


def test_combined_transfer_rejects_bad_input():
    with pytest.raises(ValueError, match="rule='equal'"):
        combined_transfer([1.0], 0.1, [True], rule="equal", population=[1.0])
    with pytest.raises(ValueError, match="needs coverage"):
        combined_transfer([1.0], 0.1, [True], rule="need", population=[1.0])
    with pytest.raises(ValueError, match="share=2"):
        combined_transfer([1.0], 2, [True], population=[1.0])


@settings(max_examples=4, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    share=st.floats(0, 0.5),
    grant=st.floats(0, 2e11),
    rule=st.sampled_from(["per_capita", "need"]),
)
def test_money_is_conserved_through_the_combined_authority(seed, share, grant, rule):
    s = COARSE.replace(
        combined_authority_share=share,
        combined_authority_grant=grant,
        combined_authority_rule=rule,
        metro_fund_share=0.05,
    )
    m = MetroModel(s, rng=seed)
    for _ in range(2):
        m.step()
        f = m.finance
        grant_in = grant if m.ca_members.any() and (share > 0 or grant > 0) else 0.0
        paid, received = f["combined_authority_paid"], f["combined_authority_received"]
        assert math.fsum(received) == pytest.approx(math.fsum(paid) + grant_in, rel=1e-9)
        assert (paid[~m.ca_members] == 0).all() and (received[~m.ca_members] == 0).all()
        total = f["budget"].sum() + f["metro_fund_paid"].sum()
        assert total == pytest.approx(f["revenue_gross"].sum() + grant_in, rel=1e-9)


# --- combined authority: membership as a decision ---------------------------------------------
def test_horizon_counts_the_term_then_discounts_the_next():
    assert horizon_years(4, 4, 0.0) == 4
    assert horizon_years(1, 4, 1.0) == 5
    assert horizon_years(2, 4, 0.6) < horizon_years(2, 4, 0.9)


def _review(share, *, grant=0.0, switch_cost=0.0, members=None, eligible=None):
    revenue = np.array([10.0, 10.0, 10.0, 100.0])  # the last commune is rich, same population
    n = revenue.size
    return review_membership(
        np.zeros(n, bool) if members is None else members,
        np.arange(n),
        revenue=revenue,
        budget=revenue,
        share=share,
        grant=grant,
        rule="per_capita",
        population=np.ones(n),
        coverage=None,
        horizon=4.0,
        switch_cost=switch_cost,
        eligible=np.ones(n, bool) if eligible is None else eligible,
    )


def test_a_pool_that_is_costly_to_the_rich_commune_loses_it():
    everyone = np.ones(4, dtype=bool)
    # a grant worth more than what the rich commune pays in keeps it in
    assert _review(0.05, grant=40.0, members=everyone).all()
    # a higher levy makes it a net payer: it leaves, the others stay
    assert _review(0.5, grant=40.0, members=everyone).tolist() == [True, True, True, False]


def test_no_pool_forms_without_a_grant_when_nobody_gains_first():
    # without a grant the first joiner would only pay itself back: nobody moves first
    assert not _review(0.2).any()
    assert _review(0.2, grant=4.0).any()


def test_switching_cost_gives_hysteresis_and_eligibility_vetoes():
    everyone = np.ones(4, dtype=bool)
    kept = _review(0.5, grant=40.0, members=everyone, switch_cost=100.0)
    assert kept.all()  # the rich commune loses, but not enough to pay the cost of leaving
    assert not _review(0.05, grant=40.0, switch_cost=100.0).any()  # nor enough to join
    veto = np.array([True, True, True, False])
    assert _review(0.05, grant=40.0, members=everyone, eligible=veto).tolist() == veto.tolist()


def _rich_members(scenario, seed, years=3):
    m = MetroModel(scenario, rng=int(seed))
    counts = []
    for _ in range(years):
        m.step()
        counts.append(int(m.ca_members.sum()))
    rich = [m.city.commune_index(c) for c in RICH]
    return int(m.ca_members[rich].sum()), counts


@pytest.mark.parametrize("seed", replicate_seeds(5, 3))
def test_rich_communes_leave_when_the_pool_costs_them_more(seed):
    cheap, counts = _rich_members(CA.replace(combined_authority_share=0.01), seed)
    dear, dear_counts = _rich_members(CA.replace(combined_authority_share=0.4), seed)
    assert counts[0] > 0  # membership forms by the communes' own choice, from none
    assert cheap > dear
    assert dear == 0
    # with the costly pool, members that joined early leave as poorer communes join after them
    assert dear_counts[-1] < dear_counts[0]


def test_membership_is_recorded_per_commune_and_year():
    from metrosim.runner import run

    result = run(CA, seed=3, years=2)
    assert "combined_authority_member" in result.municipal.columns
    by_year = result.municipal.groupby("year")["combined_authority_member"].sum()
    np.testing.assert_array_equal(
        by_year.to_numpy(), result.yearly.set_index("year")["combined_authority_members"]
    )
    assert result.yearly["combined_authority_members"].iloc[0] == 0  # 2017: nobody yet
    assert result.yearly["combined_authority_members"].iloc[-1] > 0


def test_joint_plan_applies_in_member_communes_only():
    s = CA.replace(growth_boundary="urban_limit_2017", plan_scope="combined_authority")
    m = MetroModel(s, rng=6)
    assert m.plan_in_force
    assert np.isinf(m.land.plan_max_dw_ha).all()  # no members yet: the plan applies nowhere
    m.step()
    outside = m._plan_base == 0
    member_cell = m.ca_members[np.maximum(m.commune_of_cell, 0)] & (m.commune_of_cell >= 0)
    assert (m.land.plan_max_dw_ha[outside & member_cell] == 0).all()
    assert np.isinf(m.land.plan_max_dw_ha[outside & ~member_cell & ~m.greenbelt]).all()
    # a commune the joint plan would mostly close never joins
    assert not (m.ca_members & ~m.ca_eligible).any()
    assert (~m.ca_eligible).any()


# --- presets --------------------------------------------------------------------------------
def test_presets_exist_and_the_default_compare_set_is_unchanged():
    assert {"national_master_plan", "combined_authority"} <= set(preset_names())
    assert COMPARE_PRESETS == (
        "fragmented",
        "coordinated",
        "metropolitan_authority",
        "voluntary_associations",
    )


@pytest.mark.parametrize("preset", ["national_master_plan", "combined_authority"])
def test_presets_run_a_few_years(preset):
    s = Scenario.load(preset).replace(cell_size_m=2000.0, scale=50)
    m = MetroModel(s, rng=1)
    belt_capacity = m.land.capacity[m.greenbelt].copy()
    for _ in range(3):
        m.step()
        m.land.check()
    if preset == "national_master_plan":
        assert m.plan_in_force and m.ministries_aligned and m.greenbelt.any()
        np.testing.assert_array_equal(m.land.capacity[m.greenbelt], belt_capacity)
        assert (m.land.effective_cap()[m.greenbelt] == 0).all()
    else:
        assert 0 < m.yearly["combined_authority_members"] < m.n_communes
        assert m.yearly["combined_authority_fund"] > 0


def test_run_prints_who_joins(tmp_path, capsys):
    code = main(
        [
            "run",
            "combined_authority",
            "--years",
            "2",
            "--scale",
            "50",
            "--cell-size",
            "2000",
            "--out",
            str(tmp_path / "ca"),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "combined authority:" in out and "members" in out


@pytest.mark.parametrize("preset", ["national_master_plan", "combined_authority"])
def test_dashboard_can_pick_the_new_presets(preset):
    from metrosim.dashboard.i18n import lever_label
    from metrosim.dashboard.state import Pane, lever_controls

    pane = Pane("A", "fragmented", seed=1, cell_size_m=2000.0, scale=50)
    pane.set_regime(preset)
    assert pane.scenario.name == preset
    pane.step()
    assert pane.year == 2018
    names = {c.name for c in lever_controls()}
    assert {"greenbelt_width_km", "plan_scope", "combined_authority_share"} <= names
    assert lever_label("greenbelt_width_km", "es") != "greenbelt_width_km"


def test_membership_is_reproducible_by_seed():
    from metrosim.runner import run

    s = CA.replace(combined_authority_share=0.2)
    a, b = run(s, seed=9, years=2), run(s, seed=9, years=2)
    np.testing.assert_array_equal(
        a.municipal["combined_authority_member"], b.municipal["combined_authority_member"]
    )
    assert a.yearly.equals(b.yearly)
