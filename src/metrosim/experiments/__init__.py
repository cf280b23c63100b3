"""Experiments: regime comparisons over common seeds and parameter sweeps.

:func:`compare` runs scenarios over the same replicate seeds and summarises their paired
differences; :func:`sweep` runs a design (full factorial, Latin hypercube, Sobol, Morris) over
seeds and :func:`analyze` computes sensitivity indices. Both run in this process, on any
``concurrent.futures`` executor, on a Dask ``LocalCluster`` (``workers > 1``) or through a
``dask.distributed.Client`` connected to a real scheduler; with an output folder they write each
run as it finishes and resume what is missing.

:mod:`metrosim.experiments.ema` (imported only when asked for; needs the ``ema`` extra) exposes a
scenario as an EMA Workbench model for exploratory modelling and scenario discovery.
"""

from metrosim.experiments._runs import ExperimentError, connect
from metrosim.experiments.compare import (
    HEADLINE,
    CompareResult,
    compare,
    replicate_seeds,
    summarise,
)
from metrosim.experiments.design import KINDS, Design, Parameter, load_design
from metrosim.experiments.sweep import SweepResult, analyze, run_seed, sweep

__all__ = [
    "HEADLINE",
    "KINDS",
    "CompareResult",
    "Design",
    "ExperimentError",
    "Parameter",
    "SweepResult",
    "analyze",
    "compare",
    "connect",
    "load_design",
    "replicate_seeds",
    "run_seed",
    "summarise",
    "sweep",
]
