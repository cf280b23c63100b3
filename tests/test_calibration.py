"""Calibration: ABC on a toy simulator, priors and errors, the command end to end, resume."""

import math
import os

import numpy as np
import pandas as pd
import pytest

from metrosim.calibration import (
    DEFAULT_PARAMETERS,
    PRIORS,
    TARGETS,
    Prior,
    Target,
    abc_rejection,
    calibrate,
    discrepancies,
    distance,
    parse_priors,
    patterns_met,
    posterior_summary,
)
from metrosim.cli import main
from metrosim.scenario import Scenario, ScenarioError

SMALL = {"scale": 50, "cell_size_m": 2000.0}


# ------------------------------------------------------------------------------------------
# the ABC code on a pure-numpy toy simulator
def _toy(theta: np.ndarray, rng: np.random.Generator, reps: int = 3) -> np.ndarray:
    """Two noisy summaries of theta: its level and its square, each a mean over replicates."""
    level = theta[:, None] + rng.normal(0.0, 0.5, (len(theta), reps))
    square = theta[:, None] ** 2 / 10 + rng.normal(0.0, 0.5, (len(theta), reps))
    return np.stack([level.mean(axis=1), square.mean(axis=1)], axis=1)


@pytest.mark.parametrize("seed", [1, 2, 3, 4, 5])
def test_abc_recovers_a_known_parameter_on_a_toy_simulator(seed):
    rng = np.random.default_rng(seed)
    true = 3.0
    observed = _toy(np.array([true]), rng)[0]
    targets = (Target("level", observed[0], 0.5), Target("square", observed[1], 0.5))
    prior = Prior("theta", 0.0, 10.0)
    theta = rng.uniform(prior.low, prior.high, 4000)
    sims = _toy(theta, rng)
    d = np.array([distance({"level": a, "square": b}, targets) for a, b in sims])
    mask, eps = abc_rejection(d, 0.02)
    assert mask.sum() == 80
    assert eps == pytest.approx(np.sort(d)[79])
    summary = posterior_summary(theta[:, None], mask, [prior], [5.0]).iloc[0]
    assert summary["q05"] <= true <= summary["q95"]
    assert abs(summary["median"] - true) < 0.5
    assert summary["width_share"] < 0.25  # the data are informative: far narrower than prior
    assert prior.low <= summary["q05"] <= summary["q95"] <= prior.high


def test_abc_rejection_keeps_the_closest_and_ignores_unmeasured_samples():
    d = np.array([0.5, np.nan, 0.1, np.inf, 0.3, 0.9])
    mask, eps = abc_rejection(d, 0.5)
    assert mask.tolist() == [False, False, True, False, True, False]  # 2 of the 4 finite
    assert eps == 0.3
    with pytest.raises(ValueError, match="accept"):
        abc_rejection(d, 0.0)


def test_discrepancies_are_in_units_of_the_tolerance():
    from metrosim.validation import FACTS

    # every two-sided target: a value at the edge of the tolerance band is about 1 away
    edge = {t.key: t.center + t.scale for t in TARGETS if t.kind == "two_sided"}
    for t, d in zip(TARGETS, discrepancies(edge), strict=True):
        if t.kind == "two_sided":
            assert d == pytest.approx(1.0)
    assert Target("r", 7.9, 1.5, "log").discrepancy(7.9 * 1.5) == pytest.approx(1.0)
    assert Target("g", 10.0, 5.0, "at_least").discrepancy(12.0) == 0.0
    assert Target("g", 2.0, 1.0, "at_most").discrepancy(4.0) == pytest.approx(2.0)
    # a missing summary counts as a clear miss
    assert discrepancies({})[0] == 3.0
    # the targets are exactly the facts with a verdict that parameters can move: measuring
    # every fact needs only the targets' keys plus the start population and Lee-Sallee
    ctx = {t.key: 1.0 for t in TARGETS}
    with pytest.raises(KeyError):
        [f.measure(ctx) for f in FACTS]
    ctx |= {"pop_error": 0.0, "lee_sallee": 1.0}
    assert len([f.measure(ctx) for f in FACTS]) == len(FACTS)


def test_patterns_met_counts_the_facts_met_at_once():
    good = {
        "budget_ratio": 7.9,
        "budget_rho": 0.9,
        "fcm_share_13114": 0.257,
        "fcm_share_13101": 0.092,
        "fcm_share_13123": 0.091,
        "fcm_share_13132": 0.042,
        "cerro_navia_fcm": 0.77,
        "green_rich": 12.0,
        "green_poor": 1.0,
        "footprint_growth_pct": 1.9,
        "new_density_ratio": 0.4,
        "outside_limit_share": 0.75,
        "morans_i": 0.3,
        "north_east_top5": 5.0,
    }
    assert patterns_met(good) == 14
    assert distance(good) == pytest.approx(0.0, abs=1e-12)
    assert patterns_met({**good, "new_density_ratio": 2.0, "green_poor": 5.0}) == 12


# ------------------------------------------------------------------------------------------
# parameters, priors, bad input
def test_default_parameters_are_free_and_have_priors():
    from metrosim.scenario import parameter_table

    rows = {r["name"]: r for r in parameter_table()}
    assert 3 <= len(DEFAULT_PARAMETERS) <= 6
    for name, prior in PRIORS.items():
        assert rows[name]["source"].startswith("assumption")
        assert not rows[name]["lever"]
        assert prior.low <= rows[name]["default"] <= prior.high
    assert [p.name for p in parse_priors(None)] == list(DEFAULT_PARAMETERS)


@pytest.mark.parametrize(
    ("spec", "needles"),
    [
        ("no_such_thing", ["unknown parameter 'no_such_thing'", "cost_per_density"]),
        ("household_size", ["'household_size'", "has a source"]),
        ("citizen_participation", ["'citizen_participation'", "lever"]),
        ("years=1:3", ["'years' is a setting of the run", "cost_per_density"]),
        ("cell_size_m=500:1000", ["'cell_size_m' is a setting of the run"]),
        ("rent_floor", ["no stated prior", "rent_floor=low:high"]),
        ("rent_floor=5:1", ["low < high"]),
        ("rent_floor=abc", ["low:high"]),
        ("natural_vacancy=0.1:0.9", ["natural_vacancy", "out of range", "0.5"]),
        ("cost_per_density,cost_per_density", ["given twice"]),
        ("a,,b", ["comma-separated"]),
    ],
)
def test_bad_params_name_the_field_and_what_is_allowed(spec, needles):
    with pytest.raises(ScenarioError) as info:
        parse_priors(spec)
    for needle in needles:
        assert needle in str(info.value)


def test_a_free_parameter_with_a_range_is_accepted():
    (p,) = parse_priors("rent_floor=10000:40000")
    assert (p.name, p.low, p.high) == ("rent_floor", 10000.0, 40000.0)


@pytest.mark.parametrize(
    ("kwargs", "needle"),
    [
        ({"samples": 1}, "samples = 1"),
        ({"years": 1}, "2019"),
        ({"accept": 1.5}, "accept = 1.5"),
        ({"accept": 0.1, "samples": 10}, "accept * samples >= 2"),
        ({"seeds": 0}, "seeds = 0"),
    ],
)
def test_bad_settings_are_refused_before_any_run(kwargs, needle, tmp_path):
    with pytest.raises(ScenarioError, match=None) as info:
        calibrate(Scenario().replace(**SMALL), out=tmp_path / "c", **kwargs)
    assert needle in str(info.value)
    assert not (tmp_path / "c").exists()


# ------------------------------------------------------------------------------------------
# the command end to end, and resume
ARGS = [
    "--samples",
    "6",
    "--seeds",
    "1",
    "--years",
    "2",
    "--accept",
    "0.34",
    "--check-seeds",
    "2",
    "--scale",
    "50",
    "--cell-size",
    "2000",
    "--workers",
    "1",
    "--params",
    "cost_per_density,redevelopment_premium,licence_per_job",
]


@pytest.mark.slow
def test_calibrate_command_writes_everything_and_resumes(tmp_path, capsys):
    out = tmp_path / "cal"
    assert main(["calibrate", *ARGS, "--out", str(out)]) == 0
    printed = capsys.readouterr().out
    assert "posterior median" in printed and "cost_per_density" in printed
    for name in (
        "posterior.parquet",
        "samples.parquet",
        "posterior_summary.csv",
        "calibrated.toml",
        "calibration.md",
        "validation_before.csv",
        "validation_after.csv",
    ):
        assert (out / name).is_file(), name
    samples = pd.read_parquet(out / "samples.parquet")
    post = pd.read_parquet(out / "posterior.parquet")
    assert len(samples) == 6 and len(post) == math.ceil(0.34 * 6) == 3
    assert post["distance"].max() <= samples.loc[~samples["accepted"], "distance"].min()
    summary = pd.read_csv(out / "posterior_summary.csv")
    for _, r in summary.iterrows():
        assert r["prior_low"] <= r["q05"] <= r["median"] <= r["q95"] <= r["prior_high"]
        assert post[r["parameter"]].between(r["prior_low"], r["prior_high"]).all()
    # the calibrated file loads, holds the posterior medians, and a preset can include it
    cal = Scenario.load(out / "calibrated.toml")
    for _, r in summary.iterrows():
        assert getattr(cal, r["parameter"]) == pytest.approx(r["median"], rel=1e-3)
    text = (out / "calibrated.toml").read_text()
    assert "90% credible interval" in text and "ABC rejection" in text
    (out / "preset.toml").write_text(
        'include = "calibrated.toml"\n[run]\nname = "mine"\n[market]\nredevelopment_premium = 2.5\n'
    )
    mine = Scenario.load(out / "preset.toml")
    assert mine.name == "mine" and mine.redevelopment_premium == 2.5
    assert mine.cost_per_density == cal.cost_per_density
    before = pd.read_csv(out / "validation_before.csv")
    after = pd.read_csv(out / "validation_after.csv")
    assert list(before["fact"]) == list(after["fact"])
    assert set(before["verdict"]) <= {"met", "missed", "reported", "not measurable"}
    assert "Validation before and after" in (out / "calibration.md").read_text()

    # resume: a second call runs nothing (every run file is kept, untouched)
    runs = sorted((out / "samples" / "runs").glob("*.parquet"))
    runs += sorted((out / "checks").glob("before-*/runs/*.parquet"))
    runs += sorted((out / "checks").glob("after-*/runs/*.parquet"))
    assert len(runs) == 6 + 2 + 2
    stamps = {p: os.stat(p).st_mtime_ns for p in runs}
    capsys.readouterr()
    assert main(["calibrate", *ARGS, "--out", str(out)]) == 0
    assert "all 6 already done" in capsys.readouterr().err
    assert {p: os.stat(p).st_mtime_ns for p in runs} == stamps
    assert pd.read_parquet(out / "samples.parquet").equals(samples)

    # a removed sample run is run again, and only that one
    victim = out / "samples" / "runs" / "p00002-r000.parquet"
    victim.unlink()
    assert main(["calibrate", *ARGS, "--out", str(out)]) == 0
    assert "5/6 already done" in capsys.readouterr().err
    assert victim.is_file()
    pd.testing.assert_frame_equal(pd.read_parquet(out / "samples.parquet"), samples)

    # another --accept reuses every sample run (only the check of the new medians may run)
    assert main(["calibrate", *ARGS[:7], "0.67", *ARGS[8:], "--out", str(out)]) == 0
    assert "samples: all 6 already done" in capsys.readouterr().err
    assert len(pd.read_parquet(out / "posterior.parquet")) == math.ceil(0.67 * 6) == 5

    # other settings in the same folder are refused, naming the fix
    assert main(["calibrate", *ARGS[:-1], "cost_per_density", "--out", str(out)]) == 2
    assert "another design" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--params", "nope"], ["unknown parameter 'nope'"]),
        (["--accept", "2"], ["accept = 2"]),
        (["--scenario", "nowhere"], ["neither a file nor a preset"]),
        (["--scheduler", "tcp://127.0.0.1:1"], ["no Dask scheduler"]),
    ],
)
def test_calibrate_command_bad_arguments(argv, needles, tmp_path, capsys):
    assert main(["calibrate", *argv, "--out", str(tmp_path / "c")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err
