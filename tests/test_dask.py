"""The same sweep on a real Dask LocalCluster (and on a generic executor)."""

from __future__ import annotations

import multiprocessing
import os
import signal
import threading
import time
from concurrent.futures import ProcessPoolExecutor

import pandas as pd
import pytest
from models import Crashy, Fragile, Money

import mesa_nb

distributed = pytest.importorskip("distributed")
dask = pytest.importorskip("dask")

SWEEP = dict(
    parameters={"n": [2, 3, 5], "bonus": [0.0, 1.0]},
    iterations=3,
    max_steps=6,
    data_collection_period=2,
    seed=31,
)
RUN_COLUMNS = ["RunId", "iteration", "seed", "n", "bonus", "status", "steps"]


@pytest.fixture(scope="module")
def client():
    with dask.config.set({"distributed.scheduler.allowed-failures": 0}):
        cluster = distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0"
        )
        client = distributed.Client(cluster)
        yield client
        client.close()
        cluster.close()


def test_results_on_the_cluster_equal_the_local_ones(client):
    events = []
    remote = mesa_nb.sweep(Money, executor=client, on_progress=events.append, **SWEEP)
    local = mesa_nb.sweep(Money, processes=1, **SWEEP)
    assert remote.metadata["executor"] == "dask" and remote.metadata["workers"] == 2
    pd.testing.assert_frame_equal(remote.model, local.model)
    pd.testing.assert_frame_equal(remote.agents, local.agents)
    pd.testing.assert_frame_equal(remote.runs[RUN_COLUMNS], local.runs[RUN_COLUMNS])
    assert [e.done for e in events] == list(range(19))


def test_many_tiny_runs_are_grouped_into_few_tasks(client):
    with distributed.get_task_stream(client) as stream:
        result = mesa_nb.sweep(
            Money, {"n": 2}, iterations=400, max_steps=2, executor=client
        )
    assert result.n_ok == 400
    tasks = [t for t in stream.data if "run_batch" in str(t.get("key"))]
    assert 0 < len(tasks) < 150, len(tasks)


def test_a_failing_run_is_recorded_and_the_others_complete(client):
    result = mesa_nb.sweep(
        Fragile,
        {"fail": [False, True, False]},
        iterations=2,
        max_steps=4,
        executor=client,
    )
    assert result.runs["status"].tolist() == ["ok", "failed", "ok"] * 2
    assert result.failures["error"].str.contains("ZeroDivisionError").all()


def test_a_run_that_kills_its_worker_is_recorded_as_crashed(client):
    points = [{"crash": ""}] * 4 + [{"crash": "exit"}] + [{"crash": ""}] * 4
    result = mesa_nb.sweep(Crashy, points, max_steps=4, executor=client)
    assert result.runs["status"].tolist() == ["ok"] * 4 + ["crashed"] + ["ok"] * 4
    assert result.failures["error"].iloc[0].startswith("worker process died")
    client.wait_for_workers(2, timeout=60)
    assert mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=2, executor=client).n_ok == 2


def test_cancel_stops_pending_and_running_tasks_and_keeps_finished(client):
    cancel = threading.Event()
    threading.Timer(2.0, cancel.set).start()
    start = time.perf_counter()
    result = mesa_nb.sweep(
        Crashy, {"work": [0.1] * 40}, max_steps=10, executor=client, cancel=cancel
    )
    assert time.perf_counter() - start < 2.0 + 1.5
    assert result.interrupted and 1 <= result.n_ok < 40
    assert result.n_ok + result.n_cancelled == 40
    assert set(result.model["RunId"]) == set(
        result.runs.loc[result.runs["status"] == "ok", "RunId"]
    )
    deadline = time.monotonic() + 3
    while any(client.processing().values()) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not any(client.processing().values()), "running tasks did not stop"


def test_a_class_defined_in_a_notebook_cell_runs_on_the_cluster(client, ipython):
    shell = ipython
    shell.user_ns["dask_client"] = client
    shell.run_cell(
        "import mesa, mesa_nb\n"
        "class CellModel(mesa.Model):\n"
        "    def __init__(self, k=1, rng=None):\n"
        "        super().__init__(rng=rng)\n"
        "        self.k = k\n"
        "        self.datacollector = mesa.DataCollector(\n"
        "            model_reporters={'K2': lambda m: m.k * 2,\n"
        "                             'R': lambda m: m.random.random()})\n"
        "        self.datacollector.collect(self)\n"
        "    def step(self):\n"
        "        self.datacollector.collect(self)\n"
        "cell_remote = mesa_nb.sweep(CellModel, {'k': [1, 2, 3]}, max_steps=2,\n"
        "                            seed=3, executor=dask_client)\n"
        "cell_local = mesa_nb.sweep(CellModel, {'k': [1, 2, 3]}, max_steps=2, seed=3)\n"
    )
    remote, local = shell.user_ns["cell_remote"], shell.user_ns["cell_local"]
    assert remote.model["K2"].tolist() == [2, 4, 6]
    pd.testing.assert_frame_equal(remote.model, local.model)


def test_the_magic_takes_a_client_by_name(client, ipython):
    shell = ipython
    shell.user_ns.update({"Money": Money, "dask_client": client})
    shell.run_cell(
        "%%batchrun Money --client dask_client -s 3 -q --seed 1\nn = [2, 3]\n"
    )
    result = shell.user_ns["results"]
    assert result.metadata["executor"] == "dask" and result.n_ok == 2


def test_a_generic_process_pool_executor_works():
    with ProcessPoolExecutor(
        2, mp_context=multiprocessing.get_context("spawn")
    ) as pool:
        remote = mesa_nb.sweep(Money, executor=pool, **SWEEP)
    local = mesa_nb.sweep(Money, **SWEEP)
    pd.testing.assert_frame_equal(remote.agents, local.agents)
    assert remote.metadata["executor"] == "ProcessPoolExecutor"


def test_a_cluster_started_by_mesa_nb_survives_a_kernel_interrupt():
    first = mesa_nb.sweep(
        Money, {"n": [2, 3]}, max_steps=2, executor="dask", processes=2
    )
    assert first.n_ok == 2
    from mesa_nb.backends.dask import local_client

    probe = local_client(2)
    pids = set(probe.run(os.getpid).values())
    for pid in pids:  # what the kernel's process group gets on "interrupt"
        os.kill(pid, signal.SIGINT)
    time.sleep(1.0)
    assert set(probe.run(os.getpid).values()) == pids
    again = mesa_nb.sweep(
        Money, {"n": [2, 3]}, max_steps=2, executor="dask", processes=2
    )
    assert again.n_ok == 2
