"""Parameter sweeps: run a design's points over seeds, write tidy tables, compute indices.

:func:`sweep` runs every point of a :class:`~metrosim.experiments.design.Design` with
``seeds`` replicates. The seed of a run depends only on ``(base_seed, point, replicate)``
(:func:`run_seed`), so tables do not depend on the number of workers or the order runs finish
in. With an output folder, each run is written as it finishes and a repeated call runs only
what is missing. :func:`analyze` computes Sobol or Morris indices (SALib) of an outcome.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrosim.experiments._runs import (
    ExperimentError,
    Job,
    Outcome,
    RunStore,
    Tracker,
    execute,
)
from metrosim.experiments.design import Design, load_design
from metrosim.io import write_table

__all__ = ["SweepResult", "analyze", "run_seed", "sweep"]

_KEYS = ["point", "replicate", "seed"]


def run_seed(base_seed: int, point: int, replicate: int) -> int:
    """Seed of one run of a sweep, from ``numpy.random.SeedSequence([base, point, rep])``.

    Examples
    --------
    >>> run_seed(0, 3, 1) == run_seed(0, 3, 1) != run_seed(0, 3, 2)
    True
    """
    return int(np.random.SeedSequence([base_seed, point, replicate]).generate_state(1)[0])


@dataclass(frozen=True)
class SweepResult:
    """Tables of a sweep.

    Attributes
    ----------
    design : Design
    experiments : DataFrame
        One row per point x replicate: ``run_id``, ``point``, ``replicate``, ``seed``, each
        parameter's value, ``status`` (``ok`` or ``failed``) and ``error`` (first line).
    outcomes : DataFrame
        One row per point x replicate x year of the runs that finished: ``point``,
        ``replicate``, ``seed``, ``year`` and every yearly outcome.
    folder : Path or None
        Where the tables were written.
    """

    design: Design
    experiments: pd.DataFrame
    outcomes: pd.DataFrame
    folder: Path | None = None

    @property
    def failed(self) -> pd.DataFrame:
        """The rows of :attr:`experiments` whose run failed."""
        return self.experiments[self.experiments["status"] != "ok"]


def sweep(
    design: Design | str | Path,
    *,
    out: str | Path | None = None,
    executor: Executor | None = None,
    client: Any = None,
    workers: int = 1,
    progress: Callable[[int, int, int], None] | None = None,
    measure: Callable[[Any, int], Mapping[str, float]] | None = None,
) -> SweepResult:
    """Run a sweep design over its seeds.

    Parameters
    ----------
    design : Design or path
        A design, or a design TOML file (see :mod:`metrosim.experiments.design`).
    out : path, optional
        Folder for ``manifest.json``, ``runs/<run_id>.parquet`` (one per run, written as it
        finishes), ``experiments.parquet`` and ``outcomes.parquet``. Calling again with the
        same design runs only the missing (or failed) runs; a folder holding another design is
        refused.
    executor : concurrent.futures.Executor, optional
        Where runs go.
    client : dask.distributed.Client, optional
        Where runs go: a Dask cluster, local or behind a real scheduler.
    workers : int
        Without an executor or client: 1 runs in this process, more start a Dask
        ``LocalCluster`` of that many processes.
    progress : callable, optional
        ``progress(done, total, failed)`` once at the start and after each run.
    measure : callable, optional
        ``measure(model, years) -> dict``, a module-level function that runs each model and
        returns its summaries (see :class:`~metrosim.experiments._runs.Job`); ``outcomes`` then
        has one row per run (no ``year``) instead of one per year. It is part of the design's
        identity: a folder swept without it is refused.

    Returns
    -------
    SweepResult

    Raises
    ------
    ExperimentError
        For a bad design, or an output folder holding another design.
    """
    d = load_design(design)
    points = d.points()
    width = max(5, len(str(len(points) - 1)))
    jobs: list[Job] = []
    rows: list[dict[str, Any]] = []
    for row in points.to_dict("records"):
        scenario = d.scenario(row)
        for r in range(d.seeds):
            key = f"p{row['point']:0{width}d}-r{r:03d}"
            seed = run_seed(d.base_seed, int(row["point"]), r)
            jobs.append(Job(key=key, scenario=scenario, seed=seed, years=d.years, measure=measure))
            rows.append(
                {
                    "run_id": key,
                    "point": row["point"],
                    "replicate": r,
                    "seed": seed,
                    **{p.name: row[p.name] for p in d.parameters},
                }
            )
    labels = {r["run_id"]: r for r in rows}

    store = None
    if out is not None:
        payload = {**d.to_dict(), "points": points.to_dict("list")}
        if measure is not None:
            payload["measure"] = f"{measure.__module__}.{measure.__qualname__}"
        store = RunStore(out, "sweep", payload)
        store.open()
    todo = [j for j in jobs if store is None or not store.is_done(j.key)]
    tracker = Tracker(len(jobs), len(jobs) - len(todo), progress)
    memory: dict[str, pd.DataFrame] = {}
    errors: dict[str, str] = {}

    def on_result(outcome: Outcome) -> None:
        if outcome.ok:
            assert outcome.yearly is not None
            lab = labels[outcome.key]
            yearly = outcome.yearly.assign(**{k: lab[k] for k in _KEYS})
            yearly = yearly[_KEYS + [c for c in yearly.columns if c not in _KEYS]]
            if store is not None:
                store.save(Outcome(key=outcome.key, yearly=yearly))
            else:
                memory[outcome.key] = yearly
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
        task_prefix=f"metrosim-sweep-{store.hash[:12] if store else id(jobs)}",
    )

    keys = [j.key for j in jobs]
    if store is not None:
        outcomes = store.read(keys)
        done = {k for k in keys if store.is_done(k)}
        for k in keys:
            if k not in done and k not in errors:
                errors[k] = store.error(k) or "missing"
    else:
        done = set(memory)
        outcomes = (
            pd.concat([memory[k] for k in keys if k in memory], ignore_index=True)
            if memory
            else pd.DataFrame()
        )
    experiments = pd.DataFrame(rows)
    experiments["status"] = ["ok" if k in done else "failed" for k in keys]
    experiments["error"] = [
        None if k in done else errors.get(k, "missing").split("\n", 1)[0] for k in keys
    ]
    if store is not None:
        assert out is not None
        folder = Path(out)
        write_table(experiments, folder / "experiments.parquet")
        write_table(outcomes, folder / "outcomes.parquet")
        n_failed = int((experiments["status"] != "ok").sum())
        store.write_manifest({"complete": n_failed == 0, "runs": len(jobs), "failed": n_failed})
        return SweepResult(d, experiments, outcomes, folder)
    return SweepResult(d, experiments, outcomes, None)


def analyze(result: SweepResult, outcome: str, *, year: int | None = None) -> pd.DataFrame:
    """Sensitivity indices of one outcome, averaged over replicates at one year.

    Parameters
    ----------
    result : SweepResult
    outcome : str
        A column of ``result.outcomes``.
    year : int, optional
        Default: the last year.

    Returns
    -------
    DataFrame
        One row per parameter. ``sobol`` designs: ``S1``, ``S1_conf``, ``ST``, ``ST_conf``
        (SALib ``sobol.analyze``); ``morris``: ``mu``, ``mu_star``, ``sigma``,
        ``mu_star_conf`` (SALib ``morris.analyze``); other designs: Spearman's rank
        correlation ``rho`` and its ``p_value`` (categories by their index).

    Raises
    ------
    ExperimentError
        For an unknown outcome or year, failed runs, or an outcome that does not vary.
    """
    d = result.design
    out = result.outcomes
    skip = set(_KEYS) | {"year"}
    available = [c for c in out.columns if c not in skip]
    if outcome not in available:
        raise ExperimentError(
            f"outcome {outcome!r} is not in the results; allowed: {', '.join(available)}"
        )
    years = sorted(out["year"].unique()) if len(out) else []
    if not years:
        raise ExperimentError("no finished run to analyse")
    y = years[-1] if year is None else year
    if y not in years:
        raise ExperimentError(f"year {y} is not in the results; allowed: {years[0]}..{years[-1]}")
    grouped = out[out["year"] == y].groupby("point")[outcome]
    n_points = len(d.points())
    Y = grouped.mean().reindex(range(n_points)).to_numpy(dtype=float, copy=True)
    counts = grouped.count().reindex(range(n_points)).fillna(0).to_numpy()
    Y[counts < d.seeds] = np.nan  # every point needs all its replicates
    missing = int(np.isnan(Y).sum())
    if missing:
        raise ExperimentError(
            f"{missing} of {n_points} points have no value of {outcome!r} in {y} (failed "
            "runs or NaN outcomes); re-run the sweep to retry failed runs"
        )
    if not np.ptp(Y) > 0:
        raise ExperimentError(f"{outcome!r} is the same at every point in {y}; no indices")
    problem = d.problem()
    X = d.sample()
    names = problem["names"]
    if d.kind == "sobol":
        from SALib.analyze import sobol

        si = sobol.analyze(problem, Y, calc_second_order=d.second_order, seed=d.base_seed)
        cols = ["S1", "S1_conf", "ST", "ST_conf"]
    elif d.kind == "morris":
        from SALib.analyze import morris

        si = morris.analyze(problem, X, Y, num_levels=d.levels, seed=d.base_seed)
        cols = ["mu", "mu_star", "sigma", "mu_star_conf"]
    else:
        from scipy import stats

        si = {"rho": [], "p_value": []}
        for j in range(len(names)):
            x = np.floor(X[:, j]) if d.parameters[j].categorical else X[:, j]
            if np.ptp(x) > 0:
                res = stats.spearmanr(x, Y)
                si["rho"].append(float(res.statistic))
                si["p_value"].append(float(res.pvalue))
            else:
                si["rho"].append(np.nan)
                si["p_value"].append(np.nan)
        cols = ["rho", "p_value"]
    table = pd.DataFrame({"parameter": names, **{c: np.asarray(si[c], dtype=float) for c in cols}})
    table.attrs.update(outcome=outcome, year=int(y), kind=d.kind)
    return table
