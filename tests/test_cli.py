"""The metrosim command: a run writes its folder; bad input is one line on stderr, exit 2."""

import os

import pandas as pd
import pytest

from metrosim.cli import main
from metrosim.io import read_run
from metrosim.scenario import Scenario

COARSE_ARGS = ["--years", "1", "--scale", "50", "--cell-size", "1000"]


def _one_line_error(capsys, *needles):
    captured = capsys.readouterr()
    err = captured.err
    assert err.endswith("\n") and err.count("\n") == 1, err
    assert err.startswith("metrosim: error: "), err
    assert "Traceback" not in err and "Traceback" not in captured.out
    for needle in needles:
        assert needle in err, (needle, err)
    return err


def test_run_writes_the_folder_and_returns_0(tmp_path, capsys):
    out = tmp_path / "r"
    code = main(["run", "fragmented", *COARSE_ARGS, "--seed", "3", "--out", str(out)])
    assert code == 0
    printed = capsys.readouterr().out
    assert "metrosim run: fragmented, seed 3, 2018" in printed and f"wrote {out}/" in printed
    manifest, yearly, municipal = read_run(out)
    assert manifest["seed"] == 3
    assert yearly["year"].tolist() == [2017, 2018]
    assert len(municipal) == 2 * 52
    s = Scenario.load(out / "scenario.toml")
    assert (s.name, s.scale, s.cell_size_m, s.years) == ("fragmented", 50, 1000.0, 1)


def test_run_from_a_file_with_set(tmp_path, capsys):
    src = tmp_path / "mine.toml"
    Scenario(name="mine").save(src)
    out = tmp_path / "r"
    argv = ["run", str(src), *COARSE_ARGS, "--out", str(out)]
    argv += ["--set", "growth_boundary=urban_limit_2017", "--set", "formation_rate=0.02"]
    assert main(argv) == 0
    s = Scenario.load(out / "scenario.toml")
    assert s.name == "mine" and s.growth_boundary == "urban_limit_2017"
    assert s.formation_rate == 0.02
    assert isinstance(pd.read_parquet(out / "yearly.parquet"), pd.DataFrame)


def test_bad_preset(capsys, tmp_path):
    assert main(["run", "fragmentd", "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, "'fragmentd'", "neither a file nor a preset", "fragmented")
    assert not (tmp_path / "x").exists()


def test_unknown_set_field(capsys, tmp_path):
    assert main(["run", "fragmented", "--set", "scael=3", "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, "--set", "unknown field 'scael'", "did you mean scale")


def test_set_without_equals(capsys, tmp_path):
    assert main(["run", "fragmented", "--set", "scale", "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, "expected NAME=VALUE")


@pytest.mark.parametrize(
    ("argv", "needles"),
    [
        (["--set", "vacancy_initial=0.9"], ["'vacancy_initial' = 0.9", "out of range", "0.5"]),
        (["--set", "scale=-1"], ["'scale' = -1", "out of range", "1 <= scale <= 1000"]),
        (["--cell-size", "10"], ["'cell_size_m' = 10.0", "out of range", "50.0 <= cell_size_m"]),
        (["--set", "growth_boundary=prms"], ["'prms' is not allowed", "'urban_limit_2017'"]),
        (["--set", "years=many"], ["'years' = 'many' has type str; expected int"]),
    ],
)
def test_out_of_range_or_wrong_value(capsys, tmp_path, argv, needles):
    assert main(["run", "fragmented", *argv, "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, *needles)
    assert not (tmp_path / "x").exists()


def test_malformed_toml_file(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text('[run]\nname = "x\n', encoding="utf-8")
    assert main(["run", str(bad), "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, str(bad), "not valid TOML")


def test_bad_field_in_toml_file(capsys, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("[population]\nhousehold_size = 0.5\n", encoding="utf-8")
    assert main(["run", str(bad), "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, str(bad), "'household_size' = 0.5 is out of range")


def test_missing_toml_file(capsys, tmp_path):
    missing = tmp_path / "nope.toml"
    assert main(["run", str(missing)]) == 2
    _one_line_error(capsys, str(missing), "does not exist")


def test_output_path_that_is_a_file(capsys, tmp_path):
    target = tmp_path / "a-file"
    target.write_text("", encoding="utf-8")
    assert main(["run", "fragmented", *COARSE_ARGS, "--out", str(target)]) == 2
    _one_line_error(capsys, str(target))


def test_argument_errors_exit_2_through_argparse(capsys):
    with pytest.raises(SystemExit, match="^2$"):
        main(["run", "fragmented", "--seed", "-1"])
    err = capsys.readouterr().err
    assert "--seed: -1 is negative; allowed: 0 or more" in err and "Traceback" not in err
    with pytest.raises(SystemExit, match="^2$"):
        main(["run", "fragmented", "--cell-size", "abc"])
    assert "'abc' is not a number" in capsys.readouterr().err
    with pytest.raises(SystemExit, match="^2$"):
        main([])


@pytest.mark.parametrize(
    ("argv", "needle"),
    [
        (["validate", "--years", "1"], "--years: 1 is too small; allowed: 2 or more"),
        (["validate", "--seeds", "0"], "--seeds: 0 is too small; allowed: 1 or more"),
        (["compare", "--seeds", "0"], "--seeds: 0 is too small; allowed: 1 or more"),
        (["compare", "--workers", "0"], "--workers: 0 is too small; allowed: 1 or more"),
        (["calibrate", "--samples", "1"], "--samples: 1 is too small; allowed: 2 or more"),
        (
            ["calibrate", "--years", "1"],
            "--years: 1 is too small; allowed: 2 or more (the budget facts are for 2019)",
        ),
    ],
)
def test_counts_below_their_minimum_exit_2_through_argparse(capsys, tmp_path, argv, needle):
    with pytest.raises(SystemExit, match="^2$"):
        main([*argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err
    assert needle in err and "Traceback" not in err
    assert not (tmp_path / "x").exists()


def test_compare_two_scenarios_of_the_same_name(capsys, tmp_path):
    argv = ["compare", "fragmented", "fragmented", "--seeds", "1", "--years", "1"]
    assert main([*argv, "--workers", "1", "--out", str(tmp_path / "x")]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    last = err.splitlines()[-1]
    assert last.startswith("metrosim: error: scenario names must differ"), err
    assert "['fragmented', 'fragmented']" in last


def test_a_scenario_name_cannot_lead_the_default_output_folder_elsewhere(
    capsys, tmp_path, monkeypatch
):
    work = tmp_path / "work"
    work.mkdir()
    monkeypatch.chdir(work)
    bad = work / "s.toml"
    bad.write_text('name = "../../escaped"\n', encoding="utf-8")
    assert main(["run", str(bad), *COARSE_ARGS]) == 2
    _one_line_error(capsys, str(bad), "field 'name' = '../../escaped' is not allowed", "'/'")
    assert list(tmp_path.iterdir()) == [work] and sorted(work.iterdir()) == [bad]


@pytest.mark.parametrize(
    "argv",
    [
        ["run", "fragmented", *COARSE_ARGS],
        ["validate", "--seeds", "1", "--years", "2"],
        ["compare", "fragmented", "--seeds", "1", *COARSE_ARGS, "--workers", "1"],
        ["calibrate", "--samples", "2", "--seeds", "1", "--years", "2", "--workers", "1"],
    ],
)
def test_an_output_folder_that_cannot_be_made_fails_before_any_run(capsys, tmp_path, argv):
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    out = blocker / "sub"
    assert main([*argv, "--out", str(out)]) == 2
    _one_line_error(capsys, f"output folder '{out}' cannot be written", "give another --out")
    assert blocker.read_text(encoding="utf-8") == ""


def test_an_output_folder_without_write_permission_fails_before_the_run(capsys, tmp_path):
    out = tmp_path / "locked"
    out.mkdir()
    (out / "yearly.parquet").write_bytes(b"earlier results")
    out.chmod(0o555)
    try:
        if os.access(out, os.W_OK):
            pytest.skip("permissions are not enforced for this user (root)")
        assert main(["run", "fragmented", *COARSE_ARGS, "--out", str(out)]) == 2
        _one_line_error(capsys, f"output folder '{out}' cannot be written", "--out")
        assert sorted(p.name for p in out.iterdir()) == ["yearly.parquet"]
        assert (out / "yearly.parquet").read_bytes() == b"earlier results"
    finally:
        out.chmod(0o755)


def test_a_folder_given_as_the_scenario_file(capsys, tmp_path):
    folder = tmp_path / "s.toml"
    folder.mkdir()
    assert main(["run", str(folder), "--out", str(tmp_path / "x")]) == 2
    _one_line_error(capsys, str(folder), "is a folder; give a .toml file")


def test_run_into_a_compare_folder_is_refused_and_nothing_is_lost(capsys, tmp_path):
    out = tmp_path / "cmp"
    argv = ["compare", "fragmented", "--seeds", "1", *COARSE_ARGS, "--workers", "1"]
    assert main([*argv, "--out", str(out)]) == 0
    before = {p: p.read_bytes() for p in out.rglob("*") if p.is_file()}
    capsys.readouterr()
    assert main(["run", "fragmented", *COARSE_ARGS, "--out", str(out)]) == 2
    _one_line_error(capsys, f"output folder '{out}' holds a compare or sweep")
    (out / "runs").rename(tmp_path / "runs-aside")  # the manifest alone also tells
    assert main(["run", "fragmented", *COARSE_ARGS, "--out", str(out)]) == 2
    _one_line_error(capsys, "holds other results (compare manifest.json")
    (tmp_path / "runs-aside").rename(out / "runs")
    assert {p: p.read_bytes() for p in out.rglob("*") if p.is_file()} == before
    # an earlier run's folder is replaced, as asked
    run_out = tmp_path / "r"
    assert main(["run", "fragmented", *COARSE_ARGS, "--out", str(run_out)]) == 0
    assert main(["run", "coordinated", *COARSE_ARGS, "--out", str(run_out)]) == 0
    assert Scenario.load(run_out / "scenario.toml").name == "coordinated"


def test_ctrl_c_inside_a_compiled_kernel_is_an_interruption_not_a_traceback(
    capsys, tmp_path, monkeypatch
):
    import metrosim.runner

    def interrupted_in_numba(*args, **kwargs):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as exc:  # what numba's dispatcher makes of a Ctrl-C
            raise SystemError("CPUDispatcher(...) returned a result with an exception set") from exc

    monkeypatch.setattr(metrosim.runner, "run", interrupted_in_numba)
    assert main(["run", "fragmented", *COARSE_ARGS, "--out", str(tmp_path / "r")]) == 130
    err = capsys.readouterr().err
    assert "interrupted; files already written are complete" in err and "Traceback" not in err

    def other_system_error(*args, **kwargs):
        raise SystemError("a real bug")

    monkeypatch.setattr(metrosim.runner, "run", other_system_error)
    with pytest.raises(SystemError, match="a real bug"):
        main(["run", "fragmented", *COARSE_ARGS, "--out", str(tmp_path / "r")])


def test_sweep_output_folder_that_cannot_be_made_fails_before_any_run(capsys, tmp_path):
    design = tmp_path / "d.toml"
    design.write_text(
        'kind = "full_factorial"\nseeds = 1\nyears = 1\n[set]\nscale = 50\ncell_size_m = 1000.0\n'
        '[[parameters]]\nname = "formation_rate"\nvalues = [0.01]\n',
        encoding="utf-8",
    )
    (tmp_path / "a-file").write_text("", encoding="utf-8")
    out = tmp_path / "a-file" / "sub"
    assert main(["sweep", str(design), "--workers", "1", "--out", str(out)]) == 2
    _one_line_error(capsys, f"output folder '{out}' cannot be written", "give another --out")
