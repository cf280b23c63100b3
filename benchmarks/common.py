"""Synthetic world shared by the household benchmarks, the Mesa peer and ``tests/test_peer.py``.

A square grid of cells (250 m by default) around one centre: dwellings (capacity) denser near
the centre, some cells without housing, rents falling with distance and higher in an "east"
sector (Santiago's cono oriente), commute minutes rising with distance, services and green
space; households in five equal income groups placed uniformly at random over the dwellings,
so that any segregation is produced by the moves. Coefficients, rates, incomes and the number
of sampled alternatives are the project's defaults (``metrosim.Scenario()``).

The structure is scale-free: distances are measured as a share of the grid's half-width, so a
world of 10k households and one of 2M have the same rent and commute surfaces at different
resolutions (per household costs can be compared across sizes).

The project side is ``metrosim.households.move_households`` (the kernels of
``metrosim._kernels.moves``) with the neighbourhood income mix of the model
(``metrosim.accessibility.box_sum`` over a (2r+1)^2 window, shares of the households in it).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field

import numpy as np

from metrosim import Scenario
from metrosim.accessibility import box_sum
from metrosim.households import CellAttributes, ChoiceCoefficients, move_households

N_GROUPS = 5


def machine() -> str:
    """CPU model, cores and load average, for the record of a benchmark run."""
    model = "unknown CPU"
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
    return f"{model}, {os.cpu_count()} cores, load average {load}"


def default_parameters() -> dict:
    """The choice and mobility parameters of ``Scenario()`` (the project's defaults)."""
    s = Scenario()
    return {
        "incomes": np.array(s.incomes, dtype=np.float64),
        "coefs": ChoiceCoefficients(
            rent_share=s.beta_rent_share,
            commute_per_min=s.beta_commute,
            service_per_km=s.beta_service,
            green=s.beta_green,
            homophily=s.beta_homophily,
            max_rent_share=s.max_rent_share,
        ),
        "base_rate": float(s.mobility_base),
        "dissatisfaction_rate": float(s.dissatisfaction_rate),
        "n_alt": int(s.n_alternatives),
    }


@dataclass
class World:
    """Inputs shared by the kernel and the peer (flat arrays over cells, row-major grid)."""

    ny: int
    nx: int
    capacity: np.ndarray  # int32 (n_cells,)
    rent: np.ndarray  # float64 CLP/month
    commute: np.ndarray  # float64 minutes
    service: np.ndarray  # float64 km
    green: np.ndarray  # float64 log(1 + m2/person)
    hh_cell: np.ndarray  # int32 (n_households,), initial dwelling cell
    hh_group: np.ndarray  # int8 (n_households,), income group 0..4
    incomes: np.ndarray  # float64 (5,)
    coefs: ChoiceCoefficients
    base_rate: float
    dissatisfaction_rate: float
    n_alt: int
    radius: int = 1  # neighbourhood half-width in cells (Moore window, centre included)
    extra: dict = field(default_factory=dict)

    @property
    def n_cells(self) -> int:
        return self.ny * self.nx

    @property
    def n_households(self) -> int:
        return int(self.hh_cell.size)

    def initial_occupancy(self) -> np.ndarray:
        occ = np.zeros((self.n_cells, N_GROUPS), dtype=np.int32)
        np.add.at(occ, (self.hh_cell, self.hh_group), 1)
        return occ


def make_world(
    n_households: int,
    seed: int = 0,
    *,
    vacancy: float = 0.08,
    dwellings_per_cell: float = 4.5,
    housing_share: float = 0.8,
    radius: int = 1,
    **overrides,
) -> World:
    """A synthetic metropolis with ``n_households`` households (see the module docstring).

    ``overrides`` replace entries of :func:`default_parameters` (e.g. ``n_alt=10``).
    """
    rng = np.random.default_rng(seed)
    total = int(np.ceil(n_households / (1.0 - vacancy)))
    n_cells_target = total / (housing_share * dwellings_per_cell)
    side = max(4, int(np.ceil(np.sqrt(n_cells_target))))
    ny = nx = side
    yy, xx = np.mgrid[0:ny, 0:nx]
    half = side / 2.0
    dy = (yy + 0.5 - half) / half
    dx = (xx + 0.5 - half) / half
    d = np.sqrt(dx * dx + dy * dy).ravel()  # share of the half-width
    east = (dx.ravel() > np.abs(dy.ravel())).astype(np.float64)  # 90-degree sector
    housing = rng.random(ny * nx) < housing_share
    w = housing * np.exp(-1.2 * d)
    capacity = rng.multinomial(total, w / w.sum()).astype(np.int32)
    km = 20.0 * d
    rent = 60_000.0 + 450_000.0 * np.exp(-km / 6.0) * (1.0 + 0.6 * east)
    rent *= rng.lognormal(0.0, 0.35, rent.size)
    commute = np.maximum(5.0, 8.0 + 3.0 * km + rng.normal(0.0, 3.0, km.size))
    service = 0.4 + 0.15 * km * rng.lognormal(0.0, 0.4, km.size)
    green = np.log1p(rng.lognormal(2.0, 0.8, km.size) * (1.0 + 0.5 * east))
    slots = np.repeat(np.arange(ny * nx, dtype=np.int32), capacity)
    hh_cell = slots[rng.choice(slots.size, n_households, replace=False)]
    hh_group = rng.permutation(np.arange(n_households) % N_GROUPS).astype(np.int8)
    params = default_parameters()
    params.update(overrides)
    return World(
        ny=ny,
        nx=nx,
        capacity=capacity,
        rent=rent,
        commute=commute,
        service=service,
        green=green,
        hh_cell=hh_cell.astype(np.int32),
        hh_group=hh_group,
        incomes=params["incomes"],
        coefs=params["coefs"],
        base_rate=params["base_rate"],
        dissatisfaction_rate=params["dissatisfaction_rate"],
        n_alt=params["n_alt"],
        radius=radius,
    )


def neighbourhood_mix(world: World, occupancy: np.ndarray) -> np.ndarray:
    """Share of each income group among the households of the (2r+1)^2 window (model rule)."""
    occ = box_sum(occupancy.reshape(world.ny, world.nx, N_GROUPS), world.radius)
    occ = occ.reshape(world.n_cells, N_GROUPS)
    tot = occ.sum(axis=1)
    return np.where(tot[:, None] > 0, occ / np.maximum(tot, 1)[:, None], 0.0)


class KernelRun:
    """The project's side: household arrays plus ``move_households`` once a year."""

    def __init__(self, world: World, rng: np.random.Generator | int):
        self.world = world
        self.rng = np.random.default_rng(rng)
        self.hh_cell = world.hh_cell.copy()
        self.hh_group = world.hh_group
        self.occupancy = world.initial_occupancy()
        self.mix = neighbourhood_mix(world, self.occupancy)

    def update_mix(self) -> None:
        self.mix = neighbourhood_mix(self.world, self.occupancy)

    def moves(self) -> tuple[int, int, int]:
        w = self.world
        cells = CellAttributes(
            rent=w.rent, commute=w.commute, service=w.service, green=w.green, mix=self.mix
        )
        return move_households(
            self.hh_cell,
            self.hh_group,
            w.capacity,
            self.occupancy,
            cells,
            w.incomes,
            w.coefs,
            base_rate=w.base_rate,
            dissatisfaction_rate=w.dissatisfaction_rate,
            n_alternatives=w.n_alt,
            rng=self.rng,
            check=False,  # the model's path: its arrays keep the invariants by construction
        )

    def year(self) -> tuple[int, int, int]:
        self.update_mix()
        return self.moves()
