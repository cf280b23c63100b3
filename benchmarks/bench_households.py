"""Household decisions per second: metrosim's kernel against the idiomatic Mesa peer.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.bench_households [--sizes 10000 100000 1000000 2000000]
        [--peer-max 100000] [--years 3] [--seed 0] [--prototype]

Both run on the same synthetic world (``benchmarks.common.make_world``), one after the other in
this process, on one core (the relocation kernels are serial). Each runs one untimed year
first (numba compilation or cache load; Mesa's neighbourhood caches), then ``--years`` timed
years. A *decision* is one household's yearly decision: whether to move and, for a mover,
where to (``households x years / seconds``); mover choices per second are printed too. The
"moves" column is the decision step alone (``move_households`` against the peer's
``RelocationModel.moves``: reference utilities plus ``agents.shuffle_do("step")``); the
neighbourhood mix that both recompute at the start of a year is timed apart. The peer runs
only up to ``--peer-max`` households. ``--prototype`` also times the vacancy-list prototype
(``benchmarks/prototypes/fast_moves.py``, not used by the model) on the same worlds.

Prints figures; never used as a timed test.
"""

from __future__ import annotations

import argparse
import time

from benchmarks.common import KernelRun, machine, make_world
from benchmarks.peers.mesa_relocation import RelocationModel
from benchmarks.prototypes.fast_moves import FastKernelRun


def _kernel(world, years: int, seed: int, cls=KernelRun) -> dict:
    run = cls(world, seed)
    run.year()  # untimed: numba cache load (or compilation)
    mix = moves = 0.0
    movers = 0
    for _ in range(years):
        t0 = time.perf_counter()
        run.update_mix()
        t1 = time.perf_counter()
        m, _, _ = run.moves()
        t2 = time.perf_counter()
        mix += t1 - t0
        moves += t2 - t1
        movers += m
    return {"init": 0.0, "mix": mix, "moves": moves, "movers": movers}


def _peer(world, years: int, seed: int) -> dict:
    t0 = time.perf_counter()
    model = RelocationModel(world, rng=seed)
    init = time.perf_counter() - t0
    model.step()  # untimed: builds Mesa's cached neighbourhoods
    mix = moves = 0.0
    movers = 0
    for _ in range(years):
        t0 = time.perf_counter()
        model.update_mix()
        t1 = time.perf_counter()
        m, _, _ = model.moves()
        t2 = time.perf_counter()
        mix += t1 - t0
        moves += t2 - t1
        movers += m
    return {"init": init, "mix": mix, "moves": moves, "movers": movers}


def _row(name: str, n: int, years: int, r: dict) -> float:
    rate = n * years / r["moves"]
    print(
        f"{name:<8} {n:>10,} {r['init']:>8.2f} {r['mix'] / years * 1e3:>10.1f} "
        f"{r['moves'] / years * 1e3:>11.1f} {rate:>14,.0f} {r['movers'] / r['moves']:>14,.0f}"
    )
    return rate


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000, 2_000_000])
    p.add_argument("--peer-max", type=int, default=100_000)
    p.add_argument("--years", type=int, default=3)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--prototype", action="store_true", help="also time benchmarks/prototypes/fast_moves.py"
    )
    a = p.parse_args()
    # compile / load the kernels on a small world so that no size pays for it
    KernelRun(make_world(2_000, seed=a.seed), a.seed).year()
    if a.prototype:
        FastKernelRun(make_world(2_000, seed=a.seed), a.seed).year()
    print(machine())
    print(
        f"{'':<8} {'households':>10} {'init s':>8} {'mix ms/yr':>10} {'moves ms/yr':>11} "
        f"{'decisions/s':>14} {'mover ch./s':>14}"
    )
    ratios = []
    for n in a.sizes:
        world = make_world(n, seed=a.seed)
        k = _row("kernel", n, a.years, _kernel(world, a.years, a.seed))
        if a.prototype:
            _row("proto", n, a.years, _kernel(world, a.years, a.seed, FastKernelRun))
        if n <= a.peer_max:
            r = _peer(world, a.years, a.seed)
            pr = _row("mesa", n, a.years, r)
            ratios.append((n, k / pr))
            print(f"{'':<8} {'':>10} kernel / mesa decisions per second: {k / pr:,.0f}x")
    for n, ratio in ratios:
        if n == 100_000:
            verdict = "met" if ratio >= 200 else "NOT met"
            print(f"target: kernel >= 200x the peer at 100k households: {ratio:,.0f}x", verdict)
    print("at the end:", machine())


if __name__ == "__main__":
    main()
