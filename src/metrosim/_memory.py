"""Allocator settings for the model's large, short-lived arrays (glibc only).

A model year allocates and frees many grid-sized arrays (3.5 MB each at the default 250 m
grid, 22 MB at 100 m over the region). With glibc's default ``malloc`` settings, memory freed
at the top of the heap beyond the trim threshold (which follows the mmap threshold, at most
64 MB) goes back to the operating system, and every later array of that size is fresh memory
that faults in page by page: about 120,000 page faults and 0.4-0.6 s of system time a year at
scale 1 with 100 m cells (``benchmarks/bench_year.py``).

:func:`tune_allocator` keeps up to 1 GiB of freed memory in the process
(``M_TRIM_THRESHOLD``) and serves every array up to 32 MB (glibc's largest
``M_MMAP_THRESHOLD`` on 64-bit systems) from the heap, so freed arrays are reused without
faults: about 30,000 faults and 0.1 s of system time a year at that scale, for a peak memory
about 5% higher. It is called when a :class:`metrosim.MetroModel` is created, once per
process. The settings are process-wide: the process keeps its freed memory for reuse instead
of returning it to the system at once. Set ``METROSIM_MALLOC_TUNING=0`` to leave ``malloc``
alone; it is also left alone when the user has set glibc's own ``MALLOC_TRIM_THRESHOLD_`` or
``MALLOC_MMAP_THRESHOLD_`` environment variables, and on systems without glibc.

References
----------
The GNU C Library manual, "Malloc Tunable Parameters" (``mallopt``, ``M_MMAP_THRESHOLD``,
``M_TRIM_THRESHOLD``). https://sourceware.org/glibc/manual/latest/html_node/Malloc-Tunable-Parameters.html
"""

from __future__ import annotations

import ctypes
import os
import sys

__all__ = ["tune_allocator", "MMAP_THRESHOLD", "TRIM_THRESHOLD"]

#: ``mallopt`` parameter numbers (glibc's malloc.h).
_M_TRIM_THRESHOLD = -1
_M_MMAP_THRESHOLD = -3
#: Arrays up to this size come from the heap (glibc refuses more than HEAP_MAX_SIZE / 2).
MMAP_THRESHOLD = 32 * 2**20
#: Freed memory kept in the process for reuse before the heap's top is given back.
TRIM_THRESHOLD = 2**30

_state: dict[str, bool] = {}


def tune_allocator() -> bool:
    """Apply :data:`MMAP_THRESHOLD` and :data:`TRIM_THRESHOLD` to glibc's ``malloc``, once.

    Returns
    -------
    bool
        True when the settings are in force in this process (applied now or before); False
        when they were not applied: ``METROSIM_MALLOC_TUNING=0``, glibc's own
        ``MALLOC_TRIM_THRESHOLD_`` or ``MALLOC_MMAP_THRESHOLD_`` set, not Linux with glibc,
        or ``mallopt`` refused a value.
    """
    if "applied" in _state:
        return _state["applied"]
    applied = False
    if (
        os.environ.get("METROSIM_MALLOC_TUNING", "1") != "0"
        and "MALLOC_TRIM_THRESHOLD_" not in os.environ
        and "MALLOC_MMAP_THRESHOLD_" not in os.environ
        and sys.platform.startswith("linux")
    ):
        try:
            libc = ctypes.CDLL(None)
            # glibc only (musl's mallopt does nothing): it alone has gnu_get_libc_version
            mallopt = libc.mallopt if hasattr(libc, "gnu_get_libc_version") else None
        except OSError:
            mallopt = None
        if mallopt is not None:
            mallopt.argtypes = (ctypes.c_int, ctypes.c_int)
            mallopt.restype = ctypes.c_int
            applied = (
                mallopt(_M_MMAP_THRESHOLD, MMAP_THRESHOLD) == 1
                and mallopt(_M_TRIM_THRESHOLD, TRIM_THRESHOLD) == 1
            )
    _state["applied"] = applied
    return applied
