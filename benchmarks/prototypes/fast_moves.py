"""Prototype (not used by the model): the project's relocation rule with a vacancy list.

Same rule, inputs and outputs as ``metrosim._kernels.choice.select_movers`` + ``relocate``
(statistically equal outcomes, checked in ``tests/test_peer.py``; a different random stream).
It tried two ideas against the kernel of the time, which descended a Fenwick tree of vacancies:

1. **A list of vacant dwellings instead of a Fenwick tree.** One entry per vacant dwelling with
   O(1) take/release (each cell's dwellings are a contiguous range of unit ids; the first
   ``occupied[c]`` are taken), so a uniform draw among vacant dwellings is one random index and
   two loads, against a ~log2(sites)-level descent. The model has used a list since
   2026-12-02 (``vacancy_list``, ``take_unit``, ``release_unit``: one entry per vacant
   dwelling holding its site, without this prototype's per-dwelling id arrays).
2. **Move probabilities tabulated per (cell, group)** once a year (vectorised), so a
   household's decision is one gather and one uniform instead of a utility (five gathers) and
   an ``exp``. Not adopted: one ``exp`` per (site, group) costs as much as one per household.

Measured with ``bench_households.py --prototype``; since the model's kernel took the list it
is about twice as fast as this prototype.
"""

from __future__ import annotations

import numpy as np
from numba import njit


def utility_tables(rent, commute, service, green, mix, income, coefs):
    """U[c, g] and the utility as a sampled alternative S[c, g] (-inf if unaffordable)."""
    u = (
        coefs[0] * rent[:, None] / income[None, :]
        + (coefs[1] * commute + coefs[2] * service + coefs[3] * green)[:, None]
        + coefs[4] * mix
    )
    afford = rent[:, None] <= coefs[5] * income[None, :]
    s = np.where(afford, u, -np.inf)
    return np.ascontiguousarray(u), np.ascontiguousarray(s)


def move_probabilities(u, vref, base, dissat):
    """P[c, g] = base + dissat * (1 - exp(-max(0, Vref_g - U[c, g]))) (base if no Vref)."""
    gap = np.maximum(vref[None, :] - u, 0.0)
    extra = np.where(np.isfinite(vref)[None, :], dissat * (1.0 - np.exp(-gap)), 0.0)
    return np.ascontiguousarray(base + extra)


@njit(cache=True)
def build_units(capacity, occupied):
    """Unit ids per cell (contiguous), the list of vacant units and each unit's place in it."""
    n = capacity.size
    start = np.zeros(n + 1, dtype=np.int64)
    for c in range(n):
        start[c + 1] = start[c] + capacity[c]
    units = start[n]
    unit_cell = np.empty(units, dtype=np.int32)
    pos = np.full(units, -1, dtype=np.int64)
    vac = np.empty(units, dtype=np.int64)
    nv = 0
    for c in range(n):
        for d in range(start[c], start[c + 1]):
            unit_cell[d] = c
            if d - start[c] >= occupied[c]:
                pos[d] = nv
                vac[nv] = d
                nv += 1
    return start, unit_cell, pos, vac, nv


@njit(cache=True)
def reference_utilities(s, vac, nv, unit_cell, n_alt, rng):
    n_groups = s.shape[1]
    vref = np.full(n_groups, -np.inf)
    if nv == 0:
        return vref
    vals = np.empty(n_alt)
    for g in range(n_groups):
        k = 0
        m = -np.inf
        for _ in range(n_alt):
            c = unit_cell[vac[int(rng.random() * nv)]]
            if s[c, g] > -np.inf:
                vals[k] = s[c, g]
                if vals[k] > m:
                    m = vals[k]
                k += 1
        if k > 0:
            t = 0.0
            for j in range(k):
                t += np.exp(vals[j] - m)
            vref[g] = m + np.log(t / k)  # ln(mean(exp V)), as the project's select_movers
    return vref


@njit(cache=True)
def movers_of(hh_cell, hh_group, p, rng):
    n = hh_cell.size
    flag = np.empty(n, dtype=np.bool_)
    count = 0
    for i in range(n):
        c = hh_cell[i]
        f = c < 0 or rng.random() < p[c, hh_group[i]]
        flag[i] = f
        count += f
    movers = np.empty(count, dtype=np.int64)
    k = 0
    for i in range(n):
        if flag[i]:
            movers[k] = i
            k += 1
    return rng.permutation(movers)


@njit(cache=True)
def relocate_fast(order, hh_cell, hh_group, occ, u, s, start, unit_cell, pos, vac, nv, n_alt, rng):
    """As ``relocate``; ``occ`` (n_cells, G) is updated, the unit list kept in step."""
    occupied = np.zeros(occ.shape[0], dtype=np.int64)
    for c in range(occ.shape[0]):
        for g in range(occ.shape[1]):
            occupied[c] += occ[c, g]
    cand = np.empty(n_alt + 1, dtype=np.int64)
    val = np.empty(n_alt + 1)
    moved = 0
    unhoused = 0
    for k in range(order.size):
        i = order[k]
        g = hh_group[i]
        cur = hh_cell[i]
        m = 0
        if cur >= 0:  # staying is always possible; its own dwelling is not in the list
            cand[0] = cur
            val[0] = u[cur, g]
            m = 1
        if nv > 0:
            for _ in range(n_alt):
                c = unit_cell[vac[int(rng.random() * nv)]]
                if s[c, g] > -np.inf:
                    cand[m] = c
                    val[m] = s[c, g]
                    m += 1
        if m == 0:
            unhoused += 1
            continue
        vmax = val[0]
        for j in range(1, m):
            if val[j] > vmax:
                vmax = val[j]
        tot = 0.0
        for j in range(m):
            val[j] = np.exp(val[j] - vmax)
            tot += val[j]
        x = rng.random() * tot
        pick = m - 1
        acc = 0.0
        for j in range(m - 1):
            acc += val[j]
            if x < acc:
                pick = j
                break
        if cur >= 0 and pick == 0:
            continue  # stays
        c = cand[pick]
        d = start[c] + occupied[c]  # take: the cell's first vacant unit
        p = pos[d]
        last = vac[nv - 1]
        vac[p] = last
        pos[last] = p
        pos[d] = -1
        nv -= 1
        occupied[c] += 1
        occ[c, g] += 1
        if cur >= 0:  # release: its old dwelling becomes the cell's first vacant unit
            occ[cur, g] -= 1
            occupied[cur] -= 1
            d = start[cur] + occupied[cur]
            pos[d] = nv
            vac[nv] = d
            nv += 1
        hh_cell[i] = c
        if c != cur:
            moved += 1
    return moved, unhoused


def move_households_fast(
    hh_cell, hh_group, capacity, occ, rent, commute, service, green, mix, income, coefs, *,
    base_rate, dissatisfaction_rate, n_alternatives, rng,
):  # fmt: skip
    """Drop-in for ``metrosim.households.move_households`` (positional cell attributes)."""
    coefs = np.asarray(coefs, dtype=np.float64)
    occupied = occ.sum(axis=1)
    start, unit_cell, pos, vac, nv = build_units(capacity.astype(np.int64), occupied)
    u, s = utility_tables(rent, commute, service, green, mix, income, coefs)
    vref = reference_utilities(s, vac, nv, unit_cell, n_alternatives, rng)
    p = move_probabilities(u, vref, base_rate, dissatisfaction_rate)
    movers = movers_of(hh_cell, hh_group, p, rng)
    moved, unhoused = relocate_fast(
        movers, hh_cell, hh_group, occ, u, s, start, unit_cell, pos, vac, nv, n_alternatives, rng
    )
    return int(movers.size), int(moved), int(unhoused)


class FastKernelRun:
    """``benchmarks.common.KernelRun`` with the prototype's moves."""

    def __init__(self, world, rng):
        from benchmarks.common import KernelRun

        self._run = KernelRun(world, rng)
        self.world = world

    def __getattr__(self, name):
        return getattr(self._run, name)

    def update_mix(self) -> None:
        self._run.update_mix()

    def moves(self) -> tuple[int, int, int]:
        r, w = self._run, self.world
        return move_households_fast(
            r.hh_cell,
            r.hh_group,
            w.capacity,
            r.occupancy,
            w.rent,
            w.commute,
            w.service,
            w.green,
            r.mix,
            w.incomes,
            w.coefs.as_array(),
            base_rate=w.base_rate,
            dissatisfaction_rate=w.dissatisfaction_rate,
            n_alternatives=w.n_alt,
            rng=r.rng,
        )

    def year(self) -> tuple[int, int, int]:
        self.update_mix()
        return self.moves()
