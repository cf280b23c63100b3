"""Per-region reductions over grid cells in one pass (numba); nothing is checked here."""

import numpy as np
from numba import njit


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
