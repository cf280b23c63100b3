"""On-disk cache of deterministic derived inputs, keyed by their content and the code.

A few start-up computations depend only on their inputs (no random draws): the checked city
data, the initial population of the cells, the initial commute surface, the travel zones and
their trip table, the calibrated mode constants, the distance to the DEM-derived rivers.
:func:`cached_arrays` stores their arrays as ``.npz`` files in :func:`metrosim.grid.cache_dir`
(the folder of the grid cache) under a key that hashes

* every input array (dtype, shape and bytes) and every scalar parameter the computation reads
  (for the mode constants: every field of the scenario, so no parameter can be missed);
* the code: the bytes of every ``.py`` file of the ``metrosim`` package, the numpy, numba and
  Python versions and the host CPU (:func:`code_version`), so any change of the code is a miss.

A hit returns arrays equal to the bit to those the computation would return. A file with
another key, a damaged file (bad zip, missing array, checksum mismatch) or an unreadable one is
ignored and rebuilt; writes are atomic; a read-only cache folder is not an error. The folder
can be deleted at any time. File names carry the start of the code version: when an entry is
written, the entries of the same kind written by other versions of the code and not used for
:data:`STALE_DAYS` days are deleted, so the folder does not grow with every change of the code.
"""

from __future__ import annotations

import dataclasses
import functools
import hashlib
import io
import os
import time
import zipfile
import zlib
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from metrosim._atomic import atomic_write_bytes

__all__ = ["cached_arrays", "code_version", "digest", "enabled", "STALE_DAYS"]

#: Entries of other code versions unused for this many days are deleted on a write.
STALE_DAYS = 7.0

_PACKAGE = Path(__file__).resolve().parent


def enabled() -> bool:
    """False when ``METROSIM_DISK_CACHE=0``: every derived input is then recomputed."""
    return os.environ.get("METROSIM_DISK_CACHE", "1") != "0"


@functools.lru_cache(maxsize=1)
def code_version() -> str:
    """sha256 over the package's ``.py`` files, the numpy, numba and Python versions and the CPU.

    The CPU model is included because numba compiles for the host CPU (a cache folder shared
    between machines never hands one machine's kernel results to another).
    """
    import platform
    import sys

    import llvmlite.binding
    import numba

    h = hashlib.sha256(
        f"numpy {np.__version__}|numba {numba.__version__}|python {sys.version_info[:2]}|"
        f"{platform.machine()}|{llvmlite.binding.get_host_cpu_name()}".encode()
    )
    for p in sorted(_PACKAGE.rglob("*.py")):
        h.update(p.relative_to(_PACKAGE).as_posix().encode())
        h.update(p.read_bytes())
    return h.hexdigest()


def _update(h: Any, part: Any) -> None:
    if isinstance(part, np.ndarray):
        a = np.ascontiguousarray(part)
        h.update(f"ndarray|{a.dtype.str}|{a.shape}|".encode())
        h.update(a)  # the array's buffer: the bytes of a.tobytes() without the copy
    elif isinstance(part, (list, tuple)):
        h.update(f"{type(part).__name__}|{len(part)}|".encode())
        for p in part:
            _update(h, p)
    elif isinstance(part, dict):
        h.update(f"dict|{len(part)}|".encode())
        for k in sorted(part):
            _update(h, k)
            _update(h, part[k])
    elif dataclasses.is_dataclass(part) and not isinstance(part, type):
        h.update(f"dataclass|{type(part).__qualname__}|".encode())
        _update(h, {f.name: getattr(part, f.name) for f in dataclasses.fields(part)})
    elif part is None or isinstance(part, (bool, int, float, str, np.generic)):
        h.update(f"{type(part).__name__}|{part!r}|".encode())
    else:
        raise TypeError(f"cannot key a disk cache on a {type(part).__name__}")


def digest(*parts: Any) -> str:
    """sha256 of ``parts`` (arrays, scalars, strings, sequences, dicts, dataclasses)."""
    h = hashlib.sha256()
    for p in parts:
        _update(h, p)
    return h.hexdigest()


def _checksum(arrays: dict[str, np.ndarray]) -> str:
    """CRC-32 over the names, dtypes, shapes and bytes of ``arrays`` (in name order).

    Detects damage and edits of the data (the key, a sha256, is what identifies an entry);
    CRC-32 runs at about twice the speed of sha256 and reads the arrays' buffers in place,
    which matters because every hit checks the whole entry (about 56 MB at start-up).
    """
    crc = 0
    for name in sorted(arrays):
        a = np.ascontiguousarray(arrays[name])
        crc = zlib.crc32(f"{name}|{a.dtype.str}|{a.shape}|".encode(), crc)
        crc = zlib.crc32(a, crc)
    return f"crc32:{crc:08x}"


def _path(kind: str, key: str) -> Path:
    from metrosim.grid import cache_dir

    return cache_dir() / f"{kind}-{code_version()[:12]}-{key[:32]}.npz"


def _prune(kind: str, keep: Path) -> None:
    """Delete the entries of ``kind`` of other code versions unused for STALE_DAYS days."""
    mine = keep.name.split("-")[1]
    cutoff = time.time() - STALE_DAYS * 86400.0
    for p in keep.parent.glob(f"{kind}-*-*.npz"):
        try:
            if p.name.split("-")[1] != mine and p.stat().st_mtime < cutoff:
                p.unlink()
        except OSError:
            pass  # another process removed it, or the folder is read-only


def read_entry(path: Path, key: str) -> dict[str, np.ndarray] | None:
    """The arrays of a cache file written by :func:`write_entry` with this ``key``.

    None when the file is missing, has another key, or is damaged (bad zip, missing array,
    checksum mismatch); the caller then rebuilds. Also used by the grid cache
    (:func:`metrosim.grid.load_grid`).
    """
    if not path.is_file():
        return None
    try:
        # open the file ourselves: np.load leaks its handle when the zip is damaged
        with path.open("rb") as fh, np.load(fh, allow_pickle=False) as z:
            if str(z["__key__"]) != key:
                return None
            names = [n for n in z.files if not n.startswith("__")]
            arrays = {n: z[n] for n in names}
            if _checksum(arrays) != str(z["__checksum__"]):
                return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError):
        return None
    return arrays


def write_entry(path: Path, key: str, arrays: dict[str, np.ndarray]) -> None:
    """Write ``arrays`` with their ``key`` and checksum, atomically (raises OSError)."""
    buf = io.BytesIO()
    np.savez(buf, __key__=np.array(key), __checksum__=np.array(_checksum(arrays)), **arrays)
    atomic_write_bytes(path, buf.getvalue())


def cached_arrays(
    kind: str, key_parts: tuple, build: Callable[[], dict[str, np.ndarray]]
) -> dict[str, np.ndarray]:
    """``build()``'s arrays, from the disk cache when an entry of the same key exists.

    Parameters
    ----------
    kind : str
        Name of the computation (the file name's prefix).
    key_parts : tuple
        Everything the result depends on, hashed by :func:`digest` together with ``kind`` and
        :func:`code_version`.
    build : callable
        Computes the arrays (a dict of name to array; names must not start with ``__``).

    Returns
    -------
    dict of str to ndarray
        Fresh, writable arrays (a hit never shares memory with another caller).
    """
    if not enabled():
        return build()
    key = digest(kind, code_version(), key_parts)
    path = _path(kind, key)
    hit = read_entry(path, key)
    if hit is not None:
        try:
            os.utime(path)  # in use: not pruned
        except OSError:
            pass
        return hit
    arrays = {k: np.asarray(v) for k, v in build().items()}
    try:
        write_entry(path, key, arrays)
        _prune(kind, path)
    except OSError:
        pass  # a read-only cache folder is not an error: the result is rebuilt next time
    return arrays
