"""Relocation kernels (metrosim.choice): vacancy list, logit shares, invariants, determinism."""

import itertools
import sys
import threading

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy import stats

from metrosim import choice
from metrosim._kernels import choice as K
from metrosim._kernels import pcg

SEEDS = (11, 23, 37, 41, 59)
ALPHA = 1e-3  # every seed must pass: p > ALPHA


# ----------------------------------------------------------------------------- helpers


def make_world(seed, n_cells=30, n_hh=60, groups=3, newcomers=0.15):
    """A small consistent world: households placed in random dwellings, some unhoused."""
    rng = np.random.default_rng(seed)
    capacity = rng.integers(0, 6, n_cells).astype(np.int32)
    slots = np.repeat(np.arange(n_cells, dtype=np.int32), capacity)
    hh_cell = np.full(n_hh, -1, dtype=np.int32)
    placed = rng.permutation(slots)[: min(n_hh, slots.size)]
    hh_cell[: placed.size] = placed
    hh_cell[rng.random(n_hh) < newcomers] = -1
    hh_group = rng.integers(0, groups, n_hh).astype(np.int8)
    occ = np.zeros((n_cells, groups), dtype=np.int32)
    housed = hh_cell >= 0
    np.add.at(occ, (hh_cell[housed], hh_group[housed]), 1)
    mix = rng.dirichlet(np.ones(groups), n_cells)
    mix[rng.random(n_cells) < 0.2] = 0.0  # nobody around
    world = dict(
        hh_cell=hh_cell,
        hh_group=hh_group,
        capacity=capacity,
        occ=occ,
        rent=rng.uniform(50e3, 900e3, n_cells),
        commute=rng.uniform(5.0, 90.0, n_cells),
        service=rng.uniform(0.0, 5.0, n_cells),
        green=rng.uniform(0.0, 3.0, n_cells),
        mix=mix,
        income=np.sort(rng.uniform(250e3, 3e6, groups)),
        coefs=np.array([-2.0, -0.04, -0.2, 0.3, 1.5, rng.uniform(0.3, 0.8)]),
    )
    return world


def args(w):
    return (
        w["hh_cell"],
        w["hh_group"],
        w["capacity"],
        w["occ"],
        w["rent"],
        w["commute"],
        w["service"],
        w["green"],
        w["mix"],
        w["income"],
        w["coefs"],
    )


def recount(w):
    occ = np.zeros_like(w["occ"])
    housed = w["hh_cell"] >= 0
    np.add.at(occ, (w["hh_cell"][housed], w["hh_group"][housed]), 1)
    return occ


def utilities(w, g):
    c = w["coefs"]
    return (
        c[0] * w["rent"] / w["income"][g]
        + c[1] * w["commute"]
        + c[2] * w["service"]
        + c[3] * w["green"]
        + c[4] * w["mix"][:, g]
    )


def affordable(w, cells, groups):
    return w["rent"][cells] <= w["coefs"][5] * w["income"][groups]


def sampled_logit_probs(w, i, n_alt):
    """Exact choice probabilities of household i by enumerating its n_alt draws.

    Draws are uniform over the vacant dwellings other than its own (with replacement); each
    affordable draw is an alternative with weight exp(V); staying has weight exp(V_stay).
    Returns probabilities of ending in each cell, and of staying unhoused (last entry).
    """
    g = int(w["hh_group"][i])
    cur = int(w["hh_cell"][i])
    vac = w["capacity"] - w["occ"].sum(axis=1)  # own dwelling is occupied: not counted
    v = utilities(w, g)
    ok = affordable(w, np.arange(vac.size), g)
    cells = np.flatnonzero(vac > 0)
    pi = vac[cells] / vac[cells].sum()
    probs = np.zeros(vac.size + 1)
    for seq in itertools.product(range(cells.size), repeat=n_alt):
        p_seq = np.prod(pi[list(seq)])
        alts = [cells[j] for j in seq if ok[cells[j]]]
        if cur >= 0:
            alts = [cur, *alts]
        if not alts:
            probs[-1] += p_seq
            continue
        vals = v[alts]
        wts = np.exp(vals - vals.max())
        np.add.at(probs, alts, p_seq * wts / wts.sum())
    return probs


def chi2_pvalue(counts, probs):
    keep = probs > 0
    assert counts[~keep].sum() == 0, "an impossible outcome occurred"
    expected = probs[keep] * counts.sum()
    assert expected.min() >= 5, "test design: too few expected draws per outcome"
    return stats.chisquare(counts[keep], expected).pvalue


# ----------------------------------------------------------------------------- vacancy list


def _list_of(vacant):
    """vacancy_list of a world whose sites hold ``vacant`` vacant dwellings (2 groups)."""
    vac = np.asarray(vacant, dtype=np.int32)
    site_cell = np.arange(vac.size, dtype=np.int32) * 2  # sites are every other cell
    capacity = np.zeros(2 * vac.size, dtype=np.int32)
    occ = np.zeros((2 * vac.size, 2), dtype=np.int32)
    occ[site_cell, 0] = np.arange(vac.size) % 3  # occupied dwellings are not listed
    occ[site_cell, 1] = np.arange(vac.size) % 2
    capacity[site_cell] = vac + occ[site_cell].sum(axis=1)
    return K.vacancy_list(site_cell, capacity, occ)


@settings(max_examples=40, deadline=None)
@given(
    vacant=st.lists(st.integers(0, 9), min_size=1, max_size=80),
    m=st.integers(1, 20),
    seed=st.integers(0, 2**32 - 1),
)
def test_vacancy_list_in_site_order_and_draws_floor_u_times_total(vacant, m, seed):
    """Each site once per vacant dwelling, in site order, so a draw is the site holding unit
    floor(U * total) of the cumulative counts; m draws take m uniforms."""
    units, total = _list_of(vacant)
    assert total == sum(vacant) and units.dtype == np.int32 and units.size == total
    np.testing.assert_array_equal(units, np.repeat(np.arange(len(vacant)), vacant))
    if total == 0:
        return
    pos = np.empty(m, dtype=np.int64)
    rng = np.random.default_rng(seed)
    K.draw_units(total, rng, m, pos)
    u = np.random.default_rng(seed).random(m)
    np.testing.assert_array_equal(pos, np.floor(u * total).astype(np.int64))
    cum = np.cumsum(vacant)
    np.testing.assert_array_equal(units[pos], np.searchsorted(cum, pos, side="right"))
    assert rng.bit_generator.state == _advanced(seed, m)


@settings(max_examples=60, deadline=None)
@given(
    vacant=st.lists(st.integers(0, 5), min_size=1, max_size=40),
    ops=st.lists(st.tuples(st.booleans(), st.integers(0, 10**6)), max_size=60),
)
def test_take_and_release_keep_one_entry_per_vacant_dwelling(vacant, ops):
    """Any sequence of takes (at any index) and releases leaves the list holding each site
    exactly as often as it has vacant dwellings, within the room it was built with."""
    units, total = _list_of(vacant)
    room = units.size
    counts = np.array(vacant, dtype=np.int64)
    for take, x in ops:
        if take and total > 0:
            p = x % total
            counts[units[p]] -= 1
            total = K.take_unit(units, total, p)
        elif not take and total < room:
            k = x % len(vacant)
            counts[k] += 1
            total = K.release_unit(units, total, k)
        np.testing.assert_array_equal(np.bincount(units[:total], minlength=len(vacant)), counts)
    assert (counts >= 0).all()


@pytest.mark.parametrize("seed", SEEDS)
def test_draws_stay_proportional_to_vacancies_after_moves(seed):
    """After takes and releases have reordered the list, a site is still drawn in proportion
    to its vacant dwellings (chi-square over seeds)."""
    rng = np.random.default_rng(seed)
    vac = rng.integers(0, 20, 37).astype(np.int32)
    vac[[0, 5, 36]] = 0
    units, total = _list_of(vac)
    counts = vac.astype(np.int64).copy()
    for _ in range(300):  # a year of moves: take a drawn dwelling, release one elsewhere
        p = int(rng.integers(total))
        counts[units[p]] -= 1
        total = K.take_unit(units, total, p)
        k = int(rng.choice(np.flatnonzero(vac > 0)))
        counts[k] += 1
        total = K.release_unit(units, total, k)
    pos = np.empty(20_000, dtype=np.int64)
    K.draw_units(total, rng, pos.size, pos)
    drawn = np.bincount(units[pos], minlength=vac.size)
    assert chi2_pvalue(drawn, counts / total) > ALPHA


def _advanced(seed, m):
    rng = np.random.default_rng(seed)
    rng.random(m)
    return rng.bit_generator.state


# ----------------------------------------------------------------------------- logit


@pytest.mark.parametrize("seed", SEEDS)
def test_logit_pick_matches_softmax(seed):
    rng = np.random.default_rng(seed)
    v = np.array([-1.0, 0.3, 2.0, 0.0, -0.5, 2.0])
    expected = np.exp(v - v.max()) / np.exp(v - v.max()).sum()
    counts = np.zeros(v.size, dtype=np.int64)
    for r in rng.random(20_000):
        val = v.copy()
        s = K.softmax_weights(val, v.size)
        counts[K.logit_pick(val, v.size, s, r)] += 1
    assert chi2_pvalue(counts, expected) > ALPHA


def test_softmax_weights_do_not_overflow():
    val = np.array([1000.0, 999.0, -1000.0])
    s = K.softmax_weights(val, 3)
    assert np.isfinite(s) and val[0] == 1.0 and val[2] == 0.0


def tiny_world(underflow):
    """4 cells, ample vacancy; household 0 (group 1) lives in cell 1, household 1 is new.

    Cell 3 is unaffordable for group 1. With underflow=True, cell 4 is full and far better
    than all (V ~ +1000), so every tabulated weight exp(V - max V) of the others underflows.
    """
    n = 5 if underflow else 4
    capacity = np.array([6, 4, 5, 6, 2][:n], dtype=np.int32)
    hh_cell = np.array([1, -1, 4, 4][: 4 if underflow else 2], dtype=np.int32)
    hh_group = np.array([1, 1, 0, 0][: hh_cell.size], dtype=np.int8)
    w = dict(
        hh_cell=hh_cell,
        hh_group=hh_group,
        capacity=capacity,
        occ=None,
        rent=np.array([100e3, 200e3, 250e3, 900e3, 100e3][:n]),
        commute=np.array([60.0, 40.0, 20.0, 10.0, 0.0][:n]),
        service=np.array([1.0, 2.0, 0.5, 1.5, 0.0][:n]),
        green=np.array([0.5, 1.0, 0.0, 2.0, 1000.0 if underflow else 0.0][:n]),
        mix=np.array([[0.5, 0.5], [0.2, 0.8], [0.9, 0.1], [0.0, 0.0], [0.5, 0.5]][:n]),
        income=np.array([400e3, 1.0e6]),
        coefs=np.array([-3.0, -0.03, -0.4, 1.0, 1.2, 0.5]),
    )
    w["occ"] = np.zeros((n, 2), dtype=np.int32)
    w["occ"] = recount(w)
    return w


@pytest.mark.parametrize("underflow", [False, True], ids=["plain", "underflow"])
@pytest.mark.parametrize("who", [0, 1], ids=["housed", "newcomer"])
def test_relocate_shares_match_sampled_logit(who, underflow):
    n_alt, draws = 4, 4000
    w0 = tiny_world(underflow)
    probs = sampled_logit_probs(w0, who, n_alt)
    assert probs[3] == 0.0  # unaffordable
    if underflow:  # the tabulated weights are all 0 (or -1, unaffordable): the guard decides
        sites, _ = K.sites_of(w0["capacity"])
        cols = ("rent", "commute", "service", "green", "mix", "income", "coefs")
        table, _ = K.weight_table(sites, *(w0[k] for k in cols))
        assert (table[:4, 1] <= 0.0).all() and table[4, 1] == 1.0
    order = np.array([who], dtype=np.int64)
    for seed in SEEDS[:4]:
        rng = np.random.default_rng(seed)
        counts = np.zeros(probs.size, dtype=np.int64)
        for _ in range(draws):
            hh_cell, occ = w0["hh_cell"].copy(), w0["occ"].copy()
            w = {**w0, "hh_cell": hh_cell, "occ": occ}
            K.relocate(order, *args(w), n_alt, rng)
            counts[hh_cell[who]] += 1  # -1 (unhoused) lands in the last bin
        assert chi2_pvalue(counts, probs) > ALPHA, (seed, counts, probs * draws)


@pytest.mark.parametrize("seed", SEEDS[:3])
def test_mover_probability_follows_dissatisfaction_rule(seed):
    # All vacancies in cell 0; Vref[g] = ln(mean(exp(V))) over n_alt equal draws = V0[g].
    n_cells, n_alt, base, diss = 6, 5, 0.05, 0.6
    w = make_world(0, n_cells=n_cells, n_hh=0, groups=2)
    w["capacity"] = np.array([50, 400, 400, 400, 400, 400], dtype=np.int32)
    w["coefs"][5] = np.inf
    per_cell = 400
    hh_cell = np.repeat(np.arange(1, n_cells, dtype=np.int32), per_cell)
    hh_group = np.tile(np.array([0, 1], dtype=np.int8), hh_cell.size // 2)
    w.update(hh_cell=hh_cell, hh_group=hh_group)
    w["occ"] = recount(w)
    rng = np.random.default_rng(seed)
    movers = choice.select_movers(*args(w), base, diss, n_alt, rng)
    moved = np.zeros(hh_cell.size, dtype=bool)
    moved[movers] = True
    for g in (0, 1):
        v = utilities(w, g)
        gap = np.maximum(0.0, v[0] - v)
        p = base + diss * (1.0 - np.exp(-gap))
        for c in range(1, n_cells):
            mine = (hh_cell == c) & (hh_group == g)
            k = int(moved[mine].sum())
            assert stats.binomtest(k, int(mine.sum()), p[c]).pvalue > ALPHA, (g, c, k, p[c])


@numba.njit
def _draw_movers_reference(hh_cell, hh_group, cell_site, v, vref, base_rate, diss_rate, rng):
    """The mover draw as first written: p from the gap for every housed household."""
    n = hh_cell.size
    flag = np.zeros(n, dtype=np.bool_)
    for i in range(n):
        c = hh_cell[i]
        if c < 0:
            flag[i] = True
            continue
        g = hh_group[i]
        p = base_rate
        gap = vref[g] - v[cell_site[c], g]
        if gap > 0.0:
            p += diss_rate * (1.0 - np.exp(-gap))
        flag[i] = pcg.uniform(rng) < p
    movers = np.flatnonzero(flag).astype(np.int64)
    pcg.shuffle(rng, movers)
    return movers


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_hh=st.integers(0, 300),
    base=st.sampled_from([0.0, 0.07, 0.5, 1.0]) | st.floats(0.0, 1.0),
    diss=st.sampled_from([0.0, 0.15, 1.0]) | st.floats(0.0, 1.0),
    spread=st.sampled_from([0.0, 0.1, 3.0, 50.0]),
)
def test_draw_movers_skips_the_gap_only_where_it_cannot_matter(seed, n_hh, base, diss, spread):
    """Uniforms below base_rate or at/above base_rate + dissatisfaction_rate decide without
    the household's utility: the movers and the stream's end state are those of the rule
    evaluated for everyone."""
    w = make_world(seed, n_cells=40, n_hh=n_hh, groups=3)
    site_cell, cell_site = K.sites_of(w["capacity"])
    rng = np.random.default_rng(seed)
    v = rng.normal(0.0, spread, (site_cell.size, 3))
    vref = np.append(rng.normal(0.0, spread, 2), -np.inf)  # the last group: nothing affordable
    a, b = pcg.stream_of(np.random.default_rng(seed)), pcg.stream_of(np.random.default_rng(seed))
    got = K.draw_movers(w["hh_cell"], w["hh_group"], cell_site, v, vref, base, diss, a)
    ref = _draw_movers_reference(w["hh_cell"], w["hh_group"], cell_site, v, vref, base, diss, b)
    np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(a, b)


# ----------------------------------------------------------------------------- invariants


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_cells=st.integers(1, 25),
    n_hh=st.integers(0, 60),
    groups=st.integers(1, 4),
    n_alt=st.integers(1, 12),
    base=st.floats(0.0, 0.5),
    diss=st.floats(0.0, 0.5),
)
def test_moves_keep_capacity_households_and_affordability(
    seed, n_cells, n_hh, groups, n_alt, base, diss
):
    w = make_world(seed, n_cells=n_cells, n_hh=n_hh, groups=groups)
    before = w["hh_cell"].copy()
    rng = np.random.default_rng(seed)
    movers = choice.select_movers(*args(w), base, diss, n_alt, rng)
    assert movers.dtype == np.int64 and np.unique(movers).size == movers.size
    assert set(np.flatnonzero(before < 0)) <= set(movers.tolist())
    n_moved, n_unhoused = choice.relocate(movers, *args(w), n_alt, rng)
    after = w["hh_cell"]
    occ = w["occ"]
    assert (occ >= 0).all() and (occ.sum(axis=1) <= w["capacity"]).all()
    np.testing.assert_array_equal(occ, recount(w))
    # non-movers untouched; housed households never lose their dwelling
    still = np.ones(after.size, dtype=bool)
    still[movers] = False
    np.testing.assert_array_equal(after[still], before[still])
    assert not ((before >= 0) & (after < 0)).any()
    assert n_unhoused == int((after < 0).sum())
    changed = (after >= 0) & (after != before)
    assert n_moved == int(changed.sum())
    assert affordable(w, after[changed], w["hh_group"][changed]).all()


@settings(max_examples=30, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), n_alt=st.integers(1, 6))
def test_relocate_any_order_subset(seed, n_alt):
    w = make_world(seed, n_cells=8, n_hh=40, groups=2, newcomers=0.3)
    rng = np.random.default_rng(seed)
    order = rng.permutation(40)[: rng.integers(0, 41)].astype(np.int64)
    before = w["hh_cell"].copy()
    n_moved, n_unhoused = choice.relocate(order, *args(w), n_alt, rng)
    np.testing.assert_array_equal(w["occ"], recount(w))
    assert (w["occ"].sum(axis=1) <= w["capacity"]).all()
    untouched = np.setdiff1d(np.arange(40), order)
    np.testing.assert_array_equal(w["hh_cell"][untouched], before[untouched])
    assert n_unhoused == int((w["hh_cell"][order] < 0).sum())


def test_no_vacancy_leaves_everyone_in_place():
    w = make_world(5, n_cells=4, n_hh=0, groups=1)
    w["capacity"] = np.array([2, 1, 0, 3], dtype=np.int32)
    w["hh_cell"] = np.array([0, 0, 1, 3, 3, 3, -1], dtype=np.int32)
    w["hh_group"] = np.zeros(7, dtype=np.int8)
    w["occ"] = recount(w)
    rng = np.random.default_rng(0)
    order = np.arange(7, dtype=np.int64)
    assert choice.relocate(order, *args(w), 5, rng) == (0, 1)
    np.testing.assert_array_equal(w["hh_cell"], [0, 0, 1, 3, 3, 3, -1])


# ----------------------------------------------------------------------------- determinism


def run_year(seed, world_seed=7, n_alt=6):
    w = make_world(world_seed, n_cells=60, n_hh=150, groups=3)
    rng = np.random.default_rng(seed)
    movers = choice.select_movers(*args(w), 0.3, 0.4, n_alt, rng)
    counts = choice.relocate(movers, *args(w), n_alt, rng)
    return movers, counts, w["hh_cell"], w["occ"], rng.random()


def test_same_seed_same_result_different_seed_different_result():
    a, b, c = run_year(1), run_year(1), run_year(2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x, y)
    assert not np.array_equal(a[2], c[2])
    assert not np.array_equal(a[0], c[0])


def test_jitted_kernels_equal_pure_python():
    w_jit = make_world(3, n_cells=12, n_hh=25, groups=2)
    w_py = make_world(3, n_cells=12, n_hh=25, groups=2)
    rng_jit, rng_py = np.random.default_rng(9), np.random.default_rng(9)
    m_jit = K.select_movers(*args(w_jit), 0.4, 0.3, 4, rng_jit)
    m_py = K.select_movers.py_func(*args(w_py), 0.4, 0.3, 4, rng_py)
    np.testing.assert_array_equal(m_jit, m_py)
    r_jit = K.relocate(m_jit, *args(w_jit), 4, rng_jit)
    r_py = K.relocate.py_func(m_py, *args(w_py), 4, rng_py)
    assert tuple(int(x) for x in r_jit) == tuple(int(x) for x in r_py)
    np.testing.assert_array_equal(w_jit["hh_cell"], w_py["hh_cell"])
    np.testing.assert_array_equal(w_jit["occ"], w_py["occ"])
    # the caller's generator advanced identically (numba draws NumPy's stream)
    assert rng_jit.bit_generator.state == rng_py.bit_generator.state
    assert m_jit.size > 0 and r_jit[0] > 0  # the case exercised something
    y_jit = K.move_year(*args(w_jit), 0.4, 0.3, 4, rng_jit)
    y_py = K.move_year.py_func(*args(w_py), 0.4, 0.3, 4, rng_py)
    np.testing.assert_array_equal(y_jit[0], y_py[0])
    assert tuple(int(x) for x in y_jit[1:]) == tuple(int(x) for x in y_py[1:])
    np.testing.assert_array_equal(w_jit["hh_cell"], w_py["hh_cell"])
    assert rng_jit.bit_generator.state == rng_py.bit_generator.state


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    n_cells=st.integers(1, 30),
    n_hh=st.integers(0, 80),
    groups=st.integers(1, 4),
    n_alt=st.integers(1, 14),
    base=st.floats(0.0, 0.5),
    diss=st.floats(0.0, 0.5),
    steep=st.booleans(),
    check=st.booleans(),
)
def test_move_year_equals_select_then_relocate(
    seed, n_cells, n_hh, groups, n_alt, base, diss, steep, check
):
    """The fused year (tables built once, validated once or trusted) takes the same draws and
    gives the same movers, dwellings, occupancy and counts as the two validated steps."""
    a = make_world(seed, n_cells=n_cells, n_hh=n_hh, groups=groups, newcomers=0.2)
    if steep:  # utility gaps of hundreds: tabulated weights underflow, the guard decides
        a["coefs"] = a["coefs"] * 300.0
    b = {k: v.copy() for k, v in a.items()}
    rng_a, rng_b = np.random.default_rng(seed), np.random.default_rng(seed)
    movers = choice.select_movers(*args(a), base, diss, n_alt, rng_a)
    counts = choice.relocate(movers, *args(a), n_alt, rng_a)
    fused = choice.move_year(*args(b), base, diss, n_alt, rng_b, check=check)
    np.testing.assert_array_equal(fused[0], movers)
    assert fused[1:] == counts
    np.testing.assert_array_equal(b["hh_cell"], a["hh_cell"])
    np.testing.assert_array_equal(b["occ"], a["occ"])
    assert rng_a.bit_generator.state == rng_b.bit_generator.state


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.Philox])
def test_same_year_whichever_way_the_generator_is_drawn(bitgen):
    """The wrappers step a PCG64 inline (metrosim._kernels.pcg) and draw any other generator
    through NumPy; the kernel run on the Generator itself gives the same year either way."""
    a = make_world(4, n_cells=40, n_hh=120, groups=3)
    b = {k: v.copy() for k, v in a.items()}
    rng_a, rng_b = np.random.Generator(bitgen(8)), np.random.Generator(bitgen(8))
    got = choice.move_year(*args(a), 0.3, 0.3, 7, rng_a)
    ref = K.move_year(*args(b), 0.3, 0.3, 7, rng_b)
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1:] == (int(ref[1]), int(ref[2])) and got[1] > 0
    np.testing.assert_array_equal(a["hh_cell"], b["hh_cell"])
    np.testing.assert_array_equal(rng_a.random(4), rng_b.random(4))


def test_move_year_validates_like_the_steps():
    w = make_world(1, n_cells=10, n_hh=20, groups=2)
    bad = dict(w, rent=_with("rent", 2, np.nan))
    with pytest.raises(ValueError, match=r"rent\[2\] = .*nan.*finite"):
        choice.move_year(*args(bad), 0.1, 0.2, 3, np.random.default_rng(0))
    with pytest.raises(ValueError, match=r"base_rate \+ dissatisfaction_rate = .*allowed: <= 1"):
        choice.move_year(*args(w), 0.6, 0.6, 3, np.random.default_rng(0), check=False)
    frozen = dict(w, occ=w["occ"].copy())
    frozen["occ"].flags.writeable = False
    with pytest.raises(ValueError, match=r"occ is read-only"):
        choice.move_year(*args(frozen), 0.1, 0.2, 3, np.random.default_rng(0))


# ----------------------------------------------------------------------------- validation


def call_relocate(**change):
    w = make_world(1, n_cells=10, n_hh=20, groups=2)
    kw = dict(w, order=np.arange(5, dtype=np.int64), n_alt=3, rng=np.random.default_rng(0))
    kw.update(change)
    return choice.relocate(kw["order"], *args(kw), kw["n_alt"], kw["rng"])


def call_select(**change):
    w = make_world(1, n_cells=10, n_hh=20, groups=2)
    kw = dict(w, base=0.1, diss=0.2, n_alt=3, rng=np.random.default_rng(0))
    kw.update(change)
    return choice.select_movers(*args(kw), kw["base"], kw["diss"], kw["n_alt"], kw["rng"])


W = make_world(1, n_cells=10, n_hh=20, groups=2)


def _with(name, index, value):
    a = W[name].copy()
    a[index] = value
    return a


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"hh_cell": W["hh_cell"].astype(np.int64)}, r"hh_cell has dtype int64; allowed: int32"),
        ({"hh_cell": list(W["hh_cell"])}, r"hh_cell = list object"),
        ({"hh_cell": _with("hh_cell", 3, 10)}, r"hh_cell\[3\] = .*10.*-1 \(unhoused\)"),
        ({"hh_cell": _with("hh_cell", 3, -2)}, r"hh_cell\[3\] = .*-2"),
        ({"hh_group": W["hh_group"][:5]}, r"hh_group has shape \(5,\); allowed: \(20,\)"),
        ({"hh_group": _with("hh_group", 0, 2)}, r"hh_group\[0\] = .*2.*allowed: 0 to 1"),
        ({"capacity": _with("capacity", 1, -1)}, r"capacity\[1\] = .*-1.*dwellings >= 0"),
        ({"capacity": np.zeros(10, dtype=np.int32)}, r"occ\[\d+\] sums to \d+ .*capacity"),
        ({"occ": np.asfortranarray(W["occ"])}, r"occ is not C-contiguous"),
        ({"occ": W["occ"][:, :1].copy()}, r"occ has shape \(10, 1\); allowed: \(10, 2\)"),
        ({"occ": W["occ"] * 0}, r"occ\[\d+, \d+\] = 0; allowed: the number of housed"),
        ({"rent": _with("rent", 2, np.nan)}, r"rent\[2\] = .*nan.*finite"),
        ({"rent": _with("rent", 2, -5.0)}, r"rent\[2\] = .*-5.0.*>= 0"),
        ({"commute": W["commute"][:9].copy()}, r"commute has shape \(9,\)"),
        ({"green": _with("green", 0, np.inf)}, r"green\[0\] = .*inf.*finite"),
        ({"mix": _with("mix", 4, [0.7, 0.7])}, r"mix row sums\[4\] = .*1.4.*allowed: 1"),
        ({"mix": _with("mix", 4, [1.5, -0.5])}, r"mix\[4, 1\] = .*-0.5.*>= 0"),
        ({"income": np.array([1e5, 0.0])}, r"income\[1\] = .*0.0.*positive"),
        ({"income": np.ones(128)}, r"income has 128 groups; allowed: 1 to 127"),
        ({"coefs": W["coefs"][:5].copy()}, r"coefs has shape \(5,\); allowed: \(6,\)"),
        ({"coefs": _with("coefs", 1, np.nan)}, r"coefs\[1\] \(beta_commute_per_min\) = nan"),
        ({"coefs": _with("coefs", 5, 0.0)}, r"coefs\[5\] \(max_rent_share\) = 0.0; allowed: > 0"),
        ({"n_alt": 0}, r"n_alt = 0; allowed: an integer >= 1"),
        ({"n_alt": 2.5}, r"n_alt = 2.5; allowed: an integer"),
        ({"n_alt": True}, r"n_alt = True; allowed: an integer"),
        ({"n_alt": 2**63}, r"n_alt = 9223372036854775808; allowed: .* <= 2147483647"),
        ({"n_alt": 2**64}, r"n_alt = 18446744073709551616; allowed: .* <= 2147483647"),
        (
            {"income": np.array([1e-310, 1e6])},  # finite and > 0, but rent / income = inf
            r"give a dwelling of cell \d+ the utility -inf for group 0 .*allowed: .*finite",
        ),
        (
            {"coefs": _with("coefs", 3, 1.7e308), "green": np.full(10, 2.0)},
            r"coefs = \[.*1.7e\+308.*\] give a dwelling of cell 0 the utility inf for group 0",
        ),
        ({"rng": 42}, r"rng = 42; allowed: a numpy.random.Generator"),
    ],
)
def test_validation_names_argument_value_and_allowed(change, match):
    with pytest.raises(ValueError, match=match):
        call_relocate(**change)
    with pytest.raises(ValueError, match=match):
        call_select(**change)


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"order": np.arange(5, dtype=np.int32)}, r"order has dtype int32; allowed: int64"),
        ({"order": np.array([0, 20])}, r"order\[1\] = .*20.*allowed: household indices"),
        ({"order": np.array([3, 1, 3])}, r"order lists household 3 2 times; allowed: at most once"),
    ],
)
def test_relocate_validates_order(change, match):
    with pytest.raises(ValueError, match=match):
        call_relocate(**change)


def test_relocate_needs_writeable_state():
    ro = W["hh_cell"].copy()
    ro.flags.writeable = False
    with pytest.raises(ValueError, match=r"hh_cell is read-only; allowed: a writeable array"):
        call_relocate(hh_cell=ro)
    assert call_select(hh_cell=ro).dtype == np.int64  # reading only is fine


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"base": -0.1}, r"base_rate = -0.1; allowed: a real number in \[0, 1\]"),
        ({"diss": float("nan")}, r"dissatisfaction_rate = nan; allowed"),
        ({"base": 0.75, "diss": 0.5}, r"base_rate \+ dissatisfaction_rate = 1.25; allowed: <= 1"),
    ],
)
def test_select_movers_validates_rates(change, match):
    with pytest.raises(ValueError, match=match):
        call_select(**change)


def test_total_capacity_must_fit_int32():
    w = make_world(2, n_cells=3, n_hh=0, groups=1)
    w["capacity"] = np.array([2**30, 2**30, 5], dtype=np.int32)
    with pytest.raises(ValueError, match=r"capacity sums to 2147483653 dwellings; allowed"):
        choice.relocate(np.zeros(0, dtype=np.int64), *args(w), 3, np.random.default_rng(0))


# ----------------------------------------------------------------------------- shared generator


def _fixed_draw_world():
    """A world whose select_movers with rates 0 draws a fixed number of doubles: n_alt per
    group, then one per housed household (nobody unhoused, so the shuffle draws nothing)."""
    w = make_world(3, n_cells=50, n_hh=100, groups=3, newcomers=0.0)
    assert (w["hh_cell"] >= 0).all()
    return w, 3 * 4 + w["hh_cell"].size


@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.Philox])
def test_generator_shared_by_threads_gives_each_call_its_own_draws(bitgen):
    """One thread runs select_movers, another draws from the same Generator (a PCG64 stream
    stepped inline and written back, or NumPy's functions called from the kernel): the
    Generator ends where the same draws made one after another leave it, as with NumPy's own
    methods, which hold the bit generator's lock."""
    w, per_call = _fixed_draw_world()
    n_calls, n_numpy, size = 300, 300, 100_000
    rng = np.random.Generator(bitgen(1))
    choice.select_movers(*args(w), 0.0, 0.0, 4, np.random.Generator(bitgen(0)))  # compile

    def kernel_calls():
        for _ in range(n_calls):
            choice.select_movers(*args(w), 0.0, 0.0, 4, rng)

    def numpy_calls():  # a second kernel caller for PCG64, NumPy (GIL released) for Philox
        for _ in range(n_numpy):
            if bitgen is np.random.PCG64:
                choice.select_movers(*args(w), 0.0, 0.0, 4, rng)
            else:
                rng.random(size)

    threads = [threading.Thread(target=kernel_calls), threading.Thread(target=numpy_calls)]
    interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-5)  # threads take turns often, between any two bytecodes
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(interval)
    ref = np.random.Generator(bitgen(1))
    ref.random(n_calls * per_call)
    ref.random(n_numpy * (per_call if bitgen is np.random.PCG64 else size))
    np.testing.assert_array_equal(rng.random(8), ref.random(8))


@numba.njit
def _draw_then_fail(n, rng):
    x = np.arange(n)
    pcg.shuffle(rng, x)  # 32-bit draws: may leave a half-word pending
    for _ in range(n):
        pcg.uniform(rng)
    raise ValueError("kernel failed")


@pytest.mark.parametrize("n", [0, 1, 2, 7, 40])
@pytest.mark.parametrize("bitgen", [np.random.PCG64, np.random.PCG64DXSM, np.random.MT19937])
def test_generator_state_written_back_when_the_kernel_raises(bitgen, n):
    """The draws a kernel made before raising stay made, pending 32-bit half included."""
    rng = np.random.Generator(bitgen(5))
    with pytest.raises(ValueError, match="kernel failed"):
        choice._drawing(_draw_then_fail, n, rng)
    ref = np.random.Generator(bitgen(5))
    ref.shuffle(np.arange(n))
    ref.random(n)
    np.testing.assert_array_equal(  # a pending 32-bit half is used by 32-bit draws
        rng.integers(0, 7, 9, dtype=np.uint32), ref.integers(0, 7, 9, dtype=np.uint32)
    )
    np.testing.assert_array_equal(rng.random(4), ref.random(4))


class _PCG64Subclass(np.random.PCG64):
    """Not exactly PCG64: drawn through NumPy's functions, not stepped inline."""


@pytest.mark.parametrize(
    "bitgen",
    [
        np.random.PCG64,
        np.random.PCG64DXSM,
        np.random.MT19937,
        np.random.SFC64,
        np.random.Philox,
        _PCG64Subclass,
    ],
)
def test_year_draws_numpys_own_numbers_with_any_bit_generator(bitgen):
    """The year through the wrappers (a PCG64 stepped inline, any other bit generator drawn
    through NumPy's functions from numba) equals the pure-Python kernel drawing with the
    Generator's own random() and shuffle(), with a 32-bit half pending on entry; the
    Generator ends in the same state."""
    a = make_world(4, n_cells=30, n_hh=80, groups=3)
    b = {k: v.copy() for k, v in a.items()}
    rng_a, rng_b = np.random.Generator(bitgen(8)), np.random.Generator(bitgen(8))
    for rng in (rng_a, rng_b):
        rng.integers(0, 5, dtype=np.uint32)
    got = choice.move_year(*args(a), 0.3, 0.3, 5, rng_a)
    ref = K.move_year.py_func(*args(b), 0.3, 0.3, 5, rng_b)
    np.testing.assert_array_equal(got[0], ref[0])
    assert got[1:] == (int(ref[1]), int(ref[2])) and got[1] > 0
    np.testing.assert_array_equal(a["hh_cell"], b["hh_cell"])
    np.testing.assert_array_equal(a["occ"], b["occ"])
    np.testing.assert_array_equal(
        rng_a.integers(0, 9, 20, dtype=np.uint32), rng_b.integers(0, 9, 20, dtype=np.uint32)
    )
    np.testing.assert_array_equal(rng_a.random(4), rng_b.random(4))


def test_no_dwellings_at_all_leaves_everyone_unhoused():
    """Capacity 0 everywhere: every household is a newcomer, searches and stays unhoused; the
    only draws are the shuffle of the movers."""
    w = make_world(2, n_cells=5, n_hh=0, groups=2)
    w["capacity"] = np.zeros(5, dtype=np.int32)
    w["hh_cell"] = np.full(6, -1, dtype=np.int32)
    w["hh_group"] = np.array([0, 1, 0, 1, 1, 0], dtype=np.int8)
    w["occ"] = recount(w)
    rng, ref = np.random.default_rng(3), np.random.default_rng(3)
    movers, n_moved, n_unhoused = choice.move_year(*args(w), 0.2, 0.3, 4, rng)
    order = np.arange(6, dtype=np.int64)
    ref.shuffle(order)
    np.testing.assert_array_equal(movers, order)
    assert (n_moved, n_unhoused) == (0, 6) and (w["hh_cell"] == -1).all()
    assert rng.bit_generator.state == ref.bit_generator.state
