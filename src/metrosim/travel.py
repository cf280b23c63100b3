"""Commuting: mode choice, car loads on a coarse zone grid, congestion and commute times.

Each year every housed household has a commuter with probability ``employment_rate``; the
commuter goes to work by car, public transport or on foot / by bicycle ("active"), chosen by a
multinomial logit (Ortúzar & Willumsen 2011, ch. 7; Ben-Akiva & Lerman 1985)::

    V_car = ASC_car,c + b_time t_car + b_income ln(y_g / y_median)
    V_pt  = ASC_pt,c  + b_time (t_pt + (w - 1) t_wait) + b_metro [station within metro_access_km]
    V_act = ASC_act,c + b_time w t_act

with ``c`` the commune of the dwelling, ``g`` the income group and ``w`` the weight of
out-of-vehicle time (walking, cycling, waiting) relative to in-vehicle time (Wardman 2004).
The alternative-specific constants (ASC) of each commune are calibrated once, at
initialisation, so that the expected shares of the initial population reproduce the INE SIEDU
2019 modal shares of the commune (``DE_102`` public transport; ``DE_105 - DE_102`` walking and
cycling; the rest car), by the iterative adjustment ``ASC_m += ln(S_m^obs / S_m^model)`` used
in practice (Ortúzar & Willumsen 2011, sec. 7.6; Train 2009, sec. 2.8). Afterwards the shares
respond to where households live, their income, the metro and congestion.

Trip lengths and car loads are computed on a coarse grid of square zones of ``travel_zone_m``
(2 km by default; stated resolution of the loaded network):

* destinations: a singly constrained gravity rule ``P(d|o) ∝ J_d e^{-λ km_od}``
  (Wilson 1967) over the zones with jobs; ``km_od`` = straight-line distance between zone
  centres times a road circuity factor (Ballou, Rahardja & Sakai 2002); intra-zone trips are
  ``0.5214 L`` long (the mean distance between two random points of a square of side ``L``);
* trip lengths: the trips of a zone fall in four length bands (< 3, 3-7, 7-15, >= 15 km);
  each household draws its band from its zone's band shares, and its mode for the band's mean
  trip length (so short trips are walked or cycled and long ones are not);
* paths: all-or-nothing along the straight line between zone centres (no route choice); each
  zone crossed receives the car-km driven inside it;
* loads: peak-hour car flow across a zone ``V_z = peak_share x car-km_z / L``; capacity
  ``C_z = L (c_urban u_z + c_rural (1 - u_z)) + c_motorway [motorway in zone]`` with ``u_z``
  the urban share of the zone;
* travel time per km: the BPR volume-delay function (Bureau of Public Roads 1964)
  ``τ_z = τ0_z (1 + α (V_z / C_z)^β)``, ``τ0_z`` from free-flow speeds (urban, rural, motorway);
* mode choice and loads are brought towards consistency by ``travel_iterations`` rounds of the
  method of successive averages each year (Sheffi 1985, ch. 12), starting from last year's
  loads; the households' modes are then drawn from the shares at these loads. The congested
  times reported and fed back are those of the averaged (expected) loads; vehicle-km and
  emissions are those of the drawn car trips.

A car charge (``car_charge_min``: road pricing or parking charges, in minutes of commute
time) enters the car's utility after the calibration, so it shifts the shares from the
observed ones; it is not part of the reported commute time.

Public transport time: ``pt_wait_min`` plus the trip km at the metro door-to-door speed within
``metro_access_km`` of a station, at the bus speed elsewhere (buses are not slowed by the car
load: a stated simplification). Active time: trip km at ``active_speed_kmh``.

Congestion is fed back into location choice: the commute a household sees in a cell is the
model's generalised minutes to jobs (:func:`metrosim.accessibility.commute_minutes`) times
``1 + s_car (t_car - t0_car) / T0`` of the cell's zone, where ``s_car`` is the zone's expected
car share, ``t_car - t0_car`` the congestion delay of its car trips and ``T0`` the share-weighted
free-flow time of its modes.

References
----------
Ballou, R. H., Rahardja, H., & Sakai, N. (2002). Selected country circuity factors for road and
rail network planning. *Transportation Research Part A* 36(9), 843-848.
Barnes, R., Lehman, C., & Mulla, D. (2014). Priority-flood: an optimal depression-filling and
watershed-labeling algorithm for digital elevation models. *Computers & Geosciences* 62,
117-127. doi:10.1016/j.cageo.2013.04.024
Ben-Akiva, M., & Lerman, S. R. (1985). *Discrete Choice Analysis*. MIT Press.
Bureau of Public Roads (1964). *Traffic Assignment Manual*. US Department of Commerce.
Ortúzar, J. de D., & Willumsen, L. G. (2011). *Modelling Transport* (4th ed.). Wiley.
Sheffi, Y. (1985). *Urban Transportation Networks*. Prentice-Hall.
Wardman, M. (2004). Public transport values of time. *Transport Policy* 11(4), 363-377.
Train, K. (2009). *Discrete Choice Methods with Simulation* (2nd ed.). Cambridge UP.
Wilson, A. G. (1967). A statistical theory of spatial distribution models. *Transportation
Research* 1(3), 253-269.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass

import numpy as np

from metrosim import _diskcache
from metrosim._kernels import travel_modes as k
from metrosim.data import DataError, data_dir

__all__ = [
    "MODES",
    "BAND_EDGES_KM",
    "observed_mode_shares",
    "ZoneSystem",
    "Travel",
    "CommuteResult",
]

#: Commuting modes, in the order of every mode axis.
MODES = ("car", "pt", "active")

_MIN_SHARE = 1e-3  # destination shares below this are dropped (then renormalised)


def observed_mode_shares(region: str, cut: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Shares of trips by (car, public transport, active) per commune, INE SIEDU 2019.

    Public transport = ``DE_102``; active = ``DE_105 - DE_102`` (walking and cycling); car =
    ``100 - DE_105``. Communes without figures get the population-unweighted mean of the
    others (the second array flags which communes had data).
    """
    path = data_dir(region) / "communes_siedu_inputs.csv"
    pt = np.full(len(cut), np.nan)
    sus = np.full(len(cut), np.nan)
    idx = {int(c): i for i, c in enumerate(cut)}
    with path.open(encoding="utf-8") as f:
        for r in csv.DictReader(f):
            if r["indicator"] in ("DE_102", "DE_105") and int(r["cut"]) in idx:
                try:
                    v = float(r["value"])
                except ValueError as e:
                    raise DataError(f"{path.name}: value {r['value']!r} is not a number") from e
                if not 0 <= v <= 100:
                    raise DataError(f"{path.name}: {r['indicator']} = {v}; allowed: 0..100")
                (pt if r["indicator"] == "DE_102" else sus)[idx[int(r["cut"])]] = v
    has = np.isfinite(pt) & np.isfinite(sus) & (sus >= pt)
    if not has.any():
        raise DataError(f"{path.name}: no commune has both DE_102 and DE_105")
    shares = np.column_stack([100 - sus, pt, sus - pt]) / 100.0
    shares[~has] = shares[has].mean(axis=0)
    shares = np.clip(shares, 0.005, None)
    return shares / shares.sum(axis=1, keepdims=True), has


#: Trip-length bands (km): mode choice is made for the trip length of the household's band.
BAND_EDGES_KM = np.array([0.0, 3.0, 7.0, 15.0, np.inf])


@dataclass
class ZoneSystem:
    """The coarse zone grid of the loaded network and its trip-path incidence.

    Attributes
    ----------
    side_km : float
        Zone side.
    shape : tuple
        (zy, zx) zones.
    zone_of_cell : ndarray of int64
        Zone of each fine cell.
    row_of_zone : ndarray of int64
        Origin index of each zone (-1: no trips from it); its band ``b`` is incidence row
        ``row * K + b``.
    indptr, indices, data : ndarray
        Incidence matrix rows (car-km per zone of one trip of the row's zone and band).
    band_share, band_km : ndarray, (n_zones, K)
        Share of the trips from each zone in each length band and their mean km.
    """

    side_km: float
    shape: tuple[int, int]
    zone_of_cell: np.ndarray
    row_of_zone: np.ndarray
    indptr: np.ndarray
    indices: np.ndarray
    data: np.ndarray
    band_share: np.ndarray
    band_km: np.ndarray

    @property
    def n_zones(self) -> int:
        """Number of zones."""
        return self.shape[0] * self.shape[1]

    @property
    def n_bands(self) -> int:
        """Number of trip-length bands."""
        return self.band_share.shape[1]

    @property
    def trip_km(self) -> np.ndarray:
        """Mean trip km of each zone (0 without trips)."""
        return (self.band_share * self.band_km).sum(axis=1)

    def rows(self, zone_ids: np.ndarray) -> np.ndarray:
        """Incidence rows (len(zone_ids) * K) of the zones, band-major within a zone."""
        r = self.row_of_zone[zone_ids]
        return (r[:, None] * self.n_bands + np.arange(self.n_bands)[None, :]).ravel()

    @classmethod
    def build(
        cls,
        grid_shape: tuple[int, int],
        cell_size_m: float,
        zone_m: float,
        jobs: np.ndarray,
        origin_cells: np.ndarray,
        *,
        circuity: float,
        decay_per_km: float,
    ) -> ZoneSystem:
        """Zones of ``zone_m`` (rounded to whole cells), rows for the zones of ``origin_cells``."""
        ny, nx = grid_shape
        kz = max(1, int(round(zone_m / cell_size_m)))
        zy, zx = -(-ny // kz), -(-nx // kz)
        rows = np.arange(ny * nx) // nx
        cols = np.arange(ny * nx) % nx
        zone = (rows // kz) * zx + cols // kz
        n_z = zy * zx
        zjobs = np.bincount(zone, weights=jobs, minlength=n_z)
        dests = np.flatnonzero(zjobs > 0).astype(np.int64)
        origins = np.unique(zone[origin_cells]).astype(np.int64)
        side_km = kz * cell_size_m / 1000.0
        args = (
            origins,
            dests,
            zjobs[dests],
            zx,
            n_z,
            side_km,
            circuity,
            decay_per_km,
            _MIN_SHARE,
            BAND_EDGES_KM,
        )
        # the trip table depends on these arguments only: kept in the disk cache
        names = ("indptr", "indices", "data", "share", "km")
        out = _diskcache.cached_arrays(
            "zones", args, lambda: dict(zip(names, k.incidence(*args), strict=True))
        )
        indptr, indices, data, share, km = (out[n] for n in names)
        n_b = BAND_EDGES_KM.size - 1
        row_of_zone = np.full(n_z, -1, dtype=np.int64)
        row_of_zone[origins] = np.arange(origins.size)
        band_share = np.zeros((n_z, n_b))
        band_km = np.zeros((n_z, n_b))
        band_share[origins] = share
        band_km[origins] = km
        return cls(side_km, (zy, zx), zone, row_of_zone, indptr, indices, data, band_share, band_km)


@dataclass
class _Units:
    """Occupied cells grouped by (zone, commune, metro access): the logit's evaluation units."""

    unit_of_cell: np.ndarray  # unit of each cell (-1: unoccupied)
    occ: np.ndarray  # (n_units, G) households
    zone_ids: np.ndarray  # zones of the units, unique
    rows: np.ndarray  # incidence rows of zone_ids (band-major)
    pos: np.ndarray  # index into zone_ids of each unit
    metro: np.ndarray  # 1.0 within reach of a station
    commune: np.ndarray
    share: np.ndarray  # (n_units, K) band shares
    km: np.ndarray  # (n_units, K) mean km of the bands
    first_row: np.ndarray  # incidence row of band 0 of each unit's zone


@dataclass
class CommuteResult:
    """One year's commuting, at household and zone level.

    Attributes
    ----------
    mode : ndarray of int8
        Per household: -1 no commute (unhoused or not employed), else index into ``MODES``.
    minutes : ndarray of float64
        Per household: door-to-door minutes of the chosen mode (nan without a commute).
    km : ndarray of float64
        Per household: one-way trip km, the mean of its trip-length band (nan without one).
    zone_car_km : ndarray of float64
        One-way car-km driven in each zone by the drawn car commutes (simulated households).
    congestion_index : float
        Car in-vehicle time over free-flow time, minus 1, over the drawn car trips.
    """

    mode: np.ndarray
    minutes: np.ndarray
    km: np.ndarray
    zone_car_km: np.ndarray
    congestion_index: float


class Travel:
    """Mode choice and congested car times of a model run (see the module docstring).

    Parameters
    ----------
    params : Scenario
    zones : ZoneSystem
    commune_of_cell : ndarray of int
    incomes : ndarray
        Income of each group.
    target_shares : ndarray, (n_communes, 3)
        Observed (car, pt, active) shares the constants are calibrated to.
    """

    def __init__(self, params, zones: ZoneSystem, commune_of_cell, incomes, target_shares):
        s = params
        self.p = s
        self.zones = zones
        self.commune_of_cell = commune_of_cell
        self.target = np.asarray(target_shares, dtype=np.float64)
        self.asc = np.zeros((self.target.shape[0], 3))
        inc = np.asarray(incomes, dtype=np.float64)
        self.income_term = s.mode_beta_income_car * np.log(inc / np.median(inc))
        self.load = np.zeros(zones.n_zones)  # peak-hour car flow across each zone (veh/h)
        self.tau0 = np.zeros(zones.n_zones)
        self.capacity = np.ones(zones.n_zones)
        self.car_share_zone = np.zeros(zones.n_zones)
        self.ratio_zone = np.ones(zones.n_zones)
        self.calibration_error = float("nan")
        self._cells_per_zone: np.ndarray | None = None
        self._slot: np.ndarray | None = None
        self._unit_of_cell = np.empty(0, dtype=np.int32)

    # --- network state -----------------------------------------------------------------
    def set_network(self, urban: np.ndarray, motorway: np.ndarray) -> None:
        """Free-flow minutes per km and capacity of each zone from land use and motorways.

        ``urban`` and ``motorway``: boolean masks of the fine cells.
        """
        s = self.p
        z = self.zones
        if self._cells_per_zone is None:
            self._cells_per_zone = np.bincount(z.zone_of_cell, minlength=z.n_zones).astype(float)
        n = self._cells_per_zone
        n_urban, hw = k.zone_network(z.zone_of_cell, urban, motorway, z.n_zones)
        u = n_urban / np.maximum(n, 1)
        v_mix = 1.0 / (u / s.car_speed_urban_kmh + (1 - u) / s.speed_rural_kmh)
        v0 = np.where(hw, 0.5 * (v_mix + s.highway_speed_kmh), v_mix)
        self.tau0 = 60.0 / v0
        cap = s.road_capacity_urban_veh_h_km * u + s.road_capacity_rural_veh_h_km * (1 - u)
        self.capacity = z.side_km * cap + s.motorway_capacity_veh_h * hw

    def _tau(self, load: np.ndarray) -> np.ndarray:
        s = self.p
        return self.tau0 * (1.0 + s.bpr_alpha * (load / self.capacity) ** s.bpr_beta)

    # --- times and shares --------------------------------------------------------------
    def _car_minutes(self, rows: np.ndarray, tau: np.ndarray) -> np.ndarray:
        z = self.zones
        return k.row_dot(z.indptr, z.indices, z.data, rows, tau)

    def _cell_times(self, un: _Units, tau: np.ndarray) -> np.ndarray:
        """(n_units, K, 3) minutes by car, pt and active of each unit's trip bands."""
        row_minutes = self._car_minutes(un.rows, tau)
        return self._unit_times(un, row_minutes, un.pos * self.zones.n_bands)

    def _unit_times(self, un: _Units, row_minutes, first_row) -> np.ndarray:
        """As :meth:`_cell_times` from the in-vehicle car minutes of incidence rows.

        Band ``b`` of unit ``i`` takes ``row_minutes[first_row[i] + b]``.
        """
        s = self.p
        return k.unit_times(
            row_minutes,
            first_row,
            un.km,
            un.metro,
            float(s.car_terminal_min),
            float(s.pt_wait_min),
            float(s.pt_speed_metro_kmh),
            float(s.pt_speed_bus_kmh),
            float(s.active_speed_kmh),
        )

    def _prepare(self, occupancy: np.ndarray, metro_cell: np.ndarray) -> _Units:
        """Group the occupied cells into units of equal (zone, commune, metro access).

        Every cell of a unit has the same times, constants and shares, so the logit is
        evaluated once per unit.
        """
        z = self.zones
        if self._slot is None:
            self._slot = np.full(z.n_zones * self.asc.shape[0] * 2, -1, dtype=np.int64)
            # scratch, rewritten every year (kept: its pages are not faulted in again)
            self._unit_of_cell = np.empty(z.zone_of_cell.size, dtype=np.int32)
        unit_of_cell = self._unit_of_cell
        uz, com_u, met_u, occ_u = k.units_of_cells(
            occupancy,
            z.zone_of_cell,
            self.commune_of_cell,
            metro_cell,
            self.asc.shape[0],
            self._slot,
            unit_of_cell,
        )
        zone_ids, pos = np.unique(uz, return_inverse=True)
        if (z.row_of_zone[zone_ids] < 0).any():
            bad = int(zone_ids[z.row_of_zone[zone_ids] < 0][0])
            raise ValueError(f"travel: households live in zone {bad}, which has no trip rows")
        return _Units(
            unit_of_cell,
            occ_u,
            zone_ids,
            z.rows(zone_ids),
            pos,
            met_u.astype(np.float64),
            com_u,
            z.band_share[uz],
            z.band_km[uz],
            z.row_of_zone[uz] * z.n_bands,
        )

    def _probs(self, asc, times, share, metro, charge: float = 0.0) -> np.ndarray:
        """(n_units, K, G, 3) mode shares; ``charge`` minutes are added to the car's utility.

        Bands without trips (``share`` 0) get zeros.
        """
        s = self.p
        # utility minutes: out-of-vehicle time (walking, cycling, waiting) weighs more
        w = float(s.out_of_vehicle_weight)
        return k.mode_probabilities(
            asc,
            times,
            share,
            self.income_term,
            metro,
            float(s.mode_beta_time),
            float(s.mode_beta_metro),
            w,
            (w - 1.0) * s.pt_wait_min,
            float(charge),
        )

    def _row_car_trips(self, probs, occ, share, pos, n_zone_ids) -> np.ndarray:
        """Expected simulated car trips of each (zone, band) row."""
        return k.row_car_trips(probs, occ, share, pos, n_zone_ids, float(self.p.employment_rate))

    def _loads(self, rows, trips_per_row) -> np.ndarray:
        """Peak-hour car flow across each zone from simulated one-way car trips per row."""
        s = self.p
        z = self.zones
        km = k.row_scatter(z.indptr, z.indices, z.data, rows, trips_per_row, z.n_zones)
        return km * s.scale * s.peak_hour_share / z.side_km

    @staticmethod
    def _mode_shares(probs, occ, share) -> np.ndarray:
        """(n_cells, 3) expected shares of the cells' occupants' commutes."""
        return np.einsum("nbgm,ng,nb->nm", probs, occ, share)

    # --- calibration -------------------------------------------------------------------
    def calibrate(self, occupancy: np.ndarray, metro_cell: np.ndarray) -> None:
        """Alternative-specific constants per commune reproducing the observed shares.

        Rounds of (times from loads; ASC adjustment ``ASC_m += ln(S_obs / S_model)`` until
        the shares match to 5e-3, 5e-4 in the last round; loads of the expected car trips), car
        ASC fixed at 0.

        The result (constants, loads, error) depends on the arguments, the scenario and the
        zones only; it is kept in the disk cache (:mod:`metrosim._diskcache`).
        """
        key = (
            occupancy,
            metro_cell,
            self.p,
            self.zones,
            self.commune_of_cell,
            self.target,
            self.income_term,
            self.asc,
            self.load,
            self.tau0,
            self.capacity,
        )
        out = _diskcache.cached_arrays(
            "calibration", key, lambda: self._calibrate(occupancy, metro_cell)
        )
        self.asc = out["asc"]
        self.load = out["load"]
        self.calibration_error = float(out["error"])

    def _calibrate(self, occupancy: np.ndarray, metro_cell: np.ndarray) -> dict[str, np.ndarray]:
        u = self._prepare(occupancy, metro_cell)
        zone_ids, rows, pos, metro, share, occ_c, com = (
            u.zone_ids,
            u.rows,
            u.pos,
            u.metro,
            u.share,
            u.occ,
            u.commune,
        )
        n_c = self.asc.shape[0]
        w_c = np.bincount(com, weights=occ_c.sum(axis=1), minlength=n_c)
        have = w_c > 0
        err = np.inf
        probs = None
        n_outer = self.p.travel_iterations + 2
        for outer in range(n_outer):
            times = self._cell_times(u, self._tau(self.load))
            tol = 5e-4 if outer == n_outer - 1 else 5e-3
            for _ in range(500):
                probs = self._probs(self.asc[com], times, share, metro)
                model = k.commune_mode_sums(probs, occ_c, share, com, n_c)
                model /= np.maximum(w_c, 1e-12)[:, None]
                err = float(np.abs(model[have] - self.target[have]).max())
                if err < tol:
                    break
                adj = np.log(self.target[have]) - np.log(np.maximum(model[have], 1e-12))
                self.asc[have] += adj - adj[:, :1]
            new = self._loads(rows, self._row_car_trips(probs, occ_c, share, pos, zone_ids.size))
            self.load = new if outer == 0 else self.load + (new - self.load) / (outer + 1)
        self.calibration_error = err
        if have.any() and not have.all():
            # communes with no resident at the start take the resident-weighted mean constants
            # (households may move there later)
            self.asc[~have] = np.average(self.asc[have], axis=0, weights=w_c[have])
        return {"asc": self.asc, "load": self.load, "error": np.float64(self.calibration_error)}

    # --- one year ----------------------------------------------------------------------
    def step(
        self,
        occupancy: np.ndarray,
        metro_cell: np.ndarray,
        hh_cell: np.ndarray,
        hh_group: np.ndarray,
        rng: np.random.Generator,
    ) -> CommuteResult:
        """Shares, loads (MSA), drawn commutes, congested times and the zones' commute ratio.

        ``hh_group`` also gives the region's income mix (the share of each group among all
        households), at which the zones' car shares of the congestion factor are taken.
        """
        s = self.p
        z = self.zones
        un = self._prepare(occupancy, metro_cell)
        n_pos = un.zone_ids.size
        asc = self.asc[un.commune]
        for it in range(s.travel_iterations):
            times = self._cell_times(un, self._tau(self.load))
            probs = self._probs(asc, times, un.share, un.metro, s.car_charge_min)
            new = self._loads(un.rows, self._row_car_trips(probs, un.occ, un.share, un.pos, n_pos))
            self.load = self.load + (new - self.load) / (it + 2)
        # car minutes of every row at the final loads and at free flow, in one pass
        tau = self._tau(self.load)
        t_cong, t_free, t_delay = k.row_dots(z.indptr, z.indices, z.data, tau, self.tau0)
        times = self._unit_times(un, t_cong, un.first_row)
        probs = self._probs(asc, times, un.share, un.metro, s.car_charge_min)
        # households: employed or not, a trip band, then a mode
        n_hh = hh_cell.size
        mode = np.empty(n_hh, dtype=np.int8)
        minutes = np.empty(n_hh)
        km = np.empty(n_hh)
        trips = np.zeros(n_pos * z.n_bands)
        counts = np.zeros(self.income_term.size, dtype=np.int64)
        k.household_commutes(
            hh_cell,
            hh_group,
            un.unit_of_cell,
            rng.random(n_hh),
            s.employment_rate,
            un.share,
            probs,
            times,
            un.km,
            un.pos,
            mode,
            minutes,
            km,
            trips,
            counts,
        )
        # car-km on the zones of the drawn car trips
        zone_car_km = k.row_scatter(z.indptr, z.indices, z.data, un.rows, trips, z.n_zones)
        ci = float(
            (trips * t_cong[un.rows]).sum() / max((trips * t_free[un.rows]).sum(), 1e-12) - 1.0
        )
        group_share = counts / max(hh_group.size, 1)
        self._update_ratio(probs, un.occ, un.share, un.pos, un.zone_ids, group_share, t_delay)
        return CommuteResult(mode, minutes, km, zone_car_km, ci)

    def _update_ratio(self, probs, occ_c, share, pos, zone_ids, group_share, row_delay) -> None:
        """Congestion factor of the commute of every zone (fed back into location choice).

        ``row_delay``: congestion delay (minutes) of one car trip of every incidence row.
        """
        s = self.p
        z = self.zones
        n_b = z.n_bands
        w = occ_c.sum(axis=1)
        # mode shares a household of the region's income mix would have, by zone
        cell_share = k.mix_mode_shares(probs, group_share, share)
        wz = np.bincount(pos, weights=w, minlength=zone_ids.size)
        zs = (
            np.column_stack(
                [
                    np.bincount(pos, weights=cell_share[:, m] * w, minlength=zone_ids.size)
                    for m in range(3)
                ]
            )
            / wz[:, None]
        )
        region = (zs * wz[:, None]).sum(axis=0) / wz.sum()
        mode_share = np.tile(region, (z.n_zones, 1))
        mode_share[zone_ids] = zs
        # the rows of all origin zones, in zone order, are all the incidence rows
        all_z = np.flatnonzero(z.row_of_zone >= 0)
        bs = z.band_share[all_z]
        delay = (row_delay.reshape(-1, n_b) * bs).sum(1)
        km = z.trip_km[all_z]
        m = mode_share[all_z]
        # free-flow times of the denominator at the zone's own free-flow pace (approximation)
        t0 = (
            m[:, 0] * (km * self.tau0[all_z] + s.car_terminal_min)
            + m[:, 1] * (s.pt_wait_min + km * 60.0 / s.pt_speed_bus_kmh)
            + m[:, 2] * km * 60.0 / s.active_speed_kmh
        )
        ratio = np.ones(z.n_zones)
        ratio[all_z] = 1.0 + m[:, 0] * delay / np.maximum(t0, 1e-9)
        self.ratio_zone = ratio
        self.car_share_zone = mode_share[:, 0]

    def commute_factor(self, free: np.ndarray | None = None) -> np.ndarray:
        """Per fine cell: the congestion factor of its zone's commute (>= 1).

        Parameters
        ----------
        free : ndarray, optional
            Per fine cell: commute minutes at free flow; if given, these minutes times the
            factor are returned instead (the same products, in one pass).
        """
        z = self.zones
        if free is None:
            return self.ratio_zone[z.zone_of_cell]
        out = np.empty(z.zone_of_cell.size)
        return k.times_zone_factor(free, self.ratio_zone, z.zone_of_cell, out)
