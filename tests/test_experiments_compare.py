"""compare(): per-run files, resume, failures, the report, and `metrosim compare --design`."""

import json
from concurrent.futures import Executor, Future

import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest

from metrosim import Scenario
from metrosim.cli import main
from metrosim.experiments import ExperimentError, compare, replicate_seeds

COARSE = Scenario(cell_size_m=1000.0, scale=50)
SCENARIOS = [
    COARSE.replace(name="frag"),
    COARSE.replace(name="ugb", growth_boundary="urban_limit_2017"),
]


class CountingExecutor(Executor):
    """Runs each job at once in this process and records its key."""

    def __init__(self, fail=()):
        self.keys = []
        self.fail = set(fail)

    def submit(self, fn, /, *args, **kwargs):
        fut = Future()
        self.keys.append(args[0].key)
        if args[0].key in self.fail:
            fut.set_exception(RuntimeError("worker lost"))
        else:
            fut.set_result(fn(*args, **kwargs))
        return fut


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("compare") / "c"
    seen = []
    res = compare(SCENARIOS, seeds=2, years=1, out=out, progress=lambda *a: seen.append(a))
    assert seen[0] == (0, 4, 0) and seen[-1] == (4, 4, 0)
    return out, res


def files(folder):
    return {p: p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_compare_writes_every_table_and_per_run_files(written):
    out, res = written
    for name in ("runs.parquet", "municipal.parquet", "summary.csv", "manifest.json"):
        assert (out / name).is_file()
    runs = sorted(p.name for p in (out / "runs").iterdir())
    assert runs == sorted(
        [f"s0{i}-r00{r}.parquet" for i in (0, 1) for r in (0, 1)]
        + [f"s0{i}-r00{r}.municipal.parquet" for i in (0, 1) for r in (0, 1)]
        + ["s00-r000.state.npz", "s01-r000.state.npz"]  # maps of the first seed only
    )
    pdt.assert_frame_equal(pd.read_parquet(out / "runs.parquet"), res.runs)
    assert list(res.runs.columns[:3]) == ["scenario", "seed", "year"]
    assert "growth_boundary" in res.runs.columns  # every lever
    assert set(res.runs["seed"]) == set(replicate_seeds(0, 2))
    assert list(res.municipal.columns[:4]) == ["scenario", "seed", "year", "cut"]
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["kind"] == "compare" and manifest["complete"] is True
    assert manifest["design"]["baseline"] == "frag"
    assert res.failed.empty
    with np.load(out / "runs" / "s01-r000.state.npz") as z:
        assert z["land_use"].shape == z["commune"].shape == z["dominant_group"].shape
        assert z["in_core"].sum() == 34 and z["cut"].size == 52
        assert set(np.unique(z["dominant_group"])) <= {-1, 0, 1, 2, 3, 4}


def test_report_is_self_contained_and_names_each_scenario(written):
    out, _ = written
    text = (out / "report.html").read_text(encoding="utf-8")
    assert text.startswith("<!DOCTYPE html>")
    assert "<script src=" not in text and "<link" not in text  # nothing fetched
    # plotly.js is inline; its bundle holds two default URLs (topojson for geo maps and mapbox
    # icons) that traces used here never load: no other https://cdn anywhere
    import plotly.offline

    js = plotly.offline.get_plotlyjs()
    assert js in text
    assert "https://cdn" not in text.replace(js, "")
    for name in ("frag", "ugb"):
        assert text.count(name) >= 5
    for part in ("Outcomes over time", "Land use", "Income group", "per commune", "Summary"):
        assert part in text
    assert "Puente Alto" in text  # per-commune bars name the communes


def test_compare_resumes_and_refuses_another_comparison(written, tmp_path):
    out, res = written
    before = files(out)
    ex = CountingExecutor()
    again = compare(SCENARIOS, seeds=2, years=1, out=out, executor=ex)
    assert ex.keys == []
    pdt.assert_frame_equal(again.runs, res.runs)
    pdt.assert_frame_equal(again.municipal, res.municipal)
    snapshot = {p: b for p, b in files(out).items() if "runs" in p.parts}
    assert snapshot == {p: b for p, b in before.items() if "runs" in p.parts}
    for other in (
        dict(scenarios=SCENARIOS, seeds=3, years=1),
        dict(scenarios=SCENARIOS[::-1], seeds=2, years=1),
        dict(scenarios=[SCENARIOS[0], SCENARIOS[1].replace(scale=60)], seeds=2, years=1),
    ):
        kept = files(out)
        with pytest.raises(ExperimentError, match="holds results of another design"):
            compare(other.pop("scenarios"), out=out, **other)
        assert files(out) == kept


def test_compare_records_failures_and_retries_them(written, tmp_path):
    import shutil

    out = tmp_path / "c"
    shutil.copytree(written[0], out)
    (out / "runs" / "s01-r001.parquet").unlink()
    ex = CountingExecutor(fail={"s01-r001"})
    res = compare(SCENARIOS, seeds=2, years=1, out=out, executor=ex)
    assert ex.keys == ["s01-r001"]
    assert res.failed[["scenario", "key", "error"]].values.tolist() == [
        ["ugb", "s01-r001", "RuntimeError: worker lost"]
    ]
    assert len(res.runs) == 3 * 2
    assert res.summary.loc[res.summary["scenario"] == "ugb", "n"].eq(1).all()
    assert json.loads((out / "manifest.json").read_text())["complete"] is False
    ex = CountingExecutor()
    res = compare(SCENARIOS, seeds=2, years=1, out=out, executor=ex)
    assert ex.keys == ["s01-r001"] and res.failed.empty
    pdt.assert_frame_equal(res.runs, written[1].runs)
    with pytest.raises(ExperimentError, match="all 2 runs failed; first error: RuntimeError"):
        compare(SCENARIOS, seeds=1, years=1, executor=CountingExecutor({"s00-r000", "s01-r000"}))


def test_cli_compare_design(tmp_path, capsys):
    design = tmp_path / "design.toml"
    design.write_text(
        'kind = "compare"\nscenarios = ["fragmented", "coordinated"]\nseeds = 1\nyears = 1\n'
        "[set]\nscale = 50\ncell_size_m = 1000.0\n",
        encoding="utf-8",
    )
    out = tmp_path / "out"
    assert main(["compare", "--design", str(design), "--out", str(out), "--workers", "1"]) == 0
    captured = capsys.readouterr()
    assert "fragmented, coordinated; 1 seeds x 1 years; scale 50, 1000 m cells" in captured.err
    assert "runs: 2/2 done, 0 failed" in captured.err
    assert "difference from fragmented" in captured.out
    runs = pd.read_parquet(out / "runs.parquet")
    assert sorted(set(runs["scenario"])) == ["coordinated", "fragmented"]
    assert (out / "report.html").is_file()
    # bad input: one line, exit 2
    bad = tmp_path / "bad.toml"
    for text, message in (
        ('kind = "compare"\nscenarios = ["fragmented", "nowhere"]\n', "neither a file nor"),
        ('kind = "compare"\nscenarios = ["fragmented"]\n[set]\nscale = 0\n', "out of range"),
        ('kind = "compare"\nscenarios = ["fragmented"]\nseed = 1\n', "did you mean seeds"),
        ('kind = "sobol"\nscenarios = ["fragmented"]\n', "takes kind = 'compare'"),
    ):
        bad.write_text(text, encoding="utf-8")
        assert main(["compare", "--design", str(bad), "--out", str(tmp_path / "x")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and message in err[0], err
    assert main(["compare", "fragmented", "--design", str(design)]) == 2
    assert "not both" in capsys.readouterr().err
    assert main(["sweep", str(design)]) == 2
    assert "metrosim compare --design" in capsys.readouterr().err
    code = main(
        ["compare", "--design", str(design), "--out", str(out), "--scheduler", "tcp://127.0.0.1:9"]
    )
    assert code == 2 and "no Dask scheduler reachable" in capsys.readouterr().err
