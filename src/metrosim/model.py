"""MetroModel: the Mesa model that wires land, households, markets and governments.

One step is one year. The order of a year (documented in ``docs/odd.md``, Process overview):

1. demography: households form and leave;
2. development: developers convert and densify land;
3. household moves and rent update;
4. surfaces: travel times, services, neighbourhood mix;
5. data collection.

Households live in a vectorised store (:class:`metrosim.population.Households`), not as Python
objects; communes, the regional government and ministries are Mesa agents.
"""

from __future__ import annotations

import time
from typing import Any

import mesa
import numpy as np

from metrosim.data import load_city
from metrosim.grid import load_grid
from metrosim.land import LandState, initial_land
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

        self.flows = {"formed": 0, "left": 0}
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
        }
        self.municipal = {
            "households": hh_commune * s.scale,
            "population": hh_commune * persons,
            "urban_area_ha": urban_commune * cell_ha,
        }
        for g in range(N_GROUPS):
            self.municipal[f"pop_q{g + 1}"] = by_commune_group[:, g] * persons


_MUNICIPAL_COLUMNS = ("households", "population", "urban_area_ha") + tuple(
    f"pop_q{g + 1}" for g in range(N_GROUPS)
)
