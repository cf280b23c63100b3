"""The model's view of the surfaces: metro links, commute minutes, distances, neighbourhoods.

A thin layer over :mod:`metrosim.surfaces` (the kernels: Dijkstra with a bucket queue,
gravity accessibility, distance transforms, window sums) in the units the model uses:

* :func:`commute_minutes`: generalised travel time to jobs, the logsum of a gravity
  accessibility (Hansen 1959; Ben-Akiva & Lerman 1985) between blocks of cells.
* :func:`distance_km`: Euclidean distance to the nearest cell of a mask (services, footprint);
  :class:`DistanceField` keeps it up to date for a mask that grows from year to year.
* :func:`box_sum`: sums over square neighbourhoods, for the income mix of neighbourhoods
  (Schelling 1971) and green space per person.

References
----------
Ben-Akiva, M., & Lerman, S. R. (1985). *Discrete Choice Analysis*. MIT Press.
Dijkstra, E. W. (1959). A note on two problems in connexion with graphs. *Numerische
Mathematik* 1, 269-271. doi:10.1007/BF01386390
Hansen, W. G. (1959). How accessibility shapes land use. *Journal of the American Institute of
Planners* 25(2), 73-76. doi:10.1080/01944365908978307
"""

from __future__ import annotations

import functools

import numpy as np

from metrosim import _diskcache, surfaces
from metrosim._kernels.spatial import _ROW_WORK, distance_transform_add, distance_transform_state

__all__ = [
    "Network",
    "metro_links",
    "commute_minutes",
    "distance_km",
    "DistanceField",
    "box_sum",
    "travel_minutes",
]


class Network:
    """Extra directed links between cells (metro rides), in compressed row form.

    Parameters
    ----------
    n_cells : int
        Number of cells of the grid the links join.
    src, dst : ndarray of int64
        Cells each link leaves from and arrives at.
    minutes : ndarray of float64
        Travel time of each link.
    """

    def __init__(self, n_cells: int, src: np.ndarray, dst: np.ndarray, minutes: np.ndarray):
        src = np.asarray(src, dtype=np.int64)
        dst = np.asarray(dst, dtype=np.int64)
        minutes = np.asarray(minutes, dtype=np.float64)
        if not (src.shape == dst.shape == minutes.shape):
            raise ValueError("Network: src, dst and minutes must have the same length")
        if src.size and (src.min() < 0 or dst.min() < 0 or max(src.max(), dst.max()) >= n_cells):
            raise ValueError(f"Network: a link cell is outside 0..{n_cells - 1}")
        if (minutes < 0).any() or not np.isfinite(minutes).all():
            raise ValueError("Network: link minutes must be finite and non-negative")
        order = np.lexsort((dst, src))
        self.n_cells = n_cells
        self.src, self.dst, self.minutes = src[order], dst[order], minutes[order]

    @functools.cached_property
    def ptr(self) -> np.ndarray:
        """Row pointers: the links leaving cell ``i`` are ``ptr[i]:ptr[i + 1]`` (int64).

        Made on first use (the model's kernels take the links as arrays): at 100 m cells
        it is an array of 2.7 M entries.
        """
        ptr = np.zeros(self.n_cells + 1, dtype=np.int64)
        np.cumsum(np.bincount(self.src, minlength=self.n_cells), out=ptr[1:])
        return ptr

    @classmethod
    def empty(cls, n_cells: int) -> Network:
        """A network with no links."""
        z = np.zeros(0, dtype=np.int64)
        return cls(n_cells, z, z, np.zeros(0))


def metro_links(
    station_cell: np.ndarray,
    lines: list[np.ndarray],
    cumulative_km: list[np.ndarray],
    *,
    speed_kmh: float,
    boarding_min: float,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Links between every pair of stations of a line: boarding time plus the ride.

    A transfer costs a second boarding, since it leaves one line's links and takes another's.
    """
    src, dst, mins = [], [], []
    for seq, km in zip(lines, cumulative_km, strict=True):
        cells = station_cell[seq]
        ride = np.abs(km[:, None] - km[None, :]) / speed_kmh * 60.0 + boarding_min
        a, b = np.nonzero(~np.eye(len(seq), dtype=bool))
        keep = (cells[a] >= 0) & (cells[b] >= 0) & (cells[a] != cells[b])
        src.append(cells[a][keep])
        dst.append(cells[b][keep])
        mins.append(ride[a, b][keep])
    if not src:
        z = np.zeros(0, dtype=np.int64)
        return z, z, np.zeros(0)
    return np.concatenate(src), np.concatenate(dst), np.concatenate(mins)


def travel_minutes(
    minutes_per_cell: np.ndarray, sources: np.ndarray, network: Network | None = None
) -> np.ndarray:
    """Minutes from the nearest source cell to every cell (multi-source Dijkstra).

    Parameters
    ----------
    minutes_per_cell : ndarray, (ny, nx)
        Minutes to cross a cell side; ``inf`` for impassable cells.
    sources : ndarray of int
        Flat indices of the source cells.
    network : Network, optional
        Extra links (e.g. metro rides).

    Examples
    --------
    >>> m = np.ones((1, 4))
    >>> travel_minutes(m, np.array([0])).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    """
    return surfaces.travel_time(
        _speed_kmh(minutes_per_cell, 1000.0),
        1000.0,
        np.asarray(sources, dtype=np.int64),
        links=_links(network),
    )


def _speed_kmh(minutes_per_cell: np.ndarray, cell_size_m: float) -> np.ndarray:
    with np.errstate(divide="ignore"):
        speed = cell_size_m / 1000.0 / (np.asarray(minutes_per_cell, dtype=np.float64) / 60.0)
    return np.where(np.isfinite(minutes_per_cell), speed, 0.0)


def _links(network: Network | None):
    if network is None or network.src.size == 0:
        return None
    return (network.src, network.dst, network.minutes)


def commute_minutes(
    speed_kmh: np.ndarray,
    cell_size_m: float,
    jobs: np.ndarray,
    network: Network,
    *,
    block: int,
    beta: float,
    disk_cache: bool = False,
) -> np.ndarray:
    """Generalised minutes to jobs: ``-ln(A_i / J) / beta``, ``A_i = sum_j J_j e^{-beta t_ij}``.

    Computed between blocks of ``block`` x ``block`` cells by
    :func:`metrosim.surfaces.job_accessibility` and given to every cell of a block. Equals the
    travel time to the jobs when they are all in one block.

    Parameters
    ----------
    speed_kmh : ndarray, (ny, nx)
        Travel speed of each cell; 0 = impassable.
    cell_size_m : float
    jobs : ndarray, (ny, nx)
    network : Network
        Links between fine cells (metro rides).
    block : int
        Block side in cells (>= 1).
    beta : float
        Decay per minute (> 0).
    disk_cache : bool
        Keep the result in the disk cache (:mod:`metrosim._diskcache`), keyed by every
        argument; for inputs that recur from run to run (a model's initial state), not for
        those of a run's later years.

    Returns
    -------
    ndarray, (ny, nx)
        Minutes; ``inf`` where no job is reachable.
    """
    links = _links(network)

    def compute() -> dict[str, np.ndarray]:
        _, minutes = surfaces._job_accessibility(
            speed_kmh, cell_size_m, jobs, block, beta, links, with_access=False
        )
        return {"minutes": minutes}

    if not disk_cache:
        return compute()["minutes"]
    key = (np.asarray(speed_kmh), cell_size_m, np.asarray(jobs), links, block, beta)
    return _diskcache.cached_arrays("commute", key, compute)["minutes"]


def distance_km(mask: np.ndarray, cell_size_m: float) -> np.ndarray:
    """Euclidean km from each cell centre to the nearest True cell (``inf`` if none).

    The values of ``surfaces.distance_to_nearest(mask, cell_size_m) / 1000.0``, divided in
    the transform's own pass.
    """
    return surfaces._distance_to_nearest(mask, cell_size_m, 1000.0)


class DistanceField:
    """:func:`distance_km` of a mask that changes from call to call, mostly by gaining cells.

    ``field(mask)`` returns the values of ``distance_km(mask, cell_size_m)``, bit for bit, as
    a read-only array. The first call and a call after the mask lost a cell or changed
    shape run the full transform (Felzenszwalb & Huttenlocher 2012) and keep each cell's
    winning column; other calls lower only the cells nearer to a new cell than to the old
    ones (or as near, at a smaller column), with
    :func:`metrosim._kernels.spatial.distance_transform_add` (after Lau, Sprunk & Burgard
    2010), unless that work passes ``work_per_cell`` times the grid's cells (then the full
    transform again; the update's cost per unit of work, about 3.5 ns, and the transform's
    per cell, about 6 ns on one core and half on two, were measured on the model's grids).
    A call with the same mask returns the previous array itself. The state is the last mask
    (1 byte a cell), the winning columns (uint16, 2 bytes a cell) and the last output (the
    array the caller got, 8 bytes a cell).

    Parameters
    ----------
    cell_size_m : float
        Cell side in metres (> 0).
    in_place : bool, default False
        Update the last output in place instead of a copy of it: for a caller that is done
        with each result before the next call (the copy is 8 bytes a cell each call).

    References
    ----------
    Felzenszwalb, P. F. & Huttenlocher, D. P. (2012). Distance transforms of sampled
    functions. *Theory of Computing* 8, 415-428. doi:10.4086/toc.2012.v008a019
    Lau, B., Sprunk, C. & Burgard, W. (2010). Improved updating of Euclidean distance maps
    and Voronoi diagrams. *IEEE/RSJ International Conference on Intelligent Robots and
    Systems (IROS)*, 281-286.

    Examples
    --------
    >>> field = DistanceField(1000.0)
    >>> mask = np.zeros((1, 4), dtype=bool)
    >>> mask[0, 0] = True
    >>> field(mask).tolist()
    [[0.0, 1.0, 2.0, 3.0]]
    >>> mask[0, 3] = True
    >>> field(mask).tolist()
    [[0.0, 1.0, 1.0, 0.0]]
    """

    #: work of an update (cells of its runs, 16 per row searched) per cell of the grid
    #: beyond which the full transform is run instead: about where the two cost the same
    work_per_cell = 1.0

    def __init__(self, cell_size_m: float, *, in_place: bool = False):
        self.cell_size_m = surfaces._real_scalar(
            "DistanceField", "cell_size_m", cell_size_m, positive=True
        )
        self.in_place = bool(in_place)
        #: how many calls ran the full transform
        self.full_transforms = 0
        self._reset()

    def __setstate__(self, state: dict) -> None:
        """Unpickled or deep-copied state: the arrays are the copy's own, the output read-only.

        Arrays of protocol 5's out-of-band buffers are the original's memory, others may be
        backed by the pickle's bytes; pickling and deep copies make arrays writeable.
        """
        for key in ("_mask", "_q", "_out"):
            a = state.get(key)
            if a is not None and a.base is not None:
                state[key] = a.copy()
        self.__dict__.update(state)
        if self._out is not None:
            _read_only(self._out)

    def _reset(self) -> None:
        self._mask: np.ndarray | None = None
        self._out: np.ndarray | None = None
        self._q: np.ndarray | None = None

    @staticmethod
    def _incremental(shape: tuple[int, int], cell: float) -> bool:
        """Whether the update is exact on this grid.

        It needs the integer envelope of the full transform, columns in uint16, squared
        distances below 2^31 (read back from the output) and cell sizes whose squares are
        normal doubles.
        """
        ny, nx = shape
        m = float(max(nx - 1, 1))
        exact = 2.0 * m * m * (float(ny - 1) ** 2 + m * m) < 2.0**52
        return (
            exact
            and nx <= 65535
            and (ny - 1) ** 2 + (nx - 1) ** 2 < 2**31
            and 1e-100 < cell / 1000.0 < 1e100
        )

    def __call__(self, mask: np.ndarray) -> np.ndarray:
        """Km from each cell to the nearest True cell of ``mask`` (2-D bool), read-only."""
        m = surfaces._array("DistanceField", "mask", mask, kinds="b", ndims=(2,))
        cell = self.cell_size_m
        if not self._incremental(m.shape, cell) or not m.any():
            self._reset()
            return _read_only(distance_km(m, cell))
        if self._mask is None or self._mask.shape != m.shape:
            return self._full(m)
        changed = np.flatnonzero(m != self._mask)
        if changed.size == 0:
            return self._out
        prev = self._mask.reshape(-1)
        budget = min(self.work_per_cell * m.size, 2.0**62)
        if prev[changed].any() or changed.size * _ROW_WORK > budget:
            return self._full(m)
        if self.in_place:
            out = self._out
            out.flags.writeable = True
        else:
            out = self._out.copy()
        if distance_transform_add(changed, cell, 1000.0, out, self._q, int(budget)) < changed.size:
            return self._full(m)
        prev[changed] = True
        self._out = _read_only(out)
        return self._out

    def _full(self, m: np.ndarray) -> np.ndarray:
        """The full transform of a non-empty mask, keeping the state.

        The same buffers are used again when the shape is the same (long-lived arrays are
        not reallocated mid-run).
        """
        self.full_transforms += 1
        out = self._out
        if self._mask is None or self._mask.shape != m.shape:
            self._mask = np.empty(m.shape, dtype=bool)
            self._q = np.empty(m.shape, dtype=np.uint16)
            out = None
        if out is None or not self.in_place:
            out = np.empty(m.shape)
        else:
            out.flags.writeable = True
        np.copyto(self._mask, m)
        distance_transform_state(self._mask, self.cell_size_m, 1000.0, out, self._q)
        self._out = _read_only(out)
        return self._out


def _read_only(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def box_sum(values: np.ndarray, radius: int) -> np.ndarray:
    """Sum over the (2r+1) x (2r+1) window around each cell (zero outside the grid).

    Examples
    --------
    >>> box_sum(np.ones((3, 3), dtype=np.int64), 1).tolist()
    [[4, 6, 4], [6, 9, 6], [4, 6, 4]]
    """
    if radius < 0:
        raise ValueError(f"box_sum: radius = {radius}; allowed: 0 or more")
    return surfaces.neighbourhood_sum(np.asarray(values), radius)
