"""A combined authority: communes that choose, each year, to pool planning and revenue.

The English combined authorities (Local Democracy, Economic Development and Construction Act
2009; Cities and Local Government Devolution Act 2016) are formed bottom-up: neighbouring
councils opt in to pool powers (strategic planning, transport, investment) and receive a
devolution deal's investment fund from central government; councils have declined to join or
left deals (Sandford 2017). Membership is therefore itself a decision of each local government.

The decision is modelled as a club choice (Tiebout 1956; Buchanan 1965; Olson 1965) made by a
mayor under institutional collective action (Feiock 2007, 2013): a commune joins when the
expected net gain of membership over the mayor's horizon, relative to its budget, exceeds the
transaction cost of switching, and leaves when the expected loss does; within that band it
keeps its status (hysteresis). The gain is what it would draw from the authority's fund minus
what it would pay in, given who else is a member now. A joint spatial plan is a further cost of
autonomy: a commune does not stay in an authority whose plan would exclude at least half of its
undeveloped developable land (the rule a mayor applies to a metropolitan plan, ``docs/odd.md``
7.7.4).

Money is conserved: what members receive is exactly what they paid in plus the central grant.

References
----------
Buchanan, J. M. (1965). An economic theory of clubs. *Economica* 32(125), 1-14.
doi:10.2307/2552442
Feiock, R. C. (2007). Rational choice and regional governance. *Journal of Urban Affairs*
29(1), 47-63. doi:10.1111/j.1467-9906.2007.00322.x
Feiock, R. C. (2013). The institutional collective action framework. *Policy Studies Journal*
41(3), 397-425. doi:10.1111/psj.12023
Olson, M. (1965). *The Logic of Collective Action*. Harvard University Press.
Sandford, M. (2017). Combined authorities. House of Commons Library Briefing Paper 06649.
Tiebout, C. M. (1956). A pure theory of local expenditures. *Journal of Political Economy*
64(5), 416-424. doi:10.1086/257839
"""

from __future__ import annotations

import math
from typing import Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from metrosim.governments.fiscal import PoolTransfer, _allocate, _key, _mask, _vector

__all__ = ["CombinedTransfer", "combined_transfer", "horizon_years", "review_membership"]

Rule = Literal["per_capita", "need"]


#: Payments into and receipts from the fund: the same ``(paid, received)`` pair as a pool's.
CombinedTransfer = PoolTransfer


def combined_transfer(
    revenue: ArrayLike,
    share: float,
    members: ArrayLike,
    *,
    grant: float = 0.0,
    rule: Rule = "per_capita",
    population: ArrayLike,
    coverage: ArrayLike | None = None,
) -> CombinedTransfer:
    """Members pay ``share`` of their revenue; the fund plus a central grant goes to members.

    The fund is ``sum(paid) + grant`` when there is at least one member (nothing otherwise: no
    authority, no deal). It is split among the members by their rule:

    - ``"per_capita"``: in proportion to population;
    - ``"need"``: in proportion to residents without service coverage,
      ``population * (1 - coverage)`` (coverage in [0, 1]).

    If every member's weight is 0 the fund is split equally among them.
    ``math.fsum(received) == math.fsum(paid) + grant`` up to one rounding.

    Parameters
    ----------
    revenue : array_like, (n,)
        Revenue on which the levy is charged, >= 0.
    share : float
        Levy rate, in [0, 1].
    members : array_like of bool, (n,)
    grant : float, default 0
        Central government's yearly investment fund of the deal, >= 0.
    rule : {"per_capita", "need"}
    population : array_like, (n,)
        Inhabitants, >= 0.
    coverage : array_like, (n,), optional
        Share of residents covered by services, in [0, 1]; required for ``rule="need"``.

    Raises
    ------
    ValueError
        On bad inputs or an unknown rule.

    Examples
    --------
    >>> t = combined_transfer([100.0, 0.0, 50.0], 0.1, [True, True, False], grant=10.0,
    ...                       population=[1, 3, 5])
    >>> t.paid.tolist(), t.received.tolist()
    ([10.0, 0.0, 0.0], [5.0, 15.0, 0.0])
    """
    rev = _vector("revenue", revenue)
    n = rev.size
    mem = _mask("members", members, n)
    if not (math.isfinite(share) and 0.0 <= share <= 1.0):
        raise ValueError(f"share={share!r} is invalid; allowed: a number in [0, 1]")
    if not (math.isfinite(grant) and grant >= 0.0):
        raise ValueError(f"grant={grant!r} is invalid; allowed: a finite number >= 0")
    pop = _vector("population", population, n)
    if rule == "per_capita":
        w = pop
    elif rule == "need":
        if coverage is None:
            raise ValueError("rule='need' needs coverage; allowed: a 1-D array in [0, 1]")
        cov = np.clip(_vector("coverage", coverage, n), 0.0, 1.0)
        w = pop * (1.0 - cov)
    else:
        raise ValueError(f"rule={rule!r} is invalid; allowed: 'per_capita', 'need'")
    paid = np.where(mem, share * rev, 0.0)
    if not mem.any():
        return CombinedTransfer(paid=paid, received=np.zeros(n))
    fund = math.fsum(paid) + grant
    if fund == 0:
        return CombinedTransfer(paid=paid, received=np.zeros(n))
    return CombinedTransfer(paid=paid, received=_allocate(fund, _key(np.where(mem, w, 0.0), mem)))


def horizon_years(years_left: float, election_cycle: int, discount: float) -> float:
    """Years of a recurring gain a mayor counts: the rest of the term, then the next one discounted.

    ``years_left + sum_{k=1..election_cycle} discount ** k`` (Nordhaus 1975's short horizon, as
    in :func:`metrosim.governments.municipal.horizon_weight`).

    Examples
    --------
    >>> horizon_years(2, 4, 0.5)
    2.9375
    """
    return float(years_left + sum(discount**k for k in range(1, election_cycle + 1)))


def review_membership(
    members: ArrayLike,
    order: ArrayLike,
    *,
    revenue: ArrayLike,
    budget: ArrayLike,
    share: float,
    grant: float,
    rule: Rule,
    population: ArrayLike,
    coverage: ArrayLike | None,
    horizon: float,
    switch_cost: float,
    eligible: ArrayLike,
) -> NDArray[np.bool_]:
    """Each commune, in ``order``, decides to be in or out given the others' current choice.

    For commune i, with members ``M``, the expected yearly gain of membership is what it would
    receive minus what it would pay with ``M | {i}`` (:func:`combined_transfer`), relative to
    its budget; the mayor values it over ``horizon`` years. A non-member joins when
    ``horizon * gain > switch_cost`` and it is ``eligible`` (the joint plan is acceptable to
    it); a member leaves when ``horizon * gain < -switch_cost`` or it is not eligible. Choices
    are sequential, each seeing the choices made before it (a best-response review; the order
    is the caller's, drawn from ``model.rng``).

    Returns
    -------
    ndarray of bool, (n,)
        Members after the review.
    """
    mem = _mask("members", members, len(np.asarray(members))).copy()
    n = mem.size
    rev = _vector("revenue", revenue, n)
    bud = np.asarray(budget, dtype=np.float64)
    ok = _mask("eligible", eligible, n)
    for i in np.asarray(order, dtype=np.int64):
        trial = mem.copy()
        trial[i] = True
        t = combined_transfer(
            rev, share, trial, grant=grant, rule=rule, population=population, coverage=coverage
        )
        gain = horizon * (t.received[i] - t.paid[i]) / max(bud[i], 1.0)
        if mem[i]:
            if gain < -switch_cost or not ok[i]:
                mem[i] = False
        elif gain > switch_cost and ok[i]:
            mem[i] = True
    return mem
