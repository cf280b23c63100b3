"""Municipal decisions: revenue bases, investment siting, zoning and elections.

Pure functions over per-commune and per-cell arrays; :class:`metrosim.model.MetroModel` calls
them in the governments' budget year. Each rule is stated here and in ``docs/odd.md``.

References
----------
Fischel, W. A. (2001). *The Homevoter Hypothesis*. Harvard University Press.
Hamilton, B. W. (1975). Zoning and property taxation in a system of local governments.
*Urban Studies* 12(2), 205-211. doi:10.1080/00420987520080301
Nordhaus, W. D. (1975). The political business cycle. *Review of Economic Studies* 42(2),
169-190. doi:10.2307/2296528
Tiebout, C. M. (1956). A pure theory of local expenditures. *Journal of Political Economy*
64(5), 416-424. doi:10.1086/257839
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrosim._kernels.regions import argmax_blend_by_region, argmax_by_region, revenue_terms

__all__ = [
    "RevenueBases",
    "revenue_bases",
    "best_site_per_commune",
    "best_sites",
    "zoning_update",
    "election",
]


class RevenueBases(NamedTuple):
    """Own revenue of each commune by source (CLP/year) and the FCM's counting bases."""

    property_tax: np.ndarray
    vehicle_permits: np.ndarray
    licences: np.ndarray
    n_exempt: np.ndarray
    n_poor: np.ndarray
    population: np.ndarray


def revenue_bases(
    commune: np.ndarray,
    occupancy: np.ndarray,
    capacity: np.ndarray,
    value: np.ndarray,
    jobs: np.ndarray,
    *,
    n_communes: int,
    scale: int,
    household_size: float,
    property_tax_rate: float,
    exemption_value: float,
    tax_per_job: float,
    licence_per_job: float,
    cars_per_household: np.ndarray,
    permit_fee: float,
) -> RevenueBases:
    """Yearly own revenue of each commune from its cells and residents.

    * Property tax (impuesto territorial): ``property_tax_rate`` times the market value of
      every dwelling worth more than ``exemption_value`` (the exemption of low-value dwellings;
      77% of Chile's residential properties are exempt, SII / La Tercera 2025), plus
      ``tax_per_job`` on non-residential property, by jobs.
    * Vehicle permits (permisos de circulación): cars owned by resident households
      (``cars_per_household`` by income group) times ``permit_fee``.
    * Business licences (patentes): ``licence_per_job`` per job located in the commune.

    Counting bases for the Fondo Común Municipal: exempt dwellings (real units) and poor
    persons (residents of the poorest income group).

    Sums run over the cells that contribute (cells with dwellings, cells with jobs), in cell
    order; cells left out add exact zeros, so the result is the same as a sum over every cell.
    One numba pass over the cells makes them (``_kernels.regions.revenue_terms``), with the
    sums ``np.bincount`` would make of the same terms.
    """
    built, occ, tax_dw, exempt, hh, poor, job_sum = revenue_terms(
        np.ascontiguousarray(commune),
        np.ascontiguousarray(capacity),
        np.ascontiguousarray(occupancy),
        np.ascontiguousarray(value, dtype=np.float64),
        np.ascontiguousarray(jobs, dtype=np.float64),
        float(scale),
        float(exemption_value),
        int(n_communes),
    )
    tax = property_tax_rate * tax_dw + tax_per_job * job_sum
    licences = licence_per_job * job_sum
    cars = np.bincount(commune[built], weights=occ @ cars_per_household, minlength=n_communes)
    poor = poor * household_size
    return RevenueBases(
        property_tax=tax,
        vehicle_permits=cars * permit_fee,
        licences=licences,
        n_exempt=exempt,
        n_poor=poor,
        population=hh * household_size,
    )


def best_site_per_commune(score: np.ndarray, commune: np.ndarray, n_communes: int) -> np.ndarray:
    """The cell with the highest score in each commune (-1 where no cell scores above 0).

    Ties go to the lowest cell index, so the choice is deterministic. One pass over the
    cells (numba), not a sort.

    Examples
    --------
    >>> best_site_per_commune(np.array([1.0, 3.0, 2.0, 0.0]), np.array([0, 0, 1, 1]), 2)
    array([1, 2])
    """
    return argmax_by_region(
        np.ascontiguousarray(score, dtype=np.float64),
        np.ascontiguousarray(commune, dtype=np.int64),
        int(n_communes),
    )


def zoning_update(
    cap: np.ndarray,
    *,
    tax_per_dwelling: np.ndarray,
    cost_per_household: float,
    rich_share: np.ndarray,
    homevoter_weight: float,
    speed: float,
    low: float,
    high: float,
) -> np.ndarray:
    """Each commune moves its density cap up or down by its own objective.

    Fiscal motive (Hamilton 1975): an extra household is welcome if the property tax a
    dwelling pays exceeds the cost of serving a household,
    ``F = tanh((tax_per_dwelling - cost) / cost)``. Homevoters (Fischel 2001): the richest two
    quintiles' share of residents, ``E``, resists density (exclusionary zoning; Tiebout 1956
    sorting follows). ``cap <- clip(cap * exp(speed * (F - homevoter_weight * E)), low, high)``.
    """
    f = np.tanh((tax_per_dwelling - cost_per_household) / cost_per_household)
    return np.clip(cap * np.exp(speed * (f - homevoter_weight * rich_share)), low, high)


def election(
    coverage_change: np.ndarray,
    rent_change: np.ndarray,
    *,
    sensitivity: float,
    noise: float,
    rng: np.random.Generator,
) -> tuple[np.ndarray, np.ndarray]:
    """Incumbent vote shares and re-election (retrospective voting; Nordhaus 1975).

    ``share = 0.5 + sensitivity * (coverage_change - rent_change) + Normal(0, noise)``: voters
    reward improved access to services and punish rising rents over the term. The incumbent
    is re-elected when the share exceeds one half.
    """
    share = 0.5 + sensitivity * (coverage_change - rent_change)
    share = share + rng.normal(0.0, noise, size=share.shape)
    return share, share > 0.5


#: Facility types municipalities and the regional fund can build.
FACILITIES = ("school", "clinic", "park")


def site_scores(
    uncovered_nearby: np.ndarray, households_nearby: np.ndarray, participation: float
) -> np.ndarray:
    """Where a government would put a facility: ``p * uncovered + (1 - p) * households``.

    With full citizen participation (``p = 1``) residents' needs steer investment to the
    households a facility would newly cover; with none (``p = 0``) the facility goes where the
    most households (voters) are, covered or not.
    """
    return participation * uncovered_nearby + (1.0 - participation) * households_nearby


def best_sites(
    uncovered_nearby: np.ndarray,
    households_nearby: np.ndarray,
    participation: float,
    commune: np.ndarray,
    n_communes: int,
) -> tuple[np.ndarray, np.ndarray]:
    """Each commune's best facility site by :func:`site_scores` and that site's score.

    The same cells and scores as ``best_site_per_commune(site_scores(u, h, p), commune, n)``
    (-1 and a score of 0 where no cell scores above 0), in one numba pass without the
    full-size score array.

    Examples
    --------
    >>> sites, score = best_sites(
    ...     np.array([0, 4, 1, 0]), np.array([2, 4, 1, 0]), 0.5, np.array([0, 0, 1, 1]), 2
    ... )
    >>> sites.tolist(), score.tolist()
    ([1, 2], [4.0, 1.0])
    """
    u = np.ascontiguousarray(uncovered_nearby)
    h = np.ascontiguousarray(households_nearby)
    c = np.ascontiguousarray(commune)
    if not (u.shape == h.shape == c.shape and u.ndim == 1):
        raise ValueError(
            f"best_sites: uncovered_nearby {u.shape}, households_nearby {h.shape} and commune "
            f"{c.shape}; allowed: 1-D arrays of one length"
        )
    return argmax_blend_by_region(u, h, float(participation), c, int(n_communes))


def horizon_weight(build_years: float, years_left: float, discount: float) -> float:
    """A mayor's weight on a project: ``discount ** max(0, build_years - years_left)``.

    Projects that are not finished before the next election count less (Nordhaus 1975).
    """
    return float(discount ** max(0.0, build_years - years_left))
