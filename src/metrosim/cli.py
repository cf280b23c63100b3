"""The ``metrosim`` command: parse arguments, call the public API, print.

Bad input (a scenario file, an argument, a data file) ends with one line naming what was wrong
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from metrosim.data import DataError
from metrosim.scenario import Scenario, ScenarioError, preset_names

__all__ = ["main"]


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from None
    if value < 0:
        raise argparse.ArgumentTypeError(f"{value} is negative; allowed: 0 or more")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"{value} must be positive")
    return value


class _Progress:
    """A one-line progress display on stderr: years done, elapsed time and ETA."""

    def __init__(self, label: str, enabled: bool):
        self.label = label
        self.enabled = enabled
        self.t0 = time.perf_counter()

    def __call__(self, done: int, total: int) -> None:
        if not self.enabled or total == 0:
            return
        elapsed = time.perf_counter() - self.t0
        eta = elapsed / done * (total - done)
        end = "\n" if done == total else ""
        print(
            f"\r{self.label}: year {done}/{total}  {elapsed:5.1f}s elapsed  eta {eta:5.1f}s",
            end=end,
            file=sys.stderr,
            flush=True,
        )


def _resolve(args: argparse.Namespace, source: str) -> Scenario:
    scenario = Scenario.load(source)
    changes = {}
    if getattr(args, "scale", None) is not None:
        changes["scale"] = args.scale
    if getattr(args, "cell_size", None) is not None:
        changes["cell_size_m"] = args.cell_size
    if getattr(args, "years", None) is not None:
        changes["years"] = args.years
    scenario = scenario.replace(**changes)
    return scenario.with_overrides(args.set or [])


def _cmd_run(args: argparse.Namespace) -> int:
    from metrosim.runner import run

    scenario = _resolve(args, args.scenario)
    out = Path(args.out) if args.out else Path("out") / f"{scenario.name}-seed{args.seed}"
    out.mkdir(parents=True, exist_ok=True)  # a bad --out fails now, not after the run
    result = run(
        scenario,
        seed=args.seed,
        out=out,
        progress=_Progress(f"{scenario.name} seed {args.seed}", sys.stderr.isatty()),
    )
    last = result.yearly.iloc[-1]
    print(f"metrosim run: {scenario.name}, seed {args.seed}, {int(last['year'])}")
    cols = [c for c in result.yearly.columns if c != "year"]
    for c in cols:
        print(f"  {c:<40} {last[c]:>16,.4g}")
    print(f"wrote {out}/ (manifest.json, yearly.parquet, municipal.parquet, scenario.toml)")
    return 0


def _cmd_compare(args: argparse.Namespace) -> int:
    from metrosim.experiments import HEADLINE, compare

    names = args.scenarios or ["fragmented"] + [n for n in preset_names() if n != "fragmented"]
    scenarios = [_resolve(args, n) for n in names]
    out = Path(args.out) if args.out else Path("out") / "compare"
    out.mkdir(parents=True, exist_ok=True)  # a bad --out fails now, not after the runs
    years = scenarios[0].years if args.years is None else args.years
    print(
        f"metrosim compare: {', '.join(s.name for s in scenarios)}; {args.seeds} seeds x "
        f"{years} years; scale {scenarios[0].scale}, {scenarios[0].cell_size_m:g} m cells",
        file=sys.stderr,
    )
    progress = _Progress("runs", True)

    def show(done: int, total: int) -> None:
        elapsed = time.perf_counter() - progress.t0
        eta = elapsed / done * (total - done)
        print(f"  run {done}/{total}  {elapsed:6.1f}s elapsed  eta {eta:6.1f}s", file=sys.stderr)

    result = compare(
        scenarios,
        seeds=args.seeds,
        years=args.years,
        workers=args.workers,
        out=out,
        progress=show,
    )
    summary = result.summary
    final_year = int(result.runs["year"].max())
    shown = [c for c in HEADLINE if c in set(summary["outcome"])]
    print(
        f"\nFinal year {final_year}: mean [95% CI] over {args.seeds} seeds; "
        f"difference from {scenarios[0].name} (paired by seed)"
    )
    for outcome in shown:
        print(f"\n{outcome}")
        for _, r in summary[summary["outcome"] == outcome].iterrows():
            diff = (
                "baseline"
                if r["scenario"] == scenarios[0].name
                else f"diff {r['diff']:+.4g} [{r['diff_ci_low']:+.4g}, {r['diff_ci_high']:+.4g}]"
            )
            print(
                f"  {r['scenario']:<26} {r['mean']:>12.4g} "
                f"[{r['ci_low']:.4g}, {r['ci_high']:.4g}]  {diff}"
            )
    print(f"\nwrote {out}/ (runs.parquet, municipal.parquet, summary.csv, manifest.json)")
    return 0


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``metrosim`` command."""
    p = argparse.ArgumentParser(
        prog="metrosim",
        description="Agent-based simulation of metropolitan governance and urban sprawl.",
    )
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run", help="run one scenario and write its tables")
    r.add_argument(
        "scenario", help=f"a scenario TOML file or a preset: {', '.join(preset_names())}"
    )
    r.add_argument("--seed", type=_positive_int, default=0, help="random seed (default 0)")
    r.add_argument("--years", type=_positive_int, help="years to simulate")
    r.add_argument("--scale", type=_positive_int, help="real households per simulated one")
    r.add_argument("--cell-size", type=_positive_float, help="cell size in metres")
    r.add_argument("--out", help="output folder (default out/<scenario>-seed<N>)")
    r.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="set a parameter (repeatable)"
    )
    r.set_defaults(func=_cmd_run)

    c = sub.add_parser("compare", help="compare scenarios over common seeds (the main job)")
    c.add_argument("scenarios", nargs="*", help="scenario files or presets (default: all presets)")
    c.add_argument("--seeds", type=_positive_int, default=5, help="replicates (default 5)")
    c.add_argument("--years", type=_positive_int, default=15, help="years per run (default 15)")
    c.add_argument("--scale", type=_positive_int, default=20, help="real households per agent")
    c.add_argument("--cell-size", type=_positive_float, default=500.0, help="cell size in metres")
    c.add_argument("--workers", type=_positive_int, default=2, help="processes (default 2)")
    c.add_argument("--out", help="output folder (default out/compare)")
    c.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="set a parameter in every scenario"
    )
    c.set_defaults(func=_cmd_compare)
    return p


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metrosim`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ScenarioError, DataError) as exc:
        print(f"metrosim: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out names a file, or a folder that cannot be written
        print(f"metrosim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("\nmetrosim: interrupted; files already written are complete", file=sys.stderr)
        return 130


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
