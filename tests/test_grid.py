"""The grid against the data it is built from; the cache; the rasteriser kernel.

Rasterisation error. A cell belongs to a polygon when its centre does, so each cell cut by the
boundary adds or removes part of a cell. Treating those errors as independent and uniform on
[-1/2, 1/2] cell, a polygon of perimeter P on cells of side a has an area error with standard
deviation sigma = a^2 * sqrt(P / a / 12). Measured over the 52 communes the error divided by this
sigma has an RMS of 0.9-1.1 at 100-1000 m, and a maximum of 3.3 (Conchalí at 250 m); the tests
allow 4.5 sigma for every commune plus plain relative bounds, tighter for larger communes.
"""

import shutil

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pyproj import Transformer

import metrosim.grid as grid_mod
from metrosim._kernels.raster import fill_features
from metrosim.data import load_city
from metrosim.grid import CRS, GridLayers, load_grid

#: Union of the 2017 urban census zones (ha), data README; the zones do not overlap (the sum of
#: their polygon areas in UTM 19S is 101,522 ha too).
FOOTPRINT_HA = 101_522.0
N_COMMUNES = 52


@pytest.fixture(scope="session")
def city():
    return load_city()


@pytest.fixture(scope="session")
def grids():
    """Grids built from the data (no cache) at the two resolutions the tests check."""
    return {cs: load_grid(cell_size_m=cs, use_cache=False) for cs in (1000.0, 250.0)}


@pytest.fixture(scope="session")
def to_utm():
    return Transformer.from_crs("EPSG:4326", CRS, always_xy=True)


def _perimeter_m(city, to_utm):
    out = []
    for rings in city.commune_rings:
        p = 0.0
        for r in rings:
            x, y = to_utm.transform(r[:, 0], r[:, 1])
            p += float(np.hypot(np.diff(np.r_[x, x[0]]), np.diff(np.r_[y, y[0]])).sum())
        out.append(p)
    return np.array(out)


# --- grid vs data --------------------------------------------------------------------------
@pytest.mark.parametrize("cell", [1000.0, 250.0])
def test_every_commune_is_on_the_grid(grids, city, cell):
    g = grids[cell]
    cells = np.bincount(g.commune[g.commune >= 0], minlength=N_COMMUNES)
    assert len(city.cut) == N_COMMUNES and cells.size == N_COMMUNES
    assert (cells > 0).all(), [city.name[i] for i in np.flatnonzero(cells == 0)]
    # the grid has a margin: no commune touches its edge
    assert (g.commune[[0, -1], :] < 0).all() and (g.commune[:, [0, -1]] < 0).all()


@pytest.mark.parametrize("cell", [1000.0, 250.0])
def test_commune_areas_on_the_grid_match_the_polygons(grids, city, to_utm, cell):
    g = grids[cell]
    cells = np.bincount(g.commune[g.commune >= 0], minlength=N_COMMUNES)
    grid_km2 = cells * cell**2 / 1e6
    poly_km2 = g.commune_area_km2
    err_m2 = (grid_km2 - poly_km2) * 1e6
    sigma_m2 = cell**2 * np.sqrt(_perimeter_m(city, to_utm) / cell / 12)
    z = np.abs(err_m2) / sigma_m2
    assert z.max() < 4.5, (city.name[int(z.argmax())], z.max())
    rel = np.abs(grid_km2 / poly_km2 - 1)
    # stated tolerances: > 100 cells within 5%, > 20 cells within 10%, any commune within 25%
    for min_cells, tol in ((100, 0.05), (20, 0.10), (0, 0.25)):
        big = cells > min_cells
        assert rel[big].max() < tol, (min_cells, [city.name[i] for i in np.flatnonzero(big)])
    # the region as a whole: boundary errors of neighbours cancel
    assert abs(grid_km2.sum() / poly_km2.sum() - 1) < 0.002


def test_polygon_areas_agree_with_the_commune_table(grids, city):
    # communes.csv area_km2 is "from the polygons, within ~0.5% of published areas"
    np.testing.assert_allclose(grids[1000.0].commune_area_km2, city.area_km2, rtol=0.006)
    assert 15_300 < city.area_km2.sum() < 15_500  # the Metropolitan Region, ~15,400 km2


@pytest.mark.parametrize("cell", [1000.0, 250.0])
def test_census_footprint_area(grids, cell):
    """Measured: 101,900 ha at 1000 m (+0.37%), 101,837.5 ha at 250 m (+0.31%).

    The footprint's boundary is long and ragged (hundreds of km), so the same centre-in-polygon
    error as for communes applies; it converges to 101,522 ha at 50 m (101,521.5 ha). 1% allows
    about 1 sigma at 1000 m and 7 sigma at 250 m.
    """
    g = grids[cell]
    footprint_ha = (g.zone >= 0).sum() * g.cell_area_ha
    assert abs(footprint_ha / FOOTPRINT_HA - 1) < 0.01, footprint_ha
    # INE's urban limit (101,541 ha as polygons) covers the same land
    limit_ha = g.urban_limit.sum() * g.cell_area_ha
    assert abs(limit_ha / 101_541.0 - 1) < 0.01, limit_ha
    assert (g.zone[g.commune < 0] == -1).all()


@pytest.mark.parametrize("cell", [1000.0, 250.0])
def test_schools_and_clinics_are_counted_once_each(grids, city, to_utm, cell):
    g = grids[cell]
    ny, nx = g.shape
    for layer, points in ((g.schools, city.schools), (g.clinics, city.clinics)):
        x, y = to_utm.transform(points[:, 0], points[:, 1])
        on_grid = g.cell_of(x, y)
        inside = on_grid >= 0
        assert int(layer.sum()) == int(inside.sum())
        expected = np.bincount(on_grid[inside], minlength=ny * nx).reshape(g.shape)
        np.testing.assert_array_equal(layer, expected)
    # every point of the registers lies on the grid (3,136 schools, 462 clinics)
    assert int(g.schools.sum()) == len(city.schools) == 3136
    assert int(g.clinics.sum()) == len(city.clinics) == 462


@pytest.mark.parametrize("cell", [1000.0, 250.0])
def test_metro_stations_and_links(grids, city, cell):
    g = grids[cell]
    assert g.station_cell.shape == (126,) and len(city.station_id) == 126
    assert (g.station_cell >= 0).all()
    assert (g.commune.ravel()[g.station_cell] >= 0).all(), "a station outside the region"
    in_core = city.in_core[g.commune.ravel()[g.station_cell]]
    assert in_core.mean() > 0.9
    # 143 line-station rows on 7 lines -> 136 consecutive pairs, both directions
    assert g.metro_from.size == g.metro_to.size == g.metro_km.size == 2 * (143 - 7)
    links = {
        (int(a), int(b)): km for a, b, km in zip(g.metro_from, g.metro_to, g.metro_km, strict=True)
    }
    assert len(links) == g.metro_from.size, "a link listed twice"
    for (a, b), km in links.items():
        assert (b, a) in links and links[(b, a)] == km
        assert a != b
    assert (g.metro_km > 0.2).all() and (g.metro_km < 6.0).all()


def test_shapes_dtypes_and_layers(grids):
    g = grids[1000.0]
    assert isinstance(g, GridLayers)
    for name in ("commune", "zone", "urban_limit", "elevation_m", "slope_deg", "schools"):
        assert getattr(g, name).shape == g.shape, name
    for name in ("clinics", "park_m2", "jobs"):
        assert getattr(g, name).shape == g.shape, name
    assert g.commune.dtype == np.int16 and g.zone.dtype == np.int32
    assert (g.park_m2 >= 0).all() and (g.park_m2 <= g.cell_size_m**2 + 1e-3).all()
    assert (g.jobs[g.commune < 0] == 0).all() and g.jobs.sum() > 0


def test_terrain_is_known_where_the_srtm_tile_has_data(grids, city, to_utm):
    g = grids[1000.0]
    region = g.commune >= 0
    x, y = g.cell_centres()
    lon, lat = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True).transform(x, y)
    np.testing.assert_array_equal(np.isnan(g.slope_deg), np.isnan(city.slope.sample(lon, lat)))
    s = city.slope
    ny, nx = s.values.shape
    in_tile = (lon >= s.xll) & (lon < s.xll + nx * s.cellsize)
    in_tile &= (lat >= s.yll) & (lat < s.yll + ny * s.cellsize)
    assert np.isnan(g.slope_deg[~in_tile]).all()
    # measured: 41% of the region's land (6,250 km2, far west/south/east) is outside the tile
    # or on its voids and takes slope_outside_dem_deg; Gran Santiago is inside (< 0.1% NaN)
    core = region & city.in_core[np.maximum(g.commune, 0)]
    assert np.isnan(g.slope_deg[core]).mean() < 0.001
    assert 0.35 < np.isnan(g.slope_deg[region]).mean() < 0.45
    valid = g.slope_deg[region & ~np.isnan(g.slope_deg)]
    assert (valid >= 0).all() and (valid < 60).all()


# --- the cache -----------------------------------------------------------------------------
class _CountBuilds:
    def __init__(self, monkeypatch):
        self.calls = 0
        real = grid_mod.build_layers

        def counted(*args, **kwargs):
            self.calls += 1
            return real(*args, **kwargs)

        monkeypatch.setattr(grid_mod, "build_layers", counted)


def _assert_same_layers(a, b):
    for name in GridLayers.__dataclass_fields__:
        if name != "fingerprint":
            np.testing.assert_array_equal(getattr(a, name), getattr(b, name), err_msg=name)


@pytest.fixture
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("METROSIM_CACHE_DIR", str(tmp_path))
    assert grid_mod.cache_dir() == tmp_path
    return tmp_path


def test_second_load_hits_the_cache(cache, monkeypatch):
    builds = _CountBuilds(monkeypatch)
    first = load_grid(cell_size_m=1000.0)
    assert builds.calls == 1
    assert (cache / "grid-santiago-1000m.npz").is_file()
    again = load_grid(cell_size_m=1000.0)
    assert builds.calls == 1, "the second load rebuilt the grid instead of reading the cache"
    _assert_same_layers(first, again)
    assert again.fingerprint == first.fingerprint
    assert isinstance(again.cell_size_m, float) and again.cell_size_m == 1000.0
    assert list(cache.glob(".*.tmp")) == [], "a temporary file was left behind"


@pytest.mark.parametrize("damage", ["truncate", "flip", "garbage", "empty"])
def test_damaged_cache_is_detected_and_rebuilt(cache, monkeypatch, damage, damage_file):
    builds = _CountBuilds(monkeypatch)
    first = load_grid(cell_size_m=1000.0)
    path = cache / "grid-santiago-1000m.npz"
    damage_file(path, damage)
    assert grid_mod._try_load(path, first.fingerprint) is None
    rebuilt = load_grid(cell_size_m=1000.0)
    assert builds.calls == 2
    _assert_same_layers(first, rebuilt)
    # the rebuilt file replaced the damaged one
    assert grid_mod._try_load(path, first.fingerprint) is not None


def test_tampered_array_in_a_valid_file_fails_the_checksum(cache, monkeypatch):
    builds = _CountBuilds(monkeypatch)
    first = load_grid(cell_size_m=1000.0)
    path = cache / "grid-santiago-1000m.npz"
    with np.load(path) as z:
        arrays = {k: z[k] for k in z.files}
    arrays["commune"] = arrays["commune"].copy()
    arrays["commune"][5, 5] = 7  # a readable file whose data no longer match its checksum
    np.savez(path, **arrays)
    assert grid_mod._try_load(path, first.fingerprint) is None
    rebuilt = load_grid(cell_size_m=1000.0)
    assert builds.calls == 2
    _assert_same_layers(first, rebuilt)


def test_stale_cache_is_rebuilt(cache, monkeypatch, city):
    builds = _CountBuilds(monkeypatch)
    first = load_grid(cell_size_m=1000.0)
    path = cache / "grid-santiago-1000m.npz"
    # a file with the right name built for another cell size is not used
    other = cache / "grid-santiago-1500m.npz"
    shutil.copy(path, other)
    g1500 = load_grid(cell_size_m=1500.0)
    assert builds.calls == 2 and g1500.cell_size_m == 1500.0
    assert g1500.shape != first.shape
    # another builder version: the key changes, the old file is stale and gets rebuilt
    monkeypatch.setattr(grid_mod, "BUILD_VERSION", grid_mod.BUILD_VERSION + "-test")
    new_key = grid_mod._key(city.fingerprint, 1000.0)
    assert new_key != first.fingerprint
    assert grid_mod._try_load(path, new_key) is None
    rebuilt = load_grid(cell_size_m=1000.0)
    assert builds.calls == 3 and rebuilt.fingerprint == new_key
    assert load_grid(cell_size_m=1000.0).fingerprint == new_key and builds.calls == 3


def test_other_input_data_change_the_key(city):
    k = grid_mod._key(city.fingerprint, 1000.0)
    assert grid_mod._key("0" * 64, 1000.0) != k
    assert grid_mod._key(city.fingerprint, 1000.0000001) != k


def test_cell_size_out_of_range_is_refused():
    with pytest.raises(ValueError, match="cell_size_m = 10.0 is out of range; allowed: 50 to 2000"):
        load_grid(cell_size_m=10.0, use_cache=False)


# --- the rasteriser kernel -----------------------------------------------------------------
def _raster(features, shape=(10, 10), x0=0.0, y_top=10.0, cell=1.0, kernel=fill_features):
    rings = [np.asarray(r, dtype=np.float64) for f in features for r in f]
    ring_start = np.concatenate([[0], np.cumsum([len(r) for r in rings])]).astype(np.int64)
    feature_start = np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)
    xy = np.concatenate(rings)
    out = np.full(shape, -1.0)
    kernel(
        np.ascontiguousarray(xy[:, 0]),
        np.ascontiguousarray(xy[:, 1]),
        ring_start,
        feature_start,
        np.arange(len(features), dtype=np.float64),
        x0,
        y_top,
        cell,
        shape[0],
        shape[1],
        out,
    )
    return out


def _rect(x0, y0, x1, y1, clockwise=False):
    r = [(x0, y0), (x1, y0), (x1, y1), (x0, y1)]
    return r[::-1] if clockwise else r


def _both(features, **kw):
    fast = _raster(features, **kw)
    slow = _raster(features, kernel=fill_features.py_func, **kw)
    np.testing.assert_array_equal(fast, slow)
    return fast


def test_kernel_square_exact_cells():
    out = _both([[_rect(2, 2, 6, 5)]])
    # cell centres x in 2.5..5.5 (4 columns), y in 2.5..4.5 (3 rows: rows 5, 6, 7)
    assert (out == 0).sum() == 12
    assert (out[5:8, 2:6] == 0).all()
    # orientation does not matter
    np.testing.assert_array_equal(out, _both([[_rect(2, 2, 6, 5, clockwise=True)]]))


def test_kernel_hole_even_odd():
    out = _both([[_rect(0, 0, 8, 8), _rect(2, 2, 6, 6, clockwise=True)]])
    assert (out == 0).sum() == 64 - 16
    assert (out[4:8, 2:6] == -1).all()
    # a hole listed with the same orientation is still a hole under the even-odd rule
    same = _both([[_rect(0, 0, 8, 8), _rect(2, 2, 6, 6)]])
    np.testing.assert_array_equal(out, same)
    # an island inside the hole is filled again
    island = _both([[_rect(0, 0, 8, 8), _rect(2, 2, 6, 6), _rect(3, 3, 5, 5)]])
    assert (island == 0).sum() == 64 - 16 + 4


def test_kernel_triangle_later_feature_wins_and_clipping():
    tri = [(0.0, 0.0), (10.2, 0.0), (0.0, 10.2)]
    out = _both([[tri]])
    # centre (j + .5, 9 - i + .5) is inside when x + y < 10.2: (i', j) with i' + j <= 9
    assert (out == 0).sum() == 55
    two = _both([[_rect(0, 0, 10, 10)], [_rect(4, 4, 6, 6)]])
    assert (two == 1).sum() == 4 and (two == 0).sum() == 96
    # polygons extending beyond the grid are clipped, not wrapped
    clipped = _both([[_rect(-5, -5, 3, 15)]], shape=(10, 10))
    assert (clipped == 0).sum() == 3 * 10
    outside = _both([[_rect(20, 20, 30, 30)]])
    assert (outside == -1).all()


def _inside_even_odd(px, py, rings):
    inside = np.zeros(px.shape, dtype=bool)
    for r in rings:
        r = np.asarray(r, dtype=np.float64)
        x1, y1 = r[:, 0], r[:, 1]
        x2, y2 = np.roll(x1, -1), np.roll(y1, -1)
        for a, b, c, d in zip(x1, y1, x2, y2, strict=True):
            cond = ((b <= py) & (py < d)) | ((d <= py) & (py < b))
            with np.errstate(divide="ignore", invalid="ignore"):
                xc = a + (py - b) * (c - a) / (d - b)
            inside ^= cond & (px < xc)
    return inside


_coord = st.floats(-3.0, 13.0, allow_nan=False).map(lambda v: round(v, 3) + 0.0001)
_ring = st.lists(st.tuples(_coord, _coord), min_size=3, max_size=9)


@settings(max_examples=60, deadline=None)
@given(rings=st.lists(_ring, min_size=1, max_size=3))
def test_kernel_matches_brute_force_point_in_polygon(rings):
    out = _both([rings])
    cx, cy = np.meshgrid(np.arange(10) + 0.5, 10.0 - (np.arange(10) + 0.5))
    expected = _inside_even_odd(cx, cy, rings)
    np.testing.assert_array_equal(out == 0, expected)


def test_plaza_de_armas_xy_is_pyprojs_projection_of_the_first_job_centre():
    """The stored coordinates are exactly what pyproj gives (so motorways start where they
    did when the model projected the point itself)."""
    lon, lat = next(iter(grid_mod.JOB_CENTRES.values()))
    xy = Transformer.from_crs("EPSG:4326", grid_mod.CRS, always_xy=True).transform(lon, lat)
    assert xy == grid_mod.PLAZA_DE_ARMAS_XY
