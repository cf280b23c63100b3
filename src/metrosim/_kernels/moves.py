"""Household relocation: vacancy sampling (Fenwick tree), mobility and logit choice."""

import numpy as np
from numba import njit


@njit(cache=True)
def fenwick_build(weights):
    n = weights.size
    tree = np.zeros(n + 1, dtype=np.int64)
    for i in range(n):
        tree[i + 1] += weights[i]
        j = (i + 1) + ((i + 1) & -(i + 1))
        if j <= n:
            tree[j] += tree[i + 1]
    return tree


@njit(cache=True)
def fenwick_add(tree, i, delta):
    j = i + 1
    n = tree.size - 1
    while j <= n:
        tree[j] += delta
        j += j & -j


@njit(cache=True)
def fenwick_total(tree):
    n = tree.size - 1
    s = 0
    j = n
    while j > 0:
        s += tree[j]
        j -= j & -j
    return s


@njit(cache=True)
def fenwick_find(tree, u):
    """Smallest index i with prefix sum(weights[:i+1]) > u (0 <= u < total)."""
    n = tree.size - 1
    pos = 0
    step = 1
    while step * 2 <= n:
        step *= 2
    while step > 0:
        nxt = pos + step
        if nxt <= n and tree[nxt] <= u:
            pos = nxt
            u -= tree[nxt]
        step //= 2
    return pos


@njit(cache=True)
def vacancies(capacity, occ):
    vac = np.empty(capacity.size, dtype=np.int64)
    for c in range(capacity.size):
        s = 0
        for g in range(occ.shape[1]):
            s += occ[c, g]
        vac[c] = capacity[c] - s
    return vac


@njit(cache=True)
def utility(c, g, rent, commute, service, green, mix, income, coefs):
    return (
        coefs[0] * rent[c] / income[g]
        + coefs[1] * commute[c]
        + coefs[2] * service[c]
        + coefs[3] * green[c]
        + coefs[4] * mix[c, g]
    )


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
    """Indices of this year's movers, in a random order.

    Housed households move with probability base + d * (1 - exp(-max(0, Vref_g - V_i))), where
    Vref_g is the logsum over a sample of n_alt affordable vacant dwellings for group g.
    Unhoused households always move.
    """
    n = hh_cell.size
    n_groups = income.size
    tree = fenwick_build(vacancies(capacity, occ))
    total = fenwick_total(tree)
    vref = np.full(n_groups, -np.inf)
    if total > 0:
        for g in range(n_groups):
            m = -np.inf
            vals = np.empty(n_alt)
            k = 0
            for _ in range(n_alt):
                c = fenwick_find(tree, rng.integers(0, total))
                if rent[c] <= coefs[5] * income[g]:
                    vals[k] = utility(c, g, rent, commute, service, green, mix, income, coefs)
                    if vals[k] > m:
                        m = vals[k]
                    k += 1
            if k > 0:
                s = 0.0
                for j in range(k):
                    s += np.exp(vals[j] - m)
                vref[g] = m + np.log(s)
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
        if np.isfinite(vref[g]):
            gap = vref[g] - utility(c, g, rent, commute, service, green, mix, income, coefs)
            if gap > 0:
                p += dissatisfaction_rate * (1.0 - np.exp(-gap))
        if rng.random() < p:
            flag[i] = True
            count += 1
    movers = np.empty(count, dtype=np.int64)
    k = 0
    for i in range(n):
        if flag[i]:
            movers[k] = i
            k += 1
    return rng.permutation(movers)


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
    """Movers choose, one by one, among n_alt sampled vacant dwellings and their own.

    Multinomial logit over affordable sampled dwellings (rent <= coefs[5] * income) plus the
    current dwelling (staying is always possible). Updates hh_cell and occ in place; returns
    (number who changed cell, number left without a dwelling).
    """
    tree = fenwick_build(vacancies(capacity, occ))
    cand = np.empty(n_alt + 1, dtype=np.int64)
    val = np.empty(n_alt + 1)
    moved = 0
    unhoused = 0
    for k in range(order.size):
        i = order[k]
        g = hh_group[i]
        cur = hh_cell[i]
        if cur >= 0:
            occ[cur, g] -= 1
            fenwick_add(tree, cur, 1)
        total = fenwick_total(tree)
        m = 0
        if cur >= 0:
            cand[0] = cur
            val[0] = utility(cur, g, rent, commute, service, green, mix, income, coefs)
            m = 1
        if total > 0:
            for _ in range(n_alt):
                c = fenwick_find(tree, rng.integers(0, total))
                if c != cur and rent[c] <= coefs[5] * income[g]:
                    cand[m] = c
                    val[m] = utility(c, g, rent, commute, service, green, mix, income, coefs)
                    m += 1
        if m == 0:
            hh_cell[i] = -1
            unhoused += 1
            continue
        vmax = val[0]
        for j in range(1, m):
            if val[j] > vmax:
                vmax = val[j]
        s = 0.0
        for j in range(m):
            val[j] = np.exp(val[j] - vmax)
            s += val[j]
        u = rng.random() * s
        pick = m - 1
        acc = 0.0
        for j in range(m):
            acc += val[j]
            if u < acc:
                pick = j
                break
        c = cand[pick]
        occ[c, g] += 1
        fenwick_add(tree, c, -1)
        hh_cell[i] = c
        if c != cur:
            moved += 1
    return moved, unhoused
