"""Kernels of the model's yearly measurement (:meth:`metrosim.MetroModel._measure`).

Nothing is checked here: the model's arrays are valid by construction, and the public
functions of :mod:`metrosim.metrics` validate their input before they reach the same
arithmetic. Every kernel performs the floating-point operations of the numpy expression it
replaces in the same order, so the yearly figures are bit for bit those of the numpy code
(the tests compare them). Transcendental functions (``log``, ``log1p``) stay in numpy.
"""

import numpy as np
from numba import njit

#: numpy's block size for pairwise summation (``PW_BLOCKSIZE`` in ``loops_utils.h``).
_PW_BLOCK = 128


@njit(cache=True)
def _block_sum(a, n):
    """numpy's pairwise sum (``pairwise_sum_DOUBLE``) of ``a[:n]`` for ``n <= 128``: one
    block, eight interleaved accumulators, the rest added in turn; the same rounding."""
    if n < 8:
        res = 0.0
        for i in range(n):
            res += a[i]
        return res
    r0 = a[0]
    r1 = a[1]
    r2 = a[2]
    r3 = a[3]
    r4 = a[4]
    r5 = a[5]
    r6 = a[6]
    r7 = a[7]
    m = n - n % 8
    i = 8
    while i < m:
        r0 += a[i]
        r1 += a[i + 1]
        r2 += a[i + 2]
        r3 += a[i + 3]
        r4 += a[i + 4]
        r5 += a[i + 5]
        r6 += a[i + 6]
        r7 += a[i + 7]
        i += 8
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    while i < n:
        res += a[i]
        i += 1
    return res


@njit(cache=True)
def sparse_sum(idx, vals, n):
    """``np.sum(dense)`` of the length-``n`` float64 array that holds ``vals`` at the sorted
    positions ``idx`` and +0 elsewhere, with numpy's pairwise rounding.

    numpy halves a range longer than one block (128) at a multiple of 8 and adds the two
    halves' sums. This walks the same tree (with an explicit stack: numba cannot cache
    recursive functions), skips every range without an entry (its sum is +0, and
    ``x + 0.0 == x``) and rebuilds a block with entries densely. The cost is proportional
    to ``idx.size`` plus the depth of the tree, not to ``n``.
    """
    if n == 0:
        return 0.0
    buf = np.empty(_PW_BLOCK)
    depth = 64  # the tree of an array of 2**63 elements is shallower
    f_lo = np.empty(depth, dtype=np.int64)
    f_n = np.empty(depth, dtype=np.int64)
    f_p0 = np.empty(depth, dtype=np.int64)
    f_p1 = np.empty(depth, dtype=np.int64)
    f_pm = np.empty(depth, dtype=np.int64)
    f_stage = np.empty(depth, dtype=np.int64)
    vals_stack = np.empty(depth + 1)
    nv = 0
    f_lo[0] = 0
    f_n[0] = n
    f_p0[0] = 0
    f_p1[0] = idx.size
    f_stage[0] = 0
    top = 1
    while top > 0:
        t = top - 1
        lo = f_lo[t]
        m = f_n[t]
        p0 = f_p0[t]
        p1 = f_p1[t]
        stage = f_stage[t]
        if stage == 0:
            if p0 == p1 or m <= _PW_BLOCK:
                v = 0.0
                if p0 != p1:
                    for i in range(m):
                        buf[i] = 0.0
                    for p in range(p0, p1):
                        buf[idx[p] - lo] = vals[p]
                    v = _block_sum(buf, m)
                vals_stack[nv] = v
                nv += 1
                top -= 1
                continue
            m2 = m // 2
            m2 -= m2 % 8
            pm = p0
            while pm < p1 and idx[pm] < lo + m2:
                pm += 1
            f_pm[t] = pm
            f_stage[t] = 1
            f_lo[top] = lo
            f_n[top] = m2
            f_p0[top] = p0
            f_p1[top] = pm
            f_stage[top] = 0
            top += 1
        elif stage == 1:
            m2 = m // 2
            m2 -= m2 % 8
            f_stage[t] = 2
            f_lo[top] = lo + m2
            f_n[top] = m - m2
            f_p0[top] = f_pm[t]
            f_p1[top] = p1
            f_stage[top] = 0
            top += 1
        else:
            right = vals_stack[nv - 1]
            left = vals_stack[nv - 2]
            nv -= 2
            vals_stack[nv] = left + right
            nv += 1
            top -= 1
    return 0.0 + vals_stack[0]


@njit(cache=True)
def _others_row(c, i, o):
    """``o[:] = _others(c)[i]``: numpy's exclusive prefix sum plus suffix sum, in its order."""
    k = c.shape[1]
    o[0] = 0.0
    acc = 0.0
    for g in range(1, k):
        acc = c[i, 0] if g == 1 else acc + c[i, g - 1]
        o[g] = acc
    acc = 0.0
    for j in range(k - 1):  # right[j] = c[k-1] + ... + c[k-1-j], added to o[k-2-j]
        acc = c[i, k - 1] if j == 0 else acc + c[i, k - 1 - j]
        o[k - 2 - j] += acc


@njit(cache=True)
def region_totals(c, reg, n_reg):
    """``Nr[r, g]``: the counts of the rows of region ``r`` (whole numbers: exact)."""
    n, k = c.shape
    out = np.zeros((n_reg, k))
    for i in range(n):
        for g in range(k):
            out[reg[i], g] += c[i, g]
    return out


@njit(cache=True)
def segregation_terms(c, t, N, N_other, reg, Nr, Nr_other):
    """The per-unit terms of the model's aspatial indices, in numpy's operations and order.

    Returns ``|n O - o N|`` per unit and group (multigroup dissimilarity), the argument of
    ``log1p`` of the within-region relative entropy (``kl_ratio``: ``(n O_r - o N_r) /
    ((o + n) N_r)`` where ``n > 0``, else 0, against the unit's region ``reg``), the terms
    ``|a / A - b / B|`` of the first and last group over the units where either lives
    (dissimilarity), and ``x^2 / t`` of the first and last group per unit (isolation).
    ``o`` are the other groups' counts of a unit (``_others``).
    """
    n, k = c.shape
    mterm = np.empty((n, k))
    ratio = np.zeros((n, k))
    dterm = np.empty(n)
    iso = np.empty((2, n))
    o = np.empty(k)
    a_tot = N[0]
    b_tot = N[k - 1]
    nd = 0
    for i in range(n):
        _others_row(c, i, o)
        r = reg[i]
        for g in range(k):
            x = c[i, g]
            mterm[i, g] = abs(x * N_other[g] - o[g] * N[g])
            if x > 0:
                num = x * Nr_other[r, g] - o[g] * Nr[r, g]
                ratio[i, g] = num / ((o[g] + x) * Nr[r, g])
        a = c[i, 0]
        b = c[i, k - 1]
        if a + b > 0:
            dterm[nd] = abs(a / a_tot - b / b_tot)
            nd += 1
        iso[0, i] = a * a / t[i]
        iso[1, i] = b * b / t[i]
    return mterm, ratio, dterm[:nd].copy(), iso


@njit(cache=True)
def weighted_row_sums(x, c):
    """``(x * c).sum(axis=1)``: each row added left to right, as numpy reduces a short axis."""
    n, k = x.shape
    out = np.empty(n)
    for i in range(n):
        s = x[i, 0] * c[i, 0]
        for g in range(1, k):
            s += x[i, g] * c[i, g]
        out[i] = s
    return out


@njit(cache=True)
def column_sums(c):
    """``c.sum(axis=0)`` of a 2-D C-ordered array: the rows added one after another, as
    numpy reduces the first axis of such an array with two or more columns (the same bits;
    a single column numpy sums pairwise; whole numbers are exact in any order)."""
    n, k = c.shape
    out = np.zeros(k)
    for i in range(n):
        for g in range(k):
            out[g] += c[i, g]
    return out


@njit(cache=True)
def grid_pass(
    land_use,
    urban_start,
    occupancy,
    commune_of_cell,
    n_communes,
    urban_lut,
    res_lo,
    res_hi,
    rent,
    persons,
    capacity,
    park,
    schools,
    clinics,
    counts,
    rank,
):
    """One pass over the grid for the year's measurement.

    Returns

    - the urban mask (``urban_lut[land_use]``) and the urban cells (ascending);
    - the occupied cells (ascending), their households by group (float64) and their
      occupied dwellings;
    - the rank of each occupied cell among the urban, the residential
      (``res_lo <= land_use <= res_hi``) and the new urban cells (urban, not in
      ``urban_start``), -1 when it is not one, and the numbers of those cells;
    - the total capacity (int);
    - per commune (rows) the urban cells, occupied dwellings, rent times occupied dwellings,
      persons (occupied dwellings times ``persons``), park area, schools and clinics, as
      float.

    The per-commune sums add the cells in cell order, as ``np.bincount`` does, skipping
    only terms that are +0, so they equal ``np.bincount`` over the region's cells exactly.

    ``counts`` (float64, ``(n, n_groups)``) and ``rank`` (int64, ``(n, 3)``) are scratch,
    allocated by the caller with numpy (huge pages: only the occupied cells' rows are
    touched, and in 4 KiB pages the faults cost more than the pass); the occupied rows are
    returned as copies.
    """
    n, n_g = occupancy.shape
    urban = np.empty(n, dtype=np.bool_)
    idx = np.empty(n, dtype=np.int64)
    dwellings = np.empty(n, dtype=occupancy.dtype)
    by_commune = np.zeros((7, n_communes))
    urban_cells = np.empty(n, dtype=np.int64)
    n_u = 0
    n_r = 0
    n_new = 0
    k = 0
    cap = 0
    for c in range(n):
        lu = land_use[c]
        u = urban_lut[lu]
        urban[c] = u
        res = lu >= res_lo and lu <= res_hi
        new = u and not urban_start[c]
        cap += capacity[c]
        com = commune_of_cell[c]
        tot = occupancy[c, 0]
        for g in range(1, n_g):
            tot += occupancy[c, g]
        if tot != 0:
            idx[k] = c
            dwellings[k] = tot
            for g in range(n_g):
                counts[k, g] = occupancy[c, g]
            rank[k, 0] = n_u if u else -1
            rank[k, 1] = n_r if res else -1
            rank[k, 2] = n_new if new else -1
            k += 1
            if com >= 0:
                by_commune[1, com] += tot
                by_commune[2, com] += rent[c] * tot
                by_commune[3, com] += tot * persons
        if com >= 0:
            if park[c] != 0:
                by_commune[4, com] += park[c]
            if schools[c] != 0:
                by_commune[5, com] += schools[c]
            if clinics[c] != 0:
                by_commune[6, com] += clinics[c]
        if u:
            urban_cells[n_u] = c
            n_u += 1
            if com >= 0:
                by_commune[0, com] += 1.0
        if res:
            n_r += 1
        if new:
            n_new += 1
    n_cells = np.array([n_u, n_r, n_new])
    return (
        urban,
        urban_cells[:n_u].copy(),
        idx[:k].copy(),
        counts[:k].copy(),
        dwellings[:k].copy(),
        rank[:k].copy(),
        n_cells,
        cap,
        by_commune,
    )


@njit(cache=True)
def rook_neighbours(idx, ny, nx):
    """Rook neighbours among the sorted cells ``idx`` of an ``(ny, nx)`` grid.

    Returns ``(nb, n_nb)``: ``nb[i]`` the positions in ``idx`` of the cell above, below,
    left and right of ``idx[i]`` (-1 when that cell is not listed or off the grid) and
    ``n_nb[i]`` how many there are.
    """
    n = idx.size
    nb = np.full((n, 4), -1, dtype=np.int64)
    n_nb = np.zeros(n, dtype=np.int64)
    up = 0
    down = 0
    for i in range(n):
        c = idx[i]
        x = c % nx
        if c >= nx:
            t = c - nx
            while idx[up] < t:
                up += 1
            if idx[up] == t:
                nb[i, 0] = up
                n_nb[i] += 1
        if c + nx < ny * nx:
            t = c + nx
            while down < n and idx[down] < t:
                down += 1
            if down < n and idx[down] == t:
                nb[i, 1] = down
                n_nb[i] += 1
        if x > 0 and i > 0 and idx[i - 1] == c - 1:
            nb[i, 2] = i - 1
            n_nb[i] += 1
        if x < nx - 1 and i + 1 < n and idx[i + 1] == c + 1:
            nb[i, 3] = i + 1
            n_nb[i] += 1
    return nb, n_nb


@njit(cache=True)
def moran_cross_terms(z, nb, n_nb):
    """``z * lag / n_nb`` of every cell with a neighbour, in order, where ``lag`` adds the
    neighbours' ``z`` in the order above, below, left, right, as ``morans_i`` does."""
    n = z.size
    out = np.empty(n)
    k = 0
    for i in range(n):
        if n_nb[i] == 0:
            continue
        lag = 0.0
        for j in range(4):
            q = nb[i, j]
            if q >= 0:
                lag += z[q]
        out[k] = z[i] * lag / n_nb[i]
        k += 1
    return out[:k].copy()


@njit(cache=True)
def _find(parent, i):
    """Root of ``i`` in a union-find forest, halving the path on the way."""
    while parent[i] != i:
        parent[i] = parent[parent[i]]
        i = parent[i]
    return i


@njit(cache=True)
def _components8(cells, member, ny, nx):
    """8-connected components of the sorted flat ``cells`` (all with ``member`` True).

    Returns the component of each cell, numbered 0.. in the order of their first cell,
    and the number of components.
    """
    m = cells.size
    pos = np.empty(ny * nx, dtype=np.int64)  # only read where ``member`` is True
    parent = np.arange(m)
    for i in range(m):
        c = cells[i]
        pos[c] = i
        y = c // nx
        x = c - y * nx
        # the neighbours visited before: west, north-west, north, north-east
        if x > 0 and member[c - 1]:
            a, b = _find(parent, i), _find(parent, pos[c - 1])
            if a != b:
                parent[max(a, b)] = min(a, b)
        if y > 0:
            for dx in (-1, 0, 1):
                xx = x + dx
                if 0 <= xx < nx:
                    q = c - nx + dx
                    if member[q]:
                        a, b = _find(parent, i), _find(parent, pos[q])
                        if a != b:
                            parent[max(a, b)] = min(a, b)
    comp = np.empty(m, dtype=np.int64)
    label = np.full(m, -1, dtype=np.int64)
    n = 0
    for i in range(m):
        r = _find(parent, i)
        if label[r] < 0:
            label[r] = n
            n += 1
        comp[i] = label[r]
    return comp, n


@njit(cache=True)
def urban_patches(cells, urban, ny, nx):
    """Sizes and perimeters (cell sides facing non-urban land or the grid's edge) of the
    8-connected patches of the sorted urban ``cells`` (``urban`` the grid's mask)."""
    comp, n = _components8(cells, urban, ny, nx)
    sizes = np.zeros(n, dtype=np.int64)
    perims = np.zeros(n, dtype=np.int64)
    for i in range(cells.size):
        c = cells[i]
        y = c // nx
        x = c - y * nx
        e = 0
        if y == 0 or not urban[c - nx]:
            e += 1
        if y == ny - 1 or not urban[c + nx]:
            e += 1
        if x == 0 or not urban[c - 1]:
            e += 1
        if x == nx - 1 or not urban[c + 1]:
            e += 1
        sizes[comp[i]] += 1
        perims[comp[i]] += e
    return sizes, perims


@njit(cache=True)
def new_growth(cells, urban, prev, ny, nx):
    """Classify the urban ``cells`` that are not in ``prev`` (the new urban cells).

    Returns the new cells, whether each lies in a hole of ``prev`` (a 4-connected
    component of non-``prev`` cells that does not touch the grid's edge, i.e. inside the
    filled footprint) and whether each belongs to a leapfrog patch (an 8-connected patch of
    new cells none of which is in a hole or 8-adjacent to a ``prev`` cell).

    A hole is found by a flood fill from the new cell through non-``prev`` cells; it
    escapes on reaching the grid's edge or leaving the bounding box of ``prev`` (any cell
    outside that box reaches the edge in a straight line). Filled cells remember the
    answer, so no cell is filled twice.
    """
    n_all = ny * nx
    k = 0
    for i in range(cells.size):
        if not prev[cells[i]]:
            k += 1
    new = np.empty(k, dtype=np.int64)
    k = 0
    for i in range(cells.size):
        if not prev[cells[i]]:
            new[k] = cells[i]
            k += 1
    in_hole = np.zeros(k, dtype=np.bool_)
    leap = np.zeros(k, dtype=np.bool_)
    if k == 0:
        return new, in_hole, leap
    # bounding box of prev
    y0, y1, x0, x1 = ny, -1, nx, -1
    for c in range(n_all):
        if prev[c]:
            y = c // nx
            x = c - y * nx
            y0 = min(y0, y)
            y1 = max(y1, y)
            x0 = min(x0, x)
            x1 = max(x1, x)
    state = np.zeros(n_all, dtype=np.int8)  # 0 unknown, 1 reaches the edge, 2 hole, 3 queued
    stack = np.empty(0, dtype=np.int64)
    for i in range(k):
        c0 = new[i]
        if state[c0] == 0:
            if stack.size == 0:
                stack = np.empty(n_all, dtype=np.int64)
            top = 0
            seen = 0  # stack[:seen] holds every cell queued so far
            stack[0] = c0
            state[c0] = 3
            seen = 1
            escaped = False
            while top < seen and not escaped:
                c = stack[top]
                top += 1
                y = c // nx
                x = c - y * nx
                if y == 0 or y == ny - 1 or x == 0 or x == nx - 1:
                    escaped = True
                    break
                if y <= y0 or y >= y1 or x <= x0 or x >= x1:
                    escaped = True  # on or outside the box's border: a straight way out
                    break
                for q in (c - nx, c + nx, c - 1, c + 1):
                    if prev[q]:
                        continue
                    s = state[q]
                    if s == 1:
                        escaped = True
                        break
                    if s == 0:
                        state[q] = 3
                        stack[seen] = q
                        seen += 1
            mark = 1 if escaped else 2
            for j in range(seen):
                state[stack[j]] = mark
        in_hole[i] = state[c0] == 2
    # leapfrog: patches of new cells not touching prev (8-adjacency) nor in a hole
    is_new = np.zeros(n_all, dtype=np.bool_)
    for i in range(k):
        is_new[new[i]] = True
    comp, n = _components8(new, is_new, ny, nx)
    attached = np.zeros(n, dtype=np.bool_)
    for i in range(k):
        c = new[i]
        y = c // nx
        x = c - y * nx
        near = in_hole[i]
        for dy in (-1, 0, 1):
            for dx in (-1, 0, 1):
                yy = y + dy
                xx = x + dx
                if 0 <= yy < ny and 0 <= xx < nx and prev[yy * nx + xx]:
                    near = True
        if near:
            attached[comp[i]] = True
    for i in range(k):
        leap[i] = not attached[comp[i]]
    return new, in_hole, leap


@njit(cache=True)
def _pairwise_descend(f_n, f_stage, top):
    """Split the range on top of the stack down to its first block (numpy's pairwise tree:
    halves at a multiple of 8 while longer than 128); return the new top."""
    while f_n[top - 1] > _PW_BLOCK:
        t = top - 1
        m2 = f_n[t] // 2
        m2 -= m2 % 8
        f_stage[t] = 1  # left half in progress
        f_n[top] = m2
        f_stage[top] = 0
        top += 1
    return top


@njit(cache=True)
def _pairwise_next(f_n, f_stage, vals_stack, nv, top):
    """After a block's sum is pushed and its range popped: add up every finished pair and
    go down to the next block. Returns ``(nv, top, size of the next block or 0 when the
    tree is done)``."""
    while top > 0:
        t = top - 1
        if f_stage[t] == 1:
            m = f_n[t]
            m2 = m // 2
            m2 -= m2 % 8
            f_stage[t] = 2  # right half in progress
            f_n[top] = m - m2
            f_stage[top] = 0
            top = _pairwise_descend(f_n, f_stage, top + 1)
            return nv, top, f_n[top - 1]
        right = vals_stack[nv - 1]
        left = vals_stack[nv - 2]
        nv -= 1
        vals_stack[nv - 1] = left + right
        top -= 1
    return nv, top, 0


@njit(cache=True)
def household_pass(
    cell, group, commune_of_cell, commute, mode, minutes, km, n_communes, n_groups, long_min
):
    """The year's one pass over the households, with no array as long as the households.

    ``mode`` (0 car, 1 public transport, 2 active, -1 no commute), ``minutes`` and ``km``
    hold one entry per household.

    Returns

    - the housed households by commune and group (int64);
    - the number of housed households (``cell >= 0``) and the sum of the commute minutes of
      their cells, ``np.sum(commute[cell[cell >= 0]])`` (household order, numpy's pairwise
      rounding) without that array; its mean is the sum over the number, as ``np.mean``
      computes it;
    - the commuting sums of :func:`metrosim._kernels.travel_modes.household_sums`, the
      same floats: by commune (commuters, car, public transport, minutes, car km), by group
      (commuters, minutes) and the number of commutes over ``long_min`` minutes.

    The pairwise sum walks numpy's tree (as :func:`sparse_sum` does) over the housed
    households, whose number is counted first: the households fill a block of the tree's
    size, whose sum is added in when it is full. The mode of a household varies at random
    from one household to the next, so it picks a column of the per-commune sums instead
    of a branch (each column receives the same additions in the same order).

    Gathering the commutes into an array as long as the households (and a second pass for
    the commuting sums) cost page faults on freshly mapped memory and cache misses that
    grew faster than the households at the largest scales (``benchmarks/README.md``).
    """
    n_h = cell.size
    n = 0
    for h in range(n_h):
        if cell[h] >= 0:
            n += 1
    by = np.zeros((n_communes, n_groups), dtype=np.int64)
    acc = np.zeros((n_communes, 8))  # commuters, by mode (3), minutes, km by mode (3)
    by_g = np.zeros((n_groups, 2))
    n_long = 0
    buf = np.empty(_PW_BLOCK)
    depth = 64  # the tree of an array of 2**63 elements is shallower
    f_n = np.empty(depth, dtype=np.int64)
    f_stage = np.empty(depth, dtype=np.int64)
    vals_stack = np.empty(depth + 1)
    nv = 0
    top = 0
    block = 0
    if n > 0:
        f_n[0] = n
        f_stage[0] = 0
        top = _pairwise_descend(f_n, f_stage, 1)
        block = f_n[top - 1]
    f = 0
    for h in range(n_h):
        c = cell[h]
        g = group[h]
        mo = mode[h]
        com = commune_of_cell[c] if c >= 0 else -1
        if mo >= 0:
            tm = minutes[h]
            n_long += 1 if tm > long_min else 0
            by_g[g, 0] += 1.0
            by_g[g, 1] += tm
            if com >= 0:
                acc[com, 0] += 1.0
                acc[com, 1 + mo] += 1.0
                acc[com, 4] += tm
                acc[com, 5 + mo] += km[h]
        if c >= 0:
            by[com, g] += 1
            buf[f] = commute[c]
            f += 1
            if f == block:
                vals_stack[nv] = _block_sum(buf, block)
                nv += 1
                nv, top, block = _pairwise_next(f_n, f_stage, vals_stack, nv, top - 1)
                f = 0
    total = 0.0 + vals_stack[0] if n > 0 else 0.0
    by_c = np.empty((n_communes, 5))
    for k in range(n_communes):
        by_c[k, 0] = acc[k, 0]
        by_c[k, 1] = acc[k, 1]
        by_c[k, 2] = acc[k, 2]
        by_c[k, 3] = acc[k, 4]
        by_c[k, 4] = acc[k, 5]
    return by, n, total, by_c, by_g, n_long
