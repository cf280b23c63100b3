"""Run outputs: the manifest and the yearly and per-commune tables, written atomically.

A run folder holds ``manifest.json`` (what was run and with what software), ``yearly.parquet``
(one row per year) and ``municipal.parquet`` (one row per year and commune). Every file is
written to a temporary name and renamed, so an interrupted run never leaves a half-written
file that looks whole.
"""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

import pandas as pd

from metrosim._atomic import atomic_write, atomic_write_text

__all__ = ["write_table", "read_table", "write_manifest", "read_run", "software_versions"]


def write_table(df: pd.DataFrame, path: str | Path) -> Path:
    """Write a DataFrame as Parquet, atomically."""
    return atomic_write(Path(path), lambda p: df.to_parquet(p, index=False))


def read_table(path: str | Path) -> pd.DataFrame:
    """Read a Parquet table written by :func:`write_table`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no table at {path}")
    return pd.read_parquet(path)


def _git_commit() -> str | None:
    try:
        out = subprocess.run(
            ["git", "rev-parse", "HEAD"],
            cwd=Path(__file__).resolve().parent,
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None if out.returncode == 0 else None


def software_versions() -> dict[str, Any]:
    """Versions of Python and the packages a result depends on, and the git commit."""
    import mesa
    import numba
    import numpy

    import metrosim

    return {
        "metrosim": metrosim.__version__,
        "git_commit": _git_commit(),
        "python": sys.version.split()[0],
        "numpy": numpy.__version__,
        "numba": numba.__version__,
        "mesa": mesa.__version__,
        "pandas": pd.__version__,
        "platform": platform.platform(),
    }


def write_manifest(path: str | Path, payload: dict[str, Any]) -> Path:
    """Write ``manifest.json`` (sorted keys, UTF-8), atomically."""
    text = json.dumps(payload, indent=2, sort_keys=True, default=str, ensure_ascii=False)
    return atomic_write_text(Path(path), text + "\n")


def read_run(folder: str | Path) -> tuple[dict[str, Any], pd.DataFrame, pd.DataFrame]:
    """Read a run folder: (manifest, yearly table, municipal table)."""
    folder = Path(folder)
    manifest = json.loads((folder / "manifest.json").read_text(encoding="utf-8"))
    return manifest, read_table(folder / "yearly.parquet"), read_table(folder / "municipal.parquet")
