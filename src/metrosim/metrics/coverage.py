"""Access to services and green space, overall and by income group.

Cells are the units: ``households`` has shape ``(n_cells, n_groups)`` and the per-cell
arrays have shape ``(n_cells,)``. Cells where nobody lives may hold NaN in ``distance`` or
``values`` (e.g. outside the travel network); where households live those must be numbers.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrosim.metrics import _validate as v

__all__ = ["CoverageShare", "coverage_share", "green_per_person", "mean_by_group"]


class CoverageShare(NamedTuple):
    """Share of households within reach of a service.

    Attributes
    ----------
    overall : float
        Share of all households.
    by_group : numpy.ndarray
        Share of each group's households, shape ``(n_groups,)``; ``nan`` for a group with
        no households.
    """

    overall: float
    by_group: np.ndarray


def _per_cell(
    name: str, a: object, n_cells: int, occupied: np.ndarray, *, allow_inf: bool
) -> np.ndarray:
    """A float 1-D array of length ``n_cells``, numeric wherever ``occupied``."""
    arr = v._array(name, a)
    if arr.ndim != 1 or arr.shape[0] != n_cells:
        raise ValueError(
            f"{name} must be a 1-D array of length n_cells = {n_cells} (one value per row of "
            f"households); got shape {arr.shape}"
        )
    arr = arr.astype(np.float64, copy=False)
    bad = np.isnan(arr) if allow_inf else ~np.isfinite(arr)
    bad &= occupied
    if bad.any():
        allowed = "a number (inf allowed)" if allow_inf else "a finite number"
        raise ValueError(
            f"{name} must be {allowed} in every cell with households; found "
            f"{v._where(arr, bad)}, where households live"
        )
    return arr


def coverage_share(
    households: np.ndarray, distance: np.ndarray, *, threshold: float
) -> CoverageShare:
    r"""Share of households within ``threshold`` of the nearest facility of one type.

    .. math::

        C_k = \frac{\sum_i h_{ik} \, [d_i \le \delta]}{\sum_i h_{ik}}, \qquad
        C = \frac{\sum_i \sum_k h_{ik} \, [d_i \le \delta]}{\sum_i \sum_k h_{ik}}

    the coverage criterion of the maximal covering location problem (Church & ReVelle
    1974), reported by income group to show who is left out (Talen & Anselin 1998).

    Parameters
    ----------
    households : array_like, shape (n_cells, n_groups)
        Non-negative household counts per cell and group.
    distance : array_like, shape (n_cells,)
        Distance or travel time from each cell to the nearest facility; ``inf`` where none is
        reachable; NaN only in cells without households.
    threshold : float, keyword-only
        Largest distance counted as covered (same unit as ``distance``), ``>= 0``.

    Returns
    -------
    CoverageShare
        ``(overall, by_group)``, shares in [0, 1].

    Raises
    ------
    ValueError
        If ``households`` is invalid or empty of households, ``distance`` has the wrong
        length or NaN where households live, or ``threshold`` is negative or not finite.

    References
    ----------
    Church, R. & ReVelle, C. (1974). The maximal covering location problem. *Papers of the
    Regional Science Association* 32(1), 101-118. doi:10.1007/BF01942293

    Talen, E. & Anselin, L. (1998). Assessing spatial equity: an evaluation of measures of
    accessibility to public playgrounds. *Environment and Planning A* 30(4), 595-613.
    doi:10.1068/a300595

    Examples
    --------
    >>> hh = np.array([[10, 0], [0, 10], [10, 10]])
    >>> res = coverage_share(hh, np.array([5.0, 20.0, 10.0]), threshold=10.0)
    >>> res.overall
    0.75
    >>> res.by_group
    array([1. , 0.5])
    """
    h = v.counts("households", households)
    d_max = v.positive("threshold", threshold, allow_zero=True)
    occupied = h.sum(axis=1) > 0
    if not occupied.any():
        raise ValueError(
            f"households has no households (all {h.shape[0]} cells are zero); "
            "at least one cell must have a positive count"
        )
    d = _per_cell("distance", distance, h.shape[0], occupied, allow_inf=True)
    return _coverage_share(h, d, d_max)


def _coverage_share(
    h: np.ndarray, d: np.ndarray, d_max: float, per_group: np.ndarray | None = None
) -> CoverageShare:
    """:func:`coverage_share` of validated float64 input, without the checks.

    ``per_group``, the column sums of ``h``, is computed when not given.
    """
    with np.errstate(invalid="ignore"):  # NaN (empty cells only) compares False
        covered = (d <= d_max).astype(np.float64)
    if per_group is None:
        per_group = h.sum(axis=0)
    hit = covered @ h
    with np.errstate(divide="ignore", invalid="ignore"):
        by_group = np.where(per_group > 0, hit / per_group, np.nan)
    return CoverageShare(overall=float(hit.sum() / per_group.sum()), by_group=by_group)


def green_per_person(
    green_m2: np.ndarray, population: np.ndarray, regions: np.ndarray, *, n_regions: int
) -> np.ndarray:
    r"""Green area per inhabitant of each region (e.g. m² of public parks per person).

    .. math:: g_r = \frac{\sum_{i \in r} G_i}{\sum_{i \in r} p_i}

    the form of Chile's SIEDU indicator of public green area per inhabitant. To measure how
    unequally it is shared, pass the populated regions to :func:`~metrosim.metrics.gini`
    weighted by population.

    Parameters
    ----------
    green_m2 : array_like, shape (n_cells,)
        Green area in each cell (m², non-negative).
    population : array_like, shape (n_cells,)
        Inhabitants in each cell (non-negative).
    regions : array_like of int, shape (n_cells,)
        Region label of each cell in ``[0, n_regions)``.
    n_regions : int, keyword-only
        Number of regions (the length of the result).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_regions,)``; ``nan`` for a region with no inhabitants.

    Raises
    ------
    ValueError
        If an array has the wrong shape, negative or non-finite values, a label is out of
        range, ``n_regions`` is not a positive integer, or nobody lives anywhere.

    References
    ----------
    Consejo Nacional de Desarrollo Urbano & INE (2018). *Sistema de Indicadores y Estándares
    de Desarrollo Urbano (SIEDU)*, indicator "superficie de áreas verdes públicas por
    habitante". Santiago de Chile.

    Examples
    --------
    >>> green = np.array([100.0, 0.0, 50.0, 0.0])
    >>> pop = np.array([10.0, 10.0, 0.0, 0.0])
    >>> green_per_person(green, pop, np.array([0, 0, 1, 1]), n_regions=3)
    array([ 5., nan, nan])
    """
    n_reg = v.integer("n_regions", n_regions, low=1, high=np.iinfo(np.int32).max)
    g = v.nonnegative("green_m2", green_m2, ndim=1, shape_hint="(n_cells,)")
    p = v.nonnegative("population", population, ndim=1, shape_hint="(n_cells,)")
    if p.shape != g.shape:
        raise ValueError(
            f"population must have the length of green_m2 (n_cells = {g.shape[0]}); "
            f"got shape {p.shape}"
        )
    r = v.labels("regions", regions, length=g.shape[0], length_name="n_cells", n=n_reg)
    if not (p > 0).any():
        raise ValueError(f"population is zero in all {p.shape[0]} cells; nobody lives anywhere")
    green_r = np.bincount(r, weights=g, minlength=n_reg)
    pop_r = np.bincount(r, weights=p, minlength=n_reg)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(pop_r > 0, green_r / pop_r, np.nan)


def mean_by_group(households: np.ndarray, values: np.ndarray) -> np.ndarray:
    r"""Household-weighted mean of a per-cell value for each group.

    .. math:: \bar x_k = \frac{\sum_i h_{ik} x_i}{\sum_i h_{ik}}

    E.g. the mean commute time of each income group, or its mean distance to a park.

    Parameters
    ----------
    households : array_like, shape (n_cells, n_groups)
        Non-negative household counts per cell and group.
    values : array_like, shape (n_cells,)
        The value of each cell; must be finite where households live (NaN or inf allowed in
        empty cells).

    Returns
    -------
    numpy.ndarray
        Shape ``(n_groups,)``; ``nan`` for a group with no households.

    Raises
    ------
    ValueError
        If ``households`` is invalid or all zero, or ``values`` has the wrong length or is
        not finite where households live.

    Examples
    --------
    >>> hh = np.array([[3, 0], [1, 2]])
    >>> mean_by_group(hh, np.array([10.0, 50.0]))  # (3*10 + 1*50)/4, 50
    array([20., 50.])
    """
    h = v.counts("households", households)
    occupied = h.sum(axis=1) > 0
    if not occupied.any():
        raise ValueError(
            f"households has no households (all {h.shape[0]} cells are zero); "
            "at least one cell must have a positive count"
        )
    x = _per_cell("values", values, h.shape[0], occupied, allow_inf=False)
    return _mean_by_group(h, x, occupied)


def _mean_by_group(
    h: np.ndarray,
    x: np.ndarray,
    occupied: np.ndarray | None = None,
    per_group: np.ndarray | None = None,
) -> np.ndarray:
    """:func:`mean_by_group` of validated float64 input, without the checks.

    ``occupied`` marks the rows with households (all rows when omitted); ``per_group``,
    the column sums of ``h``, is computed when not given.
    """
    if occupied is None:
        occupied = np.ones(h.shape[0], dtype=bool)
    if per_group is None:
        per_group = h.sum(axis=0)
    with np.errstate(invalid="ignore"):
        xx = np.where(occupied, x, 0.0)  # NaN or inf in empty cells must not reach the sum
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(per_group > 0, (xx @ h) / per_group, np.nan)
