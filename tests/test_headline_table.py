"""The table of docs/results.md is generated from a compare summary."""

import importlib.util
from pathlib import Path

import numpy as np
import pandas as pd

ROOT = Path(__file__).resolve().parents[1]


def _module():
    spec = importlib.util.spec_from_file_location(
        "headline_table", ROOT / "experiments" / "headline" / "table.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_table_bolds_only_differences_whose_interval_excludes_zero():
    rows = [
        ("fragmented", "urban_area_ha", 100.0, 90.0, 110.0, 0.0, 0.0, 0.0),
        ("coordinated", "urban_area_ha", 50.0, 45.0, 55.0, -50.0, -60.0, -40.0),
        ("other", "urban_area_ha", 101.0, 90.0, 112.0, 1.0, -2.0, 4.0),
        ("fragmented", "theil_h", 0.3, 0.29, 0.31, 0.0, 0.0, 0.0),
        ("coordinated", "theil_h", 0.3, 0.29, 0.31, float("nan"), float("nan"), float("nan")),
        ("other", "theil_h", 0.31, 0.30, 0.32, 0.01, 0.005, 0.015),
    ]
    cols = ["scenario", "outcome", "mean", "ci_low", "ci_high", "diff"]
    cols += ["diff_ci_low", "diff_ci_high"]
    text = _module().table(pd.DataFrame(rows, columns=cols), ("urban_area_ha", "theil_h"))
    lines = text.splitlines()
    assert lines[0] == (
        "| outcome | fragmented: mean [95% CI] | coordinated − fragmented | other − fragmented |"
    )
    assert lines[2] == "| `urban_area_ha` | 100 [90, 110] | **-50 [-60, -40]** | +1 [-2, +4] |"
    assert lines[3] == "| `theil_h` | 0.3 [0.29, 0.31] | n/a | **+0.01 [+0.005, +0.015]** |"


def test_equivalence_flags_a_shift_and_passes_the_same_distribution(monkeypatch):
    """equivalence.compare: two samples of one distribution pass; a shifted one is flagged;
    an outcome with fewer than two finite values a side is not tested."""
    monkeypatch.syspath_prepend(str(ROOT / "experiments" / "headline"))
    spec = importlib.util.spec_from_file_location(
        "headline_equivalence", ROOT / "experiments" / "headline" / "equivalence.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    rng = np.random.default_rng(5)

    def runs(n, shift):
        return pd.DataFrame(
            {
                "scenario": ["fragmented"] * n,
                "year": [2047] * n,
                "theil_h": rng.normal(0.3, 0.01, n),
                "mean_rent": rng.normal(4e5, 1e4, n) + shift,
                "new_urban_density_pph": [np.nan] * (n - 1) + [50.0],
            }
        )

    old, new = runs(20, 0.0), runs(10, 3e4)
    df = mod.compare(old, new, ["theil_h", "mean_rent", "new_urban_density_pph"]).set_index(
        "outcome"
    )
    assert df.loc["theil_h", "p"] > 0.01 and abs(df.loc["theil_h", "diff_sd"]) < 1.5
    assert df.loc["mean_rent", "p"] < 1e-6 and df.loc["mean_rent", "diff_sd"] > 2
    assert np.isnan(df.loc["new_urban_density_pph", "p"])
    assert (df["n_old"] == [20, 20, 1]).all() and (df["n_new"] == [10, 10, 1]).all()
