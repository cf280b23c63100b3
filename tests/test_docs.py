"""The documentation site builds with warnings as errors, and covers the public API."""

import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]

#: Public modules that must have an API reference page (``::: module`` in docs/api/).
PUBLIC_MODULES = (
    "metrosim",
    "metrosim.scenario",
    "metrosim.model",
    "metrosim.runner",
    "metrosim.io",
    "metrosim.metrics",
    "metrosim.choice",
    "metrosim.surfaces",
    "metrosim.accessibility",
    "metrosim.governments",
    "metrosim.experiments",
    "metrosim.validation",
)


def test_every_public_module_has_an_api_page():
    documented = set()
    for page in (ROOT / "docs" / "api").glob("*.md"):
        documented |= set(re.findall(r"^::: (\S+)", page.read_text(encoding="utf-8"), re.M))
    missing = [m for m in PUBLIC_MODULES if m not in documented]
    assert not missing, f"no API page documents {missing}"
    for name in documented:  # every directive names a module that exists
        assert importlib.util.find_spec(name) is not None, name


def test_sphinx_roles_become_code_spans():
    spec = importlib.util.spec_from_file_location(
        "griffe_sphinx_roles", ROOT / "docs" / "_ext" / "griffe_sphinx_roles.py"
    )
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    text = "See :class:`Scenario`, :func:`~metrosim.experiments.compare` and :py:mod:`x.y`."
    assert mod.rewrite_roles(text) == "See `Scenario`, `compare` and `x.y`."


@pytest.mark.slow
def test_site_builds_strict(tmp_path):
    """`mkdocs build --strict` (what `./dev docs` runs) succeeds and logs no warning."""
    env = {**os.environ, "NO_MKDOCS_2_WARNING": "1", "PYTHONWARNINGS": "ignore"}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), env.get("PYTHONPATH", "")])
    out = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "-f", str(ROOT / "mkdocs.yml")]
        + ["-d", str(tmp_path / "site")],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    log = out.stdout + out.stderr
    warnings = [line for line in log.splitlines() if re.match(r"\s*(WARNING|ERROR)\b", line)]
    assert out.returncode == 0 and not warnings, log[-4000:]
    site = tmp_path / "site"
    for page in ("index.html", "odd.html", "parameters.html", "api/model.html"):
        assert (site / page).is_file(), page
    # the home page is the README, included at build time
    home = (site / "index.html").read_text(encoding="utf-8")
    assert "Two commands on a fresh machine" in home
    # API pages are rendered from the docstrings
    model = (site / "api" / "model.html").read_text(encoding="utf-8")
    assert "MetroModel" in model and "one step is one year" in model
    assert ":class:" not in model
