"""The dynamic land state: land use, zoning, dwellings, occupancy by income group, rents.

All per-cell state is a flat numpy array over the grid's cells (struct of arrays); a 2-D view
of any array is ``array.reshape(grid.shape)``, compatible with Mesa's ``PropertyLayer``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

import numpy as np

from metrosim._kernels.spatial import row_totals as _row_totals
from metrosim.grid import GridLayers
from metrosim.population import N_GROUPS, Households, InitialPopulation

__all__ = ["LandUse", "LandState", "URBAN_USES", "density_class"]


class LandUse(IntEnum):
    """Land-use classes of a cell."""

    AGRICULTURAL = 0  #: undeveloped or farmland (may hold scattered rural dwellings)
    PROTECTED = 1  #: green wedge, greenbelt or other land a plan excludes from development
    RES_LOW = 2  #: residential, fewer than ``LOW_MAX`` dwellings per ha
    RES_MEDIUM = 3  #: residential, ``LOW_MAX`` to ``MEDIUM_MAX`` dwellings per ha
    RES_HIGH = 4  #: residential, ``MEDIUM_MAX`` dwellings per ha or more
    JOBS = 5  #: jobs / commercial / industrial urban land with few residents
    PARK = 6  #: public green area
    OUTSIDE = 255  #: not part of the region


#: Uses that count as urbanised land.
URBAN_USES = (LandUse.RES_LOW, LandUse.RES_MEDIUM, LandUse.RES_HIGH, LandUse.JOBS, LandUse.PARK)
#: ``_URBAN_LOOKUP[land_use]`` is True for urban uses (a table lookup; ``np.isin`` is slower).
_URBAN_LOOKUP = np.zeros(256, dtype=bool)
_URBAN_LOOKUP[list(URBAN_USES)] = True
#: The urban uses are the consecutive codes ``_URBAN_FIRST .. _URBAN_FIRST + _URBAN_SPAN``, so
#: a uint8 mask is one unsigned range test (``LandState.urban``; tested against the lookup).
_URBAN_FIRST = np.uint8(min(URBAN_USES))
_URBAN_SPAN = np.uint8(max(URBAN_USES) - min(URBAN_USES))
#: Density class bounds in dwellings per hectare (stated classification).
LOW_MAX = 20.0
MEDIUM_MAX = 60.0


def row_sums(a: np.ndarray) -> np.ndarray:
    """``a.sum(axis=1)`` of a 2-D array with few columns, in the dtype of ``a``.

    Integer arrays (occupancy) are summed in one numba pass over the rows; other dtypes column
    by column (numpy's reduction over a short trailing axis is several times slower). Both
    add each row's entries left to right, as numpy's column-by-column sum did.
    """
    if a.ndim == 2 and a.dtype.kind in "iu" and a.shape[1] > 0:
        return _row_totals(np.ascontiguousarray(a))
    out = a[:, 0].copy()
    for g in range(1, a.shape[1]):
        out += a[:, g]
    return out


def density_class(dwellings_per_ha: np.ndarray) -> np.ndarray:
    """Residential land-use class of each density (dwellings per ha)."""
    d = np.asarray(dwellings_per_ha)
    return np.where(
        d < LOW_MAX, LandUse.RES_LOW, np.where(d < MEDIUM_MAX, LandUse.RES_MEDIUM, LandUse.RES_HIGH)
    ).astype(np.uint8)


@dataclass
class LandState:
    """Per-cell dynamic state (flat arrays of length ``n_cells``).

    Attributes
    ----------
    land_use : uint8
        A :class:`LandUse` code.
    developable : bool
        Physically developable (slope, inside the region) and not a park.
    zoned_max_dw_ha : float32
        Maximum density the municipal plan permits (dwellings/ha); 0 = no housing permitted.
    plan_max_dw_ha : float32
        Cap of the metropolitan plan in force (inf where there is none).
    capacity : int32
        Simulated dwellings in the cell (each is ``scale`` real dwellings).
    occupancy : int32, (n_cells, 5)
        Occupied dwellings by income group.
    rent : float64
        Monthly rent of a dwelling (CLP).
    urban_start : bool
        The 2017 census footprint (urban at the start).
    """

    land_use: np.ndarray
    developable: np.ndarray
    zoned_max_dw_ha: np.ndarray
    plan_max_dw_ha: np.ndarray
    capacity: np.ndarray
    occupancy: np.ndarray
    rent: np.ndarray
    urban_start: np.ndarray

    @property
    def urban(self) -> np.ndarray:
        """Boolean mask of urbanised cells."""
        lu = self.land_use
        if lu.dtype == np.uint8:  # codes below the first wrap around to large values
            return (lu - _URBAN_FIRST) <= _URBAN_SPAN
        return _URBAN_LOOKUP[lu]

    @property
    def vacant(self) -> np.ndarray:
        """Vacant dwellings per cell."""
        return self.capacity - self.occupied()

    def occupied(self) -> np.ndarray:
        """Occupied dwellings per cell (all income groups), int32.

        Column by column rather than ``occupancy.sum(axis=1)``: a reduction over a short
        trailing axis is several times slower in numpy, and this runs many times a year.
        """
        return row_sums(self.occupancy)

    def effective_cap(self) -> np.ndarray:
        """The density cap in force: the municipal one, capped by the metropolitan plan."""
        return np.minimum(self.zoned_max_dw_ha, self.plan_max_dw_ha)

    def check(self) -> None:
        """Raise AssertionError if an invariant is broken (capacity, non-negativity)."""
        occ = self.occupied()
        if (self.occupancy < 0).any() or (occ > self.capacity).any():
            raise AssertionError("occupancy exceeds capacity or is negative")
        if not np.isfinite(self.rent).all() or (self.rent <= 0).any():
            raise AssertionError("rents must be positive and finite")


def initial_land(
    grid: GridLayers,
    init: InitialPopulation,
    households: Households,
    incomes: np.ndarray,
    *,
    max_slope_deg: float,
    slope_outside_dem_deg: float,
    zoning_cap_dw_ha: float,
    rent_to_income: float,
    scale: int,
) -> LandState:
    """The land state of the 2017 census from the grid layers and the initial population.

    Rules: cells of urban census zones are urban; parks where the grid placed them; zone cells
    with households are residential by density class; zone cells without households are jobs
    land. Developable: inside the region, slope at most ``max_slope_deg`` (cells outside the
    SRTM tile take ``slope_outside_dem_deg``), not a park. Zoning at the start permits housing
    up to ``zoning_cap_dw_ha`` on every developable cell (no municipal plans are in the data;
    the governments re-zone from year one). Rent at the start: ``rent_to_income`` times the
    mean income of the commune's households (flat within a commune: no invented detail).
    """
    n = grid.commune.size
    commune = grid.commune.ravel()
    zone = grid.zone.ravel()
    in_region = commune >= 0
    park = grid.park_m2.ravel() >= 0.5 * grid.cell_size_m**2
    slope = grid.slope_deg.ravel().astype(np.float64)
    slope = np.where(np.isnan(slope), slope_outside_dem_deg, slope)
    developable = in_region & (slope <= max_slope_deg) & ~park

    land_use = np.full(n, LandUse.OUTSIDE, dtype=np.uint8)
    land_use[in_region] = LandUse.AGRICULTURAL
    urban0 = in_region & (zone >= 0)
    dens = init.dwellings * scale / grid.cell_area_ha  # real dwellings per ha
    res = urban0 & (init.households > 0)
    land_use[res] = density_class(dens[res])
    land_use[urban0 & (init.households == 0)] = LandUse.JOBS
    land_use[park & in_region] = LandUse.PARK

    zoned = np.where(developable, np.float32(zoning_cap_dw_ha), np.float32(0)).astype(np.float32)
    occupancy = np.zeros((n, N_GROUPS), dtype=np.int32)
    np.add.at(occupancy, (households.cell, households.group), 1)

    n_communes = init.commune_groups.shape[0]
    mean_income = (init.commune_groups @ incomes) / np.maximum(init.commune_groups.sum(1), 1)
    rent = np.full(n, rent_to_income * float(np.dot(incomes, np.full(N_GROUPS, 0.2))))
    rent[in_region] = rent_to_income * mean_income[np.clip(commune[in_region], 0, n_communes - 1)]
    return LandState(
        land_use=land_use,
        developable=developable,
        zoned_max_dw_ha=zoned,
        plan_max_dw_ha=np.full(n, np.inf, dtype=np.float32),
        capacity=init.dwellings.astype(np.int32),
        occupancy=occupancy,
        rent=rent,
        urban_start=np.isin(land_use, np.array(URBAN_USES, dtype=np.uint8)),
    )
