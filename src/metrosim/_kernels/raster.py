"""Polygon rasterisation by scanlines (even-odd rule, cell centres)."""

import numpy as np
from numba import njit


@njit(cache=True)
def fill_features(
    xs, ys, ring_start, feature_start, values, x0, y_top, cell, ny, nx, out
):  # pragma: no cover - compiled
    """Write values[f] into every cell whose centre lies inside feature f.

    Vertices of ring r are xs[ring_start[r]:ring_start[r+1]] (implicitly closed); rings of
    feature f are ring_start indices feature_start[f]..feature_start[f+1]. A cell centre is
    inside when a horizontal ray crosses the feature's rings an odd number of times.
    """
    n_features = feature_start.size - 1
    cross = np.empty(xs.size + 8, dtype=np.float64)
    for f in range(n_features):
        r0 = feature_start[f]
        r1 = feature_start[f + 1]
        v0 = ring_start[r0]
        v1 = ring_start[r1]
        if v1 - v0 < 3:
            continue
        ymin = ys[v0:v1].min()
        ymax = ys[v0:v1].max()
        i_lo = max(0, int(np.floor((y_top - ymax) / cell - 0.5)))
        i_hi = min(ny - 1, int(np.ceil((y_top - ymin) / cell - 0.5)))
        for i in range(i_lo, i_hi + 1):
            yc = y_top - (i + 0.5) * cell
            n = 0
            for r in range(r0, r1):
                a = ring_start[r]
                b = ring_start[r + 1]
                for k in range(a, b):
                    k2 = k + 1 if k + 1 < b else a
                    y1 = ys[k]
                    y2 = ys[k2]
                    if (y1 <= yc < y2) or (y2 <= yc < y1):
                        cross[n] = xs[k] + (yc - y1) * (xs[k2] - xs[k]) / (y2 - y1)
                        n += 1
            if n < 2:
                continue
            c = np.sort(cross[:n])
            for p in range(0, n - 1, 2):
                j_lo = max(0, int(np.ceil((c[p] - x0) / cell - 0.5)))
                j_hi = min(nx - 1, int(np.ceil((c[p + 1] - x0) / cell - 0.5)) - 1)
                for j in range(j_lo, j_hi + 1):
                    out[i, j] = values[f]
