"""MetroModel: the Mesa model that wires land, households, markets and governments.

One step is one year. The order of a year (documented in ``docs/odd.md``, Process overview):

1. demography: households form and leave;
2. development: developers convert and densify land;
3. household moves, then rents respond to vacancy;
4. surfaces: travel times to jobs, distances to services, neighbourhood mix and green space;
5. data collection.

Households live in a vectorised store (:class:`metrosim.population.Households`), not as Python
objects; communes, the regional government and ministries are Mesa agents.
"""

from __future__ import annotations

import time
from typing import Any

import mesa
import numpy as np

from metrosim.accessibility import (
    Network,
    box_sum,
    commute_minutes,
    distance_km,
    metro_links,
)
from metrosim.data import load_city
from metrosim.grid import load_grid
from metrosim.households import CellAttributes, ChoiceCoefficients, move_households
from metrosim.land import LandState, initial_land
from metrosim.market import develop, expected_rent, fit_hedonic, update_rents
from metrosim.population import N_GROUPS, Households, initial_population, place_groups
from metrosim.scenario import Scenario

__all__ = ["MetroModel", "Municipality", "RegionalGovernment", "Ministry"]

#: The calendar year of the initial state (Censo 2017).
START_YEAR = 2017


class Municipality(mesa.Agent):
    """One commune (comuna) and its municipal government.

    Attributes
    ----------
    index : int
        Position in the commune arrays.
    cut : int
        Official commune code (Código Único Territorial).
    name : str
    in_core : bool
        One of the 34 communes of the continuous city (Gran Santiago).
    """

    def __init__(self, model: MetroModel, index: int, cut: int, name: str, in_core: bool):
        super().__init__(model)
        self.index = index
        self.cut = cut
        self.name = name
        self.in_core = in_core


class RegionalGovernment(mesa.Agent):
    """The Gobierno Regional (GORE) of the Metropolitan Region.

    Under Ley 21.074 (2018) a metropolitan area is administered by the GORE, which approves
    the metropolitan plan (Plan Regulador Metropolitano). Its plan caps municipal zoning.
    """

    def apply_plan(self, land: LandState, urban_limit: np.ndarray, boundary: str) -> None:
        """Put the metropolitan plan in force: no housing outside the growth boundary.

        ``boundary = "urban_limit_2017"`` uses INE's 2017 census urban limit (land already
        urban stays as it is); ``"none"`` leaves municipal zoning uncapped.
        """
        land.plan_max_dw_ha[:] = np.inf
        if boundary == "urban_limit_2017":
            land.plan_max_dw_ha[~urban_limit & ~land.urban_start] = 0.0


class Ministry(mesa.Agent):
    """A national sectoral ministry (housing, public works, transport)."""

    def __init__(self, model: MetroModel, sector: str):
        super().__init__(model)
        self.sector = sector


class MetroModel(mesa.Model):
    """The metropolitan region as a Mesa model: one step is one year.

    Parameters
    ----------
    scenario : Scenario, optional
        What to run (defaults: ``Scenario()``).
    rng : int or numpy.random.Generator, optional
        Seed or generator; every random draw of the run comes from ``self.rng``.

    Examples
    --------
    >>> m = MetroModel(Scenario(scale=200, cell_size_m=1000), rng=1)
    >>> m.step()
    >>> m.year
    2018
    """

    def __init__(self, scenario: Scenario | None = None, *, rng: Any = None):
        super().__init__(rng=rng)
        #: The metrosim scenario of this run (``Model.scenario`` stays Mesa's own record).
        self.params: Scenario = scenario if scenario is not None else Scenario()
        s = self.params
        self.city = load_city(s.region)
        self.grid = load_grid(s.region, s.cell_size_m)
        self.incomes = np.array(s.incomes, dtype=np.float64)
        self.year = START_YEAR
        self.timings: dict[str, float] = {}

        slope = self.grid.slope_deg.ravel()
        in_region = self.grid.commune.ravel() >= 0
        slope = np.where(np.isnan(slope), s.slope_outside_dem_deg, slope)
        developable0 = in_region & (slope <= s.max_slope_deg)
        self.initial = initial_population(
            self.city,
            self.grid,
            scale=s.scale,
            household_size=s.household_size,
            vacancy=s.vacancy_initial,
            developable=developable0,
        )
        self.commune_of_cell = self.grid.commune.ravel().astype(np.int32)
        self.households: Households = place_groups(self.initial, self.commune_of_cell, self.rng)
        self.land: LandState = initial_land(
            self.grid,
            self.initial,
            self.households,
            self.incomes,
            max_slope_deg=s.max_slope_deg,
            slope_outside_dem_deg=s.slope_outside_dem_deg,
            zoning_cap_dw_ha=s.zoning_cap_dw_ha,
            rent_to_income=s.rent_to_income_initial,
            scale=s.scale,
        )

        for i, cut in enumerate(self.city.cut):
            Municipality(self, i, int(cut), self.city.name[i], bool(self.city.in_core[i]))
        self.regional_government = RegionalGovernment(self)
        self.regional_government.apply_plan(
            self.land, self.grid.urban_limit.ravel(), s.growth_boundary
        )
        self.ministries = {k: Ministry(self, k) for k in ("housing", "public_works", "transport")}

        self.park_m2 = self.grid.park_m2.ravel().astype(np.float64)
        self.jobs = self.grid.jobs.ravel().astype(np.float64)
        self.network = self._metro_network()
        self.coefs = ChoiceCoefficients(
            rent_share=s.beta_rent_share,
            commute_per_min=s.beta_commute,
            service_per_km=s.beta_service,
            green=s.beta_green,
            homophily=s.beta_homophily,
            max_rent_share=s.max_rent_share,
        )
        self._commute_urban_cells = -1
        self._surfaces()
        self.flows = {"formed": 0, "left": 0, "movers": 0, "moved": 0, "built": 0}
        self.new_urban = np.zeros(self.grid.commune.size, dtype=bool)
        self.yearly: dict[str, float] = {}
        self.municipal: dict[str, np.ndarray] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={"yearly": lambda m: dict(m.yearly)},
            agenttype_reporters={
                Municipality: {
                    k: (lambda a, k=k: a.model.municipal[k][a.index]) for k in _MUNICIPAL_COLUMNS
                }
            },
        )
        self._measure()
        self.datacollector.collect(self)

    # ---------------------------------------------------------------------------------------
    @property
    def municipalities(self) -> mesa.agent.AgentSet:
        """The commune agents, in commune order."""
        return self.agents_by_type[Municipality]

    def step(self) -> None:
        """Advance one year, in the order documented in ``docs/odd.md``."""
        self.year += 1
        self._timed("demography", self._demography)
        self._timed("development", self._development)
        self._timed("moves", self._moves)
        self._timed("surfaces", self._surfaces)
        self._timed("metrics", self._measure)
        self._timed("collect", lambda: self.datacollector.collect(self))

    def _timed(self, phase: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    # --- demography ------------------------------------------------------------------------
    def _demography(self) -> None:
        """Households form and leave at the scenario's rates.

        New households: Binomial(H, formation_rate), each with an income group drawn from the
        region's current group shares; they start without a dwelling. Departures:
        Binomial(H, departure_rate) households drawn uniformly; their dwellings become vacant.
        """
        s = self.params
        hh = self.households
        n = len(hh)
        n_left = int(self.rng.binomial(n, s.departure_rate)) if n else 0
        if n_left:
            leave = self.rng.choice(n, size=n_left, replace=False)
            housed = hh.cell[leave] >= 0
            np.subtract.at(
                self.land.occupancy, (hh.cell[leave][housed], hh.group[leave][housed]), 1
            )
            hh.remove(leave)
        n_new = int(self.rng.binomial(n, s.formation_rate)) if n else 0
        if n_new:
            shares = np.bincount(hh.group, minlength=N_GROUPS) / max(len(hh), 1)
            hh.add(self.rng.choice(N_GROUPS, size=n_new, p=shares).astype(np.int8))
        self.flows = {"formed": n_new, "left": n_left}

    # --- surfaces --------------------------------------------------------------------------
    def _metro_network(self) -> Network:
        """Metro rides between every pair of stations of a line (see ``metro_links``)."""
        g = self.grid
        lines, cum = [], []
        for seq in self.city.line_sequences.values():
            seq = np.asarray(seq)
            hops = g.metro_km[
                [
                    int(np.flatnonzero((g.metro_from == a) & (g.metro_to == b))[0])
                    for a, b in zip(seq[:-1], seq[1:], strict=True)
                ]
            ]
            lines.append(seq)
            cum.append(np.concatenate([[0.0], np.cumsum(hops)]))
        src, dst, mins = metro_links(
            g.station_cell,
            lines,
            cum,
            speed_kmh=self.params.metro_speed_kmh,
            boarding_min=self.params.metro_boarding_min,
        )
        return Network(g.commune.size, src, dst, mins)

    def _surfaces(self) -> None:
        """Recompute what households and developers see of each cell.

        Commute: generalised minutes to jobs (``accessibility.commute_minutes``) over a grid
        whose speed is ``speed_urban_kmh`` on urban land, ``speed_rural_kmh`` elsewhere and
        ``speed_steep_kmh`` on cells steeper than ``max_slope_deg``, plus metro rides; it is
        recomputed when the number of urban cells has changed by more than 1% since the last
        computation (travel times move slowly; the cost is one search per job block).
        Services: mean km to the nearest school, clinic and park. Neighbourhood: income mix
        and ``log(1 + green m2 per person)`` within ``neighbourhood_radius_m``.
        """
        s = self.params
        g = self.grid
        land = self.land
        shape = g.shape
        urban = land.urban
        n_urban = int(urban.sum())
        if abs(n_urban - self._commute_urban_cells) > 0.01 * max(self._commute_urban_cells, 1):
            slope = np.nan_to_num(g.slope_deg.ravel(), nan=s.slope_outside_dem_deg)
            speed = np.where(urban, s.speed_urban_kmh, s.speed_rural_kmh)
            speed = np.where(slope > s.max_slope_deg, s.speed_steep_kmh, speed)
            minutes = g.cell_size_m / 1000.0 / speed * 60.0
            minutes = np.where(self.commune_of_cell >= 0, minutes, np.inf).reshape(shape)
            block = max(1, int(round(s.accessibility_block_m / g.cell_size_m)))
            commute = commute_minutes(
                minutes,
                self.jobs.reshape(shape),
                self.network,
                block=block,
                beta=s.accessibility_beta,
            ).ravel()
            self.commute = np.where(np.isfinite(commute), commute, 600.0)
            self._commute_urban_cells = n_urban
        park = self.park_m2 > 0
        self.service_km = (
            distance_km((g.schools > 0), g.cell_size_m)
            + distance_km((g.clinics > 0), g.cell_size_m)
            + distance_km(park.reshape(shape), g.cell_size_m)
        ).ravel() / 3.0
        self.service_km = np.minimum(self.service_km, 100.0)
        r = int(round(s.neighbourhood_radius_m / g.cell_size_m))
        occ = box_sum(land.occupancy.reshape(shape + (-1,)), r).reshape(land.occupancy.shape)
        tot = occ.sum(axis=1)
        self.mix = np.where(tot[:, None] > 0, occ / np.maximum(tot, 1)[:, None], 0.0)
        persons = tot * s.household_size * s.scale
        green_nb = box_sum(self.park_m2.reshape(shape), r).ravel()
        self.green = np.log1p(green_nb / np.maximum(persons, s.household_size * s.scale))

    def _cell_attributes(self) -> CellAttributes:
        return CellAttributes(
            rent=self.land.rent,
            commute=self.commute,
            service=self.service_km,
            green=self.green,
            mix=self.mix,
        )

    # --- land market -----------------------------------------------------------------------
    def _hedonic_features(self) -> np.ndarray:
        return np.column_stack(
            [self.commute, self.service_km, self.green, self.mix[:, 0], self.mix[:, 4]]
        )

    def _development(self) -> None:
        """Developers build what the market lacks where profit is highest (``market.develop``)."""
        s = self.params
        land = self.land
        occ = land.occupancy.sum(axis=1)
        fit = occ > 0
        features = self._hedonic_features()
        coef = fit_hedonic(land.rent[fit], features[fit], occ[fit])
        rent_hat = expected_rent(coef, features)
        value = 12.0 * rent_hat / s.cap_rate
        urban_before = land.urban
        result = develop(
            land,
            value,
            households=len(self.households),
            natural_vacancy=s.natural_vacancy,
            scale=s.scale,
            cell_area_ha=self.grid.cell_area_ha,
            cost_base=s.cost_base,
            cost_per_density=s.cost_per_density,
            farmland_price_ha=s.farmland_price_ha,
            servicing_cost_ha_km=s.servicing_cost_ha_km,
            distance_to_urban_km=distance_km(
                urban_before.reshape(self.grid.shape), self.grid.cell_size_m
            ).ravel(),
            min_density=s.min_density_dw_ha,
            redevelopment_premium=s.redevelopment_premium,
            heterogeneity=s.developer_heterogeneity,
            rng=self.rng,
        )
        new_cells = result.greenfield_cells
        land.rent[new_cells] = np.maximum(rent_hat[new_cells], s.rent_floor)
        self.new_urban = land.urban & ~urban_before
        self.flows["built"] = result.built

    def _moves(self) -> None:
        """Households search and move (``households.move_households``); rents then adjust."""
        s = self.params
        land = self.land
        hh = self.households
        movers, moved, _ = move_households(
            hh.cell,
            hh.group,
            land.capacity,
            land.occupancy,
            self._cell_attributes(),
            self.incomes,
            self.coefs,
            base_rate=s.mobility_base,
            dissatisfaction_rate=s.dissatisfaction_rate,
            n_alternatives=s.n_alternatives,
            rng=self.rng,
        )
        self.flows["movers"] = movers
        self.flows["moved"] = moved
        shape = self.grid.shape
        r = int(round(s.neighbourhood_radius_m / self.grid.cell_size_m))
        vac = box_sum(land.vacant.reshape(shape), r).ravel()
        cap = box_sum(land.capacity.reshape(shape), r).ravel()
        rate = np.where(cap > 0, vac / np.maximum(cap, 1), s.natural_vacancy)
        land.rent = update_rents(
            land.rent,
            rate,
            land.capacity > 0,
            natural_vacancy=s.natural_vacancy,
            speed=s.rent_adjust_speed,
            floor=s.rent_floor,
        )

    # --- measurement -----------------------------------------------------------------------
    def _measure(self) -> None:
        """Compute this year's yearly and per-commune figures."""
        s = self.params
        persons = s.household_size * s.scale
        hh = self.households
        land = self.land
        urban = land.urban
        cell_ha = self.grid.cell_area_ha
        n_communes = len(self.city.cut)
        housed = hh.cell >= 0
        by_commune_group = np.zeros((n_communes, N_GROUPS), dtype=np.int64)
        np.add.at(by_commune_group, (self.commune_of_cell[hh.cell[housed]], hh.group[housed]), 1)
        hh_commune = by_commune_group.sum(axis=1)
        urban_commune = np.bincount(self.commune_of_cell[urban], minlength=n_communes).astype(float)
        persons_cell = land.occupancy.sum(axis=1) * persons
        new_since_start = urban & ~land.urban_start
        occupied = land.occupancy.sum(axis=1)
        hh_commute = self.commute[hh.cell[housed]]
        inside = self.commune_of_cell >= 0
        occupied_commune = np.bincount(
            self.commune_of_cell[inside], weights=occupied[inside], minlength=n_communes
        )
        rent_commune = np.bincount(
            self.commune_of_cell[inside],
            weights=(land.rent * occupied)[inside],
            minlength=n_communes,
        ) / np.maximum(occupied_commune, 1)
        self.yearly = {
            "year": self.year,
            "households": len(hh) * s.scale,
            "population": len(hh) * persons,
            "unhoused_households": int((~housed).sum()) * s.scale,
            "households_formed": self.flows["formed"] * s.scale,
            "households_left": self.flows["left"] * s.scale,
            "urban_area_ha": float(urban.sum() * cell_ha),
            "dwellings": int(land.capacity.sum()) * s.scale,
            "vacancy_rate": float(land.vacant.sum() / max(land.capacity.sum(), 1)),
            "new_urban_ha": float(self.new_urban.sum() * cell_ha) if self.steps else 0.0,
            "urban_density_pph": float(
                persons_cell[urban].sum() / max(urban.sum() * cell_ha, 1e-9)
            ),
            "new_urban_density_pph": float(
                persons_cell[new_since_start].sum() / (new_since_start.sum() * cell_ha)
            )
            if new_since_start.any()
            else float("nan"),
            "movers": self.flows.get("movers", 0) * s.scale,
            "dwellings_built": self.flows.get("built", 0) * s.scale,
            "mean_rent": float(np.average(land.rent, weights=occupied)) if occupied.any() else 0.0,
            "mean_commute_min": float(hh_commute.mean()) if hh_commute.size else float("nan"),
        }
        self.municipal = {
            "households": hh_commune * s.scale,
            "population": hh_commune * persons,
            "urban_area_ha": urban_commune * cell_ha,
            "mean_rent": rent_commune,
        }
        for g in range(N_GROUPS):
            self.municipal[f"pop_q{g + 1}"] = by_commune_group[:, g] * persons


_MUNICIPAL_COLUMNS = ("households", "population", "urban_area_ha", "mean_rent") + tuple(
    f"pop_q{g + 1}" for g in range(N_GROUPS)
)
