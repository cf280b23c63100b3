"""The HTML report from synthetic tables (no model run)."""

import numpy as np
import pandas as pd

from metrosim.experiments import summarise
from metrosim.land import LandUse
from metrosim.report import _boundaries, _crop, build_report


def synthetic():
    rng = np.random.default_rng(0)
    rows, mun = [], []
    for s, shift in (("base", 0.0), ("other", 5.0)):
        for seed in (1, 2, 3):
            for year in (2017, 2018, 2019):
                rows.append(
                    {
                        "scenario": s,
                        "seed": seed,
                        "year": year,
                        "urban_area_ha": 100 + shift * (year - 2017) + rng.normal(),
                        "mean_rent": 2e5 + rng.normal(0, 1e3),
                    }
                )
                for cut, name in ((13101, "Santiago"), (13201, "Puente Alto"), (13301, "Colina")):
                    mun.append(
                        {
                            "scenario": s,
                            "seed": seed,
                            "year": year,
                            "cut": cut,
                            "name": name,
                            "population": 1000 + shift + rng.normal(),
                            "green_m2_per_person": 3 + rng.normal(),
                        }
                    )
    commune = np.array([[-1, 0, 0, 1], [0, 0, 1, 1], [2, 2, 2, 1], [-1, 2, 2, -1]], np.int16)
    land = np.full(commune.shape, int(LandUse.AGRICULTURAL), np.uint8)
    land[1, 1] = LandUse.RES_HIGH
    land[commune < 0] = LandUse.OUTSIDE
    dom = np.full(commune.shape, -1, np.int8)
    dom[1, 1] = 4
    state = {
        "land_use": land,
        "dominant_group": dom,
        "new_urban": np.zeros(commune.shape, bool),
        "commune": commune,
        "cut": np.array([13101, 13201, 13301], np.int32),
        "in_core": np.array([True, True, False]),
        "cell_size_m": np.float64(1000.0),
    }
    runs = pd.DataFrame(rows)
    return runs, pd.DataFrame(mun), state


def test_build_report_sections_and_content():
    runs, mun, state = synthetic()
    summary = summarise(runs, baseline="base")
    text = build_report(
        runs, mun, summary, {"base": state, "other": state}, baseline="base", title="T <x>"
    )
    assert "<title>T &lt;x&gt;</title>" in text  # escaped
    assert "Outcomes over time" in text and "urban_area_ha" in text
    assert text.count("Land use") >= 1 and "Income group" in text
    # per-commune bars for the communes of the continuous city only
    assert "Puente Alto" in text and "Colina" not in text
    assert "green_m2_per_person per commune" in text
    # the summary marks the significant paired difference (urban area grows 10 ha more)
    assert "class='sig'" in text
    assert "<script src=" not in text


def test_report_without_maps():
    runs, mun, _ = synthetic()
    text = build_report(runs, mun, summarise(runs, baseline="base"), {}, baseline="base")
    assert "Final maps" not in text and "Puente Alto" in text and "Colina" in text


def segments(c):
    xs, ys = _boundaries(np.array(c))
    assert xs[2::3] == ys[2::3] == [None] * (len(xs) // 3)
    return {((xs[i], ys[i]), (xs[i + 1], ys[i + 1])) for i in range(0, len(xs), 3)}


def test_commune_boundaries_follow_cell_edges():
    # one straight edge between columns 1 and 2, joined over both rows
    assert segments([[0, 0, 1], [0, 0, 1]]) == {((1.5, -0.5), (1.5, 1.5))}
    # an L: the vertical edge over rows 0-1 and the horizontal edge under row 1, columns 0-1
    assert segments([[0, 0, 1], [0, 0, 1], [1, 1, 1]]) == {
        ((1.5, -0.5), (1.5, 1.5)),
        ((-0.5, 1.5), (1.5, 1.5)),
    }
    # outside the region (-1) on both sides: no line
    assert segments([[-1, -1], [-1, -1]]) == set()
    # brute force: every unit edge between different communes lies on a joined segment
    rng = np.random.default_rng(1)
    c = rng.integers(-1, 3, size=(7, 9))
    segs = segments(c)
    for i in range(7):
        for j in range(8):
            if c[i, j] != c[i, j + 1] and max(c[i, j], c[i, j + 1]) >= 0:
                assert any(
                    a[0] == b[0] == j + 0.5 and a[1] <= i - 0.5 and b[1] >= i + 0.5 for a, b in segs
                )
    for i in range(6):
        for j in range(9):
            if c[i, j] != c[i + 1, j] and max(c[i, j], c[i + 1, j]) >= 0:
                assert any(
                    a[1] == b[1] == i + 0.5 and a[0] <= j - 0.5 and b[0] >= j + 0.5 for a, b in segs
                )


def test_crop_keeps_core_communes_and_new_land():
    _, _, state = synthetic()
    big = {k: v for k, v in state.items()}
    commune = np.full((60, 60), -1, np.int16)
    commune[10:20, 10:20] = 0  # a core commune
    commune[40:50, 40:50] = 2  # not core
    big["commune"] = commune
    big["land_use"] = np.zeros((60, 60), np.uint8)
    big["new_urban"] = np.zeros((60, 60), bool)
    rs, cs = _crop({"a": big})["a"]
    assert rs.start <= 10 and rs.stop >= 20 and rs.stop < 40
    big["new_urban"][45, 45] = True
    rs, cs = _crop({"a": big})["a"]
    assert rs.stop > 45 and cs.stop > 45
