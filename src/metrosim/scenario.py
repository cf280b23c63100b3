"""Scenarios: the typed, validated, immutable description of one run.

A :class:`Scenario` holds every parameter and lever of the model with its default, unit, allowed
range and source (or stated assumption). It loads from TOML (a file, or the name of a preset in
``scenarios/``) and writes back exactly what it holds. Presets are bundles of lever values; every
lever can also be set alone (``Scenario.load("fragmented").replace(growth_boundary=True)`` or
``metrosim run fragmented --set growth_boundary=true``).

Bad input never produces a traceback for the user: it raises :class:`ScenarioError`, a
``ValueError`` whose message names the field, the value and what is allowed.
"""

from __future__ import annotations

import dataclasses
import difflib
import math
import os
import tomllib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from metrosim._atomic import atomic_write_text

__all__ = [
    "KINDS",
    "Scenario",
    "ScenarioError",
    "ParamSpec",
    "parameter_table",
    "preset_names",
]


class ScenarioError(ValueError):
    """A scenario file, preset name or parameter value that cannot be used."""


@dataclass(frozen=True)
class ParamSpec:
    """What is known about one scenario parameter.

    Attributes
    ----------
    unit : str
        Unit of the value ("-" for dimensionless, "bool", "text").
    section : str
        Group in the TOML file and the parameter table (``run``, ``population``, ...).
    source : str
        Where the default comes from: a citation, or "assumption: ..." with the reasoning.
    low, high : float or None
        Inclusive bounds for numbers.
    choices : tuple or None
        Allowed values for text parameters.
    doc : str
        One sentence on what the parameter does.
    lever : bool
        True for policy levers (what a regime sets), False for parameters and uncertainties.
    kind : str
        ``"lever"``, ``"uncertainty"`` or ``"setting"`` (see :data:`KINDS`). Left out, it
        follows the rule: a lever is a ``lever``; a field of the ``run`` section is a
        ``setting``; anything else is an ``uncertainty``. A field that defines how something is
        measured or resolved rather than how agents behave states ``kind="setting"``.
    """

    unit: str
    section: str
    source: str
    doc: str
    low: float | None = None
    high: float | None = None
    choices: tuple[str, ...] | None = None
    lever: bool = False
    kind: str = ""

    def __post_init__(self) -> None:
        if not self.kind:
            derived = (
                "lever" if self.lever else "setting" if self.section == "run" else "uncertainty"
            )
            object.__setattr__(self, "kind", derived)
        if self.kind not in KINDS:
            raise ValueError(f"kind = {self.kind!r}; allowed: {', '.join(KINDS)}")
        if self.lever != (self.kind == "lever"):
            raise ValueError(f"lever = {self.lever} contradicts kind = {self.kind!r}")


#: How a scenario field is classified for exploratory modelling (EMA's XLRM: levers L,
#: uncertainties X; settings are neither):
#:
#: - ``lever``: a policy choice of the governance regimes the model compares (who plans, who
#:   pays, how decisions are taken); what a regime sets.
#: - ``uncertainty``: a behavioural or external parameter whose value is not known precisely
#:   (preferences, market responses, costs, national policy and ministries' output, which the
#:   metropolitan regimes do not control); its allowed range is a validity range, narrower
#:   plausible ranges are stated by the experiment that samples it.
#: - ``setting``: what a run is and how finely or by which standard it measures (name, region,
#:   horizon, cell size, sampling scale, accessibility block size, coverage distances); changing
#:   one changes the experiment or the measurement, not the city.
KINDS: tuple[str, ...] = ("lever", "uncertainty", "setting")


def _p(default: Any, **spec: Any) -> Any:
    return field(default=default, metadata={"spec": ParamSpec(**spec)})


@dataclass(frozen=True)
class Scenario:
    """A complete, validated description of a run: every parameter and lever with its default.

    Build one from defaults (``Scenario()``), from a preset or file (:meth:`load`), or change
    fields of an existing one (:meth:`replace`). Instances are immutable and hashable, so a run
    is fully described by its scenario, its seed and the package version.

    See ``docs/parameters.md`` (generated from this class by :func:`parameter_table`) for every
    field with its unit and source.

    Examples
    --------
    >>> s = Scenario.load("fragmented")
    >>> s.name
    'fragmented'
    >>> s.replace(scale=20).scale
    20
    """

    # --- run -------------------------------------------------------------------------------
    name: str = _p(
        "custom",
        unit="text",
        section="run",
        source="-",
        doc="Name of the scenario; it names the output folder (no slash or backslash).",
    )
    description: str = _p(
        "", unit="text", section="run", source="-", doc="Free text describing the scenario."
    )
    region: str = _p(
        "santiago",
        unit="text",
        section="run",
        choices=("santiago",),
        source="-",
        doc="Which city's data build the initial state (the Metropolitan Region of Santiago).",
    )
    years: int = _p(
        30,
        unit="year",
        section="run",
        low=0,
        high=200,
        source="assumption: a 30-year planning horizon, as metropolitan plans use",
        doc="Number of simulated years (one step = one year, starting from the 2017 census).",
    )
    cell_size_m: float = _p(
        250.0,
        unit="m",
        section="run",
        low=50.0,
        high=2000.0,
        source="assumption: 250 m keeps a year fast; 100 m resolves blocks",
        doc="Side of a square grid cell in the UTM 19S projection (EPSG:32719).",
    )
    scale: int = _p(
        10,
        unit="households",
        section="run",
        low=1,
        high=1000,
        source="assumption: 10 real households per simulated one keeps the main job fast",
        doc="Real households represented by one simulated household.",
    )

    # --- population ------------------------------------------------------------------------
    household_size: float = _p(
        3.1,
        unit="persons",
        section="population",
        low=1.0,
        high=10.0,
        source="INE Censo 2017: national average household size (about 3.1)",
        doc="Persons per household, used to turn census persons into households.",
    )
    formation_rate: float = _p(
        0.017,
        unit="1/year",
        section="population",
        low=0.0,
        high=0.2,
        source=(
            "assumption: net household growth of ~1.2%/yr (RM population grew from 6,061,185 in "
            "2002 to 7,112,808 in 2017, 1.07%/yr, and household size fell) plus departures"
        ),
        doc="New households formed each year, as a share of the current households.",
    )
    departure_rate: float = _p(
        0.005,
        unit="1/year",
        section="population",
        low=0.0,
        high=0.2,
        source="assumption: out-migration and dissolution, 0.5% of households a year",
        doc="Households that leave the region or dissolve each year, as a share.",
    )
    vacancy_initial: float = _p(
        0.06,
        unit="-",
        section="population",
        low=0.0,
        high=0.5,
        source="assumption: 6% of dwellings vacant at the start (a typical natural vacancy)",
        doc="Share of dwellings vacant in the initial state; sets the initial dwelling stock.",
    )
    income_q1: float = _p(
        300_000.0,
        unit="CLP/month",
        section="population",
        low=1.0,
        high=1e8,
        source=(
            "assumption: order of magnitude of CASEN 2017 mean household income of the poorest "
            "quintile; replace with a sourced figure"
        ),
        doc="Monthly household income of income group 1 (poorest quintile).",
    )
    income_q2: float = _p(
        550_000.0,
        unit="CLP/month",
        section="population",
        low=1.0,
        high=1e8,
        source="assumption: as income_q1",
        doc="Monthly household income of income group 2.",
    )
    income_q3: float = _p(
        800_000.0,
        unit="CLP/month",
        section="population",
        low=1.0,
        high=1e8,
        source="assumption: as income_q1",
        doc="Monthly household income of income group 3.",
    )
    income_q4: float = _p(
        1_200_000.0,
        unit="CLP/month",
        section="population",
        low=1.0,
        high=1e8,
        source="assumption: as income_q1",
        doc="Monthly household income of income group 4.",
    )
    income_q5: float = _p(
        2_800_000.0,
        unit="CLP/month",
        section="population",
        low=1.0,
        high=1e8,
        source="assumption: as income_q1",
        doc="Monthly household income of income group 5 (richest quintile).",
    )

    # --- land ------------------------------------------------------------------------------
    max_slope_deg: float = _p(
        15.0,
        unit="degree",
        section="land",
        low=0.0,
        high=90.0,
        source=(
            "assumption: a modelling choice (facts.md: only 1.3% of the 2017 urban population "
            "lives in cells steeper than 15 degrees)"
        ),
        doc="Cells with a mean SRTM slope above this are not developable.",
    )
    slope_outside_dem_deg: float = _p(
        5.0,
        unit="degree",
        section="land",
        low=0.0,
        high=90.0,
        source=(
            "assumption: cells outside the SRTM tile (far west/south/east of the region) are "
            "given a gentle slope; they are far from the city"
        ),
        doc="Slope assigned to cells with no SRTM data.",
    )

    zoning_cap_dw_ha: float = _p(
        150.0,
        unit="dwellings/ha",
        section="land",
        low=1.0,
        high=2000.0,
        source=(
            "assumption: no municipal plans (PRC) are in the data; a permissive cap at the start, "
            "which municipalities then change"
        ),
        doc="Maximum density permitted on developable land before any government re-zones.",
    )
    rent_to_income_initial: float = _p(
        0.25,
        unit="-",
        section="land",
        low=0.01,
        high=1.0,
        source="assumption: a quarter of income on housing, a common benchmark",
        doc="Initial monthly rent as a share of the commune's mean household income.",
    )

    # --- households -------------------------------------------------------------------------
    mobility_base: float = _p(
        0.07,
        unit="1/year",
        section="households",
        low=0.0,
        high=1.0,
        source="assumption: about 7% of households move each year (order of magnitude of residential mobility rates in Latin American cities)",
        doc="Share of households that move each year regardless of satisfaction.",
    )
    dissatisfaction_rate: float = _p(
        0.15,
        unit="1/year",
        section="households",
        low=0.0,
        high=1.0,
        source="assumption: to be calibrated (metrosim calibrate); Clark & Onaka (1983) stress-threshold idea",
        doc=(
            "Extra moving probability for a household far below the utility it could get "
            "elsewhere (mobility_base + dissatisfaction_rate <= 1)."
        ),
    )
    n_alternatives: int = _p(
        30,
        unit="dwellings",
        section="households",
        low=1,
        high=500,
        source="assumption: sampling of alternatives (McFadden 1978); 30 is common in UrbanSim's location choice models",
        doc="Vacant dwellings a mover samples and compares.",
    )
    beta_rent_share: float = _p(
        -4.0,
        unit="1/(rent/income)",
        section="households",
        low=-100.0,
        high=0.0,
        source="assumption: to be calibrated (metrosim calibrate); bid-rent trade-off (Alonso 1964)",
        doc="Utility per unit of rent as a share of income.",
    )
    beta_commute: float = _p(
        -0.03,
        unit="1/min",
        section="households",
        low=-10.0,
        high=0.0,
        source="assumption: to be calibrated (metrosim calibrate); value of commute time in residential location choice",
        doc="Utility per minute of generalised commute time to jobs.",
    )
    beta_service: float = _p(
        -0.3,
        unit="1/km",
        section="households",
        low=-10.0,
        high=0.0,
        source="assumption: to be calibrated (metrosim calibrate); access to schools, clinics and parks",
        doc="Utility per km of mean distance to the nearest school, clinic and park.",
    )
    beta_green: float = _p(
        0.3,
        unit="1/log(1+m2/person)",
        section="households",
        low=-10.0,
        high=10.0,
        source="assumption: to be calibrated (metrosim calibrate); green-space amenity",
        doc="Utility per unit of log(1 + green m2 per person in the neighbourhood).",
    )
    beta_homophily: float = _p(
        2.0,
        unit="1/share",
        section="households",
        low=-20.0,
        high=20.0,
        source="assumption: to be calibrated (metrosim calibrate); Schelling (1971) homophily: preference for neighbours of one's own income group",
        doc="Utility per unit share of the household's own income group in the neighbourhood.",
    )
    max_rent_share: float = _p(
        0.5,
        unit="-",
        section="households",
        low=0.05,
        high=1.0,
        source="assumption: a dwelling costing more than half of income is unaffordable",
        doc="A household never chooses a dwelling whose rent exceeds this share of its income.",
    )
    neighbourhood_radius_m: float = _p(
        500.0,
        unit="m",
        section="households",
        low=0.0,
        high=5000.0,
        source="assumption: a walkable neighbourhood of about 500 m",
        doc="Half-width of the square window for neighbourhood income mix and green space.",
    )
    # --- market -----------------------------------------------------------------------------
    natural_vacancy: float = _p(
        0.06,
        unit="-",
        section="market",
        low=0.0,
        high=0.5,
        source="assumption: natural vacancy rate of ~6% (Rosen & Smith 1983 estimate a few percent for rental markets)",
        doc="Vacancy rate at which rents are stable; developers build to restore it.",
    )
    rent_adjust_speed: float = _p(
        2.0,
        unit="1/year per unit vacancy gap",
        section="market",
        low=0.0,
        high=50.0,
        source="assumption: to be calibrated (metrosim calibrate); rent adjustment to vacancy (Rosen & Smith 1983)",
        doc="Log change of rents per year per unit gap between natural and actual vacancy.",
    )
    rent_floor: float = _p(
        20000.0,
        unit="CLP/month",
        section="market",
        low=1.0,
        high=10000000.0,
        source="assumption: lowest monthly rent of a dwelling",
        doc="Rents never fall below this.",
    )
    cap_rate: float = _p(
        0.05,
        unit="1/year",
        section="market",
        low=0.005,
        high=0.5,
        source="assumption: residential rental yield of about 5% a year in Santiago",
        doc="Yield that capitalises annual rent into a dwelling's value.",
    )
    cost_base: float = _p(
        20000000.0,
        unit="CLP/dwelling",
        section="market",
        low=0.0,
        high=10000000000.0,
        source="assumption: ~600 UF, construction cost of a basic dwelling",
        doc="Construction cost of a dwelling at zero density.",
    )
    cost_per_density: float = _p(
        100000.0,
        unit="CLP/dwelling per dwelling/ha",
        section="market",
        low=1.0,
        high=1000000000.0,
        source="assumption: taller buildings cost more per dwelling (Alonso-Muth-Mills capital-land substitution)",
        doc="Increase of construction cost per dwelling with each dwelling/ha of density.",
    )
    farmland_price_ha: float = _p(
        100000000.0,
        unit="CLP/ha",
        section="market",
        low=0.0,
        high=100000000000.0,
        source="assumption: ~0.3 UF/m2 for agricultural land at the urban edge",
        doc="Price of a hectare of agricultural land (the agricultural rent, capitalised).",
    )
    servicing_cost_ha_km: float = _p(
        30000000.0,
        unit="CLP/ha/km",
        section="market",
        low=0.0,
        high=100000000000.0,
        source="assumption: cost of extending roads and utilities, per km from the urban footprint",
        doc="Servicing cost of greenfield land per hectare and km of distance from the urban footprint.",
    )
    min_density_dw_ha: float = _p(
        5.0,
        unit="dwellings/ha",
        section="market",
        low=0.0,
        high=1000.0,
        source="assumption: below this, building is not urban development",
        doc="Smallest density a developer builds.",
    )
    redevelopment_premium: float = _p(
        1.0,
        unit="-",
        section="market",
        low=0.0,
        high=10.0,
        source="assumption: assembling and demolishing costs the full value of the existing dwellings",
        doc="Cost of densifying, as a multiple of the value of the dwellings already on the cell.",
    )
    developer_heterogeneity: float = _p(
        0.2,
        unit="-",
        section="market",
        low=1e-06,
        high=100.0,
        source="assumption: to be calibrated (metrosim calibrate); spread of developers' costs and information",
        doc="Scale of the random term in project choice (larger = less strictly the most profitable site).",
    )
    # --- travel and services ------------------------------------------------------------------
    speed_urban_kmh: float = _p(
        20.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=200.0,
        source="assumption: door-to-door speed in the urban area at peak (no road network data)",
        doc="Travel speed across urban cells.",
    )
    speed_rural_kmh: float = _p(
        40.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=200.0,
        source="assumption: speed across non-urban land (rural roads, no road data)",
        doc="Travel speed across non-urban cells.",
    )
    speed_steep_kmh: float = _p(
        5.0,
        unit="km/h",
        section="travel",
        low=0.1,
        high=200.0,
        source="assumption: mountains are crossed slowly",
        doc="Travel speed across cells steeper than max_slope_deg.",
    )
    metro_speed_kmh: float = _p(
        32.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=200.0,
        source="assumption: commercial speed of Metro de Santiago trains",
        doc="Speed between consecutive metro stations (straight-line distance).",
    )
    metro_boarding_min: float = _p(
        5.0,
        unit="min",
        section="travel",
        low=0.0,
        high=60.0,
        source="assumption: walk-in, wait and transfer time at a station",
        doc="Minutes added when boarding the metro.",
    )
    accessibility_beta: float = _p(
        0.05,
        unit="1/min",
        section="travel",
        low=0.0001,
        high=10.0,
        source="assumption: gravity decay of job accessibility (Hansen 1959)",
        doc="Decay of the weight of jobs with travel time.",
    )
    accessibility_block_m: float = _p(
        2000.0,
        unit="m",
        kind="setting",
        section="travel",
        low=100.0,
        high=20000.0,
        source="assumption: job accessibility computed between blocks of this size",
        doc="Block size of the coarse grid for the gravity accessibility.",
    )
    # --- commuting, congestion (metrosim.travel) ----------------------------------------------
    employment_rate: float = _p(
        0.85,
        unit="share",
        section="travel",
        low=0.0,
        high=1.0,
        source="assumption: share of households with a worker who commutes on a given day",
        doc="Probability that a housed household has a commute in a year's draw.",
    )
    travel_zone_m: float = _p(
        2000.0,
        unit="m",
        section="travel",
        low=250.0,
        high=20000.0,
        source="assumption: resolution of the loaded car network (coarse zone grid)",
        doc="Side of the square zones on which car trips are loaded and congestion computed.",
    )
    trip_decay_per_km: float = _p(
        0.15,
        unit="1/km",
        section="travel",
        low=0.0,
        high=5.0,
        source="assumption: gravity decay of work-trip destinations (Wilson 1967 form)",
        doc="Decay of the weight of a job zone with the trip's road km.",
    )
    road_circuity: float = _p(
        1.3,
        unit="-",
        section="travel",
        low=1.0,
        high=3.0,
        source="Ballou, Rahardja & Sakai (2002), Transp. Res. A 36(9): road circuity factors about 1.2-1.4",
        doc="Road km per straight-line km between zone centres.",
    )
    car_speed_urban_kmh: float = _p(
        35.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=200.0,
        source="assumption: free-flow car speed on urban streets and arterials",
        doc="Free-flow car speed across urban land (congestion lowers it).",
    )
    car_terminal_min: float = _p(
        5.0,
        unit="min",
        section="travel",
        low=0.0,
        high=60.0,
        source="assumption: walking to and from the parked car",
        doc="Minutes added to every car commute.",
    )
    pt_speed_bus_kmh: float = _p(
        15.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=200.0,
        source="assumption: door-to-door in-vehicle speed by bus (Red buses run at about 19 km/h; walking and transfers lower it)",
        doc="Speed of a public-transport commute from a dwelling beyond reach of the metro.",
    )
    pt_speed_metro_kmh: float = _p(
        25.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=200.0,
        source="assumption: door-to-door speed of a commute with the metro (trains at 32 km/h, feeders slower)",
        doc="Speed of a public-transport commute from a dwelling within metro_access_km of a station.",
    )
    pt_wait_min: float = _p(
        10.0,
        unit="min",
        section="travel",
        low=0.0,
        high=120.0,
        source="assumption: walking to the stop and waiting",
        doc="Minutes added to every public-transport commute.",
    )
    active_speed_kmh: float = _p(
        6.0,
        unit="km/h",
        section="travel",
        low=1.0,
        high=50.0,
        source="assumption: mostly walking (5 km/h) with some cycling (15 km/h)",
        doc="Speed of a commute on foot or by bicycle.",
    )
    mode_beta_time: float = _p(
        -0.06,
        unit="1/min",
        section="travel",
        low=-1.0,
        high=0.0,
        source="assumption: order of magnitude of time coefficients in mode-choice logits (Ortúzar & Willumsen 2011, ch. 7)",
        doc="Utility of one minute of commute in the mode choice.",
    )
    out_of_vehicle_weight: float = _p(
        2.0,
        unit="-",
        section="travel",
        low=1.0,
        high=5.0,
        source="Wardman (2004), Transport Policy 11(4): walking and waiting time valued about 1.5-2 times in-vehicle time",
        doc="Weight of a minute of walking, cycling or waiting relative to a minute in a vehicle.",
    )
    mode_beta_income_car: float = _p(
        1.0,
        unit="1/ln(CLP)",
        section="travel",
        low=0.0,
        high=10.0,
        source="assumption: car use rises with income (car ownership)",
        doc="Car utility per unit of ln(income / median income).",
    )
    mode_beta_metro: float = _p(
        0.5,
        unit="-",
        section="travel",
        low=0.0,
        high=10.0,
        source="assumption: preference for rail beyond its speed (reliability, comfort)",
        doc="Public-transport utility when a metro station is within metro_access_km.",
    )
    travel_iterations: int = _p(
        2,
        unit="-",
        section="travel",
        low=0,
        high=50,
        source="assumption: rounds of the method of successive averages per year (Sheffi 1985)",
        doc="Rounds of mode choice and loading per year before the households' modes are drawn.",
    )
    peak_hour_share: float = _p(
        0.4,
        unit="share",
        section="travel",
        low=0.01,
        high=1.0,
        source="assumption: share of the morning commutes in the peak hour",
        doc="Share of car commutes on the roads in the peak hour.",
    )
    road_capacity_urban_veh_h_km: float = _p(
        4000.0,
        unit="veh/h per km",
        section="travel",
        low=1.0,
        high=100000.0,
        source="assumption: arterials every ~500 m, two lanes each way at ~900 veh/h/lane with signals (HCM order)",
        doc="Peak-hour cars that can cross one km of width of urban land.",
    )
    road_capacity_rural_veh_h_km: float = _p(
        500.0,
        unit="veh/h per km",
        section="travel",
        low=1.0,
        high=100000.0,
        source="assumption: sparse rural roads",
        doc="Peak-hour cars that can cross one km of width of non-urban land.",
    )
    motorway_capacity_veh_h: float = _p(
        12000.0,
        unit="veh/h",
        section="travel",
        low=0.0,
        high=100000.0,
        source="Highway Capacity Manual (TRB 2010): about 2,000 veh/h per motorway lane; 3 lanes each way",
        doc="Capacity added to a zone that a motorway (built or planned) crosses.",
    )
    bpr_alpha: float = _p(
        0.15,
        unit="-",
        section="travel",
        low=0.0,
        high=10.0,
        source="Bureau of Public Roads (1964), Traffic Assignment Manual",
        doc="BPR volume-delay function: delay at capacity as a share of free-flow time.",
    )
    bpr_beta: float = _p(
        4.0,
        unit="-",
        section="travel",
        low=1.0,
        high=10.0,
        source="Bureau of Public Roads (1964), Traffic Assignment Manual",
        doc="BPR volume-delay function: power of the volume/capacity ratio.",
    )
    working_days: float = _p(
        240.0,
        unit="days/yr",
        section="travel",
        low=1.0,
        high=366.0,
        source="assumption: working days a year (two commute trips a day)",
        doc="Days a year on which commuters travel to work and back.",
    )
    car_charge_min: float = _p(
        0.0,
        unit="min",
        section="travel",
        low=0.0,
        high=120.0,
        source="policy lever: 0 = no charge (the 2019 situation the mode constants are calibrated to)",
        doc="Road pricing or parking charge on car commutes, in minutes of commute time (0 = none).",
        lever=True,
    )
    # --- environment (metrosim.environment) --------------------------------------------------
    ef_pm25_g_km: float = _p(
        0.015,
        unit="g/veh-km",
        section="environment",
        low=0.0,
        high=10.0,
        source="EMEP/EEA Guidebook 2019, 1.A.3.b.i (exhaust, Euro 4-5 cars) + 1.A.3.b.vi-vii (tyre, brake, road wear ~0.011); fleet mix assumed",
        doc="PM2.5 emitted per car-km, exhaust and wear.",
    )
    ef_nox_g_km: float = _p(
        0.35,
        unit="g/veh-km",
        section="environment",
        low=0.0,
        high=100.0,
        source="EMEP/EEA Guidebook 2019, 1.A.3.b.i Tier 2 (petrol Euro 4 ~0.06, diesel Euro 5 ~0.6 g/km); fleet mix assumed",
        doc="NOx emitted per car-km.",
    )
    ef_co2_g_km: float = _p(
        180.0,
        unit="g/veh-km",
        section="environment",
        low=0.0,
        high=10000.0,
        source="assumption: fleet-average tailpipe CO2 of passenger cars (order of COPERT values)",
        doc="CO2 emitted per car-km.",
    )
    mixing_height_m: float = _p(
        500.0,
        unit="m",
        section="environment",
        low=10.0,
        high=5000.0,
        source="assumption: within the 300-1000 m subsidence inversion over the basin (Rutllant & Garreaud 1995)",
        doc="Height of the layer the basin's emissions mix into.",
    )
    wind_speed_ms: float = _p(
        1.0,
        unit="m/s",
        section="environment",
        low=0.1,
        high=30.0,
        source="assumption: weak winds of the enclosed basin (Rutllant & Garreaud 1995)",
        doc="Mean wind speed ventilating the basin and the neighbourhoods.",
    )
    basin_width_km: float = _p(
        30.0,
        unit="km",
        section="environment",
        low=1.0,
        high=500.0,
        source="assumption: width of the Santiago basin across the wind",
        doc="Cross-wind width of the box of the basin box model.",
    )
    dispersion_a: float = _p(
        225.0,
        unit="-",
        section="environment",
        low=0.0,
        high=10000.0,
        source="Gifford & Hanna (1973), Atmos. Environ. 7: C = A Q/u with A about 225 for particulates",
        doc="Constant of the local area-source model.",
    )
    water_lpcd_low: float = _p(
        250.0,
        unit="l/person/day",
        section="environment",
        low=0.0,
        high=2000.0,
        source="assumption: detached houses with gardens irrigate (SISS reports far higher use in low-density high-income communes; figures not shipped)",
        doc="Residential water use per person in low-density housing.",
    )
    water_lpcd_medium: float = _p(
        170.0,
        unit="l/person/day",
        section="environment",
        low=0.0,
        high=2000.0,
        source="assumption: medium-density housing, small gardens",
        doc="Residential water use per person in medium-density housing.",
    )
    water_lpcd_high: float = _p(
        130.0,
        unit="l/person/day",
        section="environment",
        low=0.0,
        high=2000.0,
        source="assumption: apartments, no garden",
        doc="Residential water use per person in high-density housing.",
    )
    water_lpcd_rural: float = _p(
        150.0,
        unit="l/person/day",
        section="environment",
        low=0.0,
        high=2000.0,
        source="assumption: scattered rural dwellings (mains water only)",
        doc="Residential water use per person in dwellings on non-residential land.",
    )
    river_catchment_km2: float = _p(
        300.0,
        unit="km2",
        section="environment",
        low=1.0,
        high=100000.0,
        source="assumption: upstream area from which a DEM drainage line counts as a river (Mapocho, Maipo)",
        doc="Upstream area above which a D8 drainage line of the DEM is a river.",
    )
    river_buffer_m: float = _p(
        1000.0,
        unit="m",
        section="environment",
        low=0.0,
        high=20000.0,
        source="assumption: riverside farmland band",
        doc="Distance from a river within which converted farmland is counted as riverside.",
    )
    coverage_school_m: float = _p(
        1000.0,
        unit="m",
        kind="setting",
        section="travel",
        low=10.0,
        high=20000.0,
        source="assumption: a school within 1 km",
        doc="Distance within which a household counts as covered by a school.",
    )
    coverage_clinic_m: float = _p(
        2000.0,
        unit="m",
        kind="setting",
        section="travel",
        low=10.0,
        high=20000.0,
        source="assumption: a primary care centre within 2 km",
        doc="Distance within which a household counts as covered by a clinic.",
    )
    coverage_park_m: float = _p(
        400.0,
        unit="m",
        kind="setting",
        section="travel",
        low=10.0,
        high=20000.0,
        source="CNDU / SIEDU standard: a plaza within 400 m (BPU_21)",
        doc="Distance within which a household counts as covered by a park.",
    )

    # --- governance (levers) ----------------------------------------------------------------
    growth_boundary: str = _p(
        "none",
        unit="text",
        section="governance",
        choices=("none", "urban_limit_2017"),
        lever=True,
        source=(
            "lever; urban_limit_2017 = INE's 2017 census urban limit as the boundary (the PRMS "
            "limit is not in the data)"
        ),
        doc=(
            "Urban growth boundary of a metropolitan plan: no new housing outside it "
            "(none = no metropolitan plan)."
        ),
    )

    # --- municipal finance and services --------------------------------------------------
    property_tax_rate: float = _p(
        0.006,
        unit="1/year",
        section="municipal",
        low=0.0,
        high=0.1,
        source="assumption: impuesto territorial of about 1-1.2% a year on the avalúo fiscal, itself about half of market value",
        doc="Yearly property tax as a share of the market value of a taxable dwelling.",
    )
    exemption_value: float = _p(
        80000000.0,
        unit="CLP",
        section="municipal",
        low=0.0,
        high=10000000000.0,
        source="assumption: set so that about three quarters of dwellings are exempt (77% of residential properties are exempt nationally: SII via La Tercera 2025)",
        doc="Dwellings worth less than this pay no property tax.",
    )
    tax_per_job: float = _p(
        150000.0,
        unit="CLP/job/year",
        section="municipal",
        low=0.0,
        high=100000000.0,
        source="assumption: property tax on non-residential property, per job",
        doc="Property tax on commercial and industrial property, per job located in the commune.",
    )
    licence_per_job: float = _p(
        120000.0,
        unit="CLP/job/year",
        section="municipal",
        low=0.0,
        high=100000000.0,
        source="assumption: business licences (patentes municipales), per job",
        doc="Business-licence revenue per job located in the commune.",
    )
    cars_per_household_q1: float = _p(
        0.2,
        unit="cars",
        section="municipal",
        low=0.0,
        high=5.0,
        source="assumption: car ownership rising with income; cars per household of the poorest quintile",
        doc="Cars per household of income group 1; groups 2-4 are interpolated linearly to group 5.",
    )
    cars_per_household_q5: float = _p(
        1.4,
        unit="cars",
        section="municipal",
        low=0.0,
        high=5.0,
        source="assumption: cars per household of the richest quintile",
        doc="Cars per household of income group 5.",
    )
    permit_fee: float = _p(
        120000.0,
        unit="CLP/car/year",
        section="municipal",
        low=0.0,
        high=100000000.0,
        source="assumption: average permiso de circulación",
        doc="Yearly vehicle-permit fee per car, paid to the commune of residence.",
    )
    investment_share: float = _p(
        0.15,
        unit="-",
        section="municipal",
        low=0.0,
        high=1.0,
        source="assumption: share of the budget available for new facilities after running costs",
        doc="Share of each year's budget saved for building schools, clinics and parks.",
    )
    school_cost: float = _p(
        4000000000.0,
        unit="CLP",
        section="municipal",
        low=1.0,
        high=1000000000000.0,
        source="assumption: building a school",
        doc="Cost of a new school.",
    )
    clinic_cost: float = _p(
        6000000000.0,
        unit="CLP",
        section="municipal",
        low=1.0,
        high=1000000000000.0,
        source="assumption: building a primary care centre (CESFAM)",
        doc="Cost of a new clinic.",
    )
    park_cost_ha: float = _p(
        1500000000.0,
        unit="CLP/ha",
        section="municipal",
        low=1.0,
        high=1000000000000.0,
        source="assumption: land and works of an urban park",
        doc="Cost of a hectare of new park.",
    )
    park_unit_ha: float = _p(
        1.0,
        unit="ha",
        section="municipal",
        low=0.01,
        high=100.0,
        source="assumption: size of a neighbourhood park",
        doc="Area of one park project.",
    )
    service_cost_per_household: float = _p(
        1200000.0,
        unit="CLP/household/year",
        section="municipal",
        low=1.0,
        high=1000000000.0,
        source="assumption: municipal spending per household a commune weighs against the tax a new dwelling pays",
        doc="Cost of serving one more household, in the zoning rule's fiscal motive.",
    )
    zoning_speed: float = _p(
        0.1,
        unit="1/year",
        section="municipal",
        low=0.0,
        high=2.0,
        source="assumption: to be calibrated",
        doc="How fast a commune moves its density cap (log change per year at full motive).",
    )
    homevoter_weight: float = _p(
        2.0,
        unit="-",
        section="municipal",
        low=0.0,
        high=20.0,
        source="assumption: Fischel (2001) homevoters; to be calibrated",
        doc="Weight of the richest two quintiles' opposition to density in the zoning rule.",
    )
    zoning_cap_min: float = _p(
        10.0,
        unit="dwellings/ha",
        section="municipal",
        low=0.0,
        high=2000.0,
        source="assumption: lowest cap a commune sets",
        doc="Lower bound of municipal density caps.",
    )
    zoning_cap_max: float = _p(
        600.0,
        unit="dwellings/ha",
        section="municipal",
        low=1.0,
        high=5000.0,
        source="assumption: tower blocks",
        doc="Upper bound of municipal density caps.",
    )
    mayor_discount: float = _p(
        0.6,
        unit="1/year",
        section="municipal",
        low=0.0,
        high=1.0,
        source="assumption: Nordhaus (1975) short horizon",
        doc="Weight per year a project would finish after the next election.",
    )
    election_sensitivity: float = _p(
        5.0,
        unit="vote share per unit change",
        section="municipal",
        low=0.0,
        high=100.0,
        source="assumption: retrospective voting",
        doc="Change in the incumbent's vote share per unit change of residents' coverage minus rent growth over the term.",
    )
    election_noise: float = _p(
        0.05,
        unit="vote share",
        section="municipal",
        low=0.0,
        high=1.0,
        source="assumption: idiosyncratic swing",
        doc="Standard deviation of the random part of the incumbent's vote share.",
    )
    # --- governance levers ------------------------------------------------------------------
    election_cycle: int = _p(
        4,
        unit="year",
        section="governance",
        low=1,
        high=20,
        lever=True,
        source="Ley 18.695: mayors elected every 4 years",
        doc="Years between municipal elections (a mayor's term).",
    )
    citizen_participation: float = _p(
        0.3,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="lever; assumption for today's level",
        doc="How much residents' unmet needs, rather than where most voters live, steer where facilities are built (0-1).",
    )
    fcm_property_rate: float = _p(
        0.6,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="DL 3.063 art. 38 / SII: 60% of property tax paid into the Fondo Común Municipal",
        doc="Share of property tax most communes pay into the FCM.",
    )
    fcm_property_rate_rich: float = _p(
        0.65,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="SII: 65% for Santiago, Providencia, Las Condes and Vitacura",
        doc="Share of property tax Santiago, Providencia, Las Condes and Vitacura pay into the FCM.",
    )
    fcm_permit_rate: float = _p(
        0.625,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="62.5% of vehicle permits go to the FCM (Emol 2019, AChM)",
        doc="Share of vehicle-permit revenue paid into the FCM.",
    )
    fcm_enabled: bool = _p(
        True,
        unit="bool",
        section="governance",
        low=None,
        high=None,
        lever=True,
        source="lever; the FCM exists today",
        doc="Whether the Fondo Común Municipal redistributes revenue (false: each commune keeps its own).",
    )
    competence_transfer: str = _p(
        "top_down",
        unit="text",
        section="governance",
        choices=("top_down", "negotiated"),
        lever=True,
        source="lever; Ley 21.074 lets competences be transferred by decree or on request",
        doc="How a metropolitan plan is adopted: top_down (imposed) or negotiated (the mayors' committee must approve it).",
    )
    metro_fund_share: float = _p(
        0.0,
        unit="-",
        section="governance",
        low=0.0,
        high=0.5,
        lever=True,
        source="lever; no metropolitan fund today (facts.md: 'Fondo de Inversión Metropolitana' not found)",
        doc="Share of municipal own revenue pooled into a metropolitan investment fund.",
    )
    gore_investment: float = _p(
        0.0,
        unit="CLP/year",
        section="governance",
        low=0.0,
        high=10000000000000.0,
        lever=True,
        source="lever; GORE RM budget was CLP 135.8 bn in 2020 (Wikipedia)",
        doc="Regional government money added each year to the metropolitan fund.",
    )
    committee_majority: float = _p(
        0.5,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="assumption: simple majority of the mayors' committee for transport, parks, roads",
        doc="Share of mayors needed to approve a metropolitan project.",
    )
    committee_majority_land_use: float = _p(
        0.67,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="assumption: land use is harder to agree (seed fact: agreement comes more easily on transport, parks, environment and roads than on land use)",
        doc="Share of mayors needed to approve a metropolitan plan when competences are negotiated.",
    )
    association_members: str = _p(
        "",
        unit="text",
        section="governance",
        low=None,
        high=None,
        lever=True,
        source="lever; example: the north-east association of Lo Barnechea, Vitacura and Las Condes (13115,13132,13114)",
        doc="Comma-separated commune codes (CUT) of a voluntary association that pools revenue.",
    )
    association_share: float = _p(
        0.0,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source="lever",
        doc="Share of own revenue each association member pays into the association's pool (shared per inhabitant).",
    )
    ministries_aligned: bool = _p(
        False,
        unit="bool",
        section="governance",
        low=None,
        high=None,
        lever=True,
        source="lever; seed fact: ministries are not obliged to follow the regional plan",
        doc="Whether ministries site their projects according to the metropolitan plan.",
    )
    social_housing_siting: str = _p(
        "least_cost",
        unit="text",
        section="governance",
        choices=("least_cost", "accessible"),
        lever=True,
        source="lever; MINVU sites on cheap land unless coordinated (model brief)",
        doc="Where the housing ministry builds: least_cost land, or accessible land near jobs within the plan.",
    )
    plan_density_floor_dw_ha: float = _p(
        0.0,
        unit="dwellings/ha",
        section="governance",
        low=0.0,
        high=2000.0,
        lever=True,
        source=(
            "lever; a plan cascade in which municipal plans must conform to the metropolitan "
            "one (Copenhagen's Finger Plan sets density requirements near stations)"
        ),
        doc=(
            "With a metropolitan plan in force, the least density every commune must permit "
            "inside the growth boundary (0 = the plan sets no floor)."
        ),
    )
    fiscal_decentralisation: float = _p(
        1.0,
        unit="-",
        section="governance",
        low=0.25,
        high=4.0,
        lever=True,
        source="lever; 1 = today's municipal tax powers (rates set nationally, DL 3.063)",
        doc=(
            "Multiplier on the own-source revenue communes raise (property tax, permits, "
            "licences): above 1, more fiscal autonomy; below 1, more central funding."
        ),
    )
    plan_authority: str = _p(
        "regional",
        unit="text",
        section="governance",
        choices=("regional", "national"),
        lever=True,
        source=(
            "lever; regional = Ley 21.074 (the GORE's plan); national = a plan issued by the "
            "national government by decree, as Seoul's Capital Region plans (Kim & Choe 1997)"
        ),
        doc=(
            "Who issues the metropolitan plan: regional (adopted as competence_transfer says) "
            "or national (imposed by decree without the mayors' vote, and the sectoral "
            "ministries, answering to the same government, site their projects by it)."
        ),
    )
    greenbelt_width_km: float = _p(
        0.0,
        unit="km",
        section="governance",
        low=0.0,
        high=30.0,
        lever=True,
        source=(
            "lever; Seoul's 1971 Development Restriction Zone was a ring up to about 10 km wide "
            "around the city (Bengston & Youn 2006, Ecology and Society 11(1) 3; Bae & Jun 2003, "
            "doi:10.1177/0739456X03022004004)"
        ),
        doc=(
            "Width of a greenbelt: a ring of protected land just outside INE's 2017 urban limit "
            "(the growth boundary's line) where nobody, developers or ministries, may build "
            "(0 = none)."
        ),
    )
    municipal_zoning_say: float = _p(
        1.0,
        unit="-",
        section="governance",
        low=0.0,
        high=1.0,
        lever=True,
        source=(
            "lever; 1 = today's Chilean rule (communes set their own plans, the PRC); Seoul's "
            "densities were set by national plans (Kim & Choe 1997)"
        ),
        doc=(
            "How much of its own density cap a commune can put in force: the cap in force is "
            "zoning_cap_dw_ha ** (1 - say) * own cap ** say (0 = a national standard)."
        ),
    )
    combined_authority_share: float = _p(
        0.0,
        unit="-",
        section="governance",
        low=0.0,
        high=0.5,
        lever=True,
        source=(
            "lever; English combined authorities are funded by levies on their constituent "
            "councils and devolution deals (Sandford 2017)"
        ),
        doc=(
            "Share of own revenue a member of the combined authority pays into its fund "
            "(the authority exists when this or combined_authority_grant is above 0)."
        ),
    )
    combined_authority_grant: float = _p(
        0.0,
        unit="CLP/year",
        section="governance",
        low=0.0,
        high=10000000000000.0,
        lever=True,
        source=(
            "lever; devolution deals give a combined authority a central investment fund "
            "(Greater Manchester Agreement 2014: GBP 30m a year for 30 years; Sandford 2017)"
        ),
        doc="Central government money added each year to the combined authority's fund.",
    )
    combined_authority_rule: str = _p(
        "per_capita",
        unit="text",
        section="governance",
        choices=("per_capita", "need"),
        lever=True,
        source="lever; the members' rule for sharing the fund",
        doc=(
            "How the combined authority's fund is shared among members: per inhabitant, or by "
            "need (residents without service coverage)."
        ),
    )
    combined_authority_switch_cost: float = _p(
        0.05,
        unit="budget-years",
        section="municipal",
        low=0.0,
        high=10.0,
        source=(
            "assumption: transaction costs of joining or leaving (Feiock 2007, "
            "doi:10.1111/j.1467-9906.2007.00322.x), as a share of one year's budget"
        ),
        doc=(
            "A commune joins (leaves) the combined authority only when the expected gain "
            "(loss) over the mayor's horizon exceeds this share of its yearly budget."
        ),
    )
    plan_scope: str = _p(
        "region",
        unit="text",
        section="governance",
        choices=("region", "combined_authority"),
        lever=True,
        source=(
            "lever; English combined authorities prepare joint spatial strategies for their "
            "members only (Sandford 2017)"
        ),
        doc=(
            "Where the metropolitan plan's growth boundary and density floor apply: the whole "
            "region, or only the combined authority's members of the year."
        ),
    )
    # --- ministries ---------------------------------------------------------------------------
    social_housing_units: float = _p(
        8000.0,
        unit="dwellings/year",
        section="ministries",
        low=0.0,
        high=1000000.0,
        source="assumption: order of magnitude of MINVU's subsidised housing output in the region",
        doc="Social dwellings the housing ministry builds each year, for the poorest quintile.",
    )
    social_housing_density: float = _p(
        60.0,
        unit="dwellings/ha",
        section="ministries",
        low=1.0,
        high=1000.0,
        source="assumption: low-rise social housing blocks",
        doc="Density of social housing projects.",
    )
    highway_interval: int = _p(
        5,
        unit="year",
        section="ministries",
        low=0,
        high=100,
        source="assumption: a new urban motorway every few years",
        doc="Years between the public-works ministry's motorway projects (0 = none).",
    )
    highway_speed_kmh: float = _p(
        60.0,
        unit="km/h",
        section="ministries",
        low=1.0,
        high=200.0,
        source="assumption: urban motorway speed",
        doc="Travel speed along a motorway corridor.",
    )
    highway_length_km: float = _p(
        20.0,
        unit="km",
        section="ministries",
        low=1.0,
        high=200.0,
        source="assumption: a radial motorway from the centre",
        doc="Length of a motorway project.",
    )

    metro_interval: int = _p(
        3,
        unit="year",
        section="ministries",
        low=0,
        high=100,
        source=(
            "assumption: Metro de Santiago opened a line or an extension every 2-3 years "
            "recently (L6 2017, L3 2019, L2/L3 extensions 2023)"
        ),
        doc="Years between the transport ministry's metro extensions (0 = none).",
    )
    metro_extension_km: float = _p(
        2.0,
        unit="km",
        section="ministries",
        low=0.5,
        high=20.0,
        source="assumption: about two station spacings per extension",
        doc="Length of one metro extension (one new terminal station).",
    )
    metro_access_km: float = _p(
        1.0,
        unit="km",
        kind="setting",
        section="ministries",
        low=0.1,
        high=10.0,
        source="assumption: walking distance to a station",
        doc="Households farther than this from a station count as unserved by the metro.",
    )

    # ---------------------------------------------------------------------------------------
    def __post_init__(self) -> None:
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            coerced = _coerce(f, value, "")
            if coerced is not value:
                object.__setattr__(self, f.name, coerced)
            _check_value(f, coerced)
        moving = self.mobility_base + self.dissatisfaction_rate
        if moving > 1.0:  # the largest yearly moving probability (metrosim.choice)
            raise ScenarioError(
                f"fields 'mobility_base' + 'dissatisfaction_rate' = {self.mobility_base!r} + "
                f"{self.dissatisfaction_rate!r} = {moving!r}; allowed: a sum <= 1 (the moving "
                "probability of the most dissatisfied household)"
            )

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(cls, data: Mapping[str, Any], *, origin: str = "scenario") -> Scenario:
        """Build a scenario from a flat or sectioned mapping (as read from TOML).

        Parameters
        ----------
        data : mapping
            Field names to values; sub-tables named after sections (``[run]``, ...) are
            flattened, so a TOML file may group its keys or not.
        origin : str
            Named in error messages (e.g. the file path).

        Raises
        ------
        ScenarioError
            For an unknown field, a value of the wrong type, or a value out of range.
        """
        coerced = _flatten(data, origin)
        try:
            return cls(**coerced)
        except ScenarioError as exc:
            raise ScenarioError(f"{origin}: {exc}") from None

    @classmethod
    def load(cls, source: str | os.PathLike[str]) -> Scenario:
        """Load a scenario from a TOML file or a preset name.

        A file may start with ``include = "other.toml"`` (or a list of files), resolved
        relative to the including file: the included files are read first, in order, and every
        value the including file gives wins. Included files may include others; a cycle is an
        error. This is how a preset takes calibrated values (``metrosim calibrate`` writes
        ``calibrated.toml``) without copying them.

        Parameters
        ----------
        source : str or path
            A path to a ``.toml`` file, or the name of a preset in ``scenarios/``
            (see :func:`preset_names`).

        Returns
        -------
        Scenario

        Raises
        ------
        ScenarioError
            If the file (or a file it includes) does not exist, is not valid TOML, holds a bad
            field or value, or includes itself through a chain of includes.
        """
        path = Path(source)
        if not path.suffix and not path.is_file():  # a folder named like a preset: the preset
            presets = _preset_paths()
            if str(source) not in presets:
                folder = " (it is a folder)" if path.is_dir() else ""
                raise ScenarioError(
                    f"scenario {str(source)!r} is neither a file nor a preset{folder}; presets: "
                    + ", ".join(sorted(presets))
                )
            path = presets[str(source)]
        if path.is_dir():
            raise ScenarioError(f"scenario file {str(path)!r} is a folder; give a .toml file")
        if not path.is_file():
            raise ScenarioError(f"scenario file {str(path)!r} does not exist")
        flat = _read_with_includes(path, ())
        try:
            return cls(**flat)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: {exc}") from None

    def replace(self, *, _origin: str = "replace()", **changes: Any) -> Scenario:
        """Return a copy with some fields changed (validated like a loaded file)."""
        known = {f.name: f for f in dataclasses.fields(self)}
        for key in changes:
            if key not in known:
                raise ScenarioError(_unknown_message(_origin, key, known))
        coerced = {k: _coerce(known[k], v, _origin) for k, v in changes.items()}
        try:
            return dataclasses.replace(self, **coerced)
        except ScenarioError as exc:
            raise ScenarioError(f"{_origin}: {exc}") from None

    def with_overrides(self, assignments: Iterable[str]) -> Scenario:
        """Apply ``name=value`` strings (as given to ``--set`` on the command line).

        Values are parsed as TOML values when possible (``true``, ``0.8``, ``"text"``) and as
        bare text otherwise.
        """
        changes: dict[str, Any] = {}
        for item in assignments:
            if "=" not in item:
                raise ScenarioError(f"--set {item!r}: expected NAME=VALUE")
            key, raw = (s.strip() for s in item.split("=", 1))
            try:
                value = tomllib.loads(f"v = {raw}")["v"]
            except tomllib.TOMLDecodeError:
                value = raw
            changes[key] = value
        return self.replace(_origin="--set", **changes)

    # output -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        """All fields as a flat ``{name: value}`` mapping."""
        return {f.name: getattr(self, f.name) for f in dataclasses.fields(self)}

    def to_toml(self) -> str:
        """The scenario as TOML text, grouped by section, readable back by :meth:`load`."""
        by_section: dict[str, list[str]] = {}
        for f in dataclasses.fields(self):
            spec: ParamSpec = f.metadata["spec"]
            line = f"{f.name} = {_toml_value(getattr(self, f.name))}"
            by_section.setdefault(spec.section, []).append(line)
        parts = []
        for section, lines in by_section.items():
            parts.append(f"[{section}]\n" + "\n".join(lines) + "\n")
        return "\n".join(parts)

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write the scenario as TOML, atomically (temp file + rename)."""
        return atomic_write_text(Path(path), self.to_toml())

    @classmethod
    def levers(cls) -> list[str]:
        """Names of the policy levers (the fields a regime sets)."""
        return cls.fields_of_kind("lever")

    @classmethod
    def uncertainties(cls) -> list[str]:
        """Names of the uncertain behavioural and external parameters."""
        return cls.fields_of_kind("uncertainty")

    @classmethod
    def fields_of_kind(cls, kind: str) -> list[str]:
        """Names of the fields of one kind (``lever``, ``uncertainty``, ``setting``: :data:`KINDS`).

        Raises
        ------
        ScenarioError
            For another kind.
        """
        if kind not in KINDS:
            raise ScenarioError(f"kind {kind!r} is not allowed; allowed: {', '.join(KINDS)}")
        return [f.name for f in dataclasses.fields(cls) if f.metadata["spec"].kind == kind]

    @property
    def incomes(self) -> tuple[float, ...]:
        """Monthly household income of each income group, poorest first."""
        return (self.income_q1, self.income_q2, self.income_q3, self.income_q4, self.income_q5)


# ------------------------------------------------------------------------------------------
def _flatten(data: Mapping[str, Any], origin: str) -> dict[str, Any]:
    """Field values of a flat or sectioned mapping, each checked and coerced to its type."""
    flat: dict[str, Any] = {}
    fields = dataclasses.fields(Scenario)
    sections = {f.metadata["spec"].section for f in fields}
    for key, value in data.items():
        if isinstance(value, Mapping):
            if key not in sections:
                raise ScenarioError(
                    f"{origin}: unknown section [{key}]; allowed sections: "
                    + ", ".join(sorted(sections))
                )
            for k2, v2 in value.items():
                _put(flat, k2, v2, origin)
        else:
            _put(flat, key, value, origin)
    known = {f.name: f for f in fields}
    for key in flat:
        if key not in known:
            raise ScenarioError(_unknown_message(origin, key, known))
    return {k: _coerce(known[k], v, origin) for k, v in flat.items()}


def _read_with_includes(path: Path, chain: tuple[Path, ...]) -> dict[str, Any]:
    """The checked field values of a scenario file, its ``include`` files' values underneath."""
    here = path.resolve()
    if here in chain:
        cycle = " -> ".join(str(p) for p in (*chain[chain.index(here) :], here))
        raise ScenarioError(f"{path}: include cycle: {cycle}; remove one of these includes")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ScenarioError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ScenarioError(f"{path}: not a UTF-8 text file") from None
    raw = data.pop("include", [])
    names = [raw] if isinstance(raw, str) else raw
    if not isinstance(names, list) or not all(isinstance(n, str) and n for n in names):
        raise ScenarioError(
            f"{path}: include = {raw!r}; allowed: a scenario file path or a list of them, "
            'relative to this file (e.g. include = "calibrated.toml")'
        )
    merged: dict[str, Any] = {}
    for name in names:
        target = Path(name) if Path(name).is_absolute() else path.parent / name
        if not target.is_file():
            raise ScenarioError(
                f"{path}: include = {name!r}: scenario file {str(target)!r} does not exist "
                "(the path is relative to the including file)"
            )
        merged.update(_read_with_includes(target, (*chain, here)))
    own = _flatten(data, str(path))
    known = {f.name: f for f in dataclasses.fields(Scenario)}
    for key, value in own.items():
        try:
            _check_value(known[key], value)
        except ScenarioError as exc:
            raise ScenarioError(f"{path}: {exc}") from None
    merged.update(own)
    return merged


def _put(flat: dict[str, Any], key: str, value: Any, origin: str) -> None:
    if key in flat:
        raise ScenarioError(f"{origin}: field {key!r} is given twice")
    flat[key] = value


def _unknown_message(origin: str, key: str, known: Mapping[str, Any]) -> str:
    close = difflib.get_close_matches(key, list(known), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return (
        f"{origin}: unknown field {key!r}{hint}; allowed fields: "
        + ", ".join(sorted(known))
        + " (see docs/parameters.md)"
    )


def _coerce(f: dataclasses.Field[Any], value: Any, origin: str) -> Any:
    kind = (
        f.type
        if isinstance(f.type, type)
        else {"str": str, "int": int, "float": float, "bool": bool}.get(str(f.type), object)
    )
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if kind is int and isinstance(value, float) and value.is_integer():
        return int(value)
    if kind is bool and isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    if kind is not object and (
        not isinstance(value, kind) or (kind is not bool and isinstance(value, bool))
    ):
        prefix = f"{origin}: " if origin else ""
        raise ScenarioError(
            f"{prefix}field {f.name!r} = {value!r} has type {type(value).__name__}; "
            f"expected {kind.__name__}"
        )
    return value


#: What a name that becomes part of an output folder's path may be (``out/<name>-seed<N>``).
NAME_RULE = "a name without '/', '\\' or control characters, and not '.' or '..'"


def name_problem(value: str) -> str | None:
    """Why ``value`` cannot name a scenario or a design (it becomes a folder name), or None."""
    bad = any(ch in "/\\" or ord(ch) < 0x20 or ord(ch) == 0x7F for ch in value)
    if bad or value.strip() in ("", ".", ".."):
        return f"{value!r} is not allowed; allowed: {NAME_RULE} (it names the output folder)"
    return None


def _check_value(f: dataclasses.Field[Any], value: Any) -> None:
    spec: ParamSpec = f.metadata["spec"]
    if f.name == "name" and (problem := name_problem(value)) is not None:
        raise ScenarioError(f"field 'name' = {problem}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ScenarioError(f"field {f.name!r} = {value!r} is not a finite number")
    if spec.low is not None and value < spec.low or spec.high is not None and value > spec.high:
        raise ScenarioError(
            f"field {f.name!r} = {value!r} is out of range; allowed: "
            f"{spec.low} <= {f.name} <= {spec.high} ({spec.unit})"
        )
    if spec.choices is not None and value not in spec.choices:
        raise ScenarioError(
            f"field {f.name!r} = {value!r} is not allowed; allowed values: "
            + ", ".join(repr(c) for c in spec.choices)
        )


#: TOML basic strings: quote and backslash escaped, control characters written as \uXXXX.
_TOML_ESCAPES = {
    "\\": "\\\\",
    '"': '\\"',
    "\n": "\\n",
    **{chr(c): f"\\u{c:04X}" for c in (*range(0x20), 0x7F) if c != 0x0A},
}


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return '"' + "".join(_TOML_ESCAPES.get(ch, ch) for ch in value) + '"'
    if isinstance(value, tuple | list):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    raise TypeError(f"cannot write {value!r} as TOML")


def _preset_dirs() -> list[Path]:
    here = Path(__file__).resolve().parent
    # installed wheel: metrosim/scenarios; source checkout: <repo>/scenarios
    return [here / "scenarios", here.parents[1] / "scenarios"]


def _preset_paths() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for d in _preset_dirs():
        if d.is_dir():
            for p in sorted(d.glob("*.toml")):
                found.setdefault(p.stem, p)
    return found


def preset_names() -> list[str]:
    """Names of the scenario presets shipped in ``scenarios/``."""
    return sorted(_preset_paths())


def parameter_table() -> list[dict[str, Any]]:
    """Every scenario field with its default, unit, range, section, kind, source and meaning.

    This is the single source of ``docs/parameters.md``; a test checks that the two agree.
    """
    rows = []
    for f in dataclasses.fields(Scenario):
        spec: ParamSpec = f.metadata["spec"]
        if spec.choices is not None:
            allowed = ", ".join(spec.choices)
        elif spec.low is not None or spec.high is not None:
            allowed = f"[{spec.low}, {spec.high}]"
        else:
            allowed = "any"
        rows.append(
            {
                "name": f.name,
                "section": spec.section,
                "default": f.default,
                "unit": spec.unit,
                "allowed": allowed,
                "lever": spec.lever,
                "kind": spec.kind,
                "meaning": spec.doc,
                "source": spec.source,
            }
        )
    return rows


def parameter_table_markdown() -> str:
    """The parameter table as the Markdown page ``docs/parameters.md``."""
    lines = [
        "# Parameters",
        "",
        "Generated from `metrosim.scenario.Scenario` by `python -m metrosim.scenario`; "
        "`tests/test_scenario.py` fails when this page and the code disagree.",
        "",
        "Kind: `lever` = a policy choice of the governance regimes compared; `uncertainty` = a "
        "behavioural or external parameter not known precisely (its allowed range is a validity "
        "range, not a plausible one); `setting` = what the run is and how it measures (horizon, "
        "resolution, coverage standards). Fields of the `run` section are settings, levers are "
        "levers, other fields are uncertainties unless marked otherwise "
        "(`metrosim.scenario.KINDS`).",
        "",
    ]
    current = None
    for row in parameter_table():
        if row["section"] != current:
            current = row["section"]
            lines += [
                "",
                f"## {current}",
                "",
                "| name | default | unit | allowed | kind | meaning | source or assumption |",
                "|---|---|---|---|---|---|---|",
            ]
        cells = [
            f"`{row['name']}`",
            f"`{_toml_value(row['default'])}`",
            row["unit"],
            row["allowed"],
            row["kind"],
            row["meaning"],
            row["source"],
        ]
        lines.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(lines).replace("\n\n\n", "\n\n") + "\n"


if __name__ == "__main__":  # pragma: no cover - maintenance entry point
    out = Path(__file__).resolve().parents[2] / "docs" / "parameters.md"
    atomic_write_text(out, parameter_table_markdown())
    print(f"wrote {out}")
