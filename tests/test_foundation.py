"""The foundation's promises: parameter table, grid vs data, initial population, determinism."""

import re
import sys
from pathlib import Path

import numpy as np
import pandas.testing as pdt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim import MetroModel, Scenario, ScenarioError, run
from metrosim.cli import main
from metrosim.data import load_city
from metrosim.grid import load_grid
from metrosim.io import read_run
from metrosim.scenario import parameter_table_markdown

ROOT = Path(__file__).resolve().parents[1]
COARSE = Scenario(cell_size_m=1000.0, scale=50)


def test_parameter_table_matches_code():
    page = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    assert page == parameter_table_markdown(), (
        "docs/parameters.md is out of date: run `python -m metrosim.scenario`"
    )


def test_grid_has_every_commune_and_areas_match_polygons():
    city = load_city()
    g = load_grid(cell_size_m=1000.0)
    cells = np.bincount(g.commune[g.commune >= 0], minlength=len(city.cut))
    assert (cells > 0).all()
    area = cells * g.cell_size_m**2 / 1e6
    big = cells > 50  # boundary cells dominate the error of small communes at 1 km
    rel = np.abs(area[big] / g.commune_area_km2[big] - 1)
    assert rel.max() < 0.08, rel.max()
    np.testing.assert_allclose(g.commune_area_km2, city.area_km2, rtol=0.01)


def test_initial_population_equals_census_within_rounding():
    m = MetroModel(COARSE, rng=0)
    city = m.city
    per_hh = COARSE.household_size * COARSE.scale
    pop = m.municipal["population"]
    assert np.all(np.abs(pop - city.population) <= per_hh / 2 + 1e-6)
    assert abs(pop.sum() - 7_112_808) <= per_hh / 2 * len(city.cut)
    assert (m.land.occupancy.sum(axis=1) <= m.land.capacity).all()


@settings(max_examples=8, deadline=None)
@given(
    seed=st.integers(0, 2**31 - 1),
    form=st.floats(0, 0.1),
    leave=st.floats(0, 0.1),
)
def test_households_conserved_through_a_year(seed, form, leave):
    m = MetroModel(COARSE.replace(formation_rate=form, departure_rate=leave), rng=seed)
    start = len(m.households)
    m.step()
    assert start + m.flows["formed"] - m.flows["left"] == len(m.households)
    m.land.check()


def test_same_seed_same_tables_different_seed_different(tmp_path):
    a = run(COARSE, seed=4, years=2, out=tmp_path / "a")
    b = run(COARSE, seed=4, years=2)
    c = run(COARSE, seed=5, years=2)
    pdt.assert_frame_equal(a.yearly, b.yearly)
    pdt.assert_frame_equal(a.municipal, b.municipal)
    assert not a.yearly.equals(c.yearly)
    manifest, yearly, municipal = read_run(tmp_path / "a")
    assert manifest["seed"] == 4 and manifest["versions"]["mesa"].startswith("3.5")
    pdt.assert_frame_equal(yearly, a.yearly)
    pdt.assert_frame_equal(municipal, a.municipal)
    assert {"year", "cut", "name", "population", "households"} <= set(municipal.columns)


def test_scenario_errors_name_field_value_and_allowed(tmp_path):
    with pytest.raises(ScenarioError, match="'scale' = 0 is out of range; allowed: 1"):
        Scenario(scale=0)
    with pytest.raises(ScenarioError, match="unknown field 'scael' \\(did you mean scale"):
        Scenario().replace(scael=3)
    with pytest.raises(ScenarioError, match="'growth_boundary' = 'x' is not allowed"):
        Scenario(growth_boundary="x")
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nname=1", encoding="utf-8")
    with pytest.raises(ScenarioError, match="not valid TOML"):
        Scenario.load(bad)
    s = Scenario.load("coordinated").replace(scale=20)
    s.save(tmp_path / "s.toml")
    assert Scenario.load(tmp_path / "s.toml") == s


def test_cli_bad_input_is_one_line_without_traceback(capsys, tmp_path):
    assert main(["run", "nope"]) == 2
    err = capsys.readouterr().err
    assert "neither a file nor a preset" in err and "Traceback" not in err
    assert main(["run", "fragmented", "--set", "scale=-1"]) == 2
    assert "out of range" in capsys.readouterr().err
    out = tmp_path / "r"
    code = main(
        [
            "run",
            "fragmented",
            "--years",
            "1",
            "--scale",
            "50",
            "--cell-size",
            "1000",
            "--out",
            str(out),
        ]
    )
    assert code == 0
    assert (out / "yearly.parquet").is_file() and (out / "manifest.json").is_file()


def test_grid_cache_hit_corrupt_and_stale_are_handled(tmp_path, monkeypatch):
    import metrosim.grid as grid_mod

    monkeypatch.setenv("METROSIM_CACHE_DIR", str(tmp_path))
    first = load_grid(cell_size_m=1500.0)
    path = tmp_path / "grid-santiago-1500m.npz"
    assert path.is_file()
    again = load_grid(cell_size_m=1500.0)
    np.testing.assert_array_equal(first.commune, again.commune)
    # damage the cache: flipped bytes in the middle are detected and the grid is rebuilt
    data = bytearray(path.read_bytes())
    mid = len(data) // 2
    data[mid : mid + 64] = bytes(64)
    path.write_bytes(bytes(data))
    assert grid_mod._try_load(path, first.fingerprint) is None
    rebuilt = load_grid(cell_size_m=1500.0)
    np.testing.assert_array_equal(first.commune, rebuilt.commune)
    assert grid_mod._try_load(path, first.fingerprint) is not None
    # a cache from another builder version is stale
    monkeypatch.setattr(grid_mod, "BUILD_VERSION", "stale-test")
    key = grid_mod._key(load_city().fingerprint, 1500.0)
    assert grid_mod._try_load(path, key) is None


@settings(max_examples=50, deadline=None)
@given(
    st.integers(0, 30),
    st.integers(1, 6),
    st.sampled_from(["int32", "int64", "uint16", "float64"]),
    st.integers(0, 2**32 - 1),
)
def test_row_sums_equals_numpy_sum(n, k, dtype, seed):
    from metrosim.land import row_sums

    rng = np.random.default_rng(seed)
    a = rng.integers(0, 1000, (n, k)).astype(dtype)
    got = row_sums(a)
    assert got.dtype == a.dtype
    np.testing.assert_array_equal(got, a.sum(axis=1, dtype=a.dtype))


def test_urban_mask_is_the_urban_uses_for_every_code():
    from metrosim.land import _URBAN_LOOKUP, URBAN_USES, LandState

    codes = np.arange(256, dtype=np.uint8)
    state = LandState.__new__(LandState)  # only land_use is read by the mask
    for dtype in (np.uint8, np.int64):
        state.land_use = codes.astype(dtype)
        want = np.isin(codes, np.array(URBAN_USES, dtype=np.uint8))
        np.testing.assert_array_equal(state.urban, want)
    np.testing.assert_array_equal(_URBAN_LOOKUP, want)


_REUSE = """
import json, resource, sys
import numpy as np
from metrosim._memory import tune_allocator
applied = tune_allocator()
def faults():
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt
for round in range(2):
    f0 = faults()
    arrays = [np.ones(2_500_000) for _ in range(12)]  # 12 arrays of 20 MB, every page touched
    f1 = faults()
    del arrays
print(json.dumps({"applied": applied, "faults": f1 - f0}))
"""


def _reuse_run(**env):
    import json
    import os
    import subprocess
    import sys

    base = {k: v for k, v in os.environ.items() if not k.startswith(("MALLOC_", "METROSIM_MALLOC"))}
    out = subprocess.run(
        [sys.executable, "-c", _REUSE], env={**base, **env}, capture_output=True, text=True
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc malloc settings")
def test_tuned_allocator_reuses_freed_grid_sized_arrays():
    import ctypes

    if not hasattr(ctypes.CDLL(None), "gnu_get_libc_version"):
        pytest.skip("not glibc")
    pages = 12 * 20_000_000 // 4096
    tuned = _reuse_run()
    assert tuned["applied"] is True
    # the second round reuses the first round's memory (with glibc's defaults it is handed
    # back and faulted in again: thousands of faults, fewer where huge pages serve numpy)
    assert tuned["faults"] < 0.01 * pages
    assert _reuse_run(METROSIM_MALLOC_TUNING="0")["applied"] is False
    # the user's own glibc settings win
    assert _reuse_run(MALLOC_TRIM_THRESHOLD_="131072")["applied"] is False


def test_openmp_threads_sleep_when_idle_unless_the_user_chose():
    # numba's OpenMP threads would otherwise spin between the model's parallel kernels and
    # take CPU from its own thread and from other processes; a user's own setting is kept
    import os
    import subprocess

    code = (
        "import os, numpy as np, metrosim, numba\n"
        "from metrosim._kernels.spatial import row_totals\n"
        "row_totals(np.ones((4, 5), dtype=np.int32))\n"
        "print(os.environ['OMP_WAIT_POLICY'], numba.threading_layer())"
    )
    # GNU libgomp prints the settings it read when it loads (OMP_DISPLAY_ENV); its spin count
    # is what the policy sets: 0 for PASSIVE, 30e9 for ACTIVE, 300000 when unset
    spins = {"PASSIVE": "0", "ACTIVE": "30000000000"}
    for chosen, expected in ((None, "PASSIVE"), ("ACTIVE", "ACTIVE")):
        env = {
            k: v
            for k, v in os.environ.items()
            if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", "OMP_DISPLAY_ENV")
        }
        env["OMP_DISPLAY_ENV"] = "VERBOSE"
        if chosen is not None:
            env["OMP_WAIT_POLICY"] = chosen
        run = subprocess.run(
            [sys.executable, "-c", code], env=env, capture_output=True, text=True, check=True
        )
        out = run.stdout.split()
        assert out[0] == expected
        assert out[1] in ("omp", "workqueue", "tbb")
        shown = re.findall(r"GOMP_SPINCOUNT = '(\d+)'", run.stdout + run.stderr)
        if out[1] == "omp" and shown:  # libgomp (others print no spin count): it took effect
            assert shown == [spins[expected]]


def _blas_threads(threadpoolctl) -> list[int]:
    """Threads of each BLAS library numpy loaded; skips the test when there is none."""
    info = threadpoolctl.threadpool_info()
    threads = [i["num_threads"] for i in info if i["user_api"] == "blas"]
    if not threads:
        pytest.skip("numpy loaded no BLAS that threadpoolctl controls")
    return threads


def test_single_blas_thread_limits_blas_inside_and_restores_it():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from metrosim._threads import single_blas_thread

    before = _blas_threads(threadpoolctl)
    rng = np.random.default_rng(3)
    a, b = rng.random((3000, 6)), rng.random(3000)
    want = np.linalg.lstsq(a, b, rcond=None)[0]
    with single_blas_thread():
        assert _blas_threads(threadpoolctl) == [1] * len(before)
        got = np.linalg.lstsq(a, b, rcond=None)[0]
    assert _blas_threads(threadpoolctl) == before
    np.testing.assert_array_equal(got, want)


def test_model_year_runs_with_one_blas_thread(monkeypatch):
    import metrosim.model as model_module

    entered = []

    class Spy:
        def __enter__(self):
            entered.append(True)

        def __exit__(self, *exc):
            return False

    monkeypatch.setattr(model_module, "single_blas_thread", Spy)
    m = model_module.MetroModel(model_module.Scenario(scale=50, cell_size_m=2000.0), rng=1)
    m.step()
    assert entered == [True] and m.year == model_module.START_YEAR + 1


def test_single_blas_thread_nested_and_in_threads_leaves_the_limits_as_they_were():
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from metrosim._threads import single_blas_thread

    before = _blas_threads(threadpoolctl)
    with single_blas_thread():
        with single_blas_thread():
            assert _blas_threads(threadpoolctl) == [1] * len(before)
        assert _blas_threads(threadpoolctl) == [1] * len(before)
    assert _blas_threads(threadpoolctl) == before
    # blocks open in two threads at once (the first to set a limit controls OpenBLAS's
    # process-wide pool): once both have closed, the limits are the original ones
    first_in, second_out = threading.Event(), threading.Event()
    inside = []

    def first():
        with single_blas_thread():
            inside.append(_blas_threads(threadpoolctl))
            first_in.set()
            second_out.wait(10)

    t = threading.Thread(target=first)
    t.start()
    first_in.wait(10)
    with single_blas_thread():
        pass
    second_out.set()
    t.join(10)
    assert inside == [[1] * len(before)]
    assert _blas_threads(threadpoolctl) == before
    with single_blas_thread():  # and this thread can set them again
        assert _blas_threads(threadpoolctl) == [1] * len(before)


def test_single_blas_thread_blocks_that_close_in_the_order_they_opened():
    # models stepping in two threads (the dashboard's sessions): the first block closes while
    # the second is still open; BLAS stays on one thread until the second closes, and then
    # has the limits it had before the first opened (with threadpoolctl's limiter per block
    # the second block kept the first's limit as its "original": one thread for good)
    import threading

    threadpoolctl = pytest.importorskip("threadpoolctl")
    from metrosim._threads import single_blas_thread

    before = _blas_threads(threadpoolctl)
    first_in, second_in, first_out = threading.Event(), threading.Event(), threading.Event()
    seen = {}

    def first():
        with single_blas_thread():
            first_in.set()
            second_in.wait(10)
        first_out.set()

    def second():
        first_in.wait(10)
        with single_blas_thread():
            second_in.set()
            first_out.wait(10)
            seen["second alone"] = _blas_threads(threadpoolctl)

    threads = [threading.Thread(target=first), threading.Thread(target=second)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert seen == {"second alone": [1] * len(before)}
    assert _blas_threads(threadpoolctl) == before


def test_single_blas_thread_restores_the_limits_when_the_block_raises():
    threadpoolctl = pytest.importorskip("threadpoolctl")
    from metrosim._threads import single_blas_thread

    before = _blas_threads(threadpoolctl)
    with pytest.raises(RuntimeError, match="in the year"):
        with single_blas_thread():
            with single_blas_thread():
                assert _blas_threads(threadpoolctl) == [1] * len(before)
                raise RuntimeError("in the year")
    assert _blas_threads(threadpoolctl) == before
    with single_blas_thread():  # and a later block limits them again
        assert _blas_threads(threadpoolctl) == [1] * len(before)
    assert _blas_threads(threadpoolctl) == before


def test_single_blas_thread_does_nothing_without_threadpoolctl(monkeypatch):
    import contextlib

    import metrosim._threads as threads

    monkeypatch.setitem(sys.modules, "threadpoolctl", None)  # import fails
    monkeypatch.setattr(threads, "_state", {})
    block = threads.single_blas_thread()
    assert isinstance(block, contextlib.nullcontext)
    with block:
        pass
