"""metrosim: an agent-based model of metropolitan governance and urban sprawl.

The public API is small: :class:`Scenario` describes a run, :class:`MetroModel` is the Mesa
model, :func:`run` runs one scenario and returns its tables; :func:`compare` and :func:`sweep`
(from :mod:`metrosim.experiments`) run many over seeds. Metrics are in :mod:`metrosim.metrics`.
"""

import gc
import os
from typing import Any

# numba's parallel kernels run on OpenMP threads (GNU libgomp), which by default keep spinning
# on a core for a while after each kernel. A model year alternates short parallel kernels with
# serial work, so the spinning threads took CPU time from the model's own thread and from any
# other process (a browser, a sweep's other workers): at the dashboard's scale a year took 2-3x
# longer on a busy 2-core machine. Idle threads sleep instead, unless the user chose otherwise
# (OMP_WAIT_POLICY or GOMP_SPINCOUNT). libgomp reads this once, when numba first loads it (the
# first parallel kernel in the process): if numba code ran a parallel kernel before metrosim
# was imported, its threads keep libgomp's default (spin for a while, then sleep) in this
# process; set OMP_WAIT_POLICY=PASSIVE in the environment before Python starts to be sure.
# Processes started from this one (a local Dask cluster's workers) inherit the setting.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

# Importing metrosim loads numpy, pandas, scipy, networkx (through Mesa) and numba: a few hundred
# thousand long-lived objects. The cyclic garbage collector would walk all of them again and
# again while they load and at every full collection of a run, and once more when the
# interpreter shuts down (about a second in all). So it is paused while they load, and what
# they leave is then frozen (``gc.freeze``: moved to the permanent generation, which the
# collector skips). Objects are still freed by reference counting; only a reference cycle
# among objects that existed before this point would stay in memory.
_gc_was_enabled = gc.isenabled()
gc.disable()
try:
    from metrosim.model import MetroModel
    from metrosim.runner import RunResult, run
    from metrosim.scenario import Scenario, ScenarioError
finally:
    if _gc_was_enabled:
        gc.enable()
gc.freeze()

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
