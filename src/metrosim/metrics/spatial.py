"""Spatial statistics on the model grid: Moran's I and Reardon & O'Sullivan's spatial H.

Both functions work on 2-D grids of shape ``(ny, nx)`` (row ``y``, column ``x``) and use
whole-array shifts or filters, never a Python loop over cells, so they take milliseconds on
grids of a few hundred thousand cells.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from metrosim._kernels.spatial import (
    environment_proportions,
    separable_environment,
    weighted_entropies,
)
from metrosim.metrics import _validate as v
from metrosim.metrics.segregation import _entropy_counts

__all__ = ["morans_i", "spatial_theil_h"]

_ROOK = ((-1, 0), (1, 0), (0, -1), (0, 1))
_QUEEN = _ROOK + ((-1, -1), (-1, 1), (1, -1), (1, 1))


def _shift(a: np.ndarray, dy: int, dx: int, fill: float | bool) -> np.ndarray:
    """``out[y, x] = a[y + dy, x + dx]``, with ``fill`` where that falls off the grid."""
    out = np.full_like(a, fill)
    ny, nx = a.shape
    ys, yd = (slice(dy, ny), slice(0, ny - dy)) if dy >= 0 else (slice(0, ny + dy), slice(-dy, ny))
    xs, xd = (slice(dx, nx), slice(0, nx - dx)) if dx >= 0 else (slice(0, nx + dx), slice(-dx, nx))
    out[yd, xd] = a[ys, xs]
    return out


def morans_i(
    values: np.ndarray,
    *,
    contiguity: Literal["rook", "queen"] = "rook",
    islands: Literal["drop", "keep"] = "drop",
) -> float:
    r"""Global Moran's I of a grid with row-standardised rook or queen contiguity.

    .. math::

        I = \frac{n}{S_0} \, \frac{\sum_i \sum_j w_{ij} z_i z_j}{\sum_i z_i^2},
        \qquad z_i = y_i - \bar y, \quad w_{ij} = 1 / c_i \text{ if } j \in N(i)

    The study area is the set of non-NaN cells. :math:`N(i)` are the study-area cells sharing
    an edge (rook: 4 neighbours) or an edge or corner (queen: 8 neighbours) with cell
    :math:`i`, :math:`c_i = |N(i)|`, and :math:`S_0 = \sum_{ij} w_{ij}` is the number of
    cells with at least one neighbour. Positive I: similar values cluster (rich next to rich);
    0: no spatial pattern (expected value :math:`-1/(n-1)`); negative: a checkerboard.

    *Islands* (study-area cells with no neighbour in the study area) have no spatial lag.
    With ``islands="drop"`` (default) they are removed before anything is computed, so
    :math:`n = S_0` and the mean excludes them; this equals ``esda.Moran(y, w)`` with ``w`` a
    libpysal ``W`` built from the neighbour lists of the non-island cells, row-standardised.
    With ``islands="keep"`` they stay in :math:`n`, in the mean and in :math:`\sum z_i^2`
    with a zero row of weights, which is what ``esda.Moran`` does when ``w`` lists them with
    no neighbours. Without islands the two options agree.

    Parameters
    ----------
    values : array_like, shape (ny, nx)
        The variable (e.g. mean household income per cell); NaN marks cells outside the
        study area (or with no households).
    contiguity : {"rook", "queen"}, keyword-only
        Neighbourhood definition.
    islands : {"drop", "keep"}, keyword-only
        Treatment of study-area cells without neighbours, see above.

    Returns
    -------
    float
        Moran's I; ``nan`` when all study-area values are equal (zero variance).

    Raises
    ------
    ValueError
        If ``values`` is not 2-D, holds infinite values, has fewer than two study-area cells
        or no pair of neighbouring study-area cells, or an option is not allowed.

    References
    ----------
    Moran, P. A. P. (1950). Notes on continuous stochastic phenomena. *Biometrika* 37(1/2),
    17-23. doi:10.1093/biomet/37.1-2.17

    Cliff, A. D. & Ord, J. K. (1981). *Spatial Processes: Models and Applications*.
    London: Pion.

    Examples
    --------
    A 2x2 checkerboard is perfectly negatively autocorrelated under rook contiguity:

    >>> morans_i([[1.0, 0.0], [0.0, 1.0]])
    -1.0
    >>> morans_i([[1.0, 1.0], [0.0, 0.0]], contiguity="rook")  # two bands: I = 0
    0.0
    """
    contiguity = v.choice("contiguity", contiguity, ("rook", "queen"))
    islands = v.choice("islands", islands, ("drop", "keep"))
    y = v._array("values", values)
    if y.ndim != 2:
        raise ValueError(
            f"values must be a 2-D grid of shape (ny, nx); got {y.ndim}-D array of shape {y.shape}"
        )
    y = y.astype(np.float64, copy=False)
    inside = ~np.isnan(y)
    if np.isinf(y).any():
        raise ValueError(
            f"values must be finite or NaN (outside the study area); "
            f"found {v._where(y, np.isinf(y))}"
        )
    offsets = _ROOK if contiguity == "rook" else _QUEEN
    n_nb = np.zeros(y.shape, dtype=np.int8)
    for dy, dx in offsets:
        n_nb += _shift(inside, dy, dx, False)
    n_nb[~inside] = 0
    has_nb = n_nb > 0
    n_inside = int(inside.sum())
    if n_inside < 2:
        raise ValueError(f"values must have at least 2 non-NaN (study-area) cells; got {n_inside}")
    if not has_nb.any():
        raise ValueError(
            f"values has no two {contiguity}-adjacent non-NaN cells; Moran's I is undefined"
        )
    used = has_nb if islands == "drop" else inside
    n = int(used.sum())
    mean = y[used].mean()
    z = np.where(used, y - mean, 0.0)
    z2ss = float((z * z).sum())
    if z2ss == 0.0:
        return float("nan")
    lag = np.zeros(y.shape)
    for dy, dx in offsets:
        lag += _shift(z, dy, dx, 0.0)
    # row-standardise: each non-island row of W sums to one
    cross = float((z[has_nb] * lag[has_nb] / n_nb[has_nb]).sum())
    s0 = float(has_nb.sum())
    return float(n / s0 * cross / z2ss)


_KERNELS = ("gaussian", "biweight", "disk")


def _kernel(kind: str, radius: float) -> np.ndarray:
    """Distance-decay weights on a square stencil of cells, for FFT convolution."""
    r = int(np.floor(radius))
    d = np.arange(-r, r + 1, dtype=np.float64)
    dist2 = d[:, None] ** 2 + d[None, :] ** 2
    u2 = dist2 / radius**2
    if kind == "biweight":
        return np.where(u2 < 1.0, (1.0 - u2) ** 2, 0.0)
    return (u2 <= 1.0).astype(np.float64)  # disk


def spatial_theil_h(
    grid_counts: np.ndarray,
    *,
    bandwidth_cells: float,
    kernel: Literal["gaussian", "biweight", "disk"] = "gaussian",
) -> float:
    r"""Spatial information theory index :math:`\tilde H` (Reardon & O'Sullivan 2004).

    Each cell's *local environment* is the kernel-weighted population around it,

    .. math::

        \tilde n_{pk} = \sum_q \phi(p, q)\, n_{qk}, \qquad
        \tilde \pi_{pk} = \tilde n_{pk} / \textstyle\sum_k \tilde n_{pk},

    and the index compares the entropy of those environments with that of the city:

    .. math::

        \tilde H = 1 - \sum_p \frac{t_p \tilde E_p}{T E}, \qquad
        \tilde E_p = -\sum_k \tilde\pi_{pk} \ln \tilde\pi_{pk},

    weighting each cell by the people who live in it (:math:`t_p`). 0 means every
    neighbourhood, at the scale of the bandwidth, is as mixed as the whole city; 1 means
    people only have neighbours of their own group. With a bandwidth much smaller than a
    cell it equals the aspatial :func:`~metrosim.metrics.theil_h` over cells; with a
    kernel covering the whole grid it is 0. Unlike the aspatial H it is not clipped: with
    strongly uneven populations it can in principle fall slightly below 0.

    Kernels (distance :math:`d` in cells, :math:`b` = ``bandwidth_cells``):
    ``"gaussian"`` :math:`\exp(-d^2 / 2b^2)` truncated at :math:`4b` and applied separably
    (the same taps as ``scipy.ndimage.gaussian_filter``), visiting only populated cells, so
    its cost grows with the populated cells, not with the grid; ``"biweight"``
    :math:`(1 - d^2/b^2)^2` for
    :math:`d < b` (Reardon & O'Sullivan's recommended kernel); ``"disk"`` 1 for
    :math:`d \le b`. The last two are applied with FFT convolution. Cells outside the grid
    count as empty; because only proportions are used, no edge correction is needed.

    Parameters
    ----------
    grid_counts : array_like, shape (ny, nx, n_groups)
        Non-negative counts per cell and group (cells outside the study area hold zeros).
    bandwidth_cells : float, keyword-only
        Kernel scale in cells: the Gaussian standard deviation, or the biweight/disk radius.
    kernel : {"gaussian", "biweight", "disk"}, keyword-only
        Distance-decay function.

    Returns
    -------
    float
        :math:`\tilde H`; ``nan`` when the whole population belongs to one group.

    Raises
    ------
    ValueError
        If ``grid_counts`` is not 3-D, holds negative, NaN or infinite values or sums to
        zero, or ``bandwidth_cells`` is not a finite positive number, or ``kernel`` unknown.

    References
    ----------
    Reardon, S. F. & O'Sullivan, D. (2004). Measures of spatial segregation.
    *Sociological Methodology* 34, 121-162. doi:10.1111/j.0081-1750.2004.00150.x

    Examples
    --------
    Two groups on opposite halves of a 20x20 grid: strongly segregated at a one-cell scale,
    less so at a five-cell scale.

    >>> g = np.zeros((20, 20, 2))
    >>> g[:, :10, 0] = 10
    >>> g[:, 10:, 1] = 10
    >>> round(spatial_theil_h(g, bandwidth_cells=1.0), 3)
    0.875
    >>> round(spatial_theil_h(g, bandwidth_cells=5.0), 3)
    0.323
    """
    kernel = v.choice("kernel", kernel, _KERNELS)
    b = v.positive("bandwidth_cells", bandwidth_cells)
    c = v.nonnegative("grid_counts", grid_counts, ndim=3, shape_hint="(ny, nx, n_groups)")
    t = c.sum(axis=2)
    T = float(t.sum())
    if T == 0.0:
        raise ValueError(
            f"grid_counts has zero total population (all {t.size} cells are empty); "
            "at least one cell must have a positive count"
        )
    N = c.reshape(-1, c.shape[2]).sum(axis=0)
    present = N > 0
    E = _entropy_counts(N[present])
    if E <= 0.0:
        return float("nan")
    c = c[:, :, present]
    occ = t > 0
    if kernel == "gaussian":
        ys, xs = np.nonzero(occ)
        return _gaussian_spatial_h(ys, xs, c[occ], c.shape[:2], b, t[occ], T, E)
    else:
        w = _kernel(kernel, b)
        from scipy import signal  # imported here: it adds seconds to ``import metrosim``

        env = signal.fftconvolve(c, w[:, :, None], mode="same", axes=(0, 1))
        # FFT round-off leaves values of about 1e-16 * max where the exact result is 0
        env[env < 1e-12 * float(c.max()) * float(w.sum())] = 0.0
        e = env[occ]
    # e: (n_populated, n_groups); each includes its own cell with weight > 0
    return _spatial_h(e, t[occ], T, E)


def _gaussian_spatial_h(
    ys: np.ndarray,
    xs: np.ndarray,
    counts: np.ndarray,
    shape: tuple[int, int],
    bandwidth: float,
    t: np.ndarray | None = None,
    T: float | None = None,
    E: float | None = None,
) -> float:
    """Gaussian spatial H from the populated cells only.

    ``ys``, ``xs`` are their rows and columns, ``counts`` (n_populated, n_groups) their
    counts, every row with a positive total. The model calls this directly with its
    occupied cells, skipping the full-grid input checks of :func:`spatial_theil_h` (its
    counts are valid by construction).
    """
    if t is None:
        t = counts.sum(axis=1)
        T = float(t.sum())
        N = counts.sum(axis=0)
        present = N > 0
        E = _entropy_counts(N[present])
        if E <= 0.0:
            return float("nan")
        counts = np.ascontiguousarray(counts[:, present], dtype=np.float64)
    e = separable_environment(ys, xs, counts, shape[0], shape[1], _gaussian_taps(bandwidth))
    return _spatial_h(e, t, T, E)


def _gaussian_taps(bandwidth: float) -> np.ndarray:
    """Normalised 1-D Gaussian taps truncated at 4 standard deviations.

    The same taps as ``scipy.ndimage.gaussian_filter`` with its default ``truncate=4``.
    """
    r = int(4.0 * bandwidth + 0.5)
    x = np.arange(-r, r + 1, dtype=np.float64)
    w = np.exp(-0.5 * x * x / (bandwidth * bandwidth))
    return w / w.sum()


def _spatial_h(e: np.ndarray, t: np.ndarray, T: float, E: float) -> float:
    r"""``1 - sum_p t_p E_p / (T E)`` from the local environments ``e`` of populated cells.

    The proportions and the weighted entropies are numba loops with numpy's operations in
    numpy's order (the same values as ``pi = e / e.sum(axis=1)`` and
    ``-where(pi > 0, pi * log(pi), 0).sum(axis=1)``); the logarithm is numpy's.
    """
    pi, arg = environment_proportions(np.ascontiguousarray(e, dtype=np.float64))
    np.log(arg, out=arg)
    return float(1.0 - weighted_entropies(pi, arg, t).sum() / (T * E))


def _morans_i_cells(idx: np.ndarray, y: np.ndarray, shape: tuple[int, int]) -> float:
    """:func:`morans_i` (rook, islands dropped) from the listed cells only.

    The grid of ``shape`` holds ``y`` at the sorted flat cells ``idx`` and NaN elsewhere.

    The model's values are finite by construction, so the checks are skipped. The
    neighbours are found among the listed cells (numba), and every sum is numpy's on the
    same numbers in the same order (the grid-wide sum of squares by
    :func:`~metrosim._kernels.measure.sparse_sum`), so the value equals :func:`morans_i`
    bit for bit (tested). Where :func:`morans_i` raises, it is called to raise.
    """
    from metrosim._kernels.measure import moran_cross_terms, rook_neighbours, sparse_sum

    ny, nx = shape
    nb, n_nb = rook_neighbours(idx, ny, nx)
    used = n_nb > 0
    n = int(np.count_nonzero(used))
    if idx.size < 2 or n == 0:
        grid = np.full(ny * nx, np.nan)
        grid[idx] = y
        return morans_i(grid.reshape(shape))
    mean = y[used].mean()
    z = np.where(used, y - mean, 0.0)
    zu = z[used]
    z2ss = float(sparse_sum(idx[used], zu * zu, ny * nx))
    if z2ss == 0.0:
        return float("nan")
    cross = float(moran_cross_terms(z, nb, n_nb).sum())
    s0 = float(n)
    return float(n / s0 * cross / z2ss)
