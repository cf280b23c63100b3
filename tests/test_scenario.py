"""Scenario: defaults, presets, TOML round trip, error messages, --set, the parameter table."""

import dataclasses
import json
import math
import re
import tomllib
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from metrosim.scenario import (
    KINDS,
    ParamSpec,
    Scenario,
    ScenarioError,
    name_problem,
    parameter_table,
    parameter_table_markdown,
    preset_names,
)

ROOT = Path(__file__).resolve().parents[1]
FIELDS = {f.name: f for f in dataclasses.fields(Scenario)}


def _spec(name):
    return FIELDS[name].metadata["spec"]


def _kind(name):
    return {"str": str, "int": int, "float": float, "bool": bool}[str(FIELDS[name].type)]


# --- defaults and presets ------------------------------------------------------------------
def test_defaults_are_valid_and_inside_their_declared_ranges():
    s = Scenario()
    assert s.name == "custom" and s.region == "santiago"
    for row in parameter_table():
        spec = _spec(row["name"])
        value = getattr(s, row["name"])
        assert isinstance(value, _kind(row["name"])), row["name"]
        if spec.low is not None:
            assert spec.low <= value <= spec.high, row["name"]
        if spec.choices is not None:
            assert value in spec.choices, row["name"]
        assert spec.source and spec.doc and spec.unit, f"{row['name']} lacks source/doc/unit"
    assert s.incomes == tuple(sorted(s.incomes)), "income groups are poorest first"
    assert "growth_boundary" in Scenario.levers()


def test_every_field_has_one_kind_by_the_documented_rule():
    seen = {k: Scenario.fields_of_kind(k) for k in KINDS}
    assert sorted(sum(seen.values(), [])) == sorted(FIELDS), "each field in exactly one kind"
    assert seen["lever"] == Scenario.levers()
    assert seen["uncertainty"] == Scenario.uncertainties()
    for name in FIELDS:
        spec = _spec(name)
        assert spec.lever == (spec.kind == "lever"), name
        if spec.section == "run":
            assert spec.kind == "setting", name
        if spec.section == "governance":
            assert spec.kind == "lever", name
    # settings outside the run section are the declared measurement standards and resolutions
    assert set(seen["setting"]) - {n for n in FIELDS if _spec(n).section == "run"} == {
        "accessibility_block_m",
        "coverage_school_m",
        "coverage_clinic_m",
        "coverage_park_m",
        "metro_access_km",
    }
    # behavioural and external parameters are uncertainties
    for name in ("beta_commute", "formation_rate", "cost_base", "social_housing_units"):
        assert _spec(name).kind == "uncertainty", name
    for row in parameter_table():
        assert row["kind"] == _spec(row["name"]).kind


def test_param_spec_kind_is_derived_and_checked():
    base = {"unit": "-", "source": "s", "doc": "d"}
    assert ParamSpec(section="run", **base).kind == "setting"
    assert ParamSpec(section="market", **base).kind == "uncertainty"
    assert ParamSpec(section="market", lever=True, **base).kind == "lever"
    assert ParamSpec(section="travel", kind="setting", **base).kind == "setting"
    with pytest.raises(ValueError, match="kind = 'knob'; allowed: lever, uncertainty, setting"):
        ParamSpec(section="market", kind="knob", **base)
    with pytest.raises(ValueError, match="contradicts"):
        ParamSpec(section="market", lever=True, kind="uncertainty", **base)
    with pytest.raises(ValueError, match="contradicts"):
        ParamSpec(section="market", kind="lever", **base)
    with pytest.raises(ScenarioError, match="kind 'knob' is not allowed; allowed: lever"):
        Scenario.fields_of_kind("knob")


def test_presets_load():
    assert {"fragmented", "coordinated"} <= set(preset_names())
    frag = Scenario.load("fragmented")
    assert frag.name == "fragmented"
    assert frag.growth_boundary == "none"
    # a preset only sets what it names: everything else is the default
    assert frag.replace(name="custom", description="") == Scenario()
    assert Scenario.load("coordinated").growth_boundary == "urban_limit_2017"
    for name in preset_names():
        assert Scenario.load(name).name == name


def test_frozen_and_hashable():
    s = Scenario()
    with pytest.raises(dataclasses.FrozenInstanceError, match="cannot assign to field 'scale'"):
        s.scale = 3  # type: ignore[misc]
    assert hash(s) == hash(Scenario())
    assert len({s, Scenario(), s.replace(scale=11)}) == 2


# --- TOML round trip -----------------------------------------------------------------------
def test_toml_round_trip_through_a_file(tmp_path):
    s = Scenario.load("coordinated").replace(
        scale=20, cell_size_m=500, description='quote " backslash \\ and\nnewline'
    )
    path = s.save(tmp_path / "sub" / "s.toml")
    back = Scenario.load(path)
    assert back == s
    assert back.to_toml() == s.to_toml()
    # the file is grouped by section, and a flat file means the same
    data = tomllib.loads(path.read_text(encoding="utf-8"))
    assert set(data) == {row["section"] for row in parameter_table()}
    flat = {k: v for section in data.values() for k, v in section.items()}
    assert Scenario.from_dict(flat) == s


def test_int_given_for_a_float_field_is_accepted_and_stored_as_float(tmp_path):
    p = tmp_path / "s.toml"
    p.write_text("[population]\nhousehold_size = 3\n", encoding="utf-8")
    s = Scenario.load(p)
    assert s.household_size == 3.0 and isinstance(s.household_size, float)


def _in_range_value(name):
    """A strategy for any allowed value of a field."""
    spec = _spec(name)
    kind = _kind(name)
    if spec.choices is not None:
        return st.sampled_from(spec.choices)
    if kind is bool:
        return st.booleans()
    if kind is str and name == "name":  # it names output folders: no path separators
        return st.text(max_size=40).filter(lambda v: name_problem(v) is None)
    if kind is str:
        return st.text(max_size=40)
    if kind is int:
        return st.integers(int(spec.low), int(spec.high))
    return st.floats(spec.low, spec.high, allow_nan=False, allow_infinity=False)


def _jointly_allowed(changes):
    """The joint constraint on top of each field's range (the largest moving probability)."""
    rates = {
        n: changes.get(n, FIELDS[n].default) for n in ("mobility_base", "dissatisfaction_rate")
    }
    return sum(rates.values()) <= 1.0


@st.composite
def _changes(draw):
    names = draw(st.lists(st.sampled_from(sorted(FIELDS)), min_size=1, max_size=6, unique=True))
    return {n: draw(_in_range_value(n)) for n in names}


@settings(max_examples=200, deadline=None)
@given(changes=_changes().filter(_jointly_allowed))
def test_any_in_range_value_round_trips_through_toml(changes):
    s = Scenario().replace(**changes)
    text = s.to_toml()
    back = Scenario.from_dict(tomllib.loads(text))
    assert back == s
    for name, value in changes.items():
        got = getattr(back, name)
        assert type(got) is type(value) or (isinstance(value, int) and type(got) is float)
        assert got == value or (math.isnan(value) and math.isnan(got))


# --- errors --------------------------------------------------------------------------------
def test_unknown_field_names_the_field_and_the_allowed_fields(tmp_path):
    with pytest.raises(ScenarioError, match=r"unknown field 'scael' \(did you mean scale\?\)"):
        Scenario().replace(scael=3)
    p = tmp_path / "s.toml"
    p.write_text("[run]\nyeras = 3\n", encoding="utf-8")
    with pytest.raises(ScenarioError) as err:
        Scenario.load(p)
    msg = str(err.value)
    assert str(p) in msg and "'yeras'" in msg and "years" in msg
    assert "allowed fields:" in msg and "growth_boundary" in msg
    with pytest.raises(ScenarioError, match=r"unknown section \[runn\]; allowed sections: .*run"):
        Scenario.from_dict({"runn": {"years": 3}})


def test_wrong_type_names_field_value_and_expected_type():
    with pytest.raises(ScenarioError, match=r"'scale' = 'ten' has type str; expected int"):
        Scenario.from_dict({"scale": "ten"})
    with pytest.raises(ScenarioError, match=r"'scale' = 2\.5 has type float; expected int"):
        Scenario.from_dict({"scale": 2.5})
    with pytest.raises(ScenarioError, match=r"'scale' = True has type bool; expected int"):
        Scenario.from_dict({"scale": True})
    with pytest.raises(ScenarioError, match=r"'name' = 3 has type int; expected str"):
        Scenario().replace(name=3)


def test_direct_construction_is_validated_like_a_file():
    with pytest.raises(ScenarioError, match=r"'scale' = 2\.5 has type float; expected int"):
        Scenario(scale=2.5)
    with pytest.raises(ScenarioError, match=r"'scale' = '10' has type str; expected int"):
        Scenario(scale="10")
    assert isinstance(Scenario(household_size=3).household_size, float)


def test_out_of_range_names_field_value_and_bounds():
    with pytest.raises(
        ScenarioError, match=r"'scale' = 0 is out of range; allowed: 1 <= scale <= 1000"
    ):
        Scenario(scale=0)
    with pytest.raises(
        ScenarioError,
        match=r"replace\(\): field 'vacancy_initial' = 0\.9 is out of range; allowed: 0\.0 <= "
        r"vacancy_initial <= 0\.5",
    ):
        Scenario().replace(vacancy_initial=0.9)
    with pytest.raises(ScenarioError, match=r"'household_size' = nan is not a finite number"):
        Scenario.from_dict({"household_size": float("nan")})
    with pytest.raises(ScenarioError, match=r"'years' = inf has type float; expected int"):
        Scenario.from_dict(tomllib.loads("years = inf"))


def test_bad_choice_lists_the_allowed_values():
    with pytest.raises(
        ScenarioError,
        match=r"'growth_boundary' = 'prms' is not allowed; allowed values: 'none', "
        r"'urban_limit_2017'",
    ):
        Scenario().replace(growth_boundary="prms")


def test_file_errors(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[run\nname = 1\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=rf"{re.escape(str(bad))}: not valid TOML"):
        Scenario.load(bad)
    binary = tmp_path / "bin.toml"
    binary.write_bytes(b"\xff\xfe\x00name")
    with pytest.raises(ScenarioError, match="not a UTF-8 text file"):
        Scenario.load(binary)
    missing = tmp_path / "missing.toml"
    with pytest.raises(ScenarioError, match=rf"scenario file '{re.escape(str(missing))}' does not"):
        Scenario.load(missing)
    twice = tmp_path / "twice.toml"
    twice.write_text("scale = 2\n[run]\nscale = 3\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match="field 'scale' is given twice"):
        Scenario.load(twice)


def test_unknown_preset_lists_the_presets():
    with pytest.raises(
        ScenarioError, match=r"'fragmentd' is neither a file nor a preset; presets: .*fragmented"
    ):
        Scenario.load("fragmentd")


def test_scenario_error_is_a_value_error():
    assert issubclass(ScenarioError, ValueError)


# --- --set ---------------------------------------------------------------------------------
def test_with_overrides_parses_toml_values_and_bare_text():
    s = Scenario().with_overrides(
        [
            "scale=20",
            "household_size = 3",
            "growth_boundary=urban_limit_2017",
            'name="two words"',
            "description=a=b",
            "cell_size_m=1e3",
        ]
    )
    assert s.scale == 20
    assert s.household_size == 3.0 and isinstance(s.household_size, float)
    assert s.growth_boundary == "urban_limit_2017"
    assert s.name == "two words"
    assert s.description == "a=b"
    assert s.cell_size_m == 1000.0
    assert Scenario().with_overrides([]) == Scenario()


def test_with_overrides_errors_name_the_problem():
    with pytest.raises(ScenarioError, match=r"--set 'scale': expected NAME=VALUE"):
        Scenario().with_overrides(["scale"])
    with pytest.raises(ScenarioError, match=r"--set: unknown field 'scal' \(did you mean scale"):
        Scenario().with_overrides(["scal=3"])
    with pytest.raises(ScenarioError, match=r"--set: field 'scale' = 'abc' has type str"):
        Scenario().with_overrides(["scale=abc"])
    with pytest.raises(ScenarioError, match=r"--set: field 'scale' = -1 is out of range"):
        Scenario().with_overrides(["scale=-1"])


# --- the parameter table -------------------------------------------------------------------
def test_parameter_page_matches_the_code():
    page = (ROOT / "docs" / "parameters.md").read_text(encoding="utf-8")
    assert page == parameter_table_markdown(), (
        "docs/parameters.md disagrees with metrosim.scenario.Scenario: regenerate it with "
        "`python -m metrosim.scenario` (never edit it by hand)"
    )


def test_parameter_table_has_every_field_once():
    rows = parameter_table()
    assert [r["name"] for r in rows] == list(FIELDS)
    page = parameter_table_markdown()
    for name in FIELDS:
        assert page.count(f"| `{name}` |") == 1, name


# ------------------------------------------------------------------------------------------
# include = "other.toml"
def test_include_reads_the_other_file_first_and_the_including_file_wins(tmp_path):
    sub = tmp_path / "cal"
    sub.mkdir()
    (sub / "calibrated.toml").write_text(
        "[market]\ncost_per_density = 250000.0\nredevelopment_premium = 0.5\n"
    )
    (tmp_path / "extra.toml").write_text("[market]\nnatural_vacancy = 0.08\n")
    (tmp_path / "preset.toml").write_text(
        'include = ["cal/calibrated.toml", "extra.toml"]\n'
        '[run]\nname = "mine"\n[market]\nredevelopment_premium = 2.0\n'
    )
    s = Scenario.load(tmp_path / "preset.toml")
    assert s.name == "mine"
    assert s.cost_per_density == 250000.0  # from the included file
    assert s.natural_vacancy == 0.08  # from the second include
    assert s.redevelopment_premium == 2.0  # the including file wins
    assert s.scale == Scenario().scale  # untouched fields keep their defaults
    # nested: relative to the file that includes, not to the working directory
    (sub / "inner.toml").write_text('include = "calibrated.toml"\n[market]\ncap_rate = 0.06\n')
    (tmp_path / "outer.toml").write_text('include = "cal/inner.toml"\n')
    nested = Scenario.load(tmp_path / "outer.toml")
    assert (nested.cost_per_density, nested.cap_rate) == (250000.0, 0.06)
    # the loaded scenario saves without the include and loads back identical
    assert Scenario.load(s.save(tmp_path / "flat.toml")) == s


def test_include_errors_name_the_file_and_the_problem(tmp_path):
    (tmp_path / "a.toml").write_text('include = "missing.toml"\n')
    with pytest.raises(ScenarioError, match=r"a.toml: include = 'missing.toml'.*does not exist"):
        Scenario.load(tmp_path / "a.toml")
    (tmp_path / "b.toml").write_text('include = "c.toml"\n')
    (tmp_path / "c.toml").write_text('include = "b.toml"\n')
    with pytest.raises(ScenarioError, match="include cycle") as info:
        Scenario.load(tmp_path / "b.toml")
    assert "b.toml -> " in str(info.value) and "c.toml" in str(info.value)
    (tmp_path / "self.toml").write_text('include = "self.toml"\n')
    with pytest.raises(ScenarioError, match="include cycle"):
        Scenario.load(tmp_path / "self.toml")
    (tmp_path / "d.toml").write_text("include = 3\n")
    with pytest.raises(ScenarioError, match=r"include = 3; allowed: a scenario file path"):
        Scenario.load(tmp_path / "d.toml")
    # a bad value in an included file names that file
    (tmp_path / "bad.toml").write_text("[market]\nnatural_vacancy = 0.9\n")
    (tmp_path / "e.toml").write_text('include = "bad.toml"\n')
    with pytest.raises(ScenarioError, match=r"bad.toml: field 'natural_vacancy' = 0.9"):
        Scenario.load(tmp_path / "e.toml")
    (tmp_path / "typo.toml").write_text("[market]\nnatural_vacncy = 0.1\n")
    (tmp_path / "f.toml").write_text('include = "typo.toml"\n')
    with pytest.raises(ScenarioError, match=r"typo.toml: unknown field 'natural_vacncy'"):
        Scenario.load(tmp_path / "f.toml")


def test_moving_probabilities_must_sum_to_at_most_one():
    """Each rate is in [0, 1], but their sum is the moving probability of the most
    dissatisfied household: a sum above 1 is refused when the scenario is built, not in the
    first year's moves."""
    assert Scenario().replace(mobility_base=0.5, dissatisfaction_rate=0.5).mobility_base == 0.5
    msg = (
        r"--set: fields 'mobility_base' \+ 'dissatisfaction_rate' = 0.6 \+ 0.6 = 1.2; "
        r"allowed: a sum <= 1"
    )
    with pytest.raises(ScenarioError, match=msg):
        Scenario().with_overrides(["mobility_base=0.6", "dissatisfaction_rate=0.6"])
    with pytest.raises(ScenarioError, match=r"^x.toml: fields 'mobility_base' \+ "):
        Scenario.from_dict({"households": {"dissatisfaction_rate": 1.0}}, origin="x.toml")


@pytest.mark.parametrize("bad", ["../../elsewhere", "a/b", "a\\b", "..", ".", "", "  ", "a\nb"])
def test_a_name_that_is_not_a_folder_name_is_refused(tmp_path, bad):
    with pytest.raises(ScenarioError, match="field 'name' = .* is not allowed; allowed: a name"):
        Scenario(name=bad)
    p = tmp_path / "s.toml"
    p.write_text(f"name = {json.dumps(bad)}\n", encoding="utf-8")
    with pytest.raises(ScenarioError, match=f"{p}: field 'name'"):
        Scenario.load(p)


def test_names_with_spaces_dots_and_dashes_are_fine():
    for good in ("fragmented", "my run 2", "v1.2-ugb", "Ñuñoa plan"):
        assert Scenario(name=good).name == good


def test_a_folder_named_like_a_preset_does_not_hide_the_preset(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "fragmented").mkdir()  # e.g. an earlier --out fragmented
    assert Scenario.load("fragmented").name == "fragmented"
    with pytest.raises(ScenarioError, match=r"neither a file nor a preset \(it is a folder\)"):
        Scenario.load(tmp_path / "fragmented")
    (tmp_path / "fragmentd").mkdir()
    with pytest.raises(ScenarioError, match="'fragmentd' is neither a file nor a preset"):
        Scenario.load("fragmentd")
