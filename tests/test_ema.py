"""EMA Workbench adapter: parameters from the parameter table, runs equal to metrosim.run,
reproducible seeds, clear errors, PRIM on the results."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

ema = pytest.importorskip("metrosim.experiments.ema")
ema_workbench = pytest.importorskip("ema_workbench")

import metrosim  # noqa: E402
from metrosim.scenario import Scenario  # noqa: E402

FIELDS = {f.name: f for f in dataclasses.fields(Scenario)}
TINY = {"cell_size_m": 2000.0, "scale": 50}
#: levers that can be sampled from the table alone (free text needs its values)
SAMPLEABLE_LEVERS = [n for n in Scenario.levers() if n != "association_members"]


def _spec(name):
    return FIELDS[name].metadata["spec"]


def _check_parameter(p, name, base):
    spec = _spec(name)
    kind = str(FIELDS[name].type)
    assert p.name == name
    if kind == "bool":
        assert isinstance(p, ema_workbench.BooleanParameter)
        assert sorted(c.value for c in p.categories) == [False, True]
    elif kind == "str":
        assert isinstance(p, ema_workbench.CategoricalParameter)
        assert not isinstance(p, ema_workbench.BooleanParameter)
        assert tuple(c.value for c in p.categories) == spec.choices
    elif kind == "int":
        assert isinstance(p, ema_workbench.IntegerParameter)
        assert not isinstance(p, ema_workbench.CategoricalParameter)
        assert (p.lower_bound, p.upper_bound) == (spec.low, spec.high)
        assert isinstance(p.lower_bound, int) and isinstance(p.upper_bound, int)
    else:
        assert isinstance(p, ema_workbench.RealParameter)
        assert (p.lower_bound, p.upper_bound) == (spec.low, spec.high)
    assert p.default == getattr(base, name)


# --- parameters from the table ----------------------------------------------------------------
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    levers=st.lists(st.sampled_from(SAMPLEABLE_LEVERS), unique=True, max_size=6),
    uncertainties=st.lists(st.sampled_from(Scenario.uncertainties()), unique=True, max_size=8),
)
def test_parameters_match_the_parameter_table_for_any_subset(levers, uncertainties):
    base = Scenario.load("fragmented")
    m = ema.ema_model(base, levers=levers, uncertainties=uncertainties, **TINY)
    assert [p.name for p in m.levers] == levers
    assert [p.name for p in m.uncertainties] == uncertainties
    fixed = base.replace(**TINY)
    for p in m.levers:
        _check_parameter(p, p.name, fixed)
    for p in m.uncertainties:
        _check_parameter(p, p.name, fixed)
    assert [o.name for o in m.outcomes] == list(ema.DEFAULT_OUTCOMES)


def test_ranges_and_values_can_be_narrowed_inside_the_table():
    m = ema.ema_model(
        levers={
            "growth_boundary": None,
            "election_cycle": (2, 6),
            "association_members": ["", "13115,13132,13114"],
            "fcm_enabled": [True, False],
        },
        uncertainties={"beta_commute": (-0.06, -0.01), "n_alternatives": (10, 40)},
        outcomes=["unhoused_households"],
        series=["urban_area_ha"],
    )
    assert (m.levers["election_cycle"].lower_bound, m.levers["election_cycle"].upper_bound) == (
        2,
        6,
    )
    assert [c.value for c in m.levers["association_members"].categories] == [
        "",
        "13115,13132,13114",
    ]
    assert isinstance(m.levers["fcm_enabled"], ema_workbench.BooleanParameter)
    assert (
        m.uncertainties["beta_commute"].lower_bound,
        m.uncertainties["beta_commute"].upper_bound,
    ) == (
        -0.06,
        -0.01,
    )
    assert isinstance(m.uncertainties["n_alternatives"], ema_workbench.IntegerParameter)
    assert [o.name for o in m.outcomes] == ["unhoused_households", "urban_area_ha_by_year"]
    assert isinstance(m.outcomes["urban_area_ha_by_year"], ema_workbench.TimeSeriesOutcome)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (
            {"levers": ["beta_commute"]},
            "lever 'beta_commute' is an uncertainty, not a lever; allowed levers: .*growth",
        ),
        (
            {"uncertainties": ["growth_boundary"]},
            "is a lever, not an uncertainty; allowed uncertainties: household_size",
        ),
        ({"uncertainties": ["scale"]}, "'scale' is a setting, not an uncertainty"),
        (
            {"uncertainties": ["beta_comute"]},
            "'beta_comute' is not a Scenario field; allowed uncertainties:",
        ),
        ({"uncertainties": "beta_commute"}, "not the string"),
        (
            {"uncertainties": {"beta_commute": (-0.01, 1.0)}},
            r"'beta_commute' = 1.0 is out of range; allowed: -10.0 <= beta_commute <= 0.0",
        ),
        (
            {"uncertainties": {"beta_commute": (-0.01, -0.05)}},
            "low = -0.01 must be below high = -0.05",
        ),
        (
            {"uncertainties": {"beta_commute": (-0.05,)}},
            r"expected \(low, high\) within \[-10.0, 0.0\]",
        ),
        (
            {"uncertainties": {"n_alternatives": (1.5, 4)}},
            "'n_alternatives' = 1.5 has type float; expected int",
        ),
        (
            {"levers": {"growth_boundary": ["none", "everywhere"]}},
            "'everywhere' is not allowed; allowed values: 'none', 'urban_limit_2017'",
        ),
        ({"levers": {"growth_boundary": ["none"]}}, "two or more distinct values"),
        (
            {"levers": ["association_members"]},
            "'association_members' is free text: give its values",
        ),
        ({"outcomes": ["sprawl"]}, "outcome 'sprawl' is not a yearly outcome; allowed: households"),
        ({"series": ["sprawl"]}, "series 'sprawl' is not a yearly outcome"),
        ({"outcomes": [], "series": []}, "no outcomes"),
        ({"uncertainties": ["beta_commute"], "beta_commute": -0.02}, "beta_commute: both fixed"),
        ({"scale": 0}, r"'scale' = 0 is out of range"),
        ({"nonsense": 1}, "unknown field 'nonsense'"),
        ({"years": -1}, "years = -1; allowed: an integer >= 0"),
        ({"replications": 0}, "replications = 0; allowed: None or an integer >= 1"),
        ({"base_seed": -3}, "base_seed = -3"),
        ({"name": "not an identifier"}, "a Python identifier"),
    ],
)
def test_bad_input_is_one_clear_error(kwargs, match):
    with pytest.raises(ValueError, match=match):
        ema.ema_model("fragmented", **kwargs)


def test_importing_metrosim_does_not_import_the_workbench():
    import subprocess
    import sys

    code = (
        "import sys, metrosim, metrosim.experiments; "
        "print('ema_workbench' in sys.modules, 'metrosim.experiments.ema' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["False", "False"]


# --- seeds ------------------------------------------------------------------------------------
@given(
    base=st.integers(0, 2**32 - 1),
    rep=st.integers(0, 100),
    x=st.floats(-10, 0, allow_nan=False),
)
def test_experiment_seed_is_deterministic_and_depends_on_its_inputs(base, rep, x):
    s = ema.experiment_seed(base, {"beta_commute": x, "formation_rate": 0.02}, rep)
    assert 0 <= s < 2**32
    # order of names and numpy scalar types do not matter
    assert s == ema.experiment_seed(
        base, {"formation_rate": np.float64(0.02), "beta_commute": x}, rep
    )
    assert s != ema.experiment_seed(base, {"beta_commute": x, "formation_rate": 0.021}, rep)
    assert s != ema.experiment_seed(base, {"beta_commute": x, "formation_rate": 0.02}, rep + 1)


# --- runs -------------------------------------------------------------------------------------
def _tiny_model(**kwargs):
    return ema.ema_model(
        "fragmented",
        levers=["growth_boundary"],
        uncertainties={"formation_rate": (0.01, 0.03), "beta_commute": (-0.06, -0.01)},
        outcomes=["urban_area_ha", "unhoused_households", "mean_rent"],
        series=["dwellings"],
        years=2,
        base_seed=7,
        **TINY,
        **kwargs,
    )


def _perform(model, scenarios=2):
    return ema_workbench.perform_experiments(
        model,
        scenarios=scenarios,
        policies=2,
        lever_sampling=ema_workbench.Samplers.FF,
        uncertainty_sampling_kwargs={"rng": 3},
        evaluator=ema_workbench.SequentialEvaluator(model),
    )


@pytest.mark.slow
def test_experiments_equal_metrosim_run_with_the_same_overrides_and_seed_and_rerun_identically():
    model = _tiny_model()
    experiments, outcomes = _perform(model)
    assert len(experiments) == 4
    assert set(experiments["growth_boundary"]) == {"none", "urban_limit_2017"}
    base = Scenario.load("fragmented").replace(**TINY)
    for i, row in experiments.iterrows():
        unc = {"formation_rate": row["formation_rate"], "beta_commute": row["beta_commute"]}
        seed = ema.experiment_seed(7, unc)
        scenario = base.replace(**unc, growth_boundary=str(row["growth_boundary"]))
        direct = metrosim.run(scenario, seed=seed, years=2).yearly
        for name in ("urban_area_ha", "unhoused_households", "mean_rent"):
            assert outcomes[name][i] == direct[name].iloc[-1], (i, name)
        np.testing.assert_array_equal(outcomes["dwellings_by_year"][i], direct["dwellings"])
    # the same design again: identical experiments and outcomes
    experiments2, outcomes2 = _perform(_tiny_model())
    pd.testing.assert_frame_equal(
        experiments.drop(columns=["scenario", "policy"]),
        experiments2.drop(columns=["scenario", "policy"]),
    )
    assert outcomes.keys() == outcomes2.keys()
    for k in outcomes:
        np.testing.assert_array_equal(outcomes[k], outcomes2[k])
    # PRIM runs on these results
    cases = outcomes["mean_rent"] > np.median(outcomes["mean_rent"])
    box = ema.prim(experiments, cases, mass_min=0.25).find_box()
    assert 0.0 <= box.coverage <= 1.0 and 0.0 <= box.density <= 1.0


@pytest.mark.slow
def test_replicator_model_reports_the_mean_over_replicate_seeds():
    model = _tiny_model(replications=2)
    assert isinstance(model, ema_workbench.ReplicatorModel)
    experiments, outcomes = ema_workbench.perform_experiments(
        model,
        scenarios=1,
        uncertainty_sampling_kwargs={"rng": 5},
        policies=[ema_workbench.Sample(name="none", growth_boundary="none")],
    )
    row = experiments.iloc[0]
    unc = {"formation_rate": row["formation_rate"], "beta_commute": row["beta_commute"]}
    scenario = Scenario.load("fragmented").replace(**TINY, **unc)
    runs = [
        metrosim.run(scenario, seed=ema.experiment_seed(7, unc, rep), years=2).yearly
        for rep in (0, 1)
    ]
    expected = np.mean([r["urban_area_ha"].iloc[-1] for r in runs])
    assert outcomes["urban_area_ha"][0] == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(
        outcomes["dwellings_by_year"][0], np.mean([r["dwellings"] for r in runs], axis=0)
    )


# --- scenario discovery ------------------------------------------------------------------------
def _synthetic_design(n, rng):
    model = _tiny_model()
    params = list(model.uncertainties) + list(model.levers)
    samples = ema_workbench.em_framework.samplers.LHSSampler().generate_samples(params, n, rng=rng)
    x = pd.DataFrame([dict(s) for s in samples])
    x["scenario"], x["policy"], x["model"] = range(n), "p", model.name
    return x


@pytest.mark.parametrize("rng", [0, 1, 2])
def test_prim_finds_the_box_of_a_monotone_outcome(rng):
    x = _synthetic_design(200, rng)
    # a case of interest whenever household formation is fast: PRIM should bound formation_rate
    cases = x["formation_rate"].to_numpy() > 0.022
    p = ema.prim(x, cases, peel_alpha=0.1)
    box = p.find_box()
    assert 0.0 <= box.coverage <= 1.0 and 0.0 <= box.density <= 1.0
    assert box.coverage >= 0.8 and box.density >= 0.8
    limits = box.box_lim
    assert "formation_rate" in limits.columns
    assert limits["formation_rate"].iloc[0] == pytest.approx(0.022, abs=0.002)
    stats, table = box.inspect(style="data")[0]
    assert "formation_rate" in table.index


def test_prim_input_keeps_only_the_varied_fields_and_checks_cases():
    x = _synthetic_design(20, 0)
    model = _tiny_model()
    assert list(ema.prim_input(x, model).columns) == [
        "formation_rate",
        "beta_commute",
        "growth_boundary",
    ]
    with pytest.raises(ValueError, match="expected one value per experiment"):
        ema.prim(x, np.ones(3, dtype=bool))
    with pytest.raises(ValueError, match="expected bool"):
        ema.prim(x, np.ones(20))
    with pytest.raises(ValueError, match="20 of 20 experiments are of interest"):
        ema.prim(x, np.ones(20, dtype=bool))


@pytest.mark.slow
def test_the_ema_prim_example_runs_and_writes_its_files(tmp_path, capsys):
    import importlib.util
    from pathlib import Path

    path = Path(__file__).resolve().parents[1] / "experiments" / "ema_prim" / "run.py"
    spec = importlib.util.spec_from_file_location("ema_prim_run", path)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    args = ["--scenarios", "2", "--years", "1", "--cell-size", "2000", "--scale", "50"]
    assert script.main([*args, "--workers", "1", "--out", str(tmp_path)]) == 0
    for name in ("experiments.parquet", "outcomes.parquet", "prim.json", "report.txt"):
        assert (tmp_path / name).is_file(), name
    report = (tmp_path / "report.txt").read_text()
    assert "4 experiments (2 LHS points x 2 growth-boundary values)" in report
    assert "=== PRIM: unhoused share > 0.005" in report
    outcomes = pd.read_parquet(tmp_path / "outcomes.parquet")
    assert len(outcomes) == 4 and {"unhoused_share", "urban_growth_ha"} <= set(outcomes.columns)
    assert report in capsys.readouterr().out


@pytest.mark.parametrize("rng", [0, 1, 2])
def test_box_limits_reads_numeric_and_categorical_restrictions(rng):
    x = _synthetic_design(200, rng)
    cases = (x["formation_rate"].to_numpy() > 0.02) & (x["growth_boundary"].to_numpy() == "none")
    box = ema.prim(x, cases, peel_alpha=0.1).find_box()
    limits = ema.box_limits(box)
    assert set(limits.index) == {"formation_rate", "growth_boundary"}
    assert limits.loc["growth_boundary", "values"] == ["none"]
    assert limits.loc["formation_rate", "min"] == pytest.approx(0.02, abs=0.002)
    assert 0.0 <= limits.loc["formation_rate", "qp_min"] < 0.01
    # the first box of the trajectory restricts nothing
    assert ema.box_limits(box, 0).empty
