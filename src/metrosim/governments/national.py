"""A national master plan: a greenbelt around the city and limited municipal say over zoning.

The Seoul model of metropolitan planning (Kim & Choe 1997; Bae & Jun 2003): the national
government drew the Capital Region's plan and in 1971 designated a Development Restriction Zone
(the greenbelt), a ring of land up to about 10 km wide, some 15 km from the centre of Seoul,
where building was forbidden (Bengston & Youn 2006), enforced by the central government rather
than by the local authorities. The belt held the city's edge for decades; growth leapt over it
to satellite cities and, from 1989, to the national government's new towns beyond it (Bae & Jun
2003).

Pure functions over per-cell arrays; :class:`metrosim.model.MetroModel` calls them.

References
----------
Bae, C.-H. C., & Jun, M.-J. (2003). Counterfactual planning: what if there had been no
greenbelt in Seoul? *Journal of Planning Education and Research* 22(4), 374-383.
doi:10.1177/0739456X03022004004
Bengston, D. N., & Youn, Y.-C. (2006). Urban containment policies and the protection of natural
areas: the case of Seoul's greenbelt. *Ecology and Society* 11(1), 3.
Kim, J., & Choe, S.-C. (1997). *Seoul: The Making of a Metropolis*. Chichester: Wiley.
"""

from __future__ import annotations

import numpy as np

from metrosim.accessibility import distance_km

__all__ = ["greenbelt_cells", "zoning_in_force"]


def greenbelt_cells(
    inside_line: np.ndarray,
    in_region: np.ndarray,
    urban: np.ndarray,
    *,
    width_km: float,
    cell_size_m: float,
) -> np.ndarray:
    """Cells of a greenbelt: the ring of non-urban land within ``width_km`` outside a line.

    Parameters
    ----------
    inside_line : ndarray of bool, 2-D (grid shape)
        Cells inside the plan's line (the growth boundary; the belt starts just outside it).
    in_region : ndarray of bool, 2-D
        Cells inside the region (the belt ends at the region's border).
    urban : ndarray of bool, 2-D
        Land already urban, which stays as it is (Seoul's belt kept existing villages).
    width_km : float
        Width of the ring, >= 0 (Seoul's Development Restriction Zone: up to about 10 km).
    cell_size_m : float
        Side of a cell.

    Returns
    -------
    ndarray of bool, flat (n_cells,)
        True on the greenbelt; all False when ``width_km`` is 0 or the line is empty.

    Examples
    --------
    >>> line = np.zeros((1, 7), dtype=bool); line[0, :2] = True
    >>> greenbelt_cells(line, np.ones((1, 7), bool), line, width_km=2.0,
    ...                 cell_size_m=1000.0).astype(int).tolist()
    [0, 0, 1, 1, 0, 0, 0]
    """
    if width_km <= 0 or not inside_line.any():
        return np.zeros(inside_line.size, dtype=bool)
    d = distance_km(inside_line, cell_size_m)
    ring = ~inside_line & (d <= width_km + 1e-9) & in_region & ~urban
    return ring.ravel()


def zoning_in_force(own_cap: np.ndarray, standard: float, say: float) -> np.ndarray:
    """The density cap in force when communes have only a partial say over their zoning.

    Under a national master plan density is set centrally (a national standard) and local
    governments adjust it within limits (Kim & Choe 1997 on Seoul's centrally set land-use
    plans). The cap in force is the geometric blend ``standard ** (1 - say) * own_cap ** say``:
    ``say = 1`` is full municipal control (today's Chilean rule, the commune's own cap), ``say =
    0`` the national standard everywhere, whatever the commune would choose.

    Examples
    --------
    >>> zoning_in_force(np.array([40.0, 160.0]), 80.0, 0.5).round(3).tolist()
    [56.569, 113.137]
    """
    if say >= 1.0:
        return np.asarray(own_cap, dtype=np.float64).copy()
    own = np.maximum(np.asarray(own_cap, dtype=np.float64), 1e-9)
    return np.exp((1.0 - say) * np.log(max(standard, 1e-9)) + say * np.log(own))
