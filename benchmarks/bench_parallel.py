"""Parallel kernels: same bits with 1 and 2 numba threads, and the speed-up.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_parallel [--scale 10] [--repeats 3]

Captures the arguments of the model's own call of the parallel travel kernel
``metrosim._kernels.surfaces.gravity_logsum`` (one Dijkstra per job block in a ``prange``, then
a ``prange`` reduction over cells; called by ``metrosim.surfaces.job_accessibility`` for the
commute when a ``MetroModel`` is built; it replaced ``_kernels/travel.py``), saves them, then
runs the kernel on them in fresh processes with ``NUMBA_NUM_THREADS=1`` and ``=2`` and compares
the SHA-256 of the results (bit-identical is the target) and the best of ``--repeats`` times
(target: at least 1.6x on 2 cores).

Prints figures; never used as a timed test.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from benchmarks.common import machine


def capture(scale: int, path: Path) -> None:
    """Save the arguments of the model's first gravity_logsum call to ``path`` (npz)."""
    import metrosim.surfaces as surfaces
    from metrosim import MetroModel, Scenario

    seen = []
    original = surfaces.gravity_logsum

    def spy(*args):
        seen.append(args)
        return original(*args)

    surfaces.gravity_logsum = spy
    before = os.environ.get("METROSIM_DISK_CACHE")
    os.environ["METROSIM_DISK_CACHE"] = "0"  # the initial commute surface is disk-cached
    try:
        MetroModel(Scenario(scale=scale), rng=1)
    finally:
        surfaces.gravity_logsum = original
        if before is None:
            del os.environ["METROSIM_DISK_CACHE"]
        else:
            os.environ["METROSIM_DISK_CACHE"] = before
    if not seen:
        raise RuntimeError("MetroModel did not call gravity_logsum")
    np.savez(path, *[np.asarray(v) for v in seen[0]])


def worker(path: str, repeats: int) -> None:
    from metrosim._kernels.surfaces import gravity_logsum

    z = np.load(path)
    args = [z[f"arr_{i}"] for i in range(len(z.files))]
    args = [a.item() if a.ndim == 0 else a for a in args]  # scalars back to Python numbers

    def run():
        r = gravity_logsum(*args)
        return b"".join(np.ascontiguousarray(v).tobytes() for v in np.atleast_1d(*r))

    t0 = time.perf_counter()
    out = run()
    first = time.perf_counter() - t0
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        again = run()
        best = min(best, time.perf_counter() - t0)
        if again != out:
            raise AssertionError("gravity_logsum differs between two calls in one process")
    import numba

    print(
        "RESULT "
        + json.dumps(
            {
                "sha": hashlib.sha256(out).hexdigest(),
                "first": first,
                "best": best,
                "threads": numba.get_num_threads(),
                "sources": int(args[2].size),
                "cells": int(args[0].size),
            }
        )
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--worker", help=argparse.SUPPRESS)
    a = p.parse_args()
    if a.worker:
        worker(a.worker, a.repeats)
        return
    print(machine())
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "gravity_args.npz"
        capture(a.scale, path)
        results = {}
        for threads in (1, 2, 1, 2):  # interleaved, so that a change of load hits both
            env = dict(os.environ, NUMBA_NUM_THREADS=str(threads))
            out = subprocess.run(
                [sys.executable, "-m", "benchmarks.bench_parallel", "--worker", str(path)]
                + ["--repeats", str(a.repeats)],
                env=env,
                capture_output=True,
                text=True,
                check=True,
            ).stdout
            r = json.loads(next(ln for ln in out.splitlines() if ln.startswith("RESULT "))[7:])
            prev = results.get(threads)
            if prev is not None:
                if prev["sha"] != r["sha"]:
                    raise AssertionError(f"{threads} threads: results differ between processes")
                r["best"] = min(r["best"], prev["best"])
            results[threads] = r
    one, two = results[1], results[2]
    print(
        f"surfaces.gravity_logsum, scale {a.scale}: {one['sources']} job blocks x "
        f"{one['cells']:,} padded blocks (the model's commute call)"
    )
    for t, r in sorted(results.items()):
        print(f"  NUMBA_NUM_THREADS={t} (numba reports {r['threads']}): best {r['best']:.3f} s, "
              f"first call {r['first']:.3f} s, sha256 {r['sha'][:16]}")  # fmt: skip
    same = one["sha"] == two["sha"]
    speedup = one["best"] / two["best"]
    print(f"bit-identical with 1 and 2 threads: {'yes' if same else 'NO'}")
    print(f"speed-up on 2 threads: {speedup:.2f}x (target >= 1.6x:",
          "met)" if speedup >= 1.6 else "NOT met)")  # fmt: skip
    print("at the end:", machine())


if __name__ == "__main__":
    main()
