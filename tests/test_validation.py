import numpy as np
import pandas as pd
import pytest

from metrosim import Scenario
from metrosim.validation import FACTS, validate

COARSE = Scenario.load("fragmented").replace(cell_size_m=1000.0, scale=50)


def test_validation_table_has_every_fact_with_a_verdict(tmp_path):
    table = validate(seeds=2, years=2, scenario=COARSE, out=tmp_path)
    assert len(table) == len(FACTS)
    assert set(table["verdict"]) <= {"met", "missed", "reported", "not measurable"}
    assert (table["model_min"] <= table["model_mean"] + 1e-12).all()
    # the pipeline check holds by construction
    assert table.loc[0, "verdict"] == "met"
    back = pd.read_csv(tmp_path / "validation.csv")
    assert list(back["fact"]) == list(table["fact"])
    assert "<table>" in (tmp_path / "validation.html").read_text(encoding="utf-8")
    assert np.isfinite(table["model_mean"].iloc[:10]).all()


def test_validation_needs_the_2019_budget_year():
    with pytest.raises(ValueError, match="years = 1; allowed: 2 or more"):
        validate(seeds=1, years=1, scenario=COARSE)


def test_validate_command_writes_its_table(tmp_path, capsys):
    from metrosim.cli import main

    code = main(
        [
            "validate",
            "--seeds",
            "1",
            "--years",
            "2",
            "--cell-size",
            "1000",
            "--scale",
            "50",
            "--out",
            str(tmp_path),
        ]
    )
    assert code == 0
    out = capsys.readouterr().out
    assert "population by commune" in out and (tmp_path / "validation.csv").is_file()
