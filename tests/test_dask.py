"""Runs through a real Dask scheduler and worker (separate processes on 127.0.0.1).

The same sweep gives identical tables in this process, on a 2-process LocalCluster and through
the scheduler; so does a comparison. The processes are always torn down.
"""

import os
import signal
import socket
import subprocess
import sys
import time

import pandas.testing as pdt
import pytest

from metrosim import Scenario
from metrosim.cli import main
from metrosim.experiments import compare, connect, sweep

DESIGN = """
name = "dask-tiny"
kind = "latin_hypercube"
samples = 2
seeds = 1
years = 1

[set]
scale = 50
cell_size_m = 1000.0

[[parameters]]
name = "speed_rural_kmh"
low = 20.0
high = 80.0

[[parameters]]
name = "growth_boundary"
values = ["none", "urban_limit_2017"]
"""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop(proc: subprocess.Popen) -> None:
    """Interrupt a dask process (it stops its children), then kill its process group."""
    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            pass
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # a worker left behind by its nanny, if any
    except ProcessLookupError:
        pass
    proc.wait(timeout=10)


@pytest.fixture(scope="module")
def scheduler(tmp_path_factory):
    """Address of a real `dask scheduler` with one `dask worker` (one process, one thread)."""
    folder = tmp_path_factory.mktemp("dask")
    port = free_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONWARNINGS": "ignore"}
    dask = [sys.executable, "-m", "dask"]
    procs = []
    logs = []
    try:
        for name, args in (
            (
                "scheduler",
                [
                    "scheduler",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                    "--dashboard-address",
                    "127.0.0.1:0",  # its HTTP server on a free port, not 8787
                ],
            ),
            (
                "worker",
                [
                    "worker",
                    address,
                    "--host",
                    "127.0.0.1",
                    "--nworkers",
                    "1",
                    "--nthreads",
                    "1",
                    "--local-directory",
                    str(folder),
                ],
            ),
        ):
            log = open(folder / f"{name}.log", "wb")  # noqa: SIM115 - closed below
            logs.append(log)
            procs.append(
                subprocess.Popen(
                    [*dask, *args, "--no-dashboard"],
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    env=env,
                    cwd=folder,
                    start_new_session=True,  # its own process group, killed at the end
                )
            )
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=1):
                    break
            except OSError:
                if time.monotonic() > deadline or procs[0].poll() is not None:
                    raise RuntimeError((folder / "scheduler.log").read_text()) from None
                time.sleep(0.1)
        client = connect(address)
        try:
            client.wait_for_workers(1, timeout=60)
        finally:
            client.close()
        yield address
    finally:
        for proc in reversed(procs):
            stop(proc)
        for log in logs:
            log.close()


@pytest.fixture(scope="module")
def design_file(tmp_path_factory):
    p = tmp_path_factory.mktemp("design") / "tiny.toml"
    p.write_text(DESIGN, encoding="utf-8")
    return p


def test_sweep_identical_in_process_local_cluster_and_scheduler(scheduler, design_file, tmp_path):
    alone = sweep(design_file)
    local = sweep(design_file, workers=2)
    client = connect(scheduler)
    try:
        remote = sweep(design_file, client=client, out=tmp_path / "remote")
        assert client.run(lambda: 1)  # the worker is still there after the sweep
    finally:
        client.close()
    for other in (local, remote):
        pdt.assert_frame_equal(other.experiments, alone.experiments)
        pdt.assert_frame_equal(other.outcomes, alone.outcomes)
    assert (alone.experiments["status"] == "ok").all()
    # the command line through the same scheduler: resumes that folder, runs nothing
    assert (
        main(
            ["sweep", str(design_file), "--out", str(tmp_path / "remote"), "--scheduler", scheduler]
        )
        == 0
    )


def test_compare_through_the_scheduler(scheduler, tmp_path, capsys):
    coarse = Scenario(cell_size_m=1000.0, scale=50)
    scenarios = [
        coarse.replace(name="a"),
        coarse.replace(name="b", growth_boundary="urban_limit_2017"),
    ]
    alone = compare(scenarios, seeds=1, years=1)
    client = connect(scheduler)
    try:
        remote = compare(scenarios, seeds=1, years=1, client=client)
    finally:
        client.close()
    pdt.assert_frame_equal(remote.runs, alone.runs)
    pdt.assert_frame_equal(remote.municipal, alone.municipal)
    pdt.assert_frame_equal(remote.summary, alone.summary)


def test_local_workers_share_the_cores_among_their_numba_threads():
    # one model per worker: numba's parallel kernels get the worker's share of the cores, not
    # every core in every worker (results do not depend on it; speed does)
    from metrosim.experiments._runs import close_client, local_client, worker_numba_threads

    assert worker_numba_threads(2, cores=2, environ={}) == 1
    assert worker_numba_threads(2, cores=8, environ={}) == 4
    assert worker_numba_threads(3, cores=8, environ={}) == 2
    assert worker_numba_threads(16, cores=8, environ={}) == 1
    assert worker_numba_threads(1, cores=1, environ={}) == 1
    assert worker_numba_threads(0, cores=0, environ={}) == 1

    def threads() -> int:
        import numba

        return numba.get_num_threads()

    client = local_client(2)
    try:
        got = set(client.run(threads).values())
    finally:
        close_client(client)
    assert got == {worker_numba_threads(2)}


def test_worker_numba_threads_keep_within_the_users_numba_num_threads():
    # the workers' environment replaces the user's NUMBA_NUM_THREADS: it caps their share
    from metrosim.experiments._runs import worker_numba_threads

    def threads(workers: int, chosen: str) -> int:
        return worker_numba_threads(workers, cores=8, environ={"NUMBA_NUM_THREADS": chosen})

    assert threads(2, "1") == 1
    assert threads(2, "3") == 3
    assert threads(4, "3") == 2
    assert threads(16, "3") == 1
    assert threads(2, "16") == 4
    assert threads(2, "") == 4
