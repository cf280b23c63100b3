"""Household relocation: who moves, and which vacant dwelling each mover takes.

Thin, validating wrappers around the numba kernels in :mod:`metrosim._kernels.choice`.

Model
-----
A household of income group ``g`` values a dwelling in cell ``c`` by the systematic utility

``V = b_rent_share * rent[c] / income[g] + b_commute * commute[c] + b_service * service[c]
+ b_green * green[c] + b_homophily * mix[c, g]``

(``coefs`` holds the five ``b`` and, last, ``max_rent_share``). The rent term is the budget
share of housing and ``max_rent_share`` the affordability limit: a cell whose rent exceeds
``max_rent_share * income[g]`` is never chosen by group ``g`` (the bid-rent idea of Alonso
1964: a household cannot outbid others for land it cannot pay for), although a household may
always stay where it lives. The last term is Schelling's (1971) homophily: the share of the
household's own group in the neighbourhood.

*Who moves* (:func:`select_movers`). Each housed household moves with probability

``p = base_rate + dissatisfaction_rate * (1 - exp(-max(0, Vref[g] - V_i)))``

a base mobility plus dissatisfaction growing with the gap between the utility ``V_i`` of its
current dwelling and ``Vref[g]``, the logsum (expected maximum utility) over ``n_alt`` vacant
dwellings drawn for its group, of which the affordable ones count: the stress-threshold view of
residential mobility (Brown & Moore 1970; Clark & Onaka 1983). Unhoused households (``hh_cell
== -1``, e.g. newly formed ones) always move.

*Where to* (:func:`relocate`). Movers decide one by one in the given order. A mover draws
``n_alt`` vacant dwellings uniformly, with replacement (so a cell is drawn in proportion to its
vacant dwellings), drops those it cannot afford and chooses by multinomial logit among them and
its current dwelling. Uniform sampling of alternatives keeps the logit consistent under IIA
(McFadden 1978). Vacant dwellings are kept in a list with one entry per dwelling (Knuth 1997,
3.4.2): a draw, taking a dwelling and releasing one each take O(1). The chosen dwelling is
occupied at once and the one left becomes available to later movers; capacity is never
exceeded and households are conserved.

*One year* (:func:`move_year`): the two steps in turn with the same draws and result, validated
once and on tables built once (the model's path).

References
----------
Alonso, W. (1964). *Location and Land Use: Toward a General Theory of Land Rent*. Harvard
University Press.

Brown, L. A., & Moore, E. G. (1970). The intra-urban migration process: a perspective.
*Geografiska Annaler: Series B, Human Geography* 52(1), 1-13. doi:10.2307/490436

Clark, W. A. V., & Onaka, J. L. (1983). Life cycle and housing adjustment as explanations of
residential mobility. *Urban Studies* 20(1), 47-57.

Knuth, D. E. (1997). *The Art of Computer Programming, Vol. 2: Seminumerical Algorithms*, 3rd
ed., section 3.4.2. Addison-Wesley.

McFadden, D. (1978). Modelling the choice of residential location. In A. Karlqvist,
L. Lundqvist, F. Snickars & J. W. Weibull (Eds.), *Spatial Interaction Theory and Planning
Models*, 75-96. North-Holland.

Schelling, T. C. (1971). Dynamic models of segregation. *Journal of Mathematical Sociology*
1(2), 143-186. doi:10.1080/0022250X.1971.9989794
"""

from __future__ import annotations

import numbers

import numpy as np

from metrosim._kernels import choice as _k
from metrosim._kernels import pcg as _pcg

__all__ = ["COEF_NAMES", "move_year", "relocate", "select_movers"]

#: Order of the entries of ``coefs``.
COEF_NAMES = (
    "beta_rent_share",
    "beta_commute_per_min",
    "beta_service_per_km",
    "beta_green",
    "beta_homophily",
    "max_rent_share",
)

_INT32_MAX = np.iinfo(np.int32).max


def _array(name, a, dtype, ndim, *, writeable=False):
    if not isinstance(a, np.ndarray):
        raise ValueError(
            f"{name} = {type(a).__name__} object; allowed: a numpy array of dtype "
            f"{np.dtype(dtype).name}"
        )
    if a.dtype != dtype:
        raise ValueError(
            f"{name} has dtype {a.dtype}; allowed: {np.dtype(dtype).name} (convert explicitly)"
        )
    if a.ndim != ndim:
        raise ValueError(f"{name} has shape {a.shape}; allowed: {ndim}-D")
    if not a.flags.c_contiguous:
        raise ValueError(f"{name} is not C-contiguous; allowed: C-contiguous arrays only")
    if writeable and not a.flags.writeable:
        raise ValueError(f"{name} is read-only; allowed: a writeable array (updated in place)")


def _shape(name, a, shape):
    if a.shape != shape:
        raise ValueError(f"{name} has shape {a.shape}; allowed: {shape}")


def _first_bad(name, a, bad, allowed):
    if bad.any():
        idx = np.unravel_index(int(np.argmax(bad)), a.shape)
        where = ", ".join(str(int(i)) for i in idx)
        raise ValueError(f"{name}[{where}] = {a[idx].item()!r}; allowed: {allowed}")


def _finite(name, a, *, minimum=None):
    if not np.isfinite(a).all():
        _first_bad(name, a, ~np.isfinite(a), "finite values")
    if minimum is not None and not (a >= minimum).all():
        _first_bad(name, a, a < minimum, f"values >= {minimum}")


def _row_sums(a, dtype):
    out = np.empty(a.shape[0], dtype=dtype)
    _k.row_sums(a, out)
    return out


def _int_scalar(name, x, minimum, maximum):
    allowed = f"allowed: an integer >= {minimum} and <= {maximum}"
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Integral):
        raise ValueError(f"{name} = {x!r}; {allowed}")
    if not minimum <= x <= maximum:
        raise ValueError(f"{name} = {x!r}; {allowed}")
    return int(x)


def _rate(name, x):
    if isinstance(x, bool | np.bool_) or not isinstance(x, numbers.Real):
        raise ValueError(f"{name} = {x!r}; allowed: a real number in [0, 1]")
    x = float(x)
    if not 0.0 <= x <= 1.0:  # also rejects nan
        raise ValueError(f"{name} = {x!r}; allowed: a real number in [0, 1]")
    return x


def _drawing(kernel, *args):
    """Call ``kernel(*args)``, the last argument being the Generator.

    A PCG64 Generator's state is stepped inline by the kernel (the same draws, a fifth
    faster; :mod:`metrosim._kernels.pcg`) and written back to it, even if the kernel raises.
    The call holds the bit generator's lock, as NumPy's own methods do: a Generator shared by
    threads gives each call its own draws (without it, two calls could read the same state
    and draw the same numbers, and a kernel drawing through NumPy's functions could step the
    state while a NumPy method in another thread, having released the GIL, steps it too).
    """
    rng = args[-1]
    with rng.bit_generator.lock:
        stream = _pcg.stream_of(rng)
        if stream is None:
            return kernel(*args)
        try:
            return kernel(*args[:-1], stream)
        finally:
            _pcg.restore(rng, stream)


def _rates(base_rate, dissatisfaction_rate):
    base_rate = _rate("base_rate", base_rate)
    dissatisfaction_rate = _rate("dissatisfaction_rate", dissatisfaction_rate)
    if base_rate + dissatisfaction_rate > 1.0:
        raise ValueError(
            f"base_rate + dissatisfaction_rate = {base_rate + dissatisfaction_rate!r}; "
            "allowed: <= 1 (a probability)"
        )
    return base_rate, dissatisfaction_rate


def _check_world(
    hh_cell,
    hh_group,
    capacity,
    occ,
    rent,
    commute,
    service,
    green,
    mix,
    income,
    coefs,
    n_alt,
    rng,
    *,
    writeable,
):
    """Validate the shared arguments; return (n_cells, n_groups, n_alt as int)."""
    _array("capacity", capacity, np.int32, 1)
    n_cells = capacity.size
    _array("income", income, np.float64, 1)
    n_groups = income.size
    if not 1 <= n_groups <= 127:
        raise ValueError(f"income has {n_groups} groups; allowed: 1 to 127 (hh_group is int8)")
    _finite("income", income)
    _first_bad("income", income, income <= 0, "positive incomes")
    _array("hh_cell", hh_cell, np.int32, 1, writeable=writeable)
    _array("hh_group", hh_group, np.int8, 1)
    _shape("hh_group", hh_group, hh_cell.shape)
    _array("occ", occ, np.int32, 2, writeable=writeable)
    _shape("occ", occ, (n_cells, n_groups))
    for name, a in (("rent", rent), ("commute", commute), ("service", service), ("green", green)):
        _array(name, a, np.float64, 1)
        _shape(name, a, (n_cells,))
    _array("mix", mix, np.float64, 2)
    _shape("mix", mix, (n_cells, n_groups))
    _array("coefs", coefs, np.float64, 1)
    _shape("coefs", coefs, (len(COEF_NAMES),))
    n_alt = _int_scalar("n_alt", n_alt, 1, _INT32_MAX)
    if not isinstance(rng, np.random.Generator):
        raise ValueError(f"rng = {rng!r}; allowed: a numpy.random.Generator")

    _first_bad("capacity", capacity, capacity < 0, "dwellings >= 0")
    total = int(capacity.sum(dtype=np.int64))
    if total > _INT32_MAX:
        raise ValueError(f"capacity sums to {total} dwellings; allowed: at most {_INT32_MAX}")
    _first_bad(
        "hh_cell",
        hh_cell,
        (hh_cell < -1) | (hh_cell >= n_cells),
        f"-1 (unhoused) or a cell index in [0, {n_cells})",
    )
    _first_bad(
        "hh_group", hh_group, (hh_group < 0) | (hh_group >= n_groups), f"0 to {n_groups - 1}"
    )
    _first_bad("occ", occ, occ < 0, "counts >= 0")
    used = _row_sums(occ, np.int64)
    if (used > capacity).any():
        c = int(np.argmax(used > capacity))
        raise ValueError(
            f"occ[{c}] sums to {used[c]} occupied dwellings; allowed: at most capacity[{c}] = "
            f"{capacity[c]}"
        )
    c, g, counted = _k.occupancy_mismatch(hh_cell, hh_group, occ)
    if c >= 0:
        raise ValueError(
            f"occ[{c}, {g}] = {occ[c, g]}; allowed: the number of housed households of group "
            f"{g} in cell {c} per hh_cell/hh_group, {counted}"
        )

    _finite("rent", rent, minimum=0.0)
    _finite("commute", commute, minimum=0.0)
    _finite("service", service, minimum=0.0)
    _finite("green", green)
    _finite("mix", mix, minimum=0.0)
    _first_bad("mix", mix, mix > 1.0, "shares in [0, 1]")
    rows = _row_sums(mix, np.float64)
    _first_bad(
        "mix row sums",
        rows,
        (np.abs(rows - 1.0) > 1e-6) & (rows != 0.0),
        "1 (shares of the groups) or 0 (nobody lives nearby)",
    )
    for j, name in enumerate(COEF_NAMES[:-1]):
        if not np.isfinite(coefs[j]):
            raise ValueError(f"coefs[{j}] ({name}) = {float(coefs[j])!r}; allowed: a finite number")
    if not coefs[-1] > 0.0:
        raise ValueError(
            f"coefs[5] (max_rent_share) = {float(coefs[-1])!r}; allowed: > 0 (inf: no limit)"
        )
    # finite inputs can still sum to an infinite (or nan) utility, which the logit cannot weigh
    site_cell, _ = _k.sites_of(capacity)
    v, _ = _k.utility_table(site_cell, rent, commute, service, green, mix, income, coefs)
    if not np.isfinite(v).all():
        k, g = np.unravel_index(int(np.argmax(~np.isfinite(v))), v.shape)
        raise ValueError(
            f"coefs = {coefs.tolist()} give a dwelling of cell {site_cell[k]} the utility "
            f"{float(v[k, g])!r} for group {g} (income {float(income[g])!r}); allowed: "
            "coefficients and cell attributes whose utilities are finite"
        )
    return n_cells, n_groups, n_alt


def select_movers(
    hh_cell: np.ndarray,
    hh_group: np.ndarray,
    capacity: np.ndarray,
    occ: np.ndarray,
    rent: np.ndarray,
    commute: np.ndarray,
    service: np.ndarray,
    green: np.ndarray,
    mix: np.ndarray,
    income: np.ndarray,
    coefs: np.ndarray,
    base_rate: float,
    dissatisfaction_rate: float,
    n_alt: int,
    rng: np.random.Generator,
    *,
    check: bool = True,
) -> np.ndarray:
    """Draw this year's movers, in a random order.

    Each housed household moves with probability ``base_rate + dissatisfaction_rate *
    (1 - exp(-max(0, Vref[g] - V_i)))``: base mobility plus dissatisfaction, the gap between
    its current utility ``V_i`` and ``Vref[g] = ln(mean(exp(V)))`` over the affordable ones
    among ``n_alt`` vacant dwellings drawn (uniformly, with replacement) for its group ``g``
    (the logsum less ``ln(m)``, so that the option value of comparing m draws does not make
    every household look dissatisfied); with no
    affordable draw, or no vacancy, ``Vref[g] = -inf`` and only the base rate applies (the
    stress threshold of Brown & Moore 1970; Clark & Onaka 1983). Unhoused households
    (``hh_cell == -1``) always move. Nothing is modified.

    Parameters
    ----------
    hh_cell : numpy.ndarray of int32, shape (n,)
        Cell of each household's dwelling, -1 if unhoused.
    hh_group : numpy.ndarray of int8, shape (n,)
        Income group, 0 (poorest) to G - 1.
    capacity : numpy.ndarray of int32, shape (n_cells,)
        Dwellings per cell (in total below 2**31).
    occ : numpy.ndarray of int32, shape (n_cells, G)
        Occupied dwellings per cell and group; must equal the counts of housed households.
    rent : numpy.ndarray of float64, shape (n_cells,)
        Monthly rent per dwelling (CLP), >= 0.
    commute : numpy.ndarray of float64, shape (n_cells,)
        Commute, minutes, >= 0.
    service : numpy.ndarray of float64, shape (n_cells,)
        Distance to services, km, >= 0.
    green : numpy.ndarray of float64, shape (n_cells,)
        Green-space index of the neighbourhood (finite; transformed by the caller).
    mix : numpy.ndarray of float64, shape (n_cells, G)
        Share of each group among neighbourhood households; rows sum to 1, or are all 0.
    income : numpy.ndarray of float64, shape (G,)
        Monthly household income per group (CLP), > 0.
    coefs : numpy.ndarray of float64, shape (6,)
        ``(beta_rent_share, beta_commute_per_min, beta_service_per_km, beta_green,
        beta_homophily, max_rent_share)``; see :data:`COEF_NAMES`.
    base_rate, dissatisfaction_rate : float
        In [0, 1], with ``base_rate + dissatisfaction_rate <= 1``.
    n_alt : int
        Dwellings drawn per group for the reference logsum, 1 to 2**31 - 1.
    rng : numpy.random.Generator
        The only source of randomness; advanced in place.
    check : bool, keyword-only
        Validate every argument first (default). ``False`` is the trusted path for callers
        whose arrays hold the invariants by construction (the model): a third faster at 100k
        households, but bad input is then undefined behaviour.

    Returns
    -------
    numpy.ndarray of int64
        Indices of the movers in a random order (to pass to :func:`relocate`).

    Raises
    ------
    ValueError
        Naming the argument, its offending value and what is allowed.
    """
    if check:
        _check_world(
            hh_cell,
            hh_group,
            capacity,
            occ,
            rent,
            commute,
            service,
            green,
            mix,
            income,
            coefs,
            n_alt,
            rng,
            writeable=False,
        )
    base_rate, dissatisfaction_rate = _rates(base_rate, dissatisfaction_rate)
    return _drawing(
        _k.select_movers,
        hh_cell,
        hh_group,
        capacity,
        occ,
        rent,
        commute,
        service,
        green,
        mix,
        income,
        coefs,
        base_rate,
        dissatisfaction_rate,
        int(n_alt),
        rng,
    )


def relocate(
    order: np.ndarray,
    hh_cell: np.ndarray,
    hh_group: np.ndarray,
    capacity: np.ndarray,
    occ: np.ndarray,
    rent: np.ndarray,
    commute: np.ndarray,
    service: np.ndarray,
    green: np.ndarray,
    mix: np.ndarray,
    income: np.ndarray,
    coefs: np.ndarray,
    n_alt: int,
    rng: np.random.Generator,
    *,
    check: bool = True,
) -> tuple[int, int]:
    """Let the movers choose a dwelling, one by one; update ``hh_cell`` and ``occ`` in place.

    For each mover ``i = order[q]`` in turn: ``n_alt`` vacant dwellings are drawn uniformly
    with replacement (a dwelling drawn twice counts twice) from all vacant dwellings except the
    mover's own; those with ``rent > max_rent_share * income[g]`` are dropped; the choice set
    is the rest plus, if housed, the current dwelling (staying is always allowed, affordable or
    not; another vacant dwelling in the same cell is a move within the cell). One uniform draw
    picks an alternative with logit probability ``exp(V_j) / sum_k exp(V_k)`` (McFadden 1978).
    A new dwelling is occupied at once and the old one becomes vacant for later movers. An
    unhoused mover with no affordable draw stays unhoused (``hh_cell = -1``); the caller
    decides what becomes of it.

    Parameters
    ----------
    order : numpy.ndarray of int64, shape (n_movers,)
        Distinct household indices in decision order, e.g. from :func:`select_movers`.
    hh_cell, occ : numpy.ndarray
        As in :func:`select_movers`; must be writeable, updated in place.
    hh_group, capacity, rent, commute, service, green, mix, income, coefs : numpy.ndarray
        As in :func:`select_movers`.
    n_alt : int
        Vacant dwellings drawn per mover, 1 to 2**31 - 1.
    rng : numpy.random.Generator
        The only source of randomness; advanced in place. Per mover: ``n_alt`` uniforms (if
        any other dwelling is vacant), then one uniform (if the choice set is not empty).
    check : bool, keyword-only
        Validate every argument first (default). ``False`` is the trusted path for callers
        whose arrays hold the invariants by construction (the model): a third faster at 100k
        households, but bad input is then undefined behaviour.

    Returns
    -------
    n_moved : int
        Movers now in a different cell than before (newcomers who found a dwelling included).
    n_unhoused : int
        Movers left without a dwelling.

    Raises
    ------
    ValueError
        Naming the argument, its offending value and what is allowed.

    Notes
    -----
    Exact and sequential: the same inputs and generator state give the same result. Logit
    weights are tabulated per cell and group as ``exp(V - max V)``; a choice set whose weights
    all fall below 1e-300 is recomputed with its own maximum, so nothing overflows or
    underflows to an empty choice.

    Examples
    --------
    Two cells of two dwellings, one household in cell 0 and a newcomer:

    >>> import numpy as np
    >>> from metrosim.choice import relocate
    >>> hh_cell = np.array([0, -1], dtype=np.int32)
    >>> hh_group = np.array([0, 0], dtype=np.int8)
    >>> occ = np.array([[1], [0]], dtype=np.int32)
    >>> capacity = np.array([2, 2], dtype=np.int32)
    >>> zeros, ones = np.zeros(2), np.ones((2, 1))
    >>> coefs = np.array([-1.0, 0.0, 0.0, 0.0, 0.0, 0.5])
    >>> rng = np.random.default_rng(0)
    >>> order = np.array([1, 0], dtype=np.int64)
    >>> relocate(order, hh_cell, hh_group, capacity, occ, np.array([100.0, 100.0]), zeros,
    ...          zeros, zeros, ones, np.array([1000.0]), coefs, 5, rng)[1]
    0
    >>> int(occ.sum()), bool((occ[:, 0] <= capacity).all())
    (2, True)
    """
    if check:
        _, _, n_alt = _check_world(
            hh_cell,
            hh_group,
            capacity,
            occ,
            rent,
            commute,
            service,
            green,
            mix,
            income,
            coefs,
            n_alt,
            rng,
            writeable=True,
        )
        _array("order", order, np.int64, 1)
        n = hh_cell.size
        _first_bad("order", order, (order < 0) | (order >= n), f"household indices in [0, {n})")
        seen = np.bincount(order, minlength=n)
        if order.size and seen.max() > 1:
            dup = int(np.argmax(seen > 1))
            raise ValueError(
                f"order lists household {dup} {seen[dup]} times; allowed: at most once"
            )
    n_alt = int(n_alt)
    moved, unhoused = _drawing(
        _k.relocate,
        order,
        hh_cell,
        hh_group,
        capacity,
        occ,
        rent,
        commute,
        service,
        green,
        mix,
        income,
        coefs,
        n_alt,
        rng,
    )
    return int(moved), int(unhoused)


def move_year(
    hh_cell: np.ndarray,
    hh_group: np.ndarray,
    capacity: np.ndarray,
    occ: np.ndarray,
    rent: np.ndarray,
    commute: np.ndarray,
    service: np.ndarray,
    green: np.ndarray,
    mix: np.ndarray,
    income: np.ndarray,
    coefs: np.ndarray,
    base_rate: float,
    dissatisfaction_rate: float,
    n_alt: int,
    rng: np.random.Generator,
    *,
    check: bool = True,
) -> tuple[np.ndarray, int, int]:
    """One year of moves: :func:`select_movers`, then :func:`relocate` of those movers.

    The same rule, the same draws from ``rng`` and the same result as the two calls in turn
    (tested), but the arguments are validated once and the vacancy list and the table of
    utilities per site and group are built once for both steps. ``hh_cell`` and ``occ`` are
    updated in place.

    Parameters
    ----------
    hh_cell, hh_group, capacity, occ, rent, commute, service, green, mix, income, coefs
        As in :func:`relocate` (``hh_cell`` and ``occ`` writeable, updated in place).
    base_rate, dissatisfaction_rate : float
        As in :func:`select_movers`.
    n_alt : int
        Dwellings drawn per group for the reference logsum and per mover, 1 to 2**31 - 1.
    rng : numpy.random.Generator
        The only source of randomness; advanced in place.
    check : bool, keyword-only
        Validate every argument first (default). ``False`` is the trusted path for callers
        whose arrays hold the invariants by construction (the model); bad input is then
        undefined behaviour.

    Returns
    -------
    movers : numpy.ndarray of int64
        The households that searched, in decision order.
    n_moved, n_unhoused : int
        As returned by :func:`relocate`.

    Raises
    ------
    ValueError
        Naming the argument, its offending value and what is allowed.
    """
    if check:
        _, _, n_alt = _check_world(
            hh_cell,
            hh_group,
            capacity,
            occ,
            rent,
            commute,
            service,
            green,
            mix,
            income,
            coefs,
            n_alt,
            rng,
            writeable=True,
        )
    base_rate, dissatisfaction_rate = _rates(base_rate, dissatisfaction_rate)
    movers, moved, unhoused = _drawing(
        _k.move_year,
        hh_cell,
        hh_group,
        capacity,
        occ,
        rent,
        commute,
        service,
        green,
        mix,
        income,
        coefs,
        base_rate,
        dissatisfaction_rate,
        int(n_alt),
        rng,
    )
    return movers, int(moved), int(unhoused)
