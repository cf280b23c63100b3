"""The model's yearly distance fields: a full transform on every call against DistanceField.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_distance_fields [--scale 10] [--cell-size 250]
        [--years 6] [--repeats 5]
    NUMBA_NUM_THREADS=1 .venv/bin/python -m benchmarks.bench_distance_fields --scale 1 \\
        --cell-size 100 --years 4 --repeats 3

Runs the model (fragmented defaults, seed 1) and records the mask of every call of its
distance fields (``MetroModel._distance``: schools, clinics, parks, and the urban footprint
in ``_ministries`` and ``_development``). Then, in this one process, replays the calls of
each field in order both ways, alternating which goes first, and keeps the best of
``--repeats`` per call: old, ``distance_km`` (the full transform of
``metrosim._kernels.spatial.distance_transform``) on every call; new, one
``DistanceField`` per field as the model holds them (``in_place``). Every
result is checked bit for bit against the other. Prints ms per year of the calls after the
first year (the first year and the model's start run the full transform either way).

Prints figures; never used as a timed test.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from benchmarks.common import machine


def record(scale: int, cell_size: float, years: int) -> list[tuple[str, np.ndarray]]:
    """(field, mask copy) of every distance-field call of a run, in order; the year's
    boundaries as ("year", empty) entries."""
    import metrosim.accessibility as acc
    from metrosim import MetroModel, Scenario

    calls: list[tuple[str, np.ndarray]] = []
    original = acc.DistanceField.__call__

    def spy(self, mask):
        calls.append((getattr(self, "label", "?"), np.array(mask, dtype=bool)))
        return original(self, mask)

    acc.DistanceField.__call__ = spy
    try:
        model = MetroModel(Scenario(scale=scale, cell_size_m=cell_size), rng=1)
        for name, field in model._distance.items():
            field.label = name
        calls.clear()  # the start: the first call of each field is a full transform
        for _ in range(years):
            calls.append(("year", np.zeros(0, dtype=bool)))
            model.step()
    finally:
        acc.DistanceField.__call__ = original
    return calls


def replay(calls, cell_size: float, repeats: int, in_place: set[str]):
    """Best seconds per call, old (full transform) and new (DistanceField)."""
    from metrosim.accessibility import DistanceField, distance_km

    idx = [i for i, (k, _) in enumerate(calls) if k != "year"]
    old = np.full(len(calls), np.inf)
    new = np.full(len(calls), np.inf)
    for r in range(repeats):
        fields = {}
        for i in idx:
            name, mask = calls[i]
            field = fields.get(name)
            if field is None:
                field = fields[name] = DistanceField(cell_size, in_place=name in in_place)
            t0 = time.perf_counter()
            if r % 2:
                a = distance_km(mask, cell_size)
                t1 = time.perf_counter()
                b = field(mask)
                t2 = time.perf_counter()
                old[i] = min(old[i], t1 - t0)
                new[i] = min(new[i], t2 - t1)
            else:
                b = field(mask)
                t1 = time.perf_counter()
                a = distance_km(mask, cell_size)
                t2 = time.perf_counter()
                new[i] = min(new[i], t1 - t0)
                old[i] = min(old[i], t2 - t1)
            if not np.array_equal(a.view(np.int64), b.view(np.int64)):
                raise AssertionError(f"call {i} ({name}): DistanceField differs from distance_km")
    return old, new


def main(argv=None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--cell-size", type=float, default=250.0)
    p.add_argument("--years", type=int, default=6)
    p.add_argument("--repeats", type=int, default=5)
    a = p.parse_args(argv)
    if a.years < 2:
        p.error(f"--years = {a.years}; allowed: 2 or more (the first year is not timed)")
    calls = record(a.scale, a.cell_size, a.years)
    old, new = replay(calls, a.cell_size, a.repeats, {"school", "clinic", "park", "urban"})
    starts = [i for i, (k, _) in enumerate(calls) if k == "year"]
    timed = range(starts[1], len(calls))  # after the first year
    years = a.years - 1
    print(f"scale {a.scale}, {a.cell_size:g} m cells; {machine()}")
    print(f"{years} years after the first, best of {a.repeats} per call; ms per year")
    print(f"{'field':8s} {'calls':>5s} {'old':>8s} {'new':>8s}")
    for name in ("school", "clinic", "park", "urban"):
        sel = [i for i in timed if calls[i][0] == name]
        print(
            f"{name:8s} {len(sel):5d} {old[sel].sum() / years * 1e3:8.2f}"
            f" {new[sel].sum() / years * 1e3:8.2f}"
        )
    sel = [i for i in timed if calls[i][0] != "year"]
    o = old[sel].sum() / years * 1e3
    n = new[sel].sum() / years * 1e3
    print(f"{'total':8s} {len(sel):5d} {o:8.2f} {n:8.2f}   saved {o - n:.2f} ms a year")
    first = [i for i in range(starts[1]) if calls[i][0] != "year"]
    print(
        f"first year ({len(first)} calls): old {old[first].sum() * 1e3:.2f} ms,"
        f" new {new[first].sum() * 1e3:.2f} ms"
    )


if __name__ == "__main__":
    main()
