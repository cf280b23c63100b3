"""Municipal revenue rules and the Fondo Común Municipal (FCM), as pure functions.

All functions take per-commune numpy arrays (length ``n_communes``, one entry per commune in a
fixed order) and return new arrays; nothing is mutated and nothing is random. Money is in any
consistent unit (CLP, CLP millions, ...).

Legal and factual sources (see ``data/santiago/facts.md`` section 5)
--------------------------------------------------------------------
- **Fund.** The FCM is the fund "a que se refiere el artículo 14 de la Ley N° 18.695, Orgánica
  Constitucional de Municipalidades" (DFL 1/2006), as stated in art. 1 of the Reglamento
  DS 1.293/2007 (Ministerio del Interior, Subdere; BCN idNorma=284214).
- **Contributions.** Property tax (impuesto territorial): 60% of the commune's collection goes
  to the FCM, 65% for Santiago, Providencia, Las Condes and Vitacura (SII, reavalúo 2019,
  https://www.sii.cl/destacados/reavaluo/2019/contribucionesreavaluo.html). Vehicle permits
  (permisos de circulación): 62.5% (Emol, 14 Feb 2019, quoting AChM). Business licences
  (patentes): 55% for Santiago and 65% for Providencia, Las Condes and Vitacura, none for the
  other communes (Pauta, 3 Nov 2019, "El rol del Fondo Común Municipal para emparejar (un poco)
  la cancha").
- **Distribution.** DL 3.063 de Rentas Municipales, art. 38, as replaced by Ley 20.237 (2008)
  art. 1 N° 1, and its Reglamento DS 1.293/2007: 25% in equal shares; 10% by the number of
  poor people in the commune relative to the country's poor; 30% by the number of properties
  exempt from property tax relative to the country's exempt properties; 35% "in direct
  proportion to the lower permanent own income ... determined on the basis of the lower
  permanent own municipal income per capita of each commune, in relation to the national
  average" (global-regulation.com English translation of Ley 20.237). The same article counts
  as permanent own income, among others, the surplus of the property tax collected in the
  commune (the excerpt read breaks off at "once d[educted] ..."; we take it to be the share
  kept after the FCM contribution).

What is an assumption here
--------------------------
The exact functional form of the 35% coefficient in DS 1.293/2007 could not be retrieved (only
its opening articles were readable). :func:`fcm_distribution` therefore implements the law's
wording as a *shortfall* rule, stated as our reading: commune i's weight is
``max(0, ref - y_i)``, where ``y_i`` is its own permanent income per head and ``ref`` the
reference (national) average, so only communes below the average take part and the lower the
income the larger the share. A plain inverse rule (weight ``1 / y_i``) is available as
``income_rule="inverse"``. The law also adds floating population for communes named by supreme
decree when computing income per head; that is not modelled (pass an adjusted
``own_income_per_capita`` if needed).

Conservation
------------
Every allocation goes through one routine that splits an amount in proportion to non-negative
weights and puts the rounding residual (measured with :func:`math.fsum`) on the largest
recipient, so ``math.fsum(received) == math.fsum(paid)`` up to one rounding of the largest
entry. A closed pool is assumed: what the given communes pay is what they receive.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from typing import Literal, NamedTuple

import numpy as np
from numpy.typing import ArrayLike, NDArray

__all__ = [
    "FCM_SHARES",
    "PERMIT_RATE",
    "PROPERTY_RATE",
    "PROPERTY_RATE_HIGH",
    "HIGH_CONTRIBUTION_CUTS",
    "LICENCE_RATES",
    "default_property_rates",
    "default_licence_rates",
    "fcm_contributions",
    "fcm_distribution",
    "MunicipalBudget",
    "municipal_budget",
    "PoolTransfer",
    "pool_transfer",
]

#: FCM distribution shares (equal, poor, exempt properties, low own income), DL 3.063 art. 38
#: as replaced by Ley 20.237 (2008).
FCM_SHARES: tuple[float, float, float, float] = (0.25, 0.10, 0.30, 0.35)

#: Share of vehicle-permit revenue paid into the FCM (Emol, 14 Feb 2019, quoting AChM).
PERMIT_RATE: float = 0.625

#: Share of property-tax revenue paid into the FCM by most communes (SII, reavalúo 2019).
PROPERTY_RATE: float = 0.60

#: Share paid by Santiago, Providencia, Las Condes and Vitacura (SII, reavalúo 2019).
PROPERTY_RATE_HIGH: float = 0.65

#: Official CUT codes of the four communes with the higher property-tax contribution:
#: 13101 Santiago, 13114 Las Condes, 13123 Providencia, 13132 Vitacura.
HIGH_CONTRIBUTION_CUTS: frozenset[int] = frozenset({13101, 13114, 13123, 13132})

#: Share of business-licence (patentes) revenue paid into the FCM, by CUT code; communes not
#: listed pay none (Pauta, 3 Nov 2019).
LICENCE_RATES: dict[int, float] = {13101: 0.55, 13114: 0.65, 13123: 0.65, 13132: 0.65}

IncomeRule = Literal["shortfall", "inverse"]
PoolRule = Literal["per_capita", "need"]

_SHARE_TOL = 1e-9


# ---------------------------------------------------------------------------------------------
# validation helpers
# ---------------------------------------------------------------------------------------------


def _vector(name: str, x: ArrayLike, n: int | None = None) -> NDArray[np.float64]:
    """Return ``x`` as a finite, non-negative float64 vector (of length ``n`` if given)."""
    try:
        a = np.array(x, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"{name}={x!r} is invalid; allowed: a 1-D array of finite numbers >= 0"
        ) from exc
    if a.ndim != 1 or (n is not None and a.size != n):
        want = "a 1-D array" if n is None else f"a 1-D array of length {n} (one per commune)"
        raise ValueError(f"{name} has shape {a.shape}; allowed: {want}")
    bad = ~np.isfinite(a) | (a < 0)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}]={float(a[i])!r} is invalid; allowed: finite numbers >= 0")
    return a


def _rates(name: str, r: ArrayLike, n: int) -> NDArray[np.float64]:
    """Return a rate (scalar or per-commune) as a float64 vector of length ``n`` in [0, 1]."""
    try:
        a = np.array(r, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={r!r} is invalid; allowed: numbers in [0, 1]") from exc
    if a.ndim == 0:
        a = np.full(n, float(a))
    elif a.ndim != 1 or a.size != n:
        raise ValueError(
            f"{name} has shape {a.shape}; allowed: a scalar or a 1-D array of length {n}"
        )
    bad = ~np.isfinite(a) | (a < 0) | (a > 1)
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        raise ValueError(f"{name}[{i}]={float(a[i])!r} is invalid; allowed: numbers in [0, 1]")
    return a


def _mask(name: str, m: ArrayLike, n: int) -> NDArray[np.bool_]:
    """Return a boolean membership vector of length ``n`` (bools, or 0/1 numbers)."""
    a = np.asarray(m)
    if a.ndim != 1 or a.size != n:
        raise ValueError(f"{name} has shape {a.shape}; allowed: a 1-D array of length {n}")
    if a.dtype == np.bool_:
        return a.copy()
    if a.dtype.kind in "iuf" and np.isin(a, (0, 1)).all():
        return a.astype(np.bool_)
    raise ValueError(f"{name}={m!r} is invalid; allowed: booleans, or the numbers 0 and 1")


def _nonneg_scalar(name: str, x: float) -> float:
    """Return ``x`` as a finite float >= 0."""
    try:
        v = float(x)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name}={x!r} is invalid; allowed: a finite number >= 0") from exc
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{name}={x!r} is invalid; allowed: a finite number >= 0")
    return v


def _choice(name: str, value: str, allowed: Iterable[str]) -> str:
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"{name}={value!r} is invalid; allowed: {', '.join(map(repr, allowed))}")
    return value


def _check_shares(shares: Sequence[float]) -> tuple[float, float, float, float]:
    """Validate distribution shares: four finite numbers >= 0 summing to 1."""
    try:
        s = tuple(float(v) for v in shares)
    except (TypeError, ValueError) as exc:
        raise ValueError(
            f"shares={shares!r} is invalid; allowed: 4 numbers >= 0 summing to 1"
        ) from exc
    if len(s) != 4 or not all(math.isfinite(v) and v >= 0 for v in s):
        raise ValueError(
            f"shares={shares!r} is invalid; allowed: 4 numbers >= 0 summing to 1 "
            "(equal, poor, exempt, income)"
        )
    total = math.fsum(s)
    if abs(total - 1.0) > _SHARE_TOL:
        raise ValueError(
            f"shares={shares!r} sums to {total!r}; allowed: 4 numbers >= 0 summing to 1"
        )
    return s  # type: ignore[return-value]


# ---------------------------------------------------------------------------------------------
# allocation core (conservation)
# ---------------------------------------------------------------------------------------------


def _allocate(total: float, weights: NDArray[np.float64]) -> NDArray[np.float64]:
    """Split ``total`` in proportion to ``weights`` (>= 0, some > 0); fsum of the result is total.

    The rounding residual is put on the recipient with the largest weight (never on one with
    weight 0, even when every share underflows to 0).
    """
    w = weights / weights.max()  # rescale first: no overflow in the sum
    out = total * (w / w.sum())
    residual = total - math.fsum(out)
    if residual:
        k = int(np.argmax(w))
        out[k] += residual
    return out


def _key(weights: NDArray[np.float64], eligible: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Normalised allocation key; if all weights are zero, equal shares among ``eligible``.

    If nobody is eligible either, equal shares among all.
    """
    top = weights.max()
    if top > 0:
        w = weights / top  # rescale first: no overflow in the sum
        return w / w.sum()
    base = eligible if eligible.any() else np.ones(weights.size, dtype=np.bool_)
    return base / base.sum()


def _inverse(x: NDArray[np.float64], active: NDArray[np.bool_]) -> NDArray[np.float64]:
    """Weights proportional to ``1 / x`` over ``active`` entries (0 elsewhere).

    If some active ``x`` is 0, those entries get weight 1 and all others 0 (the limit of
    ``1 / x`` as ``x -> 0``). Computed as ``min(x) / x`` so that nothing overflows.
    """
    zero = active & (x == 0)
    if zero.any():
        return zero.astype(np.float64)
    w = np.zeros(x.size)
    if active.any():
        np.divide(x[active].min(), x, out=w, where=active)
    return w


# ---------------------------------------------------------------------------------------------
# contribution rates
# ---------------------------------------------------------------------------------------------


def _cut_codes(cuts: ArrayLike) -> NDArray[np.int64]:
    a = np.asarray(cuts)
    if a.ndim != 1:
        raise ValueError(f"cuts has shape {a.shape}; allowed: a 1-D array of CUT codes")
    if a.dtype.kind in "iu":
        return a.astype(np.int64)
    if a.dtype.kind == "f" and np.isfinite(a).all() and (a == np.round(a)).all():
        return a.astype(np.int64)
    raise ValueError(f"cuts={cuts!r} is invalid; allowed: integer CUT codes such as 13101")


def default_property_rates(cuts: ArrayLike) -> NDArray[np.float64]:
    """Property-tax contribution rate to the FCM for each commune, from its CUT code.

    0.65 for Santiago (13101), Las Condes (13114), Providencia (13123) and Vitacura (13132);
    0.60 for every other commune. Source: SII, reavalúo 2019 page
    (https://www.sii.cl/destacados/reavaluo/2019/contribucionesreavaluo.html).

    Parameters
    ----------
    cuts : array_like of int, (n,)
        Official commune codes (Código Único Territorial).

    Returns
    -------
    ndarray of float64, (n,)

    Raises
    ------
    ValueError
        If ``cuts`` is not a 1-D array of integer codes.

    Examples
    --------
    >>> default_property_rates([13101, 13102, 13132]).tolist()
    [0.65, 0.6, 0.65]
    """
    c = _cut_codes(cuts)
    high = np.isin(c, sorted(HIGH_CONTRIBUTION_CUTS))
    return np.where(high, PROPERTY_RATE_HIGH, PROPERTY_RATE)


def default_licence_rates(cuts: ArrayLike) -> NDArray[np.float64]:
    """Business-licence (patentes) contribution rate to the FCM for each commune.

    0.55 for Santiago (13101); 0.65 for Las Condes (13114), Providencia (13123) and Vitacura
    (13132); 0 for every other commune. Source: Pauta, 3 Nov 2019 (press, not the statute).

    Parameters
    ----------
    cuts : array_like of int, (n,)
        Official commune codes.

    Returns
    -------
    ndarray of float64, (n,)

    Examples
    --------
    >>> default_licence_rates([13101, 13114, 13201]).tolist()
    [0.55, 0.65, 0.0]
    """
    c = _cut_codes(cuts)
    return np.array([LICENCE_RATES.get(int(k), 0.0) for k in c], dtype=np.float64)


# ---------------------------------------------------------------------------------------------
# FCM
# ---------------------------------------------------------------------------------------------


def fcm_contributions(
    property_tax: ArrayLike,
    vehicle_permits: ArrayLike,
    *,
    property_rate: ArrayLike,
    permit_rate: ArrayLike = PERMIT_RATE,
    other: ArrayLike | None = None,
    other_rate: ArrayLike | None = None,
) -> NDArray[np.float64]:
    """Each commune's payment into the Fondo Común Municipal.

    ``property_rate * property_tax + permit_rate * vehicle_permits + other_rate * other``.
    Rates: property tax 60%, or 65% for Santiago, Providencia, Las Condes and Vitacura (SII,
    reavalúo 2019; see :func:`default_property_rates`); vehicle permits 62.5% (Emol,
    14 Feb 2019). The fund itself is that of Ley 18.695 art. 14, distributed under DL 3.063
    art. 38 as amended by Ley 20.237 (2008) and the Reglamento DS 1.293/2007.

    Parameters
    ----------
    property_tax : array_like, (n,)
        Property tax (impuesto territorial) collected in each commune, >= 0.
    vehicle_permits : array_like, (n,)
        Vehicle-permit (permisos de circulación) revenue of each commune, >= 0.
    property_rate : float or array_like, (n,)
        Share of property tax paid in, in [0, 1] (a lever).
    permit_rate : float or array_like, (n,), default 0.625
        Share of vehicle-permit revenue paid in, in [0, 1].
    other : array_like, (n,), optional
        Any further revenue with a contribution (e.g. business licences), >= 0.
    other_rate : float or array_like, (n,), optional
        Its contribution rate, in [0, 1] (see :func:`default_licence_rates`). Required if and
        only if ``other`` is given.

    Returns
    -------
    ndarray of float64, (n,)
        Contribution of each commune; never more than its revenue in those items.

    Raises
    ------
    ValueError
        On arrays of different lengths, negative or non-finite amounts, rates outside [0, 1],
        or ``other`` without ``other_rate`` (or the reverse).

    Examples
    --------
    >>> fcm_contributions([100.0, 10.0], [8.0, 8.0], property_rate=[0.65, 0.6]).tolist()
    [70.0, 11.0]
    """
    tax = _vector("property_tax", property_tax)
    n = tax.size
    permits = _vector("vehicle_permits", vehicle_permits, n)
    paid = _rates("property_rate", property_rate, n) * tax
    paid = paid + _rates("permit_rate", permit_rate, n) * permits
    if (other is None) != (other_rate is None):
        given, missing = ("other", "other_rate") if other is not None else ("other_rate", "other")
        raise ValueError(f"{given} was given without {missing}; allowed: both or neither")
    if other is not None and other_rate is not None:
        paid = paid + _rates("other_rate", other_rate, n) * _vector("other", other, n)
    return paid


def _income_weights(
    y: NDArray[np.float64],
    population: NDArray[np.float64] | None,
    reference: float | None,
    rule: str,
) -> NDArray[np.float64]:
    """Allocation key of the income component (sums to 1). See :func:`fcm_distribution`."""
    n = y.size
    active = np.ones(n, dtype=np.bool_) if population is None else population > 0
    if rule == "shortfall":
        if reference is not None:
            ref = reference
        elif population is not None and population.sum() > 0:
            ref = float(np.sum(population * y) / population.sum())
        else:
            ref = float(y.mean())
        w = np.where(active, np.maximum(ref - y, 0.0), 0.0)
    else:  # inverse
        w = _inverse(y, active)
    return _key(w, active)


def fcm_distribution(
    total: float,
    *,
    n_poor: ArrayLike,
    n_exempt: ArrayLike,
    own_income_per_capita: ArrayLike,
    shares: Sequence[float] = FCM_SHARES,
    population: ArrayLike | None = None,
    reference_income_per_capita: float | None = None,
    income_rule: IncomeRule = "shortfall",
) -> NDArray[np.float64]:
    """Split the Fondo Común Municipal among communes.

    DL 3.063 de Rentas Municipales art. 38, as replaced by Ley 20.237 (2008), and its
    Reglamento DS 1.293/2007: ``shares`` = (equal, poor, exempt, income), by law
    (0.25, 0.10, 0.30, 0.35).

    - *equal*: the same amount to every commune;
    - *poor*: in proportion to the number of poor people;
    - *exempt*: in proportion to the number of properties exempt from property tax;
    - *income*: for the lower own permanent income per head. The law's wording is "in direct
      proportion to the lower permanent own income ... of each commune, in relation to the
      national average". With ``income_rule="shortfall"`` (default; our reading, the
      reglamento's exact coefficient was not retrieved) commune i's weight is
      ``max(0, ref - y_i)``, ``ref`` being ``reference_income_per_capita`` or else the
      population-weighted mean of ``y`` (plain mean without ``population``): only communes
      below the average take part. With ``income_rule="inverse"`` (an assumption) the weight
      is ``1 / y_i``; communes with ``y_i == 0`` then share the component equally.

    Edge cases, all without NaN: a component whose weights are all zero (no poor, no exempt
    properties, nobody below the reference) is paid in equal shares instead, so the total is
    always distributed. Communes with zero ``population`` (when given) take no part in the
    income component.

    Parameters
    ----------
    total : float
        Amount to distribute, >= 0 (usually ``fcm_contributions(...).sum()``).
    n_poor : array_like, (n,)
        Number of poor people in each commune, >= 0.
    n_exempt : array_like, (n,)
        Number of properties exempt from property tax, >= 0.
    own_income_per_capita : array_like, (n,)
        Own permanent income per inhabitant (after the FCM contribution), >= 0.
    shares : sequence of 4 floats, default (0.25, 0.10, 0.30, 0.35)
        Component shares; each >= 0, summing to 1 (a lever).
    population : array_like, (n,), optional
        Inhabitants, >= 0: weights the reference average and excludes empty communes from the
        income component.
    reference_income_per_capita : float, optional
        The national average own income per head, >= 0. Default: the average over the
        communes given (a closed region standing in for the country).
    income_rule : {"shortfall", "inverse"}, default "shortfall"
        Rule of the income component (see above).

    Returns
    -------
    ndarray of float64, (n,)
        Receipts; ``math.fsum(receipts) == total`` up to one rounding.

    Raises
    ------
    ValueError
        On bad shares, negative or non-finite inputs, length mismatches or an unknown rule.

    Examples
    --------
    Two communes, 100 to share; only the first has poor people and exempt properties, and it
    has the lower income per head:

    >>> r = fcm_distribution(100.0, n_poor=[10, 0], n_exempt=[5, 0],
    ...                      own_income_per_capita=[1.0, 3.0])
    >>> r.round(6).tolist()
    [87.5, 12.5]
    """
    tot = _nonneg_scalar("total", total)
    s = _check_shares(shares)
    y = _vector("own_income_per_capita", own_income_per_capita)
    n = y.size
    if n == 0:
        raise ValueError("own_income_per_capita has length 0; allowed: at least one commune")
    poor = _vector("n_poor", n_poor, n)
    exempt = _vector("n_exempt", n_exempt, n)
    pop = None if population is None else _vector("population", population, n)
    ref = (
        None
        if reference_income_per_capita is None
        else _nonneg_scalar("reference_income_per_capita", reference_income_per_capita)
    )
    rule = _choice("income_rule", income_rule, ("shortfall", "inverse"))

    everyone = np.ones(n, dtype=np.bool_)
    coef = (
        s[0] * np.full(n, 1.0 / n)
        + s[1] * _key(poor, everyone)
        + s[2] * _key(exempt, everyone)
        + s[3] * _income_weights(y, pop, ref, rule)
    )
    if tot == 0:
        return np.zeros(n)
    return _allocate(tot, coef)


# ---------------------------------------------------------------------------------------------
# budget
# ---------------------------------------------------------------------------------------------


class MunicipalBudget(NamedTuple):
    """Per-commune municipal accounts, all float64 arrays of length n."""

    #: Own revenue kept: gross own revenue minus the FCM contribution.
    revenue_own: NDArray[np.float64]
    #: Contribution paid into the FCM.
    fcm_paid: NDArray[np.float64]
    #: Receipts from the FCM.
    fcm_received: NDArray[np.float64]
    #: ``revenue_own + fcm_received``.
    budget: NDArray[np.float64]


def municipal_budget(
    property_tax: ArrayLike,
    vehicle_permits: ArrayLike,
    *,
    property_rate: ArrayLike,
    n_poor: ArrayLike,
    n_exempt: ArrayLike,
    population: ArrayLike,
    permit_rate: ArrayLike = PERMIT_RATE,
    licences: ArrayLike | None = None,
    licence_rate: ArrayLike | None = None,
    own_income_per_capita: ArrayLike | None = None,
    shares: Sequence[float] = FCM_SHARES,
    reference_income_per_capita: float | None = None,
    income_rule: IncomeRule = "shortfall",
) -> MunicipalBudget:
    """Municipal budgets after the FCM: own revenue kept plus FCM receipts.

    Gross own revenue is ``property_tax + vehicle_permits + licences``. Contributions follow
    :func:`fcm_contributions`; the pool (their sum) is split by :func:`fcm_distribution`
    (DL 3.063 art. 38 as amended by Ley 20.237; Reglamento DS 1.293/2007). The pool is closed
    over the communes given, so ``sum(budget) == sum(gross own revenue)`` to rounding.

    Own permanent income per head, when not given, is the revenue kept divided by population
    (Ley 20.237 counts the property-tax surplus as permanent income; see the module notes);
    it is 0 for communes without population, which in turn take no part in the income
    component.

    Parameters
    ----------
    property_tax, vehicle_permits : array_like, (n,)
        Revenue of each commune from each source, >= 0.
    property_rate : float or array_like, (n,)
        Property-tax contribution rate, in [0, 1] (see :func:`default_property_rates`).
    n_poor, n_exempt : array_like, (n,)
        Number of poor people and of tax-exempt properties, >= 0.
    population : array_like, (n,)
        Inhabitants, >= 0.
    permit_rate : float or array_like, (n,), default 0.625
        Vehicle-permit contribution rate, in [0, 1].
    licences : array_like, (n,), optional
        Business-licence (patentes) revenue, >= 0.
    licence_rate : float or array_like, (n,), optional
        Its contribution rate, in [0, 1] (see :func:`default_licence_rates`); required if and
        only if ``licences`` is given.
    own_income_per_capita : array_like, (n,), optional
        Override of the income per head used by the 35% component.
    shares, reference_income_per_capita, income_rule
        As in :func:`fcm_distribution`.

    Returns
    -------
    MunicipalBudget
        ``(revenue_own, fcm_paid, fcm_received, budget)``.

    Raises
    ------
    ValueError
        As :func:`fcm_contributions` and :func:`fcm_distribution`.

    Examples
    --------
    >>> b = municipal_budget([100.0, 0.0], [0.0, 0.0], property_rate=0.6, n_poor=[0, 0],
    ...                      n_exempt=[0, 0], population=[10, 10], shares=(1, 0, 0, 0))
    >>> b.budget.tolist(), b.fcm_paid.tolist(), b.fcm_received.tolist()
    ([70.0, 30.0], [60.0, 0.0], [30.0, 30.0])
    """
    tax = _vector("property_tax", property_tax)
    n = tax.size
    permits = _vector("vehicle_permits", vehicle_permits, n)
    pop = _vector("population", population, n)
    gross = tax + permits
    if licences is not None:
        gross = gross + _vector("licences", licences, n)
    paid = fcm_contributions(
        tax,
        permits,
        property_rate=property_rate,
        permit_rate=permit_rate,
        other=licences,
        other_rate=licence_rate,
    )
    kept = gross - paid
    if own_income_per_capita is None:
        y = np.zeros(n)
        np.divide(kept, pop, out=y, where=pop > 0)
    else:
        y = _vector("own_income_per_capita", own_income_per_capita, n)
    received = fcm_distribution(
        math.fsum(paid),
        n_poor=n_poor,
        n_exempt=n_exempt,
        own_income_per_capita=y,
        shares=shares,
        population=pop,
        reference_income_per_capita=reference_income_per_capita,
        income_rule=income_rule,
    )
    return MunicipalBudget(
        revenue_own=kept, fcm_paid=paid, fcm_received=received, budget=kept + received
    )


# ---------------------------------------------------------------------------------------------
# voluntary or metropolitan pools
# ---------------------------------------------------------------------------------------------


class PoolTransfer(NamedTuple):
    """Payments into and receipts from a revenue pool, float64 arrays of length n."""

    #: Paid into the pool (0 for non-members).
    paid: NDArray[np.float64]
    #: Received from the pool (0 for non-members).
    received: NDArray[np.float64]


def pool_transfer(
    revenue: ArrayLike,
    rates: ArrayLike,
    members: ArrayLike,
    *,
    rule: PoolRule = "per_capita",
    population: ArrayLike | None = None,
    coverage: ArrayLike | None = None,
) -> PoolTransfer:
    """A voluntary or metropolitan pool: members pay a share of revenue, the pool is shared.

    Not an existing Chilean instrument: a policy lever (e.g. a metropolitan equalisation fund
    of the kind discussed around Ley 21.074). Each member pays ``rates * revenue``; the pool
    goes back to the members only, by one of two rules:

    - ``"per_capita"``: in proportion to ``population`` (equal amount per inhabitant); if the
      members have no population at all, in equal shares;
    - ``"need"``: in proportion to ``1 / coverage`` (inverse coverage of a service, any
      positive scale); members with zero coverage share the pool equally (the limit as
      coverage goes to 0).

    ``math.fsum(received) == math.fsum(paid)`` up to one rounding.

    Parameters
    ----------
    revenue : array_like, (n,)
        Revenue on which the pool levy is charged, >= 0.
    rates : float or array_like, (n,)
        Levy rate, in [0, 1] (ignored for non-members).
    members : array_like of bool, (n,)
        Which communes are in the pool.
    rule : {"per_capita", "need"}, default "per_capita"
        Distribution rule.
    population : array_like, (n,), optional
        Inhabitants, >= 0; required for ``rule="per_capita"``.
    coverage : array_like, (n,), optional
        Service coverage, >= 0; required for ``rule="need"``.

    Returns
    -------
    PoolTransfer
        ``(paid, received)``.

    Raises
    ------
    ValueError
        On bad inputs, an unknown rule, or a rule without its data.

    Examples
    --------
    >>> t = pool_transfer([100.0, 0.0, 50.0], 0.1, [True, True, False],
    ...                   population=[1, 3, 5])
    >>> t.paid.tolist(), t.received.tolist()
    ([10.0, 0.0, 0.0], [2.5, 7.5, 0.0])
    """
    rev = _vector("revenue", revenue)
    n = rev.size
    r = _rates("rates", rates, n)
    mem = _mask("members", members, n)
    rule = _choice("rule", rule, ("per_capita", "need"))  # type: ignore[assignment]
    if rule == "per_capita":
        if population is None:
            raise ValueError("rule='per_capita' needs population; allowed: a 1-D array >= 0")
        w = np.where(mem, _vector("population", population, n), 0.0)
    else:
        if coverage is None:
            raise ValueError("rule='need' needs coverage; allowed: a 1-D array >= 0")
        w = _inverse(_vector("coverage", coverage, n), mem)

    paid = np.where(mem, r * rev, 0.0)
    pool = math.fsum(paid)
    if pool == 0:
        return PoolTransfer(paid=paid, received=np.zeros(n))
    return PoolTransfer(paid=paid, received=_allocate(pool, _key(w, mem)))
