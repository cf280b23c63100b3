"""A self-contained HTML report of a comparison: one file, plotly.js inline, no network.

:func:`write_report` reads a folder written by :func:`metrosim.experiments.compare` and writes
``report.html`` beside its tables: time series of the headline outcomes with 95% confidence
bands over seeds per scenario; the final maps of land use and of the dominant income group of
each scenario side by side (first replicate), with commune boundaries drawn where the commune
of neighbouring cells changes; per-commune bars of every per-commune outcome for the communes of
the continuous city; and the summary table.
"""

from __future__ import annotations

import html
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from metrosim._atomic import atomic_write_text
from metrosim.land import LandUse

__all__ = ["build_report", "write_report", "membership_lines"]

#: Outcomes plotted first, when present (then the other yearly outcomes up to a limit).
_PREFERRED_COMMUNE = (
    "population",
    "mean_rent",
    "budget_per_capita",
    "green_m2_per_person",
    "commute_min",
    "pm25_exposure_ugm3",
    "farmland_converted_ha",
)
_MAX_SERIES = 12

_LAND_USE = [  # code, label, colour
    (LandUse.AGRICULTURAL, "agricultural", "#e9e4c9"),
    (LandUse.PROTECTED, "protected", "#8fbf7f"),
    (LandUse.RES_LOW, "residential, low", "#f6c28b"),
    (LandUse.RES_MEDIUM, "residential, medium", "#e8833a"),
    (LandUse.RES_HIGH, "residential, high", "#b3450e"),
    (LandUse.JOBS, "jobs", "#7d7db8"),
    (LandUse.PARK, "park", "#2e8b57"),
]
_GROUP_COLOURS = ["#b2182b", "#ef8a62", "#f7f7f7", "#67a9cf", "#2166ac"]
_PALETTE = [
    "#1f77b4",
    "#d62728",
    "#2ca02c",
    "#9467bd",
    "#ff7f0e",
    "#8c564b",
    "#e377c2",
    "#17becf",
]


def write_report(folder: str | Path, *, title: str | None = None) -> Path:
    """Write ``report.html`` for a comparison folder (see :func:`build_report`).

    Parameters
    ----------
    folder : path
        Holds ``runs.parquet``, ``municipal.parquet``, ``summary.csv``, ``manifest.json`` and
        ``runs/s<i>-r000.state.npz`` maps (those missing are left out of the report).
    title : str, optional

    Returns
    -------
    Path
        The report file.
    """
    from metrosim.experiments._runs import read_npz

    folder = Path(folder)
    runs = pd.read_parquet(folder / "runs.parquet")
    municipal = pd.read_parquet(folder / "municipal.parquet")
    summary = pd.read_csv(folder / "summary.csv")
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    names = [s["name"] for s in manifest["design"]["scenarios"]]
    states = {}
    for i, name in enumerate(names):
        p = folder / "runs" / f"s{i:02d}-r000.state.npz"
        if p.is_file():
            states[name] = read_npz(p)
    text = build_report(
        runs,
        municipal,
        summary,
        states,
        baseline=manifest["design"]["baseline"],
        title=title or f"metrosim compare: {', '.join(names)}",
    )
    return atomic_write_text(folder / "report.html", text)


def build_report(
    runs: pd.DataFrame,
    municipal: pd.DataFrame,
    summary: pd.DataFrame,
    states: Mapping[str, Mapping[str, np.ndarray]],
    *,
    baseline: str,
    title: str = "metrosim report",
    outcomes: Sequence[str] | None = None,
) -> str:
    """The report as one HTML document with plotly.js embedded.

    Parameters
    ----------
    runs, municipal, summary : DataFrame
        The tables of a :class:`~metrosim.experiments.CompareResult`.
    states : mapping
        Scenario name to the maps of :func:`metrosim.experiments._runs.final_state`.
    baseline : str
    title : str
    outcomes : sequence of str, optional
        Yearly outcomes to plot (default: the headline ones present, then others).
    """
    import plotly.offline

    from metrosim.experiments.compare import HEADLINE

    scenarios = list(dict.fromkeys(runs["scenario"]))
    colours = {s: _PALETTE[i % len(_PALETTE)] for i, s in enumerate(scenarios)}
    if outcomes is None:
        outcomes = _yearly_outcomes(runs, HEADLINE)
    seeds = runs.groupby("scenario")["seed"].nunique()
    parts: list[str] = []
    parts.append(f"<h1>{html.escape(title)}</h1>")
    parts.append(
        "<p>Scenarios: "
        + ", ".join(
            f"<b style='color:{colours[s]}'>{html.escape(s)}</b> ({int(seeds[s])} seeds)"
            for s in scenarios
        )
        + f". Baseline of the paired differences: <b>{html.escape(baseline)}</b>. "
        f"Years {int(runs['year'].min())}&ndash;{int(runs['year'].max())}. Bands and "
        "intervals are 95% t-intervals of the mean over seeds; every scenario uses the same "
        "seeds (common random numbers).</p>"
    )
    parts.append("<h2>Outcomes over time</h2>")
    if outcomes:
        parts.append(_div(_series_figure(runs, outcomes, scenarios, colours)))
    if states:
        parts.append("<h2>Final maps (first seed)</h2>")
        parts.append(_div(_map_figure(states, "land_use")))
        parts.append(_div(_map_figure(states, "dominant_group")))
    commune_cols = _commune_outcomes(municipal)
    if commune_cols:
        core = _core_cuts(states)
        parts.append(
            "<h2>Per commune, final year</h2><p>Mean over seeds"
            + (f" for the {len(core)} communes of Gran Santiago" if core else "")
            + ".</p>"
        )
        for col in commune_cols:
            parts.append(_div(_commune_figure(municipal, col, scenarios, colours, core)))
    members = membership_lines(municipal)
    if members:
        parts.append("<h2>Combined authority membership</h2>")
        parts.append(
            "<p>Each commune decides every year whether to be a member (docs/odd.md 7.7.9); "
            "shares in brackets are the share of seeds in which it is a member in the final "
            "year.</p><ul>" + "".join(f"<li>{html.escape(m)}</li>" for m in members) + "</ul>"
        )
    parts.append("<h2>Summary, final year</h2>")
    parts.append(_summary_table(summary, baseline, HEADLINE))
    body = "\n".join(parts)
    js = plotly.offline.get_plotlyjs()
    return (
        "<!DOCTYPE html>\n<html lang='en'><head><meta charset='utf-8'>"
        f"<title>{html.escape(title)}</title>"
        "<style>body{font-family:sans-serif;max-width:1400px;margin:auto;padding:1em}"
        "table{border-collapse:collapse;font-size:90%}td,th{border:1px solid #ccc;"
        "padding:2px 6px;text-align:right}td:first-child,td:nth-child(2){text-align:left}"
        ".sig{font-weight:bold}</style>"
        f"<script type='text/javascript'>{js}</script></head><body>\n{body}\n</body></html>\n"
    )


# ------------------------------------------------------------------------------------------
def membership_lines(municipal: pd.DataFrame) -> list[str]:
    """Who is in the combined authority: one line per scenario that has one.

    For each scenario (one group if there is no ``scenario`` column): the mean number of
    members over seeds in the first year with decisions (the founders; the table's first year
    is the initial state, before any decision) and in the final year, the members of the final
    year with the share of seeds in which each is a member, and the communes that joined or
    left after the founding year in some seed. Empty when no commune was ever a member.

    Examples
    --------
    >>> df = pd.DataFrame({"year": [0, 0, 1, 1, 2, 2], "cut": [1, 2] * 3, "name": ["A", "B"] * 3,
    ...                    "combined_authority_member": [0.0, 0.0, 1.0, 0.0, 1.0, 1.0]})
    >>> membership_lines(df)[0]
    'combined authority: 1 founding members in 1, 2 in 2; final year: A, B; joined later: B'
    """
    col = "combined_authority_member"
    if col not in municipal.columns or not (municipal[col] > 0).any():
        return []
    df = municipal.copy()
    if "scenario" not in df.columns:
        df["scenario"] = ""
    if "seed" not in df.columns:
        df["seed"] = 0
    lines = []
    for scenario, sub in df.groupby("scenario", sort=False):
        if not (sub[col] > 0).any():
            continue
        seeds = sub["seed"].nunique()
        years = sorted(sub["year"].unique())
        first = years[1] if len(years) > 1 else years[0]
        counts = sub.groupby(["year", "seed"])[col].sum().groupby("year").mean()
        final = sub[sub["year"] == years[-1]].groupby("name", sort=False)[col].mean()
        final = final[final > 0].sort_values(ascending=False, kind="stable")
        names = ", ".join(
            n if seeds == 1 or share == 1 else f"{n} ({share:.0%})" for n, share in final.items()
        )
        wide = sub[sub["year"] >= first].pivot_table(
            index=["seed", "name"], columns="year", values=col
        )
        change = wide.diff(axis=1).iloc[:, 1:]
        joined = sorted({n for (_, n), v in change.max(axis=1).items() if v > 0})
        left = sorted({n for (_, n), v in change.min(axis=1).items() if v < 0})
        label = f"combined authority ({scenario})" if scenario else "combined authority"
        text = (
            f"{label}: {counts.loc[first]:.3g} founding members in {first}, "
            f"{counts.loc[years[-1]]:.3g} in {years[-1]}; final year: {names or 'none'}"
        )
        if joined:
            text += "; joined later: " + ", ".join(joined)
        if left:
            text += "; left: " + ", ".join(left)
        lines.append(text)
    return lines


def _div(fig: Any) -> str:
    return fig.to_html(full_html=False, include_plotlyjs=False, config={"responsive": True})


def _yearly_outcomes(runs: pd.DataFrame, headline: Sequence[str]) -> list[str]:
    from metrosim.scenario import Scenario

    skip = {"scenario", "seed", "year"} | set(Scenario.levers())
    numeric = [c for c in runs.columns if c not in skip and pd.api.types.is_numeric_dtype(runs[c])]
    first = [c for c in headline if c in numeric]
    rest = [c for c in numeric if c not in first]
    return (first + rest)[: max(_MAX_SERIES, len(first))]


def _ci(x: np.ndarray) -> tuple[float, float, float]:
    x = x[np.isfinite(x)]
    if x.size == 0:
        return (np.nan, np.nan, np.nan)
    m = float(x.mean())
    if x.size < 2 or np.all(x == x[0]):
        return (m, m, m)
    half = float(stats.t.ppf(0.975, x.size - 1) * x.std(ddof=1) / np.sqrt(x.size))
    return (m, m - half, m + half)


def _rgba(hex_colour: str, alpha: float) -> str:
    r, g, b = (int(hex_colour[i : i + 2], 16) for i in (1, 3, 5))
    return f"rgba({r},{g},{b},{alpha})"


def _series_figure(
    runs: pd.DataFrame, cols: Sequence[str], scenarios: list[str], colours: Mapping[str, str]
) -> Any:
    """One panel per outcome: the mean over seeds per year and its 95% band, per scenario."""
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    ncols = min(3, len(cols))
    nrows = -(-len(cols) // ncols)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=list(cols),
        horizontal_spacing=0.06,
        vertical_spacing=0.5 / max(nrows, 1) if nrows > 1 else 0.1,
    )
    for k, col in enumerate(cols):
        r, c = divmod(k, ncols)
        for s in scenarios:
            sub = runs[runs["scenario"] == s]
            rows = [
                (int(y), *_ci(g[col].to_numpy(dtype=float)))
                for y, g in sub.groupby("year", sort=True)
            ]
            years = [row[0] for row in rows]
            mean, lo, hi = ([row[i] for row in rows] for i in (1, 2, 3))
            fig.add_trace(
                go.Scatter(
                    x=years + years[::-1],
                    y=hi + lo[::-1],
                    mode="lines",
                    fill="toself",
                    fillcolor=_rgba(colours[s], 0.2),
                    line={"width": 0},
                    hoverinfo="skip",
                    showlegend=False,
                    legendgroup=s,
                ),
                row=r + 1,
                col=c + 1,
            )
            fig.add_trace(
                go.Scatter(
                    x=years,
                    y=mean,
                    mode="lines",
                    name=s,
                    line={"color": colours[s]},
                    legendgroup=s,
                    showlegend=k == 0,
                    hovertemplate=f"{s}: %{{y:.4g}}<extra>{col}</extra>",
                ),
                row=r + 1,
                col=c + 1,
            )
    fig.update_xaxes(tickformat="d")
    fig.update_layout(
        height=260 * nrows + 80,
        margin={"t": 60, "b": 30},
        legend={"orientation": "h", "y": 1.0 + 60 / (260 * nrows + 80), "x": 0},
    )
    return fig


def _crop(states: Mapping[str, Mapping[str, np.ndarray]]) -> dict[str, tuple[slice, slice]]:
    """Per scenario, the window to draw: the city's communes and new urban land, plus a margin.

    The window covers the communes of the continuous city and the land urbanised since the
    start in any scenario.
    """
    masks: dict[tuple[int, ...], np.ndarray] = {}
    for st in states.values():
        shape = np.asarray(st["land_use"]).shape
        m = masks.get(shape, np.zeros(shape, bool))
        if "new_urban" in st:
            m = m | np.asarray(st["new_urban"], bool)
        if "in_core" in st and "commune" in st:
            core = np.flatnonzero(np.asarray(st["in_core"], bool))
            m = m | np.isin(np.asarray(st["commune"]), core)
        masks[shape] = m
    out = {}
    for name, st in states.items():
        u = masks[np.asarray(st["land_use"]).shape]
        if not u.any():
            out[name] = (slice(None), slice(None))
            continue
        rows, cols = np.nonzero(u)
        m = max(2, int(round(0.04 * max(u.shape))))
        out[name] = (
            slice(max(0, rows.min() - m), rows.max() + m + 1),
            slice(max(0, cols.min() - m), cols.max() + m + 1),
        )
    return out


def _boundaries(commune: np.ndarray) -> tuple[list[float | None], list[float | None]]:
    """Lines along cell edges where the commune changes (inside the region).

    Edges that continue each other along a row or column are joined into one segment.
    """
    xs: list[float | None] = []
    ys: list[float | None] = []
    c = np.asarray(commune)
    # vertical edges between (i, j) and (i, j+1): runs over i for each j
    v = (c[:, 1:] != c[:, :-1]) & ((c[:, 1:] >= 0) | (c[:, :-1] >= 0))
    for j, start, stop in _runs(v.T):
        xs += [j + 0.5, j + 0.5, None]
        ys += [start - 0.5, stop - 0.5, None]
    # horizontal edges between (i, j) and (i+1, j): runs over j for each i
    h = (c[1:, :] != c[:-1, :]) & ((c[1:, :] >= 0) | (c[:-1, :] >= 0))
    for i, start, stop in _runs(h):
        xs += [start - 0.5, stop - 0.5, None]
        ys += [i + 0.5, i + 0.5, None]
    return xs, ys


def _runs(mask: np.ndarray) -> list[tuple[int, int, int]]:
    """(row, start, stop) of each run of True along the rows of a 2-d mask (stop exclusive)."""
    out = []
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    d = np.diff(padded, axis=1)
    for r in range(mask.shape[0]):
        starts = np.flatnonzero(d[r] == 1)
        stops = np.flatnonzero(d[r] == -1)
        out += [(r, int(a), int(b)) for a, b in zip(starts, stops, strict=True)]
    return out


def _discrete_scale(colours: Sequence[str]) -> list[list[Any]]:
    n = len(colours)
    scale: list[list[Any]] = []
    for k, col in enumerate(colours):
        scale += [[k / n, col], [(k + 1) / n, col]]
    return scale


def _map_figure(states: Mapping[str, Mapping[str, np.ndarray]], what: str) -> Any:
    import plotly.graph_objects as go
    from plotly.subplots import make_subplots

    names = list(states)
    crop = _crop(states)
    ncols = 2 if len(names) == 4 else min(len(names), 3)
    nrows = -(-len(names) // ncols)
    fig = make_subplots(
        rows=nrows,
        cols=ncols,
        subplot_titles=names,
        horizontal_spacing=0.02,
        vertical_spacing=0.06,
    )
    if what == "land_use":
        codes = [int(c) for c, _, _ in _LAND_USE]
        labels = [lab for _, lab, _ in _LAND_USE]
        colours = [col for _, _, col in _LAND_USE]
        heading = "Land use"
    else:
        codes = [0, 1, 2, 3, 4]
        labels = [
            f"Q{k + 1}" + (" (poorest)" if k == 0 else " (richest)" if k == 4 else "")
            for k in codes
        ]
        colours = _GROUP_COLOURS
        heading = "Income group with most households on the cell"
    lookup = {c: k for k, c in enumerate(codes)}
    for k_map, name in enumerate(names):
        row_i, col_i = k_map // ncols + 1, k_map % ncols + 1
        st = states[name]
        rs, cs = crop[name]
        raw = np.asarray(st[what])[rs, cs].astype(np.int64)
        z = np.full(raw.shape, -1, dtype=np.int8)  # -1: nothing to show (white)
        for c, k in lookup.items():
            z[raw == c] = k
        fig.add_trace(
            go.Heatmap(
                z=z,
                hovertemplate="%{z}<extra>" + html.escape(name) + "</extra>",
                zmin=-1.5,
                zmax=len(codes) - 0.5,
                colorscale=_discrete_scale(["#ffffff", *colours]),
                showscale=k_map == 0,
                colorbar={
                    "tickvals": list(range(len(codes))),
                    "ticktext": [f"{k}: {lab}" for k, lab in enumerate(labels)],
                    "len": 0.9,
                },
            ),
            row=row_i,
            col=col_i,
        )
        xs, ys = _boundaries(np.asarray(st["commune"])[rs, cs])
        fig.add_trace(
            go.Scatter(
                x=xs,
                y=ys,
                mode="lines",
                line={"color": "#333", "width": 0.6},
                hoverinfo="skip",
                showlegend=False,
            ),
            row=row_i,
            col=col_i,
        )
        axis = "" if k_map == 0 else str(k_map + 1)
        fig.update_yaxes(
            autorange="reversed",
            scaleanchor=f"x{axis}",
            visible=False,
            row=row_i,
            col=col_i,
        )
        fig.update_xaxes(visible=False, constrain="domain", row=row_i, col=col_i)
    first = np.asarray(states[names[0]][what])[crop[names[0]]]
    aspect = first.shape[0] / max(first.shape[1], 1)
    fig.update_layout(
        title=f"{heading}, final year (commune boundaries in grey)",
        height=int(min(1800, max(350, nrows * (1250 / ncols * aspect + 40) + 80))),
        margin={"t": 70, "b": 10, "l": 10, "r": 10},
        plot_bgcolor="white",
    )
    return fig


def _commune_outcomes(municipal: pd.DataFrame) -> list[str]:
    skip = {"scenario", "seed", "year", "cut", "name"}
    numeric = [
        c
        for c in municipal.columns
        if c not in skip and pd.api.types.is_numeric_dtype(municipal[c])
    ]
    first = [c for c in _PREFERRED_COMMUNE if c in numeric]
    return first + [c for c in numeric if c not in first]


def _core_cuts(states: Mapping[str, Mapping[str, np.ndarray]]) -> list[int]:
    for st in states.values():
        if "cut" in st and "in_core" in st:
            return [int(c) for c in np.asarray(st["cut"])[np.asarray(st["in_core"], bool)]]
    return []


def _commune_figure(
    municipal: pd.DataFrame,
    col: str,
    scenarios: list[str],
    colours: Mapping[str, str],
    core: list[int],
) -> Any:
    import plotly.graph_objects as go

    final = municipal[municipal["year"] == municipal["year"].max()]
    if core:
        final = final[final["cut"].isin(core)]
    means = final.groupby(["scenario", "cut", "name"], sort=False)[col].mean().reset_index()
    order = (
        means[means["scenario"] == scenarios[0]].sort_values(col, ascending=False)["name"].tolist()
    )
    fig = go.Figure()
    for s in scenarios:
        sub = means[means["scenario"] == s].set_index("name").reindex(order)
        fig.add_trace(go.Bar(x=order, y=sub[col], name=s, marker_color=colours[s]))
    fig.update_layout(
        title=f"{col} per commune",
        barmode="group",
        height=380,
        margin={"t": 40, "b": 120},
        xaxis_tickangle=-60,
    )
    return fig


def _fmt(v: Any) -> str:
    try:
        f = float(v)
    except (TypeError, ValueError):
        return html.escape(str(v))
    return "" if not np.isfinite(f) else f"{f:.4g}"


def _summary_table(summary: pd.DataFrame, baseline: str, headline: Sequence[str]) -> str:
    outcomes = list(dict.fromkeys(summary["outcome"]))
    order = [o for o in headline if o in outcomes] + [o for o in outcomes if o not in headline]
    rows = [
        "<table><tr><th>outcome</th><th>scenario</th><th>n</th><th>mean</th>"
        "<th>95% CI</th><th>difference from " + html.escape(baseline) + "</th>"
        "<th>95% CI of the difference</th></tr>"
    ]
    for o in order:
        for _, r in summary[summary["outcome"] == o].iterrows():
            is_base = r["scenario"] == baseline
            lo, hi = r["diff_ci_low"], r["diff_ci_high"]
            sig = (not is_base) and np.isfinite(lo) and np.isfinite(hi) and (lo > 0 or hi < 0)
            cls = " class='sig'" if sig else ""
            diff = "baseline" if is_base else _fmt(r["diff"])
            dci = "" if is_base else f"[{_fmt(lo)}, {_fmt(hi)}]"
            rows.append(
                f"<tr><td>{html.escape(o)}</td><td>{html.escape(str(r['scenario']))}</td>"
                f"<td>{int(r['n'])}</td><td>{_fmt(r['mean'])}</td>"
                f"<td>[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]</td>"
                f"<td{cls}>{diff}</td><td{cls}>{dci}</td></tr>"
            )
    rows.append("</table><p>Bold: the 95% interval of the paired difference excludes 0.</p>")
    return "\n".join(rows)
