"""National sectoral ministries' projects: social housing sites and motorway corridors.

Ministries are not obliged to follow a regional plan (seed fact, model brief); with
``ministries_aligned`` they site projects within it.
"""

from __future__ import annotations

import numpy as np

__all__ = ["social_housing_sites", "corridor_cells", "corridor_band", "choose_corridor"]

#: The eight compass directions a radial motorway can take (unit vectors east, north).
DIRECTIONS = tuple((float(np.cos(a)), float(np.sin(a))) for a in np.deg2rad(np.arange(0, 360, 45)))


def social_housing_sites(
    candidates: np.ndarray,
    land_price: np.ndarray,
    commute: np.ndarray,
    siting: str,
    limit: int | None = None,
) -> np.ndarray:
    """Candidate cells in the order the housing ministry builds on them.

    ``least_cost``: cheapest land first (MINVU's historic practice of minimising land cost,
    which put social housing on the periphery: Hidalgo 2007, doi:10.4067/S0250-71612007000100004);
    ``accessible``: shortest commute first. Ties go to the lower cell index.

    With ``limit``, only the first ``limit`` cells of that order (found by a partial sort:
    every candidate whose key is at most the ``limit``-th smallest, then sorted).

    Examples
    --------
    >>> cand = np.array([True, True, False, True])
    >>> price = np.array([3.0, 1.0, 0.0, 1.0])
    >>> social_housing_sites(cand, price, price, "least_cost").tolist()
    [1, 3, 0]
    >>> social_housing_sites(cand, price, price, "least_cost", limit=1).tolist()
    [1]
    """
    cells = np.flatnonzero(candidates)
    key = land_price[cells] if siting == "least_cost" else commute[cells]
    if limit is not None and limit < cells.size:
        if limit <= 0:
            return cells[:0]
        kth = np.partition(key, limit - 1)[limit - 1]
        if np.isnan(kth):  # NaN keys sort last: fall back to the full order
            return cells[np.lexsort((cells, key))][:limit]
        near = key <= kth  # ties with the limit-th key are sorted by cell below
        cells, key = cells[near], key[near]
        return cells[np.lexsort((cells, key))][:limit]
    return cells[np.lexsort((cells, key))]


def corridor_cells(
    shape: tuple[int, int], origin: int, direction: tuple[float, float], length_cells: int
) -> np.ndarray:
    """Flat indices of the straight line of cells from ``origin`` in ``direction``."""
    ny, nx = shape
    r0, c0 = divmod(origin, nx)
    steps = np.arange(length_cells + 1)
    rows = np.rint(r0 - steps * direction[1]).astype(np.int64)
    cols = np.rint(c0 + steps * direction[0]).astype(np.int64)
    ok = (rows >= 0) & (rows < ny) & (cols >= 0) & (cols < nx)
    return np.unique(rows[ok] * nx + cols[ok])


def corridor_band(
    shape: tuple[int, int], line: np.ndarray, band_cells: int
) -> tuple[slice, slice, np.ndarray]:
    """The cells within ``band_cells`` rook steps of the ``line`` cells, as a window and mask.

    Equal to ``scipy.ndimage.binary_dilation(mask, iterations=band_cells)`` of the line's mask
    (the default cross structure, cells outside the grid never set): after k steps of the
    cross a cell is set when its Manhattan distance to a line cell is at most k, and a
    shortest rook path between two cells of the grid stays in the grid. Built from the
    diamond of offsets around each line cell, so it costs the line's length times the
    diamond's size instead of ``band_cells`` passes over the whole grid.

    Parameters
    ----------
    shape : tuple of int
        The grid's (ny, nx).
    line : ndarray of int
        Flat indices of the corridor's cells (at least one, inside the grid).
    band_cells : int
        Half-width of the band in rook steps (>= 0; 0 gives the line itself).

    Returns
    -------
    rows, cols : slice
        The bounding window of the band within the grid.
    mask : ndarray of bool
        The band within that window (C order, so ``a[rows, cols][mask]`` lists the band's
        values of ``a`` in the order ``a[full_mask]`` would).

    Examples
    --------
    >>> rows, cols, mask = corridor_band((5, 5), np.array([12]), 1)
    >>> rows, cols, mask.astype(int).tolist()
    (slice(1, 4, None), slice(1, 4, None), [[0, 1, 0], [1, 1, 1], [0, 1, 0]])
    """
    ny, nx = shape
    n = int(band_cells)
    r, c = np.divmod(np.asarray(line, dtype=np.int64), nx)
    dr = np.repeat(np.arange(-n, n + 1), 2 * (n - np.abs(np.arange(-n, n + 1))) + 1)
    dc = np.concatenate([np.arange(-(n - abs(k)), n - abs(k) + 1) for k in range(-n, n + 1)])
    rr = (r[:, None] + dr[None, :]).ravel()
    cc = (c[:, None] + dc[None, :]).ravel()
    ok = (rr >= 0) & (rr < ny) & (cc >= 0) & (cc < nx)
    rr, cc = rr[ok], cc[ok]
    r0, r1, c0, c1 = int(rr.min()), int(rr.max()) + 1, int(cc.min()), int(cc.max()) + 1
    mask = np.zeros((r1 - r0, c1 - c0), dtype=bool)
    mask[rr - r0, cc - c0] = True
    return slice(r0, r1), slice(c0, c1), mask


def choose_corridor(
    shape: tuple[int, int],
    origin: int,
    length_cells: int,
    weight: np.ndarray,
    built: set[int],
    band_cells: int,
) -> int:
    """Index into ``DIRECTIONS`` of the corridor with the most ``weight`` within a band.

    The public-works ministry builds where its objective is largest: developable land to open
    when sectoral, households to serve within the plan when aligned (the caller sets
    ``weight``). The band is the cells within ``band_cells`` rook steps of the corridor
    (:func:`corridor_band`). Directions already built are skipped; -1 when none is left.
    """
    best, best_w = -1, -np.inf
    w2 = weight.reshape(shape)
    for k, d in enumerate(DIRECTIONS):
        if k in built:
            continue
        line = corridor_cells(shape, origin, d, length_cells)
        if line.size == 0:
            total = 0.0
        else:
            rows, cols, mask = corridor_band(shape, line, max(band_cells, 0))
            total = float(w2[rows, cols][mask].sum())
        if total > best_w:
            best, best_w = k, total
    return best
