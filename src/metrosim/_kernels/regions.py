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
