"""The disk cache of derived start-up inputs (``metrosim._diskcache``) and its users.

Unit tests of the cache (hit, miss on any changed key part, damaged or tampered files rebuilt,
a read-only folder, switched off), then the cached computations: a model built from the cache
is identical to one built without it, bit for bit, with the same random draws.
"""

from __future__ import annotations

import os
import time
from dataclasses import fields

import numpy as np
import pytest

from metrosim import MetroModel, Scenario, _diskcache, environment
from metrosim import population as population_mod
from metrosim import travel as travel_mod


@pytest.fixture
def cache(tmp_path, monkeypatch):
    d = tmp_path / "cache"
    monkeypatch.setenv("METROSIM_CACHE_DIR", str(d))
    monkeypatch.delenv("METROSIM_DISK_CACHE", raising=False)
    return d


class _Builder:
    """A computation that counts its calls."""

    def __init__(self, value: float = 1.5):
        self.calls = 0
        self.value = value

    def __call__(self) -> dict[str, np.ndarray]:
        self.calls += 1
        return {
            "a": np.arange(6, dtype=np.int16).reshape(2, 3),
            "b": np.array([self.value, np.nan, -0.0, 1e-310]),
            "c": np.float64(self.value / 3),
        }


def _assert_identical(x: dict, y: dict) -> None:
    assert sorted(x) == sorted(y)
    for k in x:
        a, b = np.asarray(x[k]), np.asarray(y[k])
        assert a.dtype == b.dtype and a.shape == b.shape, k
        assert a.tobytes() == b.tobytes(), k  # bit for bit (nan, -0.0, subnormals)


def _only_file(d):
    files = sorted(d.glob("*.npz"))
    assert len(files) == 1, files
    return files[0]


# --- the cache itself ----------------------------------------------------------------------
def test_miss_writes_then_hit_reads_without_rebuilding(cache):
    build = _Builder()
    key = (np.arange(4), 2.0, "x")
    first = _diskcache.cached_arrays("unit", key, build)
    assert build.calls == 1
    path = _only_file(cache)
    assert path.name.startswith("unit-")
    again = _diskcache.cached_arrays("unit", (np.arange(4), 2.0, "x"), build)
    assert build.calls == 1, "the second call recomputed instead of reading the cache"
    _assert_identical(first, again)
    assert again["a"].flags.writeable
    assert list(cache.glob(".*.tmp")) == [], "a temporary file was left behind"


@pytest.mark.parametrize(
    "other",
    [
        (np.arange(4, dtype=np.int32), 2.0, "x"),  # same values, other dtype
        (np.arange(4).reshape(2, 2), 2.0, "x"),  # other shape
        (np.array([0, 1, 2, 4]), 2.0, "x"),  # other values
        (np.arange(4), 2.0000000000000004, "x"),  # the next float
        (np.arange(4), 2, "x"),  # an int is not a float
        (np.arange(4), 2.0, "y"),
        (np.arange(4), 2.0),
    ],
)
def test_any_changed_key_part_is_a_miss(cache, other):
    build = _Builder()
    _diskcache.cached_arrays("unit", (np.arange(4), 2.0, "x"), build)
    _diskcache.cached_arrays("unit", other, build)
    assert build.calls == 2
    assert _diskcache.digest(other) != _diskcache.digest((np.arange(4), 2.0, "x"))


def test_a_changed_code_version_is_a_miss(cache, monkeypatch):
    build = _Builder()
    _diskcache.cached_arrays("unit", (1,), build)
    monkeypatch.setattr(_diskcache, "code_version", lambda: "another version of the code")
    _diskcache.cached_arrays("unit", (1,), build)
    assert build.calls == 2


def test_code_version_covers_the_package_sources_and_versions():
    v = _diskcache.code_version()
    assert len(v) == 64 and v == _diskcache.code_version()


def test_the_kind_is_part_of_the_key(cache):
    build = _Builder()
    _diskcache.cached_arrays("one", (1,), build)
    _diskcache.cached_arrays("two", (1,), build)
    assert build.calls == 2


def test_a_file_of_another_key_under_the_same_name_is_not_used(cache, monkeypatch):
    build = _Builder(1.5)
    _diskcache.cached_arrays("unit", (1,), build)
    path = _only_file(cache)
    # the same file name for another key (a prefix collision): the full key inside decides
    monkeypatch.setattr(_diskcache, "_path", lambda kind, key: path)
    other = _Builder(2.5)
    got = _diskcache.cached_arrays("unit", (2,), other)
    assert other.calls == 1
    _assert_identical(got, other())


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_a_damaged_file_is_rebuilt(cache, damage, damage_file):
    build = _Builder()
    first = _diskcache.cached_arrays("unit", (1,), build)
    path = _only_file(cache)
    damage_file(path, damage)
    again = _diskcache.cached_arrays("unit", (1,), build)
    assert build.calls == 2
    _assert_identical(first, again)
    # the rebuilt file replaced the damaged one
    _diskcache.cached_arrays("unit", (1,), build)
    assert build.calls == 2


def test_a_tampered_array_fails_the_checksum(cache):
    build = _Builder()
    first = _diskcache.cached_arrays("unit", (1,), build)
    path = _only_file(cache)
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["b"] = arrays["b"].copy()
    arrays["b"][0] = 99.0  # a readable file whose data no longer match its checksum
    with path.open("wb") as fh:
        np.savez(fh, **arrays)
    again = _diskcache.cached_arrays("unit", (1,), build)
    assert build.calls == 2
    _assert_identical(first, again)


def test_a_cache_folder_that_cannot_be_written_is_not_an_error(cache, monkeypatch):
    def refuse(path, data):
        raise PermissionError(13, "Permission denied", str(path))

    monkeypatch.setattr(_diskcache, "atomic_write_bytes", refuse)
    build = _Builder()
    got = _diskcache.cached_arrays("unit", (1,), build)
    _diskcache.cached_arrays("unit", (1,), build)
    assert build.calls == 2
    _assert_identical(got, _Builder()())


def test_switched_off_it_always_computes_and_writes_nothing(cache, monkeypatch):
    monkeypatch.setenv("METROSIM_DISK_CACHE", "0")
    build = _Builder()
    _diskcache.cached_arrays("unit", (1,), build)
    _diskcache.cached_arrays("unit", (1,), build)
    assert build.calls == 2
    assert not cache.exists() or not list(cache.glob("*.npz"))


def test_keys_refuse_what_they_cannot_hash():
    with pytest.raises(TypeError, match="cannot key"):
        _diskcache.digest(object())


def test_dataclasses_and_dicts_are_keyed_by_their_content():
    s = Scenario(scale=50, cell_size_m=2000)
    assert _diskcache.digest(s) == _diskcache.digest(Scenario(scale=50, cell_size_m=2000))
    assert _diskcache.digest(s) != _diskcache.digest(s.replace(car_charge_min=1.0))
    assert _diskcache.digest({"a": 1, "b": 2}) == _diskcache.digest({"b": 2, "a": 1})


# --- the cached computations -----------------------------------------------------------------
SMALL = {"scale": 50, "cell_size_m": 2000.0}


def _model_state(m: MetroModel) -> dict[str, np.ndarray]:
    return {
        "households": m.initial.households,
        "dwellings": m.initial.dwellings,
        "groups": m.initial.commune_groups,
        "shares": m.initial.group_shares,
        "hh_group": m.households.group,
        "asc": m.travel.asc,
        "load": m.travel.load,
        "error": np.float64(m.travel.calibration_error),
        "river": m.river_km,
        "indptr": m.travel.zones.indptr,
        "indices": m.travel.zones.indices,
        "data": m.travel.zones.data,
        "band_share": m.travel.zones.band_share,
        "band_km": m.travel.zones.band_km,
        "commute": m.commute,
        "rent": m.land.rent,
    }


def _build(seed: int, **changes) -> MetroModel:
    environment._river_km_cached.cache_clear()  # the in-memory layer would hide the disk
    return MetroModel(Scenario(**SMALL).replace(**changes), rng=seed)


def _count(monkeypatch, module, name) -> list[int]:
    calls = [0]
    real = getattr(module, name)

    def counted(*args, **kwargs):
        calls[0] += 1
        return real(*args, **kwargs)

    monkeypatch.setattr(module, name, counted)
    return calls


@pytest.mark.slow
@pytest.mark.parametrize("seed", [1, 7])
def test_a_model_from_the_cache_is_identical_to_one_computed(cache, monkeypatch, seed):
    # the reference: everything computed, nothing read from or written to disk
    monkeypatch.setenv("METROSIM_DISK_CACHE", "0")
    ref = _build(seed)
    ref_rng = ref.rng.bit_generator.state
    ref.step()
    monkeypatch.setenv("METROSIM_DISK_CACHE", "1")
    pop = _count(monkeypatch, population_mod, "_initial_population")
    cal = _count(monkeypatch, travel_mod.Travel, "_calibrate")
    riv = _count(monkeypatch, environment, "_river_km")
    # first: a miss that fills the cache; second: a hit on all of it
    for expected_calls in (1, 1):
        m = _build(seed)
        assert (pop[0], cal[0], riv[0]) == (expected_calls,) * 3
        assert m.rng.bit_generator.state == ref_rng, "the cache changed the random draws"
        m.step()
        _assert_identical(_model_state(ref), _model_state(m))
        assert m.yearly == ref.yearly
    kinds = sorted(p.name.split("-")[0] for p in cache.glob("*.npz") if "grid" not in p.name)
    assert kinds == ["calibration", "commute", "population", "rivers", "zones"]


@pytest.mark.slow
def test_the_calibration_is_keyed_by_the_seed_and_the_scenario(cache, monkeypatch):
    cal = _count(monkeypatch, travel_mod.Travel, "_calibrate")
    pop = _count(monkeypatch, population_mod, "_initial_population")
    _build(1)
    _build(2)  # other households' income groups: another calibration, the same population
    assert (cal[0], pop[0]) == (2, 1)
    # any field of the scenario keys the calibration, even one it does not read
    m = _build(1, car_charge_min=5.0)
    assert cal[0] == 3
    # a field of the initial population keys it
    _build(1, vacancy_initial=m.params.vacancy_initial + 0.01)
    assert pop[0] == 2


def test_the_initial_population_from_the_cache_is_identical(cache):
    from metrosim.data import load_city
    from metrosim.grid import load_grid

    city = load_city()
    grid = load_grid(cell_size_m=2000.0)
    dev = grid.commune >= 0
    args = {"scale": 50, "household_size": 3.1, "vacancy": 0.05, "developable": dev}
    a = population_mod.initial_population(city, grid, **args)
    b = population_mod.initial_population(city, grid, **args)
    c = population_mod._initial_population(city, grid, **args)
    for f in fields(a):
        for x in (b, c):
            y, z = getattr(a, f.name), getattr(x, f.name)
            assert y.dtype == z.dtype and y.tobytes() == z.tobytes(), f.name


def test_commute_minutes_from_the_cache_are_identical(cache, monkeypatch):
    from metrosim import accessibility, surfaces

    rng = np.random.default_rng(3)
    speed = rng.uniform(5.0, 40.0, (12, 15))
    speed[3, :7] = 0.0  # impassable cells
    jobs = rng.poisson(2.0, (12, 15)).astype(np.float64)
    net = accessibility.Network(speed.size, [3, 100], [150, 7], [4.0, 2.5])
    calls = _count(monkeypatch, surfaces, "_job_accessibility")
    args = (speed, 500.0, jobs, net)
    kw = {"block": 2, "beta": 0.05}
    plain = accessibility.commute_minutes(*args, **kw)
    first = accessibility.commute_minutes(*args, **kw, disk_cache=True)
    again = accessibility.commute_minutes(*args, **kw, disk_cache=True)
    assert calls[0] == 2, "the second cached call recomputed"
    for x in (first, again):
        assert x.dtype == plain.dtype and x.tobytes() == plain.tobytes()
    # another network is another key
    net2 = accessibility.Network(speed.size, [3, 100], [150, 7], [4.0, 2.0])
    accessibility.commute_minutes(speed, 500.0, jobs, net2, **kw, disk_cache=True)
    assert calls[0] == 3


def _assert_same_city(a, b) -> None:
    from metrosim.data import AsciiGrid

    for f in fields(a):
        x, y = getattr(a, f.name), getattr(b, f.name)
        if isinstance(x, np.ndarray):
            assert x.dtype == y.dtype and x.shape == y.shape, f.name
            assert x.tobytes() == y.tobytes(), f.name
        elif isinstance(x, AsciiGrid):
            assert x.values.tobytes() == y.values.tobytes(), f.name
            assert (x.xll, x.yll, x.cellsize) == (y.xll, y.yll, y.cellsize), f.name
        elif f.name.endswith("_rings"):
            assert [len(r) for r in x] == [len(r) for r in y], f.name
            for fx, fy in zip(x, y, strict=True):
                for rx, ry in zip(fx, fy, strict=True):
                    assert rx.dtype == ry.dtype and np.array_equal(rx, ry), f.name
        else:
            assert x == y and type(x) is type(y), f.name


def test_city_data_from_the_cache_are_identical(cache, monkeypatch):
    import metrosim.data as data_mod

    parsed = _count(monkeypatch, data_mod, "_parse_city")
    stamp = ("a stamp no other test uses",)
    miss = data_mod._load_city.__wrapped__("santiago", stamp)
    hit = data_mod._load_city.__wrapped__("santiago", stamp)
    assert parsed[0] == 1, "the second load parsed the files again"
    reference = data_mod._parse_city("santiago", "")
    assert reference.fingerprint == miss.fingerprint
    for city in (miss, hit):
        _assert_same_city(reference, city)
    assert all(type(n) is str for n in hit.name + hit.station_id)
    assert list(hit.line_sequences) == list(reference.line_sequences)


def test_entries_of_other_code_versions_are_pruned_once_stale(cache, monkeypatch):
    build = _Builder()
    monkeypatch.setattr(_diskcache, "code_version", lambda: "a" * 64)
    _diskcache.cached_arrays("unit", (1,), build)
    _diskcache.cached_arrays("other", (1,), build)
    old_unit, old_other = sorted(cache.glob("unit-*.npz")), sorted(cache.glob("other-*.npz"))
    assert len(old_unit) == len(old_other) == 1
    monkeypatch.setattr(_diskcache, "code_version", lambda: "b" * 64)
    _diskcache.cached_arrays("unit", (1,), build)  # a recent entry of another version stays
    assert old_unit[0].exists() and len(list(cache.glob("unit-*.npz"))) == 2
    stale = time.time() - (_diskcache.STALE_DAYS + 1) * 86400.0
    os.utime(old_unit[0], (stale, stale))
    os.utime(old_other[0], (stale, stale))
    _diskcache.cached_arrays("unit", (2,), build)
    assert not old_unit[0].exists(), "a stale entry of another code version was kept"
    assert old_other[0].exists(), "an entry of another kind was pruned"
    assert len(list(cache.glob("unit-bbbb*.npz"))) == 2
    # a hit marks its entry as in use
    mine = sorted(cache.glob("unit-bbbb*.npz"))[0]
    os.utime(mine, (stale, stale))
    _diskcache.cached_arrays("unit", (1,), build)
    _diskcache.cached_arrays("unit", (2,), build)
    assert mine.stat().st_mtime > stale + 86400.0
