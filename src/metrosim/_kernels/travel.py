"""Shortest travel times on a raster (multi-source Dijkstra with a binary heap)."""

import numpy as np
from numba import njit, prange

_DR = np.array([-1, -1, -1, 0, 0, 1, 1, 1], dtype=np.int64)
_DC = np.array([-1, 0, 1, -1, 1, -1, 0, 1], dtype=np.int64)
_DD = np.array([np.sqrt(2.0), 1.0, np.sqrt(2.0), 1.0, 1.0, np.sqrt(2.0), 1.0, np.sqrt(2.0)])


@njit(cache=True)
def _push(heap_t, heap_v, n, t, v):
    i = n
    heap_t[i] = t
    heap_v[i] = v
    while i > 0:
        p = (i - 1) // 2
        if heap_t[p] <= heap_t[i]:
            break
        heap_t[p], heap_t[i] = heap_t[i], heap_t[p]
        heap_v[p], heap_v[i] = heap_v[i], heap_v[p]
        i = p
    return n + 1


@njit(cache=True)
def _pop(heap_t, heap_v, n):
    t = heap_t[0]
    v = heap_v[0]
    n -= 1
    heap_t[0] = heap_t[n]
    heap_v[0] = heap_v[n]
    i = 0
    while True:
        a = 2 * i + 1
        b = a + 1
        m = i
        if a < n and heap_t[a] < heap_t[m]:
            m = a
        if b < n and heap_t[b] < heap_t[m]:
            m = b
        if m == i:
            break
        heap_t[m], heap_t[i] = heap_t[i], heap_t[m]
        heap_v[m], heap_v[i] = heap_v[i], heap_v[m]
        i = m
    return t, v, n


@njit(cache=True)
def dijkstra_grid(minutes_per_cell, ny, nx, sources, t0, link_ptr, link_to, link_min):
    """Minutes from the nearest source to every cell.

    minutes_per_cell[c]: minutes to cross one cell side at cell c's speed (inf = impassable).
    Moving to an 8-neighbour costs half the crossing time of each cell times the step length
    (1 or sqrt 2). Extra directed links from cell a: link_to[link_ptr[a]:link_ptr[a+1]] with
    link_min minutes.
    """
    n = ny * nx
    dist = np.full(n, np.inf)
    cap = 8 * n + link_to.size + sources.size + 1
    heap_t = np.empty(cap)
    heap_v = np.empty(cap, dtype=np.int64)
    hn = 0
    for k in range(sources.size):
        s = sources[k]
        if t0[k] < dist[s] and np.isfinite(minutes_per_cell[s]):
            dist[s] = t0[k]
            hn = _push(heap_t, heap_v, hn, t0[k], s)
    while hn > 0:
        t, v, hn = _pop(heap_t, heap_v, hn)
        if t > dist[v]:
            continue
        r = v // nx
        c = v - r * nx
        mv = minutes_per_cell[v]
        for k in range(8):
            rr = r + _DR[k]
            cc = c + _DC[k]
            if rr < 0 or rr >= ny or cc < 0 or cc >= nx:
                continue
            w = rr * nx + cc
            mw = minutes_per_cell[w]
            if not np.isfinite(mw):
                continue
            nt = t + 0.5 * _DD[k] * (mv + mw)
            if nt < dist[w]:
                dist[w] = nt
                hn = _push(heap_t, heap_v, hn, nt, w)
        for j in range(link_ptr[v], link_ptr[v + 1]):
            w = link_to[j]
            nt = t + link_min[j]
            if nt < dist[w]:
                dist[w] = nt
                hn = _push(heap_t, heap_v, hn, nt, w)
    return dist


@njit(cache=True, parallel=True)
def gravity_logsum(minutes_per_cell, ny, nx, sources, weights, link_ptr, link_to, link_min, beta):
    """Hansen accessibility sum_s w_s exp(-beta t(s, c)) for every cell c.

    One Dijkstra per source (parallel over sources); each source writes its own row, then the
    rows are summed in source order, so the result does not depend on the number of threads.
    """
    n = ny * nx
    ns = sources.size
    rows = np.zeros((ns, n))
    for k in prange(ns):
        src = sources[k : k + 1]
        t0 = np.zeros(1)
        d = dijkstra_grid(minutes_per_cell, ny, nx, src, t0, link_ptr, link_to, link_min)
        for c in range(n):
            if np.isfinite(d[c]):
                rows[k, c] = weights[k] * np.exp(-beta * d[c])
    acc = np.zeros(n)
    for k in range(ns):
        for c in range(n):
            acc[c] += rows[k, c]
    return acc
