"""The land market: hedonic expected rents, rent adjustment, and developers.

Three submodels, each run once a year by :class:`metrosim.model.MetroModel`:

* :func:`fit_hedonic` / :func:`expected_rent`: a hedonic regression of log rent on location
  attributes over occupied dwellings (Rosen 1974; the price model of UrbanSim, Waddell 2002),
  used by developers to value land that has no dwellings yet.
* :func:`update_rents`: rents respond to excess demand, measured by the neighbourhood vacancy
  rate against a natural rate (Rosen & Smith 1983; Wheaton 1990).
* :func:`develop`: developers add the dwellings the market lacks (target vacancy, as in
  UrbanSim's developer model) on the most profitable sites: undeveloped land converts where the
  capitalised expected rent exceeds construction cost plus the agricultural land price and
  servicing cost, the urban edge of Alonso–Muth–Mills (Alonso 1964; Muth 1969; Mills 1967);
  built density is the profit-maximising one (construction cost per dwelling rising with
  density) up to the zoning cap; existing residential cells densify when it pays.

References
----------
Alonso, W. (1964). *Location and Land Use*. Harvard University Press.
Mills, E. S. (1967). An aggregative model of resource allocation in a metropolitan area.
*American Economic Review* 57(2), 197-210.
Muth, R. F. (1969). *Cities and Housing*. University of Chicago Press.
Rosen, S. (1974). Hedonic prices and implicit markets. *Journal of Political Economy* 82(1),
34-55. doi:10.1086/260169
Rosen, K. T., & Smith, L. B. (1983). The price-adjustment process for rental housing and the
natural vacancy rate. *American Economic Review* 73(4), 779-786.
Waddell, P. (2002). UrbanSim: modeling urban development for land use, transportation, and
environmental planning. *Journal of the American Planning Association* 68(3), 297-314.
doi:10.1080/01944360208976274
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrosim._kernels.market import candidate_projects
from metrosim.land import LandState, LandUse, density_class

__all__ = ["fit_hedonic", "expected_rent", "update_rents", "develop", "DevelopmentResult"]


def fit_hedonic(rent: np.ndarray, features: np.ndarray, weights: np.ndarray) -> np.ndarray:
    """Weighted least squares of log rent on location features (with an intercept).

    Parameters
    ----------
    rent : ndarray, (n,)
        Positive rents of the cells used for the fit.
    features : ndarray, (n, k)
        Location attributes of those cells.
    weights : ndarray, (n,)
        Non-negative weights (occupied dwellings).

    Returns
    -------
    ndarray, (k + 1,)
        Intercept first, then one coefficient per feature.
    """
    w = np.sqrt(np.asarray(weights, dtype=np.float64))
    # the weighted design matrix [1, features] * w, written in place (1 * w is w)
    X = np.empty((len(rent), features.shape[1] + 1))
    X[:, 0] = w
    np.multiply(features, w[:, None], out=X[:, 1:])
    coef, *_ = np.linalg.lstsq(X, np.log(rent) * w, rcond=None)
    return coef


def expected_rent(coef: np.ndarray, features: np.ndarray) -> np.ndarray:
    """Rent predicted by a hedonic fit (see :func:`fit_hedonic`)."""
    z = features @ coef[1:]
    z += coef[0]
    return np.exp(z, out=z)


def update_rents(
    rent: np.ndarray,
    vacancy_rate: np.ndarray,
    has_dwellings: np.ndarray,
    *,
    natural_vacancy: float,
    speed: float,
    floor: float,
    max_change: float = 0.25,
) -> np.ndarray:
    """Adjust rents to excess demand: ``r <- r * exp(speed * (v* - v))``.

    ``v`` is the vacancy rate of the cell's neighbourhood and ``v*`` the natural rate; the
    yearly change is clipped to ``±max_change`` (log) and rents never fall below ``floor``.
    Cells without dwellings keep their rent (it is replaced by the hedonic value when built).
    """
    cells = np.flatnonzero(has_dwellings)  # the others keep their rent: no work for them
    change = np.clip(speed * (natural_vacancy - vacancy_rate[cells]), -max_change, max_change)
    rent = np.asarray(rent, dtype=np.float64)
    out = np.maximum(rent, floor)  # a new array (the caller's rents are left as they were)
    out[cells] = np.maximum(rent[cells] * np.exp(change), floor)
    return out


@dataclass(frozen=True)
class DevelopmentResult:
    """What developers did in one year (counts of simulated dwellings and cells)."""

    target: int
    built: int
    greenfield_cells: np.ndarray
    densified_cells: np.ndarray


def develop(
    land: LandState,
    value: np.ndarray,
    *,
    households: int,
    natural_vacancy: float,
    scale: int,
    cell_area_ha: float,
    cost_base: float,
    cost_per_density: float,
    farmland_price_ha: float,
    servicing_cost_ha_km: float,
    distance_to_urban_km: np.ndarray,
    min_density: float,
    redevelopment_premium: float,
    heterogeneity: float,
    rng: np.random.Generator,
) -> DevelopmentResult:
    """Developers build the dwellings the market lacks on the most profitable sites.

    Target: ``ceil(households / (1 - natural_vacancy)) - dwellings`` simulated dwellings (none
    if the stock already exceeds it). Candidate projects, valued with the capitalised expected
    rent ``value`` per dwelling (CLP):

    * greenfield: an agricultural, developable cell with housing permitted; profit per ha of
      building density D is ``D (value - cost_base - cost_per_density D) - farmland_price_ha
      - servicing_cost_ha_km * distance_to_urban_km``; the profit-maximising density is
      ``D* = (value - cost_base) / (2 cost_per_density)``, clipped to the cap in force;
    * densification: a residential cell below its cap; profit of going from D0 to D* is the
      same margin on the added dwellings less ``redevelopment_premium`` times the value of the
      existing ones (assembly and demolition).

    Projects with positive profit are drawn without replacement with probability proportional
    to ``exp(margin / heterogeneity)`` (margin = profit per ha over its cost; heterogeneity of
    developers' information and costs, a stated assumption), using Gumbel keys from ``rng``,
    until the target is met. Leapfrogging emerges when a cheap, well-located cell away from the
    footprint is more profitable than the edge.

    Modifies ``land`` in place (land use, capacity, rent of built cells) and returns what was
    built.
    """
    stock = int(land.capacity.sum())
    target = max(0, int(np.ceil(households / (1.0 - natural_vacancy))) - stock)
    empty = np.zeros(0, dtype=np.int64)
    if target == 0:
        return DevelopmentResult(0, 0, empty, empty)
    # candidate projects: developable farmland and housing cells with a positive profit
    # (one numba pass over the cells: _kernels.market.candidate_projects)
    cand, profit, cost, d_star, d0 = candidate_projects(
        land.land_use,
        land.developable,
        land.zoned_max_dw_ha,
        land.plan_max_dw_ha,
        land.capacity,
        np.ascontiguousarray(value, dtype=np.float64),
        np.ascontiguousarray(distance_to_urban_km, dtype=np.float64),
        int(LandUse.AGRICULTURAL),
        int(LandUse.RES_LOW),
        int(LandUse.RES_HIGH),
        float(cost_base),
        float(cost_per_density),
        float(farmland_price_ha),
        float(servicing_cost_ha_km),
        float(min_density),
        float(redevelopment_premium),
        int(scale),
        float(cell_area_ha),
    )
    if cand.size == 0:
        return DevelopmentResult(target, 0, empty, empty)
    margin = profit / cost
    keys = margin / heterogeneity + rng.gumbel(size=cand.size)
    order, add, cum = _projects_in_order(
        keys, cand, d_star - d0, cell_area_ha=cell_area_ha, scale=scale, target=target
    )
    n_take = int(np.searchsorted(cum, target) + 1)
    order, add = order[:n_take], add[:n_take].copy()
    if add.size and cum[min(n_take, cum.size) - 1] > target:
        add[-1] -= int(cum[n_take - 1] - target)
    was_green = land.land_use[order] == LandUse.AGRICULTURAL
    land.capacity[order] += add.astype(np.int32)
    new_density = land.capacity[order] * scale / cell_area_ha
    land.land_use[order] = density_class(new_density)
    return DevelopmentResult(
        target=target,
        built=int(add.sum()),
        greenfield_cells=order[was_green],
        densified_cells=order[~was_green],
    )


def _projects_in_order(
    keys: np.ndarray,
    cand: np.ndarray,
    gain_dw_ha: np.ndarray,
    *,
    cell_area_ha: float,
    scale: int,
    target: int,
    first: int = 64,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Projects in descending ``keys`` order (ties by position), up to the target if possible.

    Returns the cells, their added simulated dwellings (> 0) and the running total, for a
    prefix of the full stable order that reaches ``target`` (or for every project if they do
    not). Usually a few dozen of the candidates suffice, so the order is built for the best
    ``m`` keys only (a partial sort: every key at least the ``m``-th largest, ties included,
    then a stable sort), ``m`` growing eightfold until the dwellings reach the target; the
    prefix is that of a full stable sort.
    """
    neg = -keys
    m = min(cand.size, first)
    while True:
        if m < cand.size and np.isfinite(neg).all():
            kth = np.partition(neg, m - 1)[m - 1]
            sel = np.flatnonzero(neg <= kth)
            rank = sel[np.argsort(neg[sel], kind="stable")]
        else:
            rank = np.argsort(neg, kind="stable")
        add = np.maximum(np.floor(gain_dw_ha[rank] * cell_area_ha / scale), 0).astype(np.int64)
        keep = add > 0
        order, add = cand[rank][keep], add[keep]
        cum = np.cumsum(add)
        if rank.size == cand.size or (cum.size and cum[-1] >= target):
            return order, add, cum
        m = min(cand.size, 8 * m)
