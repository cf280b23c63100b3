"""Inequality among communes: extreme ratios and the (weighted) Gini coefficient.

Inputs are 1-D arrays of non-negative amounts, one per commune, e.g. municipal budget per
inhabitant or green area per inhabitant.
"""

from __future__ import annotations

import numpy as np

from metrosim.metrics import _validate as v

__all__ = ["gini", "ratio_max_min", "ratio_p90_p10"]


def _amounts(name: str, x: object) -> np.ndarray:
    """Non-empty, non-negative, finite 1-D float array that is not all zero."""
    a = v.nonnegative(name, x, ndim=1, shape_hint="(n,)")
    if not (a > 0).any():
        raise ValueError(f"{name} is zero everywhere ({a.shape[0]} values); the ratio is undefined")
    return a


def ratio_max_min(x: np.ndarray) -> float:
    r"""Ratio of the largest to the smallest value, :math:`\max_i x_i / \min_i x_i`.

    The simplest gap between the best- and worst-off commune (e.g. budget per inhabitant).
    Sensitive to a single extreme commune; see :func:`ratio_p90_p10` for a robust version.

    Parameters
    ----------
    x : array_like, shape (n,)
        Non-negative amounts, not all zero.

    Returns
    -------
    float
        The ratio, >= 1; ``inf`` when the smallest value is 0.

    Raises
    ------
    ValueError
        If ``x`` is empty, not 1-D, has negative or non-finite values, or is all zero.

    References
    ----------
    Cowell, F. A. (2011). *Measuring Inequality* (3rd ed.). Oxford University Press.
    doi:10.1093/acprof:osobl/9780199594030.001.0001

    Examples
    --------
    >>> ratio_max_min([100.0, 250.0, 400.0])
    4.0
    """
    a = _amounts("x", x)
    lo = float(a.min())
    return float(a.max() / lo) if lo > 0 else float("inf")


def ratio_p90_p10(x: np.ndarray) -> float:
    """Ratio of the 90th to the 10th percentile, :math:`Q_{0.9}(x) / Q_{0.1}(x)`.

    Percentiles interpolate linearly between order statistics (``numpy.percentile``'s
    default, Hyndman & Fan's definition 7), so with few communes they lie between two of
    them. Less sensitive to one outlying commune than :func:`ratio_max_min`.

    Parameters
    ----------
    x : array_like, shape (n,)
        Non-negative amounts, not all zero.

    Returns
    -------
    float
        The ratio, >= 1; ``inf`` when the 10th percentile is 0.

    Raises
    ------
    ValueError
        If ``x`` is empty, not 1-D, has negative or non-finite values, or is all zero.

    References
    ----------
    Hyndman, R. J. & Fan, Y. (1996). Sample quantiles in statistical packages.
    *The American Statistician* 50(4), 361-365. doi:10.1080/00031305.1996.10473566

    Cowell, F. A. (2011). *Measuring Inequality* (3rd ed.). Oxford University Press.
    doi:10.1093/acprof:osobl/9780199594030.001.0001

    Examples
    --------
    >>> x = np.arange(1.0, 12.0)  # 1 .. 11: P10 = 2, P90 = 10
    >>> ratio_p90_p10(x)
    5.0
    """
    a = _amounts("x", x)
    p10, p90 = np.percentile(a, [10.0, 90.0])
    return float(p90 / p10) if p10 > 0 else float("inf")


def gini(x: np.ndarray, weights: np.ndarray | None = None) -> float:
    r"""(Weighted) Gini coefficient: half the relative mean absolute difference.

    .. math::

        G = \frac{\sum_i \sum_j w_i w_j |x_i - x_j|}{2 W^2 \mu}, \qquad
        W = \sum_i w_i, \quad \mu = \frac{1}{W}\sum_i w_i x_i

    computed in :math:`O(n \log n)` from the values sorted ascending with cumulative weights
    :math:`C_i = \sum_{j \le i} w_j`:
    :math:`G = \sum_i w_i x_i (2 C_i - w_i - W) / (W \sum_i w_i x_i)`. With weights, value
    :math:`x_i` stands for :math:`w_i` identical individuals (e.g. per-capita budget weighted
    by population gives the Gini among inhabitants); integer weights give the same result as
    repeating each value. This is the population (not bias-corrected) Gini: with :math:`n`
    equally weighted values its maximum is :math:`1 - 1/n`.

    Parameters
    ----------
    x : array_like, shape (n,)
        Non-negative amounts.
    weights : array_like, shape (n,), optional
        Non-negative weights (e.g. population), not all zero; default all ones.

    Returns
    -------
    float
        G in [0, 1).

    Raises
    ------
    ValueError
        If ``x`` or ``weights`` is empty, not 1-D, negative or not finite, the lengths
        differ, the weights are all zero, or the weighted mean of ``x`` is zero.

    References
    ----------
    Gini, C. (1912). *Variabilità e mutabilità*. Bologna: Cuppini.

    Yitzhaki, S. & Schechtman, E. (2013). *The Gini Methodology: A Primer on a Statistical
    Methodology*. New York: Springer. doi:10.1007/978-1-4614-4720-7

    Examples
    --------
    >>> gini([1.0, 1.0, 1.0])
    0.0
    >>> gini([0.0, 1.0])  # one of two has everything: 1 - 1/2
    0.5
    >>> gini([0.0, 1.0], weights=[3, 1])  # same as gini([0, 0, 0, 1])
    0.75
    """
    a = v.nonnegative("x", x, ndim=1, shape_hint="(n,)")
    if weights is None:
        w = np.ones_like(a)
    else:
        w = v.nonnegative("weights", weights, ndim=1, shape_hint="(n,)")
        if w.shape != a.shape:
            raise ValueError(
                f"weights must have the length of x ({a.shape[0]}); got shape {w.shape}"
            )
        if not (w > 0).any():
            raise ValueError(f"weights are zero everywhere ({w.shape[0]} values); need W > 0")
    order = np.argsort(a, kind="stable")
    a, w = a[order], w[order]
    wx = w * a
    total = float(wx.sum())
    if total <= 0.0:
        raise ValueError(
            "x has a (weighted) mean of zero; the Gini coefficient is undefined "
            "(need at least one positive x with a positive weight)"
        )
    cw = np.cumsum(w)
    W = float(cw[-1])
    g = float((wx * (2.0 * cw - w - W)).sum() / (W * total))
    return min(max(g, 0.0), 1.0)
