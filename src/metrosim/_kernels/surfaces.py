"""Kernels of :mod:`metrosim.surfaces`: grid Dijkstra and the gravity logsum over many sources.

All kernels work on a *padded* grid: the (ny, nx) raster surrounded by a one-cell border of
impassable cells, stored flat with row width ``width = nx + 2``. A cell's 8 neighbours are then
always inside the array and no bounds test is needed. ``half[p]`` is the time (minutes) to cross
half of cell p from its centre to its edge, ``inf`` for impassable cells (and the border). The
wrappers validate everything; nothing is checked here.
"""

import numpy as np
from numba import njit, prange

_SQRT2 = np.sqrt(2.0)


@njit(cache=True)
def _sift_up(heap, pos, key, i):
    v = heap[i]
    kv = key[v]
    while i > 0:
        p = (i - 1) >> 1
        u = heap[p]
        if key[u] <= kv:
            break
        heap[i] = u
        pos[u] = i
        i = p
    heap[i] = v
    pos[v] = i


@njit(cache=True)
def _sift_down(heap, pos, key, i, n):
    v = heap[i]
    kv = key[v]
    while True:
        a = 2 * i + 1
        if a >= n:
            break
        m = a
        b = a + 1
        if b < n and key[heap[b]] < key[heap[a]]:
            m = b
        u = heap[m]
        if key[u] >= kv:
            break
        heap[i] = u
        pos[u] = i
        i = m
    heap[i] = v
    pos[v] = i


@njit(cache=True)
def _relax(heap, pos, dist, hn, w, nt):
    """Lower dist[w] to nt (caller checked nt < dist[w]); returns the new heap size."""
    dist[w] = nt
    i = pos[w]
    if i < 0:
        heap[hn] = w
        pos[w] = hn
        _sift_up(heap, pos, dist, hn)
        return hn + 1
    _sift_up(heap, pos, dist, i)
    return hn


@njit(cache=True)
def dijkstra_heap(half, width, sources, t0, link_ptr, link_to, link_min):
    """Minutes from the nearest source to every cell of the padded grid (inf if unreachable).

    Multi-source Dijkstra (1959) with an indexed binary heap (decrease-key, at most one entry
    per cell); used when some edge costs 0 (or the bucket queue would need too many buckets).
    Step a -> b to an 8-neighbour costs step * (half[a] + half[b]) with step 1 or sqrt(2).
    Extra directed edges leave cell a for link_to[link_ptr[a]:link_ptr[a + 1]] with link_min
    minutes; an edge into an impassable cell is ignored. Sources on impassable cells are
    ignored; a source listed twice starts at the smaller of its times.
    """
    n = half.size
    dist = np.full(n, np.inf)
    heap = np.empty(n, dtype=np.int64)
    pos = np.full(n, -1, dtype=np.int64)
    offs = (-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1)
    r2 = _SQRT2
    steps = (r2, 1.0, r2, 1.0, 1.0, r2, 1.0, r2)
    hn = 0
    for k in range(sources.size):
        s = sources[k]
        if half[s] < np.inf and t0[k] < dist[s]:
            hn = _relax(heap, pos, dist, hn, s, t0[k])
    while hn > 0:
        v = heap[0]
        pos[v] = -2
        hn -= 1
        if hn > 0:
            heap[0] = heap[hn]
            pos[heap[0]] = 0
            _sift_down(heap, pos, dist, 0, hn)
        tv = dist[v]
        hv = half[v]
        for k in range(8):
            w = v + offs[k]
            # inf < inf is False: impassable neighbours (and the border) are never entered.
            nt = tv + steps[k] * (hv + half[w])
            if nt < dist[w]:
                hn = _relax(heap, pos, dist, hn, w, nt)
        for j in range(link_ptr[v], link_ptr[v + 1]):
            w = link_to[j]
            nt = tv + link_min[j]
            if half[w] < np.inf and nt < dist[w]:
                hn = _relax(heap, pos, dist, hn, w, nt)
    return dist


@njit(cache=True)
def _grow(a):
    b = np.empty(2 * a.size, dtype=a.dtype)
    b[: a.size] = a
    return b


@njit(cache=True)
def _bucket_sweep(
    half, width, link_ptr, link_to, link_min, dist, done, head, ent_v, ent_nx, state, tmin, inv
):
    """Settle cells bucket by bucket until the queue is empty or the entry pool is nearly full.

    state = [entries used, entries queued, current bucket, reserve]; the pool must keep
    ``reserve`` (8 + most links leaving a cell) free entries before a cell is scanned. Returns
    True when done, False when the caller must grow the pool and call again.
    """
    ne, queued, cur, reserve = state[0], state[1], state[2], state[3]
    cap = ent_v.size
    mask = head.size - 1
    # indices as unsigned (every one is >= 0): numba then emits no negative-index wraparound
    # on each access (the search takes about 1.3x less time)
    u = np.uint64
    offs = (-width - 1, -width, -width + 1, -1, 1, width - 1, width, width + 1)
    r2 = _SQRT2
    steps = (r2, 1.0, r2, 1.0, 1.0, r2, 1.0, r2)
    while queued > 0:
        b = u(cur & mask)
        while head[b] >= 0:
            if cap - ne < reserve:
                state[0], state[1], state[2] = ne, queued, cur
                return False
            e = u(head[b])
            head[b] = ent_nx[e]
            queued -= 1
            v = np.int64(ent_v[e])
            if done[u(v)]:  # a stale entry: v was queued again with a smaller time
                continue
            done[u(v)] = True
            tv = dist[u(v)]
            hv = half[u(v)]
            for k in range(8):
                w = u(v + offs[k])
                # inf < inf is False: impassable neighbours (and the border) are never entered.
                nt = tv + steps[k] * (hv + half[w])
                if nt < dist[w] and not done[w]:
                    dist[w] = nt
                    bb = u(np.int64((nt - tmin) * inv) & mask)
                    ent_v[u(ne)] = w
                    ent_nx[u(ne)] = head[bb]
                    head[bb] = ne
                    ne += 1
                    queued += 1
            for j in range(link_ptr[u(v)], link_ptr[u(v + 1)]):
                w = u(link_to[u(j)])
                nt = tv + link_min[u(j)]
                if half[w] < np.inf and nt < dist[w] and not done[w]:
                    dist[w] = nt
                    bb = u(np.int64((nt - tmin) * inv) & mask)
                    ent_v[u(ne)] = w
                    ent_nx[u(ne)] = head[bb]
                    head[bb] = ne
                    ne += 1
                    queued += 1
        cur += 1
    state[0], state[1], state[2] = ne, queued, cur
    return True


@njit(cache=True)
def dijkstra_buckets(half, width, sources, t0, link_ptr, link_to, link_min, delta, n_slots):
    """Same result as :func:`dijkstra_heap`, with a bucket queue instead of a heap.

    Dinitz's rule (Dinitz 1978; Goldberg 2008): with buckets of width ``delta`` no larger than
    the smallest edge cost, every cell in the lowest non-empty bucket already has its final
    time (its predecessor on a shortest path lies in a lower bucket), so the cells of a bucket
    are settled in any order, in O(1) each. Buckets are singly linked lists of entries in a
    pool (lazy deletion: a cell whose time drops is queued again, its old entry skipped), in a
    circular array of ``n_slots`` slots (a power of two > span of queued times / delta + 2).
    Needs delta > 0 and fewer than 2**31 entries (the wrapper checks the grid size).
    """
    n = half.size
    dist = np.full(n, np.inf)
    done = np.zeros(n, dtype=np.bool_)
    head = np.full(n_slots, -1, dtype=np.int32)
    most_links = 0
    for v in range(n):
        most_links = max(most_links, link_ptr[v + 1] - link_ptr[v])
    reserve = 8 + most_links
    # ~1.4 entries per cell on typical grids: start small, so the growth path is well exercised.
    cap = n // 2 + sources.size + reserve
    ent_v = np.empty(cap, dtype=np.int32)
    ent_nx = np.empty(cap, dtype=np.int32)
    mask = n_slots - 1
    tmin = np.inf
    for k in range(sources.size):
        if half[sources[k]] < np.inf and t0[k] < tmin:
            tmin = t0[k]
    inv = 1.0 / delta
    ne = 0
    for k in range(sources.size):
        s = sources[k]
        if half[s] < np.inf and t0[k] < dist[s]:
            dist[s] = t0[k]
            b = np.int64((t0[k] - tmin) * inv) & mask
            ent_v[ne] = s
            ent_nx[ne] = head[b]
            head[b] = ne
            ne += 1
    state = np.array([ne, ne, 0, reserve], dtype=np.int64)
    while not _bucket_sweep(
        half, width, link_ptr, link_to, link_min, dist, done, head, ent_v, ent_nx, state, tmin, inv
    ):
        ent_v = _grow(ent_v)
        ent_nx = _grow(ent_nx)
    return dist


@njit(cache=True)
def shortest_times(half, width, sources, t0, link_ptr, link_to, link_min, delta, n_slots):
    """:func:`dijkstra_buckets` when n_slots > 0, else :func:`dijkstra_heap`."""
    if n_slots > 0:
        return dijkstra_buckets(
            half, width, sources, t0, link_ptr, link_to, link_min, delta, n_slots
        )
    return dijkstra_heap(half, width, sources, t0, link_ptr, link_to, link_min)


@njit(cache=True, parallel=True)
def gravity_logsum(
    half, width, sources, log_share, link_ptr, link_to, link_min, delta, n_slots, beta, chunk
):
    """log(sum_j share_j exp(-beta t(c, j))) for every cell c of the padded grid.

    One Dijkstra per source j (parallel over the sources of a chunk; each writes its own row of
    ``rows``), on the graph given (the caller passes it reversed when t must run from c to j).
    The rows are then reduced per cell (parallel over cells) in source order with an online
    log-sum-exp, so the result is bit-identical whatever the number of threads and never
    underflows. Returns (m, s) with the log-sum = m + log(s); m = -inf where no source is
    reachable.
    """
    n = half.size
    ns = sources.size
    m = np.full(n, -np.inf)
    s = np.zeros(n)
    rows = np.empty((max(1, min(chunk, ns)), n))
    t0 = np.zeros(1)
    for c0 in range(0, ns, chunk):
        nk = min(ns, c0 + chunk) - c0
        for k in prange(nk):
            rows[k, :] = shortest_times(
                half,
                width,
                sources[c0 + k : c0 + k + 1],
                t0,
                link_ptr,
                link_to,
                link_min,
                delta,
                n_slots,
            )
        for c in prange(n):
            mc = m[c]
            sc = s[c]
            for k in range(nk):
                t = rows[k, c]
                if t < np.inf:
                    x = log_share[c0 + k] - beta * t
                    if x > mc:
                        sc = sc * np.exp(mc - x) + 1.0
                        mc = x
                    else:
                        sc += np.exp(x - mc)
            m[c] = mc
            s[c] = sc
    return m, s
