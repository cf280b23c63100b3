"""Time per simulated year against households: runs ``bench_year.py`` per scale and plots.

Usage (from the repository root)::

    .venv/bin/python -m benchmarks.plot_scaling [--scales 20 10 5 2 1] [--cell-size 250]
        [--years 3] [--out benchmarks/scaling.png] [--from-json DIR]

Each scale runs in a fresh process (``bench_year.py --json``), so peak memory is per scale;
with ``--repeats`` the whole sweep is repeated and each scale keeps its best total and, phase by
phase, its best time (a shared machine's load only ever adds time).
Writes a log-log plot (total and each phase, with a slope-1 guide) to ``--out`` (matplotlib,
Agg backend) and prints a table with the local growth exponent of every phase between
successive sizes (d log t / d log households: 1 is linear). ``--from-json DIR`` re-plots
saved runs.

Prints figures; never used as a timed test.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchmarks.common import machine

HERE = Path(__file__).resolve().parent


def run_scale(scale: int, cell: float, years: int, out: Path) -> dict:
    subprocess.run(
        [sys.executable, str(HERE / "bench_year.py"), "--scale", str(scale)]
        + ["--cell-size", str(cell), "--years", str(years), "--json", str(out)],
        check=True,
    )
    return json.loads(out.read_text())


def best_of(runs: list[dict]) -> dict:
    """The fastest total and, phase by phase, the fastest time over repeated runs."""
    best = dict(min(runs, key=lambda r: r["per_year_s"]))
    best["phases_s"] = {
        p: min(r["phases_s"].get(p, np.inf) for r in runs) for p in best["phases_s"]
    }
    best["repeats"] = len(runs)
    return best


def table(records: list[dict]) -> str:
    records = sorted(records, key=lambda r: r["households"])
    phases = sorted(records[-1]["phases_s"], key=lambda k: -records[-1]["phases_s"][k])
    head = "| scale | households | cells | s/year | " + " | ".join(phases) + " | peak RSS MB |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for r in sorted(records, key=lambda r: -r["scale"]):
        cols = " | ".join(f"{r['phases_s'].get(p, 0.0):.3f}" for p in phases)
        lines.append(
            f"| {r['scale']} | {r['households']:,} | {r['cells']:,} | {r['per_year_s']:.3f} | "
            f"{cols} | {r['peak_rss_mb']:.0f} |"
        )
    lines.append("")
    lines.append("Growth exponent d log t / d log households between successive sizes:")
    lines.append("")
    lines.append("| from -> to households | total | " + " | ".join(phases) + " |")
    lines.append("|" + "---|" * (len(phases) + 2))
    for a, b in zip(records[:-1], records[1:], strict=True):
        dn = np.log(b["households"] / a["households"])

        def slope(ta, tb, dn=dn):
            return f"{np.log(tb / ta) / dn:.2f}" if ta > 0 and tb > 0 else "-"

        cols = [slope(a["per_year_s"], b["per_year_s"])]
        cols += [slope(a["phases_s"].get(p, 0), b["phases_s"].get(p, 0)) for p in phases]
        lines.append(f"| {a['households']:,} -> {b['households']:,} | " + " | ".join(cols) + " |")
    return "\n".join(lines)


def plot(records: list[dict], out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    records = sorted(records, key=lambda r: r["households"])
    n = np.array([r["households"] for r in records], dtype=float)
    fig, ax = plt.subplots(figsize=(7, 5), dpi=110)
    ax.loglog(n, [r["per_year_s"] for r in records], "o-", lw=2.5, color="k", label="total")
    phases = sorted(records[-1]["phases_s"], key=lambda k: -records[-1]["phases_s"][k])
    for p in phases:
        t = np.array([r["phases_s"].get(p, np.nan) for r in records])
        if np.nanmax(t) > 1e-3:
            ax.loglog(n, t, "o--", lw=1.2, label=p)
    guide = records[0]["per_year_s"] * n / n[0]
    ax.loglog(n, guide, ":", color="grey", label="slope 1 (linear)")
    for r in records:
        ax.annotate(f"scale {r['scale']}", (r["households"], r["per_year_s"]), fontsize=7,
                    textcoords="offset points", xytext=(4, 6))  # fmt: skip
    ax.set_xlabel("households (simulated)")
    ax.set_ylabel("seconds per simulated year")
    cell = records[0]["cell_size_m"]
    ax.set_title(f"metrosim: time per year vs households ({cell:g} m cells)")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(out)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--scales", type=int, nargs="+", default=[20, 10, 5, 2, 1])
    p.add_argument("--cell-size", type=float, default=250.0)
    p.add_argument("--years", type=int, default=3)
    p.add_argument(
        "--repeats", type=int, default=1, help="sweeps; keep each scale's best total and phases"
    )
    p.add_argument("--out", default=str(HERE / "scaling.png"))
    p.add_argument("--from-json", default=None, help="plot the scale_*.json files in this folder")
    p.add_argument("--save-json", default=None, help="keep each scale's figures in this folder")
    a = p.parse_args()
    print(machine())
    if a.from_json:
        records = [
            json.loads(f.read_text()) for f in sorted(Path(a.from_json).glob("scale_*.json"))
        ]
    else:
        folder = Path(a.save_json) if a.save_json else Path(tempfile.mkdtemp(prefix="scaling-"))
        folder.mkdir(parents=True, exist_ok=True)
        records = [run_scale(s, a.cell_size, a.years, folder / f"scale_{s}.json") for s in a.scales]
    plot(records, Path(a.out))
    print(table(records))
    print(f"plot: {a.out}")
    print("at the end:", machine())


if __name__ == "__main__":
    main()
