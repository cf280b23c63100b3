"""Sweep designs (validation, points) and sweeps: tables, seeds, resume, failures, CLI."""

import os
import shutil
import subprocess
import sys
import time
from concurrent.futures import Executor, Future
from pathlib import Path

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from metrosim.cli import main
from metrosim.experiments import (
    Design,
    ExperimentError,
    SweepResult,
    analyze,
    load_design,
    run_seed,
    sweep,
)
from metrosim.experiments._runs import RunStore

COARSE = {"scale": 50, "cell_size_m": 1000.0}

TINY = """
name = "tiny"
base = "fragmented"
kind = "latin_hypercube"
samples = 2
seeds = 2
years = 1

[set]
scale = 50
cell_size_m = 1000.0

[[parameters]]
name = "speed_rural_kmh"
low = 20.0
high = 80.0

[[parameters]]
name = "growth_boundary"
values = ["none", "urban_limit_2017"]
"""


def design(**changes):
    base = {
        "base": "fragmented",
        "kind": "latin_hypercube",
        "samples": 4,
        "seeds": 1,
        "years": 1,
        "set": dict(COARSE),
        "parameters": [{"name": "speed_rural_kmh", "low": 20.0, "high": 80.0}],
    }
    base.update(changes)
    return Design.from_dict(base)


class CountingExecutor(Executor):
    """Runs each job at once in this process and records its key."""

    def __init__(self, fail=()):
        self.keys = []
        self.fail = set(fail)

    def submit(self, fn, /, *args, **kwargs):
        fut = Future()
        job = args[0]
        self.keys.append(job.key)
        if job.key in self.fail:
            fut.set_exception(RuntimeError(f"worker lost while running {job.key}"))
        else:
            fut.set_result(fn(*args, **kwargs))
        return fut


@pytest.fixture(scope="module")
def tiny_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("design") / "tiny.toml"
    p.write_text(TINY, encoding="utf-8")
    return p


@pytest.fixture(scope="module")
def reference(tiny_file):
    """The tiny sweep, in this process, written nowhere."""
    return sweep(tiny_file)


@pytest.fixture(scope="module")
def written(tiny_file, tmp_path_factory):
    """The tiny sweep written by the command line, in one process (never modified)."""
    out = tmp_path_factory.mktemp("cli") / "tiny"
    assert main(["sweep", str(tiny_file), "--out", str(out), "--workers", "1"]) == 0
    return out


def copy_of(folder, tmp_path):
    dest = tmp_path / folder.name
    shutil.copytree(folder, dest)
    return dest


# --- designs ------------------------------------------------------------------------------
def test_design_points_of_each_kind():
    lhs = design(samples=5)
    pts = lhs.points()
    assert list(pts.columns) == ["point", "speed_rural_kmh"] and len(pts) == 5
    assert pts["speed_rural_kmh"].between(20, 80).all()
    # one point in each fifth of the range (Latin hypercube)
    assert sorted(np.floor((pts["speed_rural_kmh"] - 20) / 12).astype(int)) == [0, 1, 2, 3, 4]
    pdt.assert_frame_equal(pts, design(samples=5).points())  # deterministic

    two = [
        {"name": "speed_rural_kmh", "low": 20.0, "high": 80.0},
        {"name": "n_alternatives", "low": 5, "high": 7},
        {"name": "growth_boundary", "values": ["none", "urban_limit_2017"]},
    ]
    ff = Design.from_dict(
        {"kind": "full_factorial", "set": COARSE, "parameters": two, "levels": 2}
    ).points()
    assert len(ff) == 2 * 2 * 2
    assert sorted(set(ff["n_alternatives"])) == [5, 7]
    ff3 = Design.from_dict(
        {
            "kind": "full_factorial",
            "set": COARSE,
            "parameters": [{**two[0], "levels": 3}, two[2]],
        }
    ).points()
    assert ff3["speed_rural_kmh"].tolist() == [20.0, 20.0, 50.0, 50.0, 80.0, 80.0]
    assert ff3["growth_boundary"].tolist() == ["none", "urban_limit_2017"] * 3

    sob = design(kind="sobol", samples=8, parameters=two)
    assert len(sob.points()) == 8 * (3 + 2)
    assert len(design(kind="sobol", samples=8, parameters=two, second_order=True).points()) == (
        8 * (2 * 3 + 2)
    )
    pts = sob.points()
    assert set(pts["n_alternatives"]) <= {5, 6, 7} and pts["n_alternatives"].dtype.kind == "i"
    assert set(pts["growth_boundary"]) == {"none", "urban_limit_2017"}
    mor = design(kind="morris", samples=3, parameters=two)
    assert len(mor.points()) == 3 * (3 + 1)
    # every point is a valid scenario with the base's fixed changes
    s = sob.scenario(pts.iloc[0])
    assert s.cell_size_m == 1000.0 and s.name == "fragmented"


@pytest.mark.parametrize(
    "changes, message",
    [
        ({"parameters": [{"name": "speed_rural", "low": 1.0, "high": 2.0}]}, "did you mean"),
        (
            {"parameters": [{"name": "speed_rural_kmh", "low": 0.0, "high": 80.0}]},
            r"out of range; allowed: 1.0 <= speed_rural_kmh <= 200.0",
        ),
        (
            {"parameters": [{"name": "growth_boundary", "values": ["none", "prms"]}]},
            "allowed values: 'none', 'urban_limit_2017'",
        ),
        ({"parameters": [{"name": "growth_boundary", "low": 0, "high": 1}]}, "needs values"),
        ({"parameters": [{"name": "speed_rural_kmh", "low": 80.0, "high": 20.0}]}, "below"),
        ({"parameters": [{"name": "speed_rural_kmh", "lo": 1.0}]}, "unknown key 'lo'"),
        ({"parameters": [{"name": "years", "low": 1, "high": 2}]}, "cannot be varied"),
        ({"parameters": []}, r"no \[\[parameters\]\]"),
        ({"kind": "halton"}, "allowed: full_factorial, latin_hypercube, sobol, morris"),
        ({"kind": "sobol", "samples": 10}, "power of 2"),
        ({"kind": "full_factorial", "samples": 10}, "not used by a full_factorial"),
        ({"samples": 0}, "samples = 0; allowed: 1 or more"),
        ({"seeds": 2.5}, "seeds = 2.5 has type float; expected int"),
        ({"sample": 4}, "unknown key 'sample' \\(did you mean samples"),
        ({"base": "nowhere"}, "neither a file nor a preset; presets:"),
        ({"set": {"scale": 0}}, r"\[set\].*out of range"),
        (
            {"name": "../elsewhere"},
            r"name = '../elsewhere' is not allowed; allowed: a name without",
        ),
    ],
)
def test_bad_designs_name_the_field_and_what_is_allowed(changes, message):
    with pytest.raises(ExperimentError, match=message):
        design(**changes)


def test_design_file_errors(tmp_path):
    with pytest.raises(ExperimentError, match="does not exist"):
        load_design(tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text('kind = "sobol"\n[[parameters]\nname = 1\n', encoding="utf-8")
    with pytest.raises(ExperimentError, match="not valid TOML"):
        load_design(bad)
    with pytest.raises(ExperimentError, match="is a folder; give a design .toml file"):
        load_design(tmp_path)


def test_a_design_without_a_name_in_the_folder_above_is_not_named_dotdot(tmp_path, monkeypatch):
    (tmp_path / "design.toml").write_text(TINY.replace("name = ", "#", 1), encoding="utf-8")
    (tmp_path / "inner").mkdir()
    monkeypatch.chdir(tmp_path / "inner")
    assert load_design("../design.toml").name == "design"  # not "..": out/.. is the cwd
    assert load_design(tmp_path / "design.toml").name == tmp_path.name


def test_base_file_relative_to_the_design(tmp_path):
    (tmp_path / "base.toml").write_text('[run]\nname = "mine"\nscale = 60\n', encoding="utf-8")
    (tmp_path / "design.toml").write_text(
        'base = "base.toml"\nkind = "latin_hypercube"\nsamples = 2\n'
        '[[parameters]]\nname = "speed_rural_kmh"\nlow = 20.0\nhigh = 30.0\n',
        encoding="utf-8",
    )
    d = load_design(tmp_path / "design.toml")
    assert d.base.name == "mine" and d.base.scale == 60
    assert d.name == tmp_path.name  # a file called design.toml is named after its folder


def test_run_seeds_are_independent_streams():
    seeds = {run_seed(0, p, r) for p in range(50) for r in range(4)}
    assert len(seeds) == 200
    assert run_seed(1, 0, 0) != run_seed(0, 0, 0)


# --- sweeps -------------------------------------------------------------------------------
def test_sweep_tables(reference):
    e, o = reference.experiments, reference.outcomes
    assert list(e.columns) == [
        "run_id",
        "point",
        "replicate",
        "seed",
        "speed_rural_kmh",
        "growth_boundary",
        "status",
        "error",
    ]
    assert len(e) == 2 * 2 and (e["status"] == "ok").all() and e["error"].isna().all()
    assert e["seed"].tolist() == [run_seed(0, p, r) for p in range(2) for r in range(2)]
    assert list(o.columns[:4]) == ["point", "replicate", "seed", "year"]
    assert len(o) == 4 * 2  # two rows (start year and one simulated year) per run
    # a run of a sweep is the run of its scenario and seed
    from metrosim import run

    row = e.iloc[3]
    scenario = reference.design.scenario(row)
    alone = run(scenario, seed=int(row["seed"]), years=1).yearly
    mine = o[(o["point"] == row["point"]) & (o["replicate"] == row["replicate"])]
    pdt.assert_frame_equal(
        mine.drop(columns=["point", "replicate", "seed"]).reset_index(drop=True), alone
    )


def test_written_sweep_equals_in_process(written, reference):
    for name in ("manifest.json", "experiments.parquet", "outcomes.parquet"):
        assert (written / name).is_file()
    assert len(list((written / "runs").glob("*.parquet"))) == 4
    pdt.assert_frame_equal(pd.read_parquet(written / "outcomes.parquet"), reference.outcomes)
    pdt.assert_frame_equal(pd.read_parquet(written / "experiments.parquet"), reference.experiments)


def test_sweep_resumes_only_missing_runs(tmp_path, tiny_file, reference, written):
    out = copy_of(written, tmp_path)
    kept = out / "runs" / "p00000-r000.parquet"
    before = kept.stat().st_mtime_ns
    (out / "runs" / "p00000-r001.parquet").unlink()
    (out / "runs" / "p00001-r000.parquet").unlink()
    (out / "experiments.parquet").unlink()
    ex = CountingExecutor()
    again = sweep(tiny_file, out=out, executor=ex)
    assert sorted(ex.keys) == ["p00000-r001", "p00001-r000"]
    assert kept.stat().st_mtime_ns == before
    pdt.assert_frame_equal(again.outcomes, reference.outcomes)
    pdt.assert_frame_equal(again.experiments, reference.experiments)
    pdt.assert_frame_equal(pd.read_parquet(out / "outcomes.parquet"), reference.outcomes)
    pdt.assert_frame_equal(pd.read_parquet(out / "experiments.parquet"), reference.experiments)
    ex = CountingExecutor()
    sweep(tiny_file, out=out, executor=ex)
    assert ex.keys == []


def test_failed_runs_are_recorded_and_retried(tmp_path, tiny_file, reference, written):
    out = copy_of(written, tmp_path)
    (out / "runs" / "p00001-r000.parquet").unlink()
    ex = CountingExecutor(fail={"p00001-r000"})
    res = sweep(tiny_file, out=out, executor=ex)
    assert ex.keys == ["p00001-r000"]
    failed = res.failed
    assert failed["run_id"].tolist() == ["p00001-r000"]
    assert failed["error"].iloc[0] == "RuntimeError: worker lost while running p00001-r000"
    assert (out / "runs" / "p00001-r000.error.txt").is_file()
    status = pd.read_parquet(out / "experiments.parquet")["status"].tolist()
    assert status == ["ok", "ok", "failed", "ok"]
    assert len(res.outcomes) == 3 * 2
    with pytest.raises(ExperimentError, match="1 of 2 points have no value"):
        analyze(res, "urban_area_ha")
    # re-running retries the failed run and completes the tables
    ex = CountingExecutor()
    res = sweep(tiny_file, out=out, executor=ex)
    assert ex.keys == ["p00001-r000"]
    assert not (out / "runs" / "p00001-r000.error.txt").exists()
    pdt.assert_frame_equal(res.experiments, reference.experiments)
    pdt.assert_frame_equal(res.outcomes, reference.outcomes)


def test_an_error_inside_the_model_is_returned_not_raised(monkeypatch):
    import metrosim.model
    from metrosim import Scenario
    from metrosim.experiments._runs import Job, run_job

    def step(self):
        raise FloatingPointError("model blew up")

    monkeypatch.setattr(metrosim.model.MetroModel, "step", step)
    out = run_job(Job("k", Scenario(**COARSE), seed=1, years=1))
    assert not out.ok and out.yearly is None
    assert out.error.startswith("FloatingPointError: model blew up")
    assert "Traceback" in out.error


def test_other_design_in_the_folder_is_refused_and_nothing_lost(tmp_path, tiny_file, written):
    snapshot = {p: p.read_bytes() for p in written.rglob("*") if p.is_file()}
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("samples = 2", "samples = 3"), encoding="utf-8")
    with pytest.raises(ExperimentError, match="holds results of another design"):
        sweep(other, out=written)
    assert {p: p.read_bytes() for p in written.rglob("*") if p.is_file()} == snapshot
    # a `metrosim run` folder, or runs without a manifest, are refused too
    (tmp_path / "runfolder").mkdir()
    (tmp_path / "runfolder" / "manifest.json").write_text('{"seed": 1}', encoding="utf-8")
    with pytest.raises(ExperimentError, match="has no design hash"):
        sweep(tiny_file, out=tmp_path / "runfolder")
    (tmp_path / "loose" / "runs").mkdir(parents=True)
    (tmp_path / "loose" / "runs" / "x.parquet").write_bytes(b"")
    with pytest.raises(ExperimentError, match="no manifest.json"):
        sweep(tiny_file, out=tmp_path / "loose")


def test_store_hash_covers_the_design():
    a = RunStore("x", "sweep", {"a": 1})
    assert a.hash == RunStore("y", "sweep", {"a": 1}).hash
    assert a.hash != RunStore("x", "sweep", {"a": 2}).hash
    assert a.hash != RunStore("x", "compare", {"a": 1}).hash


def test_analyze_sobol_and_morris(monkeypatch):
    # The indices of a known function: fake the runs by a cheap stand-in of the model.
    params = [
        {"name": "speed_rural_kmh", "low": 20.0, "high": 80.0},
        {"name": "beta_homophily", "low": 0.0, "high": 4.0},
        {"name": "growth_boundary", "values": ["none", "urban_limit_2017"]},
    ]

    def fake(design_):
        pts = design_.points()
        x1, x2 = pts["speed_rural_kmh"], pts["beta_homophily"]
        rows = pd.DataFrame(
            {
                "point": pts["point"],
                "replicate": 0,
                "seed": 0,
                "year": 2018,
                "y": 10 * (x1 - 50) / 30 + 0.0 * x2,
            }
        )
        return SweepResult(design_, pd.DataFrame(), rows)

    sob = fake(design(kind="sobol", samples=64, parameters=params))
    si = analyze(sob, "y").set_index("parameter")
    assert list(si.columns) == ["S1", "S1_conf", "ST", "ST_conf"]
    assert si.loc["speed_rural_kmh", "ST"] > 0.9 and si.loc["beta_homophily", "ST"] < 0.05
    mor = fake(design(kind="morris", samples=6, parameters=params))
    mi = analyze(mor, "y").set_index("parameter")
    assert mi.loc["speed_rural_kmh", "mu_star"] > 1 and mi.loc["beta_homophily", "mu_star"] == 0
    lhs = fake(design(samples=20, parameters=params))
    ri = analyze(lhs, "y").set_index("parameter")
    assert ri.loc["speed_rural_kmh", "rho"] == pytest.approx(1.0)
    with pytest.raises(ExperimentError, match="allowed: y"):
        analyze(lhs, "z")
    with pytest.raises(ExperimentError, match="year 1990 is not in the results"):
        analyze(lhs, "y", year=1990)
    flat = SweepResult(lhs.design, pd.DataFrame(), lhs.outcomes.assign(y=1.0))
    with pytest.raises(ExperimentError, match="same at every point"):
        analyze(flat, "y")


# --- command line -------------------------------------------------------------------------
def test_cli_sweep_analyze(written, tiny_file, capsys):
    capsys.readouterr()
    code = main(["sweep", str(tiny_file), "--out", str(written), "--analyze", "new_urban_ha"])
    captured = capsys.readouterr()
    assert code == 0
    assert "all 4 already done" in captured.err
    assert "latin_hypercube indices of new_urban_ha" in captured.out
    assert "speed_rural_kmh" in captured.out and "rho" in captured.out
    code = main(["sweep", str(tiny_file), "--out", str(written), "--analyze", "nope"])
    err = capsys.readouterr().err
    assert code == 2 and "outcome 'nope' is not in the results; allowed:" in err


@pytest.mark.parametrize(
    "text, message",
    [
        (TINY.replace('"speed_rural_kmh"', '"speed_rurl_kmh"'), "unknown parameter"),
        (TINY.replace("low = 20.0", "low = -5.0"), "out of range"),
        (TINY.replace("[set]", "[set"), "not valid TOML"),
        ('name = "../../elsewhere"\n' + TINY.replace("name = ", "#", 1), "it names the output"),
    ],
)
def test_cli_bad_design_exit_2_one_line(tmp_path, capsys, text, message):
    p = tmp_path / "d.toml"
    p.write_text(text, encoding="utf-8")
    assert main(["sweep", str(p), "--out", str(tmp_path / "o")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("metrosim: error:") and message in err[0]
    assert not (tmp_path / "o").exists()


def test_cli_unreachable_scheduler(tmp_path, tiny_file, capsys):
    t0 = time.perf_counter()
    code = main(
        ["sweep", str(tiny_file), "--out", str(tmp_path / "o"), "--scheduler", "tcp://127.0.0.1:9"]
    )
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and time.perf_counter() - t0 < 15
    assert err[-1].startswith("metrosim: error: no Dask scheduler reachable at")
    assert "dask scheduler" in err[-1]
    assert not (tmp_path / "o").exists()
    code = main(["sweep", str(tiny_file), "--scheduler", "not an address:::"])
    assert code == 2 and "is not valid" in capsys.readouterr().err


def test_cli_other_design_in_folder(tmp_path, written, capsys):
    snapshot = {p: p.read_bytes() for p in written.rglob("*") if p.is_file()}
    other = tmp_path / "other.toml"
    other.write_text(TINY.replace("years = 1", "years = 2"), encoding="utf-8")
    capsys.readouterr()
    assert main(["sweep", str(other), "--out", str(written)]) == 2
    err = capsys.readouterr().err.strip().splitlines()[-1]
    assert "holds results of another design" in err and "give another --out" in err
    assert {p: p.read_bytes() for p in written.rglob("*") if p.is_file()} == snapshot


def test_killed_sweep_resumes_and_matches(tmp_path, tiny_file, reference):
    """Kill a `metrosim sweep` process mid-way; the same command finishes the rest."""
    out = tmp_path / "killed"
    cmd = [
        sys.executable,
        "-m",
        "metrosim.cli",
        "sweep",
        str(tiny_file),
        "--out",
        str(out),
        "--workers",
        "1",
    ]
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
    try:
        deadline = time.monotonic() + 120
        runs = out / "runs"
        while time.monotonic() < deadline and proc.poll() is None:
            if runs.is_dir() and len(list(runs.glob("*.parquet"))) >= 1:
                break
            time.sleep(0.05)
        proc.kill()
    finally:
        proc.wait(timeout=30)
        proc.stderr.close()
    done = sorted(p.name for p in runs.glob("*.parquet"))
    assert 1 <= len(done) < 4, done
    assert not (out / "outcomes.parquet").exists()
    stamps = {n: (runs / n).stat().st_mtime_ns for n in done}
    ex = CountingExecutor()  # the same design and folder, resumed (here in this process)
    res = sweep(tiny_file, out=out, executor=ex)
    assert sorted(ex.keys) == sorted(
        k for k in res.experiments["run_id"] if f"{k}.parquet" not in done
    )
    assert {n: (runs / n).stat().st_mtime_ns for n in done} == stamps  # not run again
    pdt.assert_frame_equal(pd.read_parquet(out / "outcomes.parquet"), reference.outcomes)
    pdt.assert_frame_equal(pd.read_parquet(out / "experiments.parquet"), reference.experiments)


def test_design_file_in_experiments_folder_is_valid():
    root = Path(__file__).resolve().parents[1] / "experiments"
    designs = sorted(root.glob("*/design.toml"))
    assert designs, "experiments/ holds no design"
    import tomllib

    from metrosim.experiments.design import load_compare_design

    for p in designs:
        if tomllib.loads(p.read_text(encoding="utf-8")).get("kind") == "compare":
            d = load_compare_design(p)
            assert len(d.scenarios) >= 2 and d.seeds >= 1
        else:
            assert len(load_design(p).points()) >= 1


def _rents(model, years):
    """A cheap summary measure for the test below (module level, so it pickles)."""
    for _ in range(years):
        model.step()
    return {"mean_rent": float(model.land.rent.mean()), "years_run": float(years)}


def test_sweep_with_a_measure_writes_one_row_per_run_and_is_its_own_design(tmp_path):
    d = load_design(design(samples=2, seeds=2, set={"scale": 50, "cell_size_m": 2000.0}))
    res = sweep(d, out=tmp_path / "m", measure=_rents)
    assert len(res.outcomes) == 4 and "year" not in res.outcomes
    assert set(res.outcomes.columns) == {"point", "replicate", "seed", "mean_rent", "years_run"}
    assert (res.outcomes["years_run"] == 1).all() and (res.outcomes["mean_rent"] > 0).all()
    # same seeds as a plain sweep, so a measure sees the same runs
    plain = sweep(d)
    pdt.assert_series_equal(
        res.outcomes["seed"], plain.outcomes.drop_duplicates("seed")["seed"].reset_index(drop=True)
    )
    with pytest.raises(ExperimentError, match="another design"):
        sweep(d, out=tmp_path / "m")  # the folder holds the measured sweep
