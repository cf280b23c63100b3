"""The parallel kernels give the same bits with any numba thread count.

The window kernels and the commute draws split their rows (households) into a fixed number of
blocks, and the row kernels compute each row alone, so no result can depend on how many
threads run them, nor on grids with fewer rows than blocks or fewer rows than threads. The
``same_bits_with_1_and_2_threads`` fixture compares 1 and 2 threads (and only 1 on a one-core
machine); here a fresh process starts 9 numba threads (more than the 8 blocks, whatever the
machine's cores) and runs each kernel on edge sizes with 1, 2, 3, 8 and 9 of them.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

_SCRIPT = textwrap.dedent(
    """
    import hashlib, json
    import numba, numpy as np
    from metrosim._kernels import travel_modes as tm
    from metrosim._kernels.market import hedonic_features
    from metrosim._kernels.spatial import (
        coverage_window_sums, row_totals, service_and_green_ratio, vacancy_rates,
        window_shares, window_sums,
    )

    def grids(rng):
        k = 3
        small = [(1, 0), (2, 1), (5, 3), (4, 12)]
        sizes = [(ny, nx, r) for ny in (1, 2, 3, 7, 8, 9, 17) for nx, r in small]
        for ny, nx, r in sizes + [(300, 400, 3)]:  # and one where the blocks overlap in time
            a = rng.integers(0, 9, (ny, nx * k)).astype(np.int32)
            hh = rng.integers(0, 5, ny * nx).astype(np.int32)
            cap = hh + rng.integers(0, 3, ny * nx).astype(np.int32)
            km = rng.exponential(1.0, ny * nx)
            tot, sh = np.empty(ny * nx, dtype=np.int64), np.empty((ny * nx, k))
            yield window_sums(a, r, k)
            yield from window_shares(a, r, k, tot, sh)
            yield from coverage_window_sums(hh, km, 1000.0, ny, nx, r)
            yield vacancy_rates(cap, hh, ny, nx, r, 0.05)
            yield from service_and_green_ratio(
                km, km * 2, km * 3, hh, km, np.array([3.1, 10.0]), 31.0
            )

    def rows(rng):
        for n in (0, 1, 7, 8, 9, 100, 100_000):
            yield row_totals(rng.integers(-5, 9, (n, 5)).astype(np.int32))
            yield row_totals(rng.integers(-5, 9, (n, 2)).astype(np.int64))
            mix, f = rng.random((50, 5)), rng.random((3, 50))
            yield hedonic_features(rng.integers(0, 50, n), *f, mix, 0, 4, np.empty((n, 5)))
            indptr = np.r_[0, np.cumsum(rng.integers(0, 6, n))].astype(np.int64)
            indices = rng.integers(0, 20, indptr[-1]).astype(np.int64)
            data, x, x0 = rng.random(indptr[-1]), rng.random(20), rng.random(20)
            yield tm.row_dot(indptr, indices, data, rng.integers(0, max(n, 1), n), x)
            yield from tm.row_dots(indptr, indices, data, x, x0)

    def commutes(rng):
        n_units, n_zones, k, g = 6, 4, 3, 5
        for n in (0, 1, 7, 8, 9, 1000, 100_000):
            out = [np.empty(n, dtype=np.int8), np.empty(n), np.empty(n)]
            out += [np.zeros(n_zones * k), np.zeros(g, dtype=np.int64)]
            unit_of_cell = rng.permutation(np.r_[np.arange(n_units), np.full(n_units, -1)])
            tm.household_commutes(
                rng.integers(-1, 2 * n_units, n).astype(np.int32),
                rng.integers(0, g, n).astype(np.int8),
                unit_of_cell.astype(np.int32),
                rng.random(n),
                0.6,
                rng.dirichlet(np.ones(k), n_units),
                rng.dirichlet(np.ones(3), size=(n_units, k, g)),
                rng.gamma(2.0, 15.0, (n_units, k, 3)),
                rng.gamma(2.0, 4.0, (n_units, k)),
                rng.integers(0, n_zones, n_units),
                *out,
            )
            assert out[4].sum() == n and out[3].sum() == (out[0] == 0).sum()
            yield from out

    digests = {}
    for threads in (1, 2, 3, 8, 9):
        numba.set_num_threads(threads)
        assert numba.get_num_threads() == threads
        rng = np.random.default_rng(5)
        d = {}
        for name, kernels in (("grids", grids), ("rows", rows), ("commutes", commutes)):
            h = hashlib.sha256()
            for n_out, arr in enumerate(kernels(rng)):
                h.update(np.ascontiguousarray(arr).view(np.uint8).tobytes())
            d[name] = [h.hexdigest(), n_out + 1]
        digests[threads] = d
    print(json.dumps(digests))
    """
)


def test_parallel_kernels_same_bits_with_any_thread_count():
    env = dict(os.environ, NUMBA_NUM_THREADS="9")
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT], env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, out.stderr
    digests = json.loads(out.stdout)
    assert sorted(digests, key=int) == ["1", "2", "3", "8", "9"]
    one = digests["1"]
    # every output of every kernel was hashed: 29 grids x 8 outputs, 7 sizes x 7, 7 x 5
    assert {name: n for name, (_, n) in one.items()} == {"grids": 232, "rows": 49, "commutes": 35}
    for threads, d in digests.items():
        assert d == one, f"{threads} threads"
