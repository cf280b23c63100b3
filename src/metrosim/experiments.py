"""Comparing scenarios over seeds, with common random numbers and confidence intervals.

:func:`compare` runs each scenario with the same replicate seeds (common random numbers, so
differences between scenarios are paired), in parallel on any ``concurrent.futures`` executor,
and returns tidy tables: one row per scenario x seed x year, and a summary of the final year
with the mean, a 95% confidence interval over seeds, and the paired difference from the
baseline scenario with its own interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor, ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metrosim.io import software_versions, write_manifest, write_table
from metrosim.runner import run
from metrosim.scenario import Scenario

__all__ = ["replicate_seeds", "compare", "summarise", "CompareResult", "HEADLINE"]

#: Outcomes shown first in summaries (those present in the yearly table are used).
HEADLINE = (
    "urban_area_ha",
    "urban_density_pph",
    "new_urban_ha",
    "mean_rent",
    "vacancy_rate",
    "mean_commute_min",
    "theil_h",
    "theil_h_between",
    "dissimilarity_q1_q5",
    "coverage_park_q1",
    "budget_per_capita_ratio_max_min",
)


def replicate_seeds(base_seed: int, n: int) -> list[int]:
    """Seeds of ``n`` replicates, derived from a base seed with ``numpy.random.SeedSequence``.

    The seed of replicate ``k`` depends only on ``(base_seed, k)``: every scenario gets the same
    seeds (common random numbers) and results do not depend on the order runs finish in.
    """
    return [int(np.random.SeedSequence([base_seed, k]).generate_state(1)[0]) for k in range(n)]


def _one(scenario: Scenario, seed: int, years: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    result = run(scenario, seed=seed, years=years)
    keys = {"scenario": scenario.name, "seed": seed}
    levers = {k: v for k, v in scenario.to_dict().items() if k in set(Scenario.levers())}
    yearly = result.yearly.assign(**keys, **levers)
    municipal = result.municipal.assign(**keys)
    return yearly, municipal


@dataclass(frozen=True)
class CompareResult:
    """Tables of a comparison: runs (scenario x seed x year), municipal, and summary."""

    runs: pd.DataFrame
    municipal: pd.DataFrame
    summary: pd.DataFrame


def summarise(
    runs: pd.DataFrame, *, baseline: str, outcomes: Sequence[str] | None = None
) -> pd.DataFrame:
    """Final-year mean with 95% CI per scenario and outcome, and paired differences.

    Parameters
    ----------
    runs : DataFrame
        One row per scenario x seed x year.
    baseline : str
        Scenario the differences are taken from (paired by seed).
    outcomes : sequence of str, optional
        Columns to summarise (default: the numeric outcome columns).

    Returns
    -------
    DataFrame
        Columns: scenario, outcome, n, mean, ci_low, ci_high, diff, diff_ci_low, diff_ci_high.
    """
    final = runs[runs["year"] == runs["year"].max()]
    if outcomes is None:
        skip = {"year", "seed"} | set(Scenario.levers())
        outcomes = [
            c for c in final.columns if c not in skip and pd.api.types.is_numeric_dtype(final[c])
        ]
    base = final[final["scenario"] == baseline].set_index("seed")
    rows = []
    for name, group in final.groupby("scenario", sort=False):
        g = group.set_index("seed")
        for col in outcomes:
            x = g[col].to_numpy(dtype=float)
            mean, lo, hi = _mean_ci(x)
            d = (g[col] - base[col]).dropna().to_numpy(dtype=float)
            dm, dlo, dhi = _mean_ci(d) if name != baseline else (0.0, 0.0, 0.0)
            rows.append(
                {
                    "scenario": name,
                    "outcome": col,
                    "n": x.size,
                    "mean": mean,
                    "ci_low": lo,
                    "ci_high": hi,
                    "diff": dm,
                    "diff_ci_low": dlo,
                    "diff_ci_high": dhi,
                }
            )
    return pd.DataFrame(rows)


def _mean_ci(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(x.mean())
    if x.size < 2 or np.all(x == x[0]):
        return (m, m, m)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return (m, m - half, m + half)


def compare(
    scenarios: Sequence[Scenario | str],
    *,
    seeds: int = 5,
    years: int | None = None,
    base_seed: int = 0,
    executor: Executor | None = None,
    workers: int = 1,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> CompareResult:
    """Run scenarios over common seeds and summarise their differences.

    Parameters
    ----------
    scenarios : sequence of Scenario or str
        Scenarios or preset names / TOML paths; the first is the baseline.
    seeds : int
        Replicates per scenario (seeds from :func:`replicate_seeds`).
    years : int, optional
        Years per run (default: each scenario's ``years``).
    base_seed : int
        Base of the replicate seeds.
    executor : concurrent.futures.Executor, optional
        Where runs go; default a ``ProcessPoolExecutor(workers)`` (or in-process if
        ``workers == 1``).
    workers : int
        Processes when no executor is given.
    out : path, optional
        Folder for ``runs.parquet``, ``municipal.parquet``, ``summary.csv``, ``manifest.json``.
    progress : callable, optional
        ``progress(done, total)`` after each run.

    Returns
    -------
    CompareResult
    """
    resolved = [Scenario.load(s) if isinstance(s, str) else s for s in scenarios]
    names = [s.name for s in resolved]
    if len(set(names)) != len(names):
        raise ValueError(f"scenario names must differ to be compared; got {names}")
    if seeds < 1:
        raise ValueError(f"seeds = {seeds}; allowed: 1 or more")
    seed_list = replicate_seeds(base_seed, seeds)
    jobs = [
        (k, s, seed, s.years if years is None else years)
        for k, (s, seed) in enumerate((s, seed) for s in resolved for seed in seed_list)
    ]
    results: dict[int, tuple[pd.DataFrame, pd.DataFrame]] = {}
    own = None
    if executor is None and workers > 1:
        executor = own = ProcessPoolExecutor(max_workers=workers)
    try:
        if executor is None:
            for k, s, seed, y in jobs:
                results[k] = _one(s, seed, y)
                if progress:
                    progress(len(results), len(jobs))
        else:
            futures = {executor.submit(_one, s, seed, y): k for k, s, seed, y in jobs}
            for fut in as_completed(futures):
                results[futures[fut]] = fut.result()
                if progress:
                    progress(len(results), len(jobs))
    finally:
        if own is not None:
            own.shutdown()
    runs = pd.concat([results[k][0] for k in sorted(results)], ignore_index=True)
    municipal = pd.concat([results[k][1] for k in sorted(results)], ignore_index=True)
    front = ["scenario", "seed", "year"]
    runs = runs[front + [c for c in runs.columns if c not in front]]
    municipal = municipal[front + [c for c in municipal.columns if c not in front]]
    summary = summarise(runs, baseline=names[0])
    if out is not None:
        out = Path(out)
        write_table(runs, out / "runs.parquet")
        write_table(municipal, out / "municipal.parquet")
        write_manifest(
            out / "manifest.json",
            _manifest(resolved, seed_list, base_seed, years),
        )
        from metrosim._atomic import atomic_write_text

        atomic_write_text(out / "summary.csv", summary.to_csv(index=False))
    return CompareResult(runs=runs, municipal=municipal, summary=summary)


def _manifest(
    scenarios: list[Scenario], seeds: list[int], base_seed: int, years: int | None
) -> dict[str, Any]:
    return {
        "scenarios": {s.name: s.to_dict() for s in scenarios},
        "baseline": scenarios[0].name,
        "base_seed": base_seed,
        "seeds": seeds,
        "years": years,
        "versions": software_versions(),
    }
