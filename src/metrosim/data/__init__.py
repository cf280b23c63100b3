"""Loaders for the shipped city data, with checks on every input file.

The files live in ``metrosim/data/<region>/`` beside a README that keeps their provenance and
licences. Each loader checks the columns and values it relies on and raises :class:`DataError`
(a ``ValueError``) naming the file, the column and the offending value.
"""

from __future__ import annotations

import csv
import functools
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

__all__ = ["CityData", "DataError", "load_city", "data_dir", "input_files"]

DATA_ROOT = Path(__file__).resolve().parent

#: Public primary and emergency care: the facilities a household counts as "a clinic".
CLINIC_TYPES = (
    "Centro de Salud Familiar (CESFAM)",
    "Centro Comunitario de Salud Familiar (CECOSF)",
    "Servicio de Atención Primaria de Urgencia (SAPU)",
    "Servicio de Atención Primaria de Urgencia de Alta Resolutividad (SAR)",
    "Posta de Salud Rural (PSR)",
    "Consultorio General Rural (CGR)",
    "Servicio de Urgencia Rural (SUR)",
    "Hospital",
)

_FILES = {
    "communes": "communes.csv",
    "poverty": "communes_poverty_sae2022.csv",
    "siedu": "communes_siedu_inputs.csv",
    "commune_polygons": "communes_r13.geojson",
    "zone_polygons": "census_zones_r13.geojson",
    "zone_population": "census2017_zone_population.csv",
    "urban_limit": "urban_limit_ine_censo2017_r13.geojson",
    "dem": "dem_srtm_S34W071_15arcsec.asc",
    "slope": "slope_srtm_S34W071_15arcsec.asc",
    "schools": "schools_rm_mineduc_2025.csv",
    "health": "health_facilities_rm_minsal.csv",
    "metro_stations": "metro_stations_dtpm_gtfs_2025.csv",
    "metro_lines": "metro_line_sequence.csv",
}


class DataError(ValueError):
    """An input data file that is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class AsciiGrid:
    """An ESRI ASCII raster in lon/lat: values[row, col], row 0 at the north edge."""

    values: np.ndarray
    xll: float
    yll: float
    cellsize: float

    def sample(self, lon: np.ndarray, lat: np.ndarray) -> np.ndarray:
        """Value of the raster cell containing each point; NaN outside or where no data."""
        ny, nx = self.values.shape
        col = np.floor((lon - self.xll) / self.cellsize).astype(np.int64)
        row = ny - 1 - np.floor((lat - self.yll) / self.cellsize).astype(np.int64)
        inside = (col >= 0) & (col < nx) & (row >= 0) & (row < ny)
        out = np.full(lon.shape, np.nan)
        out[inside] = self.values[row[inside], col[inside]]
        return out


@dataclass(frozen=True)
class CityData:
    """Everything the grid builder reads about one city, already checked.

    Polygons are lists of rings, each ring an (n, 2) array of lon/lat; a feature's rings are
    combined with the even-odd rule (outer rings and holes alike).
    """

    region: str
    cut: np.ndarray  # int32 official commune codes, sorted
    name: list[str]
    in_core: np.ndarray  # bool: commune of the continuous city (Gran Santiago)
    population: np.ndarray  # int64 Censo 2017 persons
    area_km2: np.ndarray
    poverty_2022: np.ndarray  # income poverty, share of persons (0-1)
    poverty_2013: np.ndarray
    ips_2019: np.ndarray
    green_m2_per_hab: np.ndarray  # SIEDU BPU_29 2018, NaN where missing
    commune_rings: list[list[np.ndarray]]
    zone_code: np.ndarray  # int64 geocodigo
    zone_commune: np.ndarray  # int32 index into cut
    zone_population: np.ndarray  # int64
    zone_rings: list[list[np.ndarray]]
    urban_limit_rings: list[list[np.ndarray]]
    dem: AsciiGrid
    slope: AsciiGrid
    schools: np.ndarray  # (n, 2) lon/lat of schools in operation
    clinics: np.ndarray  # (n, 2) lon/lat of open public primary/emergency care and hospitals
    station_id: list[str]
    station_lonlat: np.ndarray  # (n, 2)
    line_sequences: dict[str, list[int]]  # line -> station indices in order
    fingerprint: str  # sha256 over the input files

    def commune_index(self, cut: int) -> int:
        """Index of a commune code in the arrays (``DataError`` if unknown)."""
        hits = np.flatnonzero(self.cut == cut)
        if hits.size != 1:
            raise DataError(f"commune code {cut} is not in {self.region}'s commune table")
        return int(hits[0])


def data_dir(region: str) -> Path:
    """Folder of a region's shipped data."""
    d = DATA_ROOT / region
    if not d.is_dir():
        known = sorted(p.name for p in DATA_ROOT.iterdir() if p.is_dir() and p.name[0] != "_")
        raise DataError(f"region {region!r} has no data folder; known regions: {known}")
    return d


def input_files(region: str) -> list[Path]:
    """The files a region's grid is built from (their content keys the grid cache)."""
    d = data_dir(region)
    return [d / name for name in _FILES.values()]


def _fingerprint(paths: list[Path]) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.name.encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _read_csv(path: Path, required: tuple[str, ...]) -> list[dict[str, str]]:
    if not path.is_file():
        raise DataError(f"data file {path} is missing")
    try:
        with path.open(encoding="utf-8", newline="") as fh:
            reader = csv.DictReader(fh)
            missing = [c for c in required if c not in (reader.fieldnames or [])]
            if missing:
                raise DataError(
                    f"{path.name}: missing column(s) {missing}; found {reader.fieldnames}"
                )
            return list(reader)
    except UnicodeDecodeError as exc:
        raise DataError(f"{path.name}: not a UTF-8 text file ({exc.reason})") from None
    except csv.Error as exc:
        raise DataError(f"{path.name}: not a valid CSV file ({exc})") from None


def _num(row: dict[str, str], col: str, path: Path, *, allow_empty: bool = False) -> float:
    raw = row[col].strip()
    if raw == "" and allow_empty:
        return float("nan")
    try:
        value = float(raw)
    except ValueError:
        raise DataError(f"{path.name}: column {col!r} has non-numeric value {raw!r}") from None
    if not np.isfinite(value):
        allowed = "a finite number or an empty cell" if allow_empty else "a finite number"
        raise DataError(
            f"{path.name}: column {col!r} has non-finite value {raw!r}; allowed: {allowed}"
        )
    return value


def _rings(geometry: dict, path: Path) -> list[np.ndarray]:
    kind = geometry.get("type")
    coords = geometry.get("coordinates")
    if kind == "Polygon":
        polys = [coords]
    elif kind == "MultiPolygon":
        polys = coords
    else:
        raise DataError(f"{path.name}: geometry type {kind!r}; allowed: Polygon, MultiPolygon")
    rings = []
    for poly in polys:
        for ring in poly:
            arr = np.asarray(ring, dtype=np.float64)[:, :2]
            if arr.ndim != 2 or len(arr) < 3 or not np.isfinite(arr).all():
                raise DataError(f"{path.name}: a polygon ring is empty or not finite")
            rings.append(arr)
    return rings


def _read_geojson(path: Path) -> list[dict]:
    if not path.is_file():
        raise DataError(f"data file {path} is missing")
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: not valid GeoJSON ({exc})") from None
    feats = doc.get("features")
    if not isinstance(feats, list) or not feats:
        raise DataError(f"{path.name}: no 'features' list")
    return feats


#: The header keys of an ESRI ASCII raster that :func:`_read_ascii` needs.
_ASCII_KEYS = ("ncols", "nrows", "xllcorner", "yllcorner", "cellsize")


def _read_ascii(path: Path) -> AsciiGrid:
    if not path.is_file():
        raise DataError(f"data file {path} is missing")
    header: dict[str, float] = {}
    try:
        with path.open(encoding="ascii") as fh:
            for i in range(6):
                line = fh.readline()
                parts = line.split()
                if len(parts) != 2:
                    raise DataError(
                        f"{path.name}: header line {i + 1} is {line.strip()[:40]!r}; allowed: a "
                        f"key and a number ({', '.join(_ASCII_KEYS)}, nodata_value)"
                    )
                try:
                    header[parts[0].lower()] = float(parts[1])
                except ValueError:
                    raise DataError(
                        f"{path.name}: header {parts[0]} = {parts[1]!r} is not a number"
                    ) from None
            values = np.loadtxt(fh, dtype=np.float64)
    except DataError:
        raise
    except UnicodeDecodeError:
        raise DataError(f"{path.name}: not an ASCII raster (a non-ASCII byte)") from None
    except ValueError as exc:  # np.loadtxt: a short row, a word among the numbers
        raise DataError(f"{path.name}: the grid's values cannot be read ({exc})") from None
    missing = [k for k in _ASCII_KEYS if k not in header]
    if missing:
        raise DataError(f"{path.name}: header lacks {missing}; found {sorted(header)}")
    ny, nx = int(header["nrows"]), int(header["ncols"])
    if values.shape != (ny, nx):
        raise DataError(f"{path.name}: grid is {values.shape}, header says {(ny, nx)}")
    values[values == header.get("nodata_value", -9999.0)] = np.nan
    return AsciiGrid(values, header["xllcorner"], header["yllcorner"], header["cellsize"])


def load_city(region: str = "santiago") -> CityData:
    """Read and check a region's data files (cached per process and file contents).

    Parameters
    ----------
    region : str
        Name of a folder under ``metrosim/data`` (``"santiago"``).

    Returns
    -------
    CityData

    Raises
    ------
    DataError
        When a file is missing, a column is absent, or a value is malformed or inconsistent
        (e.g. a census zone in an unknown commune).
    """
    d = data_dir(region)
    paths = [d / v for v in _FILES.values()]
    stamp = tuple((p.name, p.stat().st_mtime_ns, p.stat().st_size) for p in paths if p.exists())
    return _load_city(region, stamp)


@functools.lru_cache(maxsize=4)
def _load_city(region: str, stamp: tuple) -> CityData:
    """Load a region; ``stamp`` (names, mtimes, sizes) makes a changed file a cache miss.

    The checked data are also kept in the disk cache (:mod:`metrosim._diskcache`), keyed by
    the content of every input file and the code; a missing file is reported by the parser.
    """
    d = data_dir(region)
    paths = [d / v for v in _FILES.values()]
    if not all(p.is_file() for p in paths):
        return _parse_city(region, "")
    from metrosim import _diskcache

    fingerprint = _fingerprint(paths)
    arrays = _diskcache.cached_arrays(
        "city", (region, fingerprint), lambda: _city_arrays(_parse_city(region, fingerprint))
    )
    return _city_from_arrays(region, fingerprint, arrays)


_RING_FIELDS = ("commune_rings", "zone_rings", "urban_limit_rings")
_ARRAY_FIELDS = (
    "cut",
    "in_core",
    "population",
    "area_km2",
    "poverty_2022",
    "poverty_2013",
    "ips_2019",
    "green_m2_per_hab",
    "zone_code",
    "zone_commune",
    "zone_population",
    "schools",
    "clinics",
    "station_lonlat",
)


def _city_arrays(city: CityData) -> dict[str, np.ndarray]:
    """CityData as flat arrays (rings concatenated with their lengths) for the disk cache."""
    out = {k: np.asarray(getattr(city, k)) for k in _ARRAY_FIELDS}
    out["name"] = np.array(city.name, dtype=str)
    out["station_id"] = np.array(city.station_id, dtype=str)
    for k in _RING_FIELDS:
        feats = getattr(city, k)
        rings = [r for f in feats for r in f]
        out[k + "_xy"] = np.concatenate(rings) if rings else np.zeros((0, 2))
        out[k + "_ring_len"] = np.array([len(r) for r in rings], dtype=np.int64)
        out[k + "_n_rings"] = np.array([len(f) for f in feats], dtype=np.int64)
    for k in ("dem", "slope"):
        g = getattr(city, k)
        out[k] = g.values
        out[k + "_geo"] = np.array([g.xll, g.yll, g.cellsize], dtype=np.float64)
    out["line_names"] = np.array(list(city.line_sequences), dtype=str)
    seqs = list(city.line_sequences.values())
    out["line_len"] = np.array([len(v) for v in seqs], dtype=np.int64)
    out["line_stations"] = np.array([i for v in seqs for i in v], dtype=np.int64)
    return out


def _city_from_arrays(region: str, fingerprint: str, a: dict[str, np.ndarray]) -> CityData:
    rings = {}
    for k in _RING_FIELDS:
        xy, ring_len = a[k + "_xy"], a[k + "_ring_len"]
        ends = np.cumsum(ring_len)
        flat = [xy[e - n : e].copy() for e, n in zip(ends.tolist(), ring_len.tolist(), strict=True)]
        cuts = np.cumsum(a[k + "_n_rings"]).tolist()
        rings[k] = [flat[e - n : e] for e, n in zip(cuts, a[k + "_n_rings"].tolist(), strict=True)]
    grids = {k: AsciiGrid(a[k], *(float(v) for v in a[k + "_geo"])) for k in ("dem", "slope")}
    ends = np.cumsum(a["line_len"]).tolist()
    stations = a["line_stations"].tolist()
    lines = {
        str(name): stations[e - n : e]
        for name, e, n in zip(a["line_names"].tolist(), ends, a["line_len"].tolist(), strict=True)
    }
    return CityData(
        region=region,
        name=[str(x) for x in a["name"].tolist()],
        station_id=[str(x) for x in a["station_id"].tolist()],
        line_sequences=lines,
        fingerprint=fingerprint,
        **{k: a[k] for k in _ARRAY_FIELDS},
        **rings,
        **grids,
    )


def _parse_city(region: str, fingerprint: str) -> CityData:
    """Read and check a region's files (``fingerprint``: their digest, stored as is)."""
    d = data_dir(region)
    f = {k: d / v for k, v in _FILES.items()}

    rows = _read_csv(
        f["communes"],
        (
            "cut",
            "name",
            "in_gran_santiago",
            "population_2017",
            "area_km2",
            "poverty_rate_2013_pct",
            "ips_2019",
        ),
    )
    rows.sort(key=lambda r: int(r["cut"]))
    cut = np.array([int(r["cut"]) for r in rows], dtype=np.int32)
    if len(set(cut.tolist())) != len(cut):
        raise DataError(f"{f['communes'].name}: duplicate commune codes")
    idx = {int(c): i for i, c in enumerate(cut)}
    name = [r["name"] for r in rows]
    for r in rows:
        if r["in_gran_santiago"] not in ("yes", "no"):
            raise DataError(
                f"{f['communes'].name}: in_gran_santiago = {r['in_gran_santiago']!r}; "
                "allowed: yes, no"
            )
    in_core = np.array([r["in_gran_santiago"] == "yes" for r in rows])
    population = np.array([_num(r, "population_2017", f["communes"]) for r in rows]).astype(
        np.int64
    )
    if (population <= 0).any():
        raise DataError(f"{f['communes'].name}: population_2017 must be positive")
    area = np.array([_num(r, "area_km2", f["communes"]) for r in rows])
    pov13 = np.array([_num(r, "poverty_rate_2013_pct", f["communes"]) for r in rows]) / 100
    ips = np.array([_num(r, "ips_2019", f["communes"]) for r in rows])

    pov_rows = _read_csv(f["poverty"], ("cut", "income_poverty_2022_pct"))
    pov22 = np.full(len(cut), np.nan)
    for r in pov_rows:
        c = int(r["cut"])
        if c not in idx:
            raise DataError(f"{f['poverty'].name}: unknown commune code {c}")
        pov22[idx[c]] = _num(r, "income_poverty_2022_pct", f["poverty"]) / 100
    if np.isnan(pov22).any() or not ((pov22 > 0) & (pov22 < 1)).all():
        raise DataError(f"{f['poverty'].name}: every commune needs a poverty rate in (0, 100)%")

    green = np.full(len(cut), np.nan)
    for r in _read_csv(f["siedu"], ("cut", "indicator", "value")):
        if r["indicator"] == "BPU_29":
            green[idx[int(r["cut"])]] = _num(r, "value", f["siedu"])

    commune_rings: list[list[np.ndarray]] = [[] for _ in cut]
    for feat in _read_geojson(f["commune_polygons"]):
        c = int(feat["properties"]["codigo_comuna"])
        if c not in idx:
            raise DataError(f"{f['commune_polygons'].name}: unknown commune code {c}")
        commune_rings[idx[c]].extend(_rings(feat["geometry"], f["commune_polygons"]))
    missing = [int(cut[i]) for i, r in enumerate(commune_rings) if not r]
    if missing:
        raise DataError(f"{f['commune_polygons'].name}: no polygon for commune(s) {missing}")

    zpop = {
        int(r["geocodigo"]): int(_num(r, "population_2017", f["zone_population"]))
        for r in _read_csv(f["zone_population"], ("geocodigo", "cut", "population_2017"))
    }
    zone_code, zone_commune, zone_population, zone_rings = [], [], [], []
    for feat in _read_geojson(f["zone_polygons"]):
        g = int(feat["properties"]["geocodigo"])
        c = int(str(g)[:5])
        if c not in idx:
            raise DataError(f"{f['zone_polygons'].name}: zone {g} in unknown commune {c}")
        zone_code.append(g)
        zone_commune.append(idx[c])
        zone_population.append(zpop.get(g, 0))
        zone_rings.append(_rings(feat["geometry"], f["zone_polygons"]))

    limit_rings = [
        _rings(ft["geometry"], f["urban_limit"]) for ft in _read_geojson(f["urban_limit"])
    ]

    dem = _read_ascii(f["dem"])
    slope = _read_ascii(f["slope"])

    school_rows = _read_csv(f["schools"], ("status", "lon", "lat"))
    schools = np.array(
        [
            [_num(r, "lon", f["schools"]), _num(r, "lat", f["schools"])]
            for r in school_rows
            if r["status"] == "Vigente"
        ]
    )
    health_rows = _read_csv(f["health"], ("status", "type", "lon", "lat"))
    clinics = np.array(
        [
            [_num(r, "lon", f["health"]), _num(r, "lat", f["health"])]
            for r in health_rows
            if r["status"] == "open" and r["type"] in CLINIC_TYPES
        ]
    )

    st_rows = _read_csv(f["metro_stations"], ("station_id", "lon", "lat"))
    station_id = [r["station_id"] for r in st_rows]
    sidx = {s: i for i, s in enumerate(station_id)}
    station_lonlat = np.array(
        [
            [_num(r, "lon", f["metro_stations"]), _num(r, "lat", f["metro_stations"])]
            for r in st_rows
        ]
    )
    lines: dict[str, list[tuple[int, int]]] = {}
    for r in _read_csv(f["metro_lines"], ("line", "seq", "station_id")):
        if r["station_id"] not in sidx:
            raise DataError(
                f"{f['metro_lines'].name}: station_id {r['station_id']!r} not in "
                f"{f['metro_stations'].name}"
            )
        lines.setdefault(r["line"], []).append((int(r["seq"]), sidx[r["station_id"]]))
    line_sequences = {k: [s for _, s in sorted(v)] for k, v in sorted(lines.items())}

    return CityData(
        region=region,
        cut=cut,
        name=name,
        in_core=in_core,
        population=population,
        area_km2=area,
        poverty_2022=pov22,
        poverty_2013=pov13,
        ips_2019=ips,
        green_m2_per_hab=green,
        commune_rings=commune_rings,
        zone_code=np.array(zone_code, dtype=np.int64),
        zone_commune=np.array(zone_commune, dtype=np.int32),
        zone_population=np.array(zone_population, dtype=np.int64),
        zone_rings=zone_rings,
        urban_limit_rings=limit_rings,
        dem=dem,
        slope=slope,
        schools=schools,
        clinics=clinics,
        station_id=station_id,
        station_lonlat=station_lonlat,
        line_sequences=line_sequences,
        fingerprint=fingerprint or _fingerprint(list(f.values())),
    )
