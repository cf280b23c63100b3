"""Dashboard without a browser: lever controls from metadata, panes stepping together and
deterministically, lever resets and bad values, map layers and figures, ensemble bands, export,
and the page rendering once in Solara's test renderer."""

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from metrosim.dashboard import charts, maps
from metrosim.dashboard.i18n import METRICS, lever_label, metric_help, metric_label, t
from metrosim.dashboard.server import build_parser
from metrosim.dashboard.state import Comparison, lever_controls, parse_lever_value
from metrosim.scenario import Scenario, ScenarioError, preset_names

COARSE = {"cell_size_m": 1000.0, "scale": 50}


@pytest.fixture(scope="module")
def stepped():
    """A comparison (fragmented vs coordinated) stepped three years."""
    c = Comparison(("fragmented", "coordinated"), seed=3, **COARSE)
    for _ in range(3):
        c.step()
    return c


def _history_frame(c: Comparison, label: str) -> pd.DataFrame:
    return pd.DataFrame(c.panes[label].history)


# --- levers ----------------------------------------------------------------------------------
def test_every_lever_gets_a_control_of_its_kind():
    controls = {c.name: c for c in lever_controls()}
    assert list(controls) == Scenario.levers()
    fields = {f.name: f for f in dataclasses.fields(Scenario)}
    for name, control in controls.items():
        spec = fields[name].metadata["spec"]
        if spec.choices is not None:
            assert control.kind == "select" and control.choices == tuple(spec.choices)
        elif control.kind in ("int", "float"):
            assert (control.low, control.high) == (spec.low, spec.high)
            assert 0 < control.step <= control.high - control.low
            positions = (control.high - control.low) / control.step
            assert 10 <= positions <= 1000 or control.kind == "int"
        else:
            assert control.kind in ("switch", "text")
        assert control.doc  # the parameter table's sentence
        assert lever_label(name, "es") and lever_label(name, "en")


def test_parse_lever_value_types_and_messages():
    for control in lever_controls():
        if control.kind == "int":
            assert parse_lever_value(control, f" {int(control.low)} ") == int(control.low)
            with pytest.raises(ScenarioError, match="is not a int"):
                parse_lever_value(control, "six")
        elif control.kind == "float":
            assert parse_lever_value(control, str(control.high)) == control.high
            with pytest.raises(ScenarioError, match="is not a float"):
                parse_lever_value(control, "0,5")
        elif control.kind == "switch":
            assert parse_lever_value(control, "True") is True
            with pytest.raises(ScenarioError, match="is not a bool"):
                parse_lever_value(control, "yes")
        else:
            assert parse_lever_value(control, "  a b ") == "a b"


# --- panes -----------------------------------------------------------------------------------
def test_panes_step_together_and_record_each_year(stepped):
    assert stepped.years == (2020, 2020)
    for label in ("A", "B"):
        years = [int(r["year"]) for r in stepped.panes[label].history]
        assert years == [2017, 2018, 2019, 2020]
        assert len(stepped.panes[label].municipal_history) == 4
    assert stepped.last_step_s > 0


def test_same_seed_gives_identical_panes(stepped):
    again = Comparison(("fragmented", "coordinated"), seed=3, **COARSE)
    for _ in range(3):
        again.step()
    for label in ("A", "B"):
        pd.testing.assert_frame_equal(_history_frame(stepped, label), _history_frame(again, label))
        np.testing.assert_array_equal(
            stepped.panes[label].model.land.occupancy, again.panes[label].model.land.occupancy
        )


def test_lever_change_resets_only_that_pane_with_a_notice():
    c = Comparison(("fragmented", "fragmented"), seed=2, **COARSE)
    c.step()
    c.step()
    pane = c.panes["B"]
    pane.set_lever("growth_boundary", "urban_limit_2017")
    assert pane.year == 2017 and len(pane.history) == 1
    assert pane.scenario.growth_boundary == "urban_limit_2017"
    assert pane.notice == (
        "notice_lever",
        {"pane": "B", "name": "growth_boundary", "value": "urban_limit_2017"},
    )
    assert "growth_boundary" in t(pane.notice[0], "es", **pane.notice[1])
    assert c.panes["A"].year == 2019  # the other pane goes on
    # the regime picker drops lever changes and says so
    pane.set_regime("coordinated")
    assert pane.overrides == {} and pane.notice[0] == "notice_regime"


@pytest.mark.parametrize(
    ("name", "value", "match"),
    [
        ("growth_boundary", "everywhere", "not allowed"),
        ("not_a_lever", 1, "not a lever"),
        ("scale", 5, "not a lever"),
    ],
)
def test_bad_lever_value_raises_and_changes_nothing(name, value, match):
    c = Comparison(("fragmented", "fragmented"), seed=2, **COARSE)
    c.step()
    pane = c.panes["A"]
    model = pane.model
    with pytest.raises(ScenarioError, match=match):
        pane.set_lever(name, value)
    assert pane.model is model and pane.year == 2018 and pane.overrides == {}


def test_bad_numeric_lever_value_is_refused():
    numeric = [c for c in lever_controls() if c.kind in ("int", "float")]
    if not numeric:
        pytest.skip("no numeric lever yet")
    control = numeric[0]
    c = Comparison(("fragmented", "fragmented"), seed=2, **COARSE)
    with pytest.raises(ScenarioError, match="out of range"):
        c.panes["A"].set_lever(control.name, control.high + 1)
    assert c.panes["A"].overrides == {}


def test_value_the_model_refuses_is_a_message_and_keeps_the_pane():
    if "association_members" not in Scenario.levers():
        pytest.skip("no free-text lever")
    c = Comparison(("fragmented", "fragmented"), seed=2, **COARSE)
    c.step()
    pane = c.panes["A"]
    model = pane.model
    with pytest.raises(ScenarioError, match="association_members"):
        pane.set_lever("association_members", "no-such-commune")
    assert pane.model is model and pane.year == 2018 and pane.overrides == {}


def test_unknown_regime_is_refused():
    c = Comparison(("fragmented", "fragmented"), seed=2, **COARSE)
    with pytest.raises(ScenarioError, match="not a preset"):
        c.panes["A"].set_regime("anarchy")
    assert set(preset_names()) >= {"fragmented", "coordinated"}


# --- maps and charts -------------------------------------------------------------------------
@pytest.mark.parametrize("layer", maps.LAYERS)
@pytest.mark.parametrize("extent", ["core", "region"])
def test_map_layers(stepped, layer, extent):
    m = stepped.panes["A"].model
    core = np.flatnonzero(np.asarray(m.city.in_core)) if extent == "core" else None
    win = maps.window(m.grid, core)
    fig = maps.map_figure(
        m, layer, win, lang="es", start_capacity=stepped.panes["A"].start_capacity
    )
    heat, lines = fig.data
    z = np.array(heat.z, dtype=float)
    assert max(z.shape) <= maps.MAX_SIDE
    assert np.isfinite(z).any()
    # the figure travels as JSON: NaN must have become null
    assert "NaN" not in fig.to_json()
    # every cell of a commune names it; boundaries are drawn
    names = {s.split("<br>")[0] for s in np.asarray(heat.text).ravel() if s}
    assert "<b>Maipú</b>" in names
    assert lines.x is not None and len(lines.x) > 100


def test_window_covers_gran_santiago(stepped):
    m = stepped.panes["A"].model
    core = np.flatnonzero(np.asarray(m.city.in_core))
    win = maps.window(m.grid, core)
    inside = np.isin(m.grid.commune, core)
    assert inside[win.rows.start : win.rows.stop, win.cols.start : win.cols.stop].sum() == (
        inside.sum()
    )


def test_growth_layer_marks_new_urban_land(stepped):
    pane = stepped.panes["A"]
    z = maps.layer_values(pane.model, "growth", pane.start_capacity)
    land = pane.model.land
    assert np.array_equal(z == 3.0, land.urban & ~land.urban_start)


def test_timeseries_has_a_point_per_year_and_pane(stepped):
    series = {label: (p.regime, p.history) for label, p in stepped.panes.items()}
    fig = charts.timeseries_figure(series, lang="en")
    metrics = charts.present_metrics(stepped.panes["A"].history)
    assert {"urban_area_ha", "urban_density_pph", "mean_rent", "mean_commute_min"} <= set(metrics)
    assert len(fig.data) == 2 * len(metrics)
    assert all(len(tr.x) == 4 for tr in fig.data)
    assert "NaN" not in fig.to_json()


def test_commune_figures_add_park_coverage_and_poorest_share(stepped):
    m = stepped.panes["A"].model
    figures = maps.commune_figures(m)
    assert set(m.municipal) <= set(figures)
    cov = figures["coverage_park"][np.asarray(m.city.in_core)]
    assert np.all((cov >= 0) & (cov <= 1))
    share = figures["share_q1"]
    ok = np.isfinite(share)
    assert np.allclose(share[ok], (m.municipal["pop_q1"] / m.municipal["population"])[ok])
    # a commune's hover text carries the coverage
    label = maps.commune_labels(m, "es")[m.city.name.index("Maipú")]
    assert "plaza" in label and "%" in label


def test_commune_bars_show_the_34_communes(stepped):
    m = stepped.panes["A"].model
    fig = charts.commune_bars(
        {k: (p.regime, p.model.municipal) for k, p in stepped.panes.items()},
        "population",
        list(m.city.name),
        np.asarray(m.city.in_core),
        lang="es",
    )
    assert [len(tr.x) for tr in fig.data] == [34, 34]
    y = np.array(fig.data[0].y, dtype=float)
    assert np.all(np.diff(y) <= 0)  # sorted by pane A


def test_every_headline_metric_has_a_sentence_in_both_languages():
    for m in charts.HEADLINE:
        assert m in METRICS
        for lang in ("es", "en"):
            assert metric_label(m, lang) != m
            assert metric_help(m, lang).endswith(".")


# --- ensemble --------------------------------------------------------------------------------
def _fake_runs(tmp_path):
    rng = np.random.default_rng(0)
    rows = [
        {"scenario": s, "seed": seed, "year": y, "urban_area_ha": 100 + y + 5 * i + rng.normal()}
        for i, s in enumerate(["fragmented", "coordinated"])
        for seed in range(4)
        for y in range(2017, 2020)
    ]
    runs = pd.DataFrame(rows)
    runs.to_parquet(tmp_path / "runs.parquet")
    return runs


def test_ensemble_bands_are_t_intervals_over_seeds(tmp_path):
    runs = _fake_runs(tmp_path)
    loaded = charts.load_ensemble(tmp_path)
    bands = charts.ensemble_bands(loaded, ["urban_area_ha"])
    row = bands[(bands.scenario == "coordinated") & (bands.year == 2019)].iloc[0]
    x = runs[(runs.scenario == "coordinated") & (runs.year == 2019)]["urban_area_ha"]
    half = stats.t.ppf(0.975, 3) * x.std(ddof=1) / math.sqrt(4)
    assert row["n"] == 4
    assert row["mean"] == pytest.approx(x.mean())
    assert row["ci_high"] - row["mean"] == pytest.approx(half)
    fig = charts.ensemble_figure(bands, lang="es")
    assert len(fig.data) == 4  # a band and a mean line per scenario


@pytest.mark.parametrize(
    ("make", "match"),
    [
        (lambda p: p / "missing", "does not exist"),
        (lambda p: "", "no folder"),
        (lambda p: (p / "runs.parquet").write_text("not parquet") and p, "not a readable"),
        (lambda p: pd.DataFrame({"year": [1]}).to_parquet(p / "runs.parquet") or p, "lacks"),
    ],
)
def test_ensemble_errors_are_messages(tmp_path, make, match):
    with pytest.raises(charts.EnsembleError, match=match):
        charts.load_ensemble(make(tmp_path))


# --- export ----------------------------------------------------------------------------------
def test_html_export_is_self_contained(stepped):
    from metrosim.dashboard.app import build_figures

    figs = build_figures(stepped, layer="rent", lang="es")
    page = charts.html_report([(k, v) for k, v in figs.items()], lang="es")
    assert page.count("<script") >= 4
    # plotly.js itself is inlined (no <script src=...> that would need the network)
    assert "<script src=" not in page and 'src="http' not in page
    assert len(page) > 3_000_000
    assert metric_help("urban_area_ha", "es") in page


# --- the page --------------------------------------------------------------------------------
def test_page_renders_in_solara(monkeypatch):
    solara = pytest.importorskip("solara")
    from metrosim.dashboard import app, state

    monkeypatch.setattr(
        app, "new_comparison", lambda: state.Comparison(("fragmented", "coordinated"), **COARSE)
    )
    box, rc = solara.render(app.Page(), handle_error=False)
    try:
        import ipyvue
        import ipyvuetify as v

        assert len(rc.find(ipyvue.Html, children=["Año 2017"]).widgets) == 2  # panes A and B
        step = [b for b in rc.find(v.Btn).widgets if "metrosim-step" in (b.class_ or "")]
        assert len(step) == 1
        step[0].click()
        assert len(rc.find(ipyvue.Html, children=["Año 2018"]).widgets) == 2
        # open pane A's levers, move a slider and apply: pane A resets with a notice
        panels = [p for p in rc.find(v.ExpansionPanels).widgets if p.class_ == "mt-2"]
        panels[0].v_model = 0
        numeric = [c for c in lever_controls() if c.kind == "float"]
        if numeric:
            control = numeric[0]
            sliders = rc.find(v.Slider).widgets
            assert len(sliders) == sum(c.kind in ("int", "float") for c in lever_controls())
            kinds = [c for c in lever_controls() if c.kind in ("int", "float")]
            slider = sliders[kinds.index(control)]
            slider.v_model = control.low + 3.0000000001 * control.step
            apply = [b for b in rc.find(v.Btn).widgets if "Aplicar" in str(b.children)]
            apply[0].click()
            notices = [a.text for a in rc.find(v.Alert).widgets]
            assert any(control.name in n and "Panel A" in n for n in notices), notices
            value = float(f"{control.low + 3 * control.step:.12g}")
            assert any(f"= {value}." in n for n in notices), notices
            assert rc.find(ipyvue.Html, children=["Año 2017"]).widgets  # pane A reset
            assert rc.find(ipyvue.Html, children=["Año 2018"]).widgets  # pane B went on
    finally:
        rc.close()


def test_server_refuses_a_bad_resolution_in_one_line(capsys):
    from metrosim.dashboard.server import main

    assert main(["--scale", "5000"]) == 2
    err = capsys.readouterr().err
    assert "error" in err and "scale" in err and "Traceback" not in err


def test_server_arguments():
    args = build_parser().parse_args(["--port", "0", "--host", "0.0.0.0", "--cell-size", "500"])
    assert (args.port, args.host, args.cell_size, args.scale) == (0, "0.0.0.0", 500.0, None)
    for bad in (["--port", "70000"], ["--scale", "0"], ["--cell-size", "big"]):
        with pytest.raises(SystemExit):
            build_parser().parse_args(bad)


def test_server_refuses_an_address_it_cannot_listen_on_in_one_line(capsys):
    import socket

    from metrosim.cli import main as cli_main
    from metrosim.dashboard.server import main

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["--port", str(port)]) == 2
        err = capsys.readouterr().err
        assert f"error: cannot listen on --host '127.0.0.1' --port {port}" in err
        assert "allowed:" in err and "Traceback" not in err
    assert main(["--host", "no-such-host.invalid"]) == 2
    err = capsys.readouterr().err
    assert "cannot listen on --host 'no-such-host.invalid'" in err and "Traceback" not in err
    with pytest.raises(SystemExit, match="^2$"):
        cli_main(["dashboard", "--port", "70000"])
    err = capsys.readouterr().err
    assert "metrosim dashboard: error: argument --port: 70000 is not a port" in err
