"""The land grid: the region rasterised from real data, cached on disk per cell size.

:func:`load_grid` returns a :class:`GridLayers` with the static layers of a region (commune and
census zone of each cell, the 2017 footprint, the census urban limit, terrain, services, metro,
parks, jobs) on a regular grid in UTM zone 19S (EPSG:32719). The layers are built once per cell
size from the files in ``metrosim/data/<region>`` and cached; a cache built from other inputs, by
another builder version, or damaged on disk is detected and rebuilt, never used.

The dynamic land state (land use, zoning, dwellings, occupancy, rents) lives in
:class:`metrosim.land.LandState`, which starts from these layers.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from metrosim._diskcache import read_entry, write_entry
from metrosim._kernels.raster import fill_features
from metrosim.data import CityData, load_city

__all__ = ["GridLayers", "load_grid", "cache_dir", "CRS", "JOB_CENTRES"]

#: Metric projection of the grid: WGS 84 / UTM zone 19S.
CRS = "EPSG:32719"

#: Version of the builder; bump when the layers it writes change meaning.
BUILD_VERSION = "3"

#: Main employment centres (lon, lat) used for the stated job distribution: Santiago centro
#: (Plaza de Armas), Providencia (Av. Providencia at Pedro de Valdivia), Las Condes (El Golf).
JOB_CENTRES = {
    "Santiago centro": (-70.6506, -33.4378),
    "Providencia": (-70.6106, -33.4255),
    "Las Condes (El Golf)": (-70.6008, -33.4140),
}

#: Plaza de Armas (the first of ``JOB_CENTRES``) in ``CRS`` metres (x, y): pyproj's projection,
#: stored so that a model needs no pyproj (about 0.1 s to import and set up) to place the
#: start of its motorways; a test checks it against pyproj.
PLAZA_DE_ARMAS_XY = (346565.438151535, 6298958.758672065)

#: Assumption: shares of jobs in the three centres, proportional to residents (population-
#: serving jobs), and in urban cells with almost no residents (industry, commerce).
JOB_SHARES = (0.35, 0.50, 0.15)
#: Assumption: jobs per person (employed persons / population, order of magnitude of the
#: INE employment rate for the RM).
JOBS_PER_PERSON = 0.45
#: Assumption: spread (m) of jobs around each centre (Gaussian sigma).
JOB_CENTRE_SIGMA_M = 1500.0
#: Assumption: zones below this density (persons/ha) are mostly non-residential land.
NONRESIDENTIAL_PPH = 5.0


@dataclass(frozen=True)
class GridLayers:
    """Static layers of a region on a regular grid (row 0 at the north edge).

    Attributes
    ----------
    cell_size_m : float
        Cell side in metres.
    x0, y_top : float
        UTM easting of the west edge and northing of the north edge.
    commune : ndarray of int16, (ny, nx)
        Index into the commune table, -1 outside the region.
    zone : ndarray of int32, (ny, nx)
        Index of the urban census zone (2017) containing the cell centre, -1 if none.
    zone_cell : ndarray of int64, (n_zones,)
        Cell of each zone's vertex centroid (used for zones smaller than a cell).
    urban_limit : ndarray of bool
        Inside INE's 2017 census urban limit.
    elevation_m, slope_deg : ndarray of float32
        SRTM terrain; NaN where the tile has no data.
    schools, clinics : ndarray of int16
        Number of schools in operation and public clinics per cell (2025 registers).
    park_m2 : ndarray of float32
        Public green area per cell (SIEDU 2018 green per inhabitant by commune, placed by the
        stated rule of :func:`_place_parks`).
    jobs : ndarray of float32
        Jobs per cell at the start (stated assumption, see ``JOB_SHARES``).
    station_cell : ndarray of int64
        Cell of each metro station.
    metro_from, metro_to : ndarray of int64
        Consecutive station pairs along each line (both directions), as station indices.
    metro_km : ndarray of float64
        Straight-line length of each link.
    commune_area_km2 : ndarray of float64
        Area of each commune's polygons in the projection (from the polygons, not the grid).
    fingerprint : str
        Hash of the input files and builder version that produced the layers.
    """

    cell_size_m: float
    x0: float
    y_top: float
    commune: np.ndarray
    zone: np.ndarray
    zone_cell: np.ndarray
    urban_limit: np.ndarray
    elevation_m: np.ndarray
    slope_deg: np.ndarray
    schools: np.ndarray
    clinics: np.ndarray
    park_m2: np.ndarray
    jobs: np.ndarray
    station_cell: np.ndarray
    metro_from: np.ndarray
    metro_to: np.ndarray
    metro_km: np.ndarray
    commune_area_km2: np.ndarray
    fingerprint: str

    @property
    def shape(self) -> tuple[int, int]:
        """Grid shape (ny, nx)."""
        return self.commune.shape

    @property
    def cell_area_ha(self) -> float:
        """Area of one cell in hectares."""
        return self.cell_size_m**2 / 1e4

    def cell_centres(self) -> tuple[np.ndarray, np.ndarray]:
        """UTM easting and northing of every cell centre, each (ny, nx)."""
        ny, nx = self.shape
        x = self.x0 + (np.arange(nx) + 0.5) * self.cell_size_m
        y = self.y_top - (np.arange(ny) + 0.5) * self.cell_size_m
        return np.meshgrid(x, y)

    def cell_of(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat index of the cell containing each UTM point (-1 outside the grid)."""
        ny, nx = self.shape
        col = np.floor((np.asarray(x) - self.x0) / self.cell_size_m).astype(np.int64)
        row = np.floor((self.y_top - np.asarray(y)) / self.cell_size_m).astype(np.int64)
        ok = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
        return np.where(ok, row * nx + col, -1)


def cache_dir() -> Path:
    """Folder of the grid cache: ``$METROSIM_CACHE_DIR`` or ``~/.cache/metrosim``."""
    env = os.environ.get("METROSIM_CACHE_DIR")
    return Path(env) if env else Path.home() / ".cache" / "metrosim"


def _key(fingerprint: str, cell_size_m: float) -> str:
    return hashlib.sha256(f"{fingerprint}|{BUILD_VERSION}|{cell_size_m!r}".encode()).hexdigest()


def _save(path: Path, layers: GridLayers, key: str) -> None:
    arrays = {f.name: getattr(layers, f.name) for f in fields(layers) if f.name != "fingerprint"}
    write_entry(path, key, {k: np.asarray(v) for k, v in arrays.items()})


def _try_load(path: Path, key: str) -> GridLayers | None:
    """Load a cached grid; None when missing, stale (other key) or damaged (bad checksum)."""
    arrays = read_entry(path, key)
    names = [f.name for f in fields(GridLayers) if f.name != "fingerprint"]
    if arrays is None or set(arrays) != set(names):
        return None
    arrays["cell_size_m"] = float(arrays["cell_size_m"])
    arrays["x0"] = float(arrays["x0"])
    arrays["y_top"] = float(arrays["y_top"])
    return GridLayers(fingerprint=key, **arrays)


def load_grid(
    region: str = "santiago", cell_size_m: float = 250.0, *, use_cache: bool = True
) -> GridLayers:
    """The static layers of a region at a cell size, from the cache or built from the data.

    Parameters
    ----------
    region : str
        Data folder name (``"santiago"``).
    cell_size_m : float
        Cell side in metres (50 to 2000).
    use_cache : bool
        Read and write the on-disk cache (see :func:`cache_dir`).

    Returns
    -------
    GridLayers
    """
    if not 50.0 <= cell_size_m <= 2000.0:
        raise ValueError(f"cell_size_m = {cell_size_m!r} is out of range; allowed: 50 to 2000")
    city = load_city(region)
    key = _key(city.fingerprint, float(cell_size_m))
    path = cache_dir() / f"grid-{region}-{float(cell_size_m):g}m.npz"
    if use_cache:
        cached = _try_load(path, key)
        if cached is not None:
            return cached
    layers = build_layers(city, float(cell_size_m), key)
    if use_cache:
        try:
            _save(path, layers, key)
        except OSError:
            pass  # a read-only home is not an error: the grid is rebuilt next time
    return layers


# ------------------------------------------------------------------------------------------
def _project(to_utm: Any, rings: list[np.ndarray]) -> list[np.ndarray]:
    out = []
    for r in rings:
        x, y = to_utm.transform(r[:, 0], r[:, 1])
        out.append(np.column_stack([x, y]))
    return out


def _rasterize(
    features: list[list[np.ndarray]], values: np.ndarray, x0, y_top, cell, shape, fill, dtype
) -> np.ndarray:
    rings = [r for feat in features for r in feat]
    ring_lengths = np.array([len(r) for r in rings], dtype=np.int64)
    ring_start = np.concatenate([[0], np.cumsum(ring_lengths)]).astype(np.int64)
    feature_start = np.concatenate([[0], np.cumsum([len(f) for f in features])]).astype(np.int64)
    xy = np.concatenate(rings)
    out = np.full(shape, fill, dtype=np.float64)
    fill_features(
        np.ascontiguousarray(xy[:, 0]),
        np.ascontiguousarray(xy[:, 1]),
        ring_start,
        feature_start,
        values.astype(np.float64),
        float(x0),
        float(y_top),
        float(cell),
        shape[0],
        shape[1],
        out,
    )
    return out.astype(dtype)


def _ring_area(r: np.ndarray) -> float:
    x, y = r[:, 0], r[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(y, np.roll(x, -1)))


def _feature_area(rings: list[np.ndarray]) -> float:
    """Area of a feature under the even-odd rule, assuming holes lie inside outer rings."""
    areas = sorted((abs(_ring_area(r)) for r in rings), reverse=True)
    # chilemapas polygons: outer rings and holes; a ring contained in another is a hole.
    # Without a containment test we treat the simplified data as holes-free except where a
    # ring is much smaller and listed after its outer ring; the test compares with the table.
    return float(sum(areas))


def build_layers(city: CityData, cell: float, key: str) -> GridLayers:
    """Rasterise a region's data onto a grid (see :class:`GridLayers`)."""
    from pyproj import Transformer  # only needed to build a grid, not to load a cached one

    to_utm = Transformer.from_crs("EPSG:4326", CRS, always_xy=True)
    communes = [_project(to_utm, rings) for rings in city.commune_rings]
    allxy = np.concatenate([r for f in communes for r in f])
    x0 = np.floor(allxy[:, 0].min() / cell) * cell - cell
    x1 = np.ceil(allxy[:, 0].max() / cell) * cell + cell
    y0 = np.floor(allxy[:, 1].min() / cell) * cell - cell
    y_top = np.ceil(allxy[:, 1].max() / cell) * cell + cell
    shape = (int(round((y_top - y0) / cell)), int(round((x1 - x0) / cell)))
    ny, nx = shape

    commune = _rasterize(communes, np.arange(len(communes)), x0, y_top, cell, shape, -1, np.int16)
    zones = [_project(to_utm, rings) for rings in city.zone_rings]
    zone = _rasterize(zones, np.arange(len(zones)), x0, y_top, cell, shape, -1, np.int32)
    zone[commune < 0] = -1
    limit_feats = [_project(to_utm, rings) for rings in city.urban_limit_rings]
    urban_limit = _rasterize(
        limit_feats, np.ones(len(limit_feats)), x0, y_top, cell, shape, 0, np.int8
    ).astype(bool)

    def cell_of(x, y):
        col = np.floor((np.asarray(x) - x0) / cell).astype(np.int64)
        row = np.floor((y_top - np.asarray(y)) / cell).astype(np.int64)
        ok = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
        return np.where(ok, row * nx + col, -1)

    # zone centroid cells (for zones smaller than a cell)
    zone_cell = np.empty(len(zones), dtype=np.int64)
    for k, f in enumerate(zones):
        xy = np.concatenate(f)
        zone_cell[k] = cell_of(xy[:, 0].mean(), xy[:, 1].mean())

    # terrain: sample the lon/lat raster at every cell centre
    xs, ys = np.meshgrid(x0 + (np.arange(nx) + 0.5) * cell, y_top - (np.arange(ny) + 0.5) * cell)
    to_ll = Transformer.from_crs(CRS, "EPSG:4326", always_xy=True)
    lon, lat = to_ll.transform(xs, ys)
    elevation = city.dem.sample(lon, lat).astype(np.float32)
    slope = city.slope.sample(lon, lat).astype(np.float32)

    def count_points(lonlat: np.ndarray) -> np.ndarray:
        px, py = to_utm.transform(lonlat[:, 0], lonlat[:, 1])
        c = cell_of(px, py)
        return np.bincount(c[c >= 0], minlength=ny * nx).reshape(shape).astype(np.int16)

    schools = count_points(city.schools)
    clinics = count_points(city.clinics)

    sx, sy = to_utm.transform(city.station_lonlat[:, 0], city.station_lonlat[:, 1])
    station_cell = cell_of(sx, sy)
    pairs = []
    for seq in city.line_sequences.values():
        for a, b in zip(seq[:-1], seq[1:], strict=True):
            pairs += [(a, b), (b, a)]
    metro_from = np.array([p[0] for p in pairs], dtype=np.int64)
    metro_to = np.array([p[1] for p in pairs], dtype=np.int64)
    metro_km = np.hypot(sx[metro_from] - sx[metro_to], sy[metro_from] - sy[metro_to]) / 1000.0

    commune_area = np.array([_feature_area(f) for f in communes]) / 1e6

    zone_area_cells = np.bincount(zone[zone >= 0], minlength=len(zones))
    park_m2 = _place_parks(city, commune, zone, zone_area_cells, cell)
    jobs = _place_jobs(city, commune, zone, zone_area_cells, park_m2, xs, ys, to_utm, cell)

    return GridLayers(
        cell_size_m=cell,
        x0=float(x0),
        y_top=float(y_top),
        commune=commune,
        zone=zone,
        zone_cell=zone_cell,
        urban_limit=urban_limit,
        elevation_m=elevation,
        slope_deg=slope,
        schools=schools,
        clinics=clinics,
        park_m2=park_m2,
        jobs=jobs,
        station_cell=station_cell,
        metro_from=metro_from,
        metro_to=metro_to,
        metro_km=metro_km,
        commune_area_km2=commune_area,
        fingerprint=key,
    )


def commune_green_m2(city: CityData) -> np.ndarray:
    """Public green area (m²) of each commune at the start.

    SIEDU ``BPU_29`` (2018) green m² per inhabitant times the 2017 population; the four
    communes without a SIEDU figure (rural: Alhué, Curacaví, María Pinto, San Pedro) get the
    median of the other communes outside Gran Santiago (a stated assumption).
    """
    per_hab = city.green_m2_per_hab.copy()
    fill = np.nanmedian(per_hab[~city.in_core])
    per_hab[np.isnan(per_hab)] = fill
    return per_hab * city.population


def _place_parks(city, commune, zone, zone_cells, cell) -> np.ndarray:
    """Place each commune's green area on its urban cells (stated rule, no park polygons).

    Park land fills whole cells, starting with the urban cells of the commune's least dense
    census zones (parks are where people do not live), cell index breaking ties; the remainder
    below one cell is kept as green area of the next cell. Replaceable by real park polygons.
    """
    cell_m2 = cell * cell
    green = commune_green_m2(city)
    out = np.zeros(commune.shape, dtype=np.float32)
    flat_zone = zone.ravel()
    zone_density = city.zone_population / np.maximum(zone_cells, 1)
    for c in range(len(city.cut)):
        cells = np.flatnonzero((commune.ravel() == c) & (flat_zone >= 0))
        if cells.size == 0:
            continue
        order = np.lexsort((cells, zone_density[flat_zone[cells]]))
        remaining = green[c]
        for k in cells[order]:
            if remaining <= 0:
                break
            put = min(cell_m2, remaining)
            out.flat[k] = put
            remaining -= put
    return out


def _place_jobs(city, commune, zone, zone_cells, park_m2, xs, ys, to_utm, cell) -> np.ndarray:
    """Jobs per cell at the start (stated assumption; replaceable by a real employment file).

    ``JOBS_PER_PERSON`` times the region's population, split by ``JOB_SHARES`` into: a Gaussian
    of sigma ``JOB_CENTRE_SIGMA_M`` around each of the three ``JOB_CENTRES``; urban cells in
    proportion to their census population (population-serving jobs); and urban cells of zones
    with fewer than ``NONRESIDENTIAL_PPH`` persons per ha (industry and commerce).
    """
    total = JOBS_PER_PERSON * float(city.population.sum())
    in_region = commune >= 0
    urban = (zone >= 0) & (park_m2 < 0.5 * cell * cell)
    centre = np.zeros(commune.shape)
    for lon, lat in JOB_CENTRES.values():
        cx, cy = to_utm.transform(lon, lat)
        centre += np.exp(-0.5 * ((xs - cx) ** 2 + (ys - cy) ** 2) / JOB_CENTRE_SIGMA_M**2)
    centre *= urban
    zone_pop_cell = np.where(
        zone >= 0, city.zone_population[np.maximum(zone, 0)] / np.maximum(zone_cells[zone], 1), 0
    )
    resident = zone_pop_cell * urban
    cell_ha = cell * cell / 1e4
    nonres = urban & (zone_pop_cell / cell_ha < NONRESIDENTIAL_PPH)
    jobs = np.zeros(commune.shape)
    for share, w in zip(JOB_SHARES, (centre, resident, nonres.astype(float)), strict=True):
        if w.sum() > 0:
            jobs += share * total * w / w.sum()
    jobs[~in_region] = 0
    return jobs.astype(np.float32)
