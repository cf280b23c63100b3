"""Do two compare runs of the same design agree? Final-year outcomes, per regime, over seeds.

Usage::

    .venv/bin/python experiments/headline/equivalence.py OLD/runs.parquet NEW/runs.parquet \
        [OUTCOME ...]

For a code change that keeps the model's distributions but changes its realisations (another
order of random draws, say), run the design with both versions (they may have different
numbers of seeds) and compare. For each regime and outcome (by default those of the headline
table, ``table.py``), it prints both final-year means, their difference in pooled standard
deviations of the seeds and Welch's t-test p-value (n/a with fewer than two finite values a
side), then how many tests fall below 5% and 1% against the number expected by chance when
nothing changed.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats
from table import DEFAULT_OUTCOMES


def compare(old: pd.DataFrame, new: pd.DataFrame, outcomes: list[str]) -> pd.DataFrame:
    """One row per (regime, outcome): means, difference in pooled SDs, Welch p-value."""
    last = int(old["year"].max())
    if int(new["year"].max()) != last:
        raise SystemExit(
            f"equivalence: the runs end in {last} and {int(new['year'].max())}; "
            "allowed: runs of the same years"
        )
    rows = []
    for regime in sorted(set(old["scenario"]) & set(new["scenario"])):
        a = old[(old["scenario"] == regime) & (old["year"] == last)]
        b = new[(new["scenario"] == regime) & (new["year"] == last)]
        for outcome in outcomes:
            x = a[outcome].to_numpy(float)
            y = b[outcome].to_numpy(float)
            x, y = x[np.isfinite(x)], y[np.isfinite(y)]
            if min(x.size, y.size) < 2:  # e.g. a density of new land in years with none
                diff = p = np.nan
            else:
                sd = float(np.sqrt((x.var(ddof=1) + y.var(ddof=1)) / 2))
                if sd > 0:
                    diff = (y.mean() - x.mean()) / sd
                    p = float(stats.ttest_ind(x, y, equal_var=False).pvalue)
                else:  # the same value for every seed in both runs: equal or not, for sure
                    diff, p = (0.0, 1.0) if x[0] == y[0] else (np.inf, 0.0)
            rows.append((regime, outcome, x.size, y.size, x.mean(), y.mean(), diff, p))
    return pd.DataFrame(
        rows, columns=["regime", "outcome", "n_old", "n_new", "old", "new", "diff_sd", "p"]
    )


def main(argv: list[str]) -> None:
    if len(argv) < 2:
        raise SystemExit(__doc__)
    old, new = (pd.read_parquet(path) for path in argv[:2])
    outcomes = argv[2:] or list(DEFAULT_OUTCOMES)
    missing = [o for o in outcomes if o not in old.columns or o not in new.columns]
    if missing:
        raise SystemExit(f"equivalence: no outcome {missing[0]!r} in both runs")
    df = compare(old, new, outcomes)
    with pd.option_context("display.width", 200, "display.max_rows", None):
        print(df.to_string(index=False, float_format=lambda v: f"{v:.4g}"))
    df = df[df["p"].notna()]  # the rows above with n/a had too few finite values to test
    n = len(df)
    print(
        f"{n} tests: p < 0.05 in {(df['p'] < 0.05).sum()} (by chance {0.05 * n:.1f}), "
        f"p < 0.01 in {(df['p'] < 0.01).sum()} (by chance {0.01 * n:.1f}); "
        f"largest |difference| {df['diff_sd'].abs().max():.2f} SD"
    )


if __name__ == "__main__":
    main(sys.argv[1:])
