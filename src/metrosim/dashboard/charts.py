"""Charts of the dashboard.

Outcomes of A and B over the years, per-commune bars, the ensemble with confidence bands, and
the self-contained HTML export.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from pathlib import Path

import numpy as np
import pandas as pd
import plotly.graph_objects as go
from plotly.subplots import make_subplots
from scipy import stats

from metrosim.dashboard.i18n import metric_help, metric_label, municipal_label, t
from metrosim.dashboard.maps import json_safe

__all__ = [
    "HEADLINE",
    "PANE_COLOURS",
    "present_metrics",
    "timeseries_figure",
    "commune_bars",
    "EnsembleError",
    "load_ensemble",
    "ensemble_bands",
    "ensemble_figure",
    "html_report",
]

#: Outcomes charted, in order; those absent from ``model.yearly`` are left out.
HEADLINE = (
    "urban_area_ha",
    "urban_density_pph",
    "mean_rent",
    "mean_commute_min",
    "theil_h",
    "theil_h_between",
    "coverage_park_q1",
    "budget_per_capita_ratio_max_min",
    "commute_time_min",
    "congestion_index",
    "pm25_exposure_ugm3",
    "farmland_converted_total_ha",
)
PANE_COLOURS = {"A": "#1f77b4", "B": "#d62728"}
_BAND_COLOURS = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


def present_metrics(rows: Sequence[Mapping[str, float]]) -> list[str]:
    """The headline outcomes present in the yearly figures."""
    keys = set().union(*(r.keys() for r in rows)) if rows else set()
    return [m for m in HEADLINE if m in keys]


def _grid(n: int, cols: int) -> tuple[int, int]:
    return max(1, math.ceil(n / cols)), cols


def timeseries_figure(
    series: Mapping[str, tuple[str, Sequence[Mapping[str, float]]]],
    *,
    lang: str = "es",
    cols: int = 4,
) -> go.Figure:
    """Headline outcomes over the years, one small chart per outcome, a line per pane.

    Parameters
    ----------
    series : mapping
        ``{pane label: (regime name, [yearly figures, one dict per year])}``.
    """
    metrics = present_metrics([r for _, rows in series.values() for r in rows])
    n_rows, n_cols = _grid(len(metrics), cols)
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=[metric_label(m, lang) for m in metrics],
        horizontal_spacing=0.07,
        vertical_spacing=0.16,
    )
    for label, (regime, rows) in series.items():
        years = [int(r["year"]) for r in rows]
        for k, m in enumerate(metrics):
            fig.add_trace(
                go.Scatter(
                    x=years,
                    y=json_safe([float(r.get(m, np.nan)) for r in rows]),
                    mode="lines+markers",
                    marker=dict(size=5),
                    line=dict(color=PANE_COLOURS.get(label, "#555555")),
                    name=f"{label}: {regime}",
                    legendgroup=label,
                    showlegend=k == 0,
                    hovertemplate=f"{label} %{{x}}: %{{y:,.4g}}<extra></extra>",
                ),
                row=k // n_cols + 1,
                col=k % n_cols + 1,
            )
    fig.update_layout(
        height=260 * n_rows,
        margin=dict(l=40, r=10, t=40, b=30),
        legend=dict(orientation="h", y=1.08, x=0),
        uirevision="timeseries",
    )
    fig.update_annotations(font_size=12)
    fig.update_xaxes(tickformat="d")
    return fig


def commune_bars(
    panes: Mapping[str, tuple[str, Mapping[str, np.ndarray]]],
    figure: str,
    names: Sequence[str],
    selected: np.ndarray,
    *,
    lang: str = "es",
) -> go.Figure:
    """Grouped bars of one per-commune figure for the selected communes, one bar per pane.

    Communes are sorted by pane A's value (largest first).
    """
    idx = np.flatnonzero(selected)
    first = next(iter(panes.values()))[1]
    order = idx[np.argsort(-np.nan_to_num(np.asarray(first[figure], float)[idx], nan=-np.inf))]
    fig = go.Figure()
    for label, (regime, municipal) in panes.items():
        values = np.asarray(municipal.get(figure, np.full(len(names), np.nan)), float)
        fig.add_trace(
            go.Bar(
                x=[names[i] for i in order],
                y=json_safe(values[order]),
                name=f"{label}: {regime}",
                marker_color=PANE_COLOURS.get(label, "#555555"),
                hovertemplate="%{x}: %{y:,.4g}<extra>" + label + "</extra>",
            )
        )
    fig.update_layout(
        barmode="group",
        height=380,
        margin=dict(l=40, r=10, t=40, b=120),
        title=dict(text=municipal_label(figure, lang), x=0.01, font=dict(size=14)),
        legend=dict(orientation="h", y=1.12, x=0.5),
        xaxis=dict(tickangle=-60),
        uirevision="bars",
    )
    return fig


# --- ensemble --------------------------------------------------------------------------------
class EnsembleError(ValueError):
    """A folder that is not a readable ``metrosim compare`` output."""


def load_ensemble(folder: str | Path) -> pd.DataFrame:
    """Read ``runs.parquet`` of a ``metrosim compare`` output folder.

    Raises
    ------
    EnsembleError
        If the folder or file is missing, unreadable, or lacks scenario, seed and year.
    """
    text = str(folder).strip()
    if not text:
        raise EnsembleError("no folder given")
    path = Path(text).expanduser()
    file = path / "runs.parquet" if path.is_dir() else path
    if not file.is_file():
        raise EnsembleError(f"{file} does not exist (expected a folder with runs.parquet)")
    try:
        runs = pd.read_parquet(file)
    except Exception as exc:  # pyarrow raises several types for a damaged or foreign file
        raise EnsembleError(f"{file} is not a readable parquet table ({exc})") from None
    missing = {"scenario", "seed", "year"} - set(runs.columns)
    if missing:
        raise EnsembleError(f"{file} lacks the column(s) {', '.join(sorted(missing))}")
    return runs


def ensemble_bands(runs: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Mean and 95% confidence interval (t over seeds) per scenario, year and outcome.

    Returns
    -------
    DataFrame
        Columns scenario, year, outcome, n, mean, ci_low, ci_high.
    """
    rows = []
    for (scenario, year), g in runs.groupby(["scenario", "year"], sort=False):
        for col in outcomes:
            x = g[col].to_numpy(dtype=float)
            x = x[np.isfinite(x)]
            if x.size == 0:
                continue
            m = float(x.mean())
            half = (
                float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
                if x.size > 1
                else 0.0
            )
            rows.append(
                {
                    "scenario": scenario,
                    "year": int(year),
                    "outcome": col,
                    "n": int(x.size),
                    "mean": m,
                    "ci_low": m - half,
                    "ci_high": m + half,
                }
            )
    return pd.DataFrame(
        rows, columns=["scenario", "year", "outcome", "n", "mean", "ci_low", "ci_high"]
    )


def ensemble_figure(bands: pd.DataFrame, *, lang: str = "es", cols: int = 4) -> go.Figure:
    """Each scenario's mean over the years with its 95% band, one chart per outcome."""
    metrics = [m for m in HEADLINE if m in set(bands["outcome"])]
    n_rows, n_cols = _grid(len(metrics), cols)
    fig = make_subplots(
        rows=n_rows,
        cols=n_cols,
        subplot_titles=[metric_label(m, lang) for m in metrics],
        horizontal_spacing=0.07,
        vertical_spacing=0.16,
    )
    scenarios = list(dict.fromkeys(bands["scenario"]))
    for s_i, scenario in enumerate(scenarios):
        colour = _BAND_COLOURS[s_i % len(_BAND_COLOURS)]
        rgb = tuple(int(colour[i : i + 2], 16) for i in (1, 3, 5))
        for k, m in enumerate(metrics):
            d = bands[(bands["scenario"] == scenario) & (bands["outcome"] == m)].sort_values("year")
            pos = dict(row=k // n_cols + 1, col=k % n_cols + 1)
            fig.add_trace(
                go.Scatter(
                    x=np.concatenate([d["year"], d["year"][::-1]]),
                    y=json_safe(np.concatenate([d["ci_high"], d["ci_low"][::-1]])),
                    fill="toself",
                    fillcolor=f"rgba({rgb[0]},{rgb[1]},{rgb[2]},0.2)",
                    line=dict(width=0),
                    hoverinfo="skip",
                    legendgroup=scenario,
                    showlegend=False,
                ),
                **pos,
            )
            fig.add_trace(
                go.Scatter(
                    x=d["year"],
                    y=json_safe(d["mean"]),
                    mode="lines",
                    line=dict(color=colour),
                    name=f"{scenario} (n={int(d['n'].max()) if len(d) else 0})",
                    legendgroup=scenario,
                    showlegend=k == 0,
                    hovertemplate=scenario + " %{x}: %{y:,.4g}<extra></extra>",
                ),
                **pos,
            )
    fig.update_layout(
        height=260 * n_rows,
        margin=dict(l=40, r=10, t=40, b=30),
        legend=dict(orientation="h", y=1.08, x=0),
    )
    fig.update_annotations(font_size=12)
    fig.update_xaxes(tickformat="d")
    return fig


def html_report(figures: Sequence[tuple[str, go.Figure]], *, lang: str = "es") -> str:
    """A self-contained HTML page with the figures and the meaning of each metric.

    plotly.js is inlined once, so the page opens without a network.
    """
    parts = [
        "<!DOCTYPE html>",
        f'<html lang="{lang}"><head><meta charset="utf-8">',
        f"<title>{html.escape(t('title', lang))}</title>",
        "<style>body{font-family:sans-serif;margin:1.5em;max-width:1400px}</style>",
        "</head><body>",
        f"<h1>{html.escape(t('title', lang))}</h1>",
    ]
    for k, (title, fig) in enumerate(figures):
        parts.append(f"<h2>{html.escape(title)}</h2>")
        parts.append(fig.to_html(full_html=False, include_plotlyjs=(k == 0)))
    parts.append(f"<h2>{html.escape(t('what_metrics_mean', lang))}</h2><ul>")
    for m in HEADLINE:
        parts.append(
            f"<li><b>{html.escape(metric_label(m, lang))}</b>: "
            f"{html.escape(metric_help(m, lang))}</li>"
        )
    parts.append("</ul></body></html>")
    return "\n".join(parts)
