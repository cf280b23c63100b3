"""The ``metrosim`` command: parse arguments, call the public API, print.

Bad input (a scenario file, an argument, a data file) ends with one line naming what was wrong
and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

from metrosim.data import DataError
from metrosim.experiments._runs import ExperimentError
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


def _int_at_least(minimum: int, why: str = ""):
    """An argparse type: an integer of at least ``minimum`` (``why`` says where it comes from)."""

    def parse(text: str) -> int:
        value = _positive_int(text) if minimum >= 0 else int(text)
        if value < minimum:
            reason = f" ({why})" if why else ""
            raise argparse.ArgumentTypeError(
                f"{value} is too small; allowed: {minimum} or more{reason}"
            )
        return value

    parse.__name__ = f"integer >= {minimum}"
    return parse


_FACT_YEARS = "the budget facts are for 2019"


def _port(text: str) -> int:
    value = _positive_int(text)
    if value > 65535:
        raise argparse.ArgumentTypeError(f"{value} is not a port; allowed: 0 to 65535 (0 = any)")
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


def _overridden(args: argparse.Namespace, scenario: Scenario) -> Scenario:
    """A scenario with the --scale, --cell-size and --set options given on the command line."""
    changes = {}
    if getattr(args, "scale", None) is not None:
        changes["scale"] = args.scale
    if getattr(args, "cell_size", None) is not None:
        changes["cell_size_m"] = args.cell_size
    return scenario.replace(**changes).with_overrides(args.set or [])


def _output_folder(out: Path, *, keep: bool = True) -> Path:
    """Create ``out`` if needed and check that files can be written in it, before any run.

    With ``keep=False`` the folders this check made are removed again (the command makes them
    later, once it knows it will run).

    Raises
    ------
    ExperimentError
        Naming the folder and the reason (a file of that name, no permission, ...).
    """
    if out.exists() and not out.is_dir():
        raise ExperimentError(f"output folder '{out}' is a file; give another --out folder")
    made = [p for p in (out, *out.parents) if not p.exists()]
    try:
        out.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(prefix=".write-check.", suffix=".tmp", dir=out)
        os.close(fd)
        os.unlink(probe)
        if not keep:
            for p in made:  # deepest first
                p.rmdir()
    except OSError as exc:
        reason = exc.strerror or type(exc).__name__
        raise ExperimentError(
            f"output folder '{out}' cannot be written ({reason}); give another --out folder"
        ) from None
    return out


def _check_run_folder(out: Path) -> None:
    """Refuse an output folder that holds other results than a ``metrosim run``'s.

    A run writes ``manifest.json``, ``yearly.parquet``, ``municipal.parquet`` and
    ``scenario.toml``; in the folder of a compare or a sweep (which has a ``manifest.json`` with a
    design hash, and ``runs/``) it would overwrite that folder's manifest and municipal table,
    and the folder could not be resumed. An earlier run's folder is replaced, as asked.
    """
    fix = "give another --out folder, or delete this one to start again"
    manifest = out / "manifest.json"
    if (out / "runs").is_dir():
        raise ExperimentError(f"output folder '{out}' holds a compare or sweep (runs/); {fix}")
    if not manifest.is_file():
        return
    try:
        old = json.loads(manifest.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        old = None
    if not (isinstance(old, dict) and "seed" in old and "design_hash" not in old):
        what = f"{old.get('kind')} " if isinstance(old, dict) and old.get("kind") else ""
        raise ExperimentError(
            f"output folder '{out}' holds other results ({what}manifest.json, not a "
            f"`metrosim run`'s); {fix}"
        )


def _cmd_run(args: argparse.Namespace) -> int:
    from metrosim.runner import run

    scenario = _resolve(args, args.scenario)
    out = Path(args.out) if args.out else Path("out") / f"{scenario.name}-seed{args.seed}"
    _check_run_folder(out)
    _output_folder(out)  # a bad --out fails now, not after the run
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
    from metrosim.report import membership_lines

    for line in membership_lines(result.municipal):
        print(line)
    print(f"wrote {out}/ (manifest.json, yearly.parquet, municipal.parquet, scenario.toml)")
    return 0


class _RunsProgress:
    """Progress of many runs on stderr: runs done, failures, elapsed time and ETA.

    On a terminal one line is rewritten; otherwise a line is printed at most every 10 s (and
    at the end).
    """

    def __init__(self, label: str = "runs"):
        self.label = label
        self.tty = sys.stderr.isatty()
        self.t0 = time.perf_counter()
        self.start: int | None = None
        self.last = 0.0

    def __call__(self, done: int, total: int, failed: int) -> None:
        now = time.perf_counter()
        if self.start is None:
            self.start = done
            self.t0 = now
            if done == total:
                print(f"{self.label}: all {total} already done", file=sys.stderr)
                return
            if done:
                print(f"{self.label}: {done}/{total} already done, resuming", file=sys.stderr)
        ran = done - self.start
        elapsed = now - self.t0
        eta = f"{_duration(elapsed / ran * (total - done))}" if ran else "?"
        line = (
            f"{self.label}: {done}/{total} done, {failed} failed, "
            f"{_duration(elapsed)} elapsed, eta {eta}"
        )
        if self.tty:
            print(f"\r{line}   ", end="\n" if done == total else "", file=sys.stderr, flush=True)
        elif done == total or now - self.last >= 10.0:
            print(line, file=sys.stderr, flush=True)
            self.last = now


def _duration(seconds: float) -> str:
    s = int(round(seconds))
    if s < 60:
        return f"{s}s"
    if s < 3600:
        return f"{s // 60}m{s % 60:02d}s"
    return f"{s // 3600}h{s % 3600 // 60:02d}m"


def _where(args: argparse.Namespace) -> tuple[dict, object | None]:
    """Executor arguments for --workers / --scheduler, and a client to close afterwards."""
    if getattr(args, "scheduler", None):
        from metrosim.experiments import connect

        client = connect(args.scheduler)
        return {"client": client}, client
    return {"workers": args.workers}, None


#: Defaults of `metrosim compare` without --design: finishes in minutes on 2 cores.
_COMPARE_DEFAULTS = {"seeds": 5, "years": 15, "scale": 20, "cell_size": 500.0}
#: The regimes `metrosim compare` runs when none are named (the baseline first); other presets
#: (e.g. national_master_plan, combined_authority) run when named.
COMPARE_PRESETS = ("fragmented", "coordinated", "metropolitan_authority", "voluntary_associations")


def _cmd_compare(args: argparse.Namespace) -> int:
    from metrosim.experiments import HEADLINE, compare
    from metrosim.experiments.design import load_compare_design

    base_seed = 0
    if args.design:
        if args.scenarios:
            raise ScenarioError("give scenarios or --design, not both")
        design = load_compare_design(args.design)
        scenarios = [_overridden(args, s) for s in design.scenarios]
        seeds = design.seeds if args.seeds is None else args.seeds
        years = design.years if args.years is None else args.years
        base_seed = design.base_seed
        default_out = Path("out") / design.name
    else:
        for key, value in _COMPARE_DEFAULTS.items():
            if getattr(args, key) is None:
                setattr(args, key, value)
        names = args.scenarios or [n for n in COMPARE_PRESETS if n in preset_names()]
        scenarios = [_resolve(args, n) for n in names]
        seeds, years = args.seeds, args.years
        default_out = Path("out") / "compare"
    out = Path(args.out) if args.out else default_out
    _output_folder(out)  # a bad --out fails now, not after the runs
    where, client = _where(args)
    print(
        f"metrosim compare: {', '.join(s.name for s in scenarios)}; {seeds} seeds x "
        f"{years} years; scale {scenarios[0].scale}, {scenarios[0].cell_size_m:g} m cells; "
        + (f"scheduler {args.scheduler}" if client else f"{args.workers} worker(s)"),
        file=sys.stderr,
    )
    try:
        result = compare(
            scenarios,
            seeds=seeds,
            years=years,
            base_seed=base_seed,
            out=out,
            progress=_RunsProgress(),
            **where,
        )
    finally:
        if client is not None:
            client.close()
    summary = result.summary
    final_year = int(result.runs["year"].max())
    shown = [c for c in HEADLINE if c in set(summary["outcome"])]
    print(
        f"\nFinal year {final_year}: mean [95% CI] over {seeds} seeds; "
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
    if result.municipal is not None:
        from metrosim.report import membership_lines

        for line in membership_lines(result.municipal):
            print(f"\n{line}")
    print(
        f"\nwrote {out}/ (runs.parquet, municipal.parquet, summary.csv, manifest.json, "
        "report.html, runs/)"
    )
    return _report_failures(result.failed, "key")


def _report_failures(failed, key: str) -> int:
    if failed is None or failed.empty:
        return 0
    print(f"metrosim: {len(failed)} run(s) failed:", file=sys.stderr)
    for _, r in failed.head(5).iterrows():
        print(f"  {r[key]}: {r['error']}", file=sys.stderr)
    print("re-run the same command to retry them (finished runs are kept)", file=sys.stderr)
    return 1


def _cmd_sweep(args: argparse.Namespace) -> int:
    from metrosim.experiments import analyze, load_design, sweep

    design = load_design(args.design)
    out = Path(args.out) if args.out else Path("out") / design.name
    if not (out.exists() and not out.is_dir()):  # (a file: the run store says what to do)
        _output_folder(out, keep=False)  # a bad --out fails now, not after the runs
    n_points = len(design.points())
    where, client = _where(args)
    print(
        f"metrosim sweep: {design.name}, {design.kind}, {n_points} points x {design.seeds} "
        f"seeds x {design.years} years; parameters "
        f"{', '.join(p.name for p in design.parameters)}; "
        + (f"scheduler {args.scheduler}" if client else f"{args.workers} worker(s)"),
        file=sys.stderr,
    )
    try:
        result = sweep(design, out=out, progress=_RunsProgress(), **where)
    finally:
        if client is not None:
            client.close()
    n_failed = len(result.failed)
    print(
        f"{len(result.experiments)} runs, {n_failed} failed; wrote {out}/ (experiments.parquet, "
        "outcomes.parquet, manifest.json, runs/)"
    )
    if args.analyze:
        table = analyze(result, args.analyze, year=args.year)
        print(
            f"\n{table.attrs['kind']} indices of {args.analyze} in {table.attrs['year']} "
            f"(mean over {design.seeds} seeds per point)"
        )
        print(table.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    return _report_failures(result.failed.rename(columns={"run_id": "key"}), "key")


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
    c.add_argument(
        "scenarios",
        nargs="*",
        help=f"scenario files or presets (default: {', '.join(COMPARE_PRESETS)})",
    )
    c.add_argument(
        "--design", help="a kind = 'compare' design file instead (e.g. experiments/headline)"
    )
    c.add_argument("--seeds", type=_int_at_least(1), help="replicates (default 5)")
    c.add_argument("--years", type=_positive_int, help="years per run (default 15)")
    c.add_argument("--scale", type=_positive_int, help="real households per agent (default 20)")
    c.add_argument("--cell-size", type=_positive_float, help="cell size in metres (default 500)")
    _add_where(c)
    c.add_argument("--out", help="output folder (default out/compare; re-run to resume)")
    c.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="set a parameter in every scenario"
    )
    c.set_defaults(func=_cmd_compare)

    w = sub.add_parser(
        "sweep", help="run a sweep design (factorial, Latin hypercube, Sobol, Morris)"
    )
    w.add_argument("design", help="a design TOML file (see experiments/README.md)")
    w.add_argument("--out", help="output folder (default out/<design name>; re-run to resume)")
    _add_where(w)
    w.add_argument(
        "--analyze",
        metavar="OUTCOME",
        help="print Sobol or Morris indices (rank correlations for other designs) of an outcome",
    )
    w.add_argument("--year", type=int, help="year for --analyze (default: the last)")
    w.set_defaults(func=_cmd_sweep)

    v = sub.add_parser("validate", help="check the fragmented baseline against Santiago's facts")
    v.add_argument("--seeds", type=_int_at_least(1), default=5, help="replicates (default 5)")
    v.add_argument(
        "--years",
        type=_int_at_least(2, _FACT_YEARS),
        default=10,
        help="years from 2017 (default 10; >= 2)",
    )
    v.add_argument("--scale", type=_positive_int, default=20, help="real households per agent")
    v.add_argument("--cell-size", type=_positive_float, default=500.0, help="cell size in metres")
    v.add_argument("--out", help="output folder (default out/validation)")
    v.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="set a parameter (repeatable)"
    )
    v.set_defaults(func=_cmd_validate)

    k = sub.add_parser(
        "calibrate",
        help="calibrate free parameters against Santiago's facts (ABC rejection)",
        description=(
            "Draw free parameters from uniform priors (Latin hypercube), run each sample over "
            "seeds, keep the samples closest to the facts of `metrosim validate` (ABC "
            "rejection) and write the posterior, calibrated.toml and the validation tables "
            "before and after. docs/calibration.md describes the method."
        ),
    )
    k.add_argument(
        "--samples", type=_int_at_least(2), default=80, help="prior samples (default 80)"
    )
    k.add_argument("--seeds", type=_int_at_least(1), default=2, help="seeds per sample (default 2)")
    k.add_argument(
        "--years",
        type=_int_at_least(2, _FACT_YEARS),
        default=10,
        help="years from 2017 (default 10; >= 2)",
    )
    k.add_argument(
        "--accept", type=_positive_float, default=0.1, help="share of samples kept (default 0.1)"
    )
    k.add_argument(
        "--params",
        help="comma-separated free parameters, each NAME or NAME=LOW:HIGH (default "
        "cost_per_density,social_housing_density,redevelopment_premium,servicing_cost_ha_km,"
        "licence_per_job)",
    )
    k.add_argument(
        "--check-seeds",
        type=_int_at_least(1),
        default=3,
        help="seeds of the validation before and after (default 3)",
    )
    k.add_argument("--base-seed", type=_positive_int, default=0, help="base seed (default 0)")
    k.add_argument("--scenario", default="fragmented", help="base scenario (default fragmented)")
    k.add_argument("--scale", type=_positive_int, default=20, help="real households per agent")
    k.add_argument("--cell-size", type=_positive_float, default=1000.0, help="cell size in metres")
    _add_where(k)
    k.add_argument("--out", help="output folder (default out/calibration; re-run to resume)")
    k.set_defaults(func=_cmd_calibrate)

    d = sub.add_parser("dashboard", help="start the live workshop dashboard in the browser")
    d.add_argument("--port", type=_port, default=8765, help="port (default 8765; 0 = any free)")
    d.add_argument("--host", default="127.0.0.1", help="address (default 127.0.0.1)")
    d.add_argument("--cell-size", type=_positive_float, help="cell size in metres (default 1000)")
    d.add_argument("--scale", type=_positive_int, help="real households per agent (default 20)")
    d.set_defaults(func=_cmd_dashboard)
    return p


def _cmd_validate(args: argparse.Namespace) -> int:
    from metrosim.validation import validate

    scenario = _resolve(args, "fragmented")
    out = Path(args.out) if args.out else Path("out") / "validation"
    _output_folder(out)  # a bad --out fails now, not after the runs
    print(
        f"metrosim validate: {scenario.name}, {args.seeds} seeds x {args.years} years, "
        f"scale {scenario.scale}, {scenario.cell_size_m:g} m cells",
        file=sys.stderr,
    )
    table = validate(
        seeds=args.seeds,
        years=args.years,
        scenario=scenario,
        out=out,
        progress=_Progress("seeds", sys.stderr.isatty()),
    )
    for _, r in table.iterrows():
        spread = f"[{r['model_min']:.3g}, {r['model_max']:.3g}]"
        print(f"{r['verdict']:>9}  {r['model_mean']:>10.4g} {spread:<22} {r['fact']}")
        print(f"{'':>9}  observed: {r['observed']}; tolerance: {r['tolerance']}")
    print(f"wrote {out}/ (validation.csv, validation.html)")
    return 0


def _cmd_calibrate(args: argparse.Namespace) -> int:
    from metrosim.calibration import calibrate, parse_priors

    scenario = Scenario.load(args.scenario).replace(
        _origin="--scale/--cell-size", scale=args.scale, cell_size_m=args.cell_size
    )
    priors = parse_priors(args.params, scenario)
    out = Path(args.out) if args.out else Path("out") / "calibration"
    _output_folder(out)  # a bad --out fails now, not after the runs
    where, client = _where(args)
    print(
        f"metrosim calibrate: {scenario.name}; {', '.join(p.name for p in priors)}; "
        f"{args.samples} samples x {args.seeds} seeds x {args.years} years, accept "
        f"{args.accept:g}; scale {scenario.scale}, {scenario.cell_size_m:g} m cells; "
        + (f"scheduler {args.scheduler}" if client else f"{args.workers} worker(s)"),
        file=sys.stderr,
    )
    try:
        res = calibrate(
            scenario,
            params=priors,
            samples=args.samples,
            seeds=args.seeds,
            years=args.years,
            accept=args.accept,
            check_seeds=args.check_seeds,
            base_seed=args.base_seed,
            out=out,
            progress=_RunsProgress,
            **where,
        )
    finally:
        if client is not None:
            client.close()
    n_acc = int(res.samples["accepted"].sum())
    print(
        f"\naccepted {n_acc} of {len(res.samples)} samples ({res.acceptance_rate:.1%}), "
        f"epsilon {res.epsilon:.3g}; distance to the facts: defaults {res.distance_before:.3g}, "
        f"posterior medians {res.distance_after:.3g}; facts met: {res.patterns_before} -> "
        f"{res.patterns_after}"
    )
    print("\nposterior median [90% credible interval] (prior; default)")
    for _, r in res.summary.iterrows():
        print(
            f"  {r['parameter']:<26} {r['median']:>12.4g} [{r['q05']:.4g}, {r['q95']:.4g}]  "
            f"(uniform {r['prior_low']:.4g}..{r['prior_high']:.4g}; {r['default']:.4g})"
        )
    print("\nvalidation (mean over seeds): before -> after")
    for (_, b), (_, a) in zip(res.before.iterrows(), res.after.iterrows(), strict=True):
        print(
            f"  {b['verdict']:>9} -> {a['verdict']:<9} {b['model_mean']:>9.4g} -> "
            f"{a['model_mean']:<9.4g} {b['fact']}"
        )
    print(
        f"wrote {out}/ (calibration.md, calibrated.toml, posterior.parquet, samples.parquet, "
        "posterior_summary.csv, validation_before.csv, validation_after.csv, samples/, "
        "checks/)"
    )
    failed = res.settings["failed_runs"]
    if failed:
        print(
            f"metrosim: {failed} sample run(s) failed (see {out}/samples/experiments.parquet); "
            "re-run the same command to retry them (finished runs are kept)",
            file=sys.stderr,
        )
        return 1
    return 0


def _cmd_dashboard(args: argparse.Namespace) -> int:
    from metrosim.dashboard.server import main as dashboard_main

    argv = ["--port", str(args.port), "--host", args.host]
    if args.cell_size is not None:
        argv += ["--cell-size", str(args.cell_size)]
    if args.scale is not None:
        argv += ["--scale", str(args.scale)]
    return dashboard_main(argv)


def _add_where(p: argparse.ArgumentParser) -> None:
    g = p.add_mutually_exclusive_group()
    g.add_argument(
        "--workers",
        type=_int_at_least(1),
        default=2,
        help="local processes: a Dask LocalCluster (default 2; 1 runs in this process)",
    )
    g.add_argument(
        "--scheduler", metavar="ADDRESS", help="a running Dask scheduler, tcp://HOST:PORT"
    )


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``metrosim`` command; returns the exit status."""
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        return args.func(args)
    except (ScenarioError, DataError, ExperimentError) as exc:
        print(f"metrosim: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. --out names a file, or a folder that cannot be written
        print(f"metrosim: error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return _interrupted()
    except SystemError as exc:  # Ctrl-C inside a numba kernel's call surfaces as SystemError
        if not _caused_by_interrupt(exc):
            raise
        return _interrupted()


def _interrupted() -> int:
    print("\nmetrosim: interrupted; files already written are complete", file=sys.stderr)
    return 130


def _caused_by_interrupt(exc: BaseException) -> bool:
    """True when a KeyboardInterrupt is in ``exc``'s chain of causes and contexts."""
    seen: set[int] = set()
    stack: list[BaseException | None] = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        if isinstance(e, KeyboardInterrupt):
            return True
        seen.add(id(e))
        stack += [e.__cause__, e.__context__]
    return False


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
