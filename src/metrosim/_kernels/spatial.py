"""Kernels of :mod:`metrosim.metrics.spatial` and of the model's neighbourhood sums.

Nothing is checked here; the public wrappers validate their input.
"""

import numpy as np
from numba import njit, prange


@njit(cache=True)
def separable_environment(ys, xs, counts, ny, nx, w):
    """Kernel-weighted counts around each populated cell, with a separable 1-D kernel.

    ``env[i, k] = sum_q w[dy] w[dx] counts[q, k]`` over the populated cells ``q`` whose row
    and column offsets from cell ``i`` are within the kernel's half-width ``R``
    (``w`` has ``2R + 1`` taps; cells off the grid count as empty). ``ys`` must be sorted
    (row-major order, as ``np.nonzero`` gives). Each populated cell is first spread along
    its row into a ring of ``2R + 1`` smoothed rows; each populated cell of the row
    ``R`` behind then gathers down its column from the ring. The cost is ``2 (2R + 1) k``
    per populated cell plus one pass over the grid's rows (a ring row is cleared only over
    the columns its last use touched), and the ring stays in cache.
    The loops run in a fixed order, so the result does not depend on threads.
    """
    n, k = counts.shape
    r = (w.size - 1) // 2
    m = 2 * r + 1
    ring = np.zeros((m, nx, k))
    # columns [dirty_lo, dirty_hi] of a ring slot may be non-zero (empty when lo > hi)
    dirty_lo = np.full(m, nx, dtype=np.int64)
    dirty_hi = np.full(m, -1, dtype=np.int64)
    env = np.zeros((n, k))
    acc = np.empty(k)
    cnt = np.empty(k)
    # start[y] .. start[y + 1]: the populated cells of row y
    start = np.zeros(ny + 1, dtype=np.int64)
    for i in range(n):
        start[ys[i] + 1] += 1
    for y in range(ny):
        start[y + 1] += start[y]
    for row in range(ny + r):
        if row < ny:
            # smooth row `row` into its ring slot
            slot = row % m
            for xx in range(dirty_lo[slot], dirty_hi[slot] + 1):
                for g in range(k):
                    ring[slot, xx, g] = 0.0
            dirty_lo[slot] = nx
            dirty_hi[slot] = -1
            for i in range(start[row], start[row + 1]):
                x = xs[i]
                lo = max(0, x - r)
                hi = min(nx - 1, x + r)
                dirty_lo[slot] = min(dirty_lo[slot], lo)
                dirty_hi[slot] = max(dirty_hi[slot], hi)
                for g in range(k):
                    cnt[g] = counts[i, g]
                for xx in range(lo, hi + 1):
                    wt = w[xx - x + r]
                    for g in range(k):
                        ring[slot, xx, g] += wt * cnt[g]
        y = row - r  # every row within R of y is now in the ring
        if y < 0:
            continue
        lo = max(0, y - r)
        hi = min(ny - 1, y + r)
        slot0 = lo % m
        for i in range(start[y], start[y + 1]):
            x = xs[i]
            for g in range(k):
                acc[g] = 0.0
            slot = slot0
            for yy in range(lo, hi + 1):
                wt = w[yy - y + r]
                for g in range(k):
                    acc[g] += wt * ring[slot, x, g]
                slot += 1
                if slot == m:
                    slot = 0
            for g in range(k):
                env[i, g] = acc[g]
    return env


@njit(cache=True)
def window_sum_rows(a, r):
    """``out[y, j] = sum(a[y - r .. y + r, j])`` (zero outside) of a 2-D integer array.

    A sliding window down the rows: each output row is the previous one plus the row
    entering the window minus the row leaving it, accumulated in int64, so it is exact and
    reads the input twice whatever ``r`` is. Rows are whole vectors, so the inner loops have
    no branch, and each output row is written once.
    """
    ny, m = a.shape
    out = np.empty((ny, m), dtype=np.int64)
    if ny == 0:
        return out
    o0 = out[0]
    for j in range(m):
        o0[j] = 0
    for y in range(0, min(r, ny - 1) + 1):
        row = a[y]
        for j in range(m):
            o0[j] += row[j]
    for y in range(1, ny):
        o = out[y]
        prev = out[y - 1]
        add = y + r
        sub = y - r - 1
        if add < ny and sub >= 0:
            ra = a[add]
            rs = a[sub]
            for j in range(m):
                o[j] = prev[j] + ra[j] - rs[j]
        elif add < ny:
            ra = a[add]
            for j in range(m):
                o[j] = prev[j] + ra[j]
        elif sub >= 0:
            rs = a[sub]
            for j in range(m):
                o[j] = prev[j] - rs[j]
        else:
            for j in range(m):
                o[j] = prev[j]
    return out


@njit(cache=True)
def window_sum_cols(a, r):
    """``out[y, x, g] = sum(a[y, x - r .. x + r, g])`` of a 3-D integer array; as
    :func:`window_sum_rows`, along the second axis, each row handled as one flat vector in
    which layer ``g`` steps by ``k``."""
    ny, nx, k = a.shape
    out = np.zeros((ny, nx, k), dtype=np.int64)
    flat_in = a.reshape(ny, nx * k)
    flat_out = out.reshape(ny, nx * k)
    n = nx * k
    first = (min(r, nx - 1) + 1) * k
    for y in range(ny):
        row = flat_in[y]
        o = flat_out[y]
        for t in range(first):
            o[t % k] += row[t]
        for t in range(k, n):
            v = o[t - k]
            add = t + r * k
            if add < n:
                v += row[add]
            sub = t - (r + 1) * k
            if sub >= 0:
                v -= row[sub]
            o[t] = v
    return out


@njit(cache=True)
def running_sum_rows(a, r):
    """``out[y, j] = c[y + 2r + 1, j] - c[y, j]`` of a 2-D float64 array, where ``c`` is the
    running sum down the rows of ``a`` padded with ``r + 1`` zero rows above and ``r`` below.

    The same additions, in the same order, as ``np.pad`` + ``cumsum(axis=0)`` + two takes and
    a subtraction (bit-identical to that numpy expression), in one pass: the running sums
    live in a ring of ``2r + 2`` rows that stays in cache. Rounding is relative to the running
    total (a window sum by differences).
    """
    ny, m = a.shape
    w = 2 * r + 1
    c = np.zeros((w + 1, m))  # rows 0..r: the leading zeros' running sum (0.0)
    out = np.empty((ny, m))
    for k in range(r + 1, ny + w):
        src = k - r - 1
        cur = c[k % (w + 1)]
        prev = c[(k - 1) % (w + 1)]
        if src < ny:
            row = a[src]
            for j in range(m):
                cur[j] = prev[j] + row[j]
        else:
            for j in range(m):
                cur[j] = prev[j] + 0.0
        y = k - w
        if y >= 0:
            old = c[y % (w + 1)]
            o = out[y]
            for j in range(m):
                o[j] = cur[j] - old[j]
    return out


@njit(cache=True)
def running_sum_cols(a, r):
    """As :func:`running_sum_rows`, along the second axis of a 3-D float64 array
    ``(ny, nx, k)`` (bit-identical to ``np.pad`` + ``cumsum(axis=1)`` + takes). Each row is
    handled as one flat vector in which the running sum of layer ``g`` steps by ``k``."""
    ny, nx, k = a.shape
    w = 2 * r + 1
    lead = (r + 1) * k
    c = np.zeros((nx + w) * k)  # the first `lead` entries stay 0.0 (the leading zeros)
    out = np.empty((ny, nx, k))
    flat_in = a.reshape(ny, nx * k)
    flat_out = out.reshape(ny, nx * k)
    n_in = nx * k
    for y in range(ny):
        row = flat_in[y]
        for t in range(lead, lead + n_in):
            c[t] = c[t - k] + row[t - lead]
        for t in range(lead + n_in, (nx + w) * k):
            c[t] = c[t - k] + 0.0
        o = flat_out[y]
        for t in range(n_in):
            o[t] = c[t + w * k] - c[t]
    return out


@njit(cache=True, parallel=True)
def distance_transform(mask, cell_size):
    """Euclidean distance (same unit as ``cell_size``) from each cell to the nearest True
    cell of a 2-D mask (``inf`` when the mask is empty).

    Felzenszwalb & Huttenlocher's (2012) exact two-pass transform: the distance along each
    column to the nearest feature, then for each row the lower envelope of the parabolas
    ``(x - q)^2 + g(q)^2``. The winning offsets ``(dy, dx)`` give
    ``sqrt((dy s)^2 + (dx s)^2)``, the expression ``scipy.ndimage.distance_transform_edt``
    evaluates. Rows are independent in the second pass, so the parallel loop gives the
    same result with any number of threads.

    References
    ----------
    Felzenszwalb, P. F. & Huttenlocher, D. P. (2012). Distance transforms of sampled
    functions. *Theory of Computing* 8, 415-428. doi:10.4086/toc.2012.v008a019
    """
    ny, nx = mask.shape
    big = ny + nx + 1  # more than any in-grid offset
    g = np.empty((ny, nx), dtype=np.int64)
    for x in range(nx):
        g[0, x] = 0 if mask[0, x] else big
    for y in range(1, ny):
        for x in range(nx):
            g[y, x] = 0 if mask[y, x] else min(big, g[y - 1, x] + 1)
    for y in range(ny - 2, -1, -1):
        for x in range(nx):
            if g[y + 1, x] + 1 < g[y, x]:
                g[y, x] = g[y + 1, x] + 1
    out = np.empty((ny, nx))
    for y in prange(ny):
        v = np.empty(nx, dtype=np.int64)  # columns of the parabolas in the envelope
        z = np.empty(nx + 1)  # boundaries between them
        k = -1
        for q in range(nx):
            if g[y, q] >= big:
                continue
            hq = float(g[y, q] * g[y, q] + q * q)
            if k < 0:
                k = 0
                v[0] = q
                z[0] = -np.inf
                z[1] = np.inf
                continue
            while True:
                p = v[k]
                sep = (hq - float(g[y, p] * g[y, p] + p * p)) / (2.0 * (q - p))
                if sep <= z[k]:
                    k -= 1  # never below 0: z[0] is -inf
                else:
                    break
            k += 1
            v[k] = q
            z[k] = sep
            z[k + 1] = np.inf
        if k < 0:
            for x in range(nx):
                out[y, x] = np.inf
            continue
        j = 0
        for x in range(nx):
            while z[j + 1] < x:
                j += 1
            q = v[j]
            dy = g[y, q] * cell_size
            dx = (x - q) * cell_size
            out[y, x] = np.sqrt(dy * dy + dx * dx)
    return out


@njit(cache=True, error_model="numpy")
def environment_proportions(e):
    """Each row of ``e`` over its sum (added left to right, as numpy sums a short axis),
    and those proportions with 1 where they are not positive (the argument of ``log``)."""
    n, k = e.shape
    pi = np.empty((n, k))
    arg = np.empty((n, k))
    for i in range(n):
        tot = e[i, 0]
        for g in range(1, k):
            tot += e[i, g]
        for g in range(k):
            p = e[i, g] / tot
            pi[i, g] = p
            arg[i, g] = p if p > 0 else 1.0
    return pi, arg


@njit(cache=True)
def weighted_entropies(pi, log_pi, t):
    """``t * ent`` with ``ent = -sum_g (pi log pi if pi > 0 else 0)`` per row, left to right."""
    n, k = pi.shape
    out = np.empty(n)
    for i in range(n):
        s = pi[i, 0] * log_pi[i, 0] if pi[i, 0] > 0 else 0.0
        for g in range(1, k):
            s += pi[i, g] * log_pi[i, g] if pi[i, g] > 0 else 0.0
        out[i] = t[i] * -s
    return out


@njit(cache=True)
def row_totals(a):
    """``a.sum(axis=1)`` of a 2-D integer array with few columns, in its own dtype, one pass."""
    n, k = a.shape
    out = np.zeros(n, dtype=a.dtype)
    for i in range(n):
        t = a[i, 0]
        for g in range(1, k):
            t += a[i, g]
        out[i] = t
    return out


@njit(cache=True)
def window_shares(rows, r):
    """Totals and shares of the (2r+1)-wide windows along the second axis of ``rows``.

    ``rows`` is ``(ny, nx, k)`` int64 (already summed down the rows, :func:`window_sum_rows`).
    The window sums along x are those of :func:`window_sum_cols`, kept for one row only (a
    flat vector in which layer ``g`` steps by ``k``); each cell's total ``t`` over the k
    layers (int64) and ``share[., g] = w_g / t`` (float64, 0 when ``t`` is 0) are written
    directly, as dividing the full window sums by their totals would.
    """
    ny, nx, k = rows.shape
    total = np.empty(ny * nx, dtype=np.int64)
    share = np.empty((ny * nx, k))
    n = nx * k
    buf = np.zeros(n, dtype=np.int64)
    flat = rows.reshape(ny, n)
    first = (min(r, nx - 1) + 1) * k
    lead = (r + 1) * k  # from t = lead on, a layer's entry leaves the window
    for y in range(ny):
        row = flat[y]
        for t in range(k):
            buf[t] = 0
        for t in range(first):
            buf[t % k] += row[t]
        # buf[t] = buf[t - k] + row[t + r k] (if inside) - row[t - (r + 1) k] (if >= 0)
        hi = n - r * k  # row[t + r k] exists for t < hi
        for t in range(k, n):
            v = buf[t - k]
            if t < hi:
                v += row[t + r * k]
            if t >= lead:
                v -= row[t - lead]
            buf[t] = v
        base = y * nx
        for x in range(nx):
            o = x * k
            tt = 0
            for g in range(k):
                tt += buf[o + g]
            total[base + x] = tt
            if tt > 0:
                d = float(tt)
                for g in range(k):
                    share[base + x, g] = float(buf[o + g]) / d
            else:
                for g in range(k):
                    share[base + x, g] = 0.0
    return total, share
