"""Tests for metrosim.metrics.spatial: Moran's I against esda, spatial H against brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from metrosim.metrics import morans_i, spatial_theil_h, theil_h

with np.errstate():  # keep numpy's error state even if a PySAL import changes it
    import esda
    from libpysal.weights import W, lat2W

TOL = 1e-9
SETTINGS = settings(max_examples=50, deadline=None)

ROOK = [(-1, 0), (1, 0), (0, -1), (0, 1)]
QUEEN = ROOK + [(-1, -1), (-1, 1), (1, -1), (1, 1)]


# --------------------------------------------------------------------------------------------
# Moran's I
# --------------------------------------------------------------------------------------------


@st.composite
def grids(draw: st.DrawFn, *, holes: bool = True) -> np.ndarray:
    """Small grids of integer-valued floats with NaN cells outside the study area."""
    ny, nx = draw(st.integers(1, 8)), draw(st.integers(2, 8))
    vals = draw(hnp.arrays(np.int64, (ny, nx), elements=st.integers(-20, 20))).astype(float)
    if holes:
        out = draw(hnp.arrays(np.bool_, (ny, nx), elements=st.booleans()))
        vals[out] = np.nan
    return vals


def neighbour_lists(inside: np.ndarray, contiguity: str) -> tuple[list, dict[int, list[int]]]:
    """Cells of the study area in row-major order and their neighbour lists (plain Python)."""
    offsets = ROOK if contiguity == "rook" else QUEEN
    cells = [tuple(p) for p in np.argwhere(inside)]
    ids = {p: i for i, p in enumerate(cells)}
    nb = {
        ids[(y, x)]: [ids[(y + dy, x + dx)] for dy, dx in offsets if (y + dy, x + dx) in ids]
        for (y, x) in cells
    }
    return cells, nb


def esda_moran(y: np.ndarray, neighbours: dict[int, list[int]]) -> float:
    w = W(neighbours, silence_warnings=True)
    with np.errstate(all="ignore"):  # esda's variance formulas divide by n - 3 etc.
        return float(esda.Moran(y, w, transformation="r", permutations=0).I)


def usable(vals: np.ndarray, contiguity: str, islands: str) -> bool:
    inside = ~np.isnan(vals)
    if inside.sum() < 2:
        return False
    _, nb = neighbour_lists(inside, contiguity)
    keep = [i for i in nb if nb[i]] if islands == "drop" else list(nb)
    if not any(nb.values()):
        return False
    y = vals[inside][keep]
    return bool(np.ptp(y) > 0)


@SETTINGS
@given(grids(), st.sampled_from(["rook", "queen"]))
def test_morans_i_matches_esda_islands_dropped(vals, contiguity):
    assume(usable(vals, contiguity, "drop"))
    cells, nb = neighbour_lists(~np.isnan(vals), contiguity)
    kept = [i for i in nb if nb[i]]
    new_id = {old: new for new, old in enumerate(kept)}
    nb_kept = {new_id[i]: [new_id[j] for j in nb[i]] for i in kept}
    y = np.array([vals[cells[i]] for i in kept])
    ours = morans_i(vals, contiguity=contiguity)
    assert abs(ours - esda_moran(y, nb_kept)) <= TOL


@SETTINGS
@given(grids(), st.sampled_from(["rook", "queen"]))
def test_morans_i_matches_esda_islands_kept(vals, contiguity):
    """esda keeps islands (empty neighbour lists) in n, the mean and the variance."""
    assume(usable(vals, contiguity, "keep"))
    cells, nb = neighbour_lists(~np.isnan(vals), contiguity)
    y = np.array([vals[p] for p in cells])
    ours = morans_i(vals, contiguity=contiguity, islands="keep")
    assert abs(ours - esda_moran(y, nb)) <= TOL


@SETTINGS
@given(grids(holes=False), st.booleans())
def test_full_rectangle_matches_esda_on_lat2w(vals, rook):
    assume(np.ptp(vals) > 0)
    ny, nx = vals.shape
    w = lat2W(ny, nx, rook=rook)  # ids are row-major, like vals.ravel()
    with np.errstate(all="ignore"):
        ref = float(esda.Moran(vals.ravel(), w, transformation="r", permutations=0).I)
    ours = morans_i(vals, contiguity="rook" if rook else "queen")
    assert abs(ours - ref) <= TOL
    assert morans_i(vals, contiguity="rook" if rook else "queen", islands="keep") == ours


def test_morans_i_hand_cases():
    # 2x2 checkerboard, rook: every neighbour is the opposite value
    assert morans_i(np.array([[1.0, 0.0], [0.0, 1.0]])) == -1.0
    # horizontal bands: each cell has one like and one unlike neighbour
    assert morans_i(np.array([[1.0, 1.0], [0.0, 0.0]])) == 0.0
    # 1x3 line 0, 1, 2: z = -1, 0, 1; lags -> 0, 0 (mean of -1 and 1), 0 -> I = 0
    assert morans_i(np.array([[0.0, 1.0, 2.0]])) == pytest.approx(0.0, abs=1e-15)
    # 1x4 line 0,0,1,1: z=-.5,-.5,.5,.5; lags -.5, 0, 0, .5; n/S0=1; sum z*lag=.5; z2ss=1
    assert morans_i(np.array([[0.0, 0.0, 1.0, 1.0]])) == pytest.approx(0.5, abs=1e-15)
    # constant values: no variance, I undefined
    assert math.isnan(morans_i(np.ones((3, 3))))


def test_islands_drop_equals_blanking_them():
    v = np.array([[1.0, 2.0, np.nan, 7.0], [3.0, 5.0, np.nan, np.nan]])  # 7.0 is an island
    blanked = v.copy()
    blanked[0, 3] = np.nan
    assert morans_i(v) == morans_i(blanked)
    assert morans_i(v, islands="keep") != morans_i(v)
    # with queen contiguity the island at (0, 3) is still an island
    assert morans_i(v, contiguity="queen") == morans_i(blanked, contiguity="queen")


@SETTINGS
@given(
    grids(),
    st.sampled_from(["rook", "queen"]),
    st.floats(0.1, 100.0),
    st.floats(-1e3, 1e3),
)
def test_morans_i_invariances(vals, contiguity, scale, shift):
    assume(usable(vals, contiguity, "drop"))
    ref = morans_i(vals, contiguity=contiguity)
    assert math.isfinite(ref)  # note: |I| may exceed 1 slightly with row-standardised W
    assert morans_i(vals * scale + shift, contiguity=contiguity) == pytest.approx(ref, abs=1e-9)
    for t in (vals.T, vals[::-1], vals[:, ::-1], np.rot90(vals)):
        assert morans_i(t, contiguity=contiguity) == pytest.approx(ref, abs=1e-12)


def test_morans_i_positive_for_a_smooth_surface_negative_for_checkerboard():
    y, x = np.mgrid[0:30, 0:40]
    assert morans_i(np.sin(x / 8.0) + y / 10.0) > 0.9
    board = ((x + y) % 2).astype(float)
    assert morans_i(board) == -1.0
    assert morans_i(board, contiguity="queen") < 0


@pytest.mark.parametrize(
    ("values", "kwargs", "match"),
    [
        ([1.0, 2.0], {}, r"values must be a 2-D grid of shape \(ny, nx\); got 1-D array"),
        (np.ones((2, 2, 2)), {}, r"values must be a 2-D grid.*got 3-D"),
        ([[1.0, np.inf]], {}, r"values must be finite or NaN.*found inf at index \(0, 1\)"),
        ([[np.nan, np.nan]], {}, r"values must have at least 2 non-NaN.*got 0"),
        ([[1.0, np.nan]], {}, r"values must have at least 2 non-NaN.*got 1"),
        ([[1.0, np.nan], [np.nan, 2.0]], {}, r"values has no two rook-adjacent non-NaN cells"),
        ([["a", "b"]], {}, r"values must hold real numbers"),
        ([[1.0, 2.0]], {"contiguity": "bishop"}, r"contiguity must be one of.*got 'bishop'"),
        ([[1.0, 2.0]], {"islands": "ignore"}, r"islands must be one of.*got 'ignore'"),
    ],
)
def test_morans_i_errors(values, kwargs, match):
    with pytest.raises(ValueError, match=match):
        morans_i(values, **kwargs)


def test_morans_i_diagonal_pair_is_fine_with_queen():
    v = np.array([[1.0, np.nan], [np.nan, 2.0]])
    assert morans_i(v, contiguity="queen") == -1.0


# --------------------------------------------------------------------------------------------
# spatial information theory index
# --------------------------------------------------------------------------------------------


@st.composite
def grid_counts(draw: st.DrawFn, *, max_side: int = 9) -> np.ndarray:
    ny, nx = draw(st.integers(1, max_side)), draw(st.integers(1, max_side))
    k = draw(st.integers(2, 4))
    c = draw(hnp.arrays(np.int64, (ny, nx, k), elements=st.integers(0, 30)))
    assume((c.sum(axis=(0, 1)) > 0).sum() >= 2)
    return c


def brute_force_h(c: np.ndarray, weight) -> float:
    """Reardon & O'Sullivan's H with local environments summed cell by cell."""
    c = c.astype(float)
    ny, nx, _ = c.shape
    t = c.sum(axis=2)
    T = t.sum()
    P = c.sum(axis=(0, 1)) / T
    E = -sum(p * math.log(p) for p in P if p > 0)
    acc = 0.0
    for py in range(ny):
        for px in range(nx):
            if t[py, px] == 0:
                continue
            env = np.zeros(c.shape[2])
            for qy in range(ny):
                for qx in range(nx):
                    env += weight(py - qy, px - qx) * c[qy, qx]
            pi = env / env.sum()
            Ep = -sum(p * math.log(p) for p in pi if p > 0)
            acc += t[py, px] * Ep
    return 1.0 - acc / (T * E)


def gaussian_weight(b: float):
    r = int(4.0 * b + 0.5)  # scipy.ndimage.gaussian_filter's truncation (truncate=4)
    return lambda dy, dx: (
        math.exp(-(dy * dy + dx * dx) / (2 * b * b)) if abs(dy) <= r and abs(dx) <= r else 0.0
    )


def biweight_weight(b: float):
    return lambda dy, dx: max(0.0, 1.0 - (dy * dy + dx * dx) / b**2) ** 2


def disk_weight(b: float):
    return lambda dy, dx: 1.0 if dy * dy + dx * dx <= b * b else 0.0


WEIGHTS = {"gaussian": gaussian_weight, "biweight": biweight_weight, "disk": disk_weight}


@settings(max_examples=40, deadline=None)
@given(grid_counts(max_side=7), st.sampled_from(sorted(WEIGHTS)), st.floats(0.3, 4.0))
def test_spatial_h_matches_brute_force(c, kernel, b):
    ours = spatial_theil_h(c, bandwidth_cells=b, kernel=kernel)
    assert abs(ours - brute_force_h(c, WEIGHTS[kernel](b))) <= TOL


@SETTINGS
@given(grid_counts(), st.sampled_from(sorted(WEIGHTS)))
def test_spatial_h_with_tiny_bandwidth_is_aspatial_h(c, kernel):
    b = 0.1 if kernel == "gaussian" else 0.5  # the kernel is the cell itself
    flat = c.reshape(-1, c.shape[2])
    assert spatial_theil_h(c, bandwidth_cells=b, kernel=kernel) == pytest.approx(
        theil_h(flat), abs=1e-12
    )


@SETTINGS
@given(grid_counts())
def test_spatial_h_is_zero_when_a_disk_covers_the_grid(c):
    b = math.hypot(*c.shape[:2]) + 1.0  # every cell's environment is the whole grid
    assert spatial_theil_h(c, bandwidth_cells=b, kernel="disk") == pytest.approx(0, abs=1e-9)


@SETTINGS
@given(
    hnp.arrays(
        np.int64, st.tuples(st.integers(1, 12), st.integers(1, 12)), elements=st.integers(0, 50)
    ),
    hnp.arrays(np.int64, st.integers(2, 5), elements=st.integers(1, 9)),
    st.sampled_from(sorted(WEIGHTS)),
    st.floats(0.3, 6.0),
)
def test_spatial_h_is_zero_for_an_even_mix(sizes, composition, kernel, b):
    assume(sizes.sum() > 0)
    c = sizes[:, :, None] * composition[None, None, :]
    assert spatial_theil_h(c, bandwidth_cells=b, kernel=kernel) == pytest.approx(0, abs=1e-9)


@SETTINGS
@given(
    grid_counts(),
    st.sampled_from(sorted(WEIGHTS)),
    st.floats(0.3, 5.0),
    st.sampled_from([0.5, 7.0]),
)
def test_spatial_h_invariances(c, kernel, b, factor):
    ref = spatial_theil_h(c, bandwidth_cells=b, kernel=kernel)
    assert ref <= 1.0 + 1e-12
    for other in (c * factor, c.transpose(1, 0, 2), c[::-1], c[:, ::-1], c[:, :, ::-1]):
        assert spatial_theil_h(other, bandwidth_cells=b, kernel=kernel) == pytest.approx(
            ref, abs=1e-9
        )


def test_spatial_h_falls_with_bandwidth_for_two_halves():
    g = np.zeros((30, 30, 2))
    g[:, :15, 0] = 10
    g[:, 15:, 1] = 10
    for kernel in sorted(WEIGHTS):
        hs = [spatial_theil_h(g, bandwidth_cells=b, kernel=kernel) for b in (0.1, 1.5, 3, 6, 12)]
        assert hs[0] == pytest.approx(1.0)
        assert all(a > b for a, b in zip(hs, hs[1:], strict=False))


def test_spatial_h_single_group_is_nan():
    g = np.zeros((3, 3, 2))
    g[1, 1, 0] = 5
    assert math.isnan(spatial_theil_h(g, bandwidth_cells=1.0))


@pytest.mark.parametrize(
    ("counts", "kwargs", "match"),
    [
        (np.ones((3, 3)), {}, r"grid_counts must be a 3-D array of shape \(ny, nx, n_groups\)"),
        (-np.ones((2, 2, 2)), {}, r"grid_counts must be non-negative.*-1.0 at index \(0, 0, 0\)"),
        (np.full((2, 2, 2), np.nan), {}, r"grid_counts must be non-negative finite.*nan"),
        (np.zeros((2, 2, 2)), {}, r"grid_counts has zero total population \(all 4 cells"),
        (
            np.ones((2, 2, 2)),
            {"bandwidth_cells": 0.0},
            r"bandwidth_cells must be a finite number > 0; got 0.0",
        ),
        (np.ones((2, 2, 2)), {"bandwidth_cells": -1}, r"bandwidth_cells must be a finite.*got -1"),
        (
            np.ones((2, 2, 2)),
            {"bandwidth_cells": np.inf},
            r"bandwidth_cells must be a finite.*got inf",
        ),
        (
            np.ones((2, 2, 2)),
            {"bandwidth_cells": "3"},
            r"bandwidth_cells must be a real number; got '3'",
        ),
        (
            np.ones((2, 2, 2)),
            {"kernel": "box"},
            r"kernel must be one of \('gaussian', 'biweight', 'disk'\); got 'box'",
        ),
    ],
)
def test_spatial_h_errors(counts, kwargs, match):
    kwargs = {"bandwidth_cells": 1.0} | kwargs
    with pytest.raises(ValueError, match=match):
        spatial_theil_h(counts, **kwargs)
