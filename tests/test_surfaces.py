import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy import ndimage
from scipy.sparse import csr_matrix
from scipy.sparse.csgraph import dijkstra

from metrosim._kernels.spatial import (
    coverage_window_sums,
    service_and_green_ratio,
    vacancy_rates,
)
from metrosim._kernels.surfaces import (
    dijkstra_buckets,
    dijkstra_heap,
    gravity_logsum,
    shortest_times,
)
from metrosim.surfaces import (
    _half_minutes,
    _queue,
    distance_to_nearest,
    job_accessibility,
    neighbourhood_shares,
    neighbourhood_sum,
    travel_time,
)

SQRT2 = np.sqrt(2.0)


# --------------------------------------------------------------------------------------------
# helpers


def half_minutes(speed, cell):
    """Minutes to cross half a cell, inf where impassable (the documented edge-cost rule)."""
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(speed > 0, 0.5 * cell * 0.06 / speed, np.inf)


def scipy_graph(speed, cell, links=None, extra_nodes=0):
    """The 8-connected grid graph (plus links) as a scipy sparse matrix, parallel edges min."""
    ny, nx = speed.shape
    h = half_minutes(speed, cell)
    edges = {}
    for r in range(ny):
        for c in range(nx):
            for dr in (-1, 0, 1):
                for dc in (-1, 0, 1):
                    rr, cc = r + dr, c + dc
                    if (dr or dc) and 0 <= rr < ny and 0 <= cc < nx:
                        if np.isfinite(h[r, c]) and np.isfinite(h[rr, cc]):
                            step = SQRT2 if dr and dc else 1.0
                            edges[(r * nx + c, rr * nx + cc)] = step * (h[r, c] + h[rr, cc])
    if links is not None:
        hf = h.ravel()
        for a, b, m in zip(*links, strict=True):
            if np.isfinite(hf[a]) and np.isfinite(hf[b]) and a != b:
                edges[(a, b)] = min(edges.get((a, b), np.inf), m)
    n = ny * nx + extra_nodes
    if not edges:
        return csr_matrix((n, n))
    (ij, w) = zip(*edges.items(), strict=True)
    i, j = np.array(ij).T
    return csr_matrix((np.array(w), (i, j)), shape=(n, n))


@st.composite
def grids(draw, max_side=7, links=True):
    ny = draw(st.integers(1, max_side))
    nx = draw(st.integers(1, max_side))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    speed = rng.uniform(2.0, 60.0, (ny, nx))
    blocked = rng.random((ny, nx)) < draw(st.sampled_from([0.0, 0.15, 0.3]))
    speed[blocked] = rng.choice([0.0, -3.0, np.nan], blocked.sum())
    cell = float(draw(st.sampled_from([50.0, 100.0, 250.0])))
    n = ny * nx
    k = draw(st.integers(0, 6)) if links else 0
    lk = (rng.integers(0, n, k), rng.integers(0, n, k), rng.uniform(0.01, 5.0, k))
    return speed, cell, lk, rng


# --------------------------------------------------------------------------------------------
# travel_time: exact small cases


def test_corridor_time_is_length_over_speed():
    t = travel_time(np.full((1, 6), 6.0), 100.0, np.array([0]))  # 100 m per minute
    np.testing.assert_allclose(t, [[0, 1, 2, 3, 4, 5]], rtol=1e-12)
    t = travel_time(np.full((1, 5), 30.0), 250.0, np.array([4]))  # 500 m per minute
    np.testing.assert_allclose(t, [[2.0, 1.5, 1.0, 0.5, 0.0]], rtol=1e-12)


def test_step_crosses_half_of_each_cell():
    # 100 m cells at 6 and 3 km/h: half of each, 0.5 + 1.0 minutes (harmonic mean of speeds).
    t = travel_time(np.array([[6.0, 3.0, 3.0]]), 100.0, np.array([0]))
    np.testing.assert_allclose(t, [[0.0, 1.5, 3.5]], rtol=1e-12)


def test_diagonal_costs_sqrt2():
    t = travel_time(np.full((4, 4), 6.0), 100.0, np.array([0]))
    assert t[3, 3] == pytest.approx(3 * SQRT2, rel=1e-12)
    assert t[1, 3] == pytest.approx(SQRT2 + 2, rel=1e-12)  # one diagonal, two straight
    assert t[3, 0] == pytest.approx(3.0, rel=1e-12)


def test_source_minutes_and_duplicates():
    speed = np.full((1, 5), 6.0)
    t = travel_time(speed, 100.0, np.array([0, 4, 4]), source_minutes=np.array([0.0, 0.5, 9]))
    np.testing.assert_allclose(t, [[0.0, 1.0, 2.0, 1.5, 0.5]], rtol=1e-12)


def test_metro_link_shortcut_reduces_times_beyond_it():
    speed = np.full((3, 30), 6.0)
    base = travel_time(speed, 100.0, np.array([30]))  # row 1, col 0
    links = (np.array([30]), np.array([55]), np.array([2.0]))  # row 1: col 0 -> col 25
    t = travel_time(speed, 100.0, np.array([30]), links=links)
    assert t[1, 25] == pytest.approx(2.0)
    assert t[1, 29] == pytest.approx(6.0) and base[1, 29] == pytest.approx(29.0)
    assert (t[:, 15:] < base[:, 15:]).all()
    np.testing.assert_array_equal(t[:, :12], base[:, :12])  # closer to walk than to ride
    # links are directed: from the far end they do not help
    back = travel_time(speed, 100.0, np.array([55]), links=links)
    np.testing.assert_array_equal(back, travel_time(speed, 100.0, np.array([55])))


def test_zero_minute_link_uses_the_heap_and_is_exact():
    speed = np.full((1, 10), 6.0)
    links = (np.array([0]), np.array([9]), np.array([0.0]))
    assert _queue(_half_minutes(speed, 100.0), links[2])[1] == 0
    t = travel_time(speed, 100.0, np.array([0]), links=links)
    np.testing.assert_allclose(t, [[0, 1, 2, 3, 4, 4, 3, 2, 1, 0]], rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("blocked", [0.0, -1.0, np.nan, -np.inf])
def test_impassable_cells_are_inf(blocked):
    speed = np.full((3, 6), 6.0)
    speed[:, 3] = blocked
    t = travel_time(speed, 100.0, np.array([0]))
    assert np.isinf(t[:, 3:]).all() and np.isfinite(t[:, :3]).all()
    # a source on an impassable cell is ignored; a link into one is ignored too
    assert np.isinf(travel_time(speed, 100.0, np.array([3]))).all()
    links = (np.array([0, 3]), np.array([3, 5]), np.array([1.0, 1.0]))
    np.testing.assert_array_equal(travel_time(speed, 100.0, np.array([0]), links=links), t)
    # a wall with a gap at the corner is passed through the gap (diagonally)
    speed[0, 3] = 6.0
    t = travel_time(speed, 100.0, np.array([12]))  # row 2, col 0
    assert np.isfinite(t[2, 5]) and np.isinf(t[1:, 3]).all()


def test_no_sources_all_inf():
    assert np.isinf(travel_time(np.ones((2, 3)), 100.0, np.array([], dtype=np.int64))).all()
    assert np.isinf(travel_time(np.ones((2, 3)), 100.0, [])).all()


# --------------------------------------------------------------------------------------------
# travel_time: properties


@settings(max_examples=60, deadline=None)
@given(grids())
def test_equals_scipy_dijkstra(case):
    speed, cell, links, rng = case
    n = speed.size
    sources = rng.integers(0, n, rng.integers(1, 4))
    t = travel_time(speed, cell, sources, links=links)
    ok_src = sources[speed.ravel()[sources] > 0]  # sources on impassable cells are ignored
    ref = np.full(n, np.inf)
    if ok_src.size:
        ref = dijkstra(scipy_graph(speed, cell, links), indices=ok_src, min_only=True)
    np.testing.assert_allclose(t.ravel(), ref, rtol=0, atol=1e-9)
    assert (np.isinf(t.ravel()) == np.isinf(ref)).all()


@settings(max_examples=60, deadline=None)
@given(grids())
def test_multi_source_is_min_over_single_sources(case):
    speed, cell, links, rng = case
    sources = rng.integers(0, speed.size, rng.integers(1, 5))
    t0 = rng.uniform(0, 10, sources.size)
    multi = travel_time(speed, cell, sources, source_minutes=t0, links=links)
    singles = [
        travel_time(speed, cell, sources[k : k + 1], source_minutes=t0[k : k + 1], links=links)
        for k in range(sources.size)
    ]
    np.testing.assert_allclose(multi, np.min(singles, axis=0), rtol=1e-12)


@settings(max_examples=40, deadline=None)
@given(grids(max_side=9))
def test_bucket_queue_equals_heap(case):
    speed, cell, links, rng = case
    ny, nx = speed.shape
    half = _half_minutes(speed, cell)
    order = np.argsort(links[0], kind="stable")

    def pad(c):
        return (c // nx + 1) * (nx + 2) + c % nx + 1

    frm, to, mins = pad(links[0][order]), pad(links[1][order]), links[2][order]
    ptr = np.searchsorted(frm, np.arange(half.size + 1)).astype(np.int64)
    src = pad(rng.integers(0, ny * nx, 3))
    t0 = rng.uniform(0, 3, 3)
    delta, n_slots = _queue(half, mins, np.ptp(t0))
    if n_slots == 0:  # the heap only when no cell is passable (edge costs here are > 0)
        assert np.isinf(half).all()
        return
    heap = dijkstra_heap(half, nx + 2, src, t0, ptr, to, mins)
    buckets = dijkstra_buckets(half, nx + 2, src, t0, ptr, to, mins, delta, n_slots)
    np.testing.assert_allclose(buckets, heap, rtol=1e-13)


def test_start_times_spread_beyond_the_bucket_ring():
    # sources whose start times differ by far more than the largest edge cost: more buckets,
    # or the heap when the spread is too wide for the bucket ring
    speed = np.full((1, 40), 60.0)  # 0.1 minute per cell
    half = _half_minutes(speed, 100.0)
    assert _queue(half, np.zeros(0), 500.0)[1] > 4096
    assert _queue(half, np.zeros(0), 1e4)[1] == 0
    col = np.arange(40)
    for late in (500.0, 1e4):
        t = travel_time(speed, 100.0, np.array([0, 39]), source_minutes=np.array([0.0, late]))
        np.testing.assert_allclose(t.ravel(), col * 0.1, rtol=1e-12)
        t = travel_time(speed, 100.0, np.array([39, 0]), source_minutes=np.array([0.0, 3.0]))
        np.testing.assert_allclose(t.ravel(), np.minimum(3 + col * 0.1, (39 - col) * 0.1))


def test_index_dtypes_and_list_inputs():
    speed = np.full((2, 3), 6.0)
    ref = travel_time(speed, 100.0, np.array([0]), links=(np.array([0]), np.array([5]), [0.5]))
    for src in (np.array([0], dtype=np.uint8), np.array([0], dtype=np.int32), [0]):
        got = travel_time(speed, 100, src, links=([0], np.array([5], np.uint16), [0.5]))
        np.testing.assert_array_equal(got, ref)
    assert ref[1, 2] == pytest.approx(0.5)


def test_jit_equals_python():
    rng = np.random.default_rng(3)
    speed = rng.uniform(3, 30, (4, 5))
    speed[1, 2] = 0
    half = _half_minutes(speed, 100.0)
    ptr = np.zeros(half.size + 1, dtype=np.int64)
    ptr[8:] = 1  # one link leaving padded cell 7 (row 0, col 0)
    to, mins = np.array([30], dtype=np.int64), np.array([0.7])
    src, t0 = np.array([7, 22]), np.array([0.0, 0.4])
    delta, n_slots = _queue(half, mins)
    for f, extra in ((dijkstra_heap, ()), (dijkstra_buckets, (delta, n_slots))):
        args = (half, 7, src, t0, ptr, to, mins, *extra)
        np.testing.assert_array_equal(f(*args), f.py_func(*args))
    args = (half, 7, src, t0, ptr, to, mins, delta, 0)
    np.testing.assert_array_equal(shortest_times(*args), shortest_times.py_func(*args))
    args = (half, 7, src, np.log([0.3, 0.7]), ptr, to, mins, delta, n_slots, 0.1, 1)
    for a, b in zip(gravity_logsum(*args), gravity_logsum.py_func(*args), strict=True):
        np.testing.assert_array_equal(a, b)


# --------------------------------------------------------------------------------------------
# job_accessibility


def test_one_job_cell_gives_exp_decay_and_travel_time():
    rng = np.random.default_rng(0)
    speed = rng.uniform(4, 40, (9, 11))
    speed[4, 2:8] = 0
    jobs = np.zeros_like(speed)
    jobs[6, 5] = 1234.0
    # directed links: one towards the job cell (shortens commutes), one away (does not)
    links = (np.array([2, 67]), np.array([71, 3]), np.array([0.5, 0.5]))
    a, g = job_accessibility(speed, 100.0, jobs, coarsen=1, beta_per_min=0.08, links=links)
    # commute from i to the jobs = search from the jobs over the reversed links
    rev = (links[1], links[0], links[2])
    t = travel_time(speed, 100.0, np.array([71]), links=rev)
    np.testing.assert_allclose(g, t, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a, 1234.0 * np.exp(-0.08 * t), rtol=1e-12)
    assert g[0, 2] == pytest.approx(0.5)
    assert np.isinf(g[4, 2:8]).all() and (a[4, 2:8] == 0).all()


def test_two_job_cells_sum_and_logsum():
    speed = np.full((5, 8), 12.0)
    speed[2, 4] = np.nan
    jobs = np.zeros_like(speed)
    jobs[0, 0], jobs[4, 7] = 100.0, 300.0
    beta = 0.3
    a, g = job_accessibility(speed, 250.0, jobs, coarsen=1, beta_per_min=beta)
    t1 = travel_time(speed, 250.0, np.array([0]))
    t2 = travel_time(speed, 250.0, np.array([39]))
    ref = 100 * np.exp(-beta * t1) + 300 * np.exp(-beta * t2)
    np.testing.assert_allclose(a, ref, rtol=1e-12)
    with np.errstate(divide="ignore"):
        np.testing.assert_allclose(g, -np.log(ref / 400) / beta, rtol=1e-12)
    assert (g >= np.minimum(t1, t2) - 1e-12).all()  # logsum is above the nearest job ...
    assert (g <= np.minimum(t1, t2) + np.log(4) / beta + 1e-12).all()  # ... within ln(J/J_j)


def test_coarsened_equals_travel_time_on_the_block_grid():
    rng = np.random.default_rng(1)
    ny, nx, k = 11, 14, 3  # partial blocks on both edges
    speed = rng.uniform(5, 50, (ny, nx))
    speed[rng.random((ny, nx)) < 0.2] = 0
    speed[9:, 12:] = 0  # an impassable (partial) block
    jobs = np.zeros((ny, nx))
    jobs[3:6, 6:9] = rng.uniform(0, 10, (3, 3))  # all inside block (1, 2)
    a, g = job_accessibility(speed, 100.0, jobs, coarsen=k, beta_per_min=0.05)
    by, bx = 4, 5
    bspeed = np.zeros((by, bx))
    for i in range(by):
        for j in range(bx):
            s = speed[i * k : (i + 1) * k, j * k : (j + 1) * k]
            if (s > 0).any():
                bspeed[i, j] = s[s > 0].mean()
    tb = travel_time(bspeed, 300.0, np.array([1 * bx + 2]))
    fine = np.repeat(np.repeat(tb, k, 0), k, 1)[:ny, :nx]
    fine[speed <= 0] = np.inf
    np.testing.assert_allclose(g, fine, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(a, jobs.sum() * np.exp(-0.05 * fine), rtol=1e-12)


def test_links_are_mapped_to_blocks():
    speed = np.full((4, 40), 6.0)
    jobs = np.zeros_like(speed)
    jobs[0, 0] = 5.0
    # a link from the far east end (row 3, col 39) to block 1, next to the jobs' block 0
    links = (np.array([3 * 40 + 39, 0]), np.array([5, 1]), np.array([1.0, 1.0]))
    _, g = job_accessibility(speed, 100.0, jobs, coarsen=4, beta_per_min=0.1, links=links)
    # blocks of 400 m at 100 m/min: 4 minutes per block; the ride + 1 block to the jobs
    assert g[0, 39] == pytest.approx(1.0 + 4.0) and g[3, 36] == pytest.approx(5.0)
    assert g[0, 4] == pytest.approx(4.0)  # the link within block 0 is dropped


def test_generalized_minutes_survive_underflow():
    speed = np.full((1, 60), 6.0)
    jobs = np.zeros_like(speed)
    jobs[0, 0] = 1.0
    a, g = job_accessibility(speed, 1000.0, jobs, coarsen=1, beta_per_min=20.0)
    # 10 minutes per cell: exp(-20 * 590) underflows, the logsum does not
    assert a[0, -1] == 0.0
    assert g[0, -1] == pytest.approx(590.0, rel=1e-12)


def test_accessibility_independent_of_threads_and_chunks():
    rng = np.random.default_rng(7)
    speed = rng.uniform(3, 40, (40, 36))
    speed[rng.random(speed.shape) < 0.1] = 0
    jobs = np.where(rng.random(speed.shape) < 0.15, rng.uniform(0, 100, speed.shape), 0.0)
    links = (rng.integers(0, speed.size, 30), rng.integers(0, speed.size, 30), np.full(30, 1.5))
    kw = dict(coarsen=2, beta_per_min=0.07, links=links)
    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = job_accessibility(speed, 250.0, jobs, **kw)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = job_accessibility(speed, 250.0, jobs, **kw)
    finally:
        numba.set_num_threads(before)
    for x, y in zip(one, two, strict=True):
        np.testing.assert_array_equal(x, y)
    # chunking of the sources does not change the reduction order
    half = _half_minutes(speed, 100.0)
    ptr = np.zeros(half.size + 1, dtype=np.int64)
    z, zf = np.zeros(0, dtype=np.int64), np.zeros(0)
    src = np.flatnonzero(np.isfinite(half))[::37]
    ls = np.log(rng.dirichlet(np.ones(src.size)))
    delta, n_slots = _queue(half, zf)
    ref = gravity_logsum(half, 38, src, ls, ptr, z, zf, delta, n_slots, 0.1, 1000)
    for chunk in (1, 3):
        got = gravity_logsum(half, 38, src, ls, ptr, z, zf, delta, n_slots, 0.1, chunk)
        for x, y in zip(ref, got, strict=True):
            np.testing.assert_array_equal(x, y)


def test_unreachable_jobs_and_components():
    speed = np.full((3, 7), 6.0)
    speed[:, 3] = 0
    jobs = np.zeros_like(speed)
    jobs[1, 0] = 10.0
    a, g = job_accessibility(speed, 100.0, jobs, coarsen=1, beta_per_min=0.1)
    assert np.isinf(g[:, 3:]).all() and (a[:, 3:] == 0).all() and np.isfinite(g[:, :3]).all()
    jobs[:, 3] = 50.0  # jobs only on impassable cells are left out of the total
    _, g2 = job_accessibility(speed, 100.0, jobs, coarsen=1, beta_per_min=0.1)
    np.testing.assert_array_equal(g2, g)
    with pytest.raises(ValueError, match="jobs has no job in a block with a passable cell"):
        job_accessibility(speed, 100.0, np.where(speed > 0, 0.0, 1.0), coarsen=1, beta_per_min=1)


# --------------------------------------------------------------------------------------------
# distance_to_nearest and neighbourhood_sum


def test_distance_to_nearest_brute_force():
    rng = np.random.default_rng(2)
    mask = rng.random((9, 13)) < 0.08
    mask[0, 0] = True
    d = distance_to_nearest(mask, 250.0)
    rr, cc = np.indices(mask.shape)
    pts = np.argwhere(mask)
    ref = np.hypot(rr[..., None] - pts[:, 0], cc[..., None] - pts[:, 1]).min(-1) * 250.0
    np.testing.assert_allclose(d, ref, rtol=1e-12)
    assert d.dtype == np.float64 and (d[mask] == 0).all()
    assert np.isinf(distance_to_nearest(np.zeros((3, 4), dtype=bool), 100.0)).all()


def brute_box(a, r):
    out = np.zeros(a.shape, dtype=np.int64 if a.dtype.kind in "biu" else np.float64)
    ny, nx = a.shape[:2]
    for i in range(ny):
        for j in range(nx):
            out[i, j] = a[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].sum(axis=(0, 1))
    return out


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 9),
    st.integers(1, 9),
    st.sampled_from([None, 1, 3]),
    st.integers(0, 5),
    st.sampled_from(["int64", "int16", "uint8", "bool", "float64", "float32"]),
    st.integers(0, 2**32 - 1),
)
def test_neighbourhood_sum_equals_brute_force(ny, nx, k, r, dtype, seed):
    rng = np.random.default_rng(seed)
    shape = (ny, nx) if k is None else (ny, nx, k)
    if dtype == "int64":
        a = rng.integers(-(2**40), 2**40, shape)
    elif dtype in ("float64", "float32"):
        a = (rng.random(shape) * (rng.random(shape) < 0.5) * 1e3).astype(dtype)
    else:
        a = (
            rng.integers(0, 2, shape).astype(dtype)
            if dtype == "bool"
            else rng.integers(0, 100, shape).astype(dtype)
        )
    got = neighbourhood_sum(a, r)
    ref = brute_box(a.astype(np.float64) if a.dtype.kind == "f" else a.astype(np.int64), r)
    assert got.shape == a.shape
    if a.dtype.kind == "f":
        assert got.dtype == np.float64
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
        assert (got >= 0).all() and (got[ref == 0] == 0).all()
    else:
        assert got.dtype == np.int64
        np.testing.assert_array_equal(got, ref)


def numpy_running_window(a, r, axis):
    """The numpy expression the float kernels reproduce: pad, cumsum, difference."""
    w = 2 * r + 1
    pad = [(0, 0)] * a.ndim
    pad[axis] = (r + 1, r)
    c = np.pad(a, pad).cumsum(axis=axis)
    n = a.shape[axis]
    return np.take(c, np.arange(w, w + n), axis=axis) - np.take(c, np.arange(0, n), axis=axis)


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 12),
    st.integers(1, 12),
    st.sampled_from([None, 1, 5]),
    st.integers(0, 6),
    st.integers(0, 2**32 - 1),
)
def test_neighbourhood_sum_float_is_bit_identical_to_numpy_running_sums(ny, nx, k, r, seed):
    # the numba running sums do the same additions in the same order as numpy's cumsum, so
    # model results do not depend on which of the two computed a float neighbourhood sum
    rng = np.random.default_rng(seed)
    shape = (ny, nx) if k is None else (ny, nx, k)
    a = rng.lognormal(0.0, 3.0, shape) * (rng.random(shape) < 0.6)
    ref = a
    for axis in (0, 1):
        ref = numpy_running_window(ref, r, axis)
    got = neighbourhood_sum(a, r)
    assert got.tobytes() == ref.tobytes()


@settings(max_examples=60, deadline=None)
@given(
    st.integers(1, 10),
    st.integers(1, 10),
    st.integers(1, 5),
    st.integers(0, 5),
    st.sampled_from(["int32", "int64", "uint8"]),
    st.integers(0, 2**32 - 1),
)
def test_neighbourhood_shares_equals_window_sums_divided(ny, nx, k, r, dtype, seed):
    # the model's income mix: the same bits as the window sums turned into shares
    rng = np.random.default_rng(seed)
    a = (rng.integers(0, 40, (ny, nx, k)) * (rng.random((ny, nx, k)) < 0.4)).astype(dtype)
    total, share = neighbourhood_shares(a, r)
    w = neighbourhood_sum(a, r).reshape(-1, k)
    ref_total = w.sum(axis=1)
    ref = np.where(ref_total[:, None] > 0, w / np.maximum(ref_total, 1)[:, None], 0.0)
    assert total.dtype == np.int64 and share.dtype == np.float64
    np.testing.assert_array_equal(total, ref_total)
    assert share.tobytes() == ref.tobytes()


def test_neighbourhood_shares_rejects_bad_counts():
    with pytest.raises(ValueError, match="neighbourhood_shares: counts contains -1"):
        neighbourhood_shares(-np.ones((2, 2, 2), dtype=np.int64), 1)
    with pytest.raises(ValueError, match="neighbourhood_shares: counts"):
        neighbourhood_shares(np.ones((2, 2, 2)), 1)


def test_neighbourhood_sum_matches_uniform_filter():
    a = np.random.default_rng(4).random((20, 17))
    ref = ndimage.uniform_filter(a, size=5, mode="constant") * 25
    np.testing.assert_allclose(neighbourhood_sum(a, 2), ref, rtol=1e-10)


# --------------------------------------------------------------------------------------------
# validation


SPEED = np.full((3, 4), 6.0)
JOBS = np.ones((3, 4))


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(speed_kmh=np.ones(4)), r"speed_kmh has shape \(4,\); allowed: 2-D"),
        (dict(speed_kmh=np.ones((0, 3))), "speed_kmh has shape .*allowed: a non-empty grid"),
        (dict(speed_kmh=SPEED.astype(bool)), "speed_kmh has dtype bool; allowed: integer or"),
        (dict(speed_kmh=np.full((2, 2), np.inf)), r"speed_kmh contains \+inf; allowed: finite"),
        (dict(cell_size_m=0.0), r"cell_size_m = 0.0; allowed: a finite number > 0"),
        (dict(cell_size_m=np.nan), r"cell_size_m = nan; allowed: a finite number > 0"),
        (dict(cell_size_m="100"), r"cell_size_m = '100'; allowed: a real number"),
        (dict(sources=np.array([0.0])), "sources has dtype float64; allowed: integer"),
        (dict(sources=np.array([[0]])), r"sources has shape \(1, 1\); allowed: 1-D"),
        (dict(sources=np.array([12])), r"sources contains 12; allowed: 0 .. 11"),
        (dict(sources=np.array([-1])), r"sources contains -1; allowed: 0 .. 11"),
        (dict(source_minutes=np.zeros(2)), r"source_minutes has length 2; allowed: the length"),
        (dict(source_minutes=np.array([np.nan])), "source_minutes contains nan; allowed: finite"),
        (dict(links=np.zeros(3)), "links = ndarray; allowed: None or a tuple"),
        (dict(links=([0], [1])), "links = tuple; allowed: None or a tuple"),
        (dict(links=([0], [12], [1.0])), r"links\[1\] \(to\) contains 12; allowed: 0 .. 11"),
        (dict(links=([0.5], [1], [1.0])), r"links\[0\] \(from\) has dtype float64"),
        (dict(links=([0], [1], [-1.0])), r"links\[2\] \(minutes\) contains -1.0; allowed"),
        (dict(links=([0], [1], [np.inf])), r"links\[2\] \(minutes\) contains inf; allowed"),
        (dict(links=([0, 1], [1], [1.0])), "links have lengths 2, 1, 1; allowed: three arrays"),
    ],
)
def test_travel_time_validation(kwargs, match):
    args = dict(speed_kmh=SPEED, cell_size_m=100.0, sources=np.array([0]))
    args.update(kwargs)
    with pytest.raises(ValueError, match="travel_time: " + match):
        travel_time(**args)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        (dict(jobs=np.ones((3, 3))), r"jobs has shape \(3, 3\); allowed: the shape of speed"),
        (dict(jobs=-JOBS), "jobs contains -1.0; allowed: finite values >= 0"),
        (dict(jobs=np.full((3, 4), np.nan)), "jobs contains nan; allowed: finite values >= 0"),
        (dict(jobs=JOBS.astype(complex)), "jobs has dtype complex128; allowed: integer or"),
        (dict(coarsen=0), "coarsen = 0; allowed: an integer >= 1"),
        (dict(coarsen=2.0), "coarsen = 2.0; allowed: an integer >= 1"),
        (dict(coarsen=True), "coarsen = True; allowed: an integer >= 1"),
        (dict(beta_per_min=0.0), "beta_per_min = 0.0; allowed: a finite number > 0"),
        (dict(beta_per_min=-0.1), r"beta_per_min = -0.1; allowed: a finite number > 0"),
        (dict(beta_per_min=np.inf), "beta_per_min = inf; allowed: a finite number > 0"),
        (dict(cell_size_m=-5), "cell_size_m = -5.0; allowed: a finite number > 0"),
        (dict(speed_kmh=np.ones((3, 4, 1))), r"speed_kmh has shape \(3, 4, 1\); allowed: 2-D"),
        (dict(links=([0], [1], [1.0, 2.0])), "links have lengths 1, 1, 2; allowed"),
    ],
)
def test_job_accessibility_validation(kwargs, match):
    args = dict(speed_kmh=SPEED, cell_size_m=100.0, jobs=JOBS, coarsen=1, beta_per_min=0.1)
    args.update(kwargs)
    with pytest.raises(ValueError, match="job_accessibility: " + match):
        job_accessibility(**args)


def test_distance_and_neighbourhood_validation():
    with pytest.raises(
        ValueError, match="distance_to_nearest: mask has dtype int64; allowed: bool"
    ):
        distance_to_nearest(np.zeros((2, 2), dtype=np.int64), 100.0)
    with pytest.raises(ValueError, match=r"distance_to_nearest: mask has shape \(4,\); allowed"):
        distance_to_nearest(np.zeros(4, dtype=bool), 100.0)
    with pytest.raises(ValueError, match="distance_to_nearest: cell_size_m = 0.0; allowed"):
        distance_to_nearest(np.ones((2, 2), dtype=bool), 0.0)
    with pytest.raises(ValueError, match="neighbourhood_sum: radius_cells = -1; allowed: an int"):
        neighbourhood_sum(np.ones((2, 2)), -1)
    with pytest.raises(ValueError, match="neighbourhood_sum: radius_cells = 1.5; allowed: an int"):
        neighbourhood_sum(np.ones((2, 2)), 1.5)
    with pytest.raises(ValueError, match=r"neighbourhood_sum: values has shape \(2,\); allowed"):
        neighbourhood_sum(np.ones(2), 1)
    with pytest.raises(ValueError, match="neighbourhood_sum: values has dtype complex128; allowed"):
        neighbourhood_sum(np.ones((2, 2), dtype=complex), 1)
    with pytest.raises(ValueError, match="neighbourhood_sum: values contains non-finite values"):
        neighbourhood_sum(np.array([[1.0, np.nan]]), 1)
    with pytest.raises(ValueError, match="neighbourhood_sum: values up to .*fit in int64"):
        neighbourhood_sum(np.full((4, 4), 2**60, dtype=np.int64), 1)


@settings(max_examples=60, deadline=None)
@given(
    hnp.arrays(bool, st.tuples(st.integers(1, 30), st.integers(1, 30)), elements=st.booleans()),
    st.sampled_from([1.0, 100.0, 250.0, 333.3]),
)
def test_distance_to_nearest_equals_scipy_and_threads(mask, cell):
    from scipy import ndimage

    before = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        one = distance_to_nearest(mask, cell)
        numba.set_num_threads(min(2, numba.config.NUMBA_NUM_THREADS))
        two = distance_to_nearest(mask, cell)
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(one, two)
    if mask.any():
        ref = ndimage.distance_transform_edt(~mask, sampling=cell)
        np.testing.assert_allclose(one, ref, rtol=1e-15, atol=0)
    else:
        assert np.isinf(one).all()


@numba.njit
def _float_envelope_transform(mask, cell_size, divisor):
    """The transform as first written (reference): offsets in int64, a float division per
    parabola for the envelope, and a walk along it for the output."""
    ny, nx = mask.shape
    big = ny + nx + 1
    g = np.empty((ny, nx), dtype=np.int64)
    for x in range(nx):
        g[0, x] = 0 if mask[0, x] else big
    for y in range(1, ny):
        for x in range(nx):
            g[y, x] = 0 if mask[y, x] else min(big, g[y - 1, x] + 1)
    for y in range(ny - 2, -1, -1):
        for x in range(nx):
            g[y, x] = min(g[y, x], g[y + 1, x] + 1)
    out = np.empty((ny, nx))
    v = np.empty(nx, dtype=np.int64)
    z = np.empty(nx + 1)
    for y in range(ny):
        k = -1
        for q in range(nx):
            if g[y, q] >= big:
                continue
            hq = float(g[y, q] * g[y, q] + q * q)
            if k < 0:
                k = 0
                v[0] = q
                z[0] = -np.inf
                z[1] = np.inf
                continue
            while True:
                p = v[k]
                sep = (hq - float(g[y, p] * g[y, p] + p * p)) / (2.0 * (q - p))
                if sep <= z[k]:
                    k -= 1
                else:
                    break
            k += 1
            v[k] = q
            z[k] = sep
            z[k + 1] = np.inf
        j = 0
        for x in range(nx):
            if k < 0:
                out[y, x] = np.inf
                continue
            while z[j + 1] < x:
                j += 1
            dy = g[y, v[j]] * cell_size
            dx = (x - v[j]) * cell_size
            out[y, x] = np.sqrt(dy * dy + dx * dx) / divisor
    return out


@settings(max_examples=40, deadline=None)
@given(
    ny=st.integers(1, 90),
    nx=st.integers(1, 90),
    density=st.sampled_from([0.0, 0.001, 0.02, 0.3, 0.9, 1.0]),
    divisor=st.sampled_from([1.0, 1000.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_distance_transform_is_the_float_envelope_bit_for_bit(ny, nx, density, divisor, seed):
    """Integer intersections and the output by envelope segments give the bits of the float
    envelope, on both paths of the kernel (integer comparisons, and the doubles used beyond
    ~5,800 cells). Each example also runs 30 small masks with lattices of points, where
    cells tie between nearest points at different offsets; a non-integer cell size then
    tells the offsets apart in the last bit, so the tie rule is checked too."""
    from metrosim._kernels.spatial import _transform, distance_transform

    rng = np.random.default_rng(seed)
    masks = [rng.random((ny, nx)) < density]
    for _ in range(30):
        m = rng.random(rng.integers(1, 40, 2)) < rng.choice([0.0, 0.01, 0.05, 0.2])
        step = rng.integers(1, 6)
        m[::step, :: step + 1] = True
        masks.append(m)
    for mask in masks:
        for cell in (333.3, 0.1, 250.0):
            ref = _float_envelope_transform(mask, cell, divisor)
            np.testing.assert_array_equal(distance_transform(mask, cell, divisor), ref)
            g = np.empty(mask.shape, dtype=np.int32)
            np.testing.assert_array_equal(_transform(mask, g, cell, divisor, False), ref)


@settings(max_examples=80, deadline=None)
@given(
    ny=st.integers(1, 12),
    nx=st.integers(1, 12),
    r=st.integers(0, 14),
    reach_m=st.sampled_from([400.0, 1000.0, 2000.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_coverage_window_sums_are_the_box_sums_of_both_layers(ny, nx, r, reach_m, seed):
    """One pass gives exactly neighbourhood_sum of where(km * 1000 > reach, hh, 0) and of hh,
    with distances on, just above and just below the reach."""
    rng = np.random.default_rng(seed)
    hh = rng.integers(0, 50, ny * nx).astype(np.int32)
    km = rng.choice([0.0, reach_m / 1000.0, np.nextafter(reach_m / 1000.0, 9.0), 0.25, 3.7],
                    ny * nx)  # fmt: skip
    unc, tot = coverage_window_sums(hh, km, reach_m, ny, nx, r)
    expected_unc = neighbourhood_sum(np.where(km * 1000.0 > reach_m, hh, 0).reshape(ny, nx), r)
    np.testing.assert_array_equal(unc, expected_unc.ravel())
    np.testing.assert_array_equal(tot, neighbourhood_sum(hh.reshape(ny, nx), r).ravel())
    assert unc.dtype == tot.dtype == np.int64


@settings(max_examples=60, deadline=None)
@given(n=st.integers(1, 200), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([1, 10, 20]))
def test_service_and_green_ratio_are_the_numpy_expressions_bit_for_bit(n, seed, scale):
    rng = np.random.default_rng(seed)
    km = {
        k: np.where(rng.random(n) < 0.1, np.inf, rng.exponential(3.0, n) * (rng.random(n) < 0.9))
        for k in ("school", "clinic", "park")
    }
    total = rng.integers(0, 400, n) * (rng.random(n) < 0.7)
    park_nb = rng.exponential(5e4, n) * (rng.random(n) < 0.5)
    hh_size = 3.1
    service, ratio = service_and_green_ratio(
        km["school"], km["clinic"], km["park"], total, park_nb,
        np.array([hh_size, scale], dtype=np.float64), hh_size * scale,
    )  # fmt: skip
    np.testing.assert_array_equal(service, np.minimum(sum(km.values()) / 3.0, 100.0))
    persons = total * hh_size * scale
    np.testing.assert_array_equal(ratio, park_nb / np.maximum(persons, hh_size * scale))


@settings(max_examples=60, deadline=None)
@given(
    ny=st.integers(1, 12),
    nx=st.integers(1, 12),
    r=st.integers(0, 14),
    seed=st.integers(0, 2**32 - 1),
)
def test_vacancy_rates_are_the_box_sum_expression_bit_for_bit(ny, nx, r, seed):
    rng = np.random.default_rng(seed)
    capacity = (rng.integers(0, 40, ny * nx) * (rng.random(ny * nx) < 0.6)).astype(np.int32)
    occupied = (capacity * rng.random(ny * nx)).astype(np.int32)
    rate = vacancy_rates(capacity, occupied, ny, nx, r, 0.05)
    vac = neighbourhood_sum((capacity - occupied).reshape(ny, nx), r).ravel()
    cap = neighbourhood_sum(capacity.reshape(ny, nx), r).ravel()
    np.testing.assert_array_equal(rate, np.where(cap > 0, vac / np.maximum(cap, 1), 0.05))


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_parallel_window_kernels_give_the_same_bits_with_1_and_2_threads(
    seed, same_bits_with_1_and_2_threads
):
    """The window kernels run blocks of rows in parallel (each block sums its first window
    afresh), the others rows or cells; the bits cannot depend on the thread count, nor on
    where the blocks start."""
    from metrosim._kernels.spatial import row_totals, window_shares, window_sums

    rng = np.random.default_rng(seed)
    ny, nx, k = int(rng.integers(1, 40)), int(rng.integers(1, 30)), 5
    r = int(rng.integers(0, 6))
    a = (rng.integers(0, 9, (ny, nx * k)) * (rng.random((ny, nx * k)) < 0.5)).astype(np.int32)
    hh = a[:, ::k].ravel().copy()
    cap = hh + rng.integers(0, 5, hh.size).astype(np.int32)
    km = rng.exponential(1.0, hh.size)

    def all_kernels():
        total, share = np.empty(ny * nx, dtype=np.int64), np.empty((ny * nx, k))
        return [
            window_sums(a, r, k),
            *window_shares(a, r, k, total, share),
            *coverage_window_sums(hh, km, 1000.0, ny, nx, r),
            vacancy_rates(cap, hh, ny, nx, r, 0.05),
            *service_and_green_ratio(km, km * 2, km * 3, hh, km, np.array([3.1, 10.0]), 31.0),
            row_totals(np.ascontiguousarray(a.reshape(ny * nx, k))),
            row_totals(a),
        ]

    one = same_bits_with_1_and_2_threads(all_kernels)
    # blocks start anywhere: the sums equal the unblocked running sums of one block
    expected = neighbourhood_sum(a.reshape(ny, nx, k), r).reshape(ny, -1)
    np.testing.assert_array_equal(one[0], expected)
