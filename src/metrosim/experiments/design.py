"""Sweep designs: which scenario parameters vary, over what ranges, sampled how.

A design is a TOML file::

    name = "travel-lhs"                 # optional; names the default output folder
    base = "fragmented"                 # a preset, or a scenario file (relative to this file)
    kind = "latin_hypercube"            # full_factorial | latin_hypercube | sobol | morris
    samples = 16                        # see below; not used by full_factorial
    seeds = 2                           # replicates per point
    years = 10
    base_seed = 0                       # optional (default 0)

    [set]                               # optional: fixed changes to the base scenario
    scale = 50
    cell_size_m = 1000.0

    [[parameters]]
    name = "speed_rural_kmh"            # any Scenario field (docs/parameters.md)
    low = 20.0
    high = 80.0

    [[parameters]]
    name = "growth_boundary"
    values = ["none", "urban_limit_2017"]

Every parameter is checked against the scenario's own type, range and choices
(:meth:`Scenario.replace`), so a bad name or an out-of-range bound fails before any run.

``samples`` means: the number of points (``latin_hypercube``); the base sample N of Saltelli's
scheme, a power of 2, giving ``N * (D + 2)`` points (``N * (2D + 2)`` with
``second_order = true``) (``sobol``, SALib); the number of trajectories r, giving
``r * (D + 1)`` points (``morris``, with ``levels`` grid levels, default 4). ``full_factorial``
takes every combination of each parameter's ``values``, or of ``levels`` evenly spaced values
between ``low`` and ``high`` (default 3; a parameter may set its own ``levels``).

A parameter given by ``values`` is sampled as a category: a point's coordinate in ``[0, k)``
picks value ``floor(x)``. An integer field with ``low``/``high`` takes every integer of the
range with equal probability.
"""

from __future__ import annotations

import difflib
import itertools
import math
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrosim.experiments._runs import ExperimentError
from metrosim.scenario import Scenario, ScenarioError, name_problem, parameter_table

__all__ = ["CompareDesign", "Design", "Parameter", "KINDS", "load_design", "load_compare_design"]

#: Design kinds.
KINDS = ("full_factorial", "latin_hypercube", "sobol", "morris")

_TOP_KEYS = (
    "name",
    "description",
    "base",
    "kind",
    "samples",
    "seeds",
    "years",
    "base_seed",
    "levels",
    "second_order",
    "set",
    "parameters",
)
_PARAM_KEYS = ("name", "low", "high", "values", "levels")
#: Scenario fields a design may not vary (they name or size the run, not the model).
_NOT_VARIED = ("name", "description", "years")


@dataclass(frozen=True)
class Parameter:
    """One varied scenario field: a numeric range (``low``/``high``) or a list of ``values``."""

    name: str
    low: float | None = None
    high: float | None = None
    values: tuple[Any, ...] | None = None
    levels: int | None = None
    integer: bool = False

    @property
    def categorical(self) -> bool:
        """True when the parameter is given by its values."""
        return self.values is not None

    def bounds(self) -> list[float]:
        """Bounds of the parameter's coordinate in a SALib problem."""
        if self.values is not None:
            return [0.0, float(len(self.values))]
        assert self.low is not None and self.high is not None
        if self.integer:
            return [float(self.low), float(self.high) + 1.0]
        return [float(self.low), float(self.high)]

    def value(self, x: float) -> Any:
        """The parameter value of a sampled coordinate (see :meth:`bounds`)."""
        if self.values is not None:
            return self.values[min(int(math.floor(x)), len(self.values) - 1)]
        if self.integer:
            assert self.high is not None
            return int(min(math.floor(x), self.high))
        return float(x)

    def grid(self, levels: int) -> list[Any]:
        """Values of a full factorial design."""
        if self.values is not None:
            return list(self.values)
        assert self.low is not None and self.high is not None
        n = self.levels or levels
        pts = np.linspace(self.low, self.high, n)
        if self.integer:
            return sorted({int(round(v)) for v in pts})
        return [float(v) for v in pts]

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (for manifests and the design hash)."""
        d: dict[str, Any] = {"name": self.name}
        if self.values is not None:
            d["values"] = list(self.values)
        else:
            d["low"], d["high"] = self.low, self.high
        if self.levels is not None:
            d["levels"] = self.levels
        return d


@dataclass(frozen=True)
class Design:
    """A validated sweep design (see the module documentation for the TOML form).

    Attributes
    ----------
    name : str
    base : Scenario
        The scenario every point starts from (with ``[set]`` applied).
    parameters : tuple of Parameter
    kind : str
        One of :data:`KINDS`.
    samples : int
    seeds : int
        Replicates per point.
    years : int
    base_seed : int
        Seeds the sampler and the runs' seeds.
    levels : int
        Grid levels (``full_factorial`` default per parameter, ``morris`` grid).
    second_order : bool
        Sobol: also second-order indices (more points).
    description : str
    """

    name: str
    base: Scenario
    parameters: tuple[Parameter, ...]
    kind: str
    samples: int = 0
    seeds: int = 1
    years: int = 10
    base_seed: int = 0
    levels: int = 0
    second_order: bool = False
    description: str = ""
    _cache: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    # construction -------------------------------------------------------------------------
    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, origin: str = "design", root: Path | None = None
    ) -> Design:
        """Build and validate a design from a mapping (as read from TOML).

        Parameters
        ----------
        data : mapping
        origin : str
            Named in error messages (e.g. the file path).
        root : path, optional
            Folder that a relative ``base`` file path is relative to.

        Raises
        ------
        ExperimentError
            Naming the field and what is allowed.
        """
        kind = _get(data, "kind", str, origin, required=True)
        if kind != "compare":
            for key in data:
                if key not in _TOP_KEYS:
                    raise ExperimentError(_unknown(origin, "key", key, _TOP_KEYS))
        if kind == "compare":
            raise ExperimentError(
                f"{origin}: kind = 'compare' is a comparison, not a sweep; run it with "
                "`metrosim compare --design FILE`"
            )
        if kind not in KINDS:
            raise ExperimentError(
                f"{origin}: kind = {kind!r} is not a design; allowed: {', '.join(KINDS)} "
                "(or compare, for `metrosim compare --design`)"
            )
        base = _load_base(data, origin, root)
        changes = data.get("set", {})
        if not isinstance(changes, Mapping):
            raise ExperimentError(f"{origin}: [set] must be a table of scenario fields")
        try:
            base = base.replace(_origin=f"{origin}: [set]", **dict(changes))
        except ScenarioError as exc:
            raise ExperimentError(str(exc)) from None
        seeds = _get(data, "seeds", int, origin, default=1, low=1)
        years = _get(data, "years", int, origin, default=base.years, low=0)
        base_seed = _get(data, "base_seed", int, origin, default=0, low=0)
        default_levels = 3 if kind == "full_factorial" else 4
        levels = _get(data, "levels", int, origin, default=default_levels, low=2)
        second_order = _get(data, "second_order", bool, origin, default=False)
        if kind == "full_factorial":
            if "samples" in data:
                raise ExperimentError(
                    f"{origin}: samples is not used by a full_factorial design; give each "
                    f"parameter its values, or levels (default {default_levels})"
                )
            samples = 0
        else:
            samples = _get(data, "samples", int, origin, required=True, low=1)
        if kind == "sobol" and samples & (samples - 1):
            lo = 1 << (samples.bit_length() - 1)
            raise ExperimentError(
                f"{origin}: samples = {samples}; a sobol design needs a power of 2 "
                f"(e.g. {lo} or {2 * lo})"
            )
        raw = data.get("parameters")
        if not isinstance(raw, list) or not raw:
            raise ExperimentError(
                f"{origin}: no [[parameters]]; add at least one, e.g. "
                '[[parameters]] name = "speed_rural_kmh", low = 20.0, high = 80.0'
            )
        params = tuple(_parameter(p, base, f"{origin}: parameters[{i}]") for i, p in enumerate(raw))
        names = [p.name for p in params]
        dup = sorted({n for n in names if names.count(n) > 1})
        if dup:
            raise ExperimentError(f"{origin}: parameter {dup[0]!r} is given twice")
        if kind in ("sobol", "morris") and len(params) < 2:
            raise ExperimentError(f"{origin}: a {kind} design needs at least 2 parameters")
        name = _design_name(data, origin, "sweep")
        description = _get(data, "description", str, origin, default="")
        return cls(
            name=name,
            base=base,
            parameters=params,
            kind=kind,
            samples=samples,
            seeds=seeds,
            years=years,
            base_seed=base_seed,
            levels=levels,
            second_order=second_order,
            description=description,
        )

    @classmethod
    def load(cls, path: str | Path) -> Design:
        """Load and validate a design TOML file.

        Raises
        ------
        ExperimentError
            For a missing or malformed file or a bad field.
        """
        data, origin, root = _read(path)
        return cls.from_dict(data, origin=origin, root=root)

    # the points ---------------------------------------------------------------------------
    def problem(self) -> dict[str, Any]:
        """The SALib problem: parameter names and the bounds of their coordinates."""
        return {
            "num_vars": len(self.parameters),
            "names": [p.name for p in self.parameters],
            "bounds": [p.bounds() for p in self.parameters],
        }

    def sample(self) -> np.ndarray:
        """The design's coordinates, one row per point (SALib's order; deterministic).

        For ``full_factorial`` the coordinates are the values themselves (categories by
        index).
        """
        if "X" not in self._cache:
            self._cache["X"] = self._sample()
        return self._cache["X"].copy()

    def _sample(self) -> np.ndarray:
        problem = self.problem()
        if self.kind == "full_factorial":
            axes = []
            for p in self.parameters:
                g = p.grid(self.levels)
                axes.append([float(i) + 0.5 for i in range(len(g))] if p.categorical else list(g))
            return np.array(list(itertools.product(*axes)), dtype=float)
        if self.kind == "latin_hypercube":
            from SALib.sample import latin

            return latin.sample(problem, self.samples, seed=self.base_seed)
        if self.kind == "sobol":
            from SALib.sample import sobol

            return sobol.sample(
                problem,
                self.samples,
                calc_second_order=self.second_order,
                seed=self.base_seed,
            )
        from SALib.sample import morris

        return morris.sample(problem, self.samples, num_levels=self.levels, seed=self.base_seed)

    def points(self) -> pd.DataFrame:
        """One row per point: ``point`` and each parameter's value."""
        X = self.sample()
        cols: dict[str, Any] = {"point": np.arange(len(X), dtype=np.int64)}
        for j, p in enumerate(self.parameters):
            cols[p.name] = [p.value(x) for x in X[:, j]]
        return pd.DataFrame(cols)

    def scenario(self, point: Mapping[str, Any]) -> Scenario:
        """The scenario of one point (a row of :meth:`points`)."""
        changes = {p.name: _plain(point[p.name]) for p in self.parameters}
        return self.base.replace(_origin=f"design {self.name!r}", **changes)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description of everything that determines the results."""
        return {
            "name": self.name,
            "description": self.description,
            "base": self.base.to_dict(),
            "kind": self.kind,
            "samples": self.samples,
            "seeds": self.seeds,
            "years": self.years,
            "base_seed": self.base_seed,
            "levels": self.levels,
            "second_order": self.second_order,
            "parameters": [p.to_dict() for p in self.parameters],
        }


def load_design(source: str | Path | Mapping[str, Any] | Design) -> Design:
    """A :class:`Design` from a TOML path, a mapping, or a design (returned as is)."""
    if isinstance(source, Design):
        return source
    if isinstance(source, Mapping):
        return Design.from_dict(source)
    return Design.load(source)


@dataclass(frozen=True)
class CompareDesign:
    """A comparison of scenarios over common seeds, written as a file.

    The file has ``kind = "compare"``::

        name = "headline"
        kind = "compare"
        scenarios = ["fragmented", "coordinated"]   # presets or files; the first is the baseline
        seeds = 20
        years = 30
        base_seed = 0                                # optional

        [set]                                        # optional: changes to every scenario
        scale = 20
        cell_size_m = 500.0

    Run it with ``metrosim compare --design FILE`` or
    ``compare(d.scenarios, seeds=d.seeds, years=d.years, base_seed=d.base_seed)``.
    """

    name: str
    scenarios: tuple[Scenario, ...]
    seeds: int
    years: int
    base_seed: int = 0
    description: str = ""

    @classmethod
    def from_dict(
        cls, data: Mapping[str, Any], *, origin: str = "design", root: Path | None = None
    ) -> CompareDesign:
        """Build and validate a comparison design from a mapping (as read from TOML)."""
        allowed = ("name", "description", "kind", "scenarios", "seeds", "years", "base_seed", "set")
        for key in data:
            if key not in allowed:
                raise ExperimentError(_unknown(origin, "key", key, allowed))
        kind = _get(data, "kind", str, origin, required=True)
        if kind != "compare":
            raise ExperimentError(
                f"{origin}: kind = {kind!r}; `metrosim compare --design` takes kind = "
                "'compare' (sweeps run with `metrosim sweep`)"
            )
        names = data.get("scenarios")
        if not isinstance(names, list) or not names or not all(isinstance(n, str) for n in names):
            raise ExperimentError(
                f"{origin}: scenarios must be a non-empty list of preset names or files"
            )
        changes = data.get("set", {})
        if not isinstance(changes, Mapping):
            raise ExperimentError(f"{origin}: [set] must be a table of scenario fields")
        scenarios = []
        for n in names:
            s = _load_base({"base": n}, f"{origin}: scenarios", root)
            try:
                scenarios.append(s.replace(_origin=f"{origin}: [set]", **dict(changes)))
            except ScenarioError as exc:
                raise ExperimentError(str(exc)) from None
        seen = [s.name for s in scenarios]
        if len(set(seen)) != len(seen):
            raise ExperimentError(f"{origin}: scenario names must differ; got {seen}")
        years_default = scenarios[0].years
        return cls(
            name=_design_name(data, origin, "compare"),
            scenarios=tuple(scenarios),
            seeds=_get(data, "seeds", int, origin, default=5, low=1),
            years=_get(data, "years", int, origin, default=years_default, low=0),
            base_seed=_get(data, "base_seed", int, origin, default=0, low=0),
            description=_get(data, "description", str, origin, default=""),
        )


def load_compare_design(path: str | Path) -> CompareDesign:
    """Load and validate a ``kind = "compare"`` design file."""
    data, origin, root = _read(path)
    return CompareDesign.from_dict(data, origin=origin, root=root)


def _read(path: str | Path) -> tuple[dict[str, Any], str, Path]:
    path = Path(path)
    if path.is_dir():
        raise ExperimentError(f"design file {str(path)!r} is a folder; give a design .toml file")
    if not path.is_file():
        raise ExperimentError(f"design file {str(path)!r} does not exist")
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ExperimentError(f"{path}: not valid TOML: {exc}") from None
    except UnicodeDecodeError:
        raise ExperimentError(f"{path}: not a UTF-8 text file") from None
    if "name" not in data:
        stem = path.parent.name if path.stem == "design" else path.stem
        if name_problem(stem) is not None:  # e.g. ../design.toml: not the name ".."
            stem = "design"
        data = {**data, "name": stem}
    return data, str(path), path.parent


# ------------------------------------------------------------------------------------------
def _plain(v: Any) -> Any:
    if isinstance(v, np.generic):
        return v.item()
    return v


def _unknown(origin: str, what: str, key: str, allowed: tuple[str, ...] | list[str]) -> str:
    close = difflib.get_close_matches(key, list(allowed), n=3)
    hint = f" (did you mean {', '.join(close)}?)" if close else ""
    return f"{origin}: unknown {what} {key!r}{hint}; allowed: {', '.join(allowed)}"


def _get(
    data: Mapping[str, Any],
    key: str,
    kind: type,
    origin: str,
    *,
    default: Any = None,
    required: bool = False,
    low: int | None = None,
) -> Any:
    if key not in data:
        if required:
            raise ExperimentError(f"{origin}: {key} is missing")
        return default
    value = data[key]
    ok = isinstance(value, kind) and (kind is bool or not isinstance(value, bool))
    if not ok:
        raise ExperimentError(
            f"{origin}: {key} = {value!r} has type {type(value).__name__}; expected {kind.__name__}"
        )
    if low is not None and value < low:
        raise ExperimentError(f"{origin}: {key} = {value!r}; allowed: {low} or more")
    return value


def _design_name(data: Mapping[str, Any], origin: str, default: str) -> str:
    """The design's name (the default output folder is ``out/<name>``), checked."""
    name = _get(data, "name", str, origin, default=default)
    if (problem := name_problem(name)) is not None:
        raise ExperimentError(f"{origin}: name = {problem}")
    return name


def _load_base(data: Mapping[str, Any], origin: str, root: Path | None) -> Scenario:
    base = data.get("base", None)
    if base is None:
        return Scenario()
    if not isinstance(base, str):
        raise ExperimentError(f"{origin}: base = {base!r} must be a preset name or a file path")
    source: str | Path = base
    if root is not None and Path(base).suffix and not Path(base).is_absolute():
        if (root / base).exists():
            source = root / base
    try:
        return Scenario.load(source)
    except ScenarioError as exc:
        raise ExperimentError(f"{origin}: base: {exc}") from None


def _parameter(raw: Any, base: Scenario, origin: str) -> Parameter:
    if not isinstance(raw, Mapping):
        raise ExperimentError(f"{origin}: must be a table (name = ..., low = ..., high = ...)")
    for key in raw:
        if key not in _PARAM_KEYS:
            raise ExperimentError(_unknown(origin, "key", key, _PARAM_KEYS))
    name = raw.get("name")
    if not isinstance(name, str):
        raise ExperimentError(f"{origin}: name is missing (a Scenario field)")
    rows = {r["name"]: r for r in parameter_table()}
    if name not in rows:
        fields = [n for n in rows if n not in _NOT_VARIED]
        raise ExperimentError(_unknown(origin, "parameter", name, fields) + " (docs/parameters.md)")
    if name in _NOT_VARIED:
        raise ExperimentError(f"{origin}: {name!r} cannot be varied (set it in the design)")
    row = rows[name]
    where = f"{origin} ({name})"
    default = row["default"]
    is_int = isinstance(default, int) and not isinstance(default, bool)
    numeric = isinstance(default, int | float) and not isinstance(default, bool)
    levels = raw.get("levels")
    if levels is not None and (
        not isinstance(levels, int) or isinstance(levels, bool) or levels < 2
    ):
        raise ExperimentError(f"{where}: levels = {levels!r}; allowed: an integer, 2 or more")

    def check(value: Any) -> Any:
        try:
            return getattr(base.replace(_origin=where, **{name: value}), name)
        except ScenarioError as exc:
            raise ExperimentError(f"{exc} (allowed: {row['allowed']})") from None

    if "values" in raw:
        if "low" in raw or "high" in raw:
            raise ExperimentError(f"{where}: give either values or low/high, not both")
        values = raw["values"]
        if not isinstance(values, list) or not values:
            raise ExperimentError(f"{where}: values must be a non-empty list")
        checked = tuple(check(v) for v in values)
        if len(set(checked)) != len(checked):
            raise ExperimentError(f"{where}: values repeat a value")
        return Parameter(name=name, values=checked, levels=levels)
    if not numeric:
        raise ExperimentError(
            f"{where}: a {type(default).__name__} field needs values = [...]; allowed: "
            f"{row['allowed']}"
        )
    if "low" not in raw or "high" not in raw:
        raise ExperimentError(f"{where}: give low and high (allowed {row['allowed']}), or values")
    low, high = check(raw["low"]), check(raw["high"])
    if not low < high:
        raise ExperimentError(f"{where}: low = {low!r} must be below high = {high!r}")
    return Parameter(name=name, low=low, high=high, levels=levels, integer=is_int)
