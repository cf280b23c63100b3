"""Household moves: who moves, and where to, by a sampled multinomial logit (numba kernels).

Each year a share of households moves: a base mobility rate plus dissatisfaction, the gap
between the utility of the current dwelling and the expected best utility of the market for the
household's income group (the stress-threshold idea of Brown & Moore 1970; Clark & Onaka 1983).
The expected best utility is ``ln(mean(exp(V)))`` over the affordable dwellings among
``n_alternatives`` draws. Households without a dwelling always search. Movers, in an order
drawn from the model's generator, sample ``n_alternatives`` vacant dwellings (uniformly
among vacant dwellings, kept in a list with one entry per dwelling, Knuth 1997; sampling
of alternatives, McFadden 1978),
drop those whose rent exceeds ``max_rent_share`` of their income (Alonso 1964 bid rent;
affordability), and choose among them and their current dwelling by a multinomial logit over

``V = b_rent * rent/income + b_commute * minutes + b_service * km + b_green * green
+ b_homophily * (share of own income group in the neighbourhood)``

where the last term is Schelling's (1971) homophily. Capacity is never exceeded and households
are conserved (tested).

References
----------
Brown, L. A., & Moore, E. G. (1970). The intra-urban migration process: a perspective.
*Geografiska Annaler B* 52(1), 1-13. doi:10.2307/490436
Clark, W. A. V., & Onaka, J. L. (1983). Life cycle and housing adjustment as explanations of
residential mobility. *Urban Studies* 20(1), 47-57. doi:10.1080/713703176
Knuth, D. E. (1997). *The Art of Computer Programming, Vol. 2: Seminumerical Algorithms*, 3rd
ed., section 3.4.2. Addison-Wesley.
McFadden, D. (1978). Modelling the choice of residential location. In *Spatial Interaction
Theory and Planning Models*, 75-96. North-Holland.
Schelling, T. C. (1971). Dynamic models of segregation. *Journal of Mathematical Sociology*
1(2), 143-186. doi:10.1080/0022250X.1971.9989794
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from metrosim import choice

__all__ = ["CellAttributes", "ChoiceCoefficients", "move_households"]


@dataclass(frozen=True)
class ChoiceCoefficients:
    """Coefficients of the location-choice utility (see the module docstring)."""

    rent_share: float
    commute_per_min: float
    service_per_km: float
    green: float
    homophily: float
    max_rent_share: float

    def as_array(self) -> np.ndarray:
        """The coefficients in kernel order."""
        return np.array(
            [
                self.rent_share,
                self.commute_per_min,
                self.service_per_km,
                self.green,
                self.homophily,
                self.max_rent_share,
            ],
            dtype=np.float64,
        )


@dataclass(frozen=True)
class CellAttributes:
    """What a household sees of each cell (flat arrays over cells)."""

    rent: np.ndarray
    commute: np.ndarray
    service: np.ndarray
    green: np.ndarray
    mix: np.ndarray  # (n_cells, n_groups)


def move_households(
    hh_cell: np.ndarray,
    hh_group: np.ndarray,
    capacity: np.ndarray,
    occupancy: np.ndarray,
    cells: CellAttributes,
    incomes: np.ndarray,
    coefs: ChoiceCoefficients,
    *,
    base_rate: float,
    dissatisfaction_rate: float,
    n_alternatives: int,
    rng: np.random.Generator,
    check: bool = True,
) -> tuple[int, int, int]:
    """One year of moves; updates ``hh_cell`` and ``occupancy`` in place.

    Calls :func:`metrosim.choice.move_year` (selection, then relocation of the movers, on
    tables built once; kernels in ``metrosim._kernels.choice``);
    with ``check`` (default) bad input raises ``ValueError`` naming the argument; the model
    passes ``check=False`` for its own arrays, whose invariants it keeps (and tests).

    Returns
    -------
    (movers, moved, unhoused)
        Households that searched, that changed dwelling, and that are left without one.
    """
    coef = coefs.as_array()
    args = (
        hh_cell,
        hh_group,
        capacity,
        occupancy,
        cells.rent,
        cells.commute,
        cells.service,
        cells.green,
        cells.mix,
        np.asarray(incomes, dtype=np.float64),
        coef,
    )
    movers, moved, unhoused = choice.move_year(
        *args, float(base_rate), float(dissatisfaction_rate), int(n_alternatives), rng, check=check
    )
    return int(movers.size), moved, unhoused
