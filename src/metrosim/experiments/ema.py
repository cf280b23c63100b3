"""A scenario as an EMA Workbench model: levers, uncertainties, outcomes from the parameter table.

The EMA Workbench (Kwakkel 2017) is the Python toolkit for exploratory modelling and analysis
that many policy researchers use: it samples uncertainties X and levers L, runs the model R and
collects outcomes M (the XLRM frame of Lempert, Popper & Bankes 2003), and analyses the results,
e.g. scenario discovery with PRIM (Friedman & Fisher 1999; Bryant & Lempert 2010).
:func:`ema_model` exposes one metrosim scenario as such a model. Its parameters are not declared
by hand: each lever and uncertainty is built from the :class:`~metrosim.scenario.Scenario`
field's own metadata (type, range, choices, kind; ``docs/parameters.md``), so they cannot drift
from the model.

Parallel runs: ``ema_workbench.MultiprocessingEvaluator`` works with the ``spawn`` start method
(``multiprocessing.set_start_method("spawn")`` in the script's ``__main__``). Under Linux's default
``fork``, a process that has already run metrosim holds OpenMP threads of the numba kernels, and
GNU OpenMP terminates every forked worker.

This module needs the optional dependency ``ema_workbench`` (``pip install 'metrosim[ema]'``);
``import metrosim`` and ``import metrosim.experiments`` never import it.

Reproducibility: the seed of every run is derived by :func:`experiment_seed` from a base seed, the
replicate and the values of the experiment's *uncertainties* (not its levers), with
``numpy.random.SeedSequence``. Rerunning a design therefore gives identical outcomes, whatever the
evaluator, the number of processes or the order runs finish in; and experiments that differ only
in their levers share their random numbers (common random numbers; Law 2015, sec. 11.2), so
policy differences are not blurred by seed noise.

References
----------
Kwakkel, J. H. (2017). The Exploratory Modeling Workbench: an open source toolkit for exploratory
modeling, scenario discovery, and (multi-objective) robust decision making. *Environmental
Modelling & Software* 96:239-250. doi:10.1016/j.envsoft.2017.06.054

Lempert, R. J., Popper, S. W., & Bankes, S. C. (2003). *Shaping the Next One Hundred Years: New
Methods for Quantitative, Long-Term Policy Analysis*. RAND MR-1626. doi:10.7249/MR1626

Friedman, J. H., & Fisher, N. I. (1999). Bump hunting in high-dimensional data. *Statistics and
Computing* 9:123-143. doi:10.1023/A:1008894516817

Bryant, B. P., & Lempert, R. J. (2010). Thinking inside the box: a participatory, computer-assisted
approach to scenario discovery. *Technological Forecasting and Social Change* 77(1):34-49.
doi:10.1016/j.techfore.2009.08.002

Law, A. M. (2015). *Simulation Modeling and Analysis*, 5th ed. McGraw-Hill.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import json
import re
import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from metrosim.experiments._runs import ExperimentError
from metrosim.runner import run
from metrosim.scenario import ParamSpec, Scenario, ScenarioError

with warnings.catch_warnings():
    # ema_workbench warns at import about optional back-ends metrosim does not use
    warnings.filterwarnings("ignore", message="ipyparallel not installed")
    warnings.filterwarnings("ignore", message="altair based interactive inspection")
    try:
        import ema_workbench
        from ema_workbench.analysis import prim as _prim
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(
            "metrosim.experiments.ema needs the EMA Workbench: pip install 'metrosim[ema]' "
            f"(ema-workbench>=3.0); import failed: {exc}"
        ) from exc

__all__ = [
    "DEFAULT_OUTCOMES",
    "SERIES_SUFFIX",
    "ema_model",
    "experiment_seed",
    "outcome_names",
    "box_limits",
    "prim",
    "prim_input",
]

#: Final-year outcomes an EMA model reports when none are named.
DEFAULT_OUTCOMES: tuple[str, ...] = (
    "urban_area_ha",
    "urban_density_pph",
    "unhoused_households",
    "mean_rent",
    "mean_commute_min",
    "theil_h",
    "coverage_park_q1",
)

#: A yearly outcome asked for as a time series is named ``<outcome><SERIES_SUFFIX>``.
SERIES_SUFFIX = "_by_year"

#: Columns of the EMA experiments table that describe the design, not the inputs.
_BOOKKEEPING = ("scenario", "policy", "model")

_FIELDS = {f.name: f for f in dataclasses.fields(Scenario)}
_A = {"lever": "a lever", "uncertainty": "an uncertainty", "setting": "a setting"}
_PLURAL = {"lever": "levers", "uncertainty": "uncertainties", "setting": "settings"}


# ------------------------------------------------------------------------------------------
# seeds
def experiment_seed(base_seed: int, uncertainties: Mapping[str, Any], replicate: int = 0) -> int:
    """The seed of one run: from a base seed, the uncertainties' values and the replicate.

    The values are written canonically (sorted names, Python scalars, JSON) and hashed with
    SHA-256; the digest's first four 32-bit words, with ``base_seed`` and ``replicate``, seed a
    ``numpy.random.SeedSequence``. The seed depends on nothing else (not the levers, the order of
    experiments, nor the process that runs them).

    Parameters
    ----------
    base_seed : int
        Non-negative.
    uncertainties : mapping
        Values of the experiment's uncertainties, by name.
    replicate : int
        Replicate number (0 for a model without replications).

    Returns
    -------
    int
        A seed in ``[0, 2**32)``.

    Examples
    --------
    >>> experiment_seed(0, {"beta_commute": -0.03}) == experiment_seed(0, {"beta_commute": -0.03})
    True
    >>> experiment_seed(0, {"beta_commute": -0.03}) != experiment_seed(1, {"beta_commute": -0.03})
    True
    """
    if int(base_seed) < 0 or int(replicate) < 0:
        raise ExperimentError(
            f"base_seed = {base_seed}, replicate = {replicate}; allowed: integers >= 0"
        )
    text = json.dumps({k: _plain(v) for k, v in sorted(uncertainties.items())}, sort_keys=True)
    digest = hashlib.sha256(text.encode("utf-8")).digest()
    words = np.frombuffer(digest[:16], dtype="<u4").tolist()
    return int(
        np.random.SeedSequence([int(base_seed), int(replicate), *words]).generate_state(1)[0]
    )


def _plain(value: Any) -> Any:
    """A numpy scalar as the Python scalar a Scenario field takes."""
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.floating):
        return float(value)
    return value


# ------------------------------------------------------------------------------------------
# outcomes
@functools.cache
def outcome_names() -> tuple[str, ...]:
    """Names of the yearly outcomes a run reports (the columns of ``RunResult.yearly``).

    Read from a model built at the coarsest resolution (about a second, once per process), so the
    list is always the model's own.
    """
    from metrosim.model import MetroModel
    from metrosim.runner import tables

    probe = Scenario(cell_size_m=2000.0, scale=1000, years=0)
    yearly, _ = tables(MetroModel(probe, rng=0))
    return tuple(c for c in yearly.columns if c != "year")


def _mean_over_replicates(values: Sequence[Any]) -> Any:
    """Mean over replicates (scalars) or over replicates year by year (series)."""
    stacked = np.asarray(values, dtype=float)
    return float(stacked.mean()) if stacked.ndim == 1 else stacked.mean(axis=0)


# ------------------------------------------------------------------------------------------
# the model function
@dataclass(frozen=True)
class _Runner:
    """The function an EMA model calls: one metrosim run for one experiment (picklable)."""

    base: Scenario
    years: int
    base_seed: int
    uncertainties: tuple[str, ...]
    outcomes: tuple[str, ...]
    series: tuple[str, ...]

    def __call__(self, **values: Any) -> dict[str, Any]:
        replicate = int(values.pop("replicate", 0))
        changes = {k: _plain(v) for k, v in values.items()}
        seed = experiment_seed(
            self.base_seed, {k: changes[k] for k in self.uncertainties if k in changes}, replicate
        )
        result = run(
            self.base.replace(_origin="ema experiment", **changes), seed=seed, years=self.years
        )
        yearly = result.yearly
        out: dict[str, Any] = {name: float(yearly[name].iloc[-1]) for name in self.outcomes}
        for name in self.series:
            out[name + SERIES_SUFFIX] = yearly[name].to_numpy(dtype=float)
        return out


# ------------------------------------------------------------------------------------------
def ema_model(
    base: Scenario | str = "fragmented",
    *,
    levers: Sequence[str] | Mapping[str, Any] | None = None,
    uncertainties: Sequence[str] | Mapping[str, Any] | None = None,
    outcomes: Sequence[str] | None = None,
    series: Sequence[str] = (),
    years: int | None = None,
    base_seed: int = 0,
    replications: int | None = None,
    name: str | None = None,
    **settings: Any,
) -> Any:
    """A metrosim scenario as an EMA Workbench model.

    Parameters
    ----------
    base : Scenario or str
        The scenario the experiments change (a preset name or TOML path, or a Scenario).
    levers : sequence of names, or mapping, optional
        Fields of kind ``lever`` to vary (``Scenario.levers()``). A name alone takes the field's
        whole allowed range or all its choices; a mapping narrows them: ``{name: (low, high)}``
        for a number, ``{name: [values]}`` for a text or boolean field (a text field without
        declared choices needs its values), ``{name: None}`` for the whole range.
    uncertainties : sequence of names, or mapping, optional
        Fields of kind ``uncertainty`` to vary (``Scenario.uncertainties()``), given as for
        ``levers``. The allowed range of an uncertainty is a validity range, usually much wider
        than a plausible one: state the plausible range with a mapping.
    outcomes : sequence of str, optional
        Yearly outcomes reported as ``ScalarOutcome`` of the final year (default
        :data:`DEFAULT_OUTCOMES`; all names: :func:`outcome_names`).
    series : sequence of str
        Yearly outcomes also reported whole, as ``TimeSeriesOutcome`` named
        ``<name>_by_year`` (the initial year first, ``years + 1`` values).
    years : int, optional
        Years to simulate (default: the base scenario's ``years``).
    base_seed : int
        Base of every run's seed (:func:`experiment_seed`).
    replications : int, optional
        None: one run per experiment (``ema_workbench.Model``). An integer n: n runs per
        experiment with replicates 0..n-1 (``ReplicatorModel``); each outcome is then the mean
        over the replicates (for a series, year by year).
    name : str, optional
        The EMA model's name (a Python identifier; default ``metrosim_<scenario name>``).
    **settings
        Fixed changes to the base scenario (any field, e.g. ``cell_size_m=1000.0, scale=20``);
        a field cannot be both fixed here and varied.

    Returns
    -------
    ema_workbench.Model or ema_workbench.ReplicatorModel
        Ready for ``ema_workbench.perform_experiments``.

    Raises
    ------
    ExperimentError
        A ``ValueError`` naming the field, the value and what is allowed, for an unknown name, a
        field of the wrong kind, a bad range or value, an unknown outcome.

    Examples
    --------
    >>> m = ema_model("fragmented", levers=["growth_boundary"],
    ...               uncertainties={"beta_commute": (-0.06, -0.01)}, outcomes=["urban_area_ha"])
    >>> [(p.name, p.lower_bound, p.upper_bound) for p in m.uncertainties]
    [('beta_commute', -0.06, -0.01)]
    >>> [c.value for c in m.levers["growth_boundary"].categories]
    ['none', 'urban_limit_2017']
    """
    try:
        scenario = Scenario.load(base) if isinstance(base, str) else base
        if not isinstance(scenario, Scenario):
            raise ExperimentError(f"base = {base!r}; expected a Scenario, a preset or a TOML path")
        scenario = scenario.replace(_origin="ema_model settings", **settings)
    except ScenarioError as exc:
        raise ExperimentError(str(exc)) from None
    n_years = scenario.years if years is None else years
    if isinstance(n_years, bool) or not isinstance(n_years, int | np.integer) or n_years < 0:
        raise ExperimentError(f"years = {years!r}; allowed: an integer >= 0")
    if replications is not None and (
        isinstance(replications, bool) or not isinstance(replications, int) or replications < 1
    ):
        raise ExperimentError(f"replications = {replications!r}; allowed: None or an integer >= 1")

    lever_params = _parameters(levers, "lever", scenario)
    uncertainty_params = _parameters(uncertainties, "uncertainty", scenario)
    varied = [p.name for p in lever_params + uncertainty_params]
    fixed = sorted(set(varied) & set(settings))
    if fixed:
        raise ExperimentError(
            f"{', '.join(fixed)}: both fixed (as a setting) and varied; give each field once"
        )

    chosen = tuple(DEFAULT_OUTCOMES if outcomes is None else outcomes)
    series = tuple(series)
    if isinstance(outcomes, str) or isinstance(series, str):
        raise ExperimentError("outcomes and series are sequences of names, not one string")
    allowed = outcome_names()
    for what, names in (("outcome", chosen), ("series", series)):
        for n in names:
            if n not in allowed:
                raise ExperimentError(
                    f"{what} {n!r} is not a yearly outcome; allowed: {', '.join(allowed)}"
                )
    if not chosen and not series:
        raise ExperimentError("no outcomes: name at least one in outcomes or series")

    model_name = name if name is not None else "metrosim_" + re.sub(r"\W", "_", scenario.name)
    if not model_name.isidentifier():
        raise ExperimentError(f"name = {model_name!r}; allowed: a Python identifier")

    runner = _Runner(
        base=scenario,
        years=int(n_years),
        base_seed=int(base_seed),
        uncertainties=tuple(p.name for p in uncertainty_params),
        outcomes=chosen,
        series=series,
    )
    experiment_seed(runner.base_seed, {})  # checks base_seed
    if replications is None:
        model = ema_workbench.Model(model_name, function=runner)
        agg: dict[str, Any] = {}
    else:
        model = ema_workbench.ReplicatorModel(model_name, function=runner)
        model.replications = [{"replicate": i} for i in range(replications)]
        agg = {"function": _mean_over_replicates}
    model.levers = lever_params
    model.uncertainties = uncertainty_params
    model.outcomes = [ema_workbench.ScalarOutcome(n, **agg) for n in chosen] + [
        ema_workbench.TimeSeriesOutcome(n + SERIES_SUFFIX, **agg) for n in series
    ]
    return model


def _parameters(
    given: Sequence[str] | Mapping[str, Any] | None, kind: str, base: Scenario
) -> list[Any]:
    """EMA parameters for the named fields of one kind, from their ParamSpec."""
    if given is None:
        return []
    if isinstance(given, str):
        raise ExperimentError(
            f"{kind} names: expected a sequence or mapping, not the string {given!r}"
        )
    items = list(given.items()) if isinstance(given, Mapping) else [(n, None) for n in given]
    allowed = Scenario.fields_of_kind(kind)
    seen: set[str] = set()
    params = []
    for field_name, values in items:
        if field_name not in allowed:
            other = _FIELDS[field_name].metadata["spec"].kind if field_name in _FIELDS else None
            why = f"is {_A[other]}, not {_A[kind]}" if other else "is not a Scenario field"
            raise ExperimentError(
                f"{kind} {field_name!r} {why}; allowed {_PLURAL[kind]}: {', '.join(allowed)} "
                "(docs/parameters.md)"
            )
        if field_name in seen:
            raise ExperimentError(f"{kind} {field_name!r} is given twice")
        seen.add(field_name)
        params.append(_parameter(field_name, values, base))
    return params


def _parameter(field_name: str, values: Any, base: Scenario) -> Any:
    f = _FIELDS[field_name]
    spec: ParamSpec = f.metadata["spec"]
    py_type = {"str": str, "int": int, "float": float, "bool": bool}[str(f.type)]
    default = getattr(base, field_name)

    def check(value: Any) -> Any:
        try:
            return getattr(base.replace(_origin="ema_model", **{field_name: value}), field_name)
        except ScenarioError as exc:
            raise ExperimentError(str(exc)) from None

    if py_type is bool or py_type is str:
        if values is None:
            if py_type is bool:
                values = [False, True]
            elif spec.choices is not None:
                values = list(spec.choices)
            else:
                raise ExperimentError(
                    f"{field_name!r} is free text: give its values, e.g. {{{field_name!r}: [...]}}"
                )
        if isinstance(values, str) or not isinstance(values, Sequence):
            raise ExperimentError(f"{field_name!r} = {values!r}; expected a list of values")
        cats = [check(v) for v in values]
        if len(set(cats)) != len(cats) or len(cats) < 2:
            raise ExperimentError(
                f"{field_name!r} = {values!r}; expected two or more distinct values"
            )
        if py_type is bool and sorted(cats) == [False, True]:
            return ema_workbench.BooleanParameter(field_name, default=default)
        return ema_workbench.CategoricalParameter(field_name, cats, default=default)

    if values is None:
        low, high = spec.low, spec.high
        if low is None or high is None:  # pragma: no cover - every number has bounds today
            raise ExperimentError(f"{field_name!r} has no declared range: give (low, high)")
    else:
        if isinstance(values, str) or not isinstance(values, Sequence) or len(values) != 2:
            raise ExperimentError(
                f"{field_name!r} = {values!r}; expected (low, high) within "
                f"[{spec.low}, {spec.high}] ({spec.unit})"
            )
        low, high = check(values[0]), check(values[1])
    if not low < high:
        raise ExperimentError(f"{field_name!r}: low = {low} must be below high = {high}")
    if py_type is int:
        return ema_workbench.IntegerParameter(field_name, int(low), int(high), default=default)
    return ema_workbench.RealParameter(field_name, float(low), float(high), default=default)


# ------------------------------------------------------------------------------------------
# scenario discovery
def prim_input(experiments: pd.DataFrame, model: Any | None = None) -> pd.DataFrame:
    """The experiments table as PRIM's input: the varied fields only.

    Drops EMA's bookkeeping columns (``scenario``, ``policy``, ``model``) and, given the model,
    keeps only its levers and uncertainties; categorical columns stay categorical.

    Examples
    --------
    >>> x = pd.DataFrame({"beta_commute": [-0.05, -0.02], "policy": ["a", "b"], "model": "m"})
    >>> list(prim_input(x).columns)
    ['beta_commute']
    """
    x = experiments.drop(columns=[c for c in _BOOKKEEPING if c in experiments.columns])
    if model is not None:
        keep = [p.name for p in model.uncertainties] + [p.name for p in model.levers]
        x = x[[c for c in x.columns if c in keep]]
    return x.reset_index(drop=True)


def prim(experiments: pd.DataFrame, cases: np.ndarray, **kwargs: Any) -> Any:
    """An EMA Workbench PRIM (Friedman & Fisher 1999) over the experiments' varied fields.

    Parameters
    ----------
    experiments : DataFrame
        As returned by ``perform_experiments``.
    cases : array of bool
        True for the experiments of interest (e.g. ``outcomes["unhoused_households"] > x``).
    **kwargs
        Passed to ``ema_workbench.analysis.prim.Prim`` (``peel_alpha``, ``paste_alpha``,
        ``mass_min``).

    Returns
    -------
    ema_workbench.analysis.prim.Prim
        Call ``find_box()`` on it.
    """
    y = np.asarray(cases)
    if y.ndim != 1 or len(y) != len(experiments):
        raise ExperimentError(
            f"cases has shape {y.shape}; expected one value per experiment ({len(experiments)})"
        )
    if y.dtype != bool:
        raise ExperimentError(f"cases has dtype {y.dtype}; expected bool (True = of interest)")
    if y.all() or not y.any():
        raise ExperimentError(
            f"cases: {int(y.sum())} of {len(y)} experiments are of interest; PRIM needs some of "
            "interest and some not"
        )
    with warnings.catch_warnings():
        # Prim.__init__ drops a "scenario" column with inplace=True, deprecated by pandas 3.1;
        # prim_input has removed that column already
        warnings.filterwarnings("ignore", message="The inplace keyword in DataFrame.drop")
        return _prim.Prim(prim_input(experiments), y.astype(int), **kwargs)


def box_limits(box: Any, i: int | None = None) -> pd.DataFrame:
    """The restricted dimensions of one box on a PRIM peeling trajectory.

    ``PrimBox.inspect(style="data")`` of ema_workbench 3.0 fails under pandas 3 when a
    categorical dimension (a lever such as ``growth_boundary``) is restricted; this reads the same
    limits directly.

    Parameters
    ----------
    box : ema_workbench.analysis.prim.PrimBox
        As returned by ``Prim.find_box()``.
    i : int, optional
        Index on the peeling trajectory (default: the box's current selection).

    Returns
    -------
    DataFrame
        One row per restricted dimension: ``min`` and ``max`` for a number (None for a
        category), ``values`` (the categories kept, sorted, or None for a number), and the
        quasi-p values ``qp_min``, ``qp_max`` of the one-sided binomial test of each limit
        (NaN where the limit is not restricted).
    """
    k = box._cur_box if i is None else int(i)
    lims = box.box_lims[k]
    init = box.prim.box_init
    p_values = box.p_values[k] if k < len(box.p_values) else {}
    rows = []
    for dim in init.columns:
        now, start = lims[dim].tolist(), init[dim].tolist()
        if now == start:
            continue
        qp = [np.nan if q == -1 else float(q) for q in p_values.get(dim, [np.nan, np.nan])]
        if isinstance(now[0], set | frozenset):
            values = sorted(now[0], key=str)
            rows.append({"dim": dim, "min": None, "max": None, "values": values})
        else:
            rows.append({"dim": dim, "min": now[0], "max": now[1], "values": None})
        rows[-1].update(qp_min=qp[0], qp_max=qp[1])
    columns = ["min", "max", "values", "qp_min", "qp_max"]
    return pd.DataFrame(rows, columns=["dim", *columns]).set_index("dim")
