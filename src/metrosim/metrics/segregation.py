r"""Aspatial residential segregation indices over areal units (cells, zones or communes).

All functions take ``counts``, an array of shape ``(n_units, n_groups)`` of non-negative
numbers (people or households of each group living in each unit). Units with no population
are ignored. Notation: :math:`n_{ik}` count of group :math:`k` in unit :math:`i`,
:math:`t_i = \sum_k n_{ik}`, :math:`N_k = \sum_i n_{ik}`, :math:`T = \sum_i t_i`,
:math:`p_{ik} = n_{ik}/t_i`, :math:`P_k = N_k/T`.

An index is ``nan`` when it is undefined for the data although the data are valid: for
instance the dissimilarity between two groups when one of them has no members, or the
information theory index when the whole population belongs to one group.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from metrosim.metrics import _validate as v

__all__ = [
    "TheilDecomposition",
    "dissimilarity",
    "exposure",
    "isolation",
    "multigroup_dissimilarity",
    "theil_h",
]


class TheilDecomposition(NamedTuple):
    r"""Reardon & Firebaugh's H split into between-region and within-region parts.

    Attributes
    ----------
    total : float
        H over all units.
    between : float
        H computed on counts aggregated by region.
    within : float
        Population-and-entropy-weighted sum of the within-region H values,
        :math:`\sum_r \frac{T_r E_r}{T E} H_r`; ``total == between + within``.
    """

    total: float
    between: float
    within: float


def _unit_interval(x: float) -> float:
    """Clamp rounding noise (``1 + 2e-16``) so indices bounded in [0, 1] stay there."""
    return float(min(max(x, 0.0), 1.0))


def dissimilarity(counts: np.ndarray) -> float:
    r"""Duncan & Duncan's index of dissimilarity D between two groups.

    .. math:: D = \frac{1}{2} \sum_i \left| \frac{a_i}{A} - \frac{b_i}{B} \right|

    where :math:`a_i, b_i` are the two groups' counts in unit :math:`i` and :math:`A, B`
    their totals. D is the share of either group that would have to move to another unit
    for both groups to be spread alike; 0 is an even spread, 1 complete separation. It equals
    ``segregation.singlegroup.Dissim`` with the first column as the group and the row sum
    as the total.

    Parameters
    ----------
    counts : array_like, shape (n_units, 2)
        Non-negative counts of the two groups per unit. To compare two of several groups
        pass the two columns, e.g. ``counts[:, [0, 4]]`` for the first and fifth quintile.

    Returns
    -------
    float
        D in [0, 1]; ``nan`` when one of the groups has no members.

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D with two columns, holds negative, NaN or infinite values,
        or sums to zero.

    References
    ----------
    Duncan, O. D. & Duncan, B. (1955). A methodological analysis of segregation indexes.
    *American Sociological Review* 20(2), 210-217. doi:10.2307/2088328

    Examples
    --------
    Two units, the first with 2 of group *a* and 0 of *b*, the second with 2 and 4:
    D = (|2/4 - 0/4| + |2/4 - 4/4|) / 2 = 0.5.

    >>> dissimilarity([[2, 0], [2, 4]])
    0.5
    """
    c = v.counts("counts", counts, exact_groups=2)
    c, _ = v.populated("counts", c)[:2]
    tot = c.sum(axis=0)
    if (tot == 0).any():
        return float("nan")
    d = 0.5 * np.abs(c[:, 0] / tot[0] - c[:, 1] / tot[1]).sum()
    return _unit_interval(d)


def multigroup_dissimilarity(counts: np.ndarray) -> float:
    r"""Multigroup index of dissimilarity (Sakoda 1981; Reardon & Firebaugh 2002).

    .. math::

        D = \frac{1}{2 T I} \sum_i \sum_k t_i \, | p_{ik} - P_k |,
        \qquad I = \sum_k P_k (1 - P_k)

    The same definition as ``segregation.multigroup.MultiDissim``. With two groups it equals
    :func:`dissimilarity`. Groups with no members contribute nothing. It is evaluated as
    :math:`\sum_{ik} |n_{ik} O_k - o_{ik} N_k| / (2 \sum_k N_k O_k)`, where :math:`o_{ik}`
    and :math:`O_k` count the members of the other groups, which stays accurate when one
    group makes up nearly everybody.

    Parameters
    ----------
    counts : array_like, shape (n_units, n_groups)
        Non-negative counts per unit and group.

    Returns
    -------
    float
        D in [0, 1]; ``nan`` when the whole population belongs to one group (I = 0).

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D, holds negative, NaN or infinite values, or sums to zero.

    References
    ----------
    Sakoda, J. M. (1981). A generalized index of dissimilarity. *Demography* 18(2), 245-250.
    doi:10.2307/2061096

    Reardon, S. F. & Firebaugh, G. (2002). Measures of multigroup segregation.
    *Sociological Methodology* 32, 33-67. doi:10.1111/1467-9531.00110

    Examples
    --------
    Three groups, each alone in its own unit (complete separation):

    >>> multigroup_dissimilarity([[5, 0, 0], [0, 3, 0], [0, 0, 2]])
    1.0
    >>> multigroup_dissimilarity([[1, 2, 3], [2, 4, 6]])  # same mix everywhere
    0.0
    """
    c = v.counts("counts", counts)
    c = v.populated("counts", c)[0]
    N = c.sum(axis=0)
    N_other = _others(N[None, :])[0]
    den = 2.0 * float((N * N_other).sum())
    if den <= 0.0:
        return float("nan")
    # T |n_ik - t_i P_k| = |n_ik O_k - o_ik N_k| with o, O the counts of the *other* groups:
    # summing those directly avoids the cancellation in 1 - P_k when one group dominates.
    num = np.abs(c * N_other - _others(c) * N).sum()
    return _unit_interval(num / den)


def _others(c: np.ndarray) -> np.ndarray:
    """``out[i, k] = sum of c[i, j] over j != k``, by exclusive prefix and suffix sums."""
    out = np.zeros_like(c)
    np.cumsum(c[:, :-1], axis=1, out=out[:, 1:])
    if c.shape[1] > 1:
        right = np.cumsum(c[:, :0:-1], axis=1)
        out[:, -2::-1] += right
    return out


def _kl_sum(c: np.ndarray, ref: np.ndarray) -> np.ndarray:
    r"""Per row :math:`\sum_k n_{ik} \ln(p_{ik} / r_{ik})` with 0 ln 0 = 0.

    ``c`` holds counts, ``ref`` the reference population's counts (same shape, or one row
    that broadcasts) with ``r_ik`` its proportions; ``ref`` must be positive where ``c`` is.
    The log ratio is evaluated as ``log1p((n O - o R) / (t R))`` with ``o, O`` the counts of
    the other groups, which stays accurate when the ratio is close to 1 (a dominant group).
    """
    pos = c > 0
    o = _others(c)
    x = c * _others(ref)
    x -= o * ref
    o += c  # o is now t_i
    o *= ref
    with np.errstate(divide="ignore", invalid="ignore"):
        np.divide(x, o, out=x, where=pos)
        np.log1p(x, out=x, where=pos)
    x[~pos] = 0.0
    x *= c
    return x.sum(axis=1)


def _entropy_counts(N: np.ndarray) -> float:
    r"""Entropy of the group totals ``N > 0``, :math:`\sum_k P_k \ln(1 + O_k / N_k)`.

    Accurate also when one group is nearly everybody (ln P_k close to 0).
    """
    N_other = _others(N[None, :])[0]
    return float((N / N.sum() * np.log1p(N_other / N)).sum())


def theil_h(counts: np.ndarray, regions: np.ndarray | None = None) -> float | TheilDecomposition:
    r"""Multigroup information theory index H (Theil; Reardon & Firebaugh 2002).

    .. math::

        H = \sum_i \frac{t_i}{T E} (E - E_i)
          = \frac{1}{T E} \sum_i \sum_k n_{ik} \ln \frac{p_{ik}}{P_k},
        \qquad E = -\sum_k P_k \ln P_k, \quad E_i = -\sum_k p_{ik} \ln p_{ik}

    H is the share of the city's diversity (entropy) that is *not* found, on average, inside
    the units. The second (relative-entropy) form is computed. It matches
    ``segregation.multigroup.MultiInfoTheory`` whenever every group has members; PySAL
    returns ``nan`` when a group column is all zero, here such a group is simply absent.

    With ``regions`` (e.g. the commune of each cell) the index is decomposed
    (Theil 1972; Reardon & Firebaugh 2002):

    .. math::

        H = H_B + \sum_r \frac{T_r E_r}{T E} H_r

    where :math:`H_B` is H of the counts aggregated by region and :math:`H_r` is H among the
    units of region :math:`r` (regions with a single group have :math:`E_r = 0` and
    contribute nothing). Because :math:`\ln(p_{ik}/P_k) = \ln(P_{rk}/P_k) +
    \ln(p_{ik}/P_{rk})` term by term, ``total`` is returned as ``between + within``; it
    equals ``theil_h(counts)`` up to rounding (about 1e-15).

    Parameters
    ----------
    counts : array_like, shape (n_units, n_groups)
        Non-negative counts per unit and group.
    regions : array_like of int, shape (n_units,), optional
        Non-negative region label of each unit.

    Returns
    -------
    float or TheilDecomposition
        H in [0, 1] (``nan`` when the whole population belongs to one group); with
        ``regions``, a :class:`TheilDecomposition` ``(total, between, within)``.

    Raises
    ------
    ValueError
        If ``counts`` is not 2-D, holds negative, NaN or infinite values, or sums to zero;
        if ``regions`` is not an integer array of length n_units with non-negative labels.

    References
    ----------
    Theil, H. (1972). *Statistical Decomposition Analysis*. Amsterdam: North-Holland.

    Theil, H. & Finizza, A. J. (1971). A note on the measurement of racial integration of
    schools by means of informational concepts. *Journal of Mathematical Sociology* 1(2),
    187-193. doi:10.1080/0022250X.1971.9989795

    Reardon, S. F. & Firebaugh, G. (2002). Measures of multigroup segregation.
    *Sociological Methodology* 32, 33-67. doi:10.1111/1467-9531.00110

    Examples
    --------
    >>> theil_h([[4, 0], [0, 6]])  # complete separation
    1.0
    >>> theil_h([[1, 3], [2, 6]])  # the same mix in both units
    0.0
    >>> d = theil_h([[4, 0], [0, 4], [2, 2], [2, 2]], regions=[0, 0, 1, 1])
    >>> d.total, d.between, d.within
    (0.5, 0.0, 0.5)
    """
    c = v.counts("counts", counts)
    reg = None
    if regions is not None:
        reg = v.labels("regions", regions, length=c.shape[0], length_name="n_units")
        c, t, reg = v.populated("counts", c, reg)
    else:
        c, t = v.populated("counts", c)
    T = t.sum()
    N = c.sum(axis=0)
    present = N > 0
    if not present.all():
        c, N = c[:, present], N[present]
    E = _entropy_counts(N)
    if E <= 0.0:
        nan = float("nan")
        return nan if reg is None else TheilDecomposition(nan, nan, nan)
    if reg is None:
        return _unit_interval(_kl_sum(c, N[None, :]).sum() / (T * E))

    n_reg = int(reg.max()) + 1
    Nr = np.zeros((n_reg, c.shape[1]))
    for k in range(c.shape[1]):
        Nr[:, k] = np.bincount(reg, weights=c[:, k], minlength=n_reg)
    between = _kl_sum(Nr, N[None, :]).sum() / (T * E)  # empty regions add 0
    # within: each unit against its own region's composition
    within = _kl_sum(c, Nr[reg]).sum() / (T * E)
    between, within = _unit_interval(between), _unit_interval(within)
    # ln(p_ik/P_k) = ln(P_rk/P_k) + ln(p_ik/P_rk) term by term, so the total is their sum
    return TheilDecomposition(_unit_interval(between + within), between, within)


def isolation(counts: np.ndarray, group: int) -> float:
    r"""Isolation index :math:`{}_xP^*_x` of one group (Bell 1954; Lieberson 1981).

    .. math:: {}_xP^*_x = \sum_i \frac{n_{ix}}{N_x} \, \frac{n_{ix}}{t_i}

    The share of group *x* in the unit of the average member of *x*: the probability that a
    person met in one's own unit belongs to one's own group. It ranges from :math:`P_x` (even
    spread) to 1 (complete isolation), so compare it with the group's overall share.
    Equals ``segregation.singlegroup.Isolation`` with the group column and the row total.

    Parameters
    ----------
    counts : array_like, shape (n_units, n_groups)
        Non-negative counts per unit and group.
    group : int
        Column index of the group, in ``[0, n_groups)``.

    Returns
    -------
    float
        :math:`{}_xP^*_x` in [0, 1]; ``nan`` when the group has no members.

    Raises
    ------
    ValueError
        If ``counts`` is invalid or sums to zero, or ``group`` is not a valid column index.

    References
    ----------
    Bell, W. (1954). A probability model for the measurement of ecological segregation.
    *Social Forces* 32(4), 357-364. doi:10.2307/2574118

    Lieberson, S. (1981). An asymmetrical approach to segregation. In C. Peach,
    V. Robinson & S. Smith (eds.), *Ethnic Segregation in Cities*, 61-82. London: Croom Helm.

    Massey, D. S. & Denton, N. A. (1988). The dimensions of residential segregation.
    *Social Forces* 67(2), 281-315. doi:10.1093/sf/67.2.281

    Examples
    --------
    Group 0 has 3 people: 2 live in a unit that is all group 0, 1 in a unit that is 1/4
    group 0, so xPx = (2/3)(2/2) + (1/3)(1/4) = 0.75.

    >>> isolation([[2, 0], [1, 3]], group=0)
    0.75
    """
    return _exposure(counts, group, group, ("group", "group"))


def exposure(counts: np.ndarray, group_a: int, group_b: int) -> float:
    r"""Exposure (interaction) index :math:`{}_xP^*_y` of group *a* to group *b*.

    .. math:: {}_xP^*_y = \sum_i \frac{n_{ix}}{N_x} \, \frac{n_{iy}}{t_i}

    The share of group *b* in the unit of the average member of group *a*. It is asymmetric
    (:math:`{}_xP^*_y \ne {}_yP^*_x` unless the groups are the same size) and, over all
    groups *b* including *a* itself, sums to 1. PySAL's ``segregation.singlegroup.Interaction``
    is the exposure of *a* to everybody else, i.e. the sum of this index over all
    ``group_b != group_a``.

    Parameters
    ----------
    counts : array_like, shape (n_units, n_groups)
        Non-negative counts per unit and group.
    group_a, group_b : int
        Column indices in ``[0, n_groups)``; ``group_a == group_b`` gives :func:`isolation`.

    Returns
    -------
    float
        :math:`{}_xP^*_y` in [0, 1]; ``nan`` when group *a* has no members.

    Raises
    ------
    ValueError
        If ``counts`` is invalid or sums to zero, or a group index is out of range.

    References
    ----------
    Bell, W. (1954). A probability model for the measurement of ecological segregation.
    *Social Forces* 32(4), 357-364. doi:10.2307/2574118

    Lieberson, S. (1981). An asymmetrical approach to segregation. In C. Peach,
    V. Robinson & S. Smith (eds.), *Ethnic Segregation in Cities*, 61-82. London: Croom Helm.

    Examples
    --------
    >>> exposure([[2, 0], [1, 3]], 0, 1)  # (2/3)(0/2) + (1/3)(3/4)
    0.25
    >>> exposure([[2, 0], [1, 3]], 1, 0)  # (0/3)(2/2) + (3/3)(1/4)
    0.25
    """
    return _exposure(counts, group_a, group_b, ("group_a", "group_b"))


def _exposure(counts: np.ndarray, group_a: int, group_b: int, names: tuple[str, str]) -> float:
    """:func:`exposure` with the argument names to use in error messages."""
    na, nb = names
    c = v.counts("counts", counts)
    a = v.integer(na, group_a, low=0, high=c.shape[1])
    b = v.integer(nb, group_b, low=0, high=c.shape[1])
    c, t = v.populated("counts", c)
    x = c[:, a]
    X = x.sum()
    if X == 0:
        return float("nan")
    val = float((x * c[:, b] / t).sum() / X)
    return _unit_interval(val)


class _Indices(NamedTuple):
    """The aspatial indices the model reports each year (see :func:`_yearly_indices`)."""

    theil: TheilDecomposition
    dissimilarity: float
    multigroup_dissimilarity: float
    isolation_first: float
    isolation_last: float


def _yearly_indices(c: np.ndarray, t: np.ndarray, N: np.ndarray, regions: np.ndarray) -> _Indices:
    """The aspatial indices of the model's year, from one set of shared sums.

    :func:`theil_h` with ``regions``, :func:`dissimilarity` of the first and last group,
    :func:`multigroup_dissimilarity` and :func:`isolation` of the first and last group.

    For the model's counts, which are valid by construction: ``c`` is float64 of shape
    ``(n_units, n_groups)`` holding whole numbers, every row with a positive total, ``t``
    and ``N`` its row and column totals (exact: whole numbers sum exactly in any order),
    ``regions`` non-negative integers. The input checks are skipped; one numba pass
    computes every per-unit term with numpy's operations in numpy's order, and numpy adds
    them up (and takes the logarithms), so every value equals the public function's bit
    for bit (tested).
    """
    from metrosim._kernels.measure import region_totals, segregation_terms, weighted_row_sums

    t = np.asarray(t, dtype=np.float64)
    n_k = c.shape[1]
    if not (N > 0).all() or n_k < 2:  # a group without members: the general functions
        return _Indices(
            theil_h(c, regions=regions),
            dissimilarity(c[:, [0, n_k - 1]]),
            multigroup_dissimilarity(c),
            isolation(c, 0),
            isolation(c, n_k - 1),
        )
    n_reg = int(regions.max()) + 1
    Nr = region_totals(c, regions, n_reg)
    N_other = _others(N[None, :])[0]
    mterm, ratio, dterm, iso_terms = segregation_terms(c, t, N, N_other, regions, Nr, _others(Nr))
    # multigroup D, as multigroup_dissimilarity
    den = 2.0 * float((N * N_other).sum())
    mdis = float("nan") if den <= 0.0 else _unit_interval(mterm.sum() / den)
    # D of the first and last group, as dissimilarity(c[:, [0, -1]])
    dis = _unit_interval(0.5 * dterm.sum())
    # isolation of the first and last group, as _exposure(c, g, g)
    iso = [_unit_interval(float(iso_terms[j].sum() / N[g])) for j, g in ((0, 0), (1, n_k - 1))]
    # Theil's H with regions, as theil_h
    T = t.sum()
    E = _entropy_counts(N)
    if E <= 0.0:
        nan = float("nan")
        theil = TheilDecomposition(nan, nan, nan)
    else:
        between = _unit_interval(_kl_sum(Nr, N[None, :]).sum() / (T * E))
        np.log1p(ratio, out=ratio)
        within = _unit_interval(weighted_row_sums(ratio, c).sum() / (T * E))
        theil = TheilDecomposition(_unit_interval(between + within), between, within)
    return _Indices(theil, dis, mdis, iso[0], iso[1])
