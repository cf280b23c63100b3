"""One BLAS thread during a model year (``threadpoolctl``).

A model year makes a few small BLAS calls through numpy: the hedonic rent regression
(``np.linalg.lstsq`` on a few tens of thousands of rows and six columns) and products of
5-column arrays with a vector (expected rents, cars by commune, mean incomes, coverage and
exposure by income group). OpenBLAS runs each of them on all its threads, and its worker
threads then busy-wait for more work for a while before they sleep: they hold cores that
numba's parallel kernels and the model's own thread need. On a two-core machine a model year
at the default scale took 250 ms with ``OPENBLAS_NUM_THREADS=1`` against 305 ms with the
default two threads (``benchmarks/bench_year.py``), with the same results.

:func:`single_blas_thread` limits every BLAS library numpy loaded to one thread for the
duration of a ``with`` block and restores the previous limits at its end;
:meth:`metrosim.MetroModel.step` runs each year inside one. OpenBLAS has one thread pool per
process: when models step in several threads at once, threadpoolctl (3.8 on) lets the first
thread that sets a limit control it until its block ends, and the other threads' blocks
leave it alone. A one-thread BLAS also makes the
year's results independent of the BLAS thread count (a long dot product split across threads
is summed in another order).

References
----------
threadpoolctl: Python helpers to limit the number of threads used in native libraries.
https://github.com/joblib/threadpoolctl
OpenBLAS FAQ, "How can I use OpenBLAS in multi-threaded applications?" (worker threads that
wait for work). https://github.com/OpenMathLib/OpenBLAS/wiki/Faq
"""

from __future__ import annotations

import contextlib
from typing import Any

__all__ = ["single_blas_thread"]

_state: dict[str, Any] = {}


def single_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which numpy's BLAS runs on one thread (previous limits restored after).

    The libraries are looked up once per process (``threadpoolctl.ThreadpoolController``);
    entering and leaving the context then costs tens of microseconds. Without
    ``threadpoolctl`` installed the context does nothing.
    """
    if "controller" not in _state:
        try:
            from threadpoolctl import ThreadpoolController

            _state["controller"] = ThreadpoolController()
        except ImportError:
            _state["controller"] = None
    ctl = _state["controller"]
    if ctl is None:
        return contextlib.nullcontext()
    return ctl.limit(limits=1, user_api="blas")
