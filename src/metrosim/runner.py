"""Run one scenario: build the model, step it, return tidy tables (and write a run folder)."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd

from metrosim.io import software_versions, write_manifest, write_table
from metrosim.model import MetroModel, Municipality
from metrosim.scenario import Scenario

__all__ = ["RunResult", "run", "tables"]


@dataclass(frozen=True)
class RunResult:
    """What one run produced.

    Attributes
    ----------
    yearly : pandas.DataFrame
        One row per year (``year`` first), the region's outcomes.
    municipal : pandas.DataFrame
        One row per year and commune (``year``, ``cut``, ``name``, ...).
    manifest : dict
        The scenario as resolved, the seed, versions and wall time.
    """

    yearly: pd.DataFrame
    municipal: pd.DataFrame
    manifest: dict[str, Any]


def tables(model: MetroModel) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The yearly and per-commune tables collected so far by a model."""
    rows = model.datacollector.get_model_vars_dataframe()["yearly"].tolist()
    yearly = pd.DataFrame(rows)
    mun = model.datacollector.get_agenttype_vars_dataframe(Municipality).reset_index()
    first_year = int(yearly["year"].iloc[0])
    mun.insert(0, "year", (mun.pop("Step").astype(int) + first_year).astype("int64"))
    info = {a.unique_id: (a.cut, a.name) for a in model.municipalities}
    ids = mun.pop("AgentID")
    mun.insert(1, "cut", ids.map(lambda i: info[i][0]).astype("int32"))
    mun.insert(2, "name", ids.map(lambda i: info[i][1]))
    return yearly, mun.sort_values(["year", "cut"], kind="stable").reset_index(drop=True)


def run(
    scenario: Scenario | str | None = None,
    *,
    seed: int = 0,
    years: int | None = None,
    out: str | Path | None = None,
    progress: Callable[[int, int], None] | None = None,
) -> RunResult:
    """Run a scenario for a number of years and return its tables.

    Parameters
    ----------
    scenario : Scenario or str, optional
        A scenario, or a preset name / TOML path for :meth:`Scenario.load`.
    seed : int
        Seed of the model's random generator (``MetroModel(rng=seed)``).
    years : int, optional
        Years to simulate (default: ``scenario.years``).
    out : path, optional
        Folder to write ``manifest.json``, ``yearly.parquet`` and ``municipal.parquet`` to
        (atomically).
    progress : callable, optional
        Called as ``progress(year_done, years)`` after each year.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> r = run(Scenario(scale=200, cell_size_m=1000), seed=3, years=2)
    >>> r.yearly["year"].tolist()
    [2017, 2018, 2019]
    """
    if scenario is None:
        scenario = Scenario()
    elif isinstance(scenario, str):
        scenario = Scenario.load(scenario)
    n_years = scenario.years if years is None else int(years)
    if n_years < 0:
        raise ValueError(f"years = {n_years}; allowed: 0 or more")
    t0 = time.perf_counter()
    model = MetroModel(scenario, rng=seed)
    for k in range(n_years):
        model.step()
        if progress is not None:
            progress(k + 1, n_years)
    yearly, municipal = tables(model)
    manifest = {
        "scenario": scenario.to_dict(),
        "seed": seed,
        "years": n_years,
        "start_year": int(yearly["year"].iloc[0]),
        "wall_time_s": round(time.perf_counter() - t0, 3),
        "phase_seconds": {k: round(v, 4) for k, v in model.timings.items()},
        "versions": software_versions(),
    }
    if out is not None:
        out = Path(out)
        write_table(yearly, out / "yearly.parquet")
        write_table(municipal, out / "municipal.parquet")
        scenario.save(out / "scenario.toml")
        write_manifest(out / "manifest.json", manifest)
    return RunResult(yearly=yearly, municipal=municipal, manifest=manifest)
