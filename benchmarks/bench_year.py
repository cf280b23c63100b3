"""Seconds per simulated year by phase, peak memory and bytes per household and cell.

Usage: .venv/bin/python benchmarks/bench_year.py [--scale 10] [--cell-size 250] [--years 5]
    [--json PATH]

``--json`` also writes the figures to PATH (``benchmarks/plot_scaling.py`` reads them).
The numba thread count is printed: set ``NUMBA_NUM_THREADS=1`` (and ``OPENBLAS_NUM_THREADS=1``)
for one-core figures; only the commute surface and the distance transform run in parallel.

Prints figures; never used as a timed test. The first year includes numba compilation unless
the cache is warm, so it is reported apart.
"""

import argparse
import json
import os
import resource
import time

import numba
import numpy as np

from metrosim import MetroModel, Scenario


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--cell-size", type=float, default=250.0)
    p.add_argument("--years", type=int, default=5)
    p.add_argument("--json", default=None, help="also write the figures to this file")
    a = p.parse_args()
    t0 = time.perf_counter()
    m = MetroModel(Scenario(scale=a.scale, cell_size_m=a.cell_size), rng=1)
    t_init = time.perf_counter() - t0
    t1 = time.perf_counter()
    m.step()
    first = time.perf_counter() - t1
    m.timings.clear()
    t2 = time.perf_counter()
    for _ in range(a.years):
        m.step()
    per_year = (time.perf_counter() - t2) / a.years
    n_hh = len(m.households)
    n_cells = m.grid.commune.size
    land_bytes = sum(v.nbytes for v in vars(m.land).values() if isinstance(v, np.ndarray))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(
        f"scale {a.scale}, {a.cell_size:g} m cells: {n_hh:,} households, {n_cells:,} cells; "
        f"numba threads {numba.get_num_threads()} ({numba.threading_layer()}, "
        f"OMP_WAIT_POLICY={os.environ.get('OMP_WAIT_POLICY', 'unset')})"
    )
    print(f"init {t_init:.2f} s; first year (incl. any compilation) {first:.2f} s")
    print(f"per year over {a.years} years: {per_year * 1000:.0f} ms")
    for phase, sec in sorted(m.timings.items(), key=lambda kv: -kv[1]):
        print(f"  {phase:<12} {sec / a.years * 1000:8.1f} ms/year")
    print(
        f"peak RSS {peak_mb:.0f} MB; "
        f"household store {m.households.nbytes() / n_hh:.1f} B/household;"
        f" land state {land_bytes / n_cells:.1f} B/cell"
    )
    if a.json:
        record = {
            "scale": a.scale,
            "cell_size_m": a.cell_size,
            "households": n_hh,
            "cells": n_cells,
            "numba_threads": numba.get_num_threads(),
            "init_s": t_init,
            "first_year_s": first,
            "per_year_s": per_year,
            "phases_s": {k: v / a.years for k, v in m.timings.items()},
            "peak_rss_mb": peak_mb,
            "bytes_per_household": m.households.nbytes() / n_hh,
            "land_bytes_per_cell": land_bytes / n_cells,
        }
        with open(a.json, "w") as f:
            json.dump(record, f, indent=1)


if __name__ == "__main__":
    main()
