"""The dashboard's state without any web framework: two panes of models stepping together.

A :class:`Pane` is one regime (a scenario preset plus lever changes) run as a
:class:`metrosim.MetroModel`, with the yearly figures it has produced so far. A
:class:`Comparison` holds panes A and B with a common seed and steps them together. The Solara
page (:mod:`metrosim.dashboard.app`) only displays this state and calls its methods, so all of
it is testable without a browser.

Lever controls are generated from the scenario's parameter metadata (:func:`lever_controls`):
a lever with allowed values becomes a select, a bounded number a slider, a boolean a switch and
free text a text field, so a lever added to :class:`metrosim.Scenario` appears on the page
without changes here.
"""

from __future__ import annotations

import dataclasses
import math
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from metrosim.model import MetroModel
from metrosim.scenario import Scenario, ScenarioError, parameter_table, preset_names

__all__ = [
    "DEFAULT_CELL_SIZE_M",
    "DEFAULT_SCALE",
    "DEFAULT_REGIMES",
    "LeverControl",
    "lever_controls",
    "parse_lever_value",
    "Pane",
    "Comparison",
]

#: Cell side of the dashboard's runs (m). Measured on a 2-core machine: a year of both panes
#: takes about 0.25 s of CPU at 1000 m and 0.5 s at 500 m, plus about 0.15 s to redraw the
#: figures; 1000 m keeps a step with its redraw under half a second.
DEFAULT_CELL_SIZE_M = float(os.environ.get("METROSIM_DASHBOARD_CELL_SIZE", "1000"))
#: Real households per simulated one in the dashboard's runs.
DEFAULT_SCALE = int(os.environ.get("METROSIM_DASHBOARD_SCALE", "20"))
#: Regimes of panes A and B when the page opens.
DEFAULT_REGIMES = ("fragmented", "coordinated")


@dataclass(frozen=True)
class LeverControl:
    """How the page shows one lever, derived from the scenario's parameter metadata.

    Attributes
    ----------
    name : str
        Scenario field name.
    kind : str
        ``"select"`` (allowed values), ``"switch"`` (bool), ``"int"`` or ``"float"`` (a slider
        between ``low`` and ``high``), or ``"text"`` (free text, checked when applied).
    choices : tuple of str
        Allowed values of a select.
    low, high, step : float
        Slider bounds and step.
    unit, doc : str
        From the parameter table.
    """

    name: str
    kind: str
    choices: tuple[str, ...] = ()
    low: float = 0.0
    high: float = 1.0
    step: float = 0.01
    unit: str = ""
    doc: str = ""


def _nice_step(low: float, high: float) -> float:
    """A round step giving about 100 slider positions between low and high."""
    span = high - low
    if not span > 0 or not math.isfinite(span):
        return 1.0
    raw = span / 100.0
    mag = 10.0 ** math.floor(math.log10(raw))
    for m in (1.0, 2.0, 5.0, 10.0):
        if raw <= m * mag:
            return m * mag
    return 10.0 * mag  # pragma: no cover - the loop always returns


def lever_controls() -> list[LeverControl]:
    """The control of every policy lever, in the order of the parameter table.

    The table (:func:`metrosim.scenario.parameter_table`) says which fields are levers; the
    field's metadata gives its allowed values or bounds and its type.
    """
    fields = {f.name: f for f in dataclasses.fields(Scenario)}
    out = []
    for row in parameter_table():
        if not row["lever"]:
            continue
        f = fields[row["name"]]
        spec = f.metadata["spec"]
        kind_type = _field_type(f)
        common = {"name": f.name, "unit": row["unit"], "doc": row["meaning"]}
        if spec.choices is not None:
            out.append(LeverControl(kind="select", choices=tuple(spec.choices), **common))
        elif kind_type is bool:
            out.append(LeverControl(kind="switch", **common))
        elif kind_type in (int, float) and spec.low is not None and spec.high is not None:
            low, high = float(spec.low), float(spec.high)
            step = max(1.0, round(_nice_step(low, high))) if kind_type is int else None
            out.append(
                LeverControl(
                    kind="int" if kind_type is int else "float",
                    low=low,
                    high=high,
                    step=step if step is not None else _nice_step(low, high),
                    **common,
                )
            )
        else:  # free text, or a number without bounds: typed in and checked when applied
            out.append(LeverControl(kind="text", **common))
    return out


def _field_type(f: dataclasses.Field[Any]) -> type:
    if isinstance(f.type, type):
        return f.type
    return {"str": str, "int": int, "float": float, "bool": bool}.get(str(f.type), object)


def parse_lever_value(control: LeverControl, text: str) -> Any:
    """Turn what was typed into a text field into a value for the lever (or raise).

    Raises
    ------
    ScenarioError
        If the text is not a value of the lever's type; range and allowed values are checked
        by :meth:`Scenario.replace`.
    """
    f = {f.name: f for f in dataclasses.fields(Scenario)}[control.name]
    kind = _field_type(f)
    text = text.strip()
    try:
        if kind is bool:
            if text.lower() not in ("true", "false"):
                raise ValueError
            return text.lower() == "true"
        if kind is int:
            return int(text)
        if kind is float:
            return float(text)
    except ValueError:
        raise ScenarioError(f"field {control.name!r} = {text!r} is not a {kind.__name__}") from None
    return text


@dataclass
class Pane:
    """One regime, run as a model, with its history.

    Parameters
    ----------
    label : str
        ``"A"`` or ``"B"``.
    regime : str
        Name of a scenario preset (:func:`metrosim.scenario.preset_names`).
    seed : int
        Seed of the model's generator.
    cell_size_m, scale : float, int
        Resolution of the run (the dashboard's speed setting, not a lever).
    """

    label: str
    regime: str
    seed: int = 1
    cell_size_m: float = DEFAULT_CELL_SIZE_M
    scale: int = DEFAULT_SCALE
    overrides: dict[str, Any] = field(default_factory=dict)
    #: Why the pane was last reset, as ``(message key, values)`` for the page to translate.
    notice: tuple[str, dict[str, Any]] | None = None
    model: MetroModel = field(init=False, repr=False)
    history: list[dict[str, float]] = field(init=False, default_factory=list)
    municipal_history: list[dict[str, np.ndarray]] = field(init=False, default_factory=list)

    def __post_init__(self) -> None:
        self.reset()

    # --- the scenario ----------------------------------------------------------------------
    @property
    def scenario(self) -> Scenario:
        """The regime's preset at the dashboard's resolution, with the lever changes."""
        base = Scenario.load(self.regime).replace(cell_size_m=self.cell_size_m, scale=self.scale)
        return base.replace(_origin="lever", **self.overrides) if self.overrides else base

    def lever_value(self, name: str) -> Any:
        """Current value of a lever in this pane."""
        return getattr(self.scenario, name)

    # --- actions ---------------------------------------------------------------------------
    def reset(self, notice: tuple[str, dict[str, Any]] | None = None) -> None:
        """Start the pane again from the initial state (year 2017) with the same seed."""
        self.model = MetroModel(self.scenario, rng=self.seed)
        self.start_capacity = self.model.land.capacity.copy()
        self.history = [dict(self.model.yearly)]
        self.municipal_history = [_copy_municipal(self.model.municipal)]
        self.notice = notice

    def step(self) -> None:
        """Advance the pane's model one year and record its figures."""
        self.model.step()
        self.history.append(dict(self.model.yearly))
        self.municipal_history.append(_copy_municipal(self.model.municipal))

    def set_regime(self, regime: str) -> None:
        """Switch to another preset (lever changes are dropped) and reset."""
        if regime not in preset_names():
            raise ScenarioError(
                f"regime {regime!r} is not a preset; presets: {', '.join(preset_names())}"
            )
        self.regime = regime
        self.overrides = {}
        self.reset(("notice_regime", {"pane": self.label, "regime": regime}))

    def set_lever(self, name: str, value: Any) -> None:
        """Change one lever and reset the pane; a bad value raises and changes nothing.

        Raises
        ------
        ScenarioError
            For an unknown lever or a value of the wrong type, out of range or not allowed.
        """
        if name not in Scenario.levers():
            raise ScenarioError(f"{name!r} is not a lever; levers: {', '.join(Scenario.levers())}")
        trial = {**self.overrides, name: value}
        base = Scenario.load(self.regime).replace(cell_size_m=self.cell_size_m, scale=self.scale)
        checked = base.replace(_origin="lever", **trial)  # raises before anything changes
        self.overrides = {k: getattr(checked, k) for k in trial}
        previous = self.model
        try:
            self.reset(("notice_lever", {"pane": self.label, "name": name, "value": value}))
        except ValueError as exc:  # a value the model itself refuses (e.g. an unknown code)
            self.overrides.pop(name)
            self.model = previous
            if isinstance(exc, ScenarioError):
                raise
            raise ScenarioError(f"field {name!r} = {value!r}: {exc}") from None

    @property
    def year(self) -> int:
        """The year the pane's model is in."""
        return int(self.model.year)


def _copy_municipal(municipal: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.array(v, copy=True) for k, v in municipal.items()}


class Comparison:
    """Panes A and B with a common seed, stepping together.

    Parameters
    ----------
    regimes : pair of str
        Presets of panes A and B.
    seed : int
        Seed of both panes (the same random numbers drive both regimes).

    Examples
    --------
    >>> c = Comparison(("fragmented", "fragmented"), seed=1, cell_size_m=1000, scale=50)
    >>> c.step()
    >>> c.years
    (2018, 2018)
    """

    def __init__(
        self,
        regimes: tuple[str, str] = DEFAULT_REGIMES,
        *,
        seed: int = 1,
        cell_size_m: float = DEFAULT_CELL_SIZE_M,
        scale: int = DEFAULT_SCALE,
    ):
        self.seed = seed
        self.lock = threading.RLock()
        self.panes = {
            label: Pane(label, regime, seed=seed, cell_size_m=cell_size_m, scale=scale)
            for label, regime in zip(("A", "B"), regimes, strict=True)
        }
        #: Seconds the last step of both panes took, and the last drawing of the figures.
        self.last_step_s = 0.0
        self.last_figures_s = 0.0

    @property
    def years(self) -> tuple[int, int]:
        """Current year of pane A and pane B."""
        return (self.panes["A"].year, self.panes["B"].year)

    def step(self) -> None:
        """Advance both panes one year."""
        with self.lock:
            t0 = time.perf_counter()
            for pane in self.panes.values():
                pane.step()
            self.last_step_s = time.perf_counter() - t0

    def reset(self, seed: int | None = None) -> None:
        """Reset both panes to the initial state (optionally with a new common seed)."""
        with self.lock:
            if seed is not None:
                self.seed = seed
            for pane in self.panes.values():
                pane.seed = self.seed
                pane.reset()
