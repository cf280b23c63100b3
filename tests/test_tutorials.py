"""The tutorials under docs/tutorials/ run as written and print what they show.

Each page is a sequence of fenced code blocks, run in order in a fresh temporary folder:

* ```` ```python ```` blocks run in one namespace per page (their own ``assert`` statements
  check invariants that hold on every seed);
* ```` ```console ```` blocks: each ``$ metrosim ...`` line runs the command in-process
  (``metrosim.cli.main``) and must exit 0 (other lines are not commands);
* ```` ```bash ```` and ```` ```toml ```` blocks are shown, not run (commands for another
  machine, a file's content);
* a ```` ```text ```` block right after a runnable block is that block's exact output
  (``...`` matches anything, whitespace runs compare equal: doctest's ELLIPSIS and
  NORMALIZE_WHITESPACE);
* an ```` ```output ```` block right after a runnable block is an *example* output: its words
  and punctuation must match the real output token by token, while numbers may differ (they
  change as the model changes).

``python tests/test_tutorials.py PAGE`` prints each block's real output (to refresh a page).
"""

from __future__ import annotations

import contextlib
import doctest
import io
import os
import re
import shlex
import sys
import types
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = ROOT / "docs" / "tutorials"
PAGES = (
    "compare-two-regimes.md",
    "sweep-on-dask.md",
    "add-a-lever.md",
    "add-agent-or-city.md",
)

_FENCE = re.compile(r"^```(\w+)[^\n]*\n(.*?)^```\s*$", re.M | re.S)
_NUMBER = re.compile(r"[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?|(?i:nan|inf)")


def blocks(page: Path) -> list[tuple[str, str]]:
    """The fenced blocks of a page as (language, text), in order."""
    return [(m.group(1), m.group(2)) for m in _FENCE.finditer(page.read_text(encoding="utf-8"))]


def _run_console(text: str) -> None:
    from metrosim.cli import main

    for line in text.splitlines():
        if not line.startswith("$ "):
            continue
        argv = shlex.split(line[2:])
        if argv[0] == "metrosim":
            status = main(argv[1:])
            assert status == 0, f"{line!r} exited {status}"


def run_page(page: Path, workdir: Path, *, show: bool = False) -> None:
    """Run a page's blocks in ``workdir``; check each shown output against the real one."""
    # a real module, so that classes defined by a page (dataclasses) can find it
    module = types.ModuleType("metrosim_tutorial")
    sys.modules[module.__name__] = module
    namespace = module.__dict__
    last_output: str | None = None
    old = Path.cwd()
    os.chdir(workdir)
    try:
        for k, (lang, text) in enumerate(blocks(page)):
            where = f"{page.name}, block {k + 1} ({lang})"
            if lang in ("python", "console"):
                buf = io.StringIO()
                with contextlib.redirect_stdout(buf):
                    if lang == "python":
                        exec(compile(text, where, "exec"), namespace)  # noqa: S102
                    else:
                        _run_console(text)
                last_output = buf.getvalue()
                if show:
                    print(f"--- {where}\n{last_output}", file=sys.__stdout__)
            elif lang in ("text", "output"):
                assert last_output is not None, f"{where}: no code block before this output"
                if not show:
                    check = _exact if lang == "text" else _example
                    check(text, last_output, where)
                last_output = None
    finally:
        _close_clusters(namespace)
        os.chdir(old)
        sys.modules.pop(module.__name__, None)


def _close_clusters(namespace: dict) -> None:
    """Close Dask clients and clusters a page left open (a page that failed half-way)."""
    if "distributed" not in sys.modules:
        return
    from distributed import Client, LocalCluster

    for kind in (Client, LocalCluster):
        for value in list(namespace.values()):
            status = getattr(value, "status", None)
            if isinstance(value, kind) and getattr(status, "value", status) != "closed":
                value.close()


def _exact(want: str, got: str, where: str) -> None:
    checker = doctest.OutputChecker()
    flags = doctest.ELLIPSIS | doctest.NORMALIZE_WHITESPACE
    assert checker.check_output(want, got, flags), f"{where}: expected\n{want}\ngot\n{got}"


def _tokens(text: str) -> list[str]:
    return _NUMBER.sub("#", text).split()


def _example(want: str, got: str, where: str) -> None:
    assert _tokens(want) == _tokens(got), (
        f"{where}: the output's structure differs from the example\nexample\n{want}\ngot\n{got}"
    )


def test_every_tutorial_is_in_the_nav_and_has_code_and_output():
    nav = (ROOT / "mkdocs.yml").read_text(encoding="utf-8")
    for name in PAGES:
        assert f"tutorials/{name}" in nav, name
        langs = [lang for lang, _ in blocks(TUTORIALS / name)]
        assert "python" in langs and ("text" in langs or "output" in langs), name


def test_example_check_ignores_numbers_only():
    _example("mean 1.5e+03 [1.2, -3]", "mean 7 [nan, 4.25]", "x")
    with pytest.raises(AssertionError):
        _example("mean 1.5 fragmented", "mean 1.5 coordinated", "x")


@pytest.mark.slow
@pytest.mark.parametrize("name", PAGES)
def test_tutorial_runs(name, tmp_path):
    run_page(TUTORIALS / name, tmp_path)


if __name__ == "__main__":  # print the real outputs of a page, to refresh it
    import tempfile

    sys.path.insert(0, str(ROOT / "src"))
    with tempfile.TemporaryDirectory() as d:
        run_page(TUTORIALS / sys.argv[1], Path(d), show=True)


def test_add_a_lever_package_edit_matches_the_tutorial():
    """Section 4's `_p(...)` field (the edit to scenario.py) gives the tutorial's ParamSpec."""
    import dataclasses

    from metrosim import scenario as scenario_module

    page = TUTORIALS / "add-a-lever.md"
    first = next(text for lang, text in blocks(page) if lang == "python")
    module = types.ModuleType("metrosim_tutorial_lever")
    sys.modules[module.__name__] = module
    try:
        exec(compile(first, "add-a-lever.md, block 1", "exec"), module.__dict__)  # noqa: S102
    finally:
        sys.modules.pop(module.__name__, None)
    cls = module.__dict__["GreenbeltScenario"]
    field = {f.name: f for f in dataclasses.fields(cls)}["greenbelt_km"]
    # the indented block of section 4 (inside a list item) is the edit to scenario.py
    m = re.search(r"^ {4}```python\n(.*?)^ {4}```", page.read_text(encoding="utf-8"), re.M | re.S)
    assert m, "no indented python block (the scenario.py edit) in add-a-lever.md"
    snippet = "\n".join(line[4:] for line in m.group(1).splitlines())
    namespace = {"_p": _p_stub}
    exec(compile(snippet, "add-a-lever.md, section 4", "exec"), namespace)  # noqa: S102
    default, spec = namespace["greenbelt_km"]
    assert default == field.default
    assert spec == field.metadata["spec"]
    # and `_p` is the helper scenario.py really uses for its fields
    real = scenario_module._p(0.0, **dataclasses.asdict(spec))
    assert real.metadata["spec"] == spec


def _p_stub(default, **spec):
    from metrosim.scenario import ParamSpec

    return default, ParamSpec(**spec)
