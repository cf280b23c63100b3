"""Location-choice kernels for ``bench_choice.py``: the project's logit on explicit alternatives.

The project's relocation kernel (``metrosim._kernels.choice.relocate``) draws its alternatives
itself and adds the mover's current dwelling. To compare with UDST ``choicemodels`` on the
*same* sampled alternatives (choosers without a dwelling), these variants take them as an array
or draw them the way ``choicemodels`` does, and otherwise reuse the project's kernel pieces
unchanged: ``weight_table`` (logit weights ``exp(V - max V)`` per alternative and group, -1 if
unaffordable), ``logit_pick``, and the list of vacant dwellings (``vacancy_list``,
``draw_units``, ``take_unit``). Affordability is the project's: an alternative whose rent exceeds
``coefs[5] * income`` has probability 0; a chooser with no affordable alternative stays
unplaced (choice -1). Random draws go through ``metrosim._kernels.pcg`` as in the model: with a
PCG64 stream (``metrosim.choice._drawing``) they are stepped inline, with a Generator they are
NumPy's.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from metrosim._kernels.choice import (
    draw_units,
    logit_pick,
    take_unit,
    vacancy_list,
    weight_table,
)
from metrosim._kernels.pcg import shuffle, uniform


def weights(rent, commute, service, green, mix, income, coefs):
    """The project's weight table with every alternative a site: w (n_alts, G)."""
    site_cell = np.arange(rent.size, dtype=np.int32)
    w, _ = weight_table(site_cell, rent, commute, service, green, mix, income, coefs)
    return w


@njit(cache=True)
def logit_probabilities(alt_ids, group, w):
    """Probabilities (n, k) of each chooser's k alternatives (a row of 0 if none affordable)."""
    n, k = alt_ids.shape
    probs = np.zeros((n, k))
    for i in range(n):
        g = group[i]
        s = 0.0
        for j in range(k):
            x = w[alt_ids[i, j], g]
            if x >= 0.0:
                probs[i, j] = x
                s += x
        if s > 0.0:
            for j in range(k):
                probs[i, j] /= s
    return probs


@njit(cache=True)
def keep_affordable(sites, w, g, k, cand, val):
    """The sampled ``sites[:k]`` whose weight for group g is >= 0 (affordable) into
    ``cand``/``val``, without branches (as ``relocate`` does); returns (their count, weight sum).
    The k weights are read after all k sites are known, so the reads overlap."""
    m = 0
    s = 0.0
    for j in range(k):
        x = w[sites[j], g]
        ok = x >= 0.0
        cand[m] = sites[j]
        val[m] = x
        s += x if ok else 0.0
        m += ok
    return m, s


@njit(cache=True)
def choose_unconstrained(group, w, k, rng):
    """Sampling (k uniform, with replacement) + probabilities + choice, for every chooser."""
    n = group.size
    n_alts = w.shape[0]
    choice = np.full(n, -1, dtype=np.int64)
    sites = np.empty(k, dtype=np.int64)
    cand = np.empty(k, dtype=np.int64)
    val = np.empty(k)
    for i in range(n):
        for j in range(k):
            sites[j] = np.int64(uniform(rng) * n_alts)
        m, s = keep_affordable(sites, w, group[i], k, cand, val)
        if m > 0:
            choice[i] = cand[logit_pick(val, m, s, uniform(rng))]
    return choice


@njit(cache=True)
def choose_constrained_uniform(group, w, capacity, k, rng):
    """Choosers one at a time in random order; k draws uniform among the alternatives with
    capacity left (as ``choicemodels`` samples); capacity taken at once.

    The alternatives with capacity left are a list (swap-remove when one fills up) and each
    group's weights are kept in the list's order, so a draw is one read of the chooser's
    group's weights, not a read of the list and then of the weight table.
    """
    n = group.size
    n_alts, n_groups = w.shape
    left = capacity.astype(np.int64)
    alive = np.empty(n_alts, dtype=np.int32)  # alternatives with capacity left
    wa = np.empty((n_groups, n_alts))  # wa[g, p] = w[alive[p], g]
    n_alive = 0
    for c in range(n_alts):
        if left[c] > 0:
            alive[n_alive] = c
            for g in range(n_groups):
                wa[g, n_alive] = w[c, g]
            n_alive += 1
    choice = np.full(n, -1, dtype=np.int64)
    pos = np.empty(k, dtype=np.int64)
    cpos = np.empty(k, dtype=np.int64)
    val = np.empty(k)
    order = np.arange(n)
    shuffle(rng, order)
    for t in range(n):
        if n_alive == 0:
            break
        i = order[t]
        for j in range(k):
            pos[j] = np.int64(uniform(rng) * n_alive)
        wg = wa[group[i]]
        m = 0
        s = 0.0
        for j in range(k):  # the affordable ones, without branches (as relocate does)
            x = wg[pos[j]]
            ok = x >= 0.0
            cpos[m] = pos[j]
            val[m] = x
            s += x if ok else 0.0
            m += ok
        if m == 0:
            continue
        p = cpos[logit_pick(val, m, s, uniform(rng))]
        c = alive[p]
        choice[i] = c
        left[c] -= 1
        if left[c] == 0:
            n_alive -= 1
            alive[p] = alive[n_alive]
            for g in range(n_groups):
                wa[g, p] = wa[g, n_alive]
    return choice


@njit(cache=True)
def choose_constrained_units(group, w, capacity, k, rng):
    """As the project's ``relocate``: k draws uniform over the dwellings left, from the list
    with one entry per dwelling (``vacancy_list``, ``draw_units``, ``take_unit``)."""
    n = group.size
    sites = np.arange(capacity.size, dtype=np.int32)
    units, total = vacancy_list(sites, capacity, np.zeros((capacity.size, 1), dtype=np.int32))
    choice = np.full(n, -1, dtype=np.int64)
    pos = np.empty(k, dtype=np.int64)
    cpos = np.empty(k, dtype=np.int64)
    val = np.empty(k)
    order = np.arange(n)
    shuffle(rng, order)
    for t in range(n):
        if total == 0:
            break
        i = order[t]
        g = group[i]
        draw_units(total, rng, k, pos)
        m = 0
        s = 0.0
        for j in range(k):  # the affordable ones, without branches (as relocate does)
            x = w[units[pos[j]], g]
            ok = x >= 0.0
            cpos[m] = pos[j]
            val[m] = x
            s += x if ok else 0.0
            m += ok
        if m == 0:
            continue
        p = cpos[logit_pick(val, m, s, uniform(rng))]
        choice[i] = units[p]
        total = take_unit(units, total, p)
    return choice
