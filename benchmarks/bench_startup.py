"""Time from a fresh process to its first simulated year, with the numba cache warm.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_startup [--runs 3] [--scale 10] [--cell-size 250]

Starts ``--runs + 1`` fresh Python processes one after the other; each imports metrosim, builds
``MetroModel(Scenario(scale, cell_size_m), rng=1)`` and runs one ``step()``. The first run only
warms the caches (it compiles whatever is missing and fills the disk cache of the deterministic
start-up inputs, :mod:`metrosim._diskcache`). With ``NUMBA_DEBUG_CACHE=1`` numba reports
every cache load and save, so the number of kernels *compiled* in a warm run is counted too (it
should be 0: ``cache=True`` everywhere and no recompilation between runs of a sweep).

"first step" is the time from starting the process to the end of its first ``step()``
(interpreter start-up included); "exit" is what the process takes after that to shut down
(Python's final garbage collection over every object of numba, pandas, scipy, ... and the
release of memory), which is not part of reaching the first step; "wall" is their sum.
Target: at most 3 s to the first step.

Prints figures; never used as a timed test.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time

from benchmarks.common import machine

CHILD = """
import json, time
t0 = time.perf_counter()
from metrosim import MetroModel, Scenario
t1 = time.perf_counter()
m = MetroModel(Scenario(scale={scale}, cell_size_m={cell}), rng=1)
t2 = time.perf_counter()
m.step()
t3 = time.perf_counter()
done = time.time()
print("RESULT " + json.dumps({{"import": t1 - t0, "init": t2 - t1, "step": t3 - t2, "done": done}}))
"""


def run_once(scale: int, cell: float) -> dict:
    env = dict(os.environ, NUMBA_DEBUG_CACHE="1")
    start = time.time()
    t0 = time.perf_counter()
    out = subprocess.run(
        [sys.executable, "-c", CHILD.format(scale=scale, cell=cell)],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    wall = time.perf_counter() - t0
    lines = out.splitlines()
    result = json.loads(next(ln for ln in lines if ln.startswith("RESULT "))[7:])
    result["wall"] = wall
    result["first"] = result.pop("done") - start
    result["exit"] = wall - result["first"]
    result["compiled"] = sum("data saved" in ln for ln in lines)
    result["loaded"] = sum("data loaded" in ln for ln in lines)
    return result


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--runs", type=int, default=3)
    p.add_argument("--scale", type=int, default=10)
    p.add_argument("--cell-size", type=float, default=250.0)
    a = p.parse_args()
    print(machine())
    print(f"scale {a.scale}, {a.cell_size:g} m cells")
    print(
        f"{'run':<10} {'first':>7} {'import':>7} {'init':>7} {'step 1':>7} {'exit':>6} "
        f"{'wall':>6} {'compiled':>9}"
    )
    firsts = []
    for i in range(a.runs + 1):
        r = run_once(a.scale, a.cell_size)
        name = "warm-up" if i == 0 else f"warm {i}"
        print(
            f"{name:<10} {r['first']:>7.2f} {r['import']:>7.2f} {r['init']:>7.2f} "
            f"{r['step']:>7.2f} {r['exit']:>6.2f} {r['wall']:>6.2f} {r['compiled']:>9} "
            f"(cache loads {r['loaded']})"
        )
        if i > 0:
            firsts.append(r["first"])
    best = min(firsts)
    print(f"target: first step within 3 s of a fresh start (warm cache): best {best:.2f} s,",
          "met" if best <= 3.0 else "NOT met")  # fmt: skip
    print("at the end:", machine())


if __name__ == "__main__":
    main()
