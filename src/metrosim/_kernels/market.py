"""Kernels of the land market: candidate projects in one pass over the cells
(:func:`metrosim.market.develop`), and the hedonic model's features of the region's cells.

Nothing is checked here; the callers pass the land state and scalars.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True)
def candidate_projects(
    land_use,
    developable,
    zoned,
    plan,
    capacity,
    value,
    distance_km,
    agricultural,
    res_low,
    res_high,
    cost_base,
    cost_per_density,
    farmland_price_ha,
    servicing_cost_ha_km,
    min_density,
    redevelopment_premium,
    scale,
    cell_area_ha,
):
    """The cells with a profitable project, in cell order, and each project's figures.

    Per developable farmland or housing cell, the expressions of ``market.develop`` (each the
    same operations in the same order as its numpy form): the density cap in force, the
    profit-maximising density ``d_star``, the current density ``d0``, the greenfield or
    densification profit and the project's cost. Returns ``(cells, profit, cost, d_star,
    d0)`` for the cells whose profit is finite and positive.
    """
    n = land_use.size
    cells = np.empty(n, dtype=np.int64)
    profit = np.empty(n)
    cost = np.empty(n)
    dstar = np.empty(n)
    dnow = np.empty(n)
    k = 0
    half = 2.0 * cost_per_density
    for i in range(n):
        u = land_use[i]
        agri = u == agricultural
        res = (u >= res_low) and (u <= res_high)
        if not developable[i] or not (agri or res):
            continue
        cap = np.float64(min(zoned[i], plan[i]))
        v = value[i]
        d_star = (v - cost_base) / half
        d_star = max(d_star, 0.0)
        d_star = min(d_star, cap)
        margin = v - cost_base - cost_per_density * d_star
        d0 = capacity[i] * scale / cell_area_ha
        if agri and d_star >= min_density and d_star > d0:
            p = (d_star - d0) * margin - farmland_price_ha - servicing_cost_ha_km * distance_km[i]
        elif res and d_star > 1.25 * d0 + 1.0:
            p = (d_star - d0) * margin - redevelopment_premium * d0 * v
        else:
            continue
        if not (np.isfinite(p) and p > 0):
            continue
        cells[k] = i
        profit[k] = p
        cost[k] = max((d_star - d0) * (cost_base + cost_per_density * d_star), 1.0)
        dstar[k] = d_star
        dnow[k] = d0
        k += 1
    return cells[:k], profit[:k], cost[:k], dstar[:k], dnow[:k]


@njit(cache=True, parallel=True)
def hedonic_features(cells, commute, service, green, mix, low, high, out):
    """Rows ``[commute, service, green, mix[:, low], mix[:, high]]`` of the given cells.

    The array ``np.column_stack`` of the five gathers makes (the same values), in one pass
    without the five gathered temporaries, into ``out`` (``(cells.size, 5)`` float64,
    allocated by the caller with numpy: huge pages at 60 MB, see
    :func:`metrosim._kernels.spatial.window_shares`). Rows in parallel.
    """
    n = cells.size
    for i in prange(n):
        c = cells[i]
        out[i, 0] = commute[c]
        out[i, 1] = service[c]
        out[i, 2] = green[c]
        out[i, 3] = mix[c, low]
        out[i, 4] = mix[c, high]
    return out
