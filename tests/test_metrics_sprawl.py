"""Tests for metrosim.metrics.sprawl: hand-drawn masks, brute-force checks, invariants, errors."""

from __future__ import annotations

import math
from collections import deque

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp
from scipy.ndimage import binary_fill_holes

from metrosim.metrics import SprawlMetrics, lee_sallee, sprawl_metrics

SETTINGS = settings(max_examples=60, deadline=None)


def mask(rows: str) -> np.ndarray:
    """Mask from a picture: '#' urban, '.' not."""
    return np.array([[ch == "#" for ch in r] for r in rows.split()], dtype=bool)


masks = hnp.arrays(
    np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.booleans()
)


@st.composite
def mask_pairs(draw: st.DrawFn, n: int = 2) -> list[np.ndarray]:
    shape = (draw(st.integers(1, 12)), draw(st.integers(1, 12)))
    return [draw(hnp.arrays(np.bool_, shape, elements=st.booleans())) for _ in range(n)]


# --------------------------------------------------------------------------------------------
# brute-force references
# --------------------------------------------------------------------------------------------


def flood_patches(m: np.ndarray) -> list[set[tuple[int, int]]]:
    """8-connected components by breadth-first search."""
    seen: set[tuple[int, int]] = set()
    out = []
    ny, nx = m.shape
    for start in zip(*np.nonzero(m), strict=True):
        start = (int(start[0]), int(start[1]))
        if start in seen:
            continue
        comp, queue = {start}, deque([start])
        seen.add(start)
        while queue:
            y, x = queue.popleft()
            for dy in (-1, 0, 1):
                for dx in (-1, 0, 1):
                    q = (y + dy, x + dx)
                    if 0 <= q[0] < ny and 0 <= q[1] < nx and m[q] and q not in seen:
                        seen.add(q)
                        comp.add(q)
                        queue.append(q)
        out.append(comp)
    return out


def perimeter(cells: set[tuple[int, int]]) -> int:
    """Sides of the cells not shared with another cell of the set."""
    return sum(
        (y + dy, x + dx) not in cells
        for y, x in cells
        for dy, dx in ((-1, 0), (1, 0), (0, -1), (0, 1))
    )


# --------------------------------------------------------------------------------------------
# hand-drawn cases
# --------------------------------------------------------------------------------------------


def test_square_ring_and_diagonal_by_hand():
    sq = mask("""
        .....
        .###.
        .###.
        .###.
        .....
    """)
    m = sprawl_metrics(sq, cell_size_m=100.0)
    assert m.urban_area_ha == 9.0
    assert m.patches == 1
    assert m.mean_patch_ha == 9.0
    assert m.edge_density_m_per_ha == pytest.approx(12 * 100 / 9)
    assert m.compactness == 1.0

    ring = sq.copy()
    ring[2, 2] = False  # a hole: 12 outer + 4 inner sides
    m = sprawl_metrics(ring, cell_size_m=50.0)
    assert m.urban_area_ha == 8 * 0.25
    assert m.patches == 1
    assert m.edge_density_m_per_ha == pytest.approx(16 * 50 / 2.0)
    assert m.compactness == pytest.approx(4 * math.sqrt(8) / 16)

    diag = mask("""
        #..
        .#.
        ..#
    """)
    m = sprawl_metrics(diag, cell_size_m=100.0)
    assert m.patches == 1  # corners touch: one 8-connected patch
    assert m.compactness == pytest.approx(4 * math.sqrt(3) / 12)


def test_compactness_ties_take_the_most_compact_largest_patch():
    u = mask("""
        ##.#..
        ....#.
    """)  # a 2-cell bar (4*sqrt(2)/6) and a 2-cell diagonal pair (4*sqrt(2)/8)
    for t in (u, u[:, ::-1], u.T):
        assert sprawl_metrics(t, cell_size_m=100.0).compactness == pytest.approx(
            4 * math.sqrt(2) / 6
        )


def test_border_cells_have_edges_and_line_is_not_compact():
    line = np.ones((1, 9), dtype=bool)
    m = sprawl_metrics(line, cell_size_m=10.0)
    assert m.edge_density_m_per_ha == pytest.approx(20 * 10 / (9 * 0.01))
    assert m.compactness == pytest.approx(4 * 3 / 20)


def test_density_counts_people_in_urban_cells_only():
    u = mask("""
        ##.
        ...
    """)
    pop = np.array([[100.0, 300.0, 50.0], [0.0, 0.0, 7.0]])
    m = sprawl_metrics(u, cell_size_m=100.0, population=pop)
    assert m.density_pph == 200.0
    assert math.isnan(sprawl_metrics(u, cell_size_m=100.0).density_pph)


def test_no_urban_cells():
    m = sprawl_metrics(np.zeros((3, 3), dtype=bool), cell_size_m=100.0, population=np.ones((3, 3)))
    assert m.urban_area_ha == 0.0
    assert m.patches == 0
    for x in (m.density_pph, m.mean_patch_ha, m.edge_density_m_per_ha, m.compactness):
        assert math.isnan(x)


PREV = mask("""
    ..........
    .###......
    .#.#......
    .###......
    ..........
    ..........
    ..........
""")


def grow(*cells: tuple[int, int]) -> np.ndarray:
    u = PREV.copy()
    for c in cells:
        u[c] = True
    return u


def test_infill_edge_expansion_and_leapfrog_by_hand():
    # infill: the hole of the ring is inside the previous footprint
    m = sprawl_metrics(grow((2, 2)), cell_size_m=100.0, previous=PREV)
    assert (m.new_urban_ha, m.new_outside_footprint_share, m.leapfrog_share) == (1.0, 0.0, 0.0)
    # edge expansion: next to the footprint, outside it
    m = sprawl_metrics(grow((2, 4)), cell_size_m=100.0, previous=PREV)
    assert (m.new_outside_footprint_share, m.leapfrog_share) == (1.0, 0.0)
    # a diagonal neighbour is adjacent too
    m = sprawl_metrics(grow((4, 4)), cell_size_m=100.0, previous=PREV)
    assert m.leapfrog_share == 0.0
    # leapfrog: detached from the footprint
    m = sprawl_metrics(grow((5, 8)), cell_size_m=100.0, previous=PREV)
    assert (m.new_outside_footprint_share, m.leapfrog_share) == (1.0, 1.0)
    # a new strip grown out of the footprint is one attached patch, not leapfrog
    m = sprawl_metrics(grow((2, 4), (2, 5), (2, 6), (2, 7)), cell_size_m=100.0, previous=PREV)
    assert m.leapfrog_share == 0.0
    # mixed: 1 infill, 1 expansion, 2 leapfrog cells in one detached patch
    m = sprawl_metrics(grow((2, 2), (2, 4), (5, 8), (6, 8)), cell_size_m=100.0, previous=PREV)
    assert m.new_urban_ha == 4.0
    assert m.new_outside_footprint_share == 0.75
    assert m.leapfrog_share == 0.5


def test_outside_limit_share_by_hand():
    limit = np.zeros_like(PREV)
    limit[:, :6] = True
    m = sprawl_metrics(
        grow((2, 2), (2, 4), (5, 8), (6, 8)), cell_size_m=100.0, previous=PREV, limit=limit
    )
    assert m.new_outside_limit_share == 0.5
    assert math.isnan(sprawl_metrics(PREV, cell_size_m=100.0, previous=PREV).leapfrog_share)


def test_growth_fields_nan_without_previous_and_no_growth():
    m = sprawl_metrics(PREV, cell_size_m=100.0)
    for x in (m.new_urban_ha, m.new_outside_footprint_share, m.leapfrog_share):
        assert math.isnan(x)
    assert math.isnan(m.new_outside_limit_share)
    m = sprawl_metrics(PREV, cell_size_m=100.0, previous=PREV, limit=PREV)
    assert m.new_urban_ha == 0.0
    for x in (m.new_outside_footprint_share, m.leapfrog_share, m.new_outside_limit_share):
        assert math.isnan(x)


def test_all_growth_is_leapfrog_without_previous_urban():
    u = mask("##. ...")
    m = sprawl_metrics(u, cell_size_m=100.0, previous=np.zeros_like(u))
    assert (m.new_outside_footprint_share, m.leapfrog_share) == (1.0, 1.0)


def test_result_is_a_named_tuple_with_the_yearly_fields():
    m = sprawl_metrics(PREV, cell_size_m=100.0)
    assert isinstance(m, SprawlMetrics)
    assert set(m._fields) >= {
        "urban_area_ha",
        "density_pph",
        "patches",
        "mean_patch_ha",
        "edge_density_m_per_ha",
        "compactness",
        "new_urban_ha",
        "new_outside_footprint_share",
        "new_outside_limit_share",
        "leapfrog_share",
    }
    assert isinstance(m.patches, int)


# --------------------------------------------------------------------------------------------
# properties
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(masks, st.sampled_from([10.0, 100.0, 250.0]))
def test_patches_edges_and_compactness_match_brute_force(u, size):
    m = sprawl_metrics(u, cell_size_m=size)
    comps = flood_patches(u)
    assert m.patches == len(comps)
    n = int(u.sum())
    assert m.urban_area_ha == pytest.approx(n * size * size / 1e4)
    if n == 0:
        return
    cells = {(int(y), int(x)) for y, x in zip(*np.nonzero(u), strict=True)}
    assert m.edge_density_m_per_ha == pytest.approx(perimeter(cells) * size / m.urban_area_ha)
    largest = max(map(len, comps))
    best = max(4 * math.sqrt(len(c)) / perimeter(c) for c in comps if len(c) == largest)
    assert m.compactness == pytest.approx(best)
    assert 0.0 < m.compactness <= 1.0
    assert m.mean_patch_ha == pytest.approx(m.urban_area_ha / m.patches)


@SETTINGS
@given(masks)
def test_form_is_invariant_to_rotation_and_reflection(u):
    ref = sprawl_metrics(u, cell_size_m=100.0)
    for t in (u.T, u[::-1], u[:, ::-1], np.rot90(u)):
        other = sprawl_metrics(t, cell_size_m=100.0)
        assert other.patches == ref.patches
        np.testing.assert_allclose(
            [other.edge_density_m_per_ha, other.compactness],
            [ref.edge_density_m_per_ha, ref.compactness],
            rtol=1e-12,
        )


@SETTINGS
@given(mask_pairs(3))
def test_growth_shares_are_nested_and_consistent(ms):
    urban, previous, limit = ms
    new = urban & ~previous
    m = sprawl_metrics(urban, cell_size_m=100.0, previous=previous, limit=limit)
    assert m.new_urban_ha == pytest.approx(new.sum())
    if not new.any():
        assert math.isnan(m.leapfrog_share)
        return
    assert 0.0 <= m.leapfrog_share <= m.new_outside_footprint_share <= 1.0
    assert m.new_outside_limit_share == pytest.approx((new & ~limit).sum() / new.sum())
    # leapfrog by brute force: new-growth patches with no cell next to a previous cell
    # and none inside the previous footprint
    prev_cells = {(int(y), int(x)) for y, x in zip(*np.nonzero(previous), strict=True)}
    fp = binary_fill_holes(previous)  # holes: 4-connected non-urban not reaching the border
    leap = 0
    for comp in flood_patches(new):
        touches = any(
            (y + dy, x + dx) in prev_cells
            for y, x in comp
            for dy in (-1, 0, 1)
            for dx in (-1, 0, 1)
        )
        inside = any(fp[c] for c in comp)
        if not touches and not inside:
            leap += len(comp)
    assert m.leapfrog_share == pytest.approx(leap / new.sum())
    assert m.new_outside_footprint_share == pytest.approx((new & ~fp).sum() / new.sum())


def test_footprint_holes_are_four_connected_background():
    # a ring closed only at its corners still encloses its centre (8-connected urban ring)
    prev = mask("""
        .#.
        #.#
        .#.
    """)
    u = prev.copy()
    u[1, 1] = True
    m = sprawl_metrics(u, cell_size_m=100.0, previous=prev)
    assert m.new_outside_footprint_share == 0.0


# --------------------------------------------------------------------------------------------
# Lee-Sallee
# --------------------------------------------------------------------------------------------


@SETTINGS
@given(mask_pairs(2))
def test_lee_sallee_is_intersection_over_union(ab):
    a, b = ab
    assume((a | b).any())
    ls = lee_sallee(a, b)
    assert ls == pytest.approx((a & b).sum() / (a | b).sum())
    assert ls == lee_sallee(b, a)
    assert 0.0 <= ls <= 1.0
    assert lee_sallee(a | b, a | b) == 1.0


def test_lee_sallee_by_hand():
    a = mask("##.. ....")
    assert lee_sallee(a, a) == 1.0
    assert lee_sallee(a, ~a) == 0.0
    assert lee_sallee(a, mask(".##. ....")) == pytest.approx(1 / 3)
    assert lee_sallee(a.astype(int), a.astype(float)) == 1.0


# --------------------------------------------------------------------------------------------
# errors
# --------------------------------------------------------------------------------------------

U = mask("##. ...")


@pytest.mark.parametrize(
    ("args", "kwargs", "match"),
    [
        ((np.ones(3, bool),), {}, r"urban must be a 2-D boolean grid of shape \(ny, nx\); got 1-D"),
        ((np.zeros((0, 3), bool),), {}, r"urban must not be empty; got shape \(0, 3\)"),
        ((np.array([[0, 2]]),), {}, r"urban must be boolean \(True/False or 0/1\); found 2 at"),
        ((np.array([[0.5, 1.0]]),), {}, r"urban must be boolean.*found 0.5 at index \(0, 0\)"),
        ((np.array([["a"]]),), {}, r"urban must hold real numbers"),
        ((U,), {"cell_size_m": 0}, r"cell_size_m must be a finite number > 0; got 0"),
        ((U,), {"cell_size_m": np.nan}, r"cell_size_m must be a finite number > 0; got nan"),
        ((U,), {"cell_size_m": "100"}, r"cell_size_m must be a real number; got '100'"),
        (
            (U,),
            {"population": np.ones((3, 3))},
            r"population must have the grid's shape \(2, 3\); got shape \(3, 3\)",
        ),
        (
            (U,),
            {"population": -np.ones((2, 3))},
            r"population must be non-negative.*-1.0 at index \(0, 0\)",
        ),
        ((U,), {"population": np.full((2, 3), np.nan)}, r"population must be non-negative finite"),
        (
            (U,),
            {"previous": np.ones((3, 2), bool)},
            r"previous must have the grid's shape \(2, 3\); got shape \(3, 2\)",
        ),
        (
            (U,),
            {"previous": U, "limit": np.ones((1, 3), bool)},
            r"limit must have the grid's shape \(2, 3\); got shape \(1, 3\)",
        ),
        ((U,), {"limit": U}, r"limit was given without previous"),
    ],
)
def test_sprawl_metrics_errors(args, kwargs, match):
    kwargs = {"cell_size_m": 100.0} | kwargs
    with pytest.raises(ValueError, match=match):
        sprawl_metrics(*args, **kwargs)


def test_lee_sallee_errors():
    with pytest.raises(ValueError, match=r"a and b are both empty"):
        lee_sallee(np.zeros((2, 2), bool), np.zeros((2, 2), bool))
    with pytest.raises(
        ValueError, match=r"b must have the grid's shape \(2, 2\); got shape \(2, 3\)"
    ):
        lee_sallee(np.ones((2, 2), bool), np.ones((2, 3), bool))
    with pytest.raises(ValueError, match=r"a must be a 2-D boolean grid"):
        lee_sallee(np.ones(4, bool), np.ones(4, bool))


@SETTINGS
@given(
    hnp.arrays(
        bool,
        st.tuples(st.integers(1, 25), st.integers(1, 25)),
        elements=st.booleans(),
    )
)
def test_fill_holes_by_labelling_equals_scipy(mask):
    from metrosim.metrics.sprawl import _fill_holes

    assert np.array_equal(_fill_holes(mask), binary_fill_holes(mask))
