"""Scenario discovery with the EMA Workbench: when do many households end up unhoused?

Runs a Latin hypercube over five uncertain parameters, crossed with both values of the growth
boundary lever, through ``ema_workbench.perform_experiments`` (metrosim's adapter
``metrosim.experiments.ema.ema_model``), then asks PRIM (Friedman & Fisher 1999; Bryant &
Lempert 2010) which region of the input space holds the experiments where (a) more than
``--unhoused-share`` of households are unhoused in the final year and (b) the urban area grew most
(top quarter). Writes ``experiments.parquet``, ``outcomes.parquet`` and ``run.json`` as soon as
the runs are done, then ``prim.json`` and ``report.txt`` (all atomically), and prints the report;
``--analyse-only`` redoes the analysis from the saved runs.

    PYTHONPATH=src .venv/bin/python experiments/ema_prim/run.py --out out/ema_prim
"""

from __future__ import annotations

import argparse
import io
import json
import multiprocessing
import sys
import time
import warnings
from contextlib import redirect_stdout
from pathlib import Path

# ema_workbench announces at import the optional back-ends it lacks (unused here)
warnings.filterwarnings("ignore", message="ipyparallel not installed")
warnings.filterwarnings("ignore", message="altair based interactive inspection")

import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from ema_workbench import (  # noqa: E402
    MultiprocessingEvaluator,
    Sample,
    SequentialEvaluator,
    perform_experiments,
)
from scipy.stats import spearmanr  # noqa: E402

from metrosim._atomic import atomic_write_text  # noqa: E402
from metrosim.experiments import ExperimentError  # noqa: E402
from metrosim.experiments.ema import box_limits, ema_model, prim  # noqa: E402
from metrosim.io import write_table  # noqa: E402

#: Plausible ranges, inside each field's allowed range (docs/parameters.md), around the default.
UNCERTAINTIES = {
    "formation_rate": (0.012, 0.024),  # new households a year (default 0.017)
    "cost_base": (14e6, 28e6),  # construction cost of a dwelling, CLP (default 20e6)
    "max_rent_share": (0.35, 0.6),  # affordability limit (default 0.5)
    "rent_adjust_speed": (0.5, 4.0),  # rent response to vacancy (default 2)
    "beta_commute": (-0.06, -0.01),  # commute disutility per minute (default -0.03)
}
LEVER_VALUES = ("none", "urban_limit_2017")
OUTCOMES = ["unhoused_households", "households", "urban_area_ha", "mean_rent", "vacancy_rate"]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--scenarios", type=int, default=20, help="LHS points (x 2 lever values)")
    ap.add_argument("--years", type=int, default=12)
    ap.add_argument("--cell-size", type=float, default=1000.0)
    ap.add_argument("--scale", type=int, default=20)
    ap.add_argument("--workers", type=int, default=2, help="processes (1: sequential)")
    ap.add_argument("--seed", type=int, default=0, help="seeds the LHS and every run")
    ap.add_argument("--unhoused-share", type=float, default=0.005)
    ap.add_argument("--out", type=Path, default=Path("out/ema_prim"))
    ap.add_argument(
        "--analyse-only", action="store_true", help="redo the analysis from the saved runs"
    )
    args = ap.parse_args(argv)
    try:
        model = ema_model(
            "fragmented",
            levers=["growth_boundary"],
            uncertainties=UNCERTAINTIES,
            outcomes=OUTCOMES,
            series=["urban_area_ha"],
            years=args.years,
            base_seed=args.seed,
            cell_size_m=args.cell_size,
            scale=args.scale,
        )
    except ExperimentError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    out = args.out
    if args.analyse_only:
        experiments = pd.read_parquet(out / "experiments.parquet")
        table = pd.read_parquet(out / "outcomes.parquet")
        run_info = json.loads((out / "run.json").read_text())
    else:
        policies = [Sample(name=v, growth_boundary=v) for v in LEVER_VALUES]
        t0 = time.perf_counter()
        evaluator = (
            SequentialEvaluator(model)
            if args.workers <= 1
            else MultiprocessingEvaluator(model, n_processes=args.workers)
        )
        with evaluator:
            experiments, outcomes = perform_experiments(
                model,
                scenarios=args.scenarios,
                policies=policies,
                uncertainty_sampling_kwargs={"rng": args.seed},
                evaluator=evaluator,
            )
        run_info = {
            "args": {k: str(v) for k, v in vars(args).items()},
            "wall_time_s": round(time.perf_counter() - t0, 1),
        }
        series = outcomes.pop("urban_area_ha_by_year")
        table = pd.DataFrame(outcomes)
        table["urban_growth_ha"] = series[:, -1] - series[:, 0]
        table["unhoused_share"] = table["unhoused_households"] / table["households"]
        experiments = experiments.astype({c: str for c in ("growth_boundary", "policy", "model")})
        experiments["scenario"] = experiments["scenario"].astype(str)
        # the runs are saved before any analysis: --analyse-only redoes the analysis from them
        write_table(experiments, out / "experiments.parquet")
        write_table(table, out / "outcomes.parquet")
        atomic_write_text(out / "run.json", json.dumps(run_info, indent=2) + "\n")

    text = io.StringIO()
    with redirect_stdout(text):
        a = run_info["args"]
        print(
            f"{len(experiments)} experiments ({a['scenarios']} LHS points x {len(LEVER_VALUES)} "
            f"growth-boundary values), {a['years']} years, {float(a['cell_size']):g} m cells, "
            f"scale {a['scale']}, seed {a['seed']}: {run_info['wall_time_s']:.0f} s with "
            f"{max(int(a['workers']), 1)} process(es)"
        )
        print("\nFinal-year outcomes by lever value (mean, min, max):")
        summary = table.assign(growth_boundary=experiments["growth_boundary"].astype(str))
        print(
            summary.groupby("growth_boundary")[["unhoused_share", "urban_growth_ha", "mean_rent"]]
            .agg(["mean", "min", "max"])
            .T.to_string(float_format=lambda v: f"{v:.4g}")
        )
        paired = summary.assign(scenario=experiments["scenario"].astype(str)).pivot(
            index="scenario", columns="growth_boundary", values="unhoused_share"
        )
        diff = paired[LEVER_VALUES[1]] - paired[LEVER_VALUES[0]]
        print(
            f"\nPaired by LHS point (same uncertainties, same seed): unhoused share with "
            f"{LEVER_VALUES[1]} minus {LEVER_VALUES[0]}: mean {diff.mean():+.4f}, higher in "
            f"{int((diff > 0).sum())} of {len(diff)} points"
        )
        print("\nSpearman rank correlation of each uncertainty with the unhoused share (p-value):")
        for g in LEVER_VALUES:
            part = summary[summary["growth_boundary"] == g]
            if len(part) < 5 or part["unhoused_share"].nunique() < 2:
                print(f"  {g}: too few distinct results")
                continue
            cells = []
            for u in UNCERTAINTIES:
                r = spearmanr(experiments.loc[part.index, u], part["unhoused_share"])
                cells.append(f"{u} {r.statistic:+.2f} ({r.pvalue:.3f})")
            print(f"  {g}: " + ", ".join(cells))
        analyses = {
            f"unhoused share > {args.unhoused_share:g}": (
                table["unhoused_share"] > args.unhoused_share
            ),
            "urban growth in the top quarter": (
                table["urban_growth_ha"] > table["urban_growth_ha"].quantile(0.75)
            ),
        }
        found = {
            name: _discover(name, experiments, cases.to_numpy()) for name, cases in analyses.items()
        }

    atomic_write_text(out / "prim.json", json.dumps(found, indent=2, default=str) + "\n")
    atomic_write_text(out / "report.txt", text.getvalue())
    print(text.getvalue(), end="")
    print(f"wrote {out}/experiments.parquet, outcomes.parquet, run.json, prim.json, report.txt")
    return 0


def _discover(name: str, experiments: pd.DataFrame, cases: np.ndarray) -> dict:
    """Run PRIM for one definition of the cases of interest and print its box."""
    print(f"\n=== PRIM: {name} ({int(cases.sum())} of {len(cases)} experiments) ===")
    try:
        p = prim(experiments, cases, peel_alpha=0.1, mass_min=0.1)
    except ExperimentError as exc:
        print(f"no PRIM: {exc}")
        return {"cases": int(cases.sum()), "box": None}
    box = p.find_box()
    traj = box.peeling_trajectory
    print("peeling trajectory (coverage, density, mass, restricted dimensions):")
    print(
        traj[["coverage", "density", "mass", "res_dim"]].to_string(
            float_format=lambda v: f"{v:.3f}"
        )
    )
    # the rule, fixed before looking: the densest box that still covers at least 60% of cases
    ok = traj[traj["coverage"] >= 0.6]
    i = int(ok["density"].idxmax())
    box.select(i)
    stats = traj.loc[i]
    limits = box_limits(box, i)
    print(
        f"\nselected box {i}: coverage {stats['coverage']:.3f}, "
        f"density {stats['density']:.3f}, mass {stats['mass']:.3f}"
    )
    print(limits.to_string(float_format=lambda v: f"{v:.4g}"))
    return {
        "cases": int(cases.sum()),
        "n": len(cases),
        "box": i,
        "coverage": float(stats["coverage"]),
        "density": float(stats["density"]),
        "mass": float(stats["mass"]),
        "limits": {
            str(d): (
                {"values": row["values"]}
                if row["values"] is not None
                else {"min": float(row["min"]), "max": float(row["max"])}
            )
            | {"qp_min": _num(row["qp_min"]), "qp_max": _num(row["qp_max"])}
            for d, row in limits.iterrows()
        },
    }


def _num(v):
    return None if v is None or np.isnan(v) else float(v)


if __name__ == "__main__":
    # metrosim's numba kernels start OpenMP threads, which fork() cannot copy: workers are spawned
    multiprocessing.set_start_method("spawn")
    sys.exit(main())
