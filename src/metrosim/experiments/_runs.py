"""The machinery shared by :func:`compare` and :func:`sweep`: jobs, executors and the run store.

A *job* is one model run (a scenario, a seed, a number of years) with a key that names its
files. :func:`execute` sends jobs to the process itself, to any ``concurrent.futures`` executor,
to a ``dask.distributed.Client`` (a real scheduler), or to a Dask ``LocalCluster`` it starts, and
hands each :class:`Outcome` to a callback in the order runs finish. Workers only compute: the
calling process writes every file, so a remote worker needs no access to the output folder.

A :class:`RunStore` is an output folder: ``manifest.json`` (the design and its hash, written
before any run), ``runs/<key>.parquet`` per finished run (plus ``<key>.municipal.parquet`` and
``<key>.state.npz`` when kept; the yearly file is written last, so its presence means the run is
complete) and ``runs/<key>.error.txt`` for a run that failed. Every file is written atomically.
Re-running the same design in the same folder runs only what is missing; a folder holding
another design is refused.
"""

from __future__ import annotations

import gc
import hashlib
import io
import json
import logging
import os
import socket
import sys
import time
import traceback
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Executor, as_completed
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from metrosim._atomic import atomic_write, atomic_write_text
from metrosim.io import software_versions, write_manifest, write_table
from metrosim.scenario import Scenario

__all__ = [
    "ExperimentError",
    "Job",
    "Outcome",
    "RunStore",
    "design_hash",
    "execute",
    "run_job",
    "connect",
    "Tracker",
    "final_state",
    "read_npz",
    "write_npz",
]

#: Seconds to wait for a Dask scheduler before giving up.
CONNECT_TIMEOUT_S = 5.0


class ExperimentError(ValueError):
    """A design, an output folder or a scheduler address that cannot be used."""


# ------------------------------------------------------------------------------------------
# jobs
@dataclass(frozen=True)
class Job:
    """One model run.

    Attributes
    ----------
    key : str
        Names the run's files (``runs/<key>.parquet``); unique within a design.
    scenario : Scenario
    seed : int
        Seed of the model's generator (``MetroModel(rng=seed)``).
    years : int
    keep_final_state : bool
        Also return small maps of the final state (see :func:`final_state`).
    measure : callable, optional
        ``measure(model, years) -> dict`` runs the model itself and returns summary
        statistics (e.g. :func:`metrosim.validation.measure_run`); the run's table is then one
        row of them instead of the yearly table. A module-level function, so that it pickles
        to Dask workers.
    """

    key: str
    scenario: Scenario
    seed: int
    years: int
    keep_final_state: bool = False
    measure: Callable[[Any, int], Mapping[str, float]] | None = None


@dataclass(frozen=True)
class Outcome:
    """What a job produced: its tables, or the error that stopped it."""

    key: str
    yearly: pd.DataFrame | None = None
    municipal: pd.DataFrame | None = None
    state: dict[str, np.ndarray] | None = None
    error: str | None = None
    wall_time_s: float = 0.0

    @property
    def ok(self) -> bool:
        """True when the run finished."""
        return self.error is None


def final_state(model: Any) -> dict[str, np.ndarray]:
    """Small maps of a model's current state, for reports.

    Returns
    -------
    dict of arrays
        ``land_use`` (uint8, grid shape, ``LandUse`` codes), ``dominant_group`` (int8, the
        income group with most households on the cell, 0 = poorest, -1 = none), ``new_urban``
        (bool, urban now but not at the start), ``commune``
        (int16, index into ``cut``, -1 outside the region), ``cut`` (commune codes), ``in_core``
        (communes of the continuous city) and ``cell_size_m``.
    """
    shape = model.grid.shape
    occ = model.land.occupancy
    dominant = np.where(occ.sum(axis=1) > 0, occ.argmax(axis=1), -1).astype(np.int8)
    return {
        "land_use": model.land.land_use.reshape(shape).astype(np.uint8),
        "new_urban": (model.land.urban & ~model.land.urban_start).reshape(shape),
        "dominant_group": dominant.reshape(shape),
        "commune": np.asarray(model.grid.commune, dtype=np.int16).reshape(shape),
        "cut": np.asarray(model.city.cut, dtype=np.int32),
        "in_core": np.asarray(model.city.in_core, dtype=bool),
        "cell_size_m": np.float64(model.grid.cell_size_m),
    }


def _pin_numba_threads() -> None:
    """Make ``NUMBA_NUM_THREADS`` in the environment the thread count numba took.

    numba re-reads its settings from the environment before each compilation and refuses a
    thread count other than the one its threads were started with. In a worker process the
    two could disagree (seen with Dask workers spawned from the ``metrosim`` script: started
    with 1, re-read as 2), and every run then failed at its first compilation.
    """
    import numba

    os.environ["NUMBA_NUM_THREADS"] = str(numba.config.NUMBA_NUM_THREADS)


def run_job(job: Job) -> Outcome:
    """Run one job; an exception inside the model is returned as the outcome's error.

    The tables are those of :func:`metrosim.run` for the same scenario, seed and years; with
    a ``measure``, the yearly table is one row of its summaries and there is no municipal table.
    """
    from metrosim.model import MetroModel
    from metrosim.runner import tables

    _pin_numba_threads()
    t0 = time.perf_counter()
    try:
        model = MetroModel(job.scenario, rng=job.seed)
        if job.measure is not None:
            yearly = pd.DataFrame([dict(job.measure(model, job.years))])
            municipal = None
        else:
            for _ in range(job.years):
                model.step()
            yearly, municipal = tables(model)
        state = final_state(model) if job.keep_final_state else None
    except Exception as exc:  # noqa: BLE001 - a failing run is recorded, the others go on
        return Outcome(
            key=job.key,
            error=_error_text(exc),
            wall_time_s=time.perf_counter() - t0,
        )
    return Outcome(
        key=job.key,
        yearly=yearly,
        municipal=municipal,
        state=state,
        wall_time_s=time.perf_counter() - t0,
    )


def _error_text(exc: BaseException) -> str:
    tb = "".join(traceback.format_exception(exc))
    return f"{type(exc).__name__}: {exc}\n\n{tb}"


# ------------------------------------------------------------------------------------------
# executors
def connect(address: str, *, timeout: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``dask.distributed.Client`` connected to the scheduler at ``address``.

    The address is checked first with a plain TCP connection, so an unreachable scheduler
    fails within ``timeout`` seconds without leaving a half-built client behind.

    Raises
    ------
    ExperimentError
        When the address is malformed or no scheduler answers within ``timeout`` seconds.
    """
    from distributed import Client

    fix = (
        "start one with `dask scheduler` and give the address it prints (tcp://HOST:PORT), "
        "or use --workers N for local processes"
    )
    _probe(address, timeout, fix)
    # A client that fails half-way complains from its __del__; keep that out of the user's way.
    hook = sys.unraisablehook
    sys.unraisablehook = lambda _: None
    try:
        try:
            return Client(address, timeout=timeout, set_as_default=False)
        except Exception as exc:  # noqa: BLE001 - anything that answers but is no scheduler
            error = f"{type(exc).__name__}: {exc}"
        gc.collect()
    finally:
        sys.unraisablehook = hook
    raise ExperimentError(
        f"no Dask scheduler answered at {address!r} within {timeout:g} s ({error}); is it the "
        f"address a `dask scheduler` printed? {fix}"
    )


def _probe(address: str, timeout: float, fix: str) -> None:
    from distributed.comm import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        if scheme not in ("tcp", "tls"):
            return
        host, port = parse_host_port(location, default_port=8786)
    except (ValueError, TypeError) as exc:
        raise ExperimentError(
            f"scheduler address {address!r} is not valid ({exc}); {fix}"
        ) from None
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise ExperimentError(
            f"no Dask scheduler reachable at {address!r} ({exc.strerror or exc}); {fix}"
        ) from None


def worker_numba_threads(
    workers: int, cores: int | None = None, environ: Mapping[str, str] | None = None
) -> int:
    """The numba threads of each of ``workers`` local worker processes: the cores shared out.

    Each worker runs one model at a time, and numba's parallel kernels would otherwise start
    one thread per core in every worker: with as many workers as cores, twice (or more)
    as many busy threads as cores, and the parallel kernels then wait on each other (3-4x
    slower when measured on 2 cores). Results do not depend on the thread count. A
    ``NUMBA_NUM_THREADS`` set in this process's environment (``environ``, by default
    ``os.environ``) caps the share, as the workers' own setting replaces it: no worker gets
    more threads than the user allowed one process. Always at least 1.
    """
    if cores is None:
        affinity = getattr(os, "sched_getaffinity", None)
        cores = len(affinity(0)) if affinity is not None else (os.cpu_count() or 1)
    share = max(1, cores // max(1, workers))
    chosen = (os.environ if environ is None else environ).get("NUMBA_NUM_THREADS", "").strip()
    if chosen.isdigit() and int(chosen) > 0:  # numba itself rejects other values at import
        return min(share, int(chosen))
    return share


def local_client(workers: int) -> Any:
    """A client of a new Dask ``LocalCluster`` of ``workers`` processes, one thread each.

    Each worker gets :func:`worker_numba_threads` numba threads.
    """
    from distributed import Client, LocalCluster

    cluster = LocalCluster(
        n_workers=workers,
        threads_per_worker=1,
        env={"NUMBA_NUM_THREADS": str(worker_numba_threads(workers))},
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
        # no dashboard; its HTTP server on a free port, not 8787 (which may be taken)
        scheduler_kwargs={"dashboard": False, "dashboard_address": "127.0.0.1:0"},
        silence_logs=logging.ERROR,
    )
    return Client(cluster, set_as_default=False)


def close_client(client: Any) -> None:
    """Close a client and the local cluster it owns, if any."""
    cluster = getattr(client, "cluster", None)
    client.close()
    if cluster is not None:
        cluster.close()


def execute(
    jobs: Sequence[Job],
    on_result: Callable[[Outcome], None],
    *,
    executor: Executor | None = None,
    client: Any = None,
    workers: int = 1,
    task_prefix: str = "metrosim",
) -> None:
    """Run jobs and call ``on_result`` with each outcome as it finishes.

    Parameters
    ----------
    jobs : sequence of Job
    on_result : callable
        Called in the calling process, once per job, in completion order.
    executor : concurrent.futures.Executor, optional
        Where runs go.
    client : dask.distributed.Client, optional
        Where runs go (a local cluster or a real scheduler); mutually exclusive with
        ``executor``.
    workers : int
        Without an executor or client: 1 runs in this process; more start a Dask
        ``LocalCluster`` of that many processes for the duration of the call.
    task_prefix : str
        Prefix of the Dask task keys (the design hash makes them unique per design).
    """
    if executor is not None and client is not None:
        raise ValueError("give an executor or a client, not both")
    if not jobs:
        return
    if executor is None and client is None:
        if workers <= 1:
            for job in jobs:
                on_result(run_job(job))
            return
        client = local_client(workers)
        try:
            _execute_dask(jobs, on_result, client, task_prefix)
        finally:
            close_client(client)
        return
    if client is not None:
        _execute_dask(jobs, on_result, client, task_prefix)
    else:
        assert executor is not None
        _execute_futures(jobs, on_result, executor)


def _execute_futures(
    jobs: Sequence[Job], on_result: Callable[[Outcome], None], executor: Executor
) -> None:
    futures = {executor.submit(run_job, job): job for job in jobs}
    try:
        for fut in as_completed(futures):
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. a worker process that died
                outcome = Outcome(key=futures[fut].key, error=_error_text(exc))
            on_result(outcome)
    finally:
        for fut in futures:
            fut.cancel()


def _execute_dask(
    jobs: Sequence[Job], on_result: Callable[[Outcome], None], client: Any, prefix: str
) -> None:
    from distributed import as_completed as dask_completed

    futures = {
        client.submit(run_job, job, key=f"{prefix}-{job.key}", pure=False, retries=0): job
        for job in jobs
    }
    try:
        for fut in dask_completed(list(futures), loop=client.loop):
            job = futures[fut]
            try:
                outcome = fut.result()
            except Exception as exc:  # noqa: BLE001 - e.g. KilledWorker
                outcome = Outcome(key=job.key, error=_error_text(exc))
            fut.release()
            on_result(outcome)
    finally:
        pending = [f for f in futures if not f.done()]
        if pending:
            client.cancel(pending)


# ------------------------------------------------------------------------------------------
# the output folder
def design_hash(payload: Mapping[str, Any]) -> str:
    """SHA-256 of a design's canonical JSON (sorted keys), in hex."""
    text = json.dumps(payload, sort_keys=True, default=str, ensure_ascii=True)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


class RunStore:
    """An output folder of per-run files, tied to one design by its hash.

    Parameters
    ----------
    folder : path
    kind : str
        ``"sweep"`` or ``"compare"``.
    design : mapping
        JSON-able description of everything that determines the runs' results.
    """

    def __init__(self, folder: str | Path, kind: str, design: Mapping[str, Any]):
        self.folder = Path(folder)
        self.kind = kind
        self.design = dict(design)
        self.hash = design_hash({"kind": kind, **self.design})
        self.runs = self.folder / "runs"

    # opening ------------------------------------------------------------------------------
    def open(self) -> None:
        """Check the folder holds this design or nothing, then write the manifest.

        Raises
        ------
        ExperimentError
            When the folder holds results of another design (nothing is touched).
        """
        manifest = self.folder / "manifest.json"
        fix = "give another --out folder, or delete this one to start again"
        if self.folder.exists() and not self.folder.is_dir():
            raise ExperimentError(f"output folder {str(self.folder)!r} is a file; {fix}")
        if manifest.is_file():
            try:
                old = json.loads(manifest.read_text(encoding="utf-8"))
            except (ValueError, UnicodeDecodeError):
                raise ExperimentError(
                    f"{manifest} is not a readable manifest; the folder holds something else; "
                    + fix
                ) from None
            old_hash = old.get("design_hash") if isinstance(old, dict) else None
            if old_hash is None:
                raise ExperimentError(
                    f"output folder {str(self.folder)!r} holds other results (its manifest.json "
                    f"has no design hash, e.g. a `metrosim run` folder); {fix}"
                )
            if old.get("kind") != self.kind or old_hash != self.hash:
                raise ExperimentError(
                    f"output folder {str(self.folder)!r} holds results of another design "
                    f"({old.get('kind', '?')} {old_hash[:12]}; this {self.kind} is "
                    f"{self.hash[:12]}); {fix}"
                )
        elif self.runs.is_dir() and any(self.runs.iterdir()):
            raise ExperimentError(
                f"output folder {str(self.folder)!r} holds runs/ but no manifest.json; {fix}"
            )
        else:
            self.write_manifest({"complete": False})
        self.runs.mkdir(parents=True, exist_ok=True)
        for tmp in self.runs.glob(".*.tmp"):  # left by a process killed mid-write
            tmp.unlink(missing_ok=True)

    def write_manifest(self, extra: Mapping[str, Any]) -> None:
        """(Re)write ``manifest.json``: kind, hash, design, versions and ``extra``."""
        write_manifest(
            self.folder / "manifest.json",
            {
                "kind": self.kind,
                "design_hash": self.hash,
                "design": self.design,
                "versions": software_versions(),
                **extra,
            },
        )

    # runs ---------------------------------------------------------------------------------
    def path(self, key: str, what: str = "") -> Path:
        """Path of a run's file: ``runs/<key>.parquet``, ``runs/<key>.<what>``."""
        return self.runs / (f"{key}.{what}" if what else f"{key}.parquet")

    def is_done(self, key: str) -> bool:
        """True when the run's yearly table is on disk (written last)."""
        return self.path(key).is_file()

    def error(self, key: str) -> str | None:
        """The recorded error of a failed run, or None."""
        p = self.path(key, "error.txt")
        return p.read_text(encoding="utf-8") if p.is_file() else None

    def save(self, outcome: Outcome, yearly: pd.DataFrame | None = None) -> None:
        """Write a finished run's files (the yearly table last), or its error."""
        if not outcome.ok:
            atomic_write_text(self.path(outcome.key, "error.txt"), outcome.error or "")
            return
        if outcome.state is not None:
            write_npz(self.path(outcome.key, "state.npz"), outcome.state)
        if outcome.municipal is not None:
            write_table(outcome.municipal, self.path(outcome.key, "municipal.parquet"))
        write_table(outcome.yearly if yearly is None else yearly, self.path(outcome.key))
        self.path(outcome.key, "error.txt").unlink(missing_ok=True)

    def read(self, keys: Iterable[str], what: str = "") -> pd.DataFrame:
        """Concatenate the runs' tables (``what`` = ``""`` or ``"municipal.parquet"``)."""
        frames = [pd.read_parquet(self.path(k, what)) for k in keys if self.path(k, what).is_file()]
        return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()


def write_npz(path: Path, arrays: Mapping[str, np.ndarray]) -> Path:
    """Write arrays as a compressed ``.npz``, atomically."""
    buf = io.BytesIO()
    np.savez_compressed(buf, **arrays)
    return atomic_write(path, lambda p: p.write_bytes(buf.getvalue()))


def read_npz(path: Path) -> dict[str, np.ndarray]:
    """Read a ``.npz`` written by :func:`write_npz` (no pickles)."""
    with np.load(path, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}


class Tracker:
    """Counts runs done and failed and reports them to a ``progress`` callback."""

    def __init__(
        self, total: int, done: int, progress: Callable[[int, int, int], None] | None
    ) -> None:
        self.total = total
        self.done = done
        self.failed = 0
        self.progress = progress
        if progress is not None:
            progress(done, total, 0)

    def __call__(self, ok: bool) -> None:
        self.done += 1
        self.failed += 0 if ok else 1
        if self.progress is not None:
            self.progress(self.done, self.total, self.failed)
