"""MetroModel: Mesa idioms, determinism, household conservation, capacity, the run folder."""

import json

import mesa
import numpy as np
import pandas as pd
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim import MetroModel, Scenario, run
from metrosim.io import read_run
from metrosim.model import START_YEAR, Ministry, Municipality, RegionalGovernment
from metrosim.population import N_GROUPS

COARSE = Scenario(cell_size_m=1000.0, scale=50)


@pytest.fixture(scope="session")
def model():
    """A coarse model at its initial state (tests must not step it)."""
    return MetroModel(COARSE, rng=7)


@pytest.fixture(scope="session")
def two_runs():
    a = run(COARSE, seed=4, years=2)
    b = run(COARSE, seed=4, years=2)
    c = run(COARSE, seed=5, years=2)
    return a, b, c


def _occupancy_from_store(m):
    occ = np.zeros_like(m.land.occupancy)
    housed = m.households.cell >= 0
    np.add.at(occ, (m.households.cell[housed], m.households.group[housed]), 1)
    return occ


# --- Mesa idioms ---------------------------------------------------------------------------
def test_mesa_agents_and_rng(model):
    assert isinstance(model, mesa.Model)
    assert isinstance(model.rng, np.random.Generator)
    by_type = model.agents_by_type
    assert set(by_type) == {Municipality, RegionalGovernment, Ministry}
    mun = by_type[Municipality]
    assert len(mun) == 52 and len(model.municipalities) == 52
    assert sum(a.in_core for a in mun) == 34
    assert [a.cut for a in mun] == model.city.cut.tolist()
    assert [a.index for a in mun] == list(range(52))
    assert len(by_type[RegionalGovernment]) == 1
    assert model.regional_government in by_type[RegionalGovernment]
    assert len(by_type[Ministry]) == 3
    assert {a.sector for a in by_type[Ministry]} == {"housing", "public_works", "transport"}
    assert len(model.agents) == 56
    assert len({a.unique_id for a in model.agents}) == 56
    assert model.year == START_YEAR == 2017 and model.steps == 0
    assert model.params == COARSE


def test_initial_state_is_consistent(model):
    np.testing.assert_array_equal(model.land.occupancy, _occupancy_from_store(model))
    model.land.check()
    assert (model.households.cell >= 0).all(), "every initial household has a dwelling"
    assert model.yearly["year"] == 2017
    assert model.yearly["households"] == len(model.households) * COARSE.scale
    pop = model.municipal["population"]
    per_hh = COARSE.household_size * COARSE.scale
    assert np.all(np.abs(pop - model.city.population) <= per_hh / 2 + 1e-6)


def test_a_step_is_a_year():
    m = MetroModel(COARSE, rng=1)
    m.step()
    m.step()
    assert m.year == 2019 and m.steps == 2
    yearly = m.datacollector.get_model_vars_dataframe()["yearly"].tolist()
    assert [r["year"] for r in yearly] == [2017, 2018, 2019]


# --- determinism ---------------------------------------------------------------------------
def test_same_seed_gives_identical_tables(two_runs):
    a, b, _ = two_runs
    pdt.assert_frame_equal(a.yearly, b.yearly)
    pdt.assert_frame_equal(a.municipal, b.municipal)


def test_different_seeds_give_different_tables(two_runs):
    a, _, c = two_runs
    assert not a.yearly.drop(columns="year").equals(c.yearly.drop(columns="year"))
    assert not a.municipal.equals(c.municipal)
    # the initial state is the census, whatever the seed: same totals in 2017
    assert a.yearly.iloc[0]["households"] == c.yearly.iloc[0]["households"]


@pytest.mark.parametrize("make_rng", [lambda: 3, lambda: np.random.default_rng(3)])
def test_same_seed_gives_identical_households(make_rng):
    # an int seed or a Generator in the same state (Mesa draws its own seed from a Generator,
    # so the two kinds of input are not interchangeable, but each is reproducible)
    a = MetroModel(COARSE, rng=make_rng())
    b = MetroModel(COARSE, rng=make_rng())
    np.testing.assert_array_equal(a.households.group, b.households.group)
    a.step()
    b.step()
    np.testing.assert_array_equal(a.households.cell, b.households.cell)
    np.testing.assert_array_equal(a.households.group, b.households.group)
    np.testing.assert_array_equal(a.land.capacity, b.land.capacity)
    np.testing.assert_array_equal(a.land.rent, b.land.rent)


# --- invariants ----------------------------------------------------------------------------
@settings(max_examples=5, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    formation=st.floats(0.0, 0.2),
    departure=st.floats(0.0, 0.2),
)
def test_households_are_conserved_through_a_year(seed, formation, departure):
    m = MetroModel(COARSE.replace(formation_rate=formation, departure_rate=departure), rng=seed)
    start = len(m.households)
    m.step()
    formed, left = m.flows["formed"], m.flows["left"]
    assert start + formed - left == len(m.households)
    assert m.yearly["households_formed"] == formed * COARSE.scale
    assert m.yearly["households_left"] == left * COARSE.scale
    assert m.yearly["households"] == len(m.households) * COARSE.scale
    # the land's occupancy is exactly the tally of housed households; capacity holds
    np.testing.assert_array_equal(m.land.occupancy, _occupancy_from_store(m))
    m.land.check()
    assert (m.households.group >= 0).all() and (m.households.group < N_GROUPS).all()


def test_occupancy_never_exceeds_capacity_over_years():
    m = MetroModel(COARSE.replace(formation_rate=0.05), rng=12)
    for _ in range(4):
        m.step()
        occ = m.land.occupancy.sum(axis=1)
        assert (occ <= m.land.capacity).all()
        assert (m.land.occupancy >= 0).all() and (m.land.capacity >= 0).all()
        np.testing.assert_array_equal(m.land.occupancy, _occupancy_from_store(m))
        assert (m.land.capacity[m.grid.commune.ravel() < 0] == 0).all()


# --- the run folder ------------------------------------------------------------------------
def test_run_writes_a_folder_that_reads_back(tmp_path):
    out = tmp_path / "run"
    r = run(COARSE.replace(name="coarse"), seed=9, years=2, out=out)
    assert {p.name for p in out.iterdir()} == {
        "manifest.json",
        "yearly.parquet",
        "municipal.parquet",
        "scenario.toml",
    }
    manifest = json.loads((out / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["seed"] == 9 and manifest["years"] == 2 and manifest["start_year"] == 2017
    assert Scenario.from_dict(manifest["scenario"]) == COARSE.replace(name="coarse")
    assert Scenario.load(out / "scenario.toml") == COARSE.replace(name="coarse")
    versions = manifest["versions"]
    for key in ("metrosim", "python", "numpy", "numba", "mesa", "pandas"):
        assert versions[key], key
    assert versions["mesa"].startswith("3.5")
    assert manifest == json.loads(json.dumps(r.manifest, default=str))  # what run() returned

    yearly = pd.read_parquet(out / "yearly.parquet")
    municipal = pd.read_parquet(out / "municipal.parquet")
    assert list(yearly.columns[:1]) == ["year"]
    assert {"year", "population", "households", "urban_area_ha"} <= set(yearly.columns)
    assert yearly["year"].tolist() == [2017, 2018, 2019]
    assert list(municipal.columns[:3]) == ["year", "cut", "name"]
    assert {"population", "households"} <= set(municipal.columns)
    assert len(municipal) == 3 * 52
    assert municipal.groupby("year").size().eq(52).all()
    pdt.assert_frame_equal(yearly, r.yearly)
    pdt.assert_frame_equal(municipal, r.municipal)
    # the per-commune households add up to the housed households of the region
    housed = yearly["households"] - yearly["unhoused_households"]
    np.testing.assert_array_equal(municipal.groupby("year")["households"].sum().to_numpy(), housed)
    m2, y2, mu2 = read_run(out)
    assert m2 == manifest
    pdt.assert_frame_equal(y2, r.yearly)
    pdt.assert_frame_equal(mu2, r.municipal)


def test_run_refuses_negative_years_and_runs_zero():
    with pytest.raises(ValueError, match=r"years = -1; allowed: 0 or more"):
        run(COARSE, years=-1)
    r = run(COARSE, seed=0, years=0)
    assert r.yearly["year"].tolist() == [2017] and len(r.municipal) == 52


_THREADS_CHILD = """
import hashlib, sys
from metrosim import Scenario, run
sc = Scenario.load("metropolitan_authority").replace(scale=20, cell_size_m=250.0)
r = run(sc, seed=7, years=2)
h = hashlib.sha256()
for table in (r.yearly, r.municipal):
    h.update(table.to_csv(float_format="%.17g").encode())
print("DIGEST", h.hexdigest())
"""


@pytest.mark.slow
def test_results_do_not_depend_on_the_number_of_threads(tmp_path):
    # numba's parallel kernels and numpy's BLAS (whose long dot products split the sum across
    # threads) must not change a single bit of a run
    import os
    import subprocess
    import sys

    digests = set()
    for threads in ("1", "2"):
        env = dict(
            os.environ,
            NUMBA_NUM_THREADS=threads,
            OPENBLAS_NUM_THREADS=threads,
            OMP_NUM_THREADS=threads,
            METROSIM_DISK_CACHE="0",
        )
        out = subprocess.run(
            [sys.executable, "-c", _THREADS_CHILD],
            env=env,
            capture_output=True,
            text=True,
            check=True,
            cwd=tmp_path,
        ).stdout
        digests.add(next(ln for ln in out.splitlines() if ln.startswith("DIGEST")))
    assert len(digests) == 1
