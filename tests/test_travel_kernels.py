"""The travel kernels give the same bits as the numpy forms and kernels they replaced.

Each reference below is the earlier form of a step of ``metrosim.travel.Travel`` (numpy
operations, or a numba kernel compiled here from its earlier source); the kernels of
``metrosim._kernels.travel_modes`` must reproduce them bit for bit on random inputs, so that a
run's results do not change.
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba import njit

from metrosim._kernels import travel_modes as k

K = 4  # trip-length bands
G = 5  # income groups

seeds = st.integers(0, 2**32 - 1)


def _csr(rng, n_rows, n_zones):
    """A random incidence matrix: sorted distinct zones per row, some rows empty."""
    counts = rng.integers(0, min(n_zones, 12) + 1, n_rows)
    counts[rng.random(n_rows) < 0.2] = 0
    indptr = np.zeros(n_rows + 1, dtype=np.int64)
    indptr[1:] = np.cumsum(counts)
    indices = np.concatenate(
        [np.sort(rng.choice(n_zones, c, replace=False)) for c in counts] + [np.empty(0, int)]
    ).astype(np.int64)
    data = rng.gamma(2.0, 0.7, indices.size)
    return indptr, indices, data


def _units(rng, n_units, n_zone_ids):
    """Band shares (some bands empty) and the zone position of each unit."""
    pos = np.sort(rng.integers(0, n_zone_ids, n_units))
    share = rng.dirichlet(np.ones(K), size=n_units)
    share[rng.random((n_units, K)) < 0.35] = 0.0
    share[share.sum(axis=1) == 0.0, 0] = 1.0
    share /= share.sum(axis=1, keepdims=True)
    return pos, share


# --- references: the earlier forms ---------------------------------------------------------
@njit
def _old_mode_probabilities(asc, times, income_term, metro, b_time, b_metro):
    n = times.shape[0]
    g_n = income_term.size
    out = np.empty((n, g_n, 3))
    for i in range(n):
        v_car0 = asc[i, 0] + b_time * times[i, 0]
        v_pt = asc[i, 1] + b_time * times[i, 1] + b_metro * metro[i]
        v_act = asc[i, 2] + b_time * times[i, 2]
        for g in range(g_n):
            v_car = v_car0 + income_term[g]
            m = max(v_car, max(v_pt, v_act))
            e0 = np.exp(v_car - m)
            e1 = np.exp(v_pt - m)
            e2 = np.exp(v_act - m)
            s = e0 + e1 + e2
            out[i, g, 0] = e0 / s
            out[i, g, 1] = e1 / s
            out[i, g, 2] = e2 / s
    return out


def _old_probs(asc, times, income_term, metro, b_time, b_metro, w, wait, charge):
    n, n_b, _ = times.shape
    t = times.reshape(n * n_b, 3).copy()
    t[:, 1] += (w - 1.0) * wait
    t[:, 2] *= w
    t[:, 0] += charge
    p = _old_mode_probabilities(
        np.repeat(asc, n_b, axis=0), t, income_term, np.repeat(metro, n_b), b_time, b_metro
    )
    return p.reshape(n, n_b, -1, 3)


@njit
def _old_draw_commutes(hh_row, hh_group, band_share, probs, employment_rate, u):
    n = hh_row.size
    n_b = band_share.shape[1]
    mode = np.full(n, -1, dtype=np.int8)
    band = np.full(n, -1, dtype=np.int8)
    for h in range(n):
        r = hh_row[h]
        if r < 0 or u[h] >= employment_rate:
            continue
        v = u[h] / employment_rate
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
        band[h] = b
        w = (v - lo) / band_share[r, b]
        g = hh_group[h]
        p0 = probs[r, b, g, 0]
        if w < p0:
            mode[h] = 0
        elif w < p0 + probs[r, b, g, 1]:
            mode[h] = 1
        else:
            mode[h] = 2
    return mode, band


@njit
def _old_commute_details(hh_row, mode, band, times, unit_km, unit_pos, n_pos):
    n = hh_row.size
    n_b = unit_km.shape[1]
    minutes = np.full(n, np.nan)
    km = np.full(n, np.nan)
    trips = np.zeros(n_pos * n_b)
    for h in range(n):
        m = mode[h]
        if m < 0:
            continue
        r = hh_row[h]
        b = band[h]
        minutes[h] = times[r, b, m]
        km[h] = unit_km[r, b]
        if m == 0:
            trips[unit_pos[r] * n_b + b] += 1.0
    return minutes, km, trips


@njit
def _old_units_of_cells(occ, zone_of_cell, commune_of_cell, metro, n_communes, slot):
    n, n_g = occ.shape
    unit = np.full(n, -1, dtype=np.int64)
    u_zone = np.empty(n, dtype=np.int64)
    u_com = np.empty(n, dtype=np.int64)
    u_met = np.empty(n, dtype=np.int64)
    n_u = 0
    for c in range(n):
        tot = 0
        for g in range(n_g):
            tot += occ[c, g]
        if tot == 0:
            continue
        m = 1 if metro[c] else 0
        key = (zone_of_cell[c] * n_communes + commune_of_cell[c]) * 2 + m
        u = slot[key]
        if u < 0:
            u = n_u
            slot[key] = u
            u_zone[u] = zone_of_cell[c]
            u_com[u] = commune_of_cell[c]
            u_met[u] = m
            n_u += 1
        unit[c] = u
    for u in range(n_u):
        slot[(u_zone[u] * n_communes + u_com[u]) * 2 + u_met[u]] = -1
    u_occ = np.zeros((n_u, n_g))
    for c in range(n):
        u = unit[c]
        if u >= 0:
            for g in range(n_g):
                u_occ[u, g] += occ[c, g]
    return unit, u_zone[:n_u].copy(), u_com[:n_u].copy(), u_met[:n_u].copy(), u_occ


# --- tests -----------------------------------------------------------------------------------
@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_rows=st.integers(0, 60), n_zones=st.integers(1, 40))
def test_row_dots_are_three_row_dots(seed, n_rows, n_zones):
    rng = np.random.default_rng(seed)
    indptr, indices, data = _csr(rng, n_rows, n_zones)
    tau0 = rng.uniform(0.5, 3.0, n_zones)
    tau = tau0 * (1.0 + rng.gamma(0.5, 2.0, n_zones))
    rows = np.arange(n_rows)
    t, t0, dt = k.row_dots(indptr, indices, data, tau, tau0)
    np.testing.assert_array_equal(t, k.row_dot(indptr, indices, data, rows, tau))
    np.testing.assert_array_equal(t0, k.row_dot(indptr, indices, data, rows, tau0))
    np.testing.assert_array_equal(dt, k.row_dot(indptr, indices, data, rows, tau - tau0))


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_units=st.integers(1, 40), n_zone_ids=st.integers(1, 15))
def test_unit_times_are_the_numpy_times(seed, n_units, n_zone_ids):
    rng = np.random.default_rng(seed)
    pos, _ = _units(rng, n_units, n_zone_ids)
    car_rows = rng.gamma(2.0, 10.0, n_zone_ids * K)  # in-vehicle minutes of each row
    band_km = rng.gamma(2.0, 4.0, (n_zone_ids, K))
    unit_km = band_km[pos]
    metro = (rng.random(n_units) < 0.4).astype(np.float64)
    terminal, wait, v_metro, v_bus, v_act = 3.0, 7.5, 33.0, 19.0, 9.0
    # the earlier numpy form of Travel._cell_times
    car = car_rows.reshape(-1, K)[pos] + terminal
    pt_speed = np.where(metro > 0, v_metro, v_bus)[:, None]
    pt = wait + unit_km * 60.0 / pt_speed
    act = unit_km * 60.0 / v_act
    expected = np.stack([car, pt, act], axis=2)
    got = k.unit_times(car_rows, pos * K, unit_km, metro, terminal, wait, v_metro, v_bus, v_act)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=40, deadline=None)
@given(
    seed=seeds,
    n_units=st.integers(1, 40),
    spread=st.floats(0.0, 8.0),
    charge=st.sampled_from([0.0, 5.0, 12.5]),
)
def test_mode_probabilities_are_the_earlier_kernel(seed, n_units, spread, charge):
    rng = np.random.default_rng(seed)
    _, share = _units(rng, n_units, 3)
    times = rng.gamma(2.0, 15.0, (n_units, K, 3))
    asc = rng.normal(0.0, spread, (n_units, 3))
    asc[:, 0] = 0.0
    income = np.sort(rng.normal(0.0, 1.0 + spread, G))  # the car is best for some groups only
    metro = (rng.random(n_units) < 0.5).astype(np.float64)
    b_time, b_metro, w, wait = -0.05, 0.5, 2.0, 7.5
    got = k.mode_probabilities(
        asc, times, share, income, metro, b_time, b_metro, w, (w - 1.0) * wait, charge
    )
    expected = _old_probs(asc, times, income, metro, b_time, b_metro, w, wait, charge)
    has = share > 0
    np.testing.assert_array_equal(got[has], expected[has])
    assert (got[~has] == 0.0).all()


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_units=st.integers(1, 40), n_zone_ids=st.integers(1, 15))
def test_row_car_trips_are_einsum_and_bincount(seed, n_units, n_zone_ids):
    rng = np.random.default_rng(seed)
    pos, share = _units(rng, n_units, n_zone_ids)
    probs = rng.dirichlet(np.ones(3), size=(n_units, K, G))
    probs[share == 0.0] = 0.0
    occ = rng.integers(0, 50, (n_units, G)).astype(np.float64)
    rate = 0.85
    car = np.einsum("nbg,ng,nb->nb", probs[..., 0], occ, share) * rate
    expected = np.column_stack(
        [np.bincount(pos, weights=car[:, b], minlength=n_zone_ids) for b in range(K)]
    ).ravel()
    got = k.row_car_trips(probs, occ, share, pos, n_zone_ids, rate)
    np.testing.assert_array_equal(got, expected)


@settings(max_examples=25, deadline=None)
@given(
    seed=seeds,
    n_hh=st.integers(0, 400),
    n_units=st.integers(1, 20),
    rate=st.floats(0.0, 1.0),
)
def test_household_commutes_are_the_earlier_draws(seed, n_hh, n_units, rate):
    rng = np.random.default_rng(seed)
    n_zone_ids = max(1, n_units // 2)
    pos, share = _units(rng, n_units, n_zone_ids)
    probs = rng.dirichlet(np.ones(3), size=(n_units, K, G))
    times = rng.gamma(2.0, 15.0, (n_units, K, 3))
    unit_km = rng.gamma(2.0, 4.0, (n_units, K))
    n_cells = 3 * n_units
    unit_of_cell = np.full(n_cells, -1, dtype=np.int32)
    unit_of_cell[rng.permutation(n_cells)[:n_units]] = np.arange(n_units)
    hh_cell = rng.integers(-1, n_cells, n_hh).astype(np.int32)  # -1: unhoused
    hh_group = rng.integers(0, G, n_hh).astype(np.int8)
    u = rng.random(n_hh)
    mode = np.empty(n_hh, dtype=np.int8)
    minutes = np.empty(n_hh)
    km = np.empty(n_hh)
    trips = np.zeros(n_zone_ids * K)
    counts = np.zeros(G, dtype=np.int64)
    k.household_commutes(
        hh_cell, hh_group, unit_of_cell, u, rate, share, probs, times, unit_km, pos,
        mode, minutes, km, trips, counts,
    )  # fmt: skip
    # the earlier form: rows of the households, draws, then minutes, km and trips
    hh_row = np.where(hh_cell >= 0, unit_of_cell[np.maximum(hh_cell, 0)], -1)
    mode0, band0 = _old_draw_commutes(hh_row, hh_group, share, probs, rate, u)
    minutes0, km0, trips0 = _old_commute_details(
        hh_row, mode0, band0, times, unit_km, pos, n_zone_ids
    )
    np.testing.assert_array_equal(mode, mode0)
    np.testing.assert_array_equal(minutes, minutes0)
    np.testing.assert_array_equal(km, km0)
    np.testing.assert_array_equal(trips, trips0)
    np.testing.assert_array_equal(counts, np.bincount(hh_group, minlength=G))


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_cells=st.integers(1, 3000), empty=st.floats(0.0, 1.0))
def test_units_of_cells_are_the_earlier_two_pass_kernel(seed, n_cells, empty):
    rng = np.random.default_rng(seed)
    n_zones, n_communes = 40, 6
    occ = rng.integers(0, 30, (n_cells, G)).astype(np.int32)
    occ[rng.random(n_cells) < empty] = 0
    zone = rng.integers(0, n_zones, n_cells)
    commune = rng.integers(0, n_communes, n_cells)
    metro = rng.random(n_cells) < 0.3
    slot = np.full(n_zones * n_communes * 2, -1, dtype=np.int64)
    unit = np.empty(n_cells, dtype=np.int32)
    got = k.units_of_cells(occ, zone, commune, metro, n_communes, slot, unit)
    assert (slot == -1).all()  # the scratch space is left as found
    expected = _old_units_of_cells(occ, zone, commune, metro, n_communes, slot)
    np.testing.assert_array_equal(unit, expected[0])
    for a, b in zip(got, expected[1:], strict=True):
        assert a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_units=st.integers(1, 40))
def test_mix_mode_shares_are_the_einsum(seed, n_units):
    rng = np.random.default_rng(seed)
    _, share = _units(rng, n_units, 3)
    probs = rng.dirichlet(np.ones(3), size=(n_units, K, G))
    probs[share == 0.0] = 0.0
    mix = rng.dirichlet(np.ones(G))
    expected = np.einsum("nbgm,g,nb->nm", probs, mix, share)
    np.testing.assert_array_equal(k.mix_mode_shares(probs, mix, share), expected)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_cells=st.integers(1, 2000), n_zones=st.integers(1, 50))
def test_zone_network_is_the_bincount_and_mask(seed, n_cells, n_zones):
    rng = np.random.default_rng(seed)
    zone = rng.integers(0, n_zones, n_cells)
    urban = rng.random(n_cells) < rng.random()
    motorway = rng.random(n_cells) < 0.05
    n_urban, hw = k.zone_network(zone, urban, motorway, n_zones)
    np.testing.assert_array_equal(n_urban, np.bincount(zone[urban], minlength=n_zones))
    expected = np.zeros(n_zones, dtype=bool)
    expected[zone[motorway]] = True
    np.testing.assert_array_equal(hw, expected)


@settings(max_examples=25, deadline=None)
@given(seed=seeds, n_cells=st.integers(0, 2000), n_zones=st.integers(1, 50))
def test_times_zone_factor_is_the_gathered_product(seed, n_cells, n_zones):
    rng = np.random.default_rng(seed)
    zone = rng.integers(0, n_zones, n_cells)
    free = rng.gamma(2.0, 20.0, n_cells)
    factor = 1.0 + rng.gamma(0.5, 0.2, n_zones)
    got = k.times_zone_factor(free, factor, zone, np.empty(n_cells))
    np.testing.assert_array_equal(got, free * factor[zone])


@pytest.mark.parametrize("seed", [0, 1])
def test_household_commutes_same_bits_with_1_and_2_threads(seed, same_bits_with_1_and_2_threads):
    # blocks of households in parallel, their trips and counts added in block order
    rng = np.random.default_rng(seed)
    n_units, n_hh, n_zone_ids = 15, 5000, 7
    pos, share = _units(rng, n_units, n_zone_ids)
    probs = rng.dirichlet(np.ones(3), size=(n_units, K, G))
    times = rng.gamma(2.0, 15.0, (n_units, K, 3))
    unit_km = rng.gamma(2.0, 4.0, (n_units, K))
    unit_of_cell = rng.permutation(np.r_[np.arange(n_units), np.full(n_units, -1)]).astype(np.int32)
    hh_cell = rng.integers(-1, unit_of_cell.size, n_hh).astype(np.int32)
    hh_group = rng.integers(0, G, n_hh).astype(np.int8)
    u = rng.random(n_hh)

    def draw():
        out = [np.empty(n_hh, dtype=np.int8), np.empty(n_hh), np.empty(n_hh)]
        out += [np.zeros(n_zone_ids * K), np.zeros(G, dtype=np.int64)]
        k.household_commutes(
            hh_cell, hh_group, unit_of_cell, u, 0.6, share, probs, times, unit_km, pos, *out
        )
        return out

    one = same_bits_with_1_and_2_threads(draw)
    assert one[3].sum() == (one[0] == 0).sum()


@pytest.mark.parametrize("seed", [0, 1])
def test_row_dots_same_bits_with_1_and_2_threads(seed, same_bits_with_1_and_2_threads):
    rng = np.random.default_rng(seed)
    n_rows, n_zones = 300, 50
    indptr = np.r_[0, np.cumsum(rng.integers(0, 12, n_rows))].astype(np.int64)
    indices = rng.integers(0, n_zones, indptr[-1]).astype(np.int32)
    data = rng.exponential(2.0, indptr[-1])
    tau, tau0 = rng.uniform(1.0, 3.0, n_zones), np.ones(n_zones)
    rows = rng.integers(0, n_rows, 500)

    def dots():
        return [
            k.row_dot(indptr, indices, data, rows, tau),
            *k.row_dots(indptr, indices, data, tau, tau0),
        ]

    one = same_bits_with_1_and_2_threads(dots)
    np.testing.assert_array_equal(one[0], one[1][rows])  # the same sums, in the same order
