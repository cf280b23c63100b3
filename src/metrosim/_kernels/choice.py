"""Household relocation kernels (numba): vacancy list, mover selection, sampled logit.

Private and unchecked: every argument is assumed valid (dtypes, shapes, ranges, ``occ``
consistent with ``hh_cell``/``hh_group``, total capacity < 2**31). The public, validating entry
points and the modelling rationale (with references) are in :mod:`metrosim.choice`.

``rng`` is a ``numpy.random.Generator`` or, for a PCG64 one, its state as an array from
:func:`metrosim._kernels.pcg.stream_of` (stepped inline: the same draws, faster).

Layout: flat cell index ``c``; ``occ[c, g]`` occupied dwellings of income group ``g``;
``coefs = (b_rent_share, b_commute_per_min, b_service_per_km, b_green, b_homophily,
max_rent_share)``. All randomness comes from the ``numpy.random.Generator`` passed in (numba
draws the same stream as NumPy and advances the caller's generator).

Performance notes (hot path = ``relocate``): vacant dwellings are a flat int32 list of their
sites (cells with capacity > 0), so a draw is one index and one read, and a move two writes
(:func:`take_unit`, :func:`release_unit`); logit weights ``exp(V - max_c V)`` are tabulated
once per call per (site, group), so a sampled alternative costs one table read and no ``exp``;
a mover's ``n_alt`` indices are drawn before any is read, so the reads overlap;
:func:`move_year` builds the tables once for both steps; a PCG64 stream is stepped inline
(:mod:`metrosim._kernels.pcg`).

References
----------
Knuth, D. E. (1997). *The Art of Computer Programming, Vol. 2: Seminumerical Algorithms*, 3rd
ed., section 3.4.2. Addison-Wesley.
"""

import numpy as np
from numba import njit

from metrosim._kernels.pcg import shuffle, uniform

# ---------------------------------------------------------------------------------------------
# Vacant dwellings: a list with one entry (the site) per vacant dwelling, in any order. A
# uniform draw among them is one index; taking the dwelling at index p moves the last entry to
# p; releasing one appends it (Knuth 1997, 3.4.2, the exchange behind Fisher-Yates sampling).
# ---------------------------------------------------------------------------------------------


@njit(cache=True)
def draw_units(total, rng, m, pos):
    """pos[j] = floor(U_j * total) for j < m, U_j = rng.random() in order (total > 0).

    Relative bias of a unit <= total / 2**53.
    """
    for j in range(m):
        pos[j] = np.int64(uniform(rng) * total)


@njit(cache=True)
def take_unit(units, total, p):
    """Remove the vacant dwelling at index p < total (the last one takes its place).

    Returns the new total.
    """
    total -= 1
    units[p] = units[total]
    return total


@njit(cache=True)
def release_unit(units, total, k):
    """Append a vacant dwelling of site k (``units`` has room); returns the new total."""
    units[total] = k
    return total + 1


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
def vacancy_list(site_cell, capacity, occ):
    """The site of each vacant dwelling (int32), in site order, and their number (int64).

    Site k appears ``capacity - sum(occ)`` times (its vacant dwellings), so until the first
    :func:`take_unit` a draw ``units[floor(U * total)]`` is the site holding unit
    ``floor(U * total)`` of the cumulative vacancy counts. The array has room for ``total``
    entries, the most there can be (a move takes one dwelling before it releases one).
    """
    n_groups = occ.shape[1]
    total = np.int64(0)
    for k in range(site_cell.size):
        c = site_cell[k]
        s = np.int64(capacity[c])
        for g in range(n_groups):
            s -= occ[c, g]
        total += s
    units = np.empty(total, dtype=np.int32)
    j = 0
    for k in range(site_cell.size):
        c = site_cell[k]
        s = np.int64(capacity[c])
        for g in range(n_groups):
            s -= occ[c, g]
        for _ in range(s):
            units[j] = k
            j += 1
    return units, total


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
def reference_utilities(units, total, site_cell, rent, v, income, coefs, n_alt, rng):
    """Vref[g] = ln(mean(exp V)) over the affordable ones of n_alt vacant dwellings per group.

    Draws n_alt dwellings for each group g = 0..G-1 in turn (none if nothing is vacant);
    Vref[g] = -inf if no draw is affordable. ``v`` is the :func:`utility_table`.
    """
    n_groups = income.size
    vref = np.full(n_groups, -np.inf)
    if total > 0:
        pos = np.empty(n_alt, dtype=np.int64)
        val = np.empty(n_alt, dtype=np.float64)
        for g in range(n_groups):
            draw_units(total, rng, n_alt, pos)
            cap = coefs[5] * income[g]
            m = 0
            for j in range(n_alt):
                k = units[pos[j]]
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
    # p lies in [base_rate, base_rate + dissatisfaction_rate] (rounding is monotone), so a
    # uniform below the first moves and one at or above the second stays whatever the gap:
    # only the uniforms in between need the household's utility and an exp
    lo = base_rate
    hi = base_rate + dissatisfaction_rate
    bounded = dissatisfaction_rate >= 0.0
    for i in range(n):
        c = hh_cell[i]
        if c < 0:
            flag[i] = True
            count += 1
            continue
        u = uniform(rng)
        if bounded and (u < lo or u >= hi):
            move = u < lo
        else:
            g = hh_group[i]
            p = base_rate
            gap = vref[g] - v[cell_site[c], g]
            if gap > 0.0:
                p += dissatisfaction_rate * (1.0 - np.exp(-gap))
            move = u < p
        if move:
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
    units, total = vacancy_list(site_cell, capacity, occ)
    v, _ = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    vref = reference_utilities(units, total, site_cell, rent, v, income, coefs, n_alt, rng)
    return draw_movers(hh_cell, hh_group, cell_site, v, vref, base_rate, dissatisfaction_rate, rng)


@njit(cache=True)
def choose_dwellings(
    order, hh_cell, hh_group, occ, site_cell, cell_site, units, total, v, w, shift, n_alt, rng
):
    """The decision loop of :func:`relocate` on prepared tables; updates hh_cell, occ, units.

    ``units``/``total`` from :func:`vacancy_list`, ``v``/``shift`` from :func:`utility_table`,
    ``w`` from :func:`logit_weights`. Returns (n_moved, n_unhoused).
    """
    pos = np.empty(n_alt, dtype=np.int64)
    cand = np.empty(n_alt + 1, dtype=np.int64)
    cpos = np.zeros(n_alt + 1, dtype=np.int64)
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
            # list while its occupant decides, so it cannot also be drawn as a "new" dwelling.
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
            draw_units(total, rng, n_alt, pos)
            # indices as unsigned (all >= 0): no negative-index wraparound on each access
            ug = np.uint64(g)
            for j in range(n_alt):  # keep the affordable ones (x >= 0), without branches
                p = pos[np.uint64(j)]
                k = np.int64(units[np.uint64(p)])
                x = w[np.uint64(k), ug]
                ok = x >= 0.0
                um = np.uint64(m)
                cand[um] = k
                cpos[um] = p
                val[um] = x
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
        # Occupy the chosen vacant dwelling (the last entry of the list takes its place);
        # release the old one to later movers.
        occ[c, g] += 1
        total = take_unit(units, total, cpos[pick])
        if cur >= 0:
            occ[cur, g] -= 1
            total = release_unit(units, total, cand[0])
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
    units, total = vacancy_list(site_cell, capacity, occ)
    v, shift = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    w = logit_weights(v, shift, site_cell, rent, income, coefs)
    return choose_dwellings(
        order, hh_cell, hh_group, occ, site_cell, cell_site, units, total, v, w, shift, n_alt, rng
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
    the tables, so the vacancy list and the utility table serve both steps.
    """
    site_cell, cell_site = sites_of(capacity)
    units, total = vacancy_list(site_cell, capacity, occ)
    v, shift = utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    vref = reference_utilities(units, total, site_cell, rent, v, income, coefs, n_alt, rng)
    movers = draw_movers(
        hh_cell, hh_group, cell_site, v, vref, base_rate, dissatisfaction_rate, rng
    )
    w = logit_weights(v, shift, site_cell, rent, income, coefs)
    moved, unhoused = choose_dwellings(
        movers, hh_cell, hh_group, occ, site_cell, cell_site, units, total, v, w, shift, n_alt, rng
    )
    return movers, moved, unhoused
