"""Draw the headline's time series (mean and 95% interval over seeds, per regime) as a PNG.

Usage: .venv/bin/python experiments/headline/figures.py out/headline/runs.parquet OUT.png

Needs matplotlib (the ``bench`` extra). The interval is a t-interval over seeds at each year,
as in ``summary.csv``; it measures the model's randomness, not parameter uncertainty.
"""

from __future__ import annotations

import sys

import numpy as np
import pandas as pd
from scipy import stats

#: (column, title) of the panels, in reading order.
PANELS = (
    ("urban_area_ha", "urbanised area (ha)"),
    ("unhoused_households", "households without a dwelling"),
    ("mean_rent", "mean rent (CLP / month)"),
    ("mean_commute_min_q1", "commute of the poorest quintile (min)"),
    ("dissimilarity_q1_q5", "dissimilarity Q1 / Q5"),
    ("theil_h_within", "Theil H within communes"),
    ("budget_per_capita_ratio_max_min", "budget per capita, max / min"),
    ("pm25_exposure_ugm3_q1", "traffic PM2.5 exposure, Q1 (µg/m³)"),
    ("farmland_converted_total_ha", "farmland converted since 2017 (ha)"),
)


def draw(runs: pd.DataFrame, path: str) -> None:
    """Write a 3 x 3 grid of time series to ``path``."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(3, 3, figsize=(13, 10), sharex=True)
    regimes = list(dict.fromkeys(runs["scenario"]))
    for ax, (col, title) in zip(axes.ravel(), PANELS, strict=True):
        for name in regimes:
            g = runs[runs["scenario"] == name].groupby("year")[col]
            mean, sem, n = g.mean(), g.sem(), g.count()
            half = sem * stats.t.ppf(0.975, np.maximum(n - 1, 1))
            ax.plot(mean.index, mean.to_numpy(), label=name)
            ax.fill_between(mean.index, mean - half, mean + half, alpha=0.25)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
    axes[0, 0].legend(fontsize=8)
    n_seeds = runs["seed"].nunique()
    fig.suptitle(f"Headline: {len(regimes)} regimes, {n_seeds} common seeds, mean and 95% CI")
    fig.tight_layout()
    fig.savefig(path, dpi=90)


if __name__ == "__main__":
    if len(sys.argv) != 3:
        sys.exit(__doc__)
    draw(pd.read_parquet(sys.argv[1]), sys.argv[2])
