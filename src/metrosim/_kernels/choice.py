"""Household relocation kernels (numba): vacancy Fenwick tree, mover selection, sampled logit.

Private and unchecked: every argument is assumed valid (dtypes, shapes, ranges, ``occ``
consistent with ``hh_cell``/``hh_group``, total capacity < 2**31). The public, validating entry
points and the modelling rationale (with references) are in :mod:`metrosim.choice`.

``rng`` is a ``numpy.random.Generator`` or, for a PCG64 one, its state as an array from
:func:`metrosim._kernels.pcg.stream_of` (stepped inline: the same draws, faster).

Layout: flat cell index ``c``; ``occ[c, g]`` occupied dwellings of income group ``g``;
``coefs = (b_rent_share, b_commute_per_min, b_service_per_km, b_green, b_homophily,
max_rent_share)``. All randomness comes from the ``numpy.random.Generator`` passed in (numba
draws the same stream as NumPy and advances the caller's generator).

Performance notes (hot path = ``relocate``): the Fenwick tree covers only "sites" (cells with
capacity > 0), is int32 and padded to a power of two so the descent needs no bounds test and
compiles to conditional moves; the ``n_alt`` descents of one mover run all together, level by
level (:func:`descend`), so their memory reads overlap; logit weights ``exp(V - max_c V)`` are
tabulated once per call per (site, group), so a sampled alternative costs one table read and
no ``exp``; the upper levels of the tree are descended on an
L1-sized copy (:func:`coarse_tree`); :func:`move_year` builds the tables once for both steps;
a PCG64 stream is stepped inline (:mod:`metrosim._kernels.pcg`).
"""

import numpy as np
from numba import njit

from metrosim._kernels.pcg import shuffle, uniform

# ---------------------------------------------------------------------------------------------
# Fenwick (binary indexed) tree, 1-based, padded: tree.size == N + 1 with N a power of two
# >= the number of weights (weights beyond the real ones are 0). tree[0] is unused.
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def fenwick_size(n):
    """N + 1: length of the tree array for n weights (N = smallest power of two >= n)."""
    size = 1
    while size < n:
        size *= 2
    return size + 1


@njit(cache=True)
def fenwick_build(weights, tree):
    """Fill ``tree`` (length fenwick_size(weights.size), any integer dtype) in O(N)."""
    n = tree.size - 1
    tree[:] = 0
    for i in range(weights.size):
        tree[i + 1] = weights[i]
    for i in range(1, n + 1):
        j = i + (i & -i)
        if j <= n:
            tree[j] += tree[i]


@njit(cache=True)
def fenwick_add(tree, i, delta):
    """weights[i] += delta, O(log N)."""
    n = tree.size - 1
    j = i + 1
    while j <= n:
        tree[j] += delta
        j += j & -j


@njit(cache=True)
def fenwick_prefix(tree, i):
    """sum(weights[:i]) as int64, O(log N)."""
    s = np.int64(0)
    j = i
    while j > 0:
        s += tree[j]
        j -= j & -j
    return s


@njit(cache=True)
def fenwick_find(tree, k):
    """Index i with prefix(i) <= k < prefix(i + 1), for 0 <= k < total; O(log N)."""
    pos = 0
    step = (tree.size - 1) >> 1
    while step > 0:
        t = np.int64(tree[pos + step])
        if t <= k:
            pos += step
            k -= t
        step >>= 1
    return pos


# A descent reads one node per level, each depending on the last. To keep the reads of the
# upper levels in L1, the nodes at multiples of B = 2**bits are copied to a "coarse" tree:
# coarse[j] = tree[j * B] is the Fenwick tree of the block sums of B consecutive weights
# (size N / B + 1; padded, so also a power of two plus one). A descent runs the upper levels
# on it and the last ``bits`` levels in the block's B entries of the tree (one cache line
# for B <= 16): the same arithmetic, node for node, as one descent of the tree.


@njit(cache=True)
def coarse_tree(tree):
    """(coarse, bits): the upper levels of a padded tree in ~4096 entries (see above)."""
    n = tree.size - 1
    bits = 0
    while (n >> bits) > 4096 or (bits < 3 and (n >> (bits + 1)) >= 1):
        bits += 1
    nc = n >> bits
    coarse = np.empty(nc + 1, dtype=tree.dtype)
    for j in range(nc + 1):
        coarse[j] = tree[j << bits]
    return coarse, bits


@njit(cache=True)
def fenwick_add2(tree, coarse, bits, i, delta):
    """:func:`fenwick_add` on ``tree`` and on its :func:`coarse_tree` copy."""
    n = tree.size - 1
    low = (1 << bits) - 1
    j = i + 1
    while j <= n and (j & low) != 0:
        tree[j] += delta
        j += j & -j
    while j <= n:  # from here on every node is a multiple of 2**bits
        tree[j] += delta
        coarse[j >> bits] += delta
        j += j & -j


@njit(cache=True)
def descend(coarse, tree, bits, units, sites, m):
    """:func:`fenwick_find` of ``units[:m]`` (uint64) into ``sites[:m]``, all m together.

    The descents advance level by level: each level's m reads are independent, so the
    processor overlaps their cache misses (the lower levels of a large tree miss the L2
    cache). Unsigned indices, so the indexing needs no wraparound test. Upper levels on
    ``coarse`` (a :func:`coarse_tree`), the last ``bits`` ones on ``tree`` (pass
    ``tree, tree, 0`` for one tree). ``units`` is consumed (left holding the remainders).
    """
    one = np.uint64(1)
    zero = np.uint64(0)
    for j in range(m):
        sites[j] = 0
    for phase in range(2):
        if phase == 0:
            t = coarse
            step = np.uint64((coarse.size - 1) >> 1)
        else:
            t = tree
            b = np.uint64(bits)
            for j in range(m):
                sites[j] = np.int64(np.uint64(sites[j]) << b)
            step = np.uint64((1 << bits) >> 1)
        while step > zero:
            for j in range(m):
                p = np.uint64(sites[j])
                tj = np.uint64(t[p + step])
                r = units[j]
                k = tj <= r
                sites[j] = np.int64(p + step if k else p)
                units[j] = r - tj if k else r
            step >>= one


@njit(cache=True)
def fenwick_sample(tree, total, rng, out):
    """Fill ``out`` with the indices of ``out.size`` units drawn uniformly with replacement.

    Unit k = floor(U * total) with U = rng.random() (one draw per unit, in order; relative
    bias <= total / 2**53), then the index holding it, so index i is drawn with probability
    weights[i] / total; total > 0. The descents run together (:func:`descend`).
    """
    m = out.size
    units = np.empty(m, dtype=np.uint64)
    for j in range(m):
        units[j] = np.uint64(uniform(rng) * total)
    descend(tree, tree, 0, units, out, m)


@njit(cache=True)
def sample_weights(coarse, tree, bits, total, rng, m, w, g, sites, x, units):
    """:func:`fenwick_sample` of m sites into ``sites[:m]``, and x[j] = w[sites[j], g].

    The same draws, in the same order, as ``fenwick_sample``; the upper levels are descended
    on the :func:`coarse_tree`, and the weights are read once the sites are known.
    ``sites``, ``x`` and the uint64 scratch ``units`` hold at least m entries; total > 0.
    """
    for j in range(m):
        units[j] = np.uint64(uniform(rng) * total)
    descend(coarse, tree, bits, units, sites, m)
    for j in range(m):
        x[j] = w[sites[j], g]


# ---------------------------------------------------------------------------------------------
# Utility and logit
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def utility(c, g, rent, commute, service, green, mix, income, coefs):
    """Systematic utility V of a dwelling in cell c for a household of group g."""
    return (
        coefs[0] * rent[c] / income[g]
        + coefs[1] * commute[c]
        + coefs[2] * service[c]
        + coefs[3] * green[c]
        + coefs[4] * mix[c, g]
    )


@njit(cache=True)
def logit_pick(w, m, s, r):
    """Index j < m with probability w[j] / s, s = sum(w[:m]) > 0, from r uniform in [0, 1)."""
    target = r * s
    acc = 0.0
    for j in range(m - 1):
        acc += w[j]
        if target < acc:
            return j
    return m - 1


@njit(cache=True)
def softmax_weights(val, m):
    """val[:m] <- exp(val - max(val[:m])) in place; returns their sum (>= 1)."""
    vmax = val[0]
    for j in range(1, m):
        if val[j] > vmax:
            vmax = val[j]
    s = 0.0
    for j in range(m):
        val[j] = np.exp(val[j] - vmax)
        s += val[j]
    return s


@njit(cache=True)
def sites_of(capacity):
    """(site_cell int32[n_sites], cell_site int32[n_cells], -1 where capacity == 0)."""
    n_cells = capacity.size
    n_sites = 0
    for c in range(n_cells):
        if capacity[c] > 0:
            n_sites += 1
    site_cell = np.empty(n_sites, dtype=np.int32)
    cell_site = np.full(n_cells, -1, dtype=np.int32)
    k = 0
    for c in range(n_cells):
        if capacity[c] > 0:
            site_cell[k] = c
            cell_site[c] = k
            k += 1
    return site_cell, cell_site


@njit(cache=True)
def vacancy_tree(site_cell, capacity, occ):
    """int32 Fenwick tree of vacant dwellings per site, and their total (int64)."""
    n_groups = occ.shape[1]
    vac = np.empty(site_cell.size, dtype=np.int32)
    total = np.int64(0)
    for k in range(site_cell.size):
        c = site_cell[k]
        s = capacity[c]
        for g in range(n_groups):
            s -= occ[c, g]
        vac[k] = s
        total += s
    tree = np.empty(fenwick_size(site_cell.size), dtype=np.int32)
    fenwick_build(vac, tree)
    return tree, total


@njit(cache=True)
def utility_table(site_cell, rent, commute, service, green, mix, income, coefs):
    """Utilities per site and group, and the per-group maximum.

    Returns (v float64[n_sites, G], shift float64[G]) with v[k, g] = V of a dwelling of site k
    for group g (:func:`utility`) and shift[g] = max over sites of v[:, g].
    """
    n_sites = site_cell.size
    n_groups = income.size
    v = np.empty((n_sites, n_groups), dtype=np.float64)
    shift = np.full(n_groups, -np.inf)
    for k in range(n_sites):
        c = site_cell[k]
        for g in range(n_groups):
            x = utility(c, g, rent, commute, service, green, mix, income, coefs)
            v[k, g] = x
            if x > shift[g]:
                shift[g] = x
    return v, shift


@njit(cache=True)
def logit_weights(v, shift, site_cell, rent, income, coefs):
    """w[k, g] = exp(v[k, g] - shift[g]) in [0, 1], or -1.0 where site k is unaffordable for g."""
    n_sites, n_groups = v.shape
    w = np.empty((n_sites, n_groups), dtype=np.float64)
    for k in range(n_sites):
        r = rent[site_cell[k]]
        for g in range(n_groups):
            if r > coefs[5] * income[g]:
                w[k, g] = -1.0
            else:
                w[k, g] = np.exp(v[k, g] - shift[g])
    return w


@njit(cache=True)
def weight_table(site_cell, rent, commute, service, green, mix, income, coefs):
    """Logit weights per site and group, and the per-group shift.

    Returns (w float64[n_sites, G], shift float64[G]) with shift[g] = max over sites of V and
    w[k, g] = exp(V[k, g] - shift[g]) in [0, 1], or -1.0 where the site is unaffordable for g.
    """
    v, shift = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    return logit_weights(v, shift, site_cell, rent, income, coefs), shift


@njit(cache=True)
def row_sums(a, out):
    """out[i] = sum(a[i, :]) for a 2-D array, in out's dtype (one pass; for validation)."""
    for i in range(a.shape[0]):
        out[i] = 0
        for j in range(a.shape[1]):
            out[i] += a[i, j]


@njit(cache=True)
def occupancy_mismatch(hh_cell, hh_group, occ):
    """First (c, g, count) where occ[c, g] != housed households counted, or (-1, -1, 0)."""
    n_cells, n_groups = occ.shape
    counts = np.zeros((n_cells, n_groups), dtype=np.int32)
    for i in range(hh_cell.size):
        if hh_cell[i] >= 0:
            counts[hh_cell[i], hh_group[i]] += 1
    for c in range(n_cells):
        for g in range(n_groups):
            if counts[c, g] != occ[c, g]:
                return c, g, np.int64(counts[c, g])
    return -1, -1, np.int64(0)


# Below this largest weight the tabulated weights of a choice set may have underflowed
# (utilities ~690 below the group's best site): recompute them with the set's own maximum.
_TINY = 1e-300


# ---------------------------------------------------------------------------------------------
# Who moves, and where to
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def reference_utilities(tree, total, site_cell, rent, v, income, coefs, n_alt, rng):
    """Vref[g] = ln(mean(exp V)) over the affordable ones of n_alt vacant dwellings per group.

    Draws n_alt dwellings for each group g = 0..G-1 in turn (none if nothing is vacant);
    Vref[g] = -inf if no draw is affordable. ``v`` is the :func:`utility_table`.
    """
    n_groups = income.size
    vref = np.full(n_groups, -np.inf)
    if total > 0:
        sites = np.empty(n_alt, dtype=np.int64)
        val = np.empty(n_alt, dtype=np.float64)
        for g in range(n_groups):
            fenwick_sample(tree, total, rng, sites)
            cap = coefs[5] * income[g]
            m = 0
            for j in range(n_alt):
                k = sites[j]
                if rent[site_cell[k]] <= cap:
                    val[m] = v[k, g]
                    m += 1
            if m > 0:
                vmax = val[0]
                for j in range(1, m):
                    vmax = max(vmax, val[j])
                vref[g] = vmax + np.log(softmax_weights(val, m) / m)
    return vref


@njit(cache=True)
def draw_movers(hh_cell, hh_group, cell_site, v, vref, base_rate, dissatisfaction_rate, rng):
    """int64 indices of the movers in random order, given Vref (see :func:`select_movers`).

    One uniform per housed household in index order, then ``rng.shuffle`` of the movers.
    """
    n = hh_cell.size
    flag = np.zeros(n, dtype=np.bool_)
    count = 0
    for i in range(n):
        c = hh_cell[i]
        if c < 0:
            flag[i] = True
            count += 1
            continue
        g = hh_group[i]
        p = base_rate
        gap = vref[g] - v[cell_site[c], g]
        if gap > 0.0:
            p += dissatisfaction_rate * (1.0 - np.exp(-gap))
        if uniform(rng) < p:
            flag[i] = True
            count += 1
    movers = np.empty(count, dtype=np.int64)
    k = 0
    for i in range(n):
        if flag[i]:
            movers[k] = i
            k += 1
    shuffle(rng, movers)
    return movers


@njit(cache=True)
def select_movers(
    hh_cell,
    hh_group,
    capacity,
    occ,
    rent,
    commute,
    service,
    green,
    mix,
    income,
    coefs,
    base_rate,
    dissatisfaction_rate,
    n_alt,
    rng,
):
    """int64 indices of this year's movers, in random order (rule: see metrosim.choice).

    Draws, in this order: n_alt dwellings for each group g = 0..G-1 (if any is vacant; Vref[g]
    = logsum of the affordable ones, -inf if none), one uniform per housed household in index
    order, then the Fisher-Yates shuffle of the movers (``rng.shuffle``).
    """
    site_cell, cell_site = sites_of(capacity)
    tree, total = vacancy_tree(site_cell, capacity, occ)
    v, _ = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    vref = reference_utilities(tree, total, site_cell, rent, v, income, coefs, n_alt, rng)
    return draw_movers(hh_cell, hh_group, cell_site, v, vref, base_rate, dissatisfaction_rate, rng)


@njit(cache=True)
def choose_dwellings(
    order, hh_cell, hh_group, occ, site_cell, cell_site, tree, total, v, w, shift, n_alt, rng
):
    """The decision loop of :func:`relocate` on prepared tables; updates hh_cell, occ, tree.

    ``tree``/``total`` from :func:`vacancy_tree`, ``v``/``shift`` from :func:`utility_table`,
    ``w`` from :func:`logit_weights`. Returns (n_moved, n_unhoused).
    """
    coarse, bits = coarse_tree(tree)
    sites = np.empty(n_alt, dtype=np.int64)
    xs = np.empty(n_alt, dtype=np.float64)
    units = np.empty(n_alt, dtype=np.uint64)
    cand = np.empty(n_alt + 1, dtype=np.int64)
    val = np.empty(n_alt + 1, dtype=np.float64)
    # Each mover's group, cell, site and weight of staying, gathered in one pass whose reads
    # are independent (in the decision loop they would be a chain of cache misses per mover).
    # Valid because a mover changes only its own hh_cell and every household moves once.
    n_movers = order.size
    mv_group = np.empty(n_movers, dtype=np.int64)
    mv_cell = np.empty(n_movers, dtype=np.int64)
    mv_site = np.zeros(n_movers, dtype=np.int64)
    mv_stay = np.zeros(n_movers, dtype=np.float64)
    for q in range(n_movers):
        i = order[q]
        g = np.int64(hh_group[i])
        cur = np.int64(hh_cell[i])
        mv_group[q] = g
        mv_cell[q] = cur
        if cur >= 0:
            k = np.int64(cell_site[cur])
            mv_site[q] = k
            mv_stay[q] = w[k, g]
    moved = 0
    unhoused = 0
    for q in range(n_movers):
        i = order[q]
        g = mv_group[q]
        cur = mv_cell[q]
        m = 0
        s = 0.0
        wmax = 0.0
        if cur >= 0:
            # Staying is always possible, affordable or not. The own dwelling is not in the
            # tree while its occupant decides, so it cannot also be drawn as a "new" dwelling.
            k = mv_site[q]
            cand[0] = k
            x = mv_stay[q]
            if x < 0.0:  # unaffordable now, yet the household may stay
                x = np.exp(v[k, g] - shift[g])
            val[0] = x
            s = x
            wmax = val[0]
            m = 1
        if total > 0:
            sample_weights(coarse, tree, bits, total, rng, n_alt, w, g, sites, xs, units)
            for j in range(n_alt):  # keep the affordable ones (x >= 0), without branches
                x = xs[j]
                ok = x >= 0.0
                cand[m] = sites[j]
                val[m] = x
                s += x if ok else 0.0
                wmax = max(wmax, x)
                m += ok
        if m == 0:
            unhoused += 1
            continue
        if wmax < _TINY:
            for j in range(m):
                val[j] = v[cand[j], g]
            s = softmax_weights(val, m)
        pick = logit_pick(val, m, s, uniform(rng))
        if cur >= 0 and pick == 0:
            continue
        k = cand[pick]
        c = np.int64(site_cell[k])
        # Occupy the chosen vacant dwelling; release the old one to later movers.
        occ[c, g] += 1
        fenwick_add2(tree, coarse, bits, k, -1)
        if cur >= 0:
            occ[cur, g] -= 1
            fenwick_add2(tree, coarse, bits, cand[0], 1)
        else:
            total -= 1
        hh_cell[i] = c
        if c != cur:
            moved += 1
    return moved, unhoused


@njit(cache=True)
def relocate(
    order,
    hh_cell,
    hh_group,
    capacity,
    occ,
    rent,
    commute,
    service,
    green,
    mix,
    income,
    coefs,
    n_alt,
    rng,
):
    """Movers in ``order`` choose one by one; updates hh_cell, occ in place (see metrosim.choice).

    Per mover, draws: n_alt dwellings (if any dwelling other than its own is vacant), then one
    uniform for the logit pick (if the choice set is not empty). Returns (n_moved, n_unhoused):
    movers now in a different cell than before (newcomers housed included), movers left
    without a dwelling.
    """
    site_cell, cell_site = sites_of(capacity)
    tree, total = vacancy_tree(site_cell, capacity, occ)
    v, shift = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    w = logit_weights(v, shift, site_cell, rent, income, coefs)
    return choose_dwellings(
        order, hh_cell, hh_group, occ, site_cell, cell_site, tree, total, v, w, shift, n_alt, rng
    )


@njit(cache=True)
def move_year(
    hh_cell,
    hh_group,
    capacity,
    occ,
    rent,
    commute,
    service,
    green,
    mix,
    income,
    coefs,
    base_rate,
    dissatisfaction_rate,
    n_alt,
    rng,
):
    """:func:`select_movers` then :func:`relocate` on tables built once; same draws, same result.

    Returns (movers, n_moved, n_unhoused). Selection changes neither ``occ`` nor the inputs of
    the tables, so the vacancy tree and the utility table serve both steps.
    """
    site_cell, cell_site = sites_of(capacity)
    tree, total = vacancy_tree(site_cell, capacity, occ)
    v, shift = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    vref = reference_utilities(tree, total, site_cell, rent, v, income, coefs, n_alt, rng)
    movers = draw_movers(
        hh_cell, hh_group, cell_site, v, vref, base_rate, dissatisfaction_rate, rng
    )
    w = logit_weights(v, shift, site_cell, rent, income, coefs)
    moved, unhoused = choose_dwellings(
        movers, hh_cell, hh_group, occ, site_cell, cell_site, tree, total, v, w, shift, n_alt, rng
    )
    return movers, moved, unhoused
