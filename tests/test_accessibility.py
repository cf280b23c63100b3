import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.sparse import lil_matrix
from scipy.sparse.csgraph import dijkstra

from metrosim.accessibility import Network, box_sum, commute_minutes, distance_km, travel_minutes
from metrosim.surfaces import distance_to_nearest


def test_corridor_and_diagonal():
    m = np.full((3, 3), 2.0)
    t = travel_minutes(m, np.array([0]))
    assert t[0, 2] == pytest.approx(4.0)
    assert t[2, 2] == pytest.approx(4.0 * np.sqrt(2))


def test_link_shortcut_and_impassable():
    m = np.ones((1, 10))
    m[0, 5] = np.inf
    t = travel_minutes(m, np.array([0]))
    assert np.isinf(t[0, 6:]).all()
    net = Network(10, np.array([0]), np.array([9]), np.array([0.5]))
    t2 = travel_minutes(m, np.array([0]), net)
    assert t2[0, 9] == pytest.approx(0.5) and t2[0, 8] == pytest.approx(1.5)


@settings(max_examples=50, deadline=None)
@given(n=st.integers(1, 40), data=st.data())
def test_network_sorts_links_and_points_to_each_cells_links(n, data):
    m = data.draw(st.integers(0, 60))
    src = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=int)
    dst = np.array(data.draw(st.lists(st.integers(0, n - 1), min_size=m, max_size=m)), dtype=int)
    net = Network(n, src, dst, np.arange(m, dtype=float))
    assert net.ptr.dtype == np.int64 and net.ptr.shape == (n + 1,)
    assert np.array_equal(net.ptr, np.searchsorted(net.src, np.arange(n + 1)))
    for i in range(n):  # each cell's links, sorted by destination, with their minutes
        mine = np.flatnonzero(src == i)
        got = slice(net.ptr[i], net.ptr[i + 1])
        assert (net.src[got] == i).all() and np.array_equal(net.dst[got], np.sort(dst[mine]))
        assert sorted(net.minutes[got].tolist()) == sorted(mine.astype(float).tolist())


def test_equals_scipy_dijkstra_on_random_grids():
    rng = np.random.default_rng(5)
    for _ in range(5):
        ny, nx = rng.integers(2, 9, 2)
        m = rng.uniform(0.5, 3, (ny, nx))
        n = ny * nx
        a = lil_matrix((n, n))
        for r in range(ny):
            for c in range(nx):
                for dr in (-1, 0, 1):
                    for dc in (-1, 0, 1):
                        rr, cc = r + dr, c + dc
                        if (dr or dc) and 0 <= rr < ny and 0 <= cc < nx:
                            a[r * nx + c, rr * nx + cc] = (
                                0.5 * np.hypot(dr, dc) * (m[r, c] + m[rr, cc])
                            )
        src = rng.integers(0, n)
        ref = dijkstra(a.tocsr(), indices=src)
        np.testing.assert_allclose(travel_minutes(m, np.array([src])).ravel(), ref, atol=1e-9)


def test_commute_equals_travel_time_with_one_job_block():
    m = np.ones((8, 8))
    jobs = np.zeros((8, 8))
    jobs[0, 0] = 100
    t = commute_minutes(60.0 / m, 1000.0, jobs, Network.empty(64), block=1, beta=0.1)
    np.testing.assert_allclose(t, travel_minutes(m, np.array([0])), atol=1e-9)


def test_box_sum_and_distance():
    rng = np.random.default_rng(2)
    a = rng.integers(0, 5, (7, 9))
    r = 2
    brute = np.zeros_like(a)
    for i in range(7):
        for j in range(9):
            brute[i, j] = a[max(0, i - r) : i + r + 1, max(0, j - r) : j + r + 1].sum()
    np.testing.assert_array_equal(box_sum(a, r), brute)
    mask = np.zeros((5, 5), bool)
    mask[0, 0] = True
    assert distance_km(mask, 1000.0)[0, 3] == pytest.approx(3.0)
    with pytest.raises(ValueError, match="radius = -1"):
        box_sum(a, -1)


@settings(max_examples=60, deadline=None)
@given(
    ny=st.integers(1, 15),
    nx=st.integers(1, 15),
    density=st.sampled_from([0.0, 0.02, 0.2, 1.0]),
    cell=st.sampled_from([100.0, 250.0, 333.3, 500.0]),
    seed=st.integers(0, 2**32 - 1),
)
def test_distance_km_is_the_metres_divided_by_1000_bit_for_bit(ny, nx, density, cell, seed):
    """The division inside the transform gives the bits of dividing its result (inf too)."""
    mask = np.random.default_rng(seed).random((ny, nx)) < density
    np.testing.assert_array_equal(distance_km(mask, cell), distance_to_nearest(mask, cell) / 1000.0)
