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
process (on pthreads): when models step in several threads at once, the blocks open in the
process are counted, the first to open sets the limit and the last to close restores the
limits from before the first, whichever threads they run in (threadpoolctl's own limiter,
one per block, let a block that opened inside another thread's block take one thread as its
"original" and keep it for good if it closed last, and a block that closed first lift the
limit while another thread's year still ran). A one-thread BLAS also makes the year's
results independent of the BLAS thread count (a long dot product split across threads is
summed in another order).

References
----------
threadpoolctl: Python helpers to limit the number of threads used in native libraries.
https://github.com/joblib/threadpoolctl
OpenBLAS FAQ, "How can I use OpenBLAS in multi-threaded applications?" (worker threads that
wait for work). https://github.com/OpenMathLib/OpenBLAS/wiki/Faq
"""

from __future__ import annotations

import contextlib
import threading
from typing import Any

__all__ = ["single_blas_thread"]

_state: dict[str, Any] = {}
#: Guards the process-wide part below (blocks open in any thread, the limits to restore).
_lock = threading.Lock()
_shared: dict[str, Any] = {"open": 0, "limiter": None}


def _controllers() -> tuple[Any, Any] | None:
    """(the BLAS libraries with one process-wide limit, those limited per calling thread)."""
    if "controllers" not in _state:
        with _lock:
            if "controllers" not in _state:
                try:
                    from threadpoolctl import ThreadpoolController
                except ImportError:
                    _state["controllers"] = None
                else:
                    blas = ThreadpoolController().select(user_api="blas")
                    # OpenBLAS built on OpenMP keeps a limit per calling thread; the others
                    # (OpenBLAS on pthreads, MKL, BLIS) one limit for the whole process
                    mine = blas.select(internal_api="openblas").select(threading_layer="openmp")
                    own = {lib.filepath for lib in mine.lib_controllers}
                    shared = [
                        lib.filepath for lib in blas.lib_controllers if lib.filepath not in own
                    ]
                    _state["controllers"] = (blas.select(filepath=shared), mine)
    return _state["controllers"]


def _release_control() -> None:
    """Give up control of OpenBLAS's process-wide limit, if this thread has it.

    threadpoolctl (3.8 on) lets only the thread that took control set that limit; released,
    the limit can be restored by whichever thread closes the last block.
    """
    from threadpoolctl import OpenBLASController

    OpenBLASController.clear_controlling_thread()


class _OneBlasThread:
    """The context of :func:`single_blas_thread`."""

    __slots__ = ("_own",)

    def __enter__(self) -> _OneBlasThread:
        shared, mine = _controllers()
        with _lock:
            if _shared["open"] == 0 and shared.lib_controllers:
                # the first block open in the process: the limits before it are the ones to
                # restore, whichever thread's block closes last
                _shared["limiter"] = shared.limit(limits=1)
                _release_control()
            _shared["open"] += 1
        self._own = mine.limit(limits=1) if mine.lib_controllers else None
        return self

    def __exit__(self, *exc: object) -> bool:
        if self._own is not None:
            self._own.restore_original_limits()
        with _lock:
            _shared["open"] -= 1
            if _shared["open"] == 0 and _shared["limiter"] is not None:
                _shared["limiter"].restore_original_limits()
                _shared["limiter"] = None
                _release_control()
        return False


def single_blas_thread() -> contextlib.AbstractContextManager:
    """A context in which numpy's BLAS runs on one thread (previous limits restored after).

    The libraries are looked up once per process (``threadpoolctl.ThreadpoolController``);
    entering and leaving the context then costs tens of microseconds. Blocks may nest and
    may be open in several threads at once: a library with one process-wide limit stays at
    one thread until the last open block closes, and then gets back the limit it had before
    the first one opened; a library limited per thread (OpenBLAS on OpenMP) is limited in
    each block's own thread. Without ``threadpoolctl`` installed the context does nothing.
    """
    if _controllers() is None:
        return contextlib.nullcontext()
    return _OneBlasThread()
