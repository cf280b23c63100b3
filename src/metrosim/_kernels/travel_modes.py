"""Travel kernels (numba): trip-path incidence on the zone grid, loads, mode logit, draws.

Private and unchecked: every argument is assumed valid. The public entry points and the
modelling rationale (with references) are in :mod:`metrosim.travel`.

Layout: zones are the blocks of a coarse (zy, zx) grid, flat index ``z = row * zx + col``.
The incidence matrix ``M`` is in compressed-row form over (origin zone, trip-length band):
``M[o * K + b, z]`` is the expected car-km driven inside zone ``z`` by one trip of band ``b``
from ``o`` (destinations by the gravity rule, path = the straight line between zone centres,
lengths times the circuity factor).
"""

import numpy as np
from numba import njit, prange


@njit(cache=True)
def _walk(o, d, zx, side_km, circuity, p, row, touched, n_touched):
    """Add ``p`` x the km of the line o -> d inside each zone to ``row``; return n_touched."""
    oy, ox = o // zx, o % zx
    dy, dx = d // zx, d % zx
    ddy = float(dy - oy)
    ddx = float(dx - ox)
    span = max(abs(ddy), abs(ddx))
    if span == 0.0:
        # intra-zone trip: mean distance between two random points of a square, 0.5214 L
        km = 0.5214 * side_km * circuity
        if row[o] == 0.0:
            touched[n_touched] = o
            n_touched += 1
        row[o] += p * km
        return n_touched
    km = np.sqrt(ddy * ddy + ddx * ddx) * side_km * circuity
    n = int(3.0 * span) + 1
    seg = km / n
    for s in range(n):
        f = (s + 0.5) / n
        zy = int(np.floor(oy + 0.5 + f * ddy))
        zxx = int(np.floor(ox + 0.5 + f * ddx))
        z = zy * zx + zxx
        if row[z] == 0.0:
            touched[n_touched] = z
            n_touched += 1
        row[z] += p * seg
    return n_touched


@njit(cache=True)
def incidence(
    origins, dests, jobs, zx, n_zones, side_km, circuity, decay_per_km, min_share, band_edges
):
    """Rows of ``M`` for each (origin, trip-length band), with the bands' shares and mean km.

    Destination shares ``P(d | o) ∝ J_d exp(-decay * km_od)``; shares below ``min_share`` are
    dropped and the rest renormalised. Band ``b`` holds the destinations with
    ``band_edges[b] <= km < band_edges[b + 1]``; row ``i * K + b`` is the incidence of one trip
    of band ``b`` from ``origins[i]`` (empty when the band has no destination).

    Returns
    -------
    indptr, indices, data : CSR arrays of ``M``
    band_share, band_km : float64[len(origins), K]
    """
    n_o = origins.size
    n_d = dests.size
    n_b = band_edges.size - 1
    w = np.empty(n_d)
    km = np.empty(n_d)
    band = np.empty(n_d, dtype=np.int64)
    row = np.zeros(n_zones)
    touched = np.empty(n_zones, dtype=np.int64)
    counts = np.zeros(n_o * n_b + 1, dtype=np.int64)
    band_share = np.zeros((n_o, n_b))
    band_km = np.zeros((n_o, n_b))
    indices = np.empty(0, dtype=np.int64)
    data = np.empty(0)
    for pas in range(2):  # pass 0 sizes the rows, pass 1 fills them
        if pas == 1:
            for i in range(n_o * n_b):
                counts[i + 1] += counts[i]
            indices = np.empty(counts[n_o * n_b], dtype=np.int64)
            data = np.empty(counts[n_o * n_b])
        for i in range(n_o):
            o = origins[i]
            oy, ox = o // zx, o % zx
            tot = 0.0
            for j in range(n_d):
                d = dests[j]
                dy = float(d // zx - oy)
                dx = float(d % zx - ox)
                if dy == 0.0 and dx == 0.0:
                    km[j] = 0.5214 * side_km * circuity
                else:
                    km[j] = np.sqrt(dy * dy + dx * dx) * side_km * circuity
                w[j] = jobs[j] * np.exp(-decay_per_km * km[j])
                tot += w[j]
                b = n_b - 1
                for e in range(1, n_b):
                    if km[j] < band_edges[e]:
                        b = e - 1
                        break
                band[j] = b
            if tot <= 0.0:
                continue
            kept = 0.0
            top = 0
            for j in range(n_d):
                w[j] /= tot
                if w[j] > w[top]:
                    top = j
            for j in range(n_d):
                if w[j] < min_share and j != top:  # the likeliest destination always stays
                    w[j] = 0.0
                kept += w[j]
            for b in range(n_b):
                pb = 0.0
                mk = 0.0
                for j in range(n_d):
                    if band[j] == b and w[j] > 0.0:
                        pb += w[j]
                        mk += w[j] * km[j]
                if pb <= 0.0:
                    continue
                band_share[i, b] = pb / kept
                band_km[i, b] = mk / pb
                n_t = 0
                for j in range(n_d):
                    if band[j] == b and w[j] > 0.0:
                        n_t = _walk(
                            o, dests[j], zx, side_km, circuity, w[j] / pb, row, touched, n_t
                        )
                r = i * n_b + b
                if pas == 0:
                    counts[r + 1] = n_t
                else:
                    start = counts[r]
                    idx = np.sort(touched[:n_t])
                    for q in range(n_t):
                        indices[start + q] = idx[q]
                        data[start + q] = row[idx[q]]
                for q in range(n_t):
                    row[touched[q]] = 0.0
    return counts, indices, data, band_share, band_km


@njit(cache=True, parallel=True)
def row_dot(indptr, indices, data, rows, x):
    """``(M @ x)[rows]`` for CSR ``M`` (rows in parallel, each summed in order)."""
    out = np.zeros(rows.size)
    for i in prange(rows.size):
        r = rows[i]
        s = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            s += data[k] * x[indices[k]]
        out[i] = s
    return out


@njit(cache=True, parallel=True)
def row_dots(indptr, indices, data, tau, tau0):
    """``M @ tau``, ``M @ tau0`` and ``M @ (tau - tau0)`` over all rows of CSR ``M``, one pass.

    Each row's three sums are taken in the order of :func:`row_dot` (same bits); rows in
    parallel.
    """
    n_r = indptr.size - 1
    t = np.empty(n_r)
    t0 = np.empty(n_r)
    dt = np.empty(n_r)
    for r in prange(n_r):
        s = 0.0
        s0 = 0.0
        sd = 0.0
        for k in range(indptr[r], indptr[r + 1]):
            j = indices[k]
            x = data[k]
            s += x * tau[j]
            s0 += x * tau0[j]
            sd += x * (tau[j] - tau0[j])
        t[r] = s
        t0[r] = s0
        dt[r] = sd
    return t, t0, dt


@njit(cache=True)
def row_scatter(indptr, indices, data, rows, w, n_zones):
    """``M[rows].T @ w``: the car-km per zone of ``w[i]`` trips from each row ``rows[i]``."""
    out = np.zeros(n_zones)
    for i in range(rows.size):
        r = rows[i]
        wi = w[i]
        if wi == 0.0:
            continue
        for k in range(indptr[r], indptr[r + 1]):
            out[indices[k]] += data[k] * wi
    return out


@njit(cache=True)
def unit_times(row_minutes, first_row, unit_km, metro, terminal, wait, v_metro, v_bus, v_active):
    """(n, K, 3) minutes by car, public transport and active of each unit's trip bands.

    ``row_minutes[first_row[i] + b]``: in-vehicle car minutes of band ``b`` of unit ``i``;
    ``unit_km`` (n, K) the bands' mean km; ``metro`` (n,) > 0 within reach of a station (public
    transport at ``v_metro`` km/h, else ``v_bus``). Car = in-vehicle + ``terminal``; public
    transport = ``wait`` + km at its speed; active = km at ``v_active``.
    """
    n, n_b = unit_km.shape
    out = np.empty((n, n_b, 3))
    for i in range(n):
        v_pt = v_metro if metro[i] > 0 else v_bus
        r0 = first_row[i]
        for b in range(n_b):
            km = unit_km[i, b]
            out[i, b, 0] = row_minutes[r0 + b] + terminal
            out[i, b, 1] = wait + km * 60.0 / v_pt
            out[i, b, 2] = km * 60.0 / v_active
    return out


@njit(cache=True)
def mode_probabilities(
    asc, times, share, income_term, metro, b_time, b_metro, w_out, pt_extra, charge
):
    """Multinomial logit shares of (car, public transport, active) for each unit, band and group.

    ``asc``: (n, 3) constants of each unit's commune; ``times``: (n, K, 3) minutes; ``share``
    (n, K) the units' band shares; ``income_term``: (G,) car utility of each income group;
    ``metro``: (n,) 1 within reach of a station. Utility minutes: car + ``charge``, public
    transport + ``pt_extra`` (the extra weight of the wait), active x ``w_out``. Returns
    (n, K, G, 3); the bands without trips (share 0) get zeros (every use of the shares
    weights them by the band share, or skips such bands).

    The groups of a band differ in the car's utility only: an exponential whose argument
    equals the previous group's is not recomputed (same bits, fewer ``exp`` calls).
    """
    n, n_b, _ = times.shape
    g_n = income_term.size
    out = np.empty((n, n_b, g_n, 3))
    for i in range(n):
        for b in range(n_b):
            if share[i, b] == 0.0:
                out[i, b] = 0.0
                continue
            v_car0 = asc[i, 0] + b_time * (times[i, b, 0] + charge)
            v_pt = asc[i, 1] + b_time * (times[i, b, 1] + pt_extra) + b_metro * metro[i]
            v_act = asc[i, 2] + b_time * (times[i, b, 2] * w_out)
            a1 = np.nan
            a2 = np.nan
            e1 = 0.0
            e2 = 0.0
            for g in range(g_n):
                v_car = v_car0 + income_term[g]
                m = max(v_car, max(v_pt, v_act))
                e0 = np.exp(v_car - m)
                if v_pt - m != a1:
                    a1 = v_pt - m
                    e1 = np.exp(a1)
                if v_act - m != a2:
                    a2 = v_act - m
                    e2 = np.exp(a2)
                s = e0 + e1 + e2
                out[i, b, g, 0] = e0 / s
                out[i, b, g, 1] = e1 / s
                out[i, b, g, 2] = e2 / s
    return out


@njit(cache=True)
def row_car_trips(probs, occ, share, pos, n_pos, rate):
    """Expected car trips of each (zone, band) row: ``rate`` x sum over groups and units.

    ``probs`` (n, K, G, 3), ``occ`` (n, G), ``share`` (n, K), ``pos`` the zone position of each
    unit. Sums in the order of ``einsum("nbg,ng,nb->nb")`` then ``bincount`` over ``pos``.
    """
    n, n_b, n_g, _ = probs.shape
    out = np.zeros(n_pos * n_b)
    for i in range(n):
        r0 = pos[i] * n_b
        for b in range(n_b):
            sb = share[i, b]
            c = 0.0
            for g in range(n_g):
                c += probs[i, b, g, 0] * occ[i, g] * sb
            out[r0 + b] += c * rate
    return out


@njit(cache=True)
def mix_mode_shares(probs, mix, share):
    """(n, 3) mode shares of each unit for a household of income mix ``mix`` (G,).

    ``probs`` (n, K, G, 3), ``share`` (n, K). Sums over bands, then groups, from 0, of
    ``probs x mix x share``: the order of ``einsum("nbgm,g,nb->nm")`` (same bits).
    """
    n, n_b, n_g, n_m = probs.shape
    out = np.zeros((n, n_m))
    for i in range(n):
        for b in range(n_b):
            sb = share[i, b]
            for g in range(n_g):
                for m in range(n_m):
                    out[i, m] += probs[i, b, g, m] * mix[g] * sb
    return out


@njit(cache=True)
def zone_network(zone_of_cell, urban, motorway, n_zones):
    """Urban cells of each zone (int64) and whether a motorway crosses it, in one pass."""
    n_urban = np.zeros(n_zones, dtype=np.int64)
    hw = np.zeros(n_zones, dtype=np.bool_)
    for c in range(zone_of_cell.size):
        z = zone_of_cell[c]
        if urban[c]:
            n_urban[z] += 1
        if motorway[c]:
            hw[z] = True
    return n_urban, hw


@njit(cache=True)
def times_zone_factor(x, factor, zone_of_cell, out):
    """``out = x * factor[zone_of_cell]``, per cell, without the gathered temporary."""
    for c in range(x.size):
        out[c] = x[c] * factor[zone_of_cell[c]]
    return out


@njit(cache=True)
def commune_mode_sums(probs, occ, share, commune, n_communes):
    """Expected commutes by (commune, mode): sum over units, bands and groups."""
    n, n_b, n_g, _ = probs.shape
    out = np.zeros((n_communes, 3))
    for i in range(n):
        c = commune[i]
        for b in range(n_b):
            sb = share[i, b]
            if sb == 0.0:
                continue
            for g in range(n_g):
                w = occ[i, g] * sb
                if w == 0.0:
                    continue
                for m in range(3):
                    out[c, m] += w * probs[i, b, g, m]
    return out


@njit(cache=True)
def _band_and_mode(band_share, probs, r, g, v):
    """Band and mode of an employed commuter of row ``r`` and group ``g``; ``v`` uniform (0, 1).

    ``v`` picks the band by inversion of the row's band shares, and its position within the
    band's interval, rescaled to (0, 1), picks the mode.
    """
    n_b = band_share.shape[1]
    b = -1
    lo = 0.0
    acc = 0.0
    for q in range(n_b):
        if band_share[r, q] <= 0.0:
            continue
        b = q
        lo = acc
        acc += band_share[r, q]
        if v < acc:
            break
    w = (v - lo) / band_share[r, b]
    p0 = probs[r, b, g, 0]
    if w < p0:
        return 0, b
    if w < p0 + probs[r, b, g, 1]:
        return 1, b
    return 2, b


#: Blocks of households drawn in parallel by :func:`household_commutes` (a fixed number: the
#: same work whatever the thread count).
_HH_BLOCKS = 8


@njit(cache=True, parallel=True)
def household_commutes(
    hh_cell,
    hh_group,
    unit_of_cell,
    u,
    employment_rate,
    band_share,
    probs,
    times,
    unit_km,
    unit_pos,
    mode,
    minutes,
    km,
    trips,
    counts,
):
    """Each housed household: employed with ``employment_rate``, a trip band, then a mode.

    One uniform ``u`` per household decides all three in turn: employed if ``u < rate``; then
    ``u / rate`` (uniform given employment) picks the band and the mode
    (:func:`_band_and_mode`). ``hh_cell`` (-1 unhoused: no commute) and ``unit_of_cell``
    (-1 unoccupied) give each household's unit; ``band_share`` (n_units, K), ``probs``
    (n_units, K, G, 3), ``times`` (n_units, K, 3), ``unit_km`` (n_units, K), ``unit_pos`` zone
    position of each unit.

    Writes, per household, ``mode`` (int8: -1 no commute, 0 car, 1 public transport,
    2 active), ``minutes`` and ``km`` (nan without a commute); adds the drawn car trips of
    each (zone, band) row to ``trips`` (n_pos * K) and the households of each group to
    ``counts``. The outputs are the caller's (arrays allocated by numpy are backed by huge
    pages, so their first writes are cheaper than those of arrays allocated here).
    Households are independent given their uniforms: blocks of them run in parallel, each
    counting its own trips and groups, and the blocks' counts are added in block order
    (whole numbers, exact in float64 below 2**53 whatever the order).
    """
    n_b = band_share.shape[1]
    n = hh_cell.size
    nb = max(1, min(_HH_BLOCKS, n))
    part_trips = np.zeros((nb, trips.size))
    part_counts = np.zeros((nb, counts.size), dtype=np.int64)
    for blk in prange(nb):
        pt = part_trips[blk]
        pc = part_counts[blk]
        for h in range((blk * n) // nb, ((blk + 1) * n) // nb):
            g = hh_group[h]
            pc[g] += 1
            c = hh_cell[h]
            r = unit_of_cell[c] if c >= 0 else -1
            if r < 0 or u[h] >= employment_rate:
                mode[h] = -1
                minutes[h] = np.nan
                km[h] = np.nan
                continue
            m, b = _band_and_mode(band_share, probs, r, g, u[h] / employment_rate)
            mode[h] = m
            minutes[h] = times[r, b, m]
            km[h] = unit_km[r, b]
            if m == 0:
                pt[unit_pos[r] * n_b + b] += 1.0
    for blk in range(nb):
        for j in range(trips.size):
            trips[j] += part_trips[blk, j]
        for j in range(counts.size):
            counts[j] += part_counts[blk, j]


@njit(cache=True)
def occupied_cells(occ):
    """Indices of the rows of ``occ`` (n, G) with any household, ascending."""
    n, n_g = occ.shape
    out = np.empty(n, dtype=np.int64)
    k = 0
    for c in range(n):
        for g in range(n_g):
            if occ[c, g] != 0:
                out[k] = c
                k += 1
                break
    return out[:k].copy()


@njit(cache=True)
def units_of_cells(occ, zone_of_cell, commune_of_cell, metro, n_communes, slot, unit):
    """Group occupied cells into units of equal (zone, commune, metro access).

    Units are numbered in the order of their first cell. ``slot`` (n_zones * n_communes * 2,
    all -1) is scratch space, left all -1 again. Writes the unit of each cell to ``unit``
    (-1 if empty); returns the zone, commune and metro flag of each unit and its households by
    group (float64). One pass over the cells; the households are summed as integers (exact).
    """
    n, n_g = occ.shape
    cap = 1024
    u_zone = np.empty(cap, dtype=np.int64)
    u_com = np.empty(cap, dtype=np.int64)
    u_met = np.empty(cap, dtype=np.int64)
    u_occ = np.zeros((cap, n_g), dtype=np.int64)
    n_u = 0
    for c in range(n):
        tot = 0
        for g in range(n_g):
            tot += occ[c, g]
        if tot == 0:
            unit[c] = -1
            continue
        m = 1 if metro[c] else 0
        key = (zone_of_cell[c] * n_communes + commune_of_cell[c]) * 2 + m
        u = slot[key]
        if u < 0:
            if n_u == cap:
                cap *= 2
                u_zone = _grow(u_zone, cap)
                u_com = _grow(u_com, cap)
                u_met = _grow(u_met, cap)
                grown = np.zeros((cap, n_g), dtype=np.int64)
                grown[:n_u] = u_occ
                u_occ = grown
            u = n_u
            slot[key] = u
            u_zone[u] = zone_of_cell[c]
            u_com[u] = commune_of_cell[c]
            u_met[u] = m
            n_u += 1
        unit[c] = u
        for g in range(n_g):
            u_occ[u, g] += occ[c, g]
    for u in range(n_u):
        slot[(u_zone[u] * n_communes + u_com[u]) * 2 + u_met[u]] = -1
    return (
        u_zone[:n_u].copy(),
        u_com[:n_u].copy(),
        u_met[:n_u].copy(),
        u_occ[:n_u].astype(np.float64),
    )


@njit(cache=True)
def _grow(a, cap):
    out = np.empty(cap, dtype=a.dtype)
    out[: a.size] = a
    return out


@njit(cache=True)
def household_sums(cell, commune_of_cell, group, mode, minutes, km, n_communes, n_groups, long_min):
    """Per-commune and per-group sums over the commuting households, in one pass.

    ``cell`` of each household (-1 unhoused). Returns (by_commune (n_c, 5): commuters, car,
    public transport, minutes, car km; by_group (G, 2): commuters, minutes; long commutes).
    """
    by_c = np.zeros((n_communes, 5))
    by_g = np.zeros((n_groups, 2))
    n_long = 0
    for h in range(mode.size):
        m = mode[h]
        if m < 0:
            continue
        t = minutes[h]
        if t > long_min:
            n_long += 1
        g = group[h]
        by_g[g, 0] += 1.0
        by_g[g, 1] += t
        if cell[h] < 0:
            continue
        c = commune_of_cell[cell[h]]
        if c < 0:
            continue
        by_c[c, 0] += 1.0
        by_c[c, 3] += t
        if m == 0:
            by_c[c, 1] += 1.0
            by_c[c, 4] += km[h]
        elif m == 1:
            by_c[c, 2] += 1.0
    return by_c, by_g, n_long


@njit(cache=True)
def _heap_push(hk, ht, hc, size, key, tie, cell):
    """Insert (key, tie, cell) at position ``size`` of a binary min-heap and sift it up."""
    i = size
    hk[i], ht[i], hc[i] = key, tie, cell
    while i > 0:
        p = (i - 1) // 2
        if hk[p] < hk[i] or (hk[p] == hk[i] and ht[p] < ht[i]):
            break
        hk[p], hk[i] = hk[i], hk[p]
        ht[p], ht[i] = ht[i], ht[p]
        hc[p], hc[i] = hc[i], hc[p]
        i = p


@njit(cache=True)
def priority_flood_d8(elev, nodata):
    """Receivers and processing order of a D8 drainage tree with depressions filled.

    Priority-flood from the grid edges and no-data cells (Barnes, Lehman & Mulla 2014): each
    cell drains to the neighbour it was reached from, so pits and flats drain too. ``elev``
    (ny, nx) float64, ``nodata`` bool mask. Returns (receiver int64[n], order int64[k]): the
    flood order of valid cells (upstream cells come later).
    """
    ny, nx = elev.shape
    n = ny * nx
    recv = np.full(n, -1, dtype=np.int64)
    seen = np.zeros(n, dtype=np.bool_)
    order = np.empty(n, dtype=np.int64)
    n_ord = 0
    # binary heap of (key, tie, cell)
    hk = np.empty(n, dtype=np.float64)
    ht = np.empty(n, dtype=np.int64)
    hc = np.empty(n, dtype=np.int64)
    size = 0
    tie = 0
    flat = elev.ravel()
    nd = nodata.ravel()
    for c in range(n):
        r, q = c // nx, c % nx
        if nd[c]:
            seen[c] = True
            continue
        edge = r == 0 or q == 0 or r == ny - 1 or q == nx - 1
        if not edge:
            for dr in (-1, 0, 1):
                for dq in (-1, 0, 1):
                    rr, qq = r + dr, q + dq
                    if nd[rr * nx + qq]:
                        edge = True
        if edge:
            seen[c] = True
            # push
            _heap_push(hk, ht, hc, size, flat[c], tie, c)
            size += 1
            tie += 1
    while size > 0:
        c = hc[0]
        key = hk[0]
        size -= 1
        hk[0], ht[0], hc[0] = hk[size], ht[size], hc[size]
        i = 0
        while True:
            a = 2 * i + 1
            b = a + 1
            m = i
            if a < size and (hk[a] < hk[m] or (hk[a] == hk[m] and ht[a] < ht[m])):
                m = a
            if b < size and (hk[b] < hk[m] or (hk[b] == hk[m] and ht[b] < ht[m])):
                m = b
            if m == i:
                break
            hk[m], hk[i] = hk[i], hk[m]
            ht[m], ht[i] = ht[i], ht[m]
            hc[m], hc[i] = hc[i], hc[m]
            i = m
        order[n_ord] = c
        n_ord += 1
        r, q = c // nx, c % nx
        for dr in (-1, 0, 1):
            for dq in (-1, 0, 1):
                rr, qq = r + dr, q + dq
                if rr < 0 or qq < 0 or rr >= ny or qq >= nx:
                    continue
                nb = rr * nx + qq
                if seen[nb]:
                    continue
                seen[nb] = True
                recv[nb] = c
                _heap_push(hk, ht, hc, size, max(flat[nb], key), tie, nb)
                size += 1
                tie += 1
    return recv, order[:n_ord]


@njit(cache=True)
def accumulate(recv, order, area):
    """Upstream area of every cell: each cell's area plus all that drains through it."""
    acc = area.copy()
    for k in range(order.size - 1, -1, -1):
        c = order[k]
        r = recv[c]
        if r >= 0:
            acc[r] += acc[c]
    return acc
