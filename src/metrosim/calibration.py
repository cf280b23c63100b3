"""Calibration of free parameters against Santiago's facts by approximate Bayesian computation.

:func:`calibrate` takes a few parameters whose default has no source (their
:class:`~metrosim.scenario.ParamSpec` source is an "assumption"), draws them from uniform priors
by a Latin hypercube (the sweep machinery, :func:`metrosim.experiments.sweep`, so samples run
in this process, on a Dask ``LocalCluster`` or behind a real scheduler, and a repeated call
runs only what is missing), measures every run with the facts of :mod:`metrosim.validation`
and keeps the samples whose summaries lie closest to the facts:

* **ABC rejection** (Pritchard et al. 1999; Beaumont et al. 2002): each sample's summaries
  (means over its seeds) are turned into standardised discrepancies from the facts
  (:data:`TARGETS`), the distance is their weighted root mean square, and the ``accept``
  fraction of samples with the smallest distance is the posterior sample (the tolerance
  epsilon is that quantile of the distances, as in Beaumont et al. 2002). Posterior medians
  and 90% credible intervals (5th and 95th percentiles of the accepted values) are reported.
* **Pattern-oriented filter** (Grimm et al. 2005): every sample also counts the facts it
  meets at once, with the tolerances stated in :data:`metrosim.validation.FACTS`; the
  summary reports how many accepted samples meet at least as many patterns as the defaults.

The calibrated values (posterior medians) are written as a scenario file of overrides that a
preset can include (``include = "calibrated.toml"``), with each value's interval in a comment,
and the validation table is run before (defaults) and after (posterior medians) over the same
seeds.

References
----------
Beaumont, M. A., Zhang, W. & Balding, D. J. (2002). Approximate Bayesian computation in
population genetics. *Genetics* 162, 2025-2035.
Grimm, V. et al. (2005). Pattern-oriented modeling of agent-based complex systems: lessons from
ecology. *Science* 310, 987-991.
Pritchard, J. K., Seielstad, M. T., Perez-Lezaun, A. & Feldman, M. W. (1999). Population growth
of human Y chromosomes: a study of Y chromosome microsatellites. *Mol. Biol. Evol.* 16,
1791-1798.
Toni, T. et al. (2009). Approximate Bayesian computation scheme for parameter inference and
model selection in dynamical systems. *J. R. Soc. Interface* 6, 187-202.
"""

from __future__ import annotations

import datetime
import math
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrosim._atomic import atomic_write_text
from metrosim.scenario import Scenario, ScenarioError, parameter_table

__all__ = [
    "DEFAULT_PARAMETERS",
    "PRIORS",
    "TARGETS",
    "CalibrationResult",
    "Prior",
    "Target",
    "abc_rejection",
    "calibrate",
    "discrepancies",
    "distance",
    "parse_priors",
    "patterns_met",
    "posterior_summary",
]


# ------------------------------------------------------------------------------------------
# parameters and priors
@dataclass(frozen=True)
class Prior:
    """A uniform prior on one free scenario parameter.

    Attributes
    ----------
    name : str
        A numeric :class:`~metrosim.scenario.Scenario` field whose source is an assumption.
    low, high : float
        Bounds of the uniform prior (within the field's allowed range).
    reason : str
        Why this parameter and this range.
    """

    name: str
    low: float
    high: float
    reason: str = ""


#: Priors of the free parameters :func:`calibrate` knows a range for. Each is uniform on a
#: stated range around the default, narrower than the field's allowed range (which only
#: excludes nonsense). ``--params name=low:high`` calibrates any other free parameter.
PRIORS: dict[str, Prior] = {
    p.name: p
    for p in (
        Prior(
            "cost_per_density",
            5.0e4,
            1.5e6,
            "construction cost per dwelling rises with density; sets the developers' "
            "profit-maximising density D* = (value - cost_base) / (2 cost_per_density), hence "
            "the density of new growth and how much land it takes",
        ),
        Prior(
            "developer_heterogeneity",
            0.05,
            1.0,
            "spread of developers' costs and information: how strictly projects go to the most "
            "profitable sites (infill or edge)",
        ),
        Prior(
            "servicing_cost_ha_km",
            0.0,
            1.2e8,
            "cost of extending roads and utilities per km from the footprint: how far from the "
            "edge greenfield projects pay",
        ),
        Prior(
            "redevelopment_premium",
            0.25,
            3.0,
            "cost of densifying an occupied cell, as a multiple of its dwellings' value: infill "
            "against greenfield",
        ),
        Prior(
            "natural_vacancy",
            0.03,
            0.10,
            "vacancy at which rents are stable and developers stop building: how much is built",
        ),
        Prior(
            "tax_per_job",
            0.0,
            4.0e5,
            "property tax on non-residential property per job: revenue of the job-rich "
            "communes, hence the budget spread and who pays into the fund",
        ),
        Prior(
            "licence_per_job",
            0.0,
            4.0e5,
            "business-licence revenue per job: as tax_per_job",
        ),
        Prior(
            "social_housing_density",
            20.0,
            100.0,
            "density of the housing ministry's projects, from single-family subsidised housing "
            "to low-rise blocks: much of the new peripheral land, hence its density and extent",
        ),
        Prior(
            "beta_homophily",
            0.0,
            4.0,
            "preference for neighbours of one's own income group: income clustering",
        ),
    )
}

#: The parameters calibrated when none are named.
DEFAULT_PARAMETERS: tuple[str, ...] = (
    "cost_per_density",
    "social_housing_density",
    "redevelopment_premium",
    "servicing_cost_ha_km",
    "licence_per_job",
)


def _free_fields() -> dict[str, dict[str, Any]]:
    """Numeric uncertain scenario fields whose source is an assumption, by name.

    Levers (what a regime sets) and settings (the horizon, the resolution, measurement
    standards: what a run is, not the city) are not calibrated.
    """
    out = {}
    for row in parameter_table():
        d = row["default"]
        numeric = isinstance(d, int | float) and not isinstance(d, bool)
        assumed = str(row["source"]).startswith("assumption")
        if numeric and assumed and row["kind"] == "uncertainty":
            out[row["name"]] = row
    return out


def parse_priors(spec: str | Sequence[str] | None, base: Scenario | None = None) -> list[Prior]:
    """Priors from ``"a,b,c"`` or a list of names, each optionally ``name=low:high``.

    A bare name takes its range from :data:`PRIORS`; any other free parameter needs a range.

    Raises
    ------
    ScenarioError
        Naming the parameter and what is allowed: an unknown field, a field with a source
        (not free), a lever, a range outside the field's allowed range or with low >= high.
    """
    if spec is None:
        items = list(DEFAULT_PARAMETERS)
    elif isinstance(spec, str):
        items = [s.strip() for s in spec.split(",")]
    else:
        items = [str(s).strip() for s in spec]
    if not items or any(not s for s in items):
        raise ScenarioError(
            f"--params {spec!r}: give comma-separated parameter names; allowed: "
            + ", ".join(PRIORS)
            + " (or any free parameter as name=low:high)"
        )
    free = _free_fields()
    base = base if base is not None else Scenario()
    priors: list[Prior] = []
    for item in items:
        name, _, rng = item.partition("=")
        name = name.strip()
        if name not in free:
            rows = {r["name"]: r for r in parameter_table()}
            if name in rows:
                why = (
                    "is a policy lever"
                    if rows[name]["lever"]
                    else "is a setting of the run (its horizon, resolution or a measurement "
                    "standard), not a property of the city"
                    if rows[name]["kind"] == "setting"
                    else "has a source, not an assumption"
                    if isinstance(rows[name]["default"], int | float)
                    and not isinstance(rows[name]["default"], bool)
                    else "is not numeric"
                )
                raise ScenarioError(
                    f"--params: {name!r} {why}; only free parameters are calibrated. Allowed: "
                    + ", ".join(PRIORS)
                    + " (or another numeric field whose source is an assumption, as "
                    "name=low:high; docs/parameters.md)"
                )
            raise ScenarioError(
                f"--params: unknown parameter {name!r}; allowed: "
                + ", ".join(PRIORS)
                + " (or another free parameter as name=low:high)"
            )
        if rng:
            lo_text, sep, hi_text = rng.partition(":")
            try:
                if not sep:
                    raise ValueError
                low, high = float(lo_text), float(hi_text)
            except ValueError:
                raise ScenarioError(
                    f"--params: {item!r}: the range must be low:high, e.g. {name}=0.1:2.0"
                ) from None
            prior = Prior(name, low, high, "range given on the command line")
        elif name in PRIORS:
            prior = PRIORS[name]
        else:
            raise ScenarioError(
                f"--params: {name!r} has no stated prior; give its range as {name}=low:high "
                f"(allowed: {free[name]['allowed']})"
            )
        if not (math.isfinite(prior.low) and math.isfinite(prior.high) and prior.low < prior.high):
            raise ScenarioError(
                f"--params: {name} range {prior.low:g}:{prior.high:g}; allowed: low < high"
            )
        for v in (prior.low, prior.high):
            try:
                base.replace(_origin=f"--params {name}", **{name: _typed(name, v)})
            except ScenarioError as exc:
                raise ScenarioError(f"{exc} (prior bound of {name})") from None
        if any(p.name == name for p in priors):
            raise ScenarioError(f"--params: {name!r} is given twice")
        priors.append(prior)
    return priors


def _typed(name: str, value: float) -> Any:
    default = Scenario.__dataclass_fields__[name].default
    return int(round(value)) if isinstance(default, int) else float(value)


# ------------------------------------------------------------------------------------------
# summaries, discrepancies, distance
@dataclass(frozen=True)
class Target:
    """How far a summary is from a fact, in units of the fact's tolerance.

    Attributes
    ----------
    key : str
        A key of :func:`metrosim.validation.measure_run`'s summaries.
    center : float
        The observed value (or threshold, for one-sided facts).
    scale : float
        One unit of discrepancy (the half-width of the stated tolerance).
    kind : str
        ``two_sided``: ``(s - center) / scale``; ``log``: ``log(s / center) / log(scale)``;
        ``at_least``: ``max(0, center - s) / scale``; ``at_most``: ``max(0, s - center) /
        scale``.
    weight : float
        Weight in the distance.
    """

    key: str
    center: float
    scale: float
    kind: str = "two_sided"
    weight: float = 1.0

    def discrepancy(self, value: float) -> float:
        """Standardised discrepancy of a summary value (NaN when the value is not finite)."""
        if not np.isfinite(value):
            return float("nan")
        if self.kind == "two_sided":
            return (value - self.center) / self.scale
        if self.kind == "log":
            return math.log(max(value, 1e-12) / self.center) / math.log(self.scale)
        if self.kind == "at_least":
            return max(0.0, self.center - value) / self.scale
        if self.kind == "at_most":
            return max(0.0, value - self.center) / self.scale
        raise ValueError(f"Target.kind = {self.kind!r}; allowed: two_sided, log, at_least, at_most")


#: The facts of :data:`metrosim.validation.FACTS` as calibration targets. The scale of each is
#: the half-width of its stated tolerance, so a discrepancy of 1 is the edge of the tolerance.
#: The four fund shares come from one source and share one unit of weight; every other fact
#: weighs 1. The starting population (fixed by the census) and the Lee-Sallee index (no
#: observation) are not targets.
TARGETS: tuple[Target, ...] = (
    Target("budget_ratio", 7.9, 1.5, "log"),
    Target("budget_rho", 0.7, 0.3, "at_least"),
    Target("fcm_share_13114", 0.257, 0.5 * 0.257, weight=0.25),
    Target("fcm_share_13101", 0.092, 0.5 * 0.092, weight=0.25),
    Target("fcm_share_13123", 0.091, 0.5 * 0.091, weight=0.25),
    Target("fcm_share_13132", 0.042, 0.5 * 0.042, weight=0.25),
    Target("cerro_navia_fcm", 0.77, 0.15),
    Target("green_rich", 10.0, 5.0, "at_least"),
    Target("green_poor", 2.0, 1.0, "at_most"),
    Target("footprint_growth_pct", 1.9, 1.0),
    Target("new_density_ratio", 0.4, 0.175),
    Target("outside_limit_share", 0.75, 0.25),
    Target("morans_i", 0.1, 0.1, "at_least"),
    Target("north_east_top5", 4.0, 1.0, "at_least"),
)

#: Discrepancy given to a fact that cannot be measured in a sample (e.g. no new urban land).
MISSING_DISCREPANCY = 3.0


def discrepancies(summary: Mapping[str, float], targets: Sequence[Target] = TARGETS) -> np.ndarray:
    """Standardised discrepancies of one sample's summaries, one per target.

    A summary that is missing or not finite counts as :data:`MISSING_DISCREPANCY`.
    """
    out = np.empty(len(targets))
    for i, t in enumerate(targets):
        d = t.discrepancy(float(summary.get(t.key, np.nan)))
        out[i] = MISSING_DISCREPANCY if not np.isfinite(d) else d
    return out


def distance(summary: Mapping[str, float], targets: Sequence[Target] = TARGETS) -> float:
    """Weighted root mean square of the standardised discrepancies.

    ``sqrt(sum_k w_k d_k^2 / sum_k w_k)``: 0 when every fact is matched exactly (or a one-sided
    fact is met), 1 when every fact sits at the edge of its tolerance.
    """
    d = discrepancies(summary, targets)
    w = np.array([t.weight for t in targets], dtype=float)
    return float(np.sqrt(np.sum(w * d**2) / np.sum(w)))


def patterns_met(summary: Mapping[str, float]) -> int:
    """Number of facts of :data:`metrosim.validation.FACTS` met at once (Grimm et al. 2005).

    Facts with no verdict (reported only) and the starting population are not counted.
    """
    from metrosim.validation import FACTS

    n = 0
    for fact in FACTS:
        if fact.tolerance.startswith("reported") or fact.name.startswith("population"):
            continue
        try:
            v = float(fact.measure(dict(summary)))
        except KeyError:
            continue
        n += int(np.isfinite(v) and bool(fact.passes(v)))
    return n


# ------------------------------------------------------------------------------------------
# ABC
def abc_rejection(distances: np.ndarray, accept: float) -> tuple[np.ndarray, float]:
    """ABC rejection with a quantile tolerance (Beaumont et al. 2002).

    Parameters
    ----------
    distances : array
        One distance per prior sample (NaN or inf for samples that could not be measured).
    accept : float
        Share of the finite samples to keep, in (0, 1].

    Returns
    -------
    accepted : bool array
        The ``ceil(accept * n_finite)`` samples with the smallest distance (ties broken by
        sample order).
    epsilon : float
        The largest accepted distance (the tolerance).
    """
    if not 0.0 < accept <= 1.0:
        raise ValueError(f"accept = {accept}; allowed: 0 < accept <= 1")
    d = np.asarray(distances, dtype=float)
    finite = np.isfinite(d)
    n_keep = math.ceil(accept * int(finite.sum()))
    mask = np.zeros(len(d), dtype=bool)
    if n_keep == 0:
        return mask, float("nan")
    order = np.argsort(np.where(finite, d, np.inf), kind="stable")[:n_keep]
    mask[order] = True
    return mask, float(d[order].max())


def posterior_summary(
    theta: np.ndarray, accepted: np.ndarray, priors: Sequence[Prior], defaults: Sequence[float]
) -> pd.DataFrame:
    """Posterior median and 90% credible interval of each parameter from accepted samples.

    Returns
    -------
    DataFrame
        ``parameter``, ``prior_low``, ``prior_high``, ``default``, ``median``, ``q05``,
        ``q95``, ``mean``, ``sd`` and ``width_share`` (the interval's width as a share of the
        prior's: near 0.9 means the facts say little about the parameter).
    """
    kept = np.asarray(theta, dtype=float)[np.asarray(accepted, dtype=bool)]
    rows = []
    for j, p in enumerate(priors):
        x = kept[:, j]
        q05, med, q95 = np.quantile(x, [0.05, 0.5, 0.95])
        rows.append(
            {
                "parameter": p.name,
                "prior_low": p.low,
                "prior_high": p.high,
                "default": float(defaults[j]),
                "median": float(med),
                "q05": float(q05),
                "q95": float(q95),
                "mean": float(x.mean()),
                "sd": float(x.std(ddof=1)) if len(x) > 1 else float("nan"),
                "width_share": float((q95 - q05) / (p.high - p.low)),
            }
        )
    return pd.DataFrame(rows)


# ------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class CalibrationResult:
    """What :func:`calibrate` produced.

    Attributes
    ----------
    samples : DataFrame
        One row per prior sample: ``point``, each parameter, each summary (mean over seeds),
        ``seeds_ok``, ``distance``, ``patterns_met`` and ``accepted``.
    summary : DataFrame
        :func:`posterior_summary` of the accepted samples.
    calibrated : Scenario
        The base scenario with the posterior medians (rounded to 4 significant digits).
    before, after : DataFrame
        Validation tables (:func:`metrosim.validation.validation_table`) of the base scenario
        and of ``calibrated``, over the same seeds.
    epsilon : float
        The ABC tolerance (largest accepted distance).
    acceptance_rate : float
        Accepted samples over samples measured.
    distance_before, distance_after : float
        Distance of the seed-mean summaries of the before and after runs.
    folder : Path or None
    """

    samples: pd.DataFrame
    summary: pd.DataFrame
    calibrated: Scenario
    before: pd.DataFrame
    after: pd.DataFrame
    epsilon: float
    acceptance_rate: float
    distance_before: float
    distance_after: float
    patterns_before: int
    patterns_after: int
    settings: dict[str, Any]
    folder: Path | None = None


def calibrate(
    scenario: Scenario | None = None,
    *,
    params: str | Sequence[str] | Sequence[Prior] | None = None,
    samples: int = 80,
    seeds: int = 2,
    years: int = 10,
    accept: float = 0.1,
    check_seeds: int = 3,
    base_seed: int = 0,
    out: str | Path | None = None,
    executor: Executor | None = None,
    client: Any = None,
    workers: int = 1,
    progress: Callable[[str], Callable[[int, int, int], None]] | None = None,
) -> CalibrationResult:
    """Calibrate free parameters against Santiago's facts by ABC rejection.

    Parameters
    ----------
    scenario : Scenario, optional
        The scenario calibrated (default: the ``fragmented`` preset, today's rules).
    params : str, list of str or list of Prior, optional
        Parameters and priors (see :func:`parse_priors`); default :data:`DEFAULT_PARAMETERS`.
    samples : int
        Prior samples (Latin hypercube points), at least 2.
    seeds : int
        Replicates per sample; the sample's summaries are their means.
    years : int
        Years from 2017, at least 2 (the budget facts are for 2019).
    accept : float
        Share of samples kept, in (0, 1]; ``accept * samples`` must keep at least 2.
    check_seeds : int
        Replicates of the validation before (the base scenario) and after (posterior
        medians), on the seeds of :func:`metrosim.validation.validate`.
    base_seed : int
        Seeds the Latin hypercube, the sample runs and the check runs.
    out : path, optional
        Folder for ``samples/`` (a sweep folder, resumable), ``checks/before-<hash>/`` and
        ``checks/after-<hash>/`` (the validation runs, resumable; the hash names the scenario
        checked), ``posterior.parquet``, ``samples.parquet``,
        ``posterior_summary.csv``, ``calibrated.toml``, ``validation_before.csv``,
        ``validation_after.csv`` and ``calibration.md``.
    executor, client, workers
        Where runs go, as for :func:`metrosim.experiments.sweep`.
    progress : callable, optional
        ``progress(label)`` returns a ``(done, total, failed)`` callback for each stage.

    Returns
    -------
    CalibrationResult

    Raises
    ------
    ScenarioError
        For bad parameters, priors or settings (naming the field and what is allowed).
    ExperimentError
        For an output folder holding another calibration, or check runs that failed.
    """
    from metrosim.experiments import replicate_seeds, sweep
    from metrosim.experiments._runs import close_client, local_client
    from metrosim.experiments.design import Design, Parameter
    from metrosim.validation import measure_run

    _check_int("samples", samples, 2)
    _check_int("seeds", seeds, 1)
    _check_int("years", years, 2, "the budget facts are for 2019")
    _check_int("check_seeds", check_seeds, 1)
    _check_int("base_seed", base_seed, 0)
    if not (isinstance(accept, int | float) and 0.0 < accept <= 1.0):
        raise ScenarioError(f"accept = {accept!r}; allowed: 0 < accept <= 1")
    if math.ceil(accept * samples) < 2:
        raise ScenarioError(
            f"accept = {accept:g} keeps {math.ceil(accept * samples)} of {samples} samples; "
            f"allowed: accept * samples >= 2 (e.g. accept = {min(1.0, 2 / samples):.3g})"
        )
    base = scenario if scenario is not None else Scenario.load("fragmented")
    if params and all(isinstance(p, Prior) for p in params):
        priors = list(params)  # type: ignore[arg-type]
    else:
        priors = parse_priors(params, base)  # type: ignore[arg-type]
    fields = Scenario.__dataclass_fields__
    design = Design(
        name="calibration",
        base=base,
        parameters=tuple(
            Parameter(
                p.name,
                low=_typed(p.name, p.low),
                high=_typed(p.name, p.high),
                integer=isinstance(fields[p.name].default, int),
            )
            for p in priors
        ),
        kind="latin_hypercube",
        samples=samples,
        seeds=seeds,
        years=years,
        base_seed=base_seed,
        description="ABC rejection against the facts of metrosim.validation",
    )
    folder = Path(out) if out is not None else None
    own_client = None
    if executor is None and client is None and workers > 1:
        own_client = client = local_client(workers)
    try:
        where: dict[str, Any] = {"executor": executor, "client": client, "workers": workers}
        result = sweep(
            design,
            out=folder / "samples" if folder else None,
            measure=measure_run,
            progress=progress("samples") if progress else None,
            **where,
        )
        table = _sample_table(result, priors)
        theta = table[[p.name for p in priors]].to_numpy(dtype=float)
        mask, epsilon = abc_rejection(table["distance"].to_numpy(), accept)
        table["accepted"] = mask
        n_finite = int(np.isfinite(table["distance"]).sum())
        if mask.sum() < 2:
            raise ScenarioError(
                f"only {int(mask.sum())} sample(s) could be measured and kept; allowed: at "
                "least 2 (see the failed runs in samples/experiments.parquet)"
            )
        defaults = [float(getattr(base, p.name)) for p in priors]
        summary = posterior_summary(theta, mask, priors, defaults)
        changes = {
            row["parameter"]: _typed(row["parameter"], float(f"{row['median']:.4g}"))
            for _, row in summary.iterrows()
        }
        calibrated = base.replace(_origin="calibrated values", **changes)
        seeds_check = replicate_seeds(base_seed, check_seeds)
        runs = _check_runs(
            {"before": base, "after": calibrated},
            seeds_check,
            years,
            folder,
            where,
            progress("validation before/after") if progress else None,
        )
    finally:
        if own_client is not None:
            close_client(own_client)
    from metrosim.validation import validation_table

    before, after = validation_table(runs["before"]), validation_table(runs["after"])
    mean_before = _mean_summary(runs["before"])
    mean_after = _mean_summary(runs["after"])
    res = CalibrationResult(
        samples=table,
        summary=summary,
        calibrated=calibrated,
        before=before,
        after=after,
        epsilon=epsilon,
        acceptance_rate=float(mask.sum() / max(n_finite, 1)),
        distance_before=distance(mean_before),
        distance_after=distance(mean_after),
        patterns_before=patterns_met(mean_before),
        patterns_after=patterns_met(mean_after),
        settings={
            "scenario": base.name,
            "parameters": [p.name for p in priors],
            "samples": samples,
            "seeds": seeds,
            "years": years,
            "accept": accept,
            "check_seeds": check_seeds,
            "base_seed": base_seed,
            "scale": base.scale,
            "cell_size_m": base.cell_size_m,
            "failed_runs": int(len(result.failed)),
        },
        folder=folder,
    )
    if folder is not None:
        _write(res, priors)
    return res


def _check_int(name: str, value: Any, low: int, why: str = "") -> None:
    if not isinstance(value, int) or isinstance(value, bool) or value < low:
        extra = f" ({why})" if why else ""
        raise ScenarioError(f"{name} = {value!r}; allowed: an integer, {low} or more{extra}")


def _mean_summary(runs: Sequence[Mapping[str, float]]) -> dict[str, float]:
    frame = pd.DataFrame(list(runs))
    return {c: float(np.nanmean(frame[c])) if frame[c].notna().any() else np.nan for c in frame}


def _sample_table(result: Any, priors: Sequence[Prior]) -> pd.DataFrame:
    """One row per sample: parameters, seed-mean summaries, distance and patterns met."""
    points = result.design.points()
    out = result.outcomes
    keys = [c for c in out.columns if c not in ("point", "replicate", "seed")] if len(out) else []
    rows = []
    for row in points.to_dict("records"):
        runs = out[out["point"] == row["point"]] if len(out) else out
        summary = {k: float(runs[k].mean()) if runs[k].notna().any() else np.nan for k in keys}
        ok = len(runs)
        rows.append(
            {
                "point": int(row["point"]),
                **{p.name: row[p.name] for p in priors},
                **summary,
                "seeds_ok": ok,
                "distance": distance(summary) if ok else float("inf"),
                "patterns_met": patterns_met(summary) if ok else 0,
            }
        )
    return pd.DataFrame(rows)


def _check_runs(
    scenarios: Mapping[str, Scenario],
    seeds: Sequence[int],
    years: int,
    folder: Path | None,
    where: Mapping[str, Any],
    progress: Callable[[int, int, int], None] | None,
) -> dict[str, list[dict[str, float]]]:
    """Run each scenario on the given seeds with the validation measure (resumable)."""
    from metrosim.experiments._runs import (
        ExperimentError,
        Job,
        Outcome,
        RunStore,
        Tracker,
        design_hash,
        execute,
    )
    from metrosim.validation import measure_run

    jobs: list[Job] = []
    stores: dict[str, RunStore] = {}
    for label, sc in scenarios.items():
        if folder is not None:
            payload = {
                "scenario": sc.to_dict(),
                "seeds": list(seeds),
                "years": years,
                "measure": "metrosim.validation.measure_run",
            }
            # one folder per scenario checked, so that another --accept (other medians) keeps
            # the runs already made and adds its own
            name = f"{label}-{design_hash(payload)[:12]}"
            store = RunStore(folder / "checks" / name, "calibration-check", payload)
            store.open()
            stores[label] = store
        for k, seed in enumerate(seeds):
            jobs.append(Job(f"{label}-r{k:03d}", sc, seed, years, measure=measure_run))

    def store_of(key: str) -> RunStore | None:
        return stores.get(key.split("-", 1)[0])

    todo = [j for j in jobs if (s := store_of(j.key)) is None or not s.is_done(j.key)]
    tracker = Tracker(len(jobs), len(jobs) - len(todo), progress)
    memory: dict[str, dict[str, float]] = {}
    errors: dict[str, str] = {}

    def on_result(outcome: Outcome) -> None:
        store = store_of(outcome.key)
        if store is not None:
            store.save(outcome)
        if outcome.ok:
            assert outcome.yearly is not None
            memory[outcome.key] = outcome.yearly.iloc[0].to_dict()
        else:
            errors[outcome.key] = (outcome.error or "").split("\n", 1)[0]
        tracker(outcome.ok)

    execute(todo, on_result, task_prefix="metrosim-calibration-check", **where)
    runs: dict[str, list[dict[str, float]]] = {label: [] for label in scenarios}
    for job in jobs:
        label = job.key.split("-", 1)[0]
        if job.key in memory:
            runs[label].append(memory[job.key])
            continue
        store = store_of(job.key)
        if store is not None and store.is_done(job.key):
            runs[label].append(store.read([job.key]).iloc[0].to_dict())
        else:
            errors.setdefault(job.key, "missing")
    if errors:
        key, msg = next(iter(errors.items()))
        raise ExperimentError(
            f"{len(errors)} validation run(s) failed (first: {key}: {msg}); re-run the same "
            "command to retry them (finished runs are kept)"
        )
    return runs


# ------------------------------------------------------------------------------------------
# output
def _fmt(v: float) -> str:
    return f"{v:.4g}"


def calibrated_toml(res: CalibrationResult, priors: Sequence[Prior]) -> str:
    """The scenario file of calibrated values, each with its interval and method in comments."""
    s = res.settings
    fields = Scenario.__dataclass_fields__
    lines = [
        f"# Calibrated values written by `metrosim calibrate` on "
        f"{datetime.date.today().isoformat()}.",
        "# Method: ABC rejection (Pritchard et al. 1999; Beaumont et al. 2002) against the facts",
        "# of metrosim.validation (docs/calibration.md): "
        f"{s['samples']} Latin-hypercube samples from uniform priors,",
        f"# {s['seeds']} seeds each, {s['years']} years, scale {s['scale']}, "
        f"{s['cell_size_m']:g} m cells, base scenario {s['scenario']!r};",
        f"# the {s['accept']:g} closest (epsilon = {res.epsilon:.3g}) form the posterior.",
        "# Each value is the posterior median; the comment gives the 90% credible interval",
        "# (5th-95th percentile of the accepted samples), the prior and the default.",
        '# Use it from a scenario file with: include = "calibrated.toml"',
    ]
    by_section: dict[str, list[str]] = {}
    value_of = res.calibrated.to_dict()
    from metrosim.scenario import _toml_value

    for _, row in res.summary.iterrows():
        name = row["parameter"]
        section = fields[name].metadata["spec"].section
        by_section.setdefault(section, []).extend(
            [
                f"# {name}: 90% credible interval [{_fmt(row['q05'])}, {_fmt(row['q95'])}]; "
                f"prior uniform [{_fmt(row['prior_low'])}, {_fmt(row['prior_high'])}]; "
                f"default {_fmt(row['default'])}",
                f"{name} = {_toml_value(value_of[name])}",
            ]
        )
    for section, body in by_section.items():
        lines += ["", f"[{section}]", *body]
    return "\n".join(lines) + "\n"


def _table_md(frame: pd.DataFrame) -> str:
    cols = list(frame.columns)
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    for _, r in frame.iterrows():
        cells = [_fmt(v) if isinstance(v, float) else str(v) for v in r]
        out.append("| " + " | ".join(c.replace("|", "\\|") for c in cells) + " |")
    return "\n".join(out)


def calibration_markdown(res: CalibrationResult) -> str:
    """A Markdown summary: settings, posterior, acceptance, and validation before and after."""
    s = res.settings
    both = pd.DataFrame(
        {
            "fact": res.before["fact"],
            "tolerance": res.before["tolerance"],
            "before (defaults)": res.before["model_mean"],
            "verdict before": res.before["verdict"],
            "after (posterior medians)": res.after["model_mean"],
            "verdict after": res.after["verdict"],
        }
    )
    n_acc = int(res.samples["accepted"].sum())
    top = res.samples.loc[res.samples["accepted"], "patterns_met"]
    at_least = int((top >= res.patterns_before).sum())
    return "\n".join(
        [
            "# Calibration",
            "",
            f"ABC rejection against the facts of `metrosim validate`, base scenario "
            f"`{s['scenario']}`, scale {s['scale']}, {s['cell_size_m']:g} m cells, "
            f"{s['years']} years from 2017.",
            "",
            f"- prior samples: {s['samples']} (Latin hypercube, uniform priors), {s['seeds']} "
            f"seeds each; failed runs: {s['failed_runs']}",
            f"- accepted: {n_acc} ({res.acceptance_rate:.1%} of the samples measured); "
            f"tolerance epsilon = {res.epsilon:.3g} (distance: weighted RMS of standardised "
            "discrepancies, 1 = every fact at the edge of its tolerance)",
            f"- distance of the defaults: {res.distance_before:.3g}; of the posterior medians: "
            f"{res.distance_after:.3g} (means over {s['check_seeds']} validation seeds)",
            f"- facts met at once (pattern-oriented count): defaults {res.patterns_before}, "
            f"posterior medians {res.patterns_after}; accepted samples meeting at least as many "
            f"as the defaults: {at_least} of {n_acc}",
            "",
            "## Posterior",
            "",
            "Median and 90% credible interval (5th-95th percentile of the accepted samples). "
            "`width_share` is the interval's width as a share of the prior's: about 0.9 means the "
            "facts do not constrain the parameter.",
            "",
            _table_md(res.summary),
            "",
            f"## Validation before and after ({s['check_seeds']} seeds, the same for both)",
            "",
            _table_md(both),
            "",
        ]
    )


def _write(res: CalibrationResult, priors: Sequence[Prior]) -> None:
    from metrosim.io import write_table

    assert res.folder is not None
    f = res.folder
    write_table(res.samples, f / "samples.parquet")
    accepted = res.samples[res.samples["accepted"]].reset_index(drop=True)
    write_table(accepted, f / "posterior.parquet")
    atomic_write_text(f / "posterior_summary.csv", res.summary.to_csv(index=False))
    atomic_write_text(f / "validation_before.csv", res.before.to_csv(index=False))
    atomic_write_text(f / "validation_after.csv", res.after.to_csv(index=False))
    atomic_write_text(f / "calibrated.toml", calibrated_toml(res, priors))
    atomic_write_text(f / "calibration.md", calibration_markdown(res))
