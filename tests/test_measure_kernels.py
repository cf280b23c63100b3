"""The model's yearly measurement path equals the public metric functions bit for bit.

The model calls unchecked cores (``metrosim.metrics.*._yearly_indices``, ``_morans_i_cells``,
``_sprawl_cells``, ``_coverage_share``) and numba kernels (``metrosim._kernels.measure``) that
visit only the occupied or urban cells. They must give exactly the floats the public,
validated functions give on the whole grid, so the yearly tables do not depend on which path
computed them.
"""

from __future__ import annotations

import re

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim import MetroModel, Scenario, metrics
from metrosim._kernels.measure import grid_pass, household_pass, sparse_sum
from metrosim._kernels.spatial import separable_environment
from metrosim._kernels.travel_modes import household_sums
from metrosim.land import _URBAN_LOOKUP, LandUse
from metrosim.metrics import segregation, spatial
from metrosim.metrics.sprawl import _sprawl_cells

SETTINGS = settings(max_examples=80, deadline=None)


def same(a: float, b: float) -> bool:
    """Bitwise-equal floats (NaN equals NaN)."""
    return (np.isnan(a) and np.isnan(b)) or a == b


# --------------------------------------------------------------------------------------------
# numpy's pairwise sum, rebuilt from the non-zero entries
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 8191, 8192, 8193, 100_003])
@pytest.mark.parametrize("density", [0.0, 0.01, 0.3, 1.0])
def test_sparse_sum_is_numpys_sum_of_the_dense_array(n, density):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        dense = np.zeros(n)
        on = rng.random(n) < density
        dense[on] = rng.standard_normal(on.sum()) * 10.0 ** rng.uniform(-6, 6, on.sum())
        idx = np.flatnonzero(on)
        assert sparse_sum(idx, dense[idx], n) == dense.sum()


@SETTINGS
@given(
    hnp.arrays(
        np.float64,
        st.integers(0, 3000),
        elements=st.one_of(st.just(0.0), st.floats(-1e9, 1e9, allow_subnormal=False)),
    )
)
def test_sparse_sum_matches_numpy_on_any_array(dense):
    idx = np.flatnonzero(dense)
    assert sparse_sum(idx, dense[idx], dense.size) == dense.sum()


# --------------------------------------------------------------------------------------------
# segregation
# --------------------------------------------------------------------------------------------


@st.composite
def integer_counts(draw: st.DrawFn):
    n = draw(st.integers(1, 60))
    k = draw(st.integers(1, 6))
    c = draw(hnp.arrays(np.int64, (n, k), elements=st.integers(0, 40))).astype(np.float64)
    c = c[c.sum(axis=1) > 0]
    assume(c.shape[0] > 0)
    regions = draw(hnp.arrays(np.int64, c.shape[0], elements=st.integers(0, 6)))
    return c, regions.astype(np.intp)


@SETTINGS
@given(integer_counts())
def test_yearly_segregation_indices_equal_the_public_functions(data):
    c, regions = data
    k = c.shape[1]
    try:
        want = (
            *metrics.theil_h(c, regions=regions),
            metrics.dissimilarity(c[:, [0, k - 1]]),
            metrics.multigroup_dissimilarity(c),
            metrics.isolation(c, 0),
            metrics.isolation(c, k - 1),
        )
    except ValueError as e:  # e.g. no member of the first or last group in any unit
        with pytest.raises(ValueError, match=re.escape(str(e))):
            segregation._yearly_indices(c, c.sum(axis=1), c.sum(axis=0), regions)
        return
    got = segregation._yearly_indices(c, c.sum(axis=1), c.sum(axis=0), regions)
    for a, b in zip((*got.theil, *got[1:]), want, strict=True):
        assert same(a, b)


# --------------------------------------------------------------------------------------------
# spatial statistics
# --------------------------------------------------------------------------------------------


@st.composite
def sparse_grids(draw: st.DrawFn):
    ny, nx = draw(st.integers(1, 14)), draw(st.integers(1, 14))
    inside = draw(hnp.arrays(np.bool_, (ny, nx), elements=st.booleans()))
    values = draw(
        hnp.arrays(np.float64, (ny, nx), elements=st.floats(-1e6, 1e6, allow_subnormal=False))
    )
    return np.where(inside, values, np.nan)


@SETTINGS
@given(sparse_grids())
def test_morans_i_from_the_listed_cells_equals_morans_i(grid):
    idx = np.flatnonzero(~np.isnan(grid))
    try:
        want = metrics.morans_i(grid)
    except ValueError as e:
        with pytest.raises(ValueError, match=re.escape(str(e))):
            spatial._morans_i_cells(idx, grid.ravel()[idx], grid.shape)
        return
    assert same(spatial._morans_i_cells(idx, grid.ravel()[idx], grid.shape), want)


def _environment_reference(ys, xs, counts, ny, nx, w):
    """The separable smoothing by plain loops, adding terms in the kernel's order."""
    r = (w.size - 1) // 2
    cells = {(int(y), int(x)): i for i, (y, x) in enumerate(zip(ys, xs, strict=True))}
    env = np.zeros(counts.shape)
    for i, (y, x) in enumerate(zip(ys, xs, strict=True)):
        for g in range(counts.shape[1]):
            total = 0.0
            for yy in range(max(0, y - r), min(ny - 1, y + r) + 1):
                row = 0.0  # the row smoothed at column x: cells of row yy left to right
                first = True
                for xq in range(max(0, x - r), min(nx - 1, x + r) + 1):
                    q = cells.get((yy, xq))
                    if q is not None:
                        term = w[x - xq + r] * counts[q, g]
                        row = term if first else row + term
                        first = False
                total += w[yy - y + r] * row
            env[i, g] = total
    return env


@SETTINGS
@given(
    hnp.arrays(np.bool_, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.booleans()),
    st.floats(0.3, 3.0),
    st.integers(0, 2**32 - 1),
)
def test_separable_environment_adds_the_terms_in_a_fixed_order(occ, bandwidth, seed):
    assume(occ.any())
    ys, xs = np.nonzero(occ)
    counts = np.random.default_rng(seed).integers(0, 9, (ys.size, 3)).astype(np.float64)
    w = spatial._gaussian_taps(bandwidth)
    got = separable_environment(ys, xs, counts, *occ.shape, w)
    want = _environment_reference(ys, xs, counts, *occ.shape, w)
    assert np.array_equal(got, want)


@SETTINGS
@given(
    hnp.arrays(
        np.float64, st.tuples(st.integers(1, 40), st.integers(1, 6)), elements=st.floats(0, 50)
    ),
)
def test_spatial_h_core_equals_the_numpy_formula(e):
    e = e[e.sum(axis=1) > 0]
    assume(e.shape[0] > 0)
    t = np.arange(1, e.shape[0] + 1, dtype=np.float64)
    T, E = float(t.sum()), 0.7
    tot = e.sum(axis=1, keepdims=True)
    pi = e / tot
    ent = -np.where(pi > 0, pi * np.log(np.where(pi > 0, pi, 1.0)), 0.0).sum(axis=1)
    want = float(1.0 - (t * ent).sum() / (T * E))
    assert spatial._spatial_h(e, t, T, E) == want


# --------------------------------------------------------------------------------------------
# sprawl
# --------------------------------------------------------------------------------------------


@st.composite
def growth(draw: st.DrawFn):
    shape = (draw(st.integers(1, 14)), draw(st.integers(1, 14)))
    prev = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
    added = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
    limit = draw(hnp.arrays(np.bool_, shape, elements=st.booleans()))
    return prev | added, prev, limit


FIELDS = (
    "urban_area_ha",
    "patches",
    "mean_patch_ha",
    "edge_density_m_per_ha",
    "compactness",
    "new_urban_ha",
    "new_outside_footprint_share",
    "new_outside_limit_share",
    "leapfrog_share",
)


def _check_sprawl(urban, prev, limit, size=250.0):
    want = metrics.sprawl_metrics(urban, cell_size_m=size, previous=prev, limit=limit)
    got = _sprawl_cells(
        urban.ravel(), np.flatnonzero(urban), prev.ravel(), limit.ravel(), urban.shape, size
    )
    for f in FIELDS:
        assert same(getattr(got, f), getattr(want, f)), f


@SETTINGS
@given(growth())
def test_sprawl_from_the_urban_cells_equals_sprawl_metrics(data):
    _check_sprawl(*data)


def test_sprawl_from_the_urban_cells_with_holes_rings_and_leapfrog():
    prev = np.zeros((12, 14), dtype=bool)
    prev[1:7, 1:7] = True
    prev[3:5, 3:5] = False  # a hole
    prev[8:11, 8:13] = True
    prev[9, 9:12] = False  # a hole in the second patch
    urban = prev.copy()
    urban[3, 3] = True  # infill in the hole
    urban[9, 10] = True  # infill in the other hole
    urban[0, 13] = True  # leapfrog on the border
    urban[7, 3] = True  # extension
    limit = np.ones_like(prev)
    limit[0, :] = False
    _check_sprawl(urban, prev, limit)
    got = _sprawl_cells(
        urban.ravel(), np.flatnonzero(urban), prev.ravel(), limit.ravel(), urban.shape, 250.0
    )
    assert got.new_outside_footprint_share == 0.5
    assert got.leapfrog_share == 0.25
    assert got.new_outside_limit_share == 0.25


# --------------------------------------------------------------------------------------------
# the grid and household passes
# --------------------------------------------------------------------------------------------


def test_grid_and_household_passes_equal_the_numpy_expressions():
    m = MetroModel(Scenario(scale=40, cell_size_m=2000.0), rng=11)
    m.step()
    land, coc, n = m.land, m.commune_of_cell, m.n_communes
    persons = m.params.household_size * m.params.scale
    urban, urban_cells, idx, counts, dw, rank, n_cells, cap, by = grid_pass(
        land.land_use,
        land.urban_start,
        land.occupancy,
        coc,
        n,
        _URBAN_LOOKUP,
        int(LandUse.RES_LOW),
        int(LandUse.RES_HIGH),
        land.rent,
        persons,
        land.capacity,
        m.park_m2,
        m.schools,
        m.clinics,
        np.empty((coc.size, land.occupancy.shape[1])),
        np.empty((coc.size, 3), dtype=np.int64),
    )
    occupied = land.occupied()
    inside = coc >= 0
    residential = (land.land_use >= LandUse.RES_LOW) & (land.land_use <= LandUse.RES_HIGH)
    new = land.urban & ~land.urban_start
    assert np.array_equal(urban, land.urban)
    assert np.array_equal(urban_cells, np.flatnonzero(land.urban))
    assert np.array_equal(idx, np.flatnonzero(occupied))
    assert np.array_equal(dw, occupied[idx])
    assert counts.dtype == np.float64
    assert np.array_equal(counts, land.occupancy[idx].astype(np.float64))
    assert cap == land.capacity.sum()
    assert list(n_cells) == [land.urban.sum(), residential.sum(), new.sum()]
    persons_cell = occupied * persons
    for j, mask in enumerate((land.urban, residential, new)):
        on = rank[:, j] >= 0
        assert np.array_equal(rank[on, j], np.cumsum(mask)[idx[on]] - 1)
        total = sparse_sum(rank[on, j], (dw * persons)[on], int(mask.sum()))
        assert total == persons_cell[mask].sum()

    def bc(w):
        return np.bincount(coc[inside], weights=w[inside], minlength=n)

    assert np.array_equal(by[0], np.bincount(coc[land.urban], minlength=n).astype(float))
    assert np.array_equal(by[1], bc(occupied))
    assert np.array_equal(by[2], bc(land.rent * occupied))
    assert np.array_equal(by[3], bc(persons_cell))
    assert np.array_equal(by[4], bc(m.park_m2))
    assert np.array_equal(by[5], bc(m.schools))
    assert np.array_equal(by[6], bc(m.clinics))
    rent_total = sparse_sum(idx, land.rent[idx] * dw, land.rent.size)
    assert rent_total / float(dw.sum()) == np.average(land.rent, weights=occupied)

    hh, c = m.households, m.commutes
    housed = hh.cell >= 0
    by_cg, n_housed, total, *sums = household_pass(
        hh.cell, hh.group, coc, m.commute, c.mode, c.minutes, c.km, n, 5, 45.0
    )
    want = np.bincount(
        coc[hh.cell[housed]].astype(np.int64) * 5 + hh.group[housed], minlength=n * 5
    ).reshape(n, 5)
    assert np.array_equal(by_cg, want)
    assert n_housed == housed.sum()
    assert total / n_housed == m.commute[hh.cell[housed]].mean()
    want_sums = household_sums(hh.cell, coc, hh.group, c.mode, c.minutes, c.km, n, 5, 45.0)
    for a, b in zip(sums, want_sums, strict=True):
        assert np.array_equal(a, b)


def household_pass_numpy(cell, group, coc, commute, mode, minutes, km, n_c, n_g, long_min):
    """:func:`household_pass` in numpy: per-group and per-commune sums in household order
    (``np.add.at`` adds in index order, unbuffered), the pairwise sum of the gathered
    commutes."""
    housed = cell >= 0
    by = np.zeros((n_c, n_g), dtype=np.int64)
    np.add.at(by, (coc[cell[housed]], group[housed]), 1)
    go = mode >= 0
    by_g = np.zeros((n_g, 2))
    np.add.at(by_g[:, 0], group[go], 1.0)
    np.add.at(by_g[:, 1], group[go], minutes[go])
    n_long = int(np.count_nonzero(minutes[go] > long_min))
    com = np.where(housed, coc[np.where(housed, cell, 0)], -1)
    inc = go & (com >= 0)
    by_c = np.zeros((n_c, 5))
    for col, on, w in (
        (0, inc, np.ones(cell.size)),
        (1, inc & (mode == 0), np.ones(cell.size)),
        (2, inc & (mode == 1), np.ones(cell.size)),
        (3, inc, minutes),
        (4, inc & (mode == 0), km),
    ):
        np.add.at(by_c[:, col], com[on], w[on])
    return by, int(housed.sum()), commute[cell[housed]].sum(), by_c, by_g, n_long


@st.composite
def household_arrays(draw: st.DrawFn):
    """Households of a small grid: some unhoused, some without a commute, cells outside the
    communes, minutes around the long-commute threshold, any number around the pairwise
    sum's block sizes."""
    n_cells = draw(st.integers(1, 40))
    n_c = draw(st.integers(1, 6))
    n_h = draw(st.one_of(st.integers(0, 300), st.sampled_from([127, 128, 129, 1031, 4099])))
    seed = draw(st.integers(0, 2**32 - 1))
    rng = np.random.default_rng(seed)
    coc = rng.integers(-1, n_c, n_cells).astype(np.int32)
    cell = rng.integers(0, n_cells, n_h).astype(np.int32)
    cell[rng.random(n_h) < draw(st.sampled_from([0.0, 0.1, 0.9]))] = -1
    # housed households live in the communes (the model's households do)
    cell[(cell >= 0) & (coc[np.maximum(cell, 0)] < 0)] = -1
    group = rng.integers(0, 5, n_h).astype(np.int8)
    mode = rng.integers(-1, 3, n_h).astype(np.int8)
    minutes = np.where(mode >= 0, rng.uniform(0.0, 90.0, n_h), np.nan)
    minutes[rng.random(n_h) < 0.1] = 45.0
    km = np.where(mode >= 0, rng.exponential(8.0, n_h), np.nan)
    commute = rng.standard_normal(n_cells) * 10.0 ** rng.uniform(-3, 3, n_cells)
    return cell, group, coc, commute, mode, minutes, km, n_c, 5, 45.0


@SETTINGS
@given(household_arrays())
def test_household_pass_equals_numpy_and_the_commute_sums(args):
    got = household_pass(*args)
    want = household_pass_numpy(*args)
    assert np.array_equal(got[0], want[0])
    assert got[1] == want[1]
    assert got[2] == want[2]  # numpy's pairwise rounding, bit for bit
    for a, b in zip(got[3:5], want[3:5], strict=True):
        assert np.array_equal(a, b)
    assert got[5] == want[5]
    cell, group, coc, commute, mode, minutes, km, n_c, n_g, long_min = args
    sums = household_sums(cell, coc, group, mode, minutes, km, n_c, n_g, long_min)
    for a, b in zip(got[3:], sums, strict=True):
        assert np.array_equal(a, b)


@pytest.mark.parametrize("n", [0, 1, 7, 8, 9, 127, 128, 129, 1000, 8191, 8192, 8193, 100_003])
def test_household_pass_commute_sum_is_numpys_mean(n):
    for seed in range(3):
        rng = np.random.default_rng(seed)
        n_cells = 500
        coc = np.zeros(n_cells, dtype=np.int32)
        cell = rng.integers(0, n_cells, n + n // 3).astype(np.int32)
        cell[rng.permutation(cell.size)[: n // 3]] = -1  # n housed among them
        commute = rng.standard_normal(n_cells) * 10.0 ** rng.uniform(-6, 6, n_cells)
        mode = np.full(cell.size, -1, dtype=np.int8)
        nan = np.full(cell.size, np.nan)
        _, n_housed, total, *_ = household_pass(
            cell, np.zeros(cell.size, np.int8), coc, commute, mode, nan, nan, 1, 5, 45.0
        )
        assert n_housed == n
        gathered = commute[cell[cell >= 0]]
        assert total == gathered.sum()
        if n:
            assert total / n_housed == gathered.mean()


# --------------------------------------------------------------------------------------------
# the model's yearly figures against the public functions on the whole grid
# --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("seed", [2, 9])
def test_model_outcomes_equal_the_public_functions_on_the_grid(seed):
    m = MetroModel(Scenario(scale=40, cell_size_m=2000.0), rng=seed)
    for _ in range(2):
        prev = m._urban_prev.copy()
        m.step()
    g, land, s = m.grid, m.land, m.params
    y = m.yearly
    occupied = land.occupied() > 0
    counts = land.occupancy[occupied].astype(np.float64)
    regions = m.commune_of_cell[occupied]
    theil = metrics.theil_h(counts, regions=regions)
    assert (y["theil_h"], y["theil_h_between"], y["theil_h_within"]) == tuple(theil)
    assert y["dissimilarity_q1_q5"] == metrics.dissimilarity(counts[:, [0, 4]])
    assert y["multigroup_dissimilarity"] == metrics.multigroup_dissimilarity(counts)
    assert y["isolation_q1"] == metrics.isolation(counts, 0)
    assert y["isolation_q5"] == metrics.isolation(counts, 4)
    grid = np.zeros((*g.shape, 5))
    grid.reshape(-1, 5)[occupied] = counts
    bandwidth = max(1.0, s.neighbourhood_radius_m / g.cell_size_m)
    assert y["spatial_theil_h"] == metrics.spatial_theil_h(grid, bandwidth_cells=bandwidth)
    income = np.full(occupied.size, np.nan)
    income[occupied] = (counts @ m.incomes) / counts.sum(axis=1)
    assert y["morans_i_income"] == metrics.morans_i(income.reshape(g.shape))
    limit = m._plan_base > 0 if m.plan_in_force else g.urban_limit.ravel() | land.urban_start
    sp = metrics.sprawl_metrics(
        land.urban.reshape(g.shape),
        cell_size_m=g.cell_size_m,
        previous=prev.reshape(g.shape),
        limit=limit.reshape(g.shape),
    )
    assert y["urban_patches"] == sp.patches
    for col, f in (
        ("edge_density", "edge_density_m_per_ha"),
        ("compactness", "compactness"),
        ("new_urban_outside_footprint_share", "new_outside_footprint_share"),
        ("new_urban_outside_limit_share", "new_outside_limit_share"),
        ("leapfrog_share", "leapfrog_share"),
    ):
        assert same(y[col], getattr(sp, f)), col
    for kind in ("school", "clinic", "park"):
        cov = metrics.coverage_share(
            counts,
            m.distance_km[kind][occupied] * 1000.0,
            threshold=getattr(s, f"coverage_{kind}_m"),
        )
        assert y[f"coverage_{kind}"] == cov.overall
    commute = metrics.mean_by_group(counts, m.commute[occupied])
    assert y["mean_commute_min_q1"] == commute[0]
    assert y["mean_commute_min_q5"] == commute[-1]
    persons = s.household_size * s.scale
    assert y["mean_rent"] == np.average(land.rent, weights=land.occupied())
    assert y["urban_density_pph"] == (land.occupied() * persons)[land.urban].sum() / max(
        land.urban.sum() * g.cell_area_ha, 1e-9
    )


@SETTINGS
@given(n=st.integers(1, 3000), k=st.integers(2, 8), seed=st.integers(0, 2**32 - 1))
def test_column_sums_equals_numpy_first_axis_sum_bit_for_bit(n, k, seed):
    from metrosim._kernels.measure import column_sums

    rng = np.random.default_rng(seed)
    c = rng.random((n, k)) * rng.integers(0, 50, (n, k)) * 31.000000000000004
    assert column_sums(c).tobytes() == c.sum(axis=0).tobytes()


@SETTINGS
@given(n=st.integers(1, 3000), seed=st.integers(0, 2**32 - 1))
def test_row_sums_of_floats_equals_numpy_last_axis_sum_bit_for_bit(n, seed):
    from metrosim.land import row_sums

    rng = np.random.default_rng(seed)
    c = rng.random((n, 5)) * rng.integers(0, 50, (n, 5)) * 3.1
    assert row_sums(c).tobytes() == c.sum(axis=1).tobytes()
