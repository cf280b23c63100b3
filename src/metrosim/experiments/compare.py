"""Comparing scenarios over seeds, with common random numbers and confidence intervals.

:func:`compare` runs each scenario with the same replicate seeds (common random numbers, so
differences between scenarios are paired), in parallel on any ``concurrent.futures`` executor,
and returns tidy tables: one row per scenario x seed x year, and a summary of the final year
with the mean, a 95% confidence interval over seeds, and the paired difference from the
baseline scenario with its own interval.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metrosim._atomic import atomic_write_text
from metrosim.experiments._runs import (
    ExperimentError,
    Job,
    Outcome,
    RunStore,
    Tracker,
    execute,
)
from metrosim.io import write_table
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
    "commute_time_min",
    "congestion_index",
    "pm25_exposure_ugm3",
    "farmland_converted_total_ha",
)


def replicate_seeds(base_seed: int, n: int) -> list[int]:
    """Seeds of ``n`` replicates, derived from a base seed with ``numpy.random.SeedSequence``.

    The seed of replicate ``k`` depends only on ``(base_seed, k)``: every scenario gets the same
    seeds (common random numbers) and results do not depend on the order runs finish in.
    """
    return [int(np.random.SeedSequence([base_seed, k]).generate_state(1)[0]) for k in range(n)]


@dataclass(frozen=True)
class CompareResult:
    """Tables of a comparison.

    Attributes
    ----------
    runs : DataFrame
        One row per scenario x seed x year: scenario, seed, year, every lever, every outcome.
    municipal : DataFrame
        One row per scenario x seed x year x commune (``cut``).
    summary : DataFrame
        Final-year means with 95% CIs and paired differences (:func:`summarise`).
    failed : DataFrame
        One row per run that failed: scenario, seed, error (empty when all finished).
    """

    runs: pd.DataFrame
    municipal: pd.DataFrame
    summary: pd.DataFrame
    failed: pd.DataFrame = field(default_factory=pd.DataFrame)


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
    client: Any = None,
    workers: int = 1,
    out: str | Path | None = None,
    progress: Callable[[int, int, int], None] | None = None,
    report: bool = True,
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
        Where runs go (any ``concurrent.futures`` executor).
    client : dask.distributed.Client, optional
        Where runs go: a Dask cluster, local or behind a real scheduler.
    workers : int
        Without an executor or client: 1 runs in this process, more start a Dask
        ``LocalCluster`` of that many processes.
    out : path, optional
        Folder for the results: ``runs/`` (one file per run, written as runs finish), then
        ``runs.parquet``, ``municipal.parquet``, ``summary.csv``, ``manifest.json`` and
        ``report.html``. Calling again with the same comparison and folder runs only the runs
        that are missing (or failed); a folder holding another comparison is refused.
    progress : callable, optional
        ``progress(done, total, failed)`` once at the start and after each run.
    report : bool
        With ``out``: keep the final maps of the first replicate of each scenario and write
        ``report.html`` (:func:`metrosim.report.write_report`).

    Returns
    -------
    CompareResult

    Raises
    ------
    ExperimentError
        For no scenario, two scenarios of the same name, seeds < 1, an output folder holding
        another design, or when every run failed.
    """
    resolved = [Scenario.load(s) if isinstance(s, str) else s for s in scenarios]
    names = [s.name for s in resolved]
    if not resolved:
        raise ExperimentError("no scenario to compare; give at least one")
    if len(set(names)) != len(names):
        raise ExperimentError(
            f"scenario names must differ to be compared; got {names} (give each file its "
            "own name = ...)"
        )
    if seeds < 1:
        raise ExperimentError(f"seeds = {seeds}; allowed: 1 or more")
    seed_list = replicate_seeds(base_seed, seeds)
    run_years = [s.years if years is None else int(years) for s in resolved]
    jobs: list[Job] = []
    label: dict[str, tuple[Scenario, int]] = {}
    for i, (s, y) in enumerate(zip(resolved, run_years, strict=True)):
        for r, seed in enumerate(seed_list):
            key = f"s{i:02d}-r{r:03d}"
            keep = out is not None and report and r == 0
            jobs.append(Job(key=key, scenario=s, seed=seed, years=y, keep_final_state=keep))
            label[key] = (s, seed)

    store = None
    if out is not None:
        store = RunStore(
            out,
            "compare",
            {
                "scenarios": [s.to_dict() for s in resolved],
                "baseline": names[0],
                "base_seed": base_seed,
                "seeds": seed_list,
                "years": run_years,
            },
        )
        store.open()
    todo = [j for j in jobs if store is None or not store.is_done(j.key)]
    tracker = Tracker(len(jobs), len(jobs) - len(todo), progress)
    memory: dict[str, tuple[pd.DataFrame, pd.DataFrame]] = {}
    errors: dict[str, str] = {}

    def on_result(outcome: Outcome) -> None:
        if outcome.ok:
            yearly, municipal = _decorate(outcome, *label[outcome.key])
            if store is not None:
                store.save(
                    Outcome(
                        key=outcome.key,
                        yearly=yearly,
                        municipal=municipal,
                        state=outcome.state,
                    )
                )
            else:
                memory[outcome.key] = (yearly, municipal)
        else:
            errors[outcome.key] = outcome.error or ""
            if store is not None:
                store.save(outcome)
        tracker(outcome.ok)

    execute(
        todo,
        on_result,
        executor=executor,
        client=client,
        workers=workers,
        task_prefix=f"metrosim-compare-{store.hash[:12] if store else id(jobs)}",
    )

    keys = [j.key for j in jobs]
    if store is not None:
        runs = store.read(keys)
        municipal = store.read(keys, "municipal.parquet")
    else:
        done = [k for k in keys if k in memory]
        runs = pd.concat([memory[k][0] for k in done], ignore_index=True) if done else None
        municipal = pd.concat([memory[k][1] for k in done], ignore_index=True) if done else None
    failed = pd.DataFrame(
        [
            {
                "scenario": label[k][0].name,
                "seed": label[k][1],
                "key": k,
                "error": errors[k].split("\n", 1)[0],
            }
            for k in keys
            if k in errors
        ],
        columns=["scenario", "seed", "key", "error"],
    )
    if runs is None or runs.empty:
        first = failed["error"].iloc[0] if len(failed) else "no run"
        raise ExperimentError(f"all {len(jobs)} runs failed; first error: {first}")
    summary = summarise(runs, baseline=names[0])
    if store is not None:
        assert out is not None
        folder = Path(out)
        write_table(runs, folder / "runs.parquet")
        write_table(municipal, folder / "municipal.parquet")
        atomic_write_text(folder / "summary.csv", summary.to_csv(index=False))
        store.write_manifest(
            {
                "complete": failed.empty,
                "runs": len(jobs),
                "failed": failed.to_dict("records"),
                "scenarios": {s.name: s.to_dict() for s in resolved},
                "baseline": names[0],
                "seeds": seed_list,
            }
        )
        if report:
            from metrosim.report import write_report

            write_report(folder)
    return CompareResult(runs=runs, municipal=municipal, summary=summary, failed=failed)


def _decorate(outcome: Outcome, scenario: Scenario, seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Key the run's tables by scenario and seed; add the levers to the yearly rows."""
    assert outcome.yearly is not None and outcome.municipal is not None
    levers = {k: getattr(scenario, k) for k in Scenario.levers()}
    yearly = outcome.yearly.assign(scenario=scenario.name, seed=seed, **levers)
    municipal = outcome.municipal.assign(scenario=scenario.name, seed=seed)
    front = ["scenario", "seed", "year"]
    yearly = yearly[front + [c for c in yearly.columns if c not in front]]
    municipal = municipal[front + [c for c in municipal.columns if c not in front]]
    return yearly, municipal
