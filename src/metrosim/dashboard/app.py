"""The Solara page: panes A and B side by side, their maps, charts, ensemble view and export.

Run it with ``python -m metrosim.dashboard`` (or ``metrosim dashboard``). Every browser session
gets its own :class:`~metrosim.dashboard.state.Comparison`; the page only shows that state and
calls its methods (all logic is in :mod:`metrosim.dashboard.state`, testable without a browser).
"""

from __future__ import annotations

import sys
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

import numpy as np
import reacton.ipyvuetify as rv
import solara

from metrosim.dashboard import charts, maps
from metrosim.dashboard.i18n import (
    MUNICIPAL,
    lever_help,
    lever_label,
    metric_help,
    metric_label,
    municipal_label,
    t,
)
from metrosim.dashboard.state import Comparison, LeverControl, lever_controls, parse_lever_value
from metrosim.dashboard.widget import Download, Plot
from metrosim.scenario import ScenarioError, preset_names

__all__ = ["Page", "build_figures", "prepare", "new_comparison"]

#: Speeds offered for Play, in years per second (at most: a year takes what it takes).
SPEEDS = (0.5, 1.0, 2.0, 4.0)

# --- a comparison built ahead for the next browser session ------------------------------------
_prepare_lock = threading.Lock()
_prepared: list[Future] = []
_executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="metrosim-prepare")


def prepare() -> None:
    """Start building a comparison for the next session in the background (once).

    Building two models takes seconds; the server calls this at start so the first page is
    ready sooner. (Later sessions build their own when they open: building one ahead for them
    would compete for the interpreter with the session in use.)
    """
    with _prepare_lock:
        if not _prepared:
            _prepared.append(_executor.submit(_timed_comparison))


def _timed_comparison() -> Comparison:
    t0 = time.perf_counter()
    comparison = Comparison()
    print(
        f"metrosim dashboard: models of the next session ready in {time.perf_counter() - t0:.1f} s",
        file=sys.stderr,
        flush=True,
    )
    return comparison


def new_comparison() -> Comparison:
    """A fresh comparison for a new session (the one built ahead, when there is one)."""
    with _prepare_lock:
        future = _prepared.pop() if _prepared else None
    return future.result() if future is not None else Comparison()


# --- small widgets ---
@solara.component
def Message(text: str, kind: str = "info", classes: list[str] | None = None):
    """A coloured message box.

    solara.Warning/Error/Info pass Vuetify-2 props that Vuetify 3 (which Solara uses with
    ipyvuetify 3) refuses, breaking the page.
    """
    return rv.Alert(
        type=kind,
        variant="tonal",
        density="compact",
        text=text,
        class_=" ".join(["my-1", *(classes or [])]),
    )


# ---------------------------------------------------------------------------
@solara.component
def LabelledSelect(
    label: str,
    items: list[tuple[Any, str]],
    value: Any,
    on_value: Callable[[Any], None],
    classes: list[str] | None = None,
):
    """A select whose shown texts differ from its values (translated labels)."""
    return rv.Select(
        label=label,
        items=[{"title": text, "value": v} for v, text in items],
        v_model=value,
        on_v_model=on_value,
        density="compact",
        hide_details=True,
        class_=" ".join(classes or []),
        style_="min-width: 12em",
    )


@solara.component
def LeverSlider(control: LeverControl, value: float, lang: str, on_change: Callable):
    """A slider applied when the pointer releases it, or with Apply after keyboard moves.

    Applying rebuilds the pane, so it does not happen on every intermediate position.
    """
    shown, set_shown = solara.use_state(value)
    solara.use_effect(lambda: set_shown(value), [value])

    def cast(x):
        if control.kind == "int":
            return int(round(x))
        snapped = control.low + round((float(x) - control.low) / control.step) * control.step
        return float(f"{snapped:.12g}")  # 0.35, not 0.35000000000000003

    with solara.Row(style={"align-items": "center"}) as row:
        slider = rv.Slider(
            v_model=shown,
            on_v_model=set_shown,
            min=control.low,
            max=control.high,
            step=control.step,
            thumb_label=True,
            density="compact",
            hide_details=True,
            style_="min-width: 12em",
        )

        def on_release(widget, event, data):
            if data is not None and cast(data) != value:
                on_change(cast(data))

        rv.use_event(slider, "end", on_release)
        if cast(shown) != value:
            solara.Button(t("apply", lang), on_click=lambda: on_change(cast(shown)), small=True)
    return row


@solara.component
def TextInput(
    label: str,
    value: str,
    on_value: Callable[[str], None],
    classes: list[str] | None = None,
    style: str = "",
):
    """A text field (Vuetify 3 props; solara.InputText passes Vuetify-2 ones)."""
    return rv.TextField(
        label=label,
        v_model=value,
        on_v_model=on_value,
        density="compact",
        hide_details=True,
        class_=" ".join(classes or []),
        style_=style,
    )


@solara.component
def LeverText(control: LeverControl, value: Any, label: str, lang: str, on_change: Callable):
    """Free text for a lever, applied with the button and checked before it is used."""
    text, set_text = solara.use_state(str(value))
    solara.use_effect(lambda: set_text(str(value)), [value])
    with solara.Row(style={"align-items": "center"}) as row:
        TextInput(label, text, set_text, style="min-width: 14em")
        solara.Button(t("apply", lang), on_click=lambda: on_change(text), small=True)
    return row


@solara.component
def LeverControls(pane, lang: str, on_lever: Callable[[str, Any], None], revision: int = 0):
    """Controls of every lever, generated from the scenario's parameter metadata.

    ``revision`` changes whenever the pane's state does (see :func:`PaneView`).
    """
    with solara.Column(gap="6px") as col:
        for control in lever_controls():
            value = pane.lever_value(control.name)
            label = lever_label(control.name, lang)
            help_text = lever_help(control.name, control.doc, lang)
            with solara.Column(gap="0px", classes=[f"metrosim-lever-{control.name}"]):
                if control.kind == "select":
                    LabelledSelect(
                        label,
                        [(c, c) for c in control.choices],
                        value,
                        lambda v, n=control.name: on_lever(n, v),
                    )
                elif control.kind == "switch":
                    rv.Switch(
                        label=label,
                        v_model=bool(value),
                        on_v_model=lambda v, n=control.name: on_lever(n, bool(v)),
                        density="compact",
                        hide_details=True,
                        color="primary",
                    )
                elif control.kind in ("int", "float"):
                    solara.Text(f"{label}: {value:g}", style={"font-size": "0.9em"})
                    LeverSlider(control, value, lang, lambda v, n=control.name: on_lever(n, v)).key(
                        f"{pane.label}-{control.name}-{pane.regime}"
                    )
                else:
                    LeverText(
                        control,
                        value,
                        label,
                        lang,
                        lambda v, c=control: on_lever(c.name, parse_lever_value(c, v)),
                    )
                solara.Text(help_text, style={"font-size": "0.78em", "color": "#666"})
    return col


@solara.component
def SeedInput(seed: int, on_seed: Callable[[int], None], lang: str):
    """The common seed; a new one resets both panes. Not a whole number: a message."""
    text, set_text = solara.use_state(str(seed))
    solara.use_effect(lambda: set_text(str(seed)), [seed])
    error = None
    try:
        value = int(text.strip())
        if value < 0:
            raise ValueError
    except ValueError:
        value = None
        error = t("bad_value", lang, error=t("seed_help", lang))
    with solara.Column(gap="0px", style={"max-width": "10em"}) as col:
        with solara.Row(style={"align-items": "center"}):
            TextInput(t("seed", lang), text, set_text, classes=["metrosim-seed"])
            if value is not None and value != seed:
                solara.Button(t("apply", lang), on_click=lambda: on_seed(value), small=True)
        if error:
            Message(error, "error", classes=["metrosim-seed-error"])
    return col


# --- figures ---------------------------------------------------------------------------------
def build_figures(
    comparison: Comparison,
    *,
    layer: str = "land_use",
    extent: str = "core",
    lang: str = "es",
    figure: str = "population",
    commune_set: str = "core",
) -> dict[str, Any]:
    """All figures of the live view: ``map_A``, ``map_B``, ``timeseries`` and ``bars``."""
    with comparison.lock:
        panes = comparison.panes
        a = panes["A"].model
        city = a.city
        core = np.flatnonzero(np.asarray(city.in_core))
        win = maps.window(a.grid, core if extent == "core" else None)
        zrange = None
        if layer in ("rent", "service"):
            zrange = maps.value_range(
                [
                    win.take(maps.layer_values(p.model, layer).reshape(a.grid.shape)).ravel()
                    for p in panes.values()
                ]
            )
        figs: dict[str, Any] = {}
        for label, pane in panes.items():
            figs[f"map_{label}"] = maps.map_figure(
                pane.model,
                layer,
                win,
                lang=lang,
                start_capacity=pane.start_capacity,
                zrange=zrange,
                title=f"{t('pane', lang, pane=label)}: {pane.regime} · "
                f"{t('year', lang, year=pane.year)}",
            )
        figs["timeseries"] = charts.timeseries_figure(
            {label: (p.regime, list(p.history)) for label, p in panes.items()}, lang=lang
        )
        in_core = np.asarray(city.in_core, dtype=bool)
        selected = in_core if commune_set == "core" else np.ones_like(in_core)
        per_commune = {label: maps.commune_figures(p.model) for label, p in panes.items()}
        figs["bars"] = charts.commune_bars(
            {label: (p.regime, per_commune[label]) for label, p in panes.items()},
            figure if figure in per_commune["A"] else "population",
            list(city.name),
            selected,
            lang=lang,
        )
    return figs


def _timed_figures(comparison: Comparison, **kwargs: Any) -> dict[str, Any]:
    t0 = time.perf_counter()
    figs = build_figures(comparison, **kwargs)
    comparison.last_figures_s = time.perf_counter() - t0
    return figs


# --- panes -----------------------------------------------------------------------------------
@solara.component
def PaneView(pane, lang: str, figure, on_regime, on_lever, error: str | None, revision: int = 0):
    """One pane: year, regime picker, levers, notice, map.

    ``pane`` is a mutable object (the same one every render) and an unchanged map compares
    equal (plotly figures compare by value), so ``revision`` tells the component that the
    state changed: without it a lever reset of a pane still in 2017 showed no notice.
    """
    open_panel, set_open_panel = solara.use_state(None)
    with solara.Card(classes=[f"metrosim-pane-{pane.label}"], margin=0) as card:
        with solara.Row(style={"align-items": "center", "justify-content": "space-between"}):
            rv.Html(
                tag="h2",
                children=[t("pane", lang, pane=pane.label)],
                style_="margin: 0; font-size: 1.3em",
            )
            rv.Html(
                tag="span",
                children=[t("year", lang, year=pane.year)],
                class_=f"metrosim-year metrosim-year-{pane.label}",
                style_="font-size: 1.3em; font-weight: bold",
            )
        LabelledSelect(
            t("regime", lang),
            [(r, r) for r in preset_names()],
            pane.regime,
            on_regime,
            classes=[f"metrosim-regime-{pane.label}"],
        )
        if pane.notice is not None:
            key, values = pane.notice
            Message(t(key, lang, **values), "warning", classes=["metrosim-notice"])
        if error:
            Message(t("bad_value", lang, error=error), "error", classes=["metrosim-error"])
        with rv.ExpansionPanels(
            variant="accordion", class_="mt-2", v_model=open_panel, on_v_model=set_open_panel
        ):
            with rv.ExpansionPanel():
                rv.ExpansionPanelTitle(
                    children=[t("levers", lang)], class_=f"metrosim-levers-{pane.label}"
                )
                with rv.ExpansionPanelText():
                    if open_panel is not None and open_panel != []:
                        # built only when opened: dozens of widgets slow the first page
                        LeverControls(pane, lang, on_lever, revision)
        with solara.Div(classes=[f"metrosim-map-{pane.label}"]):
            Plot(figure, filename=f"metrosim-{pane.label}")
    return card


@solara.component
def EnsembleView(lang: str):
    """Load a ``metrosim compare`` folder and show each regime's mean with its 95% band."""
    folder, set_folder = solara.use_state("out/compare")
    # one state for the outcome of the last load: ("ok", runs, bands) or ("error", message)
    result, set_result = solara.use_state(None)

    def load():
        try:
            runs = charts.load_ensemble(folder)
            outcomes = [m for m in charts.HEADLINE if m in runs.columns]
            set_result(("ok", runs, charts.ensemble_bands(runs, outcomes)))
        except charts.EnsembleError as exc:
            set_result(("error", str(exc)))

    error = result[1] if result is not None and result[0] == "error" else None
    loaded = result[1:] if result is not None and result[0] == "ok" else None

    with solara.Card(t("ensemble", lang), classes=["metrosim-ensemble"]) as card:
        solara.Text(t("ensemble_help", lang))
        with solara.Row(style={"align-items": "center"}):
            TextInput(t("ensemble_folder", lang), folder, set_folder, style="min-width: 24em")
            solara.Button(t("load", lang), on_click=load, color="primary", outlined=True)
        if error:
            Message(error, "error", classes=["metrosim-ensemble-error"]).key("ensemble-error")
        if loaded is not None:
            runs, bands = loaded
            Message(
                t(
                    "ensemble_loaded",
                    lang,
                    n_scenarios=runs["scenario"].nunique(),
                    n_seeds=runs["seed"].nunique(),
                    y0=int(runs["year"].min()),
                    y1=int(runs["year"].max()),
                ),
                "info",
            ).key("ensemble-info")
            Plot(charts.ensemble_figure(bands, lang=lang), filename="metrosim-ensemble")
    return card


@solara.component
def MetricList(lang: str):
    """One plain sentence per metric (plain HTML: Markdown would load KaTeX, absent offline)."""
    items = [
        rv.Html(
            tag="li",
            children=[
                rv.Html(tag="b", children=[metric_label(m, lang)]),
                f": {metric_help(m, lang)}",
            ],
        )
        for m in charts.HEADLINE
    ]
    return rv.Html(tag="ul", children=items, class_="metrosim-metric-help")


# --- the page --------------------------------------------------------------------------------
@solara.component
def Page():
    """The whole dashboard."""
    comparison = solara.use_memo(new_comparison, [])
    lang = solara.use_reactive("es")
    version = solara.use_reactive(0)
    playing = solara.use_reactive(False)
    # what the play loop obeys: set and cleared by the buttons themselves, so Pause stops the
    # loop at its next year whatever the render state
    running = solara.use_memo(threading.Event, [])
    loop_id = solara.use_memo(lambda: [0], [])  # only the newest loop may step
    speed = solara.use_reactive(2.0)
    seed = solara.use_reactive(comparison.seed)
    layer = solara.use_reactive("land_use")
    extent = solara.use_reactive("core")
    figure = solara.use_reactive("population")
    commune_set = solara.use_reactive("core")
    errors = solara.use_reactive({"A": None, "B": None})
    L = lang.value

    def changed():
        version.value += 1

    def step():
        comparison.step()
        errors.value = {"A": None, "B": None}
        changed()

    def play_loop():
        me = loop_id[0]
        while running.is_set() and loop_id[0] == me:
            t0 = time.perf_counter()
            comparison.step()
            changed()
            wait = 1.0 / max(speed.value, 0.1) - (time.perf_counter() - t0)
            if wait > 0:
                time.sleep(wait)

    solara.use_thread(play_loop, dependencies=[playing.value], intrusive_cancel=False)

    def play():
        loop_id[0] += 1
        running.set()
        playing.value = True

    def pause():
        running.clear()
        playing.value = False

    def reset():
        pause()
        comparison.reset(seed.value)
        errors.value = {"A": None, "B": None}
        changed()

    def reset_with_seed(value: int):
        seed.value = value
        reset()

    def on_regime(label: str):
        def handler(regime):
            with comparison.lock:
                comparison.panes[label].set_regime(regime)
            errors.value = {**errors.value, label: None}
            changed()

        return handler

    def on_lever(label: str):
        def handler(name, value):
            try:
                with comparison.lock:
                    comparison.panes[label].set_lever(name, value)
                errors.value = {**errors.value, label: None}
            except ScenarioError as exc:
                errors.value = {**errors.value, label: str(exc)}
            changed()

        return handler

    figs = solara.use_memo(
        lambda: _timed_figures(
            comparison,
            layer=layer.value,
            extent=extent.value,
            lang=L,
            figure=figure.value,
            commune_set=commune_set.value,
        ),
        [version.value, layer.value, extent.value, L, figure.value, commune_set.value],
    )

    solara.Title("metrosim")
    with solara.Column(style={"padding": "12px", "max-width": "1800px"}):
        with solara.Row(style={"align-items": "center", "justify-content": "space-between"}):
            with solara.Column(gap="0px"):
                rv.Html(tag="h1", children=[t("title", L)], style_="font-size: 1.5em; margin: 0")
                solara.Text(t("subtitle", L), style={"color": "#555"})
            with solara.Row(style={"align-items": "center"}):
                solara.Text(t("language", L) + ":")
                solara.ToggleButtonsSingle(
                    value=lang,
                    children=[
                        solara.Button("Español", value="es", classes=["metrosim-lang-es"]),
                        solara.Button("English", value="en", classes=["metrosim-lang-en"]),
                    ],
                )
        with solara.Row(style={"align-items": "center", "flex-wrap": "wrap"}):
            if playing.value:
                solara.Button(
                    t("pause", L),
                    icon_name="mdi-pause",
                    on_click=pause,
                    color="primary",
                    classes=["metrosim-pause"],
                )
            else:
                solara.Button(
                    t("play", L),
                    icon_name="mdi-play",
                    on_click=play,
                    color="primary",
                    classes=["metrosim-play"],
                )
            solara.Button(
                t("step", L),
                icon_name="mdi-step-forward",
                on_click=step,
                disabled=playing.value,
                classes=["metrosim-step"],
            )
            solara.Button(
                t("reset", L), icon_name="mdi-restart", on_click=reset, classes=["metrosim-reset"]
            )
            LabelledSelect(t("speed", L), [(v, f"{v:g}") for v in SPEEDS], speed.value, speed.set)
            with solara.Column(style={"max-width": "9em"}, gap="0px"):
                SeedInput(seed.value, reset_with_seed, L)
            LabelledSelect(
                t("layer", L),
                [(name, t(f"layer_{name}", L)) for name in maps.LAYERS],
                layer.value,
                layer.set,
                classes=["metrosim-layer"],
            )
            LabelledSelect(
                t("extent", L),
                [("core", t("extent_core", L)), ("region", t("extent_region", L))],
                extent.value,
                extent.set,
            )
            solara.Text(
                t("step_time", L, s=comparison.last_step_s),
                classes=["metrosim-step-time"],
                style={"color": "#666", "font-size": "0.85em"},
            )
        with solara.Columns([1, 1]):
            for label in ("A", "B"):
                PaneView(
                    comparison.panes[label],
                    L,
                    figs[f"map_{label}"],
                    on_regime(label),
                    on_lever(label),
                    errors.value[label],
                    version.value,
                ).key(f"pane-{label}")
        with solara.Card(t("charts", L)):
            with solara.Div(classes=["metrosim-timeseries"]):
                Plot(figs["timeseries"], filename="metrosim-outcomes")
            with rv.ExpansionPanels(variant="accordion"):
                with rv.ExpansionPanel():
                    rv.ExpansionPanelTitle(children=[t("what_metrics_mean", L)])
                    with rv.ExpansionPanelText():
                        MetricList(L)
        with solara.Card(t("communes", L)):
            known = {*comparison.panes["A"].model.municipal, "coverage_park", "share_q1"}
            municipal_keys = [k for k in MUNICIPAL if k in known]
            with solara.Row():
                LabelledSelect(
                    t("commune_figure", L),
                    [(k, municipal_label(k, L)) for k in municipal_keys],
                    figure.value,
                    figure.set,
                )
                LabelledSelect(
                    t("commune_set", L),
                    [("core", t("extent_core", L)), ("region", t("extent_region", L))],
                    commune_set.value,
                    commune_set.set,
                )
            with solara.Div(classes=["metrosim-bars"]):
                Plot(figs["bars"], filename="metrosim-communes")
        EnsembleView(L)
        with solara.Card(t("export", L)):
            Download(
                t("export_html", L),
                "metrosim-comparacion.html" if L == "es" else "metrosim-comparison.html",
                lambda: charts.html_report(
                    [
                        (t("pane", L, pane="A"), figs["map_A"]),
                        (t("pane", L, pane="B"), figs["map_B"]),
                        (t("charts", L), figs["timeseries"]),
                        (t("communes", L), figs["bars"]),
                    ],
                    lang=L,
                ),
            )
            solara.Text(t("export_png_help", L), style={"color": "#666", "font-size": "0.85em"})
