"""DistanceField: the distance transform kept up to date as a mask gains cells.

Every result must be the bits of the full transform (``distance_km``) of the same mask,
whichever path produced it (full transform, incremental update, fallback).
"""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim.accessibility import DistanceField, distance_km

CELLS = [333.3, 0.7, 77.7, 250.0, 100.0]
#: cell sizes where the offsets (3, 4) and (5, 0) give different bits (333.3: 1.6665 km and
#: 1.6665000000000003 km); at 250 or 100 they give the same
TIE_CELLS = [333.3, 0.7, 1.1, 77.7]


def _same_bits(a: np.ndarray, b: np.ndarray) -> None:
    assert a.dtype == b.dtype == np.float64 and a.shape == b.shape
    assert np.array_equal(a, b)
    assert np.array_equal(a.view(np.int64), b.view(np.int64))


def _lattice(rng: np.random.Generator, ny: int, nx: int) -> np.ndarray:
    """Points every few rows and columns: many cells tie between nearest points at different
    offsets ((3, 4) and (5, 0), (1, 7) and (5, 5), ...)."""
    m = np.zeros((ny, nx), dtype=bool)
    sy, sx = rng.integers(2, 9, 2)
    m[rng.integers(0, sy) :: sy, rng.integers(0, sx) :: sx] = True
    return m


@settings(max_examples=60, deadline=None)
@given(
    ny=st.integers(1, 70),
    nx=st.integers(1, 70),
    start=st.sampled_from(["random", "lattice", "single"]),
    density=st.sampled_from([0.0005, 0.005, 0.05, 0.3]),
    in_place=st.booleans(),
    seed=st.integers(0, 2**32 - 1),
)
def test_updates_equal_the_full_transform_bit_for_bit(ny, nx, start, density, in_place, seed):
    """Random sequences of additions (single cells, sparse and dense batches, lattices that
    make ties), with a removal now and then (the fallback), on random grids: each call gives
    the bits of the full transform of its mask, and the incremental path is taken."""
    rng = np.random.default_rng(seed)
    cell = float(rng.choice(CELLS))
    field = DistanceField(cell, in_place=in_place)
    field.work_per_cell = np.inf  # every growing step takes the incremental path
    if start == "random":
        mask = rng.random((ny, nx)) < density
    elif start == "lattice":
        mask = _lattice(rng, ny, nx)
    else:
        mask = np.zeros((ny, nx), dtype=bool)
        mask[rng.integers(ny), rng.integers(nx)] = True
    for _ in range(8):
        grows = (
            field._mask is not None
            and field._mask.shape == mask.shape
            and not (field._mask & ~mask).any()
            and (mask & ~field._mask).any()
        )
        full = field.full_transforms
        _same_bits(field(mask), distance_km(mask, cell))
        if grows:
            assert field.full_transforms == full  # updated, not recomputed
        r = rng.random()
        if r < 0.1 and mask.any():  # a removal: the full transform again
            mask = mask.copy()
            mask.flat[rng.choice(np.flatnonzero(mask))] = False
        elif r < 0.3:  # a lattice of new features: ties with the old ones
            mask = mask | _lattice(rng, ny, nx)
        elif r < 0.5:
            mask = mask.copy()
            mask[rng.integers(ny), rng.integers(nx)] = True
        else:
            mask = mask | (rng.random((ny, nx)) < rng.choice([0.001, 0.01, 0.05]))
    _same_bits(field(mask), distance_km(mask, cell))


@pytest.mark.parametrize("cell", TIE_CELLS)
def test_ties_go_to_the_smallest_column(cell):
    """Cell (5, 5) is 5 rows below a feature in its own column. A new feature 3 rows up and
    4 columns left is as near (3^2 + 4^2 = 5^2) and to the left: the cell takes it, and its
    output becomes that of the offsets (3, 4). One 4 columns right instead ties too, but
    the old column is the smaller: the output keeps the offsets (5, 0)."""
    old = np.zeros((11, 11), dtype=bool)
    old[0, 5] = True
    five_zero = np.sqrt((5 * cell) ** 2 + 0.0) / 1000.0
    three_four = np.sqrt((3 * cell) ** 2 + (4 * cell) ** 2) / 1000.0
    assert five_zero != three_four
    for col, expect in ((1, three_four), (9, five_zero)):
        field = DistanceField(cell)
        field.work_per_cell = np.inf
        assert field(old)[5, 5] == five_zero
        new = old.copy()
        new[2, col] = True
        got = field(new)
        _same_bits(got, distance_km(new, cell))
        assert got.view(np.int64)[5, 5] == np.float64(expect).view(np.int64)
        assert field._q[5, 5] == min(col, 5)


def test_rows_past_a_row_without_a_nearer_cell():
    """The cells a new feature takes need not be connected: in this mask, row 47 below the
    new feature at (30, 30) has no cell nearer to it than to the old features, but the thin
    wedge of the plane that is nearer goes on, and cell (48, 40) is in it. The update must
    not stop at row 47 (it stops where no real point of the row is nearer)."""
    old = np.zeros((60, 60), dtype=bool)
    old[29, 32] = old[35, 24] = True
    new = old.copy()
    new[30, 30] = True
    field = DistanceField(333.3)
    field(old)
    got = field(new)
    _same_bits(got, distance_km(new, 333.3))
    assert field._q[48, 40] == 30 and field._q[47].tolist().count(30) == 0


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 2**32 - 1))
def test_thin_regions_around_a_new_feature(seed):
    """A new feature among a few old ones close by (and a sprinkle far away) has a Voronoi
    region of thin wedges, whose rows may hold no grid cell; 60 such masks per example."""
    rng = np.random.default_rng(seed)
    for _ in range(60):
        old = np.zeros((50, 50), dtype=bool)
        for dy, dx in rng.integers(-8, 9, (rng.integers(2, 6), 2)):
            old[25 + dy, 25 + dx] = True
        if rng.random() < 0.5:
            old |= rng.random((50, 50)) < 0.002
        old[25, 25] = False
        if not old.any():
            continue
        new = old.copy()
        new[25, 25] = True
        field = DistanceField(333.3)
        field(old)
        _same_bits(field(new), distance_km(new, 333.3))


def test_results_stay_as_returned_and_same_mask_is_free():
    """Without ``in_place`` a result never changes after it is returned (read-only, later
    updates go to a copy); the same mask again returns the same array; in place, the array
    is reused."""
    rng = np.random.default_rng(5)
    mask = rng.random((30, 40)) < 0.02
    field = DistanceField(250.0)
    first = field(mask)
    kept = first.copy()
    assert not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0] = 1.0
    assert field(mask.copy()) is first
    grown = mask.copy()
    grown[3, 7] = grown[20, 33] = True
    second = field(grown)
    assert second is not first and np.array_equal(first, kept)
    _same_bits(second, distance_km(grown, 250.0))
    inplace = DistanceField(250.0, in_place=True)
    a = inplace(mask)
    b = inplace(grown)
    assert b is a and not b.flags.writeable
    _same_bits(b, distance_km(grown, 250.0))


def test_fallbacks_empty_masks_and_shape_changes():
    """Removals, many additions, a new shape and empty masks take the full transform (or
    give inf everywhere), with the same bits as distance_km."""
    rng = np.random.default_rng(11)
    field = DistanceField(100.0)
    empty = np.zeros((20, 25), dtype=bool)
    assert np.isinf(field(empty)).all() and field._q is None
    mask = rng.random((20, 25)) < 0.05
    _same_bits(field(mask), distance_km(mask, 100.0))
    assert field.full_transforms == 1
    removed = mask.copy()
    removed.flat[np.flatnonzero(mask)[0]] = False
    _same_bits(field(removed), distance_km(removed, 100.0))
    assert field.full_transforms == 2  # recomputed
    many = removed | (rng.random((20, 25)) < 0.3)  # 16 x this many cells > the budget
    _same_bits(field(many), distance_km(many, 100.0))
    assert field.full_transforms == 3
    few = many.copy()
    few[np.unravel_index(np.flatnonzero(~many)[0], many.shape)] = True
    _same_bits(field(few), distance_km(few, 100.0))
    assert field.full_transforms == 3  # updated
    other = rng.random((7, 9)) < 0.2
    other[0, 0] = True
    _same_bits(field(other), distance_km(other, 100.0))
    assert np.isinf(field(np.zeros((7, 9), dtype=bool))).all()
    _same_bits(field(other), distance_km(other, 100.0))
    assert field._q.dtype == np.uint16 and field._q.shape == (7, 9)


def test_an_update_past_its_budget_falls_back_to_the_full_transform():
    """Three new features far from the only old one take most of the grid: the update stops
    once its work passes the budget, with part of the cells added, and the full transform
    gives the result."""
    old = np.zeros((100, 100), dtype=bool)
    old[0, 0] = True
    new = old.copy()
    new[99, 99] = new[60, 90] = new[90, 40] = True
    field = DistanceField(250.0)
    field.work_per_cell = 0.2
    field(old)
    _same_bits(field(new), distance_km(new, 250.0))
    assert field.full_transforms == 2
    from metrosim._kernels.spatial import distance_transform_add

    out = distance_km(old, 250.0)
    cols = np.zeros((100, 100), dtype=np.uint16)
    cells = np.flatnonzero(new & ~old)
    assert distance_transform_add(cells, 250.0, 1000.0, out, cols, 2000) < cells.size


@pytest.mark.parametrize("in_place", [False, True])
def test_pickled_and_copied_fields_go_on_alone(in_place):
    """A field pickles and deep-copies with its state (as a model holding it would); the copy
    and the original then update independently, each with the bits of the full transform."""
    import copy
    import pickle

    rng = np.random.default_rng(8)
    mask = rng.random((40, 30)) < 0.01
    field = DistanceField(333.3, in_place=in_place)
    field(mask)
    for twin in (pickle.loads(pickle.dumps(field)), copy.deepcopy(field)):
        a = mask.copy()
        a[5, 5] = True
        b = mask.copy()
        b[30, 20] = True
        _same_bits(twin(a), distance_km(a, 333.3))
        _same_bits(field(b), distance_km(b, 333.3))
        field(mask | b)
        _same_bits(twin(a | b), distance_km(a | b, 333.3))


@pytest.mark.parametrize("in_place", [False, True])
def test_a_strided_mask_changed_in_place_between_calls(in_place):
    """The mask may be a strided, Fortran-ordered view changed in place between calls (the
    field keeps a copy of the last mask, in C order): the updates find the new cells by
    their position in the grid, not in memory, and give the full transform's bits."""
    rng = np.random.default_rng(4)
    parent = np.zeros((60, 90), dtype=bool, order="F")
    view = parent[::2, 1::3]  # 30 x 30, neither C- nor F-contiguous
    assert not view.flags.c_contiguous and not view.flags.f_contiguous
    view[rng.integers(30), rng.integers(30)] = True
    field = DistanceField(333.3, in_place=in_place)
    field.work_per_cell = np.inf
    for _ in range(6):
        _same_bits(field(view), distance_km(np.ascontiguousarray(view), 333.3))
        view[rng.integers(30), rng.integers(30)] = True
        parent[1::2] = rng.random((30, 90)) < 0.5  # rows outside the view
    _same_bits(field(view), distance_km(np.ascontiguousarray(view), 333.3))
    assert field.full_transforms == 1


def _pickle_out_of_band(field):
    import pickle

    buffers = []
    data = pickle.dumps(field, protocol=5, buffer_callback=buffers.append)
    return pickle.loads(data, buffers=buffers)  # arrays on the original's memory


def _pickle_in_band(field):
    import pickle

    return pickle.loads(pickle.dumps(field))


def _deepcopy(field):
    import copy

    return copy.deepcopy(field)


@pytest.mark.parametrize("in_place", [False, True])
@pytest.mark.parametrize("twin_of", [_pickle_in_band, _pickle_out_of_band, _deepcopy])
def test_copies_share_no_state_and_return_read_only_arrays(in_place, twin_of):
    """A copy made by pickling (in band, or out of band with protocol 5, whose arrays are
    the original's memory) or deep-copying returns read-only arrays (the first call with the
    same mask too), and neither field's updates, in place or not, reach the other's state."""
    rng = np.random.default_rng(8)
    mask = rng.random((40, 30)) < 0.01
    field = DistanceField(333.3, in_place=in_place)
    field(mask)
    twin = twin_of(field)
    a = mask.copy()
    a[5, 5] = True
    b = mask.copy()
    b[30, 20] = True
    _same_bits(field(b), distance_km(b, 333.3))
    same = twin(mask)
    assert not same.flags.writeable
    _same_bits(same, distance_km(mask, 333.3))
    _same_bits(twin(a), distance_km(a, 333.3))
    _same_bits(field(a | b), distance_km(a | b, 333.3))
    _same_bits(twin(a), distance_km(a, 333.3))
    assert field.full_transforms == twin.full_transforms == 1  # all updates incremental


def test_bad_input():
    with pytest.raises(ValueError, match="DistanceField: cell_size_m = 0.0; allowed"):
        DistanceField(0.0)
    with pytest.raises(ValueError, match="DistanceField: mask has dtype int64; allowed: bool"):
        DistanceField(100.0)(np.zeros((2, 2), dtype=np.int64))
    with pytest.raises(ValueError, match=r"DistanceField: mask has shape \(4,\); allowed"):
        DistanceField(100.0)(np.zeros(4, dtype=bool))


def test_a_grown_city_in_a_few_steps():
    """A compact city gaining a ring of fringe cells and a few distant ones a year (the
    model's urban mask): whole Voronoi wedges change each year; the bits stay those of the
    full transform."""
    rng = np.random.default_rng(3)
    ny, nx = 120, 150
    yy, xx = np.mgrid[:ny, :nx]
    radius = 20.0
    field = DistanceField(250.0)
    mask = (yy - 60) ** 2 + (xx - 70) ** 2 <= radius**2
    for _ in range(6):
        _same_bits(field(mask), distance_km(mask, 250.0))
        radius += 1.5
        ring = ((yy - 60) ** 2 + (xx - 70) ** 2 <= radius**2) & (rng.random((ny, nx)) < 0.3)
        far = rng.random((ny, nx)) < 0.0005
        mask = mask | ring | far
    _same_bits(field(mask), distance_km(mask, 250.0))
