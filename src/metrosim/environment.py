"""Environmental outcomes: traffic emissions and air quality, residential water, farmland, rivers.

* Emissions: car-km of the commutes (:mod:`metrosim.travel`) times per-km emission factors
  (EMEP/EEA 2019 Guidebook, passenger cars; see the parameter table). Heating emissions are not
  modelled (no source for emissions by dwelling type was found for the basin).
* Concentration (traffic increment of PM2.5, µg/m³): a two-scale box model, a stated
  simplification. The basin: all emissions mixed into a box ``basin_width x mixing_height``
  ventilated by the wind ``u`` (``C_b = Q / (u H W)``; Hanna, Briggs & Hosker 1982); the basin's
  poor ventilation (a low subsidence inversion and weak winds; Rutllant & Garreaud 1995) enters
  through ``H`` and ``u``. Local: the area-source model of Gifford & Hanna (1973),
  ``C_l = A q / u`` with ``q`` the emission per m² averaged over the 3 x 3 zones around a zone
  (a distance-decay window of about three zone sides).
* Exposure: the population-weighted mean concentration of each income group.
* Water: persons times litres per person per day by the density class of the dwelling's cell.
* Farmland: hectares of developable undeveloped (agricultural) land of the start that is now
  urban; riverside = within ``river_buffer_m`` of a river.
* Rivers: no river layer ships; the main drainage lines (Mapocho, Maipo) are derived from the
  shipped SRTM DEM by D8 flow accumulation (O'Callaghan & Mark 1984) after depression filling
  by priority-flood (Barnes, Lehman & Mulla 2014): a DEM cell is a river cell when its upstream
  area reaches ``river_catchment_km2``. The DEM tile ends at 70° W, so the Andean headwaters of
  the Maipo east of it are missing (its upstream area is underestimated there).

References
----------
Barnes, R., Lehman, C., & Mulla, D. (2014). Priority-flood. *Computers & Geosciences* 62,
117-127. doi:10.1016/j.cageo.2013.04.024
EMEP/EEA (2019). *Air pollutant emission inventory guidebook 2019*, 1.A.3.b.i-iv and
1.A.3.b.vi-vii. European Environment Agency.
Gifford, F. A., & Hanna, S. R. (1973). Modelling urban air pollution. *Atmospheric
Environment* 7(1), 131-136. doi:10.1016/0004-6981(73)90202-7
Hanna, S. R., Briggs, G. A., & Hosker, R. P. (1982). *Handbook on Atmospheric Diffusion*.
US DOE, DOE/TIC-11223.
O'Callaghan, J. F., & Mark, D. M. (1984). The extraction of drainage networks from digital
elevation data. *Computer Vision, Graphics, and Image Processing* 28(3), 323-344.
Rutllant, J., & Garreaud, R. (1995). Meteorological air pollution potential for Santiago,
Chile. *Environmental Monitoring and Assessment* 34, 223-244.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

import numpy as np

from metrosim import _diskcache
from metrosim._kernels import travel_modes as k
from metrosim._kernels.measure import column_sums
from metrosim.land import LandUse, row_sums

__all__ = [
    "river_distance_km",
    "drainage_lines",
    "emissions_t",
    "concentration",
    "exposure_by_group",
    "water_lpcd",
]

_SECONDS_PER_YEAR = 365.25 * 86400.0


def drainage_lines(
    dem: np.ndarray, xll: float, yll: float, cellsize_deg: float, min_area_km2: float
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """River cells of a lon/lat DEM and the lon/lat of each one and of its receiver.

    Returns (upstream area km² of every DEM cell, (n, 2) river cell lon/lat, (n, 2) receiver
    lon/lat); a river cell draining off the grid is its own receiver.
    """
    ny, nx = dem.shape
    nodata = ~np.isfinite(dem)
    recv, order = k.priority_flood_d8(np.nan_to_num(dem, nan=0.0).astype(np.float64), nodata)
    lat = yll + (ny - 1 - np.arange(ny) + 0.5) * cellsize_deg
    km_lat = cellsize_deg * 110.57
    km_lon = cellsize_deg * 111.32 * np.cos(np.radians(lat))
    area = np.repeat(km_lat * km_lon, nx).astype(np.float64)
    area[nodata.ravel()] = 0.0
    acc = k.accumulate(recv, order, area)
    river = np.flatnonzero(acc >= min_area_km2)
    to = np.where(recv[river] >= 0, recv[river], river)

    def lonlat(c: np.ndarray) -> np.ndarray:
        r, q = np.divmod(c, nx)
        return np.column_stack(
            [xll + (q + 0.5) * cellsize_deg, yll + (ny - 1 - r + 0.5) * cellsize_deg]
        )

    return acc.reshape(ny, nx), lonlat(river), lonlat(to)


@lru_cache(maxsize=8)
def _river_km_cached(region: str, cell_size_m: float, min_area_km2: float) -> np.ndarray:
    from importlib.metadata import version

    from metrosim.data import load_city
    from metrosim.grid import CRS, load_grid

    city = load_city(region)
    grid = load_grid(region, cell_size_m)
    dem = city.dem
    key = (
        dem.values,
        dem.xll,
        dem.yll,
        dem.cellsize,
        grid.commune,
        grid.x0,
        grid.y_top,
        grid.cell_size_m,
        min_area_km2,
        CRS,
        version("pyproj"),
    )
    out = _diskcache.cached_arrays(
        "rivers", key, lambda: {"km": _river_km(dem, grid, min_area_km2)}
    )["km"]
    out.setflags(write=False)
    return out


def _river_km(dem: Any, grid: Any, min_area_km2: float) -> np.ndarray:
    from pyproj import Transformer

    from metrosim.accessibility import distance_km
    from metrosim.grid import CRS

    _, a, b = drainage_lines(dem.values, dem.xll, dem.yll, dem.cellsize, min_area_km2)
    mask = np.zeros(grid.commune.size, dtype=bool)
    if a.shape[0]:
        t = np.linspace(0.0, 1.0, 6)[:, None, None]
        pts = (a[None] * (1 - t) + b[None] * t).reshape(-1, 2)
        x, y = Transformer.from_crs("EPSG:4326", CRS, always_xy=True).transform(
            pts[:, 0], pts[:, 1]
        )
        cells = grid.cell_of(np.asarray(x), np.asarray(y))
        mask[cells[cells >= 0]] = True
    return distance_km(mask.reshape(grid.shape), grid.cell_size_m).ravel()


def river_distance_km(region: str, cell_size_m: float, min_area_km2: float) -> np.ndarray:
    """Km from each grid cell to the nearest DEM-derived river (``inf`` if none).

    Cached in memory and on disk (:mod:`metrosim._diskcache`), keyed by the DEM, the grid and
    ``min_area_km2``.
    """
    return _river_km_cached(region, float(cell_size_m), float(min_area_km2))


def emissions_t(vehicle_km: np.ndarray | float, factor_g_km: float) -> np.ndarray | float:
    """Tonnes emitted by ``vehicle_km`` at ``factor_g_km`` grams per km."""
    return np.asarray(vehicle_km) * factor_g_km / 1e6


def concentration(
    zone_emission_g_yr: np.ndarray,
    zone_shape: tuple[int, int],
    zone_side_km: float,
    *,
    wind_ms: float,
    mixing_height_m: float,
    basin_width_km: float,
    a: float,
) -> tuple[np.ndarray, float]:
    """Traffic concentration increment per zone (µg/m³): local area-source term + basin box.

    Returns (concentration of every zone including the basin term, basin term).
    """
    q_zone = zone_emission_g_yr.reshape(zone_shape) / _SECONDS_PER_YEAR  # g/s
    area_m2 = (zone_side_km * 1000.0) ** 2
    # 3 x 3 zone mean of the emission per area (zero outside the grid)
    p = np.pad(q_zone, 1)
    win = sum(
        p[1 + dy : 1 + dy + zone_shape[0], 1 + dx : 1 + dx + zone_shape[1]]
        for dy in (-1, 0, 1)
        for dx in (-1, 0, 1)
    )
    q_area = win / (9.0 * area_m2)  # g/s/m²
    local = a * q_area / wind_ms * 1e6  # µg/m³
    basin = float(q_zone.sum()) / (wind_ms * mixing_height_m * basin_width_km * 1000.0) * 1e6
    return local.ravel() + basin, basin


def exposure_by_group(conc_cell: np.ndarray, persons_by_group: np.ndarray) -> np.ndarray:
    """Population-weighted mean concentration of each group (columns of ``persons_by_group``)."""
    w = np.ascontiguousarray(persons_by_group, dtype=np.float64)
    # w.sum(axis=0): numpy adds the rows of a C-ordered array of two or more columns one
    # after another, as the kernel does (same bits, tested), without the strided reduction
    tot = column_sums(w) if w.ndim == 2 and w.shape[1] > 1 else w.sum(axis=0)
    return np.where(tot > 0, (conc_cell @ w) / np.maximum(tot, 1e-300), np.nan)


def water_lpcd(land_use: np.ndarray, params) -> np.ndarray:
    """Litres per person per day of each cell's residents by the cell's density class."""
    s = params
    land_use = np.asarray(land_use)
    if land_use.dtype == np.uint8:  # the model's codes: one lookup in a table of the codes
        table = np.full(256, s.water_lpcd_rural, dtype=np.float64)
        table[LandUse.RES_LOW] = s.water_lpcd_low
        table[LandUse.RES_MEDIUM] = s.water_lpcd_medium
        table[LandUse.RES_HIGH] = s.water_lpcd_high
        return table[land_use]
    return np.select(
        [
            land_use == LandUse.RES_LOW,
            land_use == LandUse.RES_MEDIUM,
            land_use == LandUse.RES_HIGH,
        ],
        [s.water_lpcd_low, s.water_lpcd_medium, s.water_lpcd_high],
        default=s.water_lpcd_rural,
    )


#: A commute longer than this (minutes) counts in ``commute_over_45_min_share``.
LONG_COMMUTE_MIN = 45.0

#: Per-commune columns added by :func:`measure` (also listed in the model's municipal table).
MUNICIPAL_COLUMNS = (
    "commuters",
    "car_share",
    "pt_share",
    "commute_min",
    "vehicle_km",
    "pm25_exposure_ugm3",
    "water_hm3",
    "farmland_converted_ha",
    "farmland_converted_riverside_ha",
)


def measure(
    model,
    occ_cells: np.ndarray | None = None,
    counts: np.ndarray | None = None,
    urban: np.ndarray | None = None,
    commute_sums: tuple[np.ndarray, np.ndarray, int] | None = None,
) -> tuple[dict[str, float], dict[str, np.ndarray]]:
    """Travel, air, water and farmland figures of a model's current year (yearly, per commune).

    Per-commune figures are by commune of residence (commuting, exposure, water) or of the
    land (farmland). Vehicle-km: two one-way car commutes a working day, of the drawn car
    commuters, scaled to real households. ``occ_cells`` (the occupied cells in ascending
    order), ``counts`` (their households by group, float64) and ``urban`` (the urban mask)
    are computed when not given, and so are ``commute_sums``, the sums over the households
    of :func:`metrosim._kernels.travel_modes.household_sums` (the model takes them from its
    one pass over the households, :func:`metrosim._kernels.measure.household_pass`).
    """
    s = model.params
    c = model.commutes
    hh = model.households
    land = model.land
    n_c = model.n_communes
    persons = s.household_size * s.scale
    n_g = model.incomes.size
    if commute_sums is None:
        commute_sums = k.household_sums(
            hh.cell,
            model.commune_of_cell,
            hh.group,
            c.mode,
            c.minutes,
            c.km,
            n_c,
            n_g,
            LONG_COMMUTE_MIN,
        )
    by_c, by_g, n_long = commute_sums
    days2 = 2.0 * s.working_days * s.scale
    n_go = by_g[:, 0].sum()
    vkm = float(by_c[:, 4].sum()) * days2
    n_car, n_pt = by_c[:, 1].sum(), by_c[:, 2].sum()
    shares = np.array([n_car, n_pt, n_go - n_car - n_pt]) / max(n_go, 1)
    nan = float("nan")
    out: dict[str, float] = {
        "commuters": int(n_go) * s.scale,
        "mode_share_car": float(shares[0]),
        "mode_share_pt": float(shares[1]),
        "mode_share_active": float(shares[2]),
        "commute_time_min": float(by_g[:, 1].sum() / n_go) if n_go else nan,
        "commute_over_45_min_share": float(n_long / n_go) if n_go else nan,
        "vehicle_km_per_year": vkm,
        "congestion_index": c.congestion_index,
    }
    for g in range(n_g):
        out[f"commute_time_min_q{g + 1}"] = float(by_g[g, 1] / by_g[g, 0]) if by_g[g, 0] else nan
    # air: emissions where the car-km are driven, concentration by zone, exposure by group
    z = model.travel.zones
    zone_vkm = c.zone_car_km * days2
    out["pm25_traffic_t"] = float(emissions_t(vkm, s.ef_pm25_g_km))
    out["nox_traffic_t"] = float(emissions_t(vkm, s.ef_nox_g_km))
    out["co2_traffic_kt"] = float(emissions_t(vkm, s.ef_co2_g_km)) / 1e3
    conc_zone, basin = concentration(
        zone_vkm * s.ef_pm25_g_km,
        z.shape,
        z.side_km,
        wind_ms=s.wind_speed_ms,
        mixing_height_m=s.mixing_height_m,
        basin_width_km=s.basin_width_km,
        a=s.dispersion_a,
    )
    model.pm25_traffic_zone = conc_zone
    if occ_cells is None:
        occ_cells = k.occupied_cells(land.occupancy)
    if counts is None:
        counts = land.occupancy[occ_cells].astype(np.float64)
    if urban is None:
        urban = land.urban
    conc = conc_zone[z.zone_of_cell[occ_cells]]
    persons_g = counts * float(persons)
    expo = exposure_by_group(conc, persons_g)
    pc = row_sums(persons_g)
    tot = pc.sum()
    out["pm25_basin_ugm3"] = basin
    # np.sum of the products, not a 1-D dot: BLAS splits a long dot product across its threads,
    # so its rounding would depend on the thread count (numpy's pairwise sum does not)
    out["pm25_exposure_ugm3"] = float(np.sum(conc * pc) / tot) if tot else float("nan")
    for g in range(expo.size):
        out[f"pm25_exposure_ugm3_q{g + 1}"] = float(expo[g])
    # water
    lpcd = water_lpcd(land.land_use[occ_cells], s)
    water_cell = pc * lpcd * 365.0 / 1e3 / 1e6  # hm³ a year
    out["water_residential_hm3"] = float(water_cell.sum())
    out["water_lpcd"] = float((pc * lpcd).sum() / tot) if tot else float("nan")
    # farmland
    ha = model.grid.cell_area_ha
    lost = np.flatnonzero(urban & model.farmland_start)
    near = model.river_near
    new = model.new_urban & model.farmland_start if model.steps else np.zeros(1, dtype=bool)
    out["farmland_converted_ha"] = float(np.count_nonzero(new) * ha)
    out["farmland_converted_total_ha"] = float(lost.size * ha)
    out["farmland_converted_riverside_ha"] = (
        float(np.count_nonzero(new & near) * ha) if model.steps else 0.0
    )
    out["farmland_converted_riverside_total_ha"] = float(near[lost].sum() * ha)
    # per commune
    c_occ = model.commune_of_cell[occ_cells]
    c_lost = model.commune_of_cell[lost]
    n_go_c = by_c[:, 0]
    mun = {
        "commuters": n_go_c * s.scale,
        "car_share": by_c[:, 1] / np.maximum(n_go_c, 1),
        "pt_share": by_c[:, 2] / np.maximum(n_go_c, 1),
        "commute_min": np.where(n_go_c > 0, by_c[:, 3] / np.maximum(n_go_c, 1), np.nan),
        "vehicle_km": by_c[:, 4] * days2,
        "pm25_exposure_ugm3": np.bincount(c_occ, weights=conc * pc, minlength=n_c)
        / np.maximum(np.bincount(c_occ, weights=pc, minlength=n_c), 1e-12),
        "water_hm3": np.bincount(c_occ, weights=water_cell, minlength=n_c),
        "farmland_converted_ha": np.bincount(c_lost, minlength=n_c) * ha,
        "farmland_converted_riverside_ha": np.bincount(
            c_lost, weights=near[lost].astype(float), minlength=n_c
        )
        * ha,
    }
    return out, mun
