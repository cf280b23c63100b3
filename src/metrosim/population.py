"""The initial population and the household store (struct of arrays).

Households are not Python objects: a :class:`Households` store keeps one entry per simulated
household (``scale`` real households) in numpy arrays of small dtypes. The yearly moves run in
numba kernels over these arrays (:mod:`metrosim.households`).

Income groups
-------------
Five income groups, the regional quintiles of household income. A commune's mix follows its
real income-poverty rate (SAE 2022) through one stated rule: within a commune, latent log income
is normal with a common spread, located so that the share below the poverty line equals the
commune's poverty rate (:func:`quintile_shares`). The regional quintile cut points are the
quantiles of the population-weighted mixture, so each group is 20% of the region. Within a
commune, households of each group are spread over the dwellings at random (``model.rng``): no
within-commune income pattern is invented.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr, ndtri  # the normal cdf and its inverse

from metrosim import _diskcache
from metrosim.data import CityData
from metrosim.grid import GridLayers

__all__ = [
    "N_GROUPS",
    "quintile_shares",
    "largest_remainder",
    "Households",
    "InitialPopulation",
    "initial_population",
]

#: Number of income groups (regional quintiles).
N_GROUPS = 5


def largest_remainder(total: int, weights: np.ndarray) -> np.ndarray:
    """Split an integer total in proportion to weights (Hamilton's method).

    Ties go to the lower index. Returns int64 counts that sum exactly to ``total``.

    Examples
    --------
    >>> largest_remainder(10, np.array([1.0, 1.0, 1.0])).tolist()
    [4, 3, 3]
    """
    w = np.asarray(weights, dtype=np.float64)
    if total < 0 or (w < 0).any():
        raise ValueError("largest_remainder: total and weights must be non-negative")
    if total == 0 or w.sum() == 0:
        return np.zeros(w.size, dtype=np.int64)
    exact = total * w / w.sum()
    base = np.floor(exact).astype(np.int64)
    short = int(total - base.sum())
    if short > 0:
        order = np.lexsort((np.arange(w.size), -(exact - base)))
        base[order[:short]] += 1
    return base


def spread_evenly(total: int, n: int) -> np.ndarray:
    """Split ``total`` units over ``n`` places in order, as evenly as possible and spread out.

    Each place gets ``total // n``; the remaining units go to places at a regular stride
    (``floor((k + 0.5) * n / r)``), not to the first ones, so that a run of places in
    row-major order (a commune's cells) is not filled from its top rows down.

    Examples
    --------
    >>> spread_evenly(3, 9).tolist()
    [0, 1, 0, 0, 1, 0, 0, 1, 0]
    """
    if total < 0 or n < 1:
        raise ValueError(f"spread_evenly: total = {total} (>= 0), n = {n} (>= 1)")
    out = np.full(n, total // n, dtype=np.int64)
    r = total - int(out.sum())
    if r:
        out[np.floor((np.arange(r) + 0.5) * n / r).astype(np.int64)] += 1
    return out


def quintile_shares(poverty: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Share of each commune's households in each regional income quintile.

    Latent log income in commune c is N(-z_c, 1) with z_c = Phi^-1(poverty_c), so that the
    share below the poverty line (0) is the commune's poverty rate. Cut points q_1..q_4 solve
    sum_c w_c Phi(q_k + z_c) = k/5 (regional quintiles of the mixture). The spread cancels out:
    the rule has no free parameter beyond the normal shape.

    Parameters
    ----------
    poverty : ndarray, (n,)
        Income-poverty rate of each commune, in (0, 1).
    weights : ndarray, (n,)
        Population of each commune.

    Returns
    -------
    ndarray, (n, 5)
        Rows sum to 1; columns are quintiles, poorest first.

    Examples
    --------
    >>> s = quintile_shares(np.array([0.02, 0.2]), np.array([1.0, 1.0]))
    >>> bool(s[0, 4] > s[1, 4]) and bool(s[1, 0] > s[0, 0])
    True
    """
    p = np.asarray(poverty, dtype=np.float64)
    w = np.asarray(weights, dtype=np.float64)
    if ((p <= 0) | (p >= 1)).any():
        raise ValueError("quintile_shares: poverty rates must lie strictly between 0 and 1")
    from scipy.optimize import brentq  # here: scipy.optimize costs a tenth of a second

    z = ndtri(p)
    w = w / w.sum()

    def mixture_cdf(q: float) -> float:
        return float(np.dot(w, ndtr(q + z)))

    cuts = [brentq(lambda q, k=k: mixture_cdf(q) - k / N_GROUPS, -20, 20) for k in range(1, 5)]
    cdf = np.column_stack([np.zeros_like(z)] + [ndtr(q + z) for q in cuts] + [np.ones_like(z)])
    return np.diff(cdf, axis=1)


@dataclass
class Households:
    """The household store: one entry per simulated household, struct of arrays.

    Attributes
    ----------
    cell : ndarray of int32
        Flat index of the dwelling's cell; -1 for a household without a dwelling (newly formed
        and not yet housed).
    group : ndarray of int8
        Income group, 0 (poorest quintile) to 4 (richest).
    """

    cell: np.ndarray
    group: np.ndarray

    def __len__(self) -> int:
        return int(self.cell.size)

    def add(self, groups: np.ndarray) -> None:
        """Append new households (unhoused) with the given income groups."""
        self.cell = np.concatenate([self.cell, np.full(groups.size, -1, dtype=np.int32)])
        self.group = np.concatenate([self.group, groups.astype(np.int8)])

    def remove(self, index: np.ndarray) -> None:
        """Drop the households at ``index`` (order of the others is kept)."""
        keep = np.ones(self.cell.size, dtype=bool)
        keep[index] = False
        self.cell = self.cell[keep]
        self.group = self.group[keep]

    def nbytes(self) -> int:
        """Memory held by the store."""
        return int(self.cell.nbytes + self.group.nbytes)


@dataclass(frozen=True)
class InitialPopulation:
    """Deterministic initial counts (before groups are placed at random).

    Attributes
    ----------
    households : ndarray of int64, (n_cells,)
        Simulated households per cell.
    dwellings : ndarray of int64, (n_cells,)
        Dwellings per cell (households plus the initial vacancy).
    commune_households : ndarray of int64, (n_communes,)
    commune_groups : ndarray of int64, (n_communes, 5)
        Households of each income group per commune.
    group_shares : ndarray, (n_communes, 5)
    """

    households: np.ndarray
    dwellings: np.ndarray
    commune_households: np.ndarray
    commune_groups: np.ndarray
    group_shares: np.ndarray


def initial_population(
    city: CityData,
    grid: GridLayers,
    *,
    scale: int,
    household_size: float,
    vacancy: float,
    developable: np.ndarray,
) -> InitialPopulation:
    """Households and dwellings per cell from the Censo 2017 populations.

    Rules (each stated in ``docs/odd.md``, Initialisation):

    1. Households of commune c: ``round(pop_c / (household_size * scale))``, split by largest
       remainder between its census zones (by zone population) and its population outside the
       zones (commune population minus zone populations).
    2. A zone's households go to its cells (cells whose centre lies in the zone, except park
       cells) in equal parts, the remainder spread at a regular stride (:func:`spread_evenly`);
       a zone with no such cell (too small to hold a cell centre, or all its cells are parks)
       puts them in the commune's non-park cell nearest its centroid.
    3. Households outside the zones live on the commune's developable non-urban cells, spread
       evenly at a regular stride (rural dwellings on farmland); if it has none, on any of its
       non-urban cells, and failing that on any of its non-park cells.
    4. Dwellings: ``round(H_c / (1 - vacancy))`` per commune, the vacant ones spread over the
       commune's cells in proportion to their households (largest remainder).

    The result depends on its inputs only; it is kept in the disk cache
    (:mod:`metrosim._diskcache`), keyed by every input it reads.
    """
    key = (
        city.cut,
        city.population,
        city.poverty_2022,
        city.zone_code,
        city.zone_commune,
        city.zone_population,
        grid.commune,
        grid.zone,
        grid.park_m2,
        grid.zone_cell,
        grid.cell_size_m,
        scale,
        household_size,
        vacancy,
        np.asarray(developable),
    )
    arrays = _diskcache.cached_arrays(
        "population",
        key,
        lambda: dataclasses.asdict(
            _initial_population(
                city,
                grid,
                scale=scale,
                household_size=household_size,
                vacancy=vacancy,
                developable=developable,
            )
        ),
    )
    return InitialPopulation(**arrays)


def _initial_population(
    city: CityData,
    grid: GridLayers,
    *,
    scale: int,
    household_size: float,
    vacancy: float,
    developable: np.ndarray,
) -> InitialPopulation:
    ny, nx = grid.shape
    n_cells = ny * nx
    commune = grid.commune.ravel()
    zone = grid.zone.ravel()
    park = grid.park_m2.ravel() >= 0.5 * grid.cell_size_m**2
    n_communes = len(city.cut)
    hh_commune = np.rint(city.population / (household_size * scale)).astype(np.int64)
    households = np.zeros(n_cells, dtype=np.int64)

    zone_cells: dict[int, np.ndarray] = {}
    valid_zone_cells = np.flatnonzero((zone >= 0) & ~park)
    order = np.argsort(zone[valid_zone_cells], kind="stable")
    sorted_cells = valid_zone_cells[order]
    bounds = np.searchsorted(zone[sorted_cells], np.arange(len(city.zone_code) + 1))
    for z in range(len(city.zone_code)):
        zone_cells[z] = sorted_cells[bounds[z] : bounds[z + 1]]

    # where a commune's households may live: its non-park cells (any cell if all are parks)
    home = [np.flatnonzero((commune == c) & ~park) for c in range(n_communes)]
    home = [h if h.size else np.flatnonzero(commune == c) for c, h in enumerate(home)]

    for c in range(n_communes):
        zs = np.flatnonzero(city.zone_commune == c)
        rural_pop = max(0, int(city.population[c] - city.zone_population[zs].sum()))
        split = largest_remainder(
            int(hh_commune[c]), np.append(city.zone_population[zs].astype(float), rural_pop)
        )
        for z, h in zip(zs, split[:-1], strict=True):
            if h == 0:
                continue
            cells = zone_cells[int(z)]
            cells = cells[commune[cells] == c]
            if cells.size == 0:
                cells = _nearest(int(grid.zone_cell[z]), home[c], nx)
            households[cells] += spread_evenly(int(h), cells.size)
        h_rural = int(split[-1])
        if h_rural:
            mine = (commune == c) & (zone < 0) & ~park
            cells = np.flatnonzero(mine & developable.ravel())
            if cells.size == 0:
                cells = np.flatnonzero(mine)
            if cells.size == 0:
                cells = home[c]
            households[cells] += spread_evenly(h_rural, cells.size)

    dwellings = households.copy()
    for c in range(n_communes):
        cells = np.flatnonzero((commune == c) & (households > 0))
        total = int(np.rint(hh_commune[c] / (1.0 - vacancy)))
        extra = total - int(households[cells].sum())
        if extra > 0 and cells.size:
            dwellings[cells] += largest_remainder(extra, households[cells].astype(float))

    shares = quintile_shares(city.poverty_2022, city.population.astype(float))
    groups = np.vstack(
        [largest_remainder(int(h), s) for h, s in zip(hh_commune, shares, strict=True)]
    )
    return InitialPopulation(
        households=households,
        dwellings=dwellings,
        commune_households=hh_commune,
        commune_groups=groups,
        group_shares=shares,
    )


def _nearest(target: int, candidates: np.ndarray, nx: int) -> np.ndarray:
    """The candidate cell nearest to a target cell (first in index order on ties), as (1,)."""
    if target < 0:
        return candidates[:1]
    ty, tx = divmod(target, nx)
    cy, cx = np.divmod(candidates, nx)
    return candidates[[int(np.argmin((cy - ty) ** 2 + (cx - tx) ** 2))]]


def place_groups(
    init: InitialPopulation, commune: np.ndarray, rng: np.random.Generator
) -> Households:
    """Create the household store: each commune's income groups shuffled over its households.

    Parameters
    ----------
    init : InitialPopulation
    commune : ndarray, (n_cells,)
        Commune index of each cell.
    rng : numpy.random.Generator
        The model's generator (the only randomness of the initial state).
    """
    cells = np.repeat(np.arange(init.households.size, dtype=np.int32), init.households)
    groups = np.empty(cells.size, dtype=np.int8)
    cell_commune = commune[cells]
    order = np.argsort(cell_commune, kind="stable")
    starts = np.searchsorted(cell_commune[order], np.arange(init.commune_groups.shape[0] + 1))
    for c in range(init.commune_groups.shape[0]):
        idx = order[starts[c] : starts[c + 1]]
        labels = np.repeat(np.arange(N_GROUPS, dtype=np.int8), init.commune_groups[c])
        groups[idx] = rng.permutation(labels)
    return Households(cell=cells, group=groups)
