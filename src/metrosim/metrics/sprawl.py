"""Urban form and sprawl indicators from boolean urban masks on the model grid.

Masks have shape ``(ny, nx)``; ``True`` marks an urbanised cell. Cells are squares of side
``cell_size_m`` metres. The grid is taken to be surrounded by non-urban land, so an urban
cell on the grid border has an edge there. Patches are 8-connected (cells touching at a
corner belong to the same patch), the usual rule for land-cover rasters (FRAGSTATS).
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrosim.metrics import _validate as v

__all__ = ["SprawlMetrics", "lee_sallee", "sprawl_metrics"]

_EIGHT = np.ones((3, 3), dtype=bool)
_NAN = float("nan")


class SprawlMetrics(NamedTuple):
    r"""Urban form indicators of one year; see :func:`sprawl_metrics` for definitions.

    Attributes
    ----------
    urban_area_ha : float
        Urbanised area.
    density_pph : float
        Persons per urbanised hectare (``nan`` without ``population`` or urban area).
    patches : int
        Number of 8-connected urban patches.
    mean_patch_ha : float
        Mean patch area (``nan`` when there is no urban cell).
    edge_density_m_per_ha : float
        Length of urban/non-urban boundary per urban hectare.
    compactness : float
        :math:`4\sqrt{A}/P` of the largest patch, in (0, 1].
    new_urban_ha : float
        Area urban now but not in ``previous`` (``nan`` without ``previous``).
    new_outside_footprint_share : float
        Share of new urban cells outside the previous footprint (not infill).
    new_outside_limit_share : float
        Share of new urban cells outside ``limit`` (``nan`` without ``limit``).
    leapfrog_share : float
        Share of new urban cells in new patches detached from the previous footprint.
    """

    urban_area_ha: float
    density_pph: float
    patches: int
    mean_patch_ha: float
    edge_density_m_per_ha: float
    compactness: float
    new_urban_ha: float
    new_outside_footprint_share: float
    new_outside_limit_share: float
    leapfrog_share: float


def _patch_perimeters(lab: np.ndarray, n: int) -> np.ndarray:
    """Perimeter in cell sides of patches ``1..n`` of a label grid (0 = background).

    With 8-connected patches a cell side never separates two different patches, so every
    side between a patch cell and a different label faces non-urban land.
    """
    p = np.pad(lab, 1, constant_values=0)
    out = np.zeros(n + 1, dtype=np.int64)
    for a, b in ((p[1:, :], p[:-1, :]), (p[:, 1:], p[:, :-1])):
        diff = a != b
        out += np.bincount(a[diff], minlength=n + 1)
        out += np.bincount(b[diff], minlength=n + 1)
    return out[1:]


def _fill_holes(mask: np.ndarray) -> np.ndarray:
    """``mask`` with its holes filled: the same result as ``ndimage.binary_fill_holes``.

    A hole is a 4-connected component of non-mask cells that does not touch the grid's
    edge. Labelling the background once is much faster on a large grid than the iterative
    dilation from the edge that ``binary_fill_holes`` performs.
    """
    from scipy import ndimage  # here: the model's own path (_sprawl_cells) does not need it

    lab, n = ndimage.label(~mask)
    if n == 0:
        return mask.copy()
    edge = np.zeros(n + 1, dtype=bool)
    for side in (lab[0, :], lab[-1, :], lab[:, 0], lab[:, -1]):
        edge[side] = True
    edge[0] = True  # label 0: the mask itself
    return mask | ~edge[lab]


def _share(part: np.ndarray, whole: int) -> float:
    """``part.sum() / whole``, ``nan`` when ``whole`` is 0."""
    return float(np.count_nonzero(part) / whole) if whole else _NAN


def sprawl_metrics(
    urban: np.ndarray,
    *,
    cell_size_m: float,
    population: np.ndarray | None = None,
    previous: np.ndarray | None = None,
    limit: np.ndarray | None = None,
) -> SprawlMetrics:
    r"""Urban area, density, fragmentation, shape and the character of new growth.

    With :math:`A` the urban area, :math:`a` the area of one cell (ha), :math:`s` the cell
    side (m):

    - ``urban_area_ha`` :math:`= a \cdot |U|`, ``density_pph`` = persons living in urban
      cells / ``urban_area_ha``.
    - ``patches``: number of 8-connected components of the urban mask
      (``scipy.ndimage.label``); ``mean_patch_ha`` = ``urban_area_ha / patches``.
    - ``edge_density_m_per_ha`` :math:`= s \cdot e / A`, :math:`e` the number of cell sides
      separating an urban from a non-urban cell (FRAGSTATS' edge density, per urban rather
      than per landscape hectare so it does not depend on the grid extent).
    - ``compactness`` :math:`= 4\sqrt{n}/p` for the largest patch, :math:`n` its cells and
      :math:`p` its perimeter in cell sides (if several patches share the largest size, the
      most compact of them, so the value does not depend on the grid's orientation): the
      reciprocal of FRAGSTATS' raster shape index
      SHAPE = 0.25 p / sqrt(n) (Patton 1975; McGarigal & Marks 1995). It is 1 for a square
      (the most compact raster shape) and falls towards 0 as the main urban area gets
      elongated or ragged. Fragmentation into many patches is measured by ``patches`` and
      the edge density, not by this index.

    With ``previous`` (the urban mask of an earlier year) new urban cells
    :math:`U \setminus U_0` are classified after Wilson et al. (2003). The *previous
    footprint* is :math:`U_0` with its enclosed holes filled (``binary_fill_holes``;
    non-urban land that cannot reach the grid edge through edge-adjacent non-urban cells):

    - ``new_urban_ha``: area of new urban cells.
    - ``new_outside_footprint_share``: share of new urban cells outside the previous
      footprint, i.e. extension rather than infill.
    - ``leapfrog_share``: share of new urban cells belonging to a new-growth patch
      (8-connected component of new urban cells) that neither touches (8-adjacency) a
      previously urban cell nor lies in the footprint: Wilson et al.'s *outlying* growth.
      It is at most ``new_outside_footprint_share``. If ``previous`` has no urban cell,
      all growth is leapfrog.
    - ``new_outside_limit_share`` (needs ``limit``, the area where urbanisation is allowed,
      e.g. the metropolitan plan's urban limit): share of new urban cells outside it.

    Shares are ``nan`` when there is no new urban cell; the growth fields are ``nan``
    without ``previous``.

    Parameters
    ----------
    urban : array_like of bool, shape (ny, nx)
        Urbanised cells.
    cell_size_m : float, keyword-only
        Side of a cell in metres.
    population : array_like, shape (ny, nx), optional, keyword-only
        Persons per cell; only urban cells count towards the density.
    previous : array_like of bool, shape (ny, nx), optional, keyword-only
        Urban mask of an earlier year (or of the start of the run).
    limit : array_like of bool, shape (ny, nx), optional, keyword-only
        Cells inside the urban limit. Requires ``previous``.

    Returns
    -------
    SprawlMetrics
        The named tuple of indicators.

    Raises
    ------
    ValueError
        If a mask is not a 2-D boolean grid of the shape of ``urban``, ``cell_size_m`` is
        not a finite positive number, ``population`` is not non-negative and finite, or
        ``limit`` is given without ``previous``.

    References
    ----------
    McGarigal, K. & Marks, B. J. (1995). *FRAGSTATS: spatial pattern analysis program for
    quantifying landscape structure*. USDA Forest Service, Gen. Tech. Rep. PNW-GTR-351.
    doi:10.2737/PNW-GTR-351

    Patton, D. R. (1975). A diversity index for quantifying habitat "edge".
    *Wildlife Society Bulletin* 3(4), 171-173.

    Wilson, E. H., Hurd, J. D., Civco, D. L., Prisloe, M. P. & Arnold, C. (2003).
    Development of a geospatial model to quantify, describe and map urban growth.
    *Remote Sensing of Environment* 86(3), 275-285. doi:10.1016/S0034-4257(03)00074-9

    Examples
    --------
    A 2x2 block plus one detached cell on 100 m cells (1 ha each):

    >>> u = np.zeros((4, 6), dtype=bool)
    >>> u[0:2, 0:2] = True
    >>> u[3, 5] = True
    >>> m = sprawl_metrics(u, cell_size_m=100.0)
    >>> m.urban_area_ha, m.patches, m.edge_density_m_per_ha, m.compactness
    (5.0, 2, 240.0, 1.0)

    The detached cell was new this year, so it is leapfrog growth:

    >>> before = u.copy()
    >>> before[3, 5] = False
    >>> m = sprawl_metrics(u, cell_size_m=100.0, previous=before)
    >>> m.new_urban_ha, m.new_outside_footprint_share, m.leapfrog_share
    (1.0, 1.0, 1.0)
    """
    from scipy import ndimage  # here: the model's own path (_sprawl_cells) does not need it

    u = v.mask("urban", urban)
    size = v.positive("cell_size_m", cell_size_m)
    cell_ha = size * size / 10_000.0
    n_urban = int(np.count_nonzero(u))
    area = n_urban * cell_ha

    density = _NAN
    if population is not None:
        pop = v.nonnegative("population", population, ndim=2, shape_hint="(ny, nx)")
        if pop.shape != u.shape:
            raise ValueError(
                f"population must have the grid's shape {u.shape}; got shape {pop.shape}"
            )
        density = float(pop[u].sum() / area) if n_urban else _NAN

    if n_urban:
        lab, n_patches = ndimage.label(u, structure=_EIGHT)
        sizes = np.bincount(lab.ravel(), minlength=n_patches + 1)[1:]
        perims = _patch_perimeters(lab, n_patches)
        biggest = sizes == sizes.max()  # ties: the most compact of the largest patches
        compact = float((4.0 * np.sqrt(sizes[biggest]) / perims[biggest]).max())
        edge = float(perims.sum() * size / area)
        mean_patch = area / n_patches
    else:
        n_patches, compact, edge, mean_patch = 0, _NAN, _NAN, _NAN

    new_ha = outside_fp = outside_limit = leapfrog = _NAN
    if limit is not None and previous is None:
        raise ValueError(
            "limit was given without previous; new_outside_limit_share needs previous "
            "(the earlier urban mask) to know which cells are new"
        )
    if previous is not None:
        prev = v.mask("previous", previous, shape=u.shape)
        new = u & ~prev
        n_new = int(np.count_nonzero(new))
        new_ha = n_new * cell_ha
        footprint = _fill_holes(prev)
        outside_fp = _share(new & ~footprint, n_new)
        if n_new:
            lab_new, n_lab = ndimage.label(new, structure=_EIGHT)
            near = ndimage.binary_dilation(prev, structure=_EIGHT) | footprint
            attached = np.bincount(lab_new[near & new], minlength=n_lab + 1) > 0
            attached[0] = True
            leapfrog = _share(~attached[lab_new], n_new)
        if limit is not None:
            lim = v.mask("limit", limit, shape=u.shape)
            outside_limit = _share(new & ~lim, n_new)

    return SprawlMetrics(
        urban_area_ha=float(area),
        density_pph=density,
        patches=int(n_patches),
        mean_patch_ha=float(mean_patch),
        edge_density_m_per_ha=edge,
        compactness=compact,
        new_urban_ha=float(new_ha),
        new_outside_footprint_share=outside_fp,
        new_outside_limit_share=outside_limit,
        leapfrog_share=leapfrog,
    )


def lee_sallee(a: np.ndarray, b: np.ndarray) -> float:
    r"""Lee-Sallee shape index: intersection over union of two urban masks.

    .. math:: L = \frac{|A \cap B|}{|A \cup B|}

    1 when the two footprints coincide, 0 when they do not overlap. SLEUTH uses it to
    compare a simulated with an observed urban extent (Clarke et al. 1997); the same value
    is known as the Jaccard index.

    Parameters
    ----------
    a, b : array_like of bool, shape (ny, nx)
        The two urban masks (e.g. simulated and observed).

    Returns
    -------
    float
        L in [0, 1].

    Raises
    ------
    ValueError
        If a mask is not a 2-D boolean grid, the shapes differ, or both masks are empty.

    References
    ----------
    Lee, D. R. & Sallee, G. T. (1970). A method of measuring shape. *Geographical Review*
    60(4), 555-563. doi:10.2307/213774

    Clarke, K. C., Hoppen, S. & Gaydos, L. (1997). A self-modifying cellular automaton
    model of historical urbanization in the San Francisco Bay area. *Environment and
    Planning B* 24(2), 247-261. doi:10.1068/b240247

    Examples
    --------
    >>> a = np.array([[1, 1, 0, 0]], dtype=bool)
    >>> b = np.array([[0, 1, 1, 0]], dtype=bool)
    >>> lee_sallee(a, b)  # 1 shared cell of 3 in either
    0.3333333333333333
    """
    ma = v.mask("a", a)
    mb = v.mask("b", b, shape=ma.shape)
    union = int(np.count_nonzero(ma | mb))
    if union == 0:
        raise ValueError(
            "a and b are both empty (no True cell); the Lee-Sallee index needs at least "
            "one urban cell in either mask"
        )
    return float(np.count_nonzero(ma & mb) / union)


def _sprawl_cells(
    urban: np.ndarray,
    cells: np.ndarray,
    previous: np.ndarray,
    limit: np.ndarray,
    shape: tuple[int, int],
    cell_size_m: float,
) -> SprawlMetrics:
    """:func:`sprawl_metrics` of valid flat masks from the urban ``cells`` (sorted) only.

    With ``previous`` and ``limit``, without ``population``; for the model's masks, valid
    by construction. Patches, their perimeters, the holes of
    the previous footprint and the leapfrog patches are found by numba kernels that visit
    the urban and new urban cells (a hole by a flood fill from each new cell); every count
    equals the grid-wide computation's, and the floating-point expressions are the same, so
    the values equal :func:`sprawl_metrics`' bit for bit (tested).
    """
    from metrosim._kernels.measure import new_growth, urban_patches

    ny, nx = shape
    size = float(cell_size_m)
    cell_ha = size * size / 10_000.0
    n_urban = int(cells.size)
    area = n_urban * cell_ha
    if n_urban:
        sizes, perims = urban_patches(cells, urban, ny, nx)
        n_patches = sizes.size
        biggest = sizes == sizes.max()  # ties: the most compact of the largest patches
        compact = float((4.0 * np.sqrt(sizes[biggest]) / perims[biggest]).max())
        edge = float(perims.sum() * size / area)
        mean_patch = area / n_patches
    else:
        n_patches, compact, edge, mean_patch = 0, _NAN, _NAN, _NAN
    new, in_hole, leap = new_growth(cells, urban, previous, ny, nx)
    n_new = int(new.size)
    outside_fp = _share(~in_hole, n_new)
    leapfrog = _share(leap, n_new) if n_new else _NAN
    outside_limit = _share(~limit[new], n_new)
    return SprawlMetrics(
        urban_area_ha=float(area),
        density_pph=_NAN,
        patches=int(n_patches),
        mean_patch_ha=float(mean_patch),
        edge_density_m_per_ha=edge,
        compactness=compact,
        new_urban_ha=float(n_new * cell_ha),
        new_outside_footprint_share=outside_fp,
        new_outside_limit_share=outside_limit,
        leapfrog_share=leapfrog,
    )
