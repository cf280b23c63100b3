"""Location choice against UDST ``choicemodels`` (the library UrbanSim uses).

Usage (from the repository root; needs the ``bench`` extra: ``pip install -e ".[bench]"``)::

    .venv/bin/python -m benchmarks.bench_choice [--sizes 100000x50000x50 1000000x100000x100]
        [--batch 100000] [--seed 0]

Same choosers (income group, income), alternatives (rent, commute, service km, green, income
mix of the neighbourhood, capacity in dwellings) and coefficients (``Scenario()`` defaults).

1. One ``MergedChoiceTable`` (``sample_size`` alternatives per chooser, uniform with
   replacement) at the first size; its sampled ids go to the project's logit
   (``benchmarks.choice_kernels.logit_probabilities`` on the weight table of
   ``metrosim._kernels.choice.weight_table``, as ``relocate`` computes them), and the
   probabilities must equal those of
   ``MultinomialLogitResults.probabilities`` to 1e-12. ``choicemodels`` has no availability
   (its ``availability`` argument is not implemented), so affordability is a term
   ``-1000 * [rent > max_rent_share * income]`` in its utility: exp(-1000) underflows to exactly
   0 in float64, which is the project's rule whenever one sampled alternative is affordable
   (rows with none, about 1 in 10^5, are counted and left out of the check).
2. Timing of sampling + probabilities + choice, each side on its own draws:
   unconstrained (``MergedChoiceTable`` + ``probabilities`` + ``monte_carlo_choices`` against
   ``choose_unconstrained``) and capacity-constrained (``iterative_lottery_choices`` with the
   alternatives' capacity against ``choose_constrained_uniform``, which samples as
   ``choicemodels`` does, uniformly among alternatives with capacity left; the project's own
   rule, uniform over the dwellings left with the vacancy list of ``relocate``, is timed too).
   The project's times include its weight table.
   ``choicemodels`` tables above ``--batch`` choosers are built in chooser batches (the
   library's ``chooser_batch_size``; one table of 10^8 rows does not fit in memory).

Prints figures; never used as a timed test. The kernels are serial (one core); pandas and
numpy in ``choicemodels`` use what they use.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import time
import warnings

import numpy as np
import pandas as pd

from benchmarks.choice_kernels import (
    choose_constrained_uniform,
    choose_constrained_units,
    choose_unconstrained,
    logit_probabilities,
    weights,
)
from benchmarks.common import N_GROUPS, default_parameters, machine
from metrosim.choice import _drawing

UNAFFORDABLE = -1000.0
CHECK_MAX = 100_000  # choosers in the probability check
EXPRESSION = (
    "I(rent / income) + commute + service + green"
    " + I(g0 * mix0 + g1 * mix1 + g2 * mix2 + g3 * mix3 + g4 * mix4)"
    " + I((rent > {share} * income) * 1.0) - 1"
)


def make_inputs(n_choosers: int, n_alts: int, seed: int) -> dict:
    """Choosers and alternatives as numpy arrays and as the DataFrames choicemodels wants."""
    rng = np.random.default_rng(seed)
    par = default_parameters()
    incomes = par["incomes"]
    group = rng.permutation(np.arange(n_choosers) % N_GROUPS).astype(np.int64)
    d = rng.random(n_alts)  # share of the distance to the edge
    rent = 60_000.0 + 500_000.0 * np.exp(-3.0 * d) * rng.lognormal(0.0, 0.35, n_alts)
    commute = 8.0 + 60.0 * d + rng.normal(0.0, 3.0, n_alts).clip(-3, None)
    service = 0.4 + 3.0 * d * rng.lognormal(0.0, 0.4, n_alts)
    green = np.log1p(rng.lognormal(2.0, 0.8, n_alts))
    mix = rng.dirichlet(np.ones(N_GROUPS), n_alts)
    mean_cap = 1.5 * n_choosers / n_alts  # 1.5 dwellings per chooser, as a vacancy pool
    capacity = 1 + rng.poisson(mean_cap - 1, n_alts)
    choosers = pd.DataFrame(
        {"income": incomes[group], **{f"g{g}": (group == g) * 1.0 for g in range(N_GROUPS)}},
        index=pd.Index(np.arange(n_choosers), name="obs_id"),
    )
    alternatives = pd.DataFrame(
        {
            "rent": rent,
            "commute": commute,
            "service": service,
            "green": green,
            **{f"mix{g}": mix[:, g] for g in range(N_GROUPS)},
            "capacity": capacity,
        },
        index=pd.Index(np.arange(n_alts), name="alt_id"),
    )
    c = par["coefs"]
    return {
        "group": group,
        "incomes": incomes,
        "rent": rent,
        "commute": commute,
        "service": service,
        "green": green,
        "mix": np.ascontiguousarray(mix),
        "capacity": capacity.astype(np.int64),
        "coefs": c.as_array(),
        "choosers": choosers,
        "alternatives": alternatives,
        "params": [c.rent_share, c.commute_per_min, c.service_per_km, c.green, c.homophily]
        + [UNAFFORDABLE],
        "expression": EXPRESSION.format(share=repr(c.max_rent_share)),
    }


def _weights(x: dict) -> np.ndarray:
    return weights(
        x["rent"], x["commute"], x["service"], x["green"], x["mix"], x["incomes"], x["coefs"]
    )


def check_probabilities(x: dict, k: int, seed: int) -> None:
    from choicemodels import MultinomialLogitResults
    from choicemodels.tools import MergedChoiceTable

    np.random.seed(seed)  # noqa: NPY002 (choicemodels draws from the legacy global state)
    # at most 100,000 choosers: a merged table of 10^6 x 100 rows does not fit in 24 GB
    n = min(len(x["choosers"]), CHECK_MAX)
    mct = MergedChoiceTable(x["choosers"].iloc[:n], x["alternatives"], sample_size=k)
    frame = mct.to_frame()
    obs = frame.index.get_level_values(0).to_numpy().reshape(n, k)
    ids = frame.index.get_level_values(1).to_numpy().astype(np.int64).reshape(n, k)
    if not (obs == np.arange(n)[:, None]).all():
        raise AssertionError("merged table rows are not grouped by chooser in chooser order")
    model = MultinomialLogitResults(x["expression"], fitted_parameters=x["params"])
    theirs = model.probabilities(mct).to_numpy().reshape(n, k)
    ours = logit_probabilities(ids, x["group"][:n], _weights(x))
    some = ours.sum(axis=1) > 0
    diff = np.abs(ours[some] - theirs[some]).max()
    verdict = "OK" if diff <= 1e-12 else "FAIL"
    print(
        f"probabilities on one MergedChoiceTable ({n:,} x {k}): max |project - choicemodels| "
        f"= {diff:.2e} ({verdict}, tolerance 1e-12); {int((~some).sum())} choosers with no "
        "affordable sampled alternative left out"
    )


def time_choicemodels(x: dict, k: int, batch: int, seed: int) -> tuple[float, float, int]:
    from choicemodels import MultinomialLogitResults
    from choicemodels.tools import (
        MergedChoiceTable,
        iterative_lottery_choices,
        monte_carlo_choices,
    )

    np.random.seed(seed)  # noqa: NPY002 (choicemodels draws from the legacy global state)
    model = MultinomialLogitResults(x["expression"], fitted_parameters=x["params"])
    choosers, alternatives = x["choosers"], x["alternatives"]
    t0 = time.perf_counter()
    parts = []
    for start in range(0, len(choosers), batch):
        mct = MergedChoiceTable(choosers.iloc[start : start + batch], alternatives, sample_size=k)
        parts.append(monte_carlo_choices(model.probabilities(mct)))
        del mct
    unconstrained = time.perf_counter() - t0
    assert sum(len(p) for p in parts) == len(choosers)
    del parts

    def mct_callable(obs, alts, intx_ops=None):
        return MergedChoiceTable(obs, alts, sample_size=k)

    t0 = time.perf_counter()
    with contextlib.redirect_stdout(io.StringIO()), warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pandas FutureWarnings from the library's own code
        placed = iterative_lottery_choices(
            choosers,
            alternatives,
            mct_callable,
            model.probabilities,
            alt_capacity="capacity",
            chooser_batch_size=batch if len(choosers) > batch else None,
        )
    constrained = time.perf_counter() - t0
    counts = placed.value_counts().reindex(alternatives.index, fill_value=0)
    assert (counts <= alternatives["capacity"]).all()
    return unconstrained, constrained, len(placed)


def time_kernels(x: dict, k: int, seed: int, repeats: int = 3) -> dict:
    rng = np.random.default_rng(seed)
    out = {}
    for name, fn, extra in (
        ("unconstrained", choose_unconstrained, ()),
        ("constrained", choose_constrained_uniform, (x["capacity"],)),
        ("constrained, dwellings", choose_constrained_units, (x["capacity"],)),
    ):
        best = np.inf
        for _ in range(repeats):
            t0 = time.perf_counter()
            # as the model calls its kernels: a PCG64 Generator is stepped inline
            choice = _drawing(fn, x["group"], _weights(x), *extra, k, rng)
            best = min(best, time.perf_counter() - t0)
        if extra:
            counts = np.bincount(choice[choice >= 0], minlength=x["rent"].size)
            assert (counts <= x["capacity"]).all()
        out[name] = (best, int((choice >= 0).sum()))
    return out


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--sizes", nargs="+", default=["100000x50000x50", "1000000x100000x100"])
    p.add_argument("--batch", type=int, default=100_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-choicemodels", action="store_true", help="time the project only")
    a = p.parse_args()
    import choicemodels

    print(machine())
    print(
        f"choicemodels {choicemodels.__version__}, pandas {pd.__version__}, numpy {np.__version__}"
    )
    small = make_inputs(200, 100, a.seed)  # compile / load the kernels
    time_kernels(small, 5, a.seed, repeats=1)
    for i, size in enumerate(a.sizes):
        n, m, k = (int(v) for v in size.split("x"))
        x = make_inputs(n, m, a.seed)
        print(
            f"\n{n:,} choosers x {m:,} alternatives x {k} sampled"
            f" (capacity {x['capacity'].sum():,} dwellings)"
        )
        if i == 0:
            check_probabilities(x, k, a.seed)
        ours = time_kernels(x, k, a.seed)
        if a.no_choicemodels:
            for name, (t, placed) in ours.items():
                print(f"project {name:<22} {t:8.3f} s  placed {placed:,}")
            continue
        try:
            cm_free, cm_cap, cm_placed = time_choicemodels(x, k, a.batch, a.seed)
        except MemoryError:
            print("choicemodels: out of memory")
            continue
        print(f"{'':<22} {'choicemodels s':>14} {'project s':>10} {'ratio':>8}")
        print(f"{'unconstrained':<22} {cm_free:>14.2f} {ours['unconstrained'][0]:>10.3f} "
              f"{cm_free / ours['unconstrained'][0]:>7.0f}x")  # fmt: skip
        for name in ("constrained", "constrained, dwellings"):
            t, placed = ours[name]
            print(f"{name:<22} {cm_cap:>14.2f} {t:>10.3f} {cm_cap / t:>7.0f}x"
                  f"   placed: choicemodels {cm_placed:,}, project {placed:,}")  # fmt: skip
        if i == len(a.sizes) - 1 or n >= 1_000_000:
            r = cm_cap / ours["constrained"][0]
            print(f"target: >= 25x capacity-constrained at this size: {r:.0f}x",
                  "met" if r >= 25 else "NOT met")  # fmt: skip


if __name__ == "__main__":
    main()
