"""Per-region reductions over grid cells in one pass (numba); nothing is checked here."""

import numpy as np
from numba import njit

_U = np.uint64  # unsigned indices: no negative-index wraparound code on each access


@njit(cache=True)
def argmax_by_region(score, region, n_regions):
    """Index of the highest positive ``score`` in each region, -1 where none is positive.

    Cells with ``region < 0`` or ``score <= 0`` (or NaN) are skipped; ties go to the lowest
    index because a later cell replaces the best only when strictly higher.
    """
    best = np.full(n_regions, -1, dtype=np.int64)
    top = np.zeros(n_regions)
    for i in range(score.size):
        c = region[i]
        v = score[i]
        if c < 0 or not v > 0.0:
            continue
        if best[c] < 0 or v > top[c]:
            best[c] = i
            top[c] = v
    return best


@njit(cache=True)
def argmax_blend_by_region(a, b, p, region, n_regions):
    """:func:`argmax_by_region` of ``p * a + (1 - p) * b`` without the score array.

    Returns the best cell of each region (-1 where none scores above 0) and its score (0
    there); each score is the same two products and one sum as the numpy expression.
    """
    # top[c] stays 0.0 while best[c] < 0 and only rises to scores > 0, so "score > 0 and
    # (best < 0 or score > top)" is "score > top" (NaN fails both).
    best = np.full(n_regions, -1, dtype=np.int64)
    top = np.zeros(n_regions)
    q = 1.0 - p
    for i in range(_U(a.size)):
        c = region[i]
        if c < 0:
            continue
        v = p * a[i] + q * b[i]
        if v > top[c]:
            best[c] = i
            top[c] = v
    return best, top


@njit(cache=True)
def revenue_terms(commune, capacity, occupancy, value, jobs, scale, exemption_value, n_regions):
    """The per-commune sums of ``governments.municipal.revenue_bases``, in one pass.

    Over the cells with ``commune >= 0``: the cells with ``capacity > 0`` (``built``, in
    order), their occupied dwellings times ``scale`` (float, ``(n_built, k)``), and per
    commune the sums of ``capacity * scale * value`` over the dwellings worth more than
    ``exemption_value`` (``taxed``) and of ``capacity * scale`` over the others
    (``exempt``), of the occupied dwellings times ``scale`` (``households``: each cell's
    groups added left to right) and of the first group's (``poor``); and of ``jobs`` over
    the cells with ``jobs != 0``. Each commune's terms are added in cell order, starting
    from 0.0, as ``np.bincount`` adds its weights, so every sum has its bits (a term of 0.0
    where ``np.where`` puts one).
    """
    n = commune.size
    k = occupancy.shape[1]
    built = np.empty(n, dtype=np.int64)
    nb = 0
    job_sum = np.zeros(n_regions)
    for i in range(n):
        c = commune[i]
        if c < 0:
            continue
        if jobs[i] != 0:
            job_sum[c] += jobs[i]
        if capacity[i] > 0:
            built[nb] = i
            nb += 1
    built = built[:nb].copy()
    occ = np.empty((nb, k))
    taxed = np.zeros(n_regions)
    exempt = np.zeros(n_regions)
    households = np.zeros(n_regions)
    poor = np.zeros(n_regions)
    for j in range(nb):
        i = built[j]
        c = commune[i]
        d = np.float64(capacity[i]) * scale
        v = value[i]
        if v > exemption_value:
            taxed[c] += d * v
            exempt[c] += 0.0
        else:
            taxed[c] += 0.0
            exempt[c] += d
        for g in range(k):
            occ[j, g] = np.float64(occupancy[i, g]) * scale
        t = occ[j, 0]
        for g in range(1, k):
            t += occ[j, g]
        households[c] += t
        poor[c] += occ[j, 0]
    return built, occ, taxed, exempt, households, poor, job_sum


@njit(cache=True)
def dwellings_by_region(commune, capacity, occupancy, scale, n_regions):
    """Per region: dwellings times ``scale`` and occupied dwellings by group, in one pass.

    Over the cells with ``commune >= 0`` and ``capacity > 0``: the sums of ``capacity *
    scale`` (added in cell order from 0.0, as ``np.bincount`` adds its weights) and of each
    column of ``occupancy`` (whole numbers, float64: exact in any order).
    """
    k = occupancy.shape[1]
    dw = np.zeros(n_regions)
    groups = np.zeros((n_regions, k))
    for i in range(commune.size):
        c = commune[i]
        if c < 0 or not capacity[i] > 0:
            continue
        dw[c] += np.float64(capacity[i]) * scale
        for g in range(k):
            groups[c, g] += occupancy[i, g]
    return dw, groups
