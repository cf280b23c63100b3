"""The map of a pane: a plotly heatmap of the grid with the commune boundaries drawn over it.

The grid is cropped to the chosen area (Gran Santiago's 34 communes with a margin, or the whole
region) and thinned by taking every k-th cell so that a map has at most :data:`MAX_SIDE` cells
a side (a stated simplification: a thinned cell shows the value of one cell, not an average).
Commune boundaries are drawn along the cell edges where the commune changes.
The pointer names the commune with its figures from ``model.municipal``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import plotly.graph_objects as go

from metrosim.dashboard.i18n import t

__all__ = [
    "LAYERS",
    "MAX_SIDE",
    "Window",
    "window",
    "layer_values",
    "map_figure",
    "value_range",
    "json_safe",
    "commune_figures",
]

#: Map layers, in the order of the layer picker.
LAYERS = ("land_use", "income", "rent", "service", "growth", "commute", "pm25")
#: Largest number of cells a map shows along a side (more are thinned).
MAX_SIDE = 150
#: Margin around Gran Santiago's communes (m).
MARGIN_M = 3000.0

_LAND_USE_COLOURS = (
    "#e9e4c9",  # agricultural
    "#9cc79a",  # protected
    "#f5c28b",  # residential low
    "#e8875b",  # residential medium
    "#b8412f",  # residential high
    "#7b6fa8",  # jobs
    "#3f9b4a",  # park
)
_INCOME_COLOURS = ("#d7301f", "#fc8d59", "#fee08b", "#91bfdb", "#4575b4")
_GROWTH_COLOURS = ("#eeeeee", "#bdbdbd", "#fd8d3c", "#b10026")


@dataclass(frozen=True)
class Window:
    """Which part of the grid a map shows: rows and columns, and the thinning step."""

    rows: slice
    cols: slice

    def take(self, grid2d: np.ndarray) -> np.ndarray:
        """The window of a 2-D array."""
        return grid2d[self.rows, self.cols]


def window(grid, core_communes: np.ndarray | None, *, max_side: int = MAX_SIDE) -> Window:
    """The cells a map shows, thinned to ``max_side`` cells a side.

    The bounding box of ``core_communes`` (indices) plus a margin, or the whole region when
    ``core_communes`` is None.
    """
    commune = grid.commune
    mask = commune >= 0 if core_communes is None else np.isin(commune, core_communes)
    rows = np.flatnonzero(mask.any(axis=1))
    cols = np.flatnonzero(mask.any(axis=0))
    pad = int(round(MARGIN_M / grid.cell_size_m)) if core_communes is not None else 0
    r0, r1 = max(rows[0] - pad, 0), min(rows[-1] + pad + 1, commune.shape[0])
    c0, c1 = max(cols[0] - pad, 0), min(cols[-1] + pad + 1, commune.shape[1])
    k = max(1, int(np.ceil(max(r1 - r0, c1 - c0) / max_side)))
    return Window(slice(r0, r1, k), slice(c0, c1, k))


def layer_values(model, layer: str, start_capacity: np.ndarray | None = None) -> np.ndarray:
    """The value of every cell for a map layer, flat (NaN where there is nothing to show).

    Parameters
    ----------
    model : MetroModel
    layer : str
        One of :data:`LAYERS`.
    start_capacity : ndarray, optional
        Dwellings of each cell at the start (for ``growth``: densified cells).
    """
    land = model.land
    inside = model.grid.commune.ravel() >= 0
    if layer == "land_use":
        z = land.land_use.astype(float)
        return np.where(inside & (land.land_use < 255), z, np.nan)
    if layer == "income":
        occ = land.occupancy
        dominant = occ.argmax(axis=1).astype(float) + 1.0
        return np.where(occ.sum(axis=1) > 0, dominant, np.nan)
    if layer == "rent":
        return np.where(land.capacity > 0, land.rent, np.nan).astype(float)
    if layer == "service":
        service = getattr(model, "service_km", None)
        if service is None:
            return np.full(inside.shape, np.nan)
        return np.where(inside, service, np.nan).astype(float)
    if layer == "growth":
        urban = land.urban
        start = land.urban_start
        denser = (
            (land.capacity > start_capacity) if start_capacity is not None else np.zeros_like(urban)
        )
        z = np.where(urban & ~start, 3.0, np.where(urban & denser, 2.0, np.where(urban, 1.0, 0.0)))
        return np.where(inside, z, np.nan)
    if layer == "commute":
        commute = getattr(model, "commute", None)
        if commute is None:
            return np.full(inside.shape, np.nan)
        return np.where(inside, commute, np.nan).astype(float)
    if layer == "pm25":
        conc = getattr(model, "pm25_traffic_zone", None)
        if conc is None:
            return np.full(inside.shape, np.nan)
        return np.where(inside, conc[model.travel.zones.zone_of_cell], np.nan).astype(float)
    raise ValueError(f"unknown map layer {layer!r}; layers: {', '.join(LAYERS)}")


def value_range(values: list[np.ndarray]) -> tuple[float, float]:
    """A common colour range for continuous layers (2nd to 98th percentile of all panes)."""
    finite = np.concatenate([v[np.isfinite(v)] for v in values]) if values else np.array([])
    if finite.size == 0:
        return (0.0, 1.0)
    lo, hi = np.percentile(finite, [2, 98])
    return (float(lo), float(hi if hi > lo else lo + 1.0))


def boundary_lines(
    commune: np.ndarray, x: np.ndarray, y: np.ndarray, cell: float
) -> tuple[np.ndarray, np.ndarray]:
    """Line segments along the cell edges where the commune changes (NaN between segments).

    ``x`` and ``y`` are the cell centres of the columns and rows, ``cell`` the cell side in the
    same unit. Float arrays with NaN gaps (not lists with None) keep plotly's validation fast.
    """
    h = cell / 2.0
    r, c = np.nonzero(commune[:, 1:] != commune[:, :-1])  # edge right of (r, c)
    xe = x[c] + h
    vx = np.column_stack([xe, xe, np.full(xe.size, np.nan)])
    vy = np.column_stack([y[r] + h, y[r] - h, np.full(xe.size, np.nan)])
    r, c = np.nonzero(commune[1:, :] != commune[:-1, :])  # edge below (r, c)
    ye = y[r] - h
    hx = np.column_stack([x[c] - h, x[c] + h, np.full(ye.size, np.nan)])
    hy = np.column_stack([ye, ye, np.full(ye.size, np.nan)])
    return (
        np.concatenate([vx.ravel(), hx.ravel()]).astype(float),
        np.concatenate([vy.ravel(), hy.ravel()]).astype(float),
    )


def json_safe(values) -> np.ndarray:
    """Values as an object array with None for NaN and infinities.

    Figures reach the browser as JSON through the plotly widget, and NaN is not JSON: the
    browser rejects the whole message. Plotly draws None as a gap, as it would NaN. (A 1-D
    float array would travel as a binary buffer, but 2-D arrays travel as lists.)
    """
    a = np.asarray(values, dtype=float)
    return np.where(np.isfinite(a), a, None)


def _stepped(colours: tuple[str, ...]) -> list[list]:
    """A discrete colour scale: one flat band per category."""
    n = len(colours)
    scale = []
    for i, c in enumerate(colours):
        scale += [[i / n, c], [(i + 1) / n, c]]
    return scale


def commune_figures(model) -> dict[str, np.ndarray]:
    """Per-commune figures: ``model.municipal`` plus two the page derives from the grid.

    ``coverage_park``: share of a commune's housed households with a park within
    ``coverage_park_m`` (from ``model.distance_km["park"]``); ``share_q1``: share of its
    population in the poorest quintile.
    """
    figures = dict(model.municipal)
    n = len(model.city.name)
    commune = model.grid.commune.ravel()
    inside = commune >= 0
    dist = getattr(model, "distance_km", None)
    if isinstance(dist, dict) and "park" in dist:
        occupied = model.land.occupancy.sum(axis=1).astype(float)
        near = dist["park"] * 1000.0 <= model.params.coverage_park_m
        hh = np.bincount(commune[inside], weights=occupied[inside], minlength=n)
        covered = np.bincount(commune[inside], weights=(occupied * near)[inside], minlength=n)
        figures["coverage_park"] = np.where(hh > 0, covered / np.maximum(hh, 1), np.nan)
    if "pop_q1" in figures and "population" in figures:
        pop = np.asarray(figures["population"], float)
        figures["share_q1"] = np.where(pop > 0, figures["pop_q1"] / np.maximum(pop, 1), np.nan)
    return figures


def commune_labels(model, lang: str) -> list[str]:
    """Hover text of each commune: its name and figures (:func:`commune_figures`)."""
    m = commune_figures(model)
    names = model.city.name
    labels = []
    for i, name in enumerate(names):
        parts = [f"<b>{name}</b>"]
        rows = (
            ("population", "{:,.0f}", {"es": "población", "en": "population"}),
            ("mean_rent", "${:,.0f}", {"es": "arriendo medio", "en": "mean rent"}),
            ("budget_per_capita", "${:,.0f}", {"es": "presupuesto/hab.", "en": "budget/person"}),
            ("green_m2_per_person", "{:.1f} m²", {"es": "verde/hab.", "en": "green/person"}),
            (
                "coverage_park",
                "{:.0%}",
                {"es": "hogares con plaza a ≤400 m", "en": "households with a park ≤400 m"},
            ),
            ("share_q1", "{:.0%}", {"es": "quintil más pobre", "en": "poorest quintile"}),
        )
        for key, fmt, label in rows:
            if key in m and np.isfinite(m[key][i]):
                text = fmt.format(float(m[key][i]))
                if lang == "es":
                    text = text.replace(",", ".")
                parts.append(f"{label[lang]}: {text}")
        labels.append("<br>".join(parts))
    return labels


def map_figure(
    model,
    layer: str,
    win: Window,
    *,
    lang: str = "es",
    start_capacity: np.ndarray | None = None,
    zrange: tuple[float, float] | None = None,
    title: str = "",
    height: int = 430,
) -> go.Figure:
    """The map of one pane for one layer, with commune boundaries and hover figures."""
    g = model.grid
    shape = g.shape
    z = win.take(layer_values(model, layer, start_capacity).reshape(shape))
    commune = win.take(g.commune)
    ny, nx = z.shape
    step = win.rows.step or 1
    cs = g.cell_size_m * step
    x = (g.x0 + (win.cols.start + 0.5) * g.cell_size_m + np.arange(nx) * cs) / 1000.0
    y = (g.y_top - (win.rows.start + 0.5) * g.cell_size_m - np.arange(ny) * cs) / 1000.0

    labels = np.array(commune_labels(model, lang) + [""], dtype=object)
    text = labels[np.where(commune >= 0, commune, len(labels) - 1)]

    heat = dict(
        x=x,
        y=y,
        z=json_safe(z),
        text=text,
        hovertemplate="%{text}<extra></extra>",
        hoverongaps=False,
    )
    if layer == "land_use":
        n = len(_LAND_USE_COLOURS)
        trace = go.Heatmap(
            **heat,
            zmin=-0.5,
            zmax=n - 0.5,
            colorscale=_stepped(_LAND_USE_COLOURS),
            colorbar=dict(
                tickvals=list(range(n)),
                ticktext=[t(f"land_use_{i}", lang) for i in range(n)],
                len=0.9,
            ),
        )
    elif layer == "income":
        trace = go.Heatmap(
            **heat,
            zmin=0.5,
            zmax=5.5,
            colorscale=_stepped(_INCOME_COLOURS),
            colorbar=dict(
                tickvals=[1, 2, 3, 4, 5],
                ticktext=[t("income_group", lang, q=q) for q in range(1, 6)],
                len=0.9,
            ),
        )
    elif layer == "growth":
        keys = ("growth_rural", "growth_none", "growth_denser", "growth_new")
        trace = go.Heatmap(
            **heat,
            zmin=-0.5,
            zmax=3.5,
            colorscale=_stepped(_GROWTH_COLOURS),
            colorbar=dict(
                tickvals=[0, 1, 2, 3],
                ticktext=[t(k, lang) for k in keys],
                len=0.9,
            ),
        )
    else:
        lo, hi = zrange if zrange is not None else value_range([z.ravel()])
        trace = go.Heatmap(
            **heat,
            zmin=lo,
            zmax=hi,
            colorscale="Viridis_r" if layer in ("service", "commute", "pm25") else "Viridis",
            colorbar=dict(len=0.9),
        )
        trace.hovertemplate = "%{text}<br>" + t("hover_value", lang) + ": %{z:,.3g}<extra></extra>"

    bx, by = boundary_lines(commune, x, y, cs / 1000.0)
    boundaries = go.Scatter(
        x=bx,
        y=by,
        mode="lines",
        line=dict(color="rgba(20,20,20,0.8)", width=1),
        hoverinfo="skip",
        showlegend=False,
        name="communes",
    )
    fig = go.Figure([trace, boundaries])
    fig.update_layout(
        title=dict(text=title, x=0.01, font=dict(size=14)),
        height=height,
        margin=dict(l=5, r=5, t=35 if title else 5, b=5),
        xaxis=dict(visible=False, constrain="domain"),
        yaxis=dict(visible=False, scaleanchor="x", scaleratio=1, constrain="domain"),
        plot_bgcolor="white",
        uirevision="map",
    )
    return fig
