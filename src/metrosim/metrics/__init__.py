"""Indicators computed every simulated year: pure functions, numpy arrays in, numbers out.

- :mod:`~metrosim.metrics.segregation`: dissimilarity, multigroup dissimilarity, Theil's H
  (with a between/within-region decomposition), isolation and exposure.
- :mod:`~metrosim.metrics.spatial`: Moran's I on the grid, spatial (kernel) Theil's H.
- :mod:`~metrosim.metrics.sprawl`: urban area, density, patches, edge density, compactness,
  the character of new growth, and the Lee-Sallee index.
- :mod:`~metrosim.metrics.coverage`: service coverage, green area per person, group means.
- :mod:`~metrosim.metrics.fiscal`: max/min and P90/P10 ratios, weighted Gini.

Invalid input raises :class:`ValueError` naming the argument, the bad value and what is
allowed. See ``docs/metrics.md`` for formulas, references and plain-language readings.
"""

from metrosim.metrics.coverage import (
    CoverageShare,
    coverage_share,
    green_per_person,
    mean_by_group,
)
from metrosim.metrics.fiscal import gini, ratio_max_min, ratio_p90_p10
from metrosim.metrics.segregation import (
    TheilDecomposition,
    dissimilarity,
    exposure,
    isolation,
    multigroup_dissimilarity,
    theil_h,
)
from metrosim.metrics.spatial import morans_i, spatial_theil_h
from metrosim.metrics.sprawl import SprawlMetrics, lee_sallee, sprawl_metrics

__all__ = [
    "CoverageShare",
    "SprawlMetrics",
    "TheilDecomposition",
    "coverage_share",
    "dissimilarity",
    "exposure",
    "gini",
    "green_per_person",
    "isolation",
    "lee_sallee",
    "mean_by_group",
    "morans_i",
    "multigroup_dissimilarity",
    "ratio_max_min",
    "ratio_p90_p10",
    "sprawl_metrics",
    "spatial_theil_h",
    "theil_h",
]
