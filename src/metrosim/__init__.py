"""metrosim: an agent-based model of metropolitan governance and urban sprawl.

The public API is small: :class:`Scenario` describes a run, :class:`MetroModel` is the Mesa
model, :func:`run` runs one scenario and returns its tables. Metrics are in
:mod:`metrosim.metrics`.
"""

from metrosim.model import MetroModel
from metrosim.runner import RunResult, run
from metrosim.scenario import Scenario, ScenarioError

__version__ = "0.1.0"

__all__ = ["MetroModel", "RunResult", "Scenario", "ScenarioError", "run", "__version__"]
