"""Print the headline table of ``docs/results.md`` from a compare run's ``summary.csv``.

Usage: .venv/bin/python experiments/headline/table.py out/headline/summary.csv [OUTCOME ...]

One row per outcome: the baseline's final-year mean with its 95% interval, then each other
regime's paired difference from the baseline with its interval; a difference whose interval
excludes 0 is shown in bold (significant over seeds at the 5% level, common random numbers).
"""

from __future__ import annotations

import math
import sys

import pandas as pd

#: The outcomes the headline reads, in the order of ``docs/results.md``.
DEFAULT_OUTCOMES = (
    "urban_area_ha",
    "new_urban_density_pph",
    "residential_density_pph",
    "dwellings_built",
    "unhoused_households",
    "mean_rent",
    "vacancy_rate",
    "mean_commute_min",
    "mean_commute_min_q1",
    "theil_h",
    "theil_h_between",
    "theil_h_within",
    "dissimilarity_q1_q5",
    "spatial_theil_h",
    "morans_i_income",
    "coverage_park_q1",
    "coverage_school",
    "budget_per_capita_ratio_max_min",
    "budget_per_capita_gini",
    "green_m2_per_person_gini",
)


def _num(x: float, signed: bool = False) -> str:
    if not math.isfinite(x):
        return "n/a"
    text = f"{x:+.3g}" if signed else f"{x:.4g}"
    return text


def table(summary: pd.DataFrame, outcomes: tuple[str, ...] = DEFAULT_OUTCOMES) -> str:
    """The markdown table (see the module docstring)."""
    regimes = list(dict.fromkeys(summary["scenario"]))
    base, others = regimes[0], regimes[1:]
    head = f"| outcome | {base}: mean [95% CI] | " + " | ".join(f"{r} − {base}" for r in others)
    lines = [head + " |", "|---" * (2 + len(others)) + "|"]
    by = summary.set_index(["scenario", "outcome"])
    for o in outcomes:
        if (base, o) not in by.index:
            continue
        b = by.loc[(base, o)]
        cells = [f"`{o}`", f"{_num(b['mean'])} [{_num(b['ci_low'])}, {_num(b['ci_high'])}]"]
        for r in others:
            d = by.loc[(r, o)]
            if not math.isfinite(d["diff"]):
                cells.append("n/a")
                continue
            text = (
                f"{_num(d['diff'], True)} [{_num(d['diff_ci_low'], True)}, "
                f"{_num(d['diff_ci_high'], True)}]"
            )
            significant = d["diff_ci_low"] > 0 or d["diff_ci_high"] < 0
            cells.append(f"**{text}**" if significant else text)
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    if len(sys.argv) < 2:
        sys.exit(__doc__)
    picked = tuple(sys.argv[2:]) or DEFAULT_OUTCOMES
    print(table(pd.read_csv(sys.argv[1]), picked))
