"""MetroModel: the Mesa model that wires land, households, markets and governments.

One step is one year. The order of a year (documented in ``docs/odd.md``, Process overview):

1. demography: households form and leave;
2. governments' budget year: revenue, transfers, investment, zoning, ministries' projects;
3. development: developers convert and densify land;
4. household moves, then rents respond to vacancy;
5. surfaces: travel times to jobs, distances to services, neighbourhood mix and green space;
6. travel: commute modes, car loads and congestion (fed back into the commute households see);
7. elections, every ``election_cycle`` years;
8. data collection.

Households live in a vectorised store (:class:`metrosim.population.Households`), not as Python
objects; communes, the regional government and ministries are Mesa agents.
"""

from __future__ import annotations

import time
from typing import Any, NamedTuple

import mesa
import numpy as np

from metrosim import environment, metrics
from metrosim._kernels.market import hedonic_features
from metrosim._kernels.measure import column_sums, grid_pass, household_pass, sparse_sum
from metrosim._kernels.regions import dwellings_by_region
from metrosim._kernels.spatial import (
    coverage_window_sums,
    service_and_green_ratio,
    vacancy_rates,
)
from metrosim._memory import tune_allocator
from metrosim._threads import single_blas_thread
from metrosim.accessibility import (
    DistanceField,
    Network,
    box_sum,
    commute_minutes,
    distance_km,
    metro_links,
)
from metrosim.data import load_city
from metrosim.governments import combined, fiscal
from metrosim.governments.ministries import (
    DIRECTIONS,
    choose_corridor,
    corridor_cells,
    social_housing_sites,
)
from metrosim.governments.municipal import (
    FACILITIES,
    best_sites,
    election,
    horizon_weight,
    revenue_bases,
    zoning_update,
)
from metrosim.governments.national import greenbelt_cells, zoning_in_force
from metrosim.grid import PLAZA_DE_ARMAS_XY, load_grid
from metrosim.households import CellAttributes, ChoiceCoefficients, move_households
from metrosim.land import _URBAN_LOOKUP, LandState, LandUse, density_class, initial_land
from metrosim.market import develop, expected_rent, fit_hedonic, update_rents
from metrosim.metrics.coverage import _coverage_share, _mean_by_group
from metrosim.metrics.segregation import _entropy_counts, _yearly_indices
from metrosim.metrics.spatial import _gaussian_spatial_h, _morans_i_cells
from metrosim.metrics.sprawl import _sprawl_cells
from metrosim.population import N_GROUPS, Households, initial_population, place_groups
from metrosim.scenario import Scenario, ScenarioError
from metrosim.surfaces import neighbourhood_shares
from metrosim.travel import Travel, ZoneSystem, observed_mode_shares

__all__ = ["MetroModel", "Municipality", "RegionalGovernment", "Ministry"]

#: The calendar year of the initial state (Censo 2017).
START_YEAR = 2017


class _OccupiedCells(NamedTuple):
    """Per-cell quantities of one year's measurement, computed once and shared."""

    index: np.ndarray  #: occupied cells, ascending
    counts: np.ndarray  #: (n_occupied, N_GROUPS) float64 households by group
    dwellings: np.ndarray  #: occupied dwellings of each occupied cell (int32)
    group_totals: np.ndarray  #: households by group (float, column sums of counts)
    rank: np.ndarray  #: (n_occupied, 3) rank among urban, residential, new urban cells or -1
    n_cells: np.ndarray  #: numbers of urban, residential and new urban cells
    capacity: int  #: dwellings on the grid
    urban: np.ndarray  #: the grid's urban mask
    urban_cells: np.ndarray  #: the urban cells, ascending
    urban_commune: np.ndarray  #: urban cells by commune (float)
    dwellings_commune: np.ndarray  #: occupied dwellings by commune (float)
    rent_commune: np.ndarray  #: sum of rent times occupied dwellings by commune
    pop_commune: np.ndarray  #: persons by commune, summed over cells
    park_commune: np.ndarray  #: park area (m²) by commune
    schools_commune: np.ndarray  #: schools by commune (float)
    clinics_commune: np.ndarray  #: clinics by commune (float)


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
        tune_allocator()  # reuse freed grid-sized arrays (metrosim._memory), once per process
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
        #: flat indices of the region's cells (the rest of the grid's rectangle is outside)
        self._region_cells = np.flatnonzero(self.commune_of_cell >= 0)
        self._outside = self.commune_of_cell < 0
        self._steep: np.ndarray | None = None  # steep cells (found by the first _surfaces)
        self._zoned: tuple | None = None  # see _developable_inside
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
        self.ministries = {k: Ministry(self, k) for k in ("housing", "public_works", "transport")}
        self._init_governments()

        self.park_m2 = self.grid.park_m2.ravel().astype(np.float64)
        self.schools = self.grid.schools.ravel().astype(np.int32)
        self.clinics = self.grid.clinics.ravel().astype(np.int32)
        self.highway = np.zeros(self.grid.commune.size, dtype=bool)
        self._network_changed = False
        self.jobs = self.grid.jobs.ravel().astype(np.float64)
        with_jobs = np.flatnonzero((self.commune_of_cell >= 0) & (self.jobs != 0))
        self._jobs_by_commune = np.bincount(
            self.commune_of_cell[with_jobs], weights=self.jobs[with_jobs], minlength=self.n_communes
        )
        self.metro_lines = self._initial_metro()
        self.metro_extensions = 0
        self._origin_cell: int | None = None  # Plaza de Armas' cell (_highway_origin)
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
        # km to the nearest school, clinic, park and urban cell, kept up to date as those
        # masks grow; updated in place, like the rest of the model's state (distance_km is
        # rebuilt from the same arrays in each _surfaces)
        self._distance = {
            k: DistanceField(self.grid.cell_size_m, in_place=True)
            for k in ("school", "clinic", "park", "urban")
        }
        self._surfaces()
        self._init_travel()
        self.flows = {"formed": 0, "left": 0, "movers": 0, "moved": 0, "built": 0}
        self.new_urban = np.zeros(self.grid.commune.size, dtype=bool)
        self.yearly: dict[str, float] = {}
        self.municipal: dict[str, np.ndarray] = {}
        self.datacollector = mesa.DataCollector(
            model_reporters={"yearly": lambda m: dict(m.yearly)},
            agenttype_reporters={
                Municipality: {
                    k: (lambda a, k=k: a.model._municipal_values[k][a.index])
                    for k in _MUNICIPAL_COLUMNS
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
        """Advance one year, in the order documented in ``docs/odd.md``.

        BLAS runs on one thread during the year (``metrosim._threads``): its calls are small,
        and idle OpenBLAS threads would hold cores that the numba kernels need.
        """
        with single_blas_thread():
            self._year()

    def _year(self) -> None:
        self.year += 1
        self._timed("demography", self._demography)
        self._timed("governments", self._budget_year)
        self._timed("development", self._development)
        self._timed("moves", self._moves)
        self._timed("surfaces", self._surfaces)
        self._timed("travel", self._travel)
        if (self.year - START_YEAR) % self.params.election_cycle == 0:
            self._timed("governments", self._elections)
        self._timed("metrics", self._measure)
        self._timed("collect", lambda: self.datacollector.collect(self))

    def _timed(self, phase: str, fn) -> None:
        t0 = time.perf_counter()
        fn()
        self.timings[phase] = self.timings.get(phase, 0.0) + time.perf_counter() - t0

    # --- governments -----------------------------------------------------------------------
    def _init_governments(self) -> None:
        """Per-commune government state, the regional plan and the association members."""
        s = self.params
        n = len(self.city.cut)
        self.n_communes = n
        self.cars_per_household = np.linspace(
            s.cars_per_household_q1, s.cars_per_household_q5, N_GROUPS
        )
        self.fcm_property_rates = np.where(
            fiscal.default_property_rates(self.city.cut) > 0.6,
            s.fcm_property_rate_rich,
            s.fcm_property_rate,
        )
        members = [m.strip() for m in s.association_members.split(",") if m.strip()]
        self.association = np.zeros(n, dtype=bool)
        for m in members:
            if not m.isdigit() or int(m) not in set(self.city.cut.tolist()):
                raise ScenarioError(
                    f"field 'association_members' = {s.association_members!r}: {m!r} is not a "
                    "commune code (CUT) of the region; allowed: codes such as 13114,13115"
                )
            self.association[self.city.commune_index(int(m))] = True
        self.savings = np.zeros(n)  # municipal investment savings (CLP)
        self.metro_fund = 0.0  # unspent metropolitan fund (CLP)
        self.metro_paid_total = np.zeros(n)
        self.metro_received_total = np.zeros(n)
        self.finance: dict[str, np.ndarray] = {}
        self.metro_fund_spent = 0.0
        self.projects_rejected = 0
        self.density_cap = np.full(n, s.zoning_cap_dw_ha)
        self.reelected = np.full(n, np.nan)
        self.vote_share = np.full(n, np.nan)
        self.highways_built: set[int] = set()
        self.social_built = 0
        self.plan_vote_share = float("nan")
        self.plan_in_force = False
        # a national plan binds the ministries of the government that issues it
        self.ministries_aligned = s.ministries_aligned or s.plan_authority == "national"
        line = self.grid.urban_limit.ravel() | self.land.urban_start
        self.greenbelt = greenbelt_cells(
            line.reshape(self.grid.shape),
            (self.commune_of_cell >= 0).reshape(self.grid.shape),
            self.land.urban_start.reshape(self.grid.shape),
            width_km=s.greenbelt_width_km,
            cell_size_m=self.grid.cell_size_m,
        )
        self.ca_members = np.zeros(n, dtype=bool)  # combined authority members
        self.ca_eligible = np.ones(n, dtype=bool)
        if s.growth_boundary != "none" or self.greenbelt.any():
            excluded_cells = self.greenbelt | (~line if s.growth_boundary != "none" else False)
            excluded = self._boundary_exclusion_share(excluded_cells)
            if s.plan_scope == "combined_authority":
                # joining is the vote: a commune stays out of a joint plan it would refuse
                self.ca_eligible = excluded < 0.5
                adopt = True
            elif s.competence_transfer == "negotiated" and s.plan_authority == "regional":
                yes = excluded[self.city.in_core] < 0.5
                self.plan_vote_share = float(yes.mean())
                adopt = self.plan_vote_share >= s.committee_majority_land_use
            else:
                adopt = True
            if adopt:
                self.regional_government.apply_plan(
                    self.land, self.grid.urban_limit.ravel(), s.growth_boundary
                )
                self.land.plan_max_dw_ha[self.greenbelt] = 0.0
                protect = self.greenbelt & (self.land.land_use == LandUse.AGRICULTURAL)
                self.land.land_use[protect] = LandUse.PROTECTED
                self.plan_in_force = True
        self._plan_base = self.land.plan_max_dw_ha.copy()
        if s.plan_scope == "combined_authority":
            self._apply_plan_scope()
        self._term_start = None  # filled at the first measurement
        self._urban_prev = self.land.urban.copy()

    def _boundary_exclusion_share(self, excluded: np.ndarray) -> np.ndarray:
        """Share of each commune's undeveloped developable land a plan would exclude."""
        land = self.land
        free = land.developable & ~land.urban_start & (self.commune_of_cell >= 0)
        out = free & excluded
        c = self.commune_of_cell
        tot = np.bincount(c[free], minlength=self.n_communes)
        exc = np.bincount(c[out], minlength=self.n_communes)
        return np.where(tot > 0, exc / np.maximum(tot, 1), 0.0)

    def _plan_reach(self) -> np.ndarray:
        """Cells where the plan's boundary and density floor apply (``plan_scope``)."""
        if self.params.plan_scope == "combined_authority":
            inside = self.commune_of_cell >= 0
            return inside & self.ca_members[np.maximum(self.commune_of_cell, 0)]
        return np.ones(self.commune_of_cell.size, dtype=bool)

    def _apply_plan_scope(self) -> None:
        """Put the plan in force in this year's combined authority members only."""
        land = self.land
        land.plan_max_dw_ha[:] = np.where(self._plan_reach(), self._plan_base, np.inf)
        land.plan_max_dw_ha[self.greenbelt] = 0.0

    def _combined_authority(
        self, kept: np.ndarray, budget: np.ndarray, population: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        """Members review their membership, then pay into and draw from the fund.

        Each commune, in an order drawn from ``model.rng``, joins or leaves by its expected net
        gain over the mayor's horizon (``combined.review_membership``); members then pay
        ``combined_authority_share`` of their own revenue and share the fund plus
        ``combined_authority_grant`` by the members' rule (``combined.combined_transfer``).
        """
        s = self.params
        n = self.n_communes
        if s.combined_authority_share <= 0 and s.combined_authority_grant <= 0:
            return np.zeros(n), np.zeros(n)
        coverage = self._commune_coverage() if s.combined_authority_rule == "need" else None
        years_left = s.election_cycle - ((self.year - START_YEAR - 1) % s.election_cycle)
        revenue = np.maximum(kept, 0.0)
        common = {
            "grant": s.combined_authority_grant,
            "rule": s.combined_authority_rule,
            "population": population,
            "coverage": coverage,
        }
        self.ca_members = combined.review_membership(
            self.ca_members,
            self.rng.permutation(n),
            revenue=revenue,
            budget=budget,
            share=s.combined_authority_share,
            horizon=combined.horizon_years(years_left, s.election_cycle, s.mayor_discount),
            switch_cost=s.combined_authority_switch_cost,
            eligible=self.ca_eligible,
            **common,
        )
        if s.plan_scope == "combined_authority" and self.plan_in_force:
            self._apply_plan_scope()
        t = combined.combined_transfer(
            revenue, s.combined_authority_share, self.ca_members, **common
        )
        return t.paid, t.received

    def _dwelling_value(self) -> np.ndarray:
        """Market value of a dwelling in each cell: capitalised current rent (CLP)."""
        value = np.multiply(self.land.rent, 12.0)  # 12 * rent / cap_rate, in one array
        value /= self.params.cap_rate
        return value

    def _budget_year(self) -> None:
        """Revenue, Fondo Común Municipal, pools, investment, zoning and ministries."""
        s = self.params
        land = self.land
        n = self.n_communes
        value = self._dwelling_value()
        b = revenue_bases(
            self.commune_of_cell,
            land.occupancy,
            land.capacity,
            value,
            self.jobs,
            n_communes=n,
            scale=s.scale,
            household_size=s.household_size,
            property_tax_rate=s.property_tax_rate * s.fiscal_decentralisation,
            exemption_value=s.exemption_value,
            tax_per_job=s.tax_per_job * s.fiscal_decentralisation,
            licence_per_job=s.licence_per_job * s.fiscal_decentralisation,
            cars_per_household=self.cars_per_household,
            permit_fee=s.permit_fee * s.fiscal_decentralisation,
        )
        gross = b.property_tax + b.vehicle_permits + b.licences
        if s.fcm_enabled:
            mb = fiscal.municipal_budget(
                b.property_tax,
                b.vehicle_permits,
                property_rate=self.fcm_property_rates,
                permit_rate=s.fcm_permit_rate,
                licences=b.licences,
                licence_rate=0.0,
                n_poor=b.n_poor,
                n_exempt=b.n_exempt,
                population=b.population,
            )
            kept, paid, received = mb.revenue_own, mb.fcm_paid, mb.fcm_received
        else:
            kept, paid, received = gross, np.zeros(n), np.zeros(n)
        budget = kept + received
        ca_paid, ca_received = self._combined_authority(kept, budget, b.population)
        budget = budget - ca_paid + ca_received
        assoc_paid = np.zeros(n)
        assoc_received = np.zeros(n)
        if self.association.any() and s.association_share > 0:
            pool = fiscal.pool_transfer(
                np.maximum(kept, 0.0),
                s.association_share,
                self.association,
                rule="per_capita",
                population=b.population,
            )
            assoc_paid, assoc_received = pool.paid, pool.received
        budget = budget - assoc_paid + assoc_received
        metro_paid = s.metro_fund_share * np.maximum(kept, 0.0)
        budget = budget - metro_paid
        self.metro_fund += float(metro_paid.sum()) + s.gore_investment
        self.metro_paid_total += metro_paid
        pop = np.maximum(b.population, 1.0)
        self.finance = {
            "revenue_own": kept,
            "revenue_gross": gross,
            "fcm_paid": paid,
            "fcm_received": received,
            "association_paid": assoc_paid,
            "association_received": assoc_received,
            "combined_authority_paid": ca_paid,
            "combined_authority_received": ca_received,
            "metro_fund_paid": metro_paid,
            "budget": budget,
            "budget_per_capita": budget / pop,
            "budget_per_capita_pre": gross / pop,
            "property_tax": b.property_tax,
            "population_fiscal": b.population,
        }
        self.savings += s.investment_share * np.maximum(budget, 0.0)
        # one coverage field for both: distances only change in the surfaces phase
        # occupied dwellings as of now for both (investment does not move households)
        occupied = self.land.occupied()
        fields = self._coverage_fields(occupied)
        self._municipal_investment(fields)
        self.metro_fund_spent = self._metropolitan_investment(dict(fields), occupied)
        self._zoning(b)
        self._ministries()

    def _coverage_fields(self, occupied: np.ndarray) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Per facility type: (uncovered households nearby, households nearby) per cell.

        Window sums of the households farther than the type's reach from a facility and of
        all households, both in one pass (``_kernels.spatial.coverage_window_sums``: the
        values of ``box_sum`` of each, exact).
        """
        s = self.params
        ny, nx = self.grid.shape
        hh = occupied  # the cells' occupied dwellings (LandState.occupied)
        out = {}
        for kind in FACILITIES:
            reach = float(getattr(s, f"coverage_{kind}_m"))
            r = max(0, int(round(reach / self.grid.cell_size_m)))
            out[kind] = coverage_window_sums(hh, self.distance_km[kind], reach, ny, nx, r)
        return out

    def _build(self, kind: str, cell: int) -> None:
        s = self.params
        if kind == "school":
            self.schools[cell] += 1
        elif kind == "clinic":
            self.clinics[cell] += 1
        else:
            self.park_m2[cell] = min(
                self.park_m2[cell] + s.park_unit_ha * 1e4, self.grid.cell_size_m**2
            )

    def _cost(self, kind: str) -> float:
        s = self.params
        return {
            "school": s.school_cost,
            "clinic": s.clinic_cost,
            "park": s.park_cost_ha * s.park_unit_ha,
        }[kind]

    def _municipal_investment(self, fields: dict) -> None:
        """Each commune builds, within its savings, the facility that covers most per peso.

        Candidate site per facility type: the commune's cell with the highest
        ``site_scores`` (citizen participation blends unmet need and voters). A project's value
        is its score per peso, weighted by the mayor's horizon (``horizon_weight``); the best
        affordable project is built, up to three a year.
        """
        s = self.params
        years_left = s.election_cycle - ((self.year - START_YEAR - 1) % s.election_cycle)
        build_years = {"school": 3.0, "clinic": 3.0, "park": 1.0}
        cost = {kind: self._cost(kind) for kind in FACILITIES}
        sites, values = {}, {}
        for kind, (unc, hh) in fields.items():
            sites[kind], site_score = best_sites(
                unc, hh, s.citizen_participation, self.commune_of_cell, self.n_communes
            )
            w = horizon_weight(build_years[kind], years_left, s.mayor_discount)
            values[kind] = site_score * w / cost[kind]
        built = {k: np.zeros(self.n_communes, dtype=np.int64) for k in FACILITIES}
        for _ in range(3):
            best_val = np.zeros(self.n_communes)
            best_kind = np.full(self.n_communes, -1)
            for k, kind in enumerate(FACILITIES):
                ok = (values[kind] > best_val) & (self.savings >= cost[kind])
                ok &= built[kind] == 0
                best_val = np.where(ok, values[kind], best_val)
                best_kind = np.where(ok, k, best_kind)
            if (best_kind < 0).all():
                break
            for c in np.flatnonzero(best_kind >= 0):
                kind = FACILITIES[best_kind[c]]
                self._build(kind, int(sites[kind][c]))
                self.savings[c] -= cost[kind]
                built[kind][c] += 1
        self.facilities_built = built

    def _metropolitan_investment(self, fields: dict, occupied: np.ndarray) -> float:
        """The metropolitan fund builds where coverage is worst, region-wide.

        Projects are ranked by uncovered households reached per peso. With negotiated
        competences each is put to the mayors' committee (Gran Santiago's mayors): a mayor votes
        yes if the project is in their commune or their own commune's coverage of that service
        is at least the project commune's (no mayor backs a needier-looking rival against their
        own residents' need); it passes with ``committee_majority``. A rejected project is
        dropped for the year and the next is proposed; unspent money stays in the fund.
        """
        s = self.params
        self.projects_rejected = 0
        if self.metro_fund <= 0:
            return 0.0
        coverage = self._commune_coverage(per_type=True, occupied=occupied)
        spent = 0.0
        ny, nx = self.grid.shape
        # the fund invests where coverage is worst (unmet need): the best cell of each type,
        # recomputed only for the type whose field changed
        unmet = {kind: unc for kind, (unc, _) in fields.items()}
        top = {kind: int(np.argmax(unc)) for kind, unc in unmet.items()}
        own: set[str] = set()  # fields already copied (the caller's stay as they were)
        for _ in range(50):
            best = None
            for kind, unc in unmet.items():
                cell = top[kind]
                val = unc[cell] / self._cost(kind)
                if (
                    unc[cell] > 0
                    and self._cost(kind) <= self.metro_fund
                    and (best is None or val > best[0])
                ):
                    best = (val, kind, cell)
            if best is None:
                break
            _, kind, cell = best
            commune = self.commune_of_cell[cell]
            if s.competence_transfer == "negotiated":
                cov = coverage[kind]
                yes = cov >= cov[commune]
                yes[commune] = True
                if yes[self.city.in_core].mean() < s.committee_majority:
                    self.projects_rejected += 1
                    if kind not in own:
                        unmet[kind] = unmet[kind].copy()
                        own.add(kind)
                    unmet[kind][cell] = 0  # dropped; the committee may pass the next one
                    top[kind] = int(np.argmax(unmet[kind]))
                    continue
            self._build(kind, cell)
            cost = self._cost(kind)
            self.metro_fund -= cost
            spent += cost
            self.metro_received_total[commune] += cost
            r = int(round(getattr(s, f"coverage_{kind}_m") / self.grid.cell_size_m))
            if kind not in own or unmet[kind].dtype != np.float64:
                unmet[kind] = unmet[kind].astype(np.float64)  # a copy
                own.add(kind)
            # the cells within 2r (a square window, clipped to the grid) now count as covered
            y, x = divmod(cell, nx)
            unmet[kind].reshape(ny, nx)[
                max(0, y - 2 * r) : y + 2 * r + 1, max(0, x - 2 * r) : x + 2 * r + 1
            ] = 0.0
            top[kind] = int(np.argmax(unmet[kind]))
        return spent

    def _zoning(self, bases) -> None:
        """Communes move their density caps (``zoning_update``), capped by the plan."""
        s = self.params
        land = self.land
        c = self.commune_of_cell
        # dwellings and households by group of each commune, over the cells with dwellings
        # (the others add exact zeros), the dwellings in cell order (one numba pass)
        dw, occ = dwellings_by_region(
            c, land.capacity, land.occupancy, float(s.scale), self.n_communes
        )
        tax_dw = (
            bases.property_tax - s.tax_per_job * s.fiscal_decentralisation * self._jobs_by_commune
        )
        tax_per_dw = np.where(dw > 0, tax_dw / np.maximum(dw, 1.0), 0.0)
        rich = occ[:, 3:].sum(axis=1) / np.maximum(occ.sum(axis=1), 1.0)
        self.density_cap = zoning_update(
            self.density_cap,
            tax_per_dwelling=tax_per_dw,
            cost_per_household=s.service_cost_per_household,
            rich_share=rich,
            homevoter_weight=s.homevoter_weight,
            speed=s.zoning_speed,
            low=s.zoning_cap_min,
            high=s.zoning_cap_max,
        )
        zoned, zoned_cells, zoned_commune = self._developable_inside()
        in_force = zoning_in_force(self.density_cap, s.zoning_cap_dw_ha, s.municipal_zoning_say)
        land.zoned_max_dw_ha[zoned_cells] = in_force.astype(np.float32)[zoned_commune]
        if self.plan_in_force and s.plan_density_floor_dw_ha > 0:
            # the metropolitan plan obliges communes to permit at least this density inside
            # the boundary (a plan cascade: municipal plans must conform to the regional one)
            floor = zoned & (land.plan_max_dw_ha > 0) & self._plan_reach()
            land.zoned_max_dw_ha[floor] = np.maximum(
                land.zoned_max_dw_ha[floor], np.float32(s.plan_density_floor_dw_ha)
            )

    def _developable_inside(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The developable cells inside the region: mask, cells and their communes.

        Developability is physical (slope, parks) and does not change during a run, so they
        are found once.
        """
        if self._zoned is None:
            c = self.commune_of_cell
            zoned = self.land.developable & (c >= 0)
            self._zoned = (zoned, np.flatnonzero(zoned), c[zoned])
        return self._zoned

    def _ministries(self) -> None:
        """Social housing (housing ministry) and motorways (public works)."""
        s = self.params
        land = self.land
        g = self.grid
        shape = g.shape
        # housing: social dwellings for the poorest quintile's households without a dwelling
        units = int(round(s.social_housing_units / s.scale))
        self.social_built = 0
        if units > 0:
            near_city = self._distance["urban"](land.urban.reshape(shape)).ravel() <= 2.0
            per_cell = max(1, int(s.social_housing_density * g.cell_area_ha / s.scale))
            inside = self._developable_inside()[0]
            if self.ministries_aligned:
                # within the plan: greenfield inside the boundary, or added to residential
                # cells whose cap in force leaves room for a project
                room = land.effective_cap() * g.cell_area_ha / s.scale - land.capacity
                residential = (land.land_use >= LandUse.RES_LOW) & (
                    land.land_use <= LandUse.RES_HIGH
                )
                cand = (
                    inside
                    & (land.plan_max_dw_ha > 0)
                    & ((land.land_use == LandUse.AGRICULTURAL) | (residential & (room >= per_cell)))
                )
            else:
                # sectoral: cheap farmland within 2 km of the city, regional plan or not
                cand = inside & (land.land_use == LandUse.AGRICULTURAL) & near_city
            order = social_housing_sites(
                cand, land.rent, self.commute, s.social_housing_siting, limit=-(-units // per_cell)
            )
            rent = min(s.max_rent_share * 0.5 * float(self.incomes[0]), float(land.rent.max()))
            built = []
            for cell in order:
                if units <= 0:
                    break
                built.append(cell)
                k = min(per_cell, units)
                land.capacity[cell] += k
                units -= k
                self.social_built += k
            built = np.array(built, dtype=np.int64)  # distinct cells: set at once
            land.land_use[built] = density_class(land.capacity[built] * s.scale / g.cell_area_ha)
            land.rent[built] = max(rent, s.rent_floor)
            self._house_poorest(built)
        # transport: a metro extension every metro_interval years
        if s.metro_interval > 0 and (self.year - START_YEAR) % s.metro_interval == 0:
            self._extend_metro()
        # public works: a radial motorway every highway_interval years
        if s.highway_interval > 0 and (self.year - START_YEAR) % s.highway_interval == 0:
            origin = self._highway_origin()
            length = int(round(s.highway_length_km * 1000 / g.cell_size_m))
            band = max(1, int(round(2000 / g.cell_size_m)))
            if self.ministries_aligned:
                weight = land.occupied() * (land.plan_max_dw_ha > 0)
            else:
                weight = (land.developable & ~land.urban).astype(float)
            k = choose_corridor(
                shape, origin, length, weight.astype(float), self.highways_built, band
            )
            if k >= 0:
                self.highways_built.add(k)
                self.highway[corridor_cells(shape, origin, DIRECTIONS[k], length)] = True
                self._network_changed = True

    def _highway_origin(self) -> int:
        """The cell of Plaza de Armas, where the radial motorways start (found once)."""
        if self._origin_cell is None:
            x, y = PLAZA_DE_ARMAS_XY
            self._origin_cell = int(self.grid.cell_of(np.array([x]), np.array([y]))[0])
        return self._origin_cell

    def _house_poorest(self, cells: np.ndarray) -> None:
        """Allocate vacant social dwellings to the poorest quintile's unhoused households.

        Allocation is administrative (SERVIU assigns subsidised dwellings), not by the market:
        unhoused households of group 1, in their store order, fill the vacant dwellings.
        """
        hh = self.households
        land = self.land
        waiting = np.flatnonzero((hh.cell < 0) & (hh.group == 0))
        k = 0
        for cell in cells:
            free = int(land.capacity[cell] - land.occupancy[cell].sum())
            take = waiting[k : k + max(free, 0)]
            hh.cell[take] = cell
            land.occupancy[cell, 0] += take.size
            k += take.size
            if k >= waiting.size:
                break

    def _commune_coverage(self, per_type: bool = False, occupied: np.ndarray | None = None):
        """Share of each commune's households covered, averaged over facility types.

        With ``per_type`` a dict of the share for each facility type. ``occupied``: the
        cells' occupied dwellings when the caller has them (``LandState.occupied``).
        """
        s = self.params
        occ = self.land.occupied() if occupied is None else occupied
        # sums over occupied cells only (the others add exact zeros), in cell order
        cells = np.flatnonzero((self.commune_of_cell >= 0) & (occ > 0))
        c = self.commune_of_cell[cells]
        w = occ[cells]
        hh = np.bincount(c, weights=w, minlength=self.n_communes)
        shares = []
        for kind in FACILITIES:
            ok = self.distance_km[kind][cells] * 1000.0 <= getattr(s, f"coverage_{kind}_m")
            cov = np.bincount(c[ok], weights=w[ok], minlength=self.n_communes)
            shares.append(cov / np.maximum(hh, 1.0))
        if per_type:
            return dict(zip(FACILITIES, shares, strict=True))
        return np.mean(shares, axis=0)

    def _elections(self) -> None:
        """Every ``election_cycle`` years each commune votes on its incumbent (``election``)."""
        s = self.params
        cov = self._commune_coverage()
        rent = self.municipal_rent()
        cov0, rent0 = self._term_start
        share, won = election(
            cov - cov0,
            np.log(np.maximum(rent, 1.0) / np.maximum(rent0, 1.0)),
            sensitivity=s.election_sensitivity,
            noise=s.election_noise,
            rng=self.rng,
        )
        self.vote_share = share
        self.reelected = won.astype(float)
        self._term_start = (cov, rent)

    def municipal_rent(self) -> np.ndarray:
        """Mean rent of occupied dwellings in each commune."""
        occ = self.land.occupied()
        # sums over occupied cells only (the others add exact zeros), in cell order
        cells = np.flatnonzero((self.commune_of_cell >= 0) & (occ > 0))
        c = self.commune_of_cell[cells]
        w = np.bincount(c, weights=occ[cells], minlength=self.n_communes)
        r = np.bincount(c, weights=self.land.rent[cells] * occ[cells], minlength=self.n_communes)
        return r / np.maximum(w, 1.0)

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
            # households by group (one count per group: faster than bincount's int8 copy)
            groups = np.array([np.count_nonzero(hh.group == g) for g in range(N_GROUPS)])
            shares = groups / max(len(hh), 1)
            hh.add(self.rng.choice(N_GROUPS, size=n_new, p=shares).astype(np.int8))
        self.flows = {"formed": n_new, "left": n_left}

    # --- surfaces --------------------------------------------------------------------------
    def _initial_metro(self) -> dict[str, tuple[np.ndarray, np.ndarray]]:
        """Each line's station cells in order, with the cumulative km along the line."""
        g = self.grid
        lines = {}
        for name, seq in self.city.line_sequences.items():
            seq = np.asarray(seq)
            hops = g.metro_km[
                [
                    int(np.flatnonzero((g.metro_from == a) & (g.metro_to == b))[0])
                    for a, b in zip(seq[:-1], seq[1:], strict=True)
                ]
            ]
            lines[name] = (g.station_cell[seq], np.concatenate([[0.0], np.cumsum(hops)]))
        return lines

    def _metro_network(self) -> Network:
        """Metro rides between every pair of stations of a line (see ``metro_links``)."""
        n = self.grid.commune.size
        src, dst, mins = metro_links(
            np.arange(n),
            [cells for cells, _ in self.metro_lines.values()],
            [km for _, km in self.metro_lines.values()],
            speed_kmh=self.params.metro_speed_kmh,
            boarding_min=self.params.metro_boarding_min,
        )
        return Network(n, src, dst, mins)

    def _extend_metro(self) -> None:
        """The transport ministry extends one line by one station (``metro_extension_km``).

        Of the two ends of every line, it extends the one whose new terminal (the line's last
        direction continued) would bring the most households within ``metro_access_km`` of a
        station that are now farther; aligned ministries count only households inside the
        metropolitan plan. The new station joins the network; travel times are recomputed.
        """
        s = self.params
        g = self.grid
        land = self.land
        shape = g.shape
        far = ~self._metro_access()  # the stations' distance, kept while the metro is unchanged
        hh = land.occupied() * far
        if self.ministries_aligned and self.plan_in_force:
            hh = hh * (land.plan_max_dw_ha > 0)
        r = max(1, int(round(s.metro_access_km * 1000 / g.cell_size_m)))
        # float sums of whole numbers are exact (and this kernel is already loaded)
        gain = box_sum(hh.reshape(shape).astype(np.float64), r).ravel()
        nx = shape[1]
        best = None
        for name, (cells, _km) in self.metro_lines.items():
            if cells.size < 2:
                continue
            for end, prev in ((cells[-1], cells[-2]), (cells[0], cells[1])):
                (r1, c1), (r0, c0) = divmod(int(end), nx), divmod(int(prev), nx)
                d = np.hypot(r1 - r0, c1 - c0)
                if d == 0:
                    continue
                step = s.metro_extension_km * 1000 / g.cell_size_m
                rn = int(round(r1 + (r1 - r0) / d * step))
                cn = int(round(c1 + (c1 - c0) / d * step))
                if not (0 <= rn < shape[0] and 0 <= cn < nx):
                    continue
                cell = rn * nx + cn
                if self.commune_of_cell[cell] < 0:
                    continue
                if best is None or gain[cell] > best[0]:
                    best = (gain[cell], name, int(end) == int(cells[-1]), cell)
        if best is None or best[0] <= 0:
            return
        _, name, at_end, cell = best
        cells, km = self.metro_lines[name]
        if at_end:
            cells = np.append(cells, cell)
            km = np.append(km, km[-1] + s.metro_extension_km)
        else:
            cells = np.insert(cells, 0, cell)
            km = np.insert(km + s.metro_extension_km, 0, 0.0)
        self.metro_lines[name] = (cells, km)
        self.metro_extensions += 1
        self.network = self._metro_network()
        self._network_changed = True

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
        n_urban = np.count_nonzero(urban)
        stale = abs(n_urban - self._commute_urban_cells) > 0.01 * max(self._commute_urban_cells, 1)
        if stale or self._network_changed:
            self._network_changed = False
            if self._steep is None:  # the grid's steep cells (fixed), found once
                slope = np.nan_to_num(g.slope_deg.ravel(), nan=s.slope_outside_dem_deg)
                self._steep = slope > s.max_slope_deg
            speed = np.where(urban, s.speed_urban_kmh, s.speed_rural_kmh)
            np.copyto(speed, s.speed_steep_kmh, where=self._steep)
            hw = np.flatnonzero(self.highway)
            speed[hw] = np.maximum(speed[hw], s.highway_speed_kmh)
            np.copyto(speed, 0.0, where=self._outside)
            speed = speed.reshape(shape)
            block = max(1, int(round(s.accessibility_block_m / g.cell_size_m)))
            commute = commute_minutes(
                speed,
                g.cell_size_m,
                self.jobs.reshape(shape),
                self.network,
                block=block,
                beta=s.accessibility_beta,
                disk_cache=self._commute_urban_cells < 0,  # the initial state recurs
            ).ravel()
            self.commute_free = np.where(np.isfinite(commute), commute, 600.0)
            self._commute_urban_cells = n_urban
        dist = self._distance
        self.distance_km = {
            "school": dist["school"]((self.schools > 0).reshape(shape)).ravel(),
            "clinic": dist["clinic"]((self.clinics > 0).reshape(shape)).ravel(),
            "park": dist["park"]((self.park_m2 > 0).reshape(shape)).ravel(),
        }
        r = int(round(s.neighbourhood_radius_m / g.cell_size_m))
        tot, self.mix = neighbourhood_shares(land.occupancy.reshape(shape + (-1,)), r)
        green_nb = box_sum(self.park_m2.reshape(shape), r).ravel()
        # service = min(mean km, 100); green = log1p(green m2 / max(persons, one household))
        self.service_km, self.green = service_and_green_ratio(
            self.distance_km["school"],
            self.distance_km["clinic"],
            self.distance_km["park"],
            tot,
            green_nb,
            np.array([s.household_size, s.scale], dtype=np.float64),
            s.household_size * s.scale,
        )
        # log1p(0) = 0: only the cells with green space nearby (a few percent) change
        has_green = np.flatnonzero(self.green > 0)
        self.green[has_green] = np.log1p(self.green[has_green])

    def _init_travel(self) -> None:
        """Zones, calibrated mode constants and the first year's commutes (``metrosim.travel``)."""
        s = self.params
        g = self.grid
        land = self.land
        inside = self.commune_of_cell >= 0
        origins = np.flatnonzero(inside & (land.developable | (land.capacity > 0)))
        zones = ZoneSystem.build(
            g.shape,
            g.cell_size_m,
            s.travel_zone_m,
            self.jobs,
            origins,
            circuity=s.road_circuity,
            decay_per_km=s.trip_decay_per_km,
        )
        shares, _ = observed_mode_shares(s.region, self.city.cut)
        self.travel = Travel(s, zones, np.maximum(self.commune_of_cell, 0), self.incomes, shares)
        self._metro_key = -1
        self._metro_near = self._metro_access()
        self.travel.set_network(land.urban, self.highway)
        self.travel.calibrate(land.occupancy, self._metro_near)
        self.river_km = environment.river_distance_km(
            s.region, g.cell_size_m, s.river_catchment_km2
        )
        self.river_near = self.river_km * 1000.0 <= s.river_buffer_m
        self.farmland_start = (land.land_use == LandUse.AGRICULTURAL) & land.developable & inside
        self._travel()

    def _metro_access(self) -> np.ndarray:
        """Cells within ``metro_access_km`` of a station (recomputed when the metro grows)."""
        if self._metro_key != self.metro_extensions:
            stations = np.zeros(self.grid.commune.size, dtype=bool)
            for cells, _ in self.metro_lines.values():
                stations[cells[cells >= 0]] = True
            near = distance_km(stations.reshape(self.grid.shape), self.grid.cell_size_m).ravel()
            self._metro_near = near <= self.params.metro_access_km
            self._metro_key = self.metro_extensions
        return self._metro_near

    def _travel(self) -> None:
        """Commute modes and congested car times; congestion scales the commute households see.

        See :mod:`metrosim.travel`. ``self.commute`` = generalised minutes to jobs at free flow
        (``_surfaces``) times the congestion factor of the cell's zone.
        """
        hh = self.households
        self.travel.set_network(self.land.urban, self.highway)
        self.commutes = self.travel.step(
            self.land.occupancy, self._metro_access(), hh.cell, hh.group, self.rng
        )
        self.commute = self.travel.commute_factor(self.commute_free)

    def _cell_attributes(self) -> CellAttributes:
        return CellAttributes(
            rent=self.land.rent,
            commute=self.commute,
            service=self.service_km,
            green=self.green,
            mix=self.mix,
        )

    # --- land market -----------------------------------------------------------------------
    def _hedonic_features(self, cells: np.ndarray) -> np.ndarray:
        """Location features of the hedonic rent model for the given cells (rows).

        Commute, km to services, green, and the shares of the poorest and richest groups
        nearby (one pass, ``_kernels.market.hedonic_features``).
        """
        out = np.empty((cells.size, 5))
        return hedonic_features(
            cells, self.commute, self.service_km, self.green, self.mix, 0, N_GROUPS - 1, out
        )

    def _development(self) -> None:
        """Developers build what the market lacks where profit is highest (``market.develop``).

        The hedonic model is fitted on occupied cells and predicts rents in the region's cells
        only (nothing is built outside it, where the value stays 0).
        """
        s = self.params
        land = self.land
        region = self._region_cells
        occ = land.occupied()[region]
        fit = np.flatnonzero(occ > 0)  # positions in the region (row takes beat a bool mask)
        features = self._hedonic_features(region)
        coef = fit_hedonic(land.rent[region[fit]], features.take(fit, axis=0), occ[fit])
        rent_hat = expected_rent(coef, features)  # of the region's cells
        value = np.zeros(land.rent.size)
        capitalised = np.multiply(rent_hat, 12.0)  # 12 * rent / cap_rate, in one array
        capitalised /= s.cap_rate
        value[region] = capitalised
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
            distance_to_urban_km=self._distance["urban"](
                urban_before.reshape(self.grid.shape)
            ).ravel(),
            min_density=s.min_density_dw_ha,
            redevelopment_premium=s.redevelopment_premium,
            heterogeneity=s.developer_heterogeneity,
            rng=self.rng,
        )
        new_cells = result.greenfield_cells  # developable, hence region cells
        pos = np.minimum(np.searchsorted(region, new_cells), region.size - 1)
        hat = np.where(region[pos] == new_cells, rent_hat[pos], 0.0)  # 0 outside the region
        land.rent[new_cells] = np.maximum(hat, s.rent_floor)
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
            check=False,
        )
        self.flows["movers"] = movers
        self.flows["moved"] = moved
        ny, nx = self.grid.shape
        r = int(round(s.neighbourhood_radius_m / self.grid.cell_size_m))
        # the neighbourhood's vacant / all dwellings (natural_vacancy where it has none)
        rate = vacancy_rates(land.capacity, land.occupied(), ny, nx, r, float(s.natural_vacancy))
        land.rent = update_rents(
            land.rent,
            rate,
            land.capacity > 0,
            natural_vacancy=s.natural_vacancy,
            speed=s.rent_adjust_speed,
            floor=s.rent_floor,
        )

    # --- measurement -----------------------------------------------------------------------
    def _outcome_metrics(self, cells: _OccupiedCells, pop_commune: np.ndarray) -> dict:
        """Segregation, sprawl, coverage and green-equity indicators (``metrosim.metrics``).

        The model's arrays are valid by construction, so the unchecked cores of the public
        functions are called on the occupied cells only (the same values, bit for bit).
        """
        s = self.params
        g = self.grid
        land = self.land
        counts = cells.counts
        idx = cells.index
        seg = _yearly_indices(
            counts, cells.dwellings, cells.group_totals, self.commune_of_cell[idx].astype(np.intp)
        )
        out = {
            "dissimilarity_q1_q5": seg.dissimilarity,
            "multigroup_dissimilarity": seg.multigroup_dissimilarity,
            "theil_h": seg.theil.total,
            "theil_h_between": seg.theil.between,
            "theil_h_within": seg.theil.within,
            "isolation_q1": seg.isolation_first,
            "isolation_q5": seg.isolation_last,
        }
        bandwidth = max(1.0, s.neighbourhood_radius_m / g.cell_size_m)
        ys, xs = np.divmod(idx, g.shape[1])
        N = cells.group_totals
        E = _entropy_counts(N) if (N > 0).all() else 0.0
        if E > 0.0:  # the totals _gaussian_spatial_h would compute (whole numbers: exact)
            t = cells.dwellings.astype(np.float64)
            out["spatial_theil_h"] = _gaussian_spatial_h(
                ys, xs, counts, g.shape, bandwidth, t, float(t.sum()), E
            )
        else:
            out["spatial_theil_h"] = _gaussian_spatial_h(ys, xs, counts, g.shape, bandwidth)
        income = (counts @ self.incomes) / cells.dwellings
        out["morans_i_income"] = _morans_i_cells(idx, income, g.shape)
        limit = (
            self._plan_base > 0 if self.plan_in_force else g.urban_limit.ravel() | land.urban_start
        )
        sp = _sprawl_cells(
            cells.urban, cells.urban_cells, self._urban_prev, limit, g.shape, g.cell_size_m
        )
        self._urban_prev = cells.urban.copy()
        out.update(
            {
                "urban_patches": sp.patches,
                "edge_density": sp.edge_density_m_per_ha,
                "compactness": sp.compactness,
                "new_urban_outside_footprint_share": sp.new_outside_footprint_share,
                "new_urban_outside_limit_share": sp.new_outside_limit_share,
                "leapfrog_share": sp.leapfrog_share,
            }
        )
        for kind in ("school", "clinic", "park"):
            cov = _coverage_share(
                counts,
                self.distance_km[kind][idx] * 1000.0,
                getattr(s, f"coverage_{kind}_m"),
                cells.group_totals,
            )
            out[f"coverage_{kind}"] = cov.overall
            if kind == "park":
                for k in range(N_GROUPS):
                    out[f"coverage_park_q{k + 1}"] = float(cov.by_group[k])
        commute = _mean_by_group(counts, self.commute[idx], per_group=cells.group_totals)
        out["mean_commute_min_q1"] = float(commute[0])
        out["mean_commute_min_q5"] = float(commute[-1])
        core = self.city.in_core & (pop_commune > 0)
        # green_per_person: park area over inhabitants by commune
        with np.errstate(divide="ignore", invalid="ignore"):
            green = np.where(cells.pop_commune > 0, cells.park_commune / cells.pop_commune, np.nan)
        out["green_m2_per_person_gini"] = metrics.gini(green[core], pop_commune[core])
        return out

    def _occupied_cells(self, persons: float) -> _OccupiedCells:
        """The per-cell quantities the year's measurement shares, from one pass over the grid.

        Sums over a commune's cells skip the cells whose term is zero: ``np.bincount`` adds
        weights in cell order, and adding +0 changes nothing, so the sums are exact.
        """
        land = self.land
        n = self.n_communes
        coc = self.commune_of_cell
        urban, urban_cells, idx, counts, dwellings, rank, n_cells, capacity, by_commune = grid_pass(
            land.land_use,
            land.urban_start,
            land.occupancy,
            coc,
            n,
            _URBAN_LOOKUP,
            int(LandUse.RES_LOW),
            int(LandUse.RES_HIGH),
            land.rent,
            persons,
            land.capacity,
            self.park_m2,
            self.schools,
            self.clinics,
            np.empty((coc.size, land.occupancy.shape[1])),  # scratch: numpy's huge pages
            np.empty((coc.size, 3), dtype=np.int64),
        )
        return _OccupiedCells(
            index=idx,
            counts=counts,
            dwellings=dwellings,
            group_totals=column_sums(counts),
            rank=rank,
            n_cells=n_cells,
            capacity=capacity,
            urban=urban,
            urban_cells=urban_cells,
            urban_commune=by_commune[0],
            dwellings_commune=by_commune[1],
            rent_commune=by_commune[2],
            pop_commune=by_commune[3],
            park_commune=by_commune[4],
            schools_commune=by_commune[5],
            clinics_commune=by_commune[6],
        )

    def _measure(self) -> None:
        """Compute this year's yearly and per-commune figures."""
        s = self.params
        persons = s.household_size * s.scale
        hh = self.households
        land = self.land
        cells = self._occupied_cells(persons)
        cell_ha = self.grid.cell_area_ha
        n_communes = len(self.city.cut)
        c = self.commutes
        if c.mode.size != hh.cell.size:
            raise RuntimeError(
                f"commutes of {c.mode.size} households for {hh.cell.size} households"
            )
        by_commune_group, n_housed, commute_sum, *commute_sums = household_pass(
            hh.cell,
            hh.group,
            self.commune_of_cell,
            self.commute,
            c.mode,
            c.minutes,
            c.km,
            n_communes,
            N_GROUPS,
            environment.LONG_COMMUTE_MIN,
        )
        hh_commune = by_commune_group.sum(axis=1)
        urban_commune = cells.urban_commune
        n_occupied = int(cells.dwellings.sum())
        persons_cells = cells.dwellings * persons
        # persons_cell[mask].sum() over the urban, residential and new urban cells: numpy's
        # pairwise sum of the masked grid, of which only the occupied cells are non-zero
        masked_persons = []
        for j in range(3):
            inm = cells.rank[:, j] >= 0
            masked_persons.append(
                sparse_sum(cells.rank[inm, j], persons_cells[inm], int(cells.n_cells[j]))
            )
        n_urban, n_res, n_new = (int(x) for x in cells.n_cells)
        rent_commune = cells.rent_commune / np.maximum(cells.dwellings_commune, 1)
        capacity = cells.capacity
        # np.average(rent, weights=occupied): numpy's pairwise sum over the grid, zeros skipped
        rent_total = sparse_sum(
            cells.index, land.rent[cells.index] * cells.dwellings, land.rent.size
        )
        self.yearly = {
            "year": self.year,
            "households": len(hh) * s.scale,
            "population": len(hh) * persons,
            "unhoused_households": int(len(hh) - n_housed) * s.scale,
            "households_formed": self.flows["formed"] * s.scale,
            "households_left": self.flows["left"] * s.scale,
            "urban_area_ha": float(n_urban * cell_ha),
            "dwellings": int(capacity) * s.scale,
            "vacancy_rate": float((capacity - n_occupied) / max(capacity, 1)),
            "new_urban_ha": float(np.count_nonzero(self.new_urban) * cell_ha)
            if self.steps
            else 0.0,
            "urban_density_pph": float(masked_persons[0] / max(n_urban * cell_ha, 1e-9)),
            "residential_density_pph": float(masked_persons[1] / max(n_res * cell_ha, 1e-9)),
            "new_urban_density_pph": float(masked_persons[2] / (n_new * cell_ha))
            if n_new
            else float("nan"),
            "movers": self.flows.get("movers", 0) * s.scale,
            "dwellings_built": self.flows.get("built", 0) * s.scale,
            "mean_rent": float(rent_total / float(n_occupied)) if n_occupied else 0.0,
            # np.mean of the housed households' commutes: their pairwise sum over their number
            "mean_commute_min": float(commute_sum / n_housed) if n_housed else float("nan"),
        }
        if self._term_start is None:
            self._term_start = (self._commune_coverage(), self.municipal_rent())
        self.yearly.update(self._outcome_metrics(cells, hh_commune * persons))
        fin = self.finance
        nan = np.full(n_communes, np.nan)
        bpc = fin.get("budget_per_capita", nan)
        bpc_pre = fin.get("budget_per_capita_pre", nan)
        core = self.city.in_core & (hh_commune > 0)
        self.yearly.update(
            {
                "budget_per_capita_ratio_max_min": _ratio(bpc[core]),
                "budget_per_capita_gini": _gini(bpc[core], hh_commune[core]),
                "budget_per_capita_ratio_max_min_pre": _ratio(bpc_pre[core]),
                "budget_per_capita_gini_pre": _gini(bpc_pre[core], hh_commune[core]),
                "metro_fund_spent": self.metro_fund_spent,
                "metro_projects_rejected": self.projects_rejected,
                "social_dwellings_built": self.social_built * s.scale,
                "plan_in_force": float(self.plan_in_force),
                "highways": len(self.highways_built),
                "metro_extensions": self.metro_extensions,
                "combined_authority_members": int(self.ca_members.sum()),
                "combined_authority_fund": float(
                    fin.get("combined_authority_received", np.zeros(1)).sum()
                ),
            }
        )
        park_ha = cells.park_commune / 1e4
        self.municipal = {
            "revenue_own": fin.get("revenue_own", nan),
            "fcm_paid": fin.get("fcm_paid", nan),
            "fcm_received": fin.get("fcm_received", nan),
            "budget": fin.get("budget", nan),
            "budget_per_capita": bpc,
            "schools": cells.schools_commune,
            "clinics": cells.clinics_commune,
            "park_ha": park_ha,
            "green_m2_per_person": park_ha * 1e4 / np.maximum(hh_commune * persons, 1.0),
            "density_cap": self.density_cap.copy(),
            "mayor_reelected": self.reelected.copy(),
            "combined_authority_member": self.ca_members.astype(float),
            "combined_authority_paid": fin.get("combined_authority_paid", nan),
            "combined_authority_received": fin.get("combined_authority_received", nan),
            "households": hh_commune * s.scale,
            "population": hh_commune * persons,
            "urban_area_ha": urban_commune * cell_ha,
            "mean_rent": rent_commune,
        }
        for g in range(N_GROUPS):
            self.municipal[f"pop_q{g + 1}"] = by_commune_group[:, g] * persons
        env_yearly, env_municipal = environment.measure(
            self, cells.index, cells.counts, cells.urban, tuple(commute_sums)
        )
        self.yearly.update(env_yearly)
        self.municipal.update(env_municipal)
        # the data collector's per-commune values as Python lists (an item of a list is
        # cheaper to read than a numpy scalar, 35 columns x 52 communes a year)
        self._municipal_values = {k: self.municipal[k].tolist() for k in _MUNICIPAL_COLUMNS}


_MUNICIPAL_COLUMNS = (
    (
        "households",
        "population",
        "urban_area_ha",
        "mean_rent",
        "revenue_own",
        "fcm_paid",
        "fcm_received",
        "budget",
        "budget_per_capita",
        "schools",
        "clinics",
        "park_ha",
        "green_m2_per_person",
        "density_cap",
        "mayor_reelected",
        "combined_authority_member",
        "combined_authority_paid",
        "combined_authority_received",
    )
    + tuple(f"pop_q{g + 1}" for g in range(N_GROUPS))
    + environment.MUNICIPAL_COLUMNS
)


def _ratio(x: np.ndarray) -> float:
    x = x[np.isfinite(x)]
    return float(x.max() / x.min()) if x.size and x.min() > 0 else float("nan")


def _gini(x: np.ndarray, w: np.ndarray) -> float:
    ok = np.isfinite(x)
    x, w = x[ok], w[ok].astype(float)
    if x.size == 0 or w.sum() == 0 or x.sum() == 0:
        return float("nan")
    order = np.argsort(x)
    x, w = x[order], w[order]
    cw = np.cumsum(w) / w.sum()
    cx = np.cumsum(x * w) / (x * w).sum()
    return float(1.0 - np.sum((cx[1:] + cx[:-1]) * np.diff(cw)) - cx[0] * cw[0])
