"""Kernels of :mod:`metrosim.metrics.spatial` and of the model's neighbourhood sums.

Nothing is checked here; the public wrappers validate their input.
"""

import numpy as np
from numba import njit, prange

_U = np.uint64  # unsigned indices: no negative-index wraparound code, so the loops vectorise


@njit(cache=True)
def _spread_row(xs, counts, s0, s1, nx, k, r, wk, ring, rb, c4):
    """Add each populated cell ``s0 .. s1`` of one row, left to right, spread along the row,
    into the flat ring row at ``rb`` (column x, group g at ``rb + x k + g``): blocks of 4
    columns (``4k`` contiguous doubles against ``wk`` = ``w`` repeated k times and the
    cell's counts repeated 4 times, one vectorised loop), then the last ``span % 4``
    columns. Returns the columns touched (lo, hi)."""
    dlo = nx
    dhi = -1
    L = 4 * k
    for i in range(s0, s1):
        x = xs[i]
        lo = max(0, x - r)
        hi = min(nx - 1, x + r)
        dlo = min(dlo, lo)
        dhi = max(dhi, hi)
        for q in range(4):
            for g in range(k):
                c4[_U(q * k + g)] = counts[i, g]
        span = hi - lo + 1
        dst = rb + lo * k
        src = (lo - x + r) * k
        for _ in range(span >> 2):
            for j in range(L):
                ring[_U(dst + j)] += wk[_U(src + j)] * c4[_U(j)]
            dst += L
            src += L
        for j in range((span & 3) * k):
            ring[_U(dst + j)] += wk[_U(src + j)] * c4[_U(j)]
    return dlo, dhi


@njit(cache=True)
def _gather5(xs, s0, s1, y, r, ny, m, rowlen, w, ring, ef):
    """env of the populated cells ``s0 .. s1`` of row y, k = 5: each sums down its column
    of the ring, rows y - R .. y + R in order from 0.0, the 5 sums in registers; the ring
    is walked as two runs (before and after its wrap), with no slot test in the loop."""
    lo = max(0, y - r)
    hi = min(ny - 1, y + r)
    slot0 = lo % m
    cnt = hi - lo + 1
    n1 = min(cnt, m - slot0)  # ring rows before the wrap
    wi0 = lo - y + r
    for c in range(s0, s1):
        xo = xs[c] * 5
        a0 = 0.0
        a1 = 0.0
        a2 = 0.0
        a3 = 0.0
        a4 = 0.0
        o = slot0 * rowlen + xo
        for t in range(n1):
            wt = w[_U(wi0 + t)]
            p = o + t * rowlen
            a0 += wt * ring[_U(p)]
            a1 += wt * ring[_U(p + 1)]
            a2 += wt * ring[_U(p + 2)]
            a3 += wt * ring[_U(p + 3)]
            a4 += wt * ring[_U(p + 4)]
        for t in range(cnt - n1):
            wt = w[_U(wi0 + n1 + t)]
            p = xo + t * rowlen
            a0 += wt * ring[_U(p)]
            a1 += wt * ring[_U(p + 1)]
            a2 += wt * ring[_U(p + 2)]
            a3 += wt * ring[_U(p + 3)]
            a4 += wt * ring[_U(p + 4)]
        e = c * 5
        ef[_U(e)] = a0
        ef[_U(e + 1)] = a1
        ef[_U(e + 2)] = a2
        ef[_U(e + 3)] = a3
        ef[_U(e + 4)] = a4


@njit(cache=True)
def _gather(xs, s0, s1, y, r, ny, m, rowlen, k, w, ring, ef, acc):
    """:func:`_gather5` for any k: cell by cell, the k sums in ``acc``."""
    lo = max(0, y - r)
    hi = min(ny - 1, y + r)
    slot0 = lo % m
    for i in range(s0, s1):
        xo = xs[i] * k
        for g in range(k):
            acc[_U(g)] = 0.0
        slot = slot0
        for yy in range(lo, hi + 1):
            wt = w[_U(yy - y + r)]
            o = slot * rowlen + xo
            for g in range(k):
                acc[_U(g)] += wt * ring[_U(o + g)]
            slot += 1
            if slot == m:
                slot = 0
        for g in range(k):
            ef[_U(i * k + g)] = acc[_U(g)]


@njit(cache=True)
def separable_environment(ys, xs, counts, ny, nx, w):
    """Kernel-weighted counts around each populated cell, with a separable 1-D kernel.

    ``env[i, k] = sum_q w[dy] w[dx] counts[q, k]`` over the populated cells ``q`` whose row
    and column offsets from cell ``i`` are within the kernel's half-width ``R``
    (``w`` has ``2R + 1`` taps; cells off the grid count as empty). ``ys`` must be sorted
    (row-major order, as ``np.nonzero`` gives). Each populated cell is first spread along
    its row into a ring of ``2R + 1`` smoothed rows (:func:`_spread_row`: contiguous
    vectorised blocks over (column, group)); each populated cell of the row ``R`` behind
    then gathers down its column from the ring (:func:`_gather5` for 5 groups, the sums in
    registers, else :func:`_gather`). The cost is
    ``2 (2R + 1) k`` per populated cell plus one pass over the grid's rows (a ring row is
    cleared only over the columns its last use touched).
    Every ring and env element gets the same products added in the same order (from 0.0)
    as the plain loops, so the result is the same bits; the loops run in a fixed order,
    so it does not depend on threads.
    """
    n, k = counts.shape
    r = (w.size - 1) // 2
    m = 2 * r + 1
    rowlen = nx * k
    ring = np.zeros(m * rowlen)
    acc = np.empty(k)
    c4 = np.empty(4 * k)
    wk = np.empty(m * k)  # wk[d k + g] = w[d]
    for d in range(m):
        for g in range(k):
            wk[d * k + g] = w[d]
    # columns [dirty_lo, dirty_hi] of a ring slot may be non-zero (empty when lo > hi)
    dirty_lo = np.full(m, nx, dtype=np.int64)
    dirty_hi = np.full(m, -1, dtype=np.int64)
    env = np.zeros((n, k))
    ef = env.reshape(n * k)
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
            rb = slot * rowlen
            for j in range(rb + dirty_lo[slot] * k, rb + (dirty_hi[slot] + 1) * k):
                ring[_U(j)] = 0.0
            dlo, dhi = _spread_row(
                xs, counts, start[row], start[row + 1], nx, k, r, wk, ring, rb, c4
            )
            dirty_lo[slot] = dlo
            dirty_hi[slot] = dhi
        y = row - r  # every row within R of y is now in the ring
        if y < 0:
            continue
        if k == 5:
            _gather5(xs, start[y], start[y + 1], y, r, ny, m, rowlen, w, ring, ef)
        else:
            _gather(xs, start[y], start[y + 1], y, r, ny, m, rowlen, k, w, ring, ef, acc)
    return env


@njit(cache=True)
def rows_window(a, y, r, buf):
    """Window sums down the rows: whole-row, branch-free loops on unsigned indices
    (``buf[j] = sum(a[y - r .. y + r, j])``, rows inside the grid, exact in int64; for
    ``y > 0`` ``buf`` must hold the result for ``y - 1``)."""
    ny, m = a.shape
    if y == 0:
        for j in range(m):
            buf[_U(j)] = 0
        for yy in range(0, min(r, ny - 1) + 1):
            row = a[yy]
            for j in range(m):
                buf[_U(j)] += row[_U(j)]
        return
    add = y + r
    sub = y - r - 1
    if add < ny and sub >= 0:
        ra = a[add]
        rs = a[sub]
        for j in range(m):
            buf[_U(j)] += np.int64(ra[_U(j)]) - np.int64(rs[_U(j)])
    elif add < ny:
        ra = a[add]
        for j in range(m):
            buf[_U(j)] += ra[_U(j)]
    elif sub >= 0:
        rs = a[sub]
        for j in range(m):
            buf[_U(j)] -= rs[_U(j)]


@njit(cache=True)
def cols_window(row, r, k, o):
    """Window sums along x (``o[x k + g] = sum(row[(x - r .. x + r) k + g])``, x inside the
    row, exact in int64) with the sliding window split into branch-free segments: entries
    entering only, entering and leaving, neither, leaving only."""
    n = row.size
    nx = n // k
    first = (min(r, nx - 1) + 1) * k
    for t in range(k):
        o[_U(t)] = 0
    for t in range(first):
        o[_U(t % k)] += row[_U(t)]
    rk = r * k
    lead = min((r + 1) * k, n)  # from t = lead on, an entry leaves the window
    hi = min(max(n - rk, k), n)  # row[t + r k] exists for t < hi
    for t in range(k, min(hi, lead)):
        o[_U(t)] = o[_U(t - k)] + row[_U(t + rk)]
    for t in range(lead, hi):
        o[_U(t)] = o[_U(t - k)] + (row[_U(t + rk)] - row[_U(t - lead)])
    for t in range(hi, lead):
        o[_U(t)] = o[_U(t - k)]
    for t in range(max(hi, lead), n):
        o[_U(t)] = o[_U(t - k)] - row[_U(t - lead)]


#: Row blocks of the parallel window kernels: a fixed number, so that a kernel does the same
#: work whatever the thread count (the sums are exact integers: the blocks change no bit).
_BLOCKS = 8


@njit(cache=True)
def _n_blocks(ny):
    return max(1, min(_BLOCKS, ny))


@njit(cache=True)
def _block(b, nb, ny):
    """Rows ``[y0, y1)`` of block ``b`` of ``nb``."""
    return (b * ny) // nb, ((b + 1) * ny) // nb


@njit(cache=True)
def _rows_window_at(a, y, y0, r, buf):
    """:func:`rows_window` for row y of a block starting at row y0: summed afresh at y0
    (rows inside the grid), then moved on by one row."""
    if y > y0:
        rows_window(a, y, r, buf)
        return
    ny, m = a.shape
    for j in range(m):
        buf[_U(j)] = 0
    for yy in range(max(0, y - r), min(y + r, ny - 1) + 1):
        row = a[yy]
        for j in range(m):
            buf[_U(j)] += row[_U(j)]


@njit(cache=True, parallel=True)
def window_sums(a, r, k):
    """``(2r+1) x (2r+1)`` window sums (zero outside) of an integer grid of k layers.

    ``a`` is ``(ny, nx * k)`` (layer ``g`` of cell x at ``x * k + g``); returns int64 of the
    same shape. Down the rows (:func:`rows_window`) into one row buffer, then along x
    (:func:`cols_window`) straight into the output row: no full-size intermediate array.
    Blocks of rows in parallel, each summing its first row's window afresh.
    """
    ny, m = a.shape
    out = np.empty((ny, m), dtype=np.int64)
    nb = _n_blocks(ny)
    for b in prange(nb):
        buf = np.empty(m, dtype=np.int64)
        y0, y1 = _block(b, nb, ny)
        for y in range(y0, y1):
            _rows_window_at(a, y, y0, r, buf)
            cols_window(buf, r, k, out[y])
    return out


@njit(cache=True, parallel=True, error_model="numpy")
def window_shares(a, r, k, total, share):
    """Totals and shares of the ``(2r+1) x (2r+1)`` windows of an integer grid of k layers.

    ``a`` is ``(ny, nx * k)`` counts (layer ``g`` of cell x at ``x * k + g``). Each row's
    window sums (:func:`rows_window`, :func:`cols_window`: those of :func:`window_sums`) are
    kept for that row only; each cell's total ``t`` over the k layers into ``total``
    (int64, ``ny * nx``) and ``share[., g] = w_g / t`` into ``share`` (float64,
    ``(ny * nx, k)``, 0 when ``t`` is 0) are written directly, as dividing the full window
    sums by their totals would. The caller allocates both with numpy, which asks Linux for
    huge pages on arrays of 4 MiB or more (numba's own allocations do not, and at 100 m the
    first touches of the 108 MB of shares in 4 KiB pages took longer than the sums). Blocks
    of rows in parallel, as in :func:`window_sums`.
    """
    ny, m = a.shape
    nx = m // k
    flat = share.reshape(ny * m)
    nb = _n_blocks(ny)
    for b in prange(nb):
        rows = np.empty(m, dtype=np.int64)
        buf = np.empty(m, dtype=np.int64)
        y0, y1 = _block(b, nb, ny)
        for y in range(y0, y1):
            _rows_window_at(a, y, y0, r, rows)
            cols_window(rows, r, k, buf)
            base = y * nx
            ob = y * m
            for x in range(nx):
                o = x * k
                tt = np.int64(0)
                for g in range(k):
                    tt += buf[_U(o + g)]
                total[_U(base + x)] = tt
                d = float(tt)
                for g in range(k):
                    s = float(buf[_U(o + g)]) / d  # error_model numpy: no zero check
                    flat[_U(ob + o + g)] = s if tt > 0 else 0.0
    return total, share


@njit(cache=True)
def _window_x2(bu, bt, r, nx, ou, ot):
    """``ou[x] = sum(bu[x - r .. x + r])`` and the same of ``bt`` into ``ot`` (x inside the
    row): two sliding windows in int64, side by side, in branch-free segments."""
    su = np.int64(0)
    st = np.int64(0)
    for x in range(min(r, nx - 1) + 1):
        su += bu[_U(x)]
        st += bt[_U(x)]
    ou[0] = su
    ot[0] = st
    lead = min(r + 1, nx)  # from x = lead on, an entry leaves the window
    hi = min(max(nx - r, 1), nx)  # b[x + r] exists for x < hi
    for x in range(1, min(hi, lead)):
        su += bu[_U(x + r)]
        st += bt[_U(x + r)]
        ou[_U(x)] = su
        ot[_U(x)] = st
    for x in range(lead, hi):
        su += bu[_U(x + r)] - bu[_U(x - lead)]
        st += bt[_U(x + r)] - bt[_U(x - lead)]
        ou[_U(x)] = su
        ot[_U(x)] = st
    for x in range(hi, lead):
        ou[_U(x)] = su
        ot[_U(x)] = st
    for x in range(max(hi, lead), nx):
        su -= bu[_U(x - lead)]
        st -= bt[_U(x - lead)]
        ou[_U(x)] = su
        ot[_U(x)] = st


@njit(cache=True)
def _coverage_rows(hh, dist_km, reach_m, add, sub, nx, bu, bt):
    """bu/bt += (the households of grid row ``add`` beyond ``reach_m``, all of them) minus
    those of row ``sub`` (a negative row number is left out): one branch-free pass."""
    if add >= 0 and sub >= 0:
        ha = hh[add * nx : (add + 1) * nx]
        da = dist_km[add * nx : (add + 1) * nx]
        hs = hh[sub * nx : (sub + 1) * nx]
        ds = dist_km[sub * nx : (sub + 1) * nx]
        for x in range(nx):
            h1 = np.int64(ha[_U(x)])
            h2 = np.int64(hs[_U(x)])
            u1 = h1 if da[_U(x)] * 1000.0 > reach_m else 0
            u2 = h2 if ds[_U(x)] * 1000.0 > reach_m else 0
            bt[_U(x)] += h1 - h2
            bu[_U(x)] += u1 - u2
    elif add >= 0:
        ha = hh[add * nx : (add + 1) * nx]
        da = dist_km[add * nx : (add + 1) * nx]
        for x in range(nx):
            h1 = np.int64(ha[_U(x)])
            bt[_U(x)] += h1
            bu[_U(x)] += h1 if da[_U(x)] * 1000.0 > reach_m else 0
    elif sub >= 0:
        hs = hh[sub * nx : (sub + 1) * nx]
        ds = dist_km[sub * nx : (sub + 1) * nx]
        for x in range(nx):
            h2 = np.int64(hs[_U(x)])
            bt[_U(x)] -= h2
            bu[_U(x)] -= h2 if ds[_U(x)] * 1000.0 > reach_m else 0


@njit(cache=True, parallel=True)
def coverage_window_sums(hh, dist_km, reach_m, ny, nx, r):
    """``(2r+1) x (2r+1)`` window sums (zero outside the grid) of the households farther than
    ``reach_m`` from a facility and of all households.

    ``hh`` (integer) and ``dist_km`` (km to the nearest facility) are flat ``ny * nx`` grids.
    Returns (uncovered, households), int64: the sums of ``where(dist_km * 1000.0 > reach_m,
    hh, 0)`` and of ``hh``, exact, as :func:`window_sums` gives them. The rows are made as
    they enter and leave the window, so there is no full-size intermediate array.
    """
    n = ny * nx
    unc = np.empty(n, dtype=np.int64)
    tot = np.empty(n, dtype=np.int64)
    nb = _n_blocks(ny)
    for b in prange(nb):
        bu = np.zeros(nx, dtype=np.int64)
        bt = np.zeros(nx, dtype=np.int64)
        y0, y1 = _block(b, nb, ny)
        for row in range(max(0, y0 - r), min(y0 + r, ny - 1) + 1):
            _coverage_rows(hh, dist_km, reach_m, row, -1, nx, bu, bt)
        for y in range(y0, y1):
            if y > y0:
                add = y + r if y + r < ny else -1
                _coverage_rows(hh, dist_km, reach_m, add, y - r - 1, nx, bu, bt)
            _window_x2(bu, bt, r, nx, unc[y * nx : (y + 1) * nx], tot[y * nx : (y + 1) * nx])
    return unc, tot


@njit(cache=True)
def _vacancy_rows(capacity, occupied, add, sub, nx, bv, bc):
    """bv/bc += (vacant dwellings, dwellings) of grid row ``add`` minus those of row ``sub``
    (a negative row number is left out): one branch-free pass."""
    if add >= 0 and sub >= 0:
        ca = capacity[add * nx : (add + 1) * nx]
        oa = occupied[add * nx : (add + 1) * nx]
        cs = capacity[sub * nx : (sub + 1) * nx]
        os = occupied[sub * nx : (sub + 1) * nx]
        for x in range(nx):
            c1 = np.int64(ca[_U(x)])
            c2 = np.int64(cs[_U(x)])
            bc[_U(x)] += c1 - c2
            bv[_U(x)] += (c1 - np.int64(oa[_U(x)])) - (c2 - np.int64(os[_U(x)]))
    elif add >= 0:
        ca = capacity[add * nx : (add + 1) * nx]
        oa = occupied[add * nx : (add + 1) * nx]
        for x in range(nx):
            c1 = np.int64(ca[_U(x)])
            bc[_U(x)] += c1
            bv[_U(x)] += c1 - np.int64(oa[_U(x)])
    elif sub >= 0:
        cs = capacity[sub * nx : (sub + 1) * nx]
        os = occupied[sub * nx : (sub + 1) * nx]
        for x in range(nx):
            c2 = np.int64(cs[_U(x)])
            bc[_U(x)] -= c2
            bv[_U(x)] -= c2 - np.int64(os[_U(x)])


@njit(cache=True, parallel=True, error_model="numpy")
def vacancy_rates(capacity, occupied, ny, nx, r, natural):
    """Vacancy rate of the ``(2r+1) x (2r+1)`` window around each cell (zero outside).

    ``vacant / dwellings`` of the window, or ``natural`` where it has no dwelling: the values
    of ``np.where(cap > 0, vac / np.maximum(cap, 1), natural)`` with ``vac`` and ``cap`` the
    window sums (:func:`window_sums`) of ``capacity - occupied`` and of ``capacity``. Rows are
    made as they enter and leave the window; no full-size intermediate; blocks of rows in
    parallel.
    """
    n = ny * nx
    rate = np.empty(n)
    nb = _n_blocks(ny)
    for b in prange(nb):
        bv = np.zeros(nx, dtype=np.int64)
        bc = np.zeros(nx, dtype=np.int64)
        sv = np.empty(nx, dtype=np.int64)
        sc = np.empty(nx, dtype=np.int64)
        y0, y1 = _block(b, nb, ny)
        for row in range(max(0, y0 - r), min(y0 + r, ny - 1) + 1):
            _vacancy_rows(capacity, occupied, row, -1, nx, bv, bc)
        for y in range(y0, y1):
            if y > y0:
                add = y + r if y + r < ny else -1
                _vacancy_rows(capacity, occupied, add, y - r - 1, nx, bv, bc)
            _window_x2(bv, bc, r, nx, sv, sc)
            o = y * nx
            for x in range(nx):
                c = sc[_U(x)]
                q = float(sv[_U(x)]) / float(c)  # error_model numpy: no zero check
                rate[_U(o + x)] = q if c > 0 else natural
    return rate


@njit(cache=True, parallel=True)
def service_and_green_ratio(school_km, clinic_km, park_km, total, park_nb, per_hh, floor):
    """The model's mean km to services and the ratio inside its green term, in one pass.

    ``service = min((school + clinic + park) / 3, 100)`` and ``ratio = park_nb /
    max(total * per_hh[0] * per_hh[1], floor)``, with the operations in the order (and so
    the bits) of the numpy expressions ``np.minimum(sum(km.values()) / 3.0, 100.0)`` and
    ``park_nb / np.maximum(total * household_size * scale, floor)``; the caller takes
    ``log1p`` of the ratio with numpy.
    """
    n = school_km.size
    service = np.empty(n)
    ratio = np.empty(n)
    for i in prange(n):
        service[i] = min((school_km[i] + clinic_km[i] + park_km[i]) / 3.0, 100.0)
        persons = float(total[i]) * per_hh[0] * per_hh[1]
        ratio[i] = park_nb[i] / max(persons, floor)
    return service, ratio


@njit(cache=True)
def _chains4(t0, t1, t2, t3, c0, c1, c2, c3, nx, w, o0, o1, o2, o3):
    """:func:`running_cols` (k = 1) of four rows at once: four independent addition chains."""
    lead = _U(w - (w - 1) // 2)  # r + 1
    n = _U(nx)
    for t in range(n):
        s = t + lead
        c0[s] = c0[s - _U(1)] + t0[t]
        c1[s] = c1[s - _U(1)] + t1[t]
        c2[s] = c2[s - _U(1)] + t2[t]
        c3[s] = c3[s - _U(1)] + t3[t]
    for s in range(lead + n, n + _U(w)):
        c0[s] = c0[s - _U(1)] + 0.0
        c1[s] = c1[s - _U(1)] + 0.0
        c2[s] = c2[s - _U(1)] + 0.0
        c3[s] = c3[s - _U(1)] + 0.0
    for t in range(n):
        o0[t] = c0[t + _U(w)] - c0[t]
    for t in range(n):
        o1[t] = c1[t + _U(w)] - c1[t]
    for t in range(n):
        o2[t] = c2[t + _U(w)] - c2[t]
    for t in range(n):
        o3[t] = c3[t + _U(w)] - c3[t]


@njit(cache=True)
def running_cols(row, r, k, c, o):
    """``o`` = the window sums along x of one flat float64 row (layer g steps by k), by running
    sums in ``c`` (length ``(nx + 2r + 1) k``; its first ``(r + 1) k`` entries must be 0.0):
    ``o[t] = c[t + (2r+1) k] - c[t]``, the additions of ``np.pad`` + ``cumsum`` + takes."""
    n_in = _U(row.size)
    uk = _U(k)
    nx = n_in // uk
    w = _U(2 * r + 1)
    lead = _U(r + 1) * uk
    for t in range(lead, lead + n_in):
        c[t] = c[t - uk] + row[t - lead]
    for t in range(lead + n_in, (nx + w) * uk):
        c[t] = c[t - uk] + 0.0
    wk = w * uk
    for t in range(n_in):
        o[t] = c[t + wk] - c[t]


@njit(cache=True)
def running_window_sums(a, r, k):
    """``(2r+1) x (2r+1)`` window sums of a float64 grid of k layers, ``a`` ``(ny, nx * k)``.

    The same additions, in the same order, as ``np.pad`` + ``cumsum(axis=0)`` + two takes and
    a subtraction down the rows, then the same along x (bit-identical to that numpy
    expression). The running sums down the rows live in a ring of ``2r + 2`` rows that stays
    in cache; each row of window sums down the rows is summed along x at once
    (:func:`running_cols`), so no full-size intermediate array is made. Rounding is relative
    to the running totals (window sums by differences).
    """
    ny, m = a.shape
    w = 2 * r + 1
    c = np.zeros((w + 1, m))  # rows 0..r: the leading zeros' running sum (0.0)
    nc = (m // k + w) * k
    cx = np.zeros((4, nc))  # the first (r + 1) k entries of each row stay 0.0
    tmp = np.empty((4, m))
    out = np.empty((ny, m))
    um = _U(m)
    nb = 0  # rows of window sums down the rows waiting in tmp (k == 1: summed 4 at a time)
    for kk in range(r + 1, ny + w):
        src = kk - r - 1
        cur = c[kk % (w + 1)]
        prev = c[(kk - 1) % (w + 1)]
        if src < ny:
            row = a[src]
            for j in range(um):
                cur[j] = prev[j] + row[j]
        else:
            for j in range(um):
                cur[j] = prev[j] + 0.0
        y = kk - w
        if y >= 0:
            old = c[y % (w + 1)]
            tb = tmp[nb]
            for j in range(um):
                tb[j] = cur[j] - old[j]
            if k != 1:
                running_cols(tb, r, k, cx[0], out[y])
                continue
            nb += 1
            if nb == 4:
                y0 = y - 3
                _chains4(
                    tmp[0],
                    tmp[1],
                    tmp[2],
                    tmp[3],
                    cx[0],
                    cx[1],
                    cx[2],
                    cx[3],
                    m,
                    w,
                    out[y0],
                    out[y0 + 1],
                    out[y0 + 2],
                    out[y0 + 3],
                )
                nb = 0
    for i in range(nb):
        running_cols(tmp[i], r, k, cx[0], out[ny - nb + i])
    return out


_ROWS_PER_TASK = 16


@njit(cache=True)
def _column_offsets(mask, g, big):
    """g[y, x] = rows from (y, x) to the nearest True cell of column x (``big`` if none):
    a forward and a backward sweep over whole rows (contiguous, branch-free, vectorised)."""
    ny, nx = mask.shape
    g0 = g[0]
    m0 = mask[0]
    for x in range(nx):
        g0[x] = 0 if m0[x] else big
    for y in range(1, ny):
        gp = g[y - 1]
        gy = g[y]
        my = mask[y]
        for x in range(nx):
            a = min(big, gp[x] + 1)
            gy[x] = 0 if my[x] else a
    for y in range(ny - 2, -1, -1):
        gb = g[y + 1]
        gy = g[y]
        for x in range(nx):
            gy[x] = min(gy[x], gb[x] + 1)


@njit(cache=True)
def _envelope(grow, nx, big, exact, v, h):
    """Lower envelope of the parabolas ``(x - q)^2 + g(q)^2`` of one row; returns its size k.

    ``v``/``h`` get the columns and the integers ``g(q)^2 + q^2`` of the envelope. A new
    parabola q pops the top p (above r) when its intersection with p is <= that of p with r;
    with ``exact`` the two quotients are compared by cross-multiplying the integers, which
    gives the same answer as comparing their correctly rounded doubles (the kernel checks
    the grid is small enough for that); otherwise the doubles are compared as they are.
    """
    k = 0
    for q in range(nx):
        gq = np.int64(grow[q])
        if gq >= big:
            continue
        hq = gq * gq + q * q
        while k >= 2:
            p = v[_U(k - 1)]
            hp = h[_U(k - 1)]
            r = v[_U(k - 2)]
            hr = h[_U(k - 2)]
            if exact:
                pop = (hq - hp) * (p - r) <= (hp - hr) * (q - p)
            else:
                pop = (float(hq) - float(hp)) / (2.0 * (q - p)) <= (float(hp) - float(hr)) / (
                    2.0 * (p - r)
                )
            if pop:
                k -= 1
            else:
                break
        v[_U(k)] = q
        h[_U(k)] = hq
        k += 1
    return k


@njit(cache=True)
def _segment_end(h, v, j, k, nx):
    """End (exclusive) of the columns parabola j of the envelope owns: parabola j owns the
    columns x with z_j < x <= z_{j+1}, z_{j+1} its intersection with parabola j + 1 (the
    double the reference kernel compares x with), so up to floor(z_{j+1}) + 1."""
    if j + 1 < k:
        z = float(h[_U(j + 1)] - h[_U(j)]) / (2.0 * (v[_U(j + 1)] - v[_U(j)]))
        if z < 0.0:
            return 0
        if z >= nx:
            return nx
        return np.int64(z) + 1
    return nx


@njit(cache=True)
def _row(grow, orow, nx, big, exact, cell_size, divisor, v, h, xs):
    """Lower envelope of the parabolas ``(x - q)^2 + g(q)^2`` of one row (:func:`_envelope`),
    then the output, one envelope segment at a time."""
    k = _envelope(grow, nx, big, exact, v, h)
    if k == 0:
        for x in range(nx):
            orow[x] = np.inf
        return
    start = 0
    for j in range(k):
        q = v[_U(j)]
        end = _segment_end(h, v, j, k, nx)
        if end > start:
            _segment_out(orow, start, end, grow[_U(q)], q, cell_size, divisor, xs)
            start = end


@njit(cache=True)
def _segment_out(orow, start, end, gq, q, cell_size, divisor, xs):
    """The output of cells ``start .. end - 1`` of a row, whose nearest feature is column q,
    ``gq`` rows away: ``sqrt((dy s)^2 + (dx s)^2) / divisor``."""
    dy = np.int64(gq) * cell_size
    dy2 = dy * dy
    fq = float(q)
    for x in range(start, end):
        dx = (xs[_U(x)] - fq) * cell_size  # == (x - q) * cell_size, exactly
        orow[_U(x)] = np.sqrt(dy2 + dx * dx) / divisor


@njit(cache=True, parallel=True)
def _transform(mask, g, cell_size, divisor, exact):
    """:func:`distance_transform` with the column offsets in ``g`` (int16 or int32, the
    mask's shape) and ``exact`` telling :func:`_row` to compare intersections as integers."""
    ny, nx = mask.shape
    big = ny + nx + 1  # more than any in-grid offset
    _column_offsets(mask, g, g.dtype.type(big))
    out = np.empty((ny, nx))
    xs = np.arange(nx).astype(np.float64)
    ntask = (ny + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for t in prange(ntask):  # blocks of whole rows: same result with any number of threads
        v = np.empty(nx, dtype=np.int64)
        h = np.empty(nx, dtype=np.int64)
        for y in range(t * _ROWS_PER_TASK, min(ny, (t + 1) * _ROWS_PER_TASK)):
            _row(g[y], out[y], nx, big, exact, cell_size, divisor, v, h, xs)
    return out


@njit(cache=True)
def distance_transform(mask, cell_size, divisor):
    """Euclidean distance (same unit as ``cell_size``) from each cell to the nearest True
    cell of a 2-D mask (``inf`` when the mask is empty).

    Felzenszwalb & Huttenlocher's (2012) exact two-pass transform: the distance along each
    column to the nearest feature (int16 when the grid allows, else int32: less memory
    traffic), then for each row the lower envelope of the parabolas ``(x - q)^2 + g(q)^2``,
    built with integer arithmetic (no division per parabola) and written out one envelope
    segment at a time. The winning offsets ``(dy, dx)`` give ``sqrt((dy s)^2 + (dx s)^2)``,
    the expression ``scipy.ndimage.distance_transform_edt`` evaluates, divided by
    ``divisor`` (1.0 for the unit of ``cell_size``; 1000.0 turns metres into km with the
    bits of a division of the whole array). Ties between nearest cells go to the smallest
    column, as in the float version of the envelope, so the bits are the same. Rows are
    independent in the second pass (processed in fixed blocks of rows), so the parallel loop
    gives the same result with any number of threads.

    References
    ----------
    Felzenszwalb, P. F. & Huttenlocher, D. P. (2012). Distance transforms of sampled
    functions. *Theory of Computing* 8, 415-428. doi:10.4086/toc.2012.v008a019
    """
    ny, nx = mask.shape
    # Two different quotients a = (hq - hp) / 2(q - p), b = (hp - hr) / 2(p - r) differ by at
    # least 1 / (4 m^2) and are at most ((ny - 1)^2 + m^2) / 2 in size (m = nx - 1), so they
    # round to different doubles, and cross-multiplied integers decide as the doubles do,
    # while 2 m^2 ((ny - 1)^2 + m^2) < 2^52 (up to about 5,800 x 5,800 cells).
    m = float(max(nx - 1, 1))
    exact = 2.0 * m * m * (float(ny - 1) ** 2 + m * m) < 2.0**52
    if ny + nx + 2 < 32767:
        return _transform(mask, np.empty((ny, nx), dtype=np.int16), cell_size, divisor, exact)
    return _transform(mask, np.empty((ny, nx), dtype=np.int32), cell_size, divisor, exact)


# --- the same transform kept up to date as the mask gains cells ------------------------------

_ROW_WORK = 16  # the searches of a row, in cells of a run (about their relative cost)


@njit(cache=True)
def _row_state(grow, orow, qrow, nx, big, exact, cell_size, divisor, v, h, xs):
    """:func:`_row` (same envelope, same output expression) that also writes each cell's
    winning column into ``qrow``. The mask must not be empty (every row has an envelope)."""
    k = _envelope(grow, nx, big, exact, v, h)
    start = 0
    for j in range(k):
        q = v[_U(j)]
        end = _segment_end(h, v, j, k, nx)
        if end > start:
            _segment_out(orow, start, end, grow[_U(q)], q, cell_size, divisor, xs)
            for x in range(start, end):
                qrow[_U(x)] = q
            start = end


@njit(cache=True, parallel=True)
def _transform_state(mask, g, cell_size, divisor, out, qcol):
    """:func:`_transform` (integer envelope) with :func:`_row_state`: the output into
    ``out``, the winning columns into ``qcol``."""
    ny, nx = mask.shape
    big = ny + nx + 1
    _column_offsets(mask, g, g.dtype.type(big))
    xs = np.arange(nx).astype(np.float64)
    ntask = (ny + _ROWS_PER_TASK - 1) // _ROWS_PER_TASK
    for t in prange(ntask):
        v = np.empty(nx, dtype=np.int64)
        h = np.empty(nx, dtype=np.int64)
        for y in range(t * _ROWS_PER_TASK, min(ny, (t + 1) * _ROWS_PER_TASK)):
            _row_state(g[y], out[y], qcol[y], nx, big, True, cell_size, divisor, v, h, xs)


@njit(cache=True)
def distance_transform_state(mask, cell_size, divisor, out, qcol):
    """:func:`distance_transform` of a non-empty mask into ``out``, and each cell's winning
    column (the column of the nearest feature the transform chose) into ``qcol``: the state
    :func:`distance_transform_add` updates. The caller checks the grid is small enough for
    the integer envelope and for its column type."""
    ny, nx = mask.shape
    if ny + nx + 2 < 32767:
        _transform_state(mask, np.empty((ny, nx), dtype=np.int16), cell_size, divisor, out, qcol)
    else:
        _transform_state(mask, np.empty((ny, nx), dtype=np.int32), cell_size, divisor, out, qcol)


@njit(cache=True)
def _gain(orow, x, fx, c0, kk):
    """``h(x) = D(x) - c(x)`` on one row: the cell's squared distance to its nearest feature
    (read back from the output: ``t = out divisor / cell_size``, ``t^2`` is the integer D to
    within a few units in the last place, so rounding is exact while D < 2^31) less its
    squared distance ``(x - fx)^2 + c0`` to the new feature."""
    t = orow[_U(x)] * kk
    dx = x - fx
    return np.int64(t * t + 0.5) - dx * dx - c0


@njit(cache=True)
def _pred(orow, x, mode, fx, c0, kk):
    """The monotone tests the searches of :func:`_add_row` make at x: h stops rising
    (mode 0: ``h(x + 1) <= h(x)``; 1: ``<``), h >= 0 (2), h < 0 (3)."""
    if mode >= 2:
        return (_gain(orow, x, fx, c0, kk) >= 0) == (mode == 2)
    d = _gain(orow, x + 1, fx, c0, kk) - _gain(orow, x, fx, c0, kk)
    return d < 0 or (d == 0 and mode == 0)


@njit(cache=True)
def _first_true(orow, lo, hi, hint, mode, fx, c0, kk):
    """The first x in ``lo .. hi - 1`` where :func:`_pred` holds (false, then true along the
    row), else hi: a galloping search from ``hint`` (the answer of the row before, usually a
    few cells away), then a binary search in the bracket found."""
    if lo >= hi:
        return hi
    x = min(max(hint, lo), hi - 1)
    step = 1
    if _pred(orow, x, mode, fx, c0, kk):
        r = x  # holds at r: the answer is in lo .. r
        while True:
            lft = r - step
            if lft < lo:
                lft = lo - 1
                break
            if not _pred(orow, lft, mode, fx, c0, kk):
                break
            r = lft
            step *= 2
    else:
        lft = x  # fails at lft: the answer is in lft + 1 .. hi
        while True:
            r = lft + step
            if r >= hi:
                r = hi
                break
            if _pred(orow, r, mode, fx, c0, kk):
                break
            lft = r
            step *= 2
    lo = lft + 1
    while lo < r:
        mid = (lo + r) >> 1
        if _pred(orow, mid, mode, fx, c0, kk):
            r = mid
        else:
            lo = mid + 1
    return r


@njit(cache=True)
def _may_reach(orow, qrow, x, fx, c0, kk):
    """Whether h can be >= 0 somewhere on the real segment ``[x, x + 1]`` of the row, where
    h < 0 at both ends. The feature each end's cell is nearest to gives a line above h
    (through h at that end, slope ``2 (fx - q)``); the lower of the two lines is largest at
    their crossing, tested in integers."""
    h0 = _gain(orow, x, fx, c0, kk)
    h1 = _gain(orow, x + 1, fx, c0, kk)
    a1 = 2 * (fx - np.int64(qrow[_U(x)]))
    a2 = 2 * (fx - np.int64(qrow[_U(x + 1)]))
    num = h1 - a2 - h0  # the lines cross at s = num / den of the segment
    den = a1 - a2
    if den < 0:
        num = -num
        den = -den
    if den == 0 or num <= 0 or num >= den:
        return False
    return h0 * den + a1 * num >= 0


@njit(cache=True)
def _add_row(orow, qrow, nx, fx, c0, yc2, cell_size, divisor, kk, hints):
    """One row against a new feature in column fx (``c0`` its squared row offset, ``yc2``
    the square of that offset times the cell size). h is concave along the row (a minimum
    of functions linear in x: ``|p - s|^2 - |p - f|^2`` for each old feature s), so the
    cells with h >= 0 are one run, found by searches (:func:`_first_true`) for h's maximum
    and then the run's ends, from ``hints`` (those of the row before, updated); of the run,
    the cells with h > 0, or h = 0 and fx left of their winning column, take the new
    feature (:func:`_take_run`). Returns the run's length, or -1 when no real point of the
    row (within the grid) is as near to the new feature as to the old ones: as those points
    form a convex set around the new feature, rows farther from it have none either."""
    xs = _first_true(orow, 0, nx - 1, hints[0], 0, fx, c0, kk)
    hints[0] = xs
    if _gain(orow, xs, fx, c0, kk) < 0:
        # h's real maximum is within one cell of its integer maxima xs .. xl (h is concave,
        # and at most its maximum on unit segments between three cells of equal h)
        xl = _first_true(orow, xs, nx - 1, xs, 1, fx, c0, kk)
        for x in (xs - 1, xs, xl - 1, xl):
            if 0 <= x < nx - 1 and _may_reach(orow, qrow, x, fx, c0, kk):
                return 0
        return -1
    left = _first_true(orow, 0, xs, hints[1], 2, fx, c0, kk)  # h rises up to xs
    right = _first_true(orow, xs, nx, hints[2], 3, fx, c0, kk)  # and does not after
    hints[1] = left
    hints[2] = right
    _take_run(orow, qrow, left, right, fx, c0, yc2, cell_size, divisor, kk)
    return right - left


@njit(cache=True)
def _take_run(orow, qrow, xa, xb, fx, c0, yc2, cell_size, divisor, kk):
    """Cells ``xa .. xb - 1`` (h >= 0) take the new feature where h > 0, or h = 0 and fx is
    left of their winning column. Branch-free, so it vectorises: h is ``t^2 - c`` in
    doubles (D - c to within a tiny fraction, so ``> 0.5`` is h > 0 and ``> -0.5`` is
    h >= 0), each cell's candidate output is computed and the better ones stored."""
    for x in range(xa, xb):
        dx = x - fx
        old = orow[_U(x)]
        t = old * kk
        e = t * t - float(dx * dx + c0)
        qx = qrow[_U(x)]
        better = (e > 0.5) | ((e > -0.5) & (fx < qx))
        xc = float(dx) * cell_size  # == (x - q) * cell_size as _row computes it
        v = np.sqrt(yc2 + xc * xc) / divisor
        orow[_U(x)] = v if better else old
        qrow[_U(x)] = fx if better else qx


@njit(cache=True)
def distance_transform_add(cells, cell_size, divisor, out, qcol, budget):
    """Update the output and winning columns of :func:`distance_transform_state` in place
    for a mask that gained the cells ``cells`` (flat indices, none already in the mask).

    Returns how many of the cells were added: all of them, or fewer when the work (cells
    of the runs, plus ``_ROW_WORK`` per row searched) passed ``budget`` after that many,
    which leaves the state of the mask with just those cells added (the caller then runs
    the full transform instead).

    As in Lau, Sprunk & Burgard's (2010) dynamic distance maps, each cell keeps which
    feature is nearest (here its column; the squared distance D is read back from the
    output), and a new feature f only lowers the cells it is now nearest to: those where
    ``h = D - |p - f|^2 >= 0``. Instead of their wavefront (a grid's discrete Voronoi regions
    need not be connected, and ties must be decided by column, not by arrival), each row is
    searched: h is a minimum of functions linear in p, so it is concave, the cells with
    h >= 0 are one run per row (:func:`_add_row`), and the real points with h >= 0 form a
    convex region, so the rows are visited outwards from f until one has none. A cell takes
    f when h > 0, or h = 0 and f's column is left of its winning column (the full
    transform's tie rule: the smallest column among the nearest features); its output is the
    expression of :func:`_row` on the new offsets. Each addition keeps the invariant (D the
    least squared distance, the column the smallest among the nearest), so the result is
    the full transform of the new mask, bit for bit, in any order of the cells.

    References
    ----------
    Lau, B., Sprunk, C. & Burgard, W. (2010). Improved updating of Euclidean distance maps
    and Voronoi diagrams. *IEEE/RSJ International Conference on Intelligent Robots and
    Systems (IROS)*, 281-286.
    """
    ny, nx = out.shape
    kk = divisor / cell_size
    hints = np.empty(3, dtype=np.int64)
    work = 0
    for i in range(cells.size):
        if work > budget:
            return i
        f = cells[i]
        fy = f // nx
        fx = f - fy * nx
        hints[:] = fx
        work += _ROW_WORK + _add_row(
            out[fy], qcol[fy], nx, fx, 0, 0.0, cell_size, divisor, kk, hints
        )
        h0, h1, h2 = hints[0], hints[1], hints[2]
        for step in (-1, 1):  # rows fy - 1, fy - 2, ..., then fy + 1, fy + 2, ...
            hints[0] = h0
            hints[1] = h1
            hints[2] = h2
            y = fy + step
            while 0 <= y < ny:
                dy = abs(y - fy)
                yc = np.int64(dy) * cell_size
                run = _add_row(
                    out[y], qcol[y], nx, fx, dy * dy, yc * yc, cell_size, divisor, kk, hints
                )
                work += _ROW_WORK + run
                if run < 0:
                    break
                y += step
    return cells.size


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


@njit(cache=True, parallel=True)
def row_totals(a):
    """``a.sum(axis=1)`` of a 2-D integer array with few columns, in its own dtype, one pass
    (rows in parallel)."""
    n, k = a.shape
    out = np.zeros(n, dtype=a.dtype)
    f = a.ravel()
    if k == 5:
        for ii in prange(n):
            i = _U(ii)
            j = i * _U(5)
            out[i] = f[j] + f[j + _U(1)] + f[j + _U(2)] + f[j + _U(3)] + f[j + _U(4)]
        return out
    for ii in prange(n):
        i = _U(ii)
        j = i * _U(k)
        t = f[j]
        for g in range(_U(1), _U(k)):
            t += f[j + g]
        out[i] = t
    return out
