"""metrosim: an agent-based model of metropolitan governance and urban sprawl.

The public API is small: :class:`Scenario` describes a run, :class:`MetroModel` is the Mesa
model, :func:`run` runs one scenario and returns its tables; :func:`compare` and :func:`sweep`
(from :mod:`metrosim.experiments`) run many over seeds. Metrics are in :mod:`metrosim.metrics`.
"""

from typing import Any

from metrosim.model import MetroModel
from metrosim.runner import RunResult, run
from metrosim.scenario import Scenario, ScenarioError

__version__ = "0.1.0"

__all__ = [
    "MetroModel",
    "RunResult",
    "Scenario",
    "ScenarioError",
    "compare",
    "run",
    "sweep",
    "__version__",
]


def __getattr__(name: str) -> Any:
    # compare and sweep import Dask and SALib (about a second): only when asked for
    if name in ("compare", "sweep"):
        from metrosim import experiments

        return getattr(experiments, name)
    raise AttributeError(f"module 'metrosim' has no attribute {name!r}")
