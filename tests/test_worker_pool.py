"""One pool of worker processes per process, shared by sweeps on any thread.

Real worker processes, counted with psutil. Sweeps that must overlap are
held at events, barriers and gate files, never by timing: a sweep's
``on_progress`` runs on its own thread, so blocking there holds that sweep
while others go on; a :class:`Gated` run holds a worker until its file exists.
"""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import threading
import time

import mesa
import pandas as pd
import psutil
import pytest
from models import Crashy, Money

import mesa_nb
from mesa_nb.backends import shutdown_workers
from mesa_nb.backends.pool import FOLDER_PREFIX, WORKERS, WorkerPool

#: A safety net only: a broken test fails instead of hanging the suite.
HANG = 120
POINTS = {"n": list(range(2, 14))}


def loky_workers() -> set[int]:
    """The pids of this process's loky worker processes."""
    pids = set()
    for child in psutil.Process().children(recursive=True):
        with contextlib.suppress(psutil.Error):
            if "LokyProcess" in " ".join(child.cmdline()):
                pids.add(child.pid)
    return pids


@pytest.fixture(scope="module", autouse=True)
def own_pool():
    """Start from no worker, and leave none behind."""
    shutdown_workers()
    yield
    shutdown_workers()
    _, alive = psutil.wait_procs(
        [psutil.Process(pid) for pid in loky_workers()], timeout=HANG
    )
    assert not alive, f"workers left behind: {alive}"


@pytest.fixture
def warm() -> set[int]:
    """A pool of 2 workers, warmed up by a foreground sweep."""
    result = mesa_nb.sweep(Money, POINTS, max_steps=5, seed=1, processes=2)
    assert result.n_ok == 12 and result.metadata["workers"] == 2
    pids = loky_workers()
    assert len(pids) == 2 and pids == set(WORKERS.worker_pids())
    return pids


def same_tables(result, reference) -> None:
    for table in ("model", "agents"):
        pd.testing.assert_frame_equal(getattr(result, table), getattr(reference, table))
    assert result.runs["status"].tolist() == reference.runs["status"].tolist()


def serial(model, points, seed, **options):
    return mesa_nb.sweep(model, points, seed=seed, processes=1, **options)


class Gated(mesa.Model):
    """A run with ``held`` notes in ``gate + ".started"`` that it runs, then
    waits inside its first step until the file ``gate`` exists."""

    def __init__(self, gate: str = "", held: bool = False, k: int = 0, rng=None):
        super().__init__(rng=rng)
        self.gate, self.held, self.k = gate, held, k
        self.datacollector = mesa.DataCollector(
            model_reporters={"K": "k", "Draw": lambda m: m.random.random()}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        if self.held:
            self.held = False
            open(self.gate + ".started", "w").close()
            while not os.path.exists(self.gate):
                time.sleep(0.01)
        self.datacollector.collect(self)


def gated_points(gate: str, runs: int) -> list[dict]:
    """The first run is held at ``gate``; the others are not."""
    return [{"gate": gate, "held": k == 0, "k": k} for k in range(runs)]


def wait_for_file(path: str) -> None:
    """Wait until a worker wrote ``path`` (a condition, polled)."""
    pause = threading.Event()
    for _ in range(HANG * 100):
        if os.path.exists(path):
            return
        pause.wait(0.01)
    raise AssertionError(f"{path} never appeared")


class Gate:
    """``on_progress`` that counts the workers whenever a run finishes, and
    marks the sweep's first finished run (holding it there until every sweep
    sharing ``barrier`` got that far)."""

    def __init__(self, barrier: threading.Barrier | None = None) -> None:
        self.barrier = barrier
        self.reached = threading.Event()
        self.counts: list[int] = []

    def __call__(self, event) -> None:
        if event.record is None:
            return
        self.counts.append(len(loky_workers()))
        if not self.reached.is_set():
            self.reached.set()
            if self.barrier is not None:
                self.barrier.wait(HANG)


# -- (a) every thread uses the same warm workers ----------------------------------
def test_background_thread_and_form_sweeps_start_no_new_workers(warm):
    reference = mesa_nb.sweep(Money, POINTS, max_steps=5, seed=3, processes=2)

    live = mesa_nb.sweep(
        Money, POINTS, max_steps=5, seed=3, processes=2, background=True
    )
    same_tables(live.wait(HANG), reference)
    assert loky_workers() == warm

    box = {}

    def on_a_thread():
        box["result"] = mesa_nb.sweep(Money, POINTS, max_steps=5, seed=3, processes=2)

    thread = threading.Thread(target=on_a_thread)
    thread.start()
    thread.join(HANG)
    same_tables(box["result"], reference)
    assert loky_workers() == warm

    form = mesa_nb.form(Money, namespace={}, n=POINTS["n"])
    form.options["max_steps"].widget.value = 5
    form.options["seed"].widget.value = "3"
    form.options["processes"].widget.value = "2"
    form.run_button.click()
    result = form.wait(HANG)
    columns = reference.model.columns  # the form adds its fixed ``bonus``
    pd.testing.assert_frame_equal(result.model[columns], reference.model)
    assert result.metadata["workers"] == 2
    assert loky_workers() == warm


# -- (b) concurrent sweeps never run more than `processes` workers ----------------
def test_three_concurrent_background_sweeps_share_two_workers(warm):
    barrier = threading.Barrier(3)
    gates = [Gate(barrier) for _ in range(3)]  # the barrier proves they overlap
    lives = [
        mesa_nb.sweep(
            Money,
            POINTS,
            max_steps=30,
            seed=seed,
            processes=2,
            background=True,
            on_progress=gate,
        )
        for seed, gate in zip((11, 12, 13), gates, strict=True)
    ]
    results = [live.wait(HANG) for live in lives]
    for seed, result in zip((11, 12, 13), results, strict=True):
        same_tables(result, serial(Money, POINTS, seed, max_steps=30))
        assert result.metadata["workers"] == 2
    counts = [count for gate in gates for count in gate.counts]
    assert len(counts) == 36 and max(counts) <= 2
    assert loky_workers() == warm


def test_a_sweep_sharing_a_busy_pool_gets_its_size_and_says_so(warm, tmp_path):
    gate = str(tmp_path / "gate")
    first = mesa_nb.sweep(
        Gated, gated_points(gate, 1), max_steps=2, seed=1, processes=2, background=True
    )
    wait_for_file(gate + ".started")  # the first sweep's run holds a worker

    def release(event):
        if event.record is not None:
            open(gate, "w").close()

    wider = mesa_nb.sweep(
        Money, POINTS, max_steps=5, seed=3, processes=3, on_progress=release
    )
    assert wider.n_ok == 12 and wider.metadata["workers"] == 2  # not resized
    assert first.wait(HANG).n_ok == 1
    assert loky_workers() == warm


# -- (c) stopping one sweep leaves the others whole --------------------------------
def test_cancelling_one_of_two_background_sweeps_leaves_the_other_whole(warm, tmp_path):
    gate = str(tmp_path / "gate")
    points = gated_points(gate, 8)
    other = mesa_nb.sweep(
        Gated, points, max_steps=3, seed=5, processes=2, background=True
    )
    wait_for_file(gate + ".started")  # a run of the other sweep is running
    doomed_gate = Gate()
    doomed = mesa_nb.sweep(
        Crashy,
        {"work": [0.05] * 40},
        max_steps=10,
        seed=4,
        processes=2,
        background=True,
        on_progress=doomed_gate,
    )
    assert doomed_gate.reached.wait(HANG)
    kept = doomed.cancel()
    assert kept.interrupted and 1 <= kept.n_ok < 40
    assert kept.n_ok + kept.n_cancelled == 40
    assert set(kept.model["RunId"]) == set(kept.runs.query("status == 'ok'").RunId)
    assert loky_workers() == warm  # the stop killed no worker
    open(gate, "w").close()
    result = other.wait(HANG)
    assert result.n_ok == 8 and not result.interrupted
    same_tables(result, serial(Gated, points, 5, max_steps=3))


def test_a_stopped_sweep_alone_stops_between_steps_and_keeps_its_workers(warm):
    stop = threading.Event()

    def on_progress(event):
        if event.record is not None:
            stop.set()

    result = mesa_nb.sweep(
        Crashy,
        {"work": [0.05] * 40},
        max_steps=10,
        seed=4,
        processes=2,
        cancel=stop,
        on_progress=on_progress,
    )
    assert result.interrupted and 1 <= result.n_ok < 40
    assert loky_workers() == warm  # stopped between steps, not killed


def test_a_stopped_sweep_whose_step_hangs_has_its_workers_killed(warm, tmp_path):
    gate = str(tmp_path / "never")  # its runs wait for good
    stop = threading.Event()

    def stop_once_running():
        wait_for_file(gate + ".started")
        stop.set()

    threading.Thread(target=stop_once_running, daemon=True).start()
    points = [{"gate": gate, "held": True, "k": k} for k in range(2)]
    result = mesa_nb.sweep(Gated, points, max_steps=4, seed=1, processes=2, cancel=stop)
    assert result.interrupted and result.n_ok == 0
    assert not loky_workers() & warm  # nobody else used them: killed
    again = mesa_nb.sweep(Money, POINTS, max_steps=5, seed=1, processes=2)
    assert again.n_ok == 12


# -- a worker that dies costs only its own run ------------------------------------
def test_a_crash_in_one_sweep_loses_nothing_of_another(warm, tmp_path):
    gate = str(tmp_path / "gate")
    points = gated_points(gate, 6)
    other = mesa_nb.sweep(
        Gated, points, max_steps=3, seed=7, processes=2, background=True
    )
    wait_for_file(gate + ".started")  # running when the pool breaks
    os.unlink(gate + ".started")
    crashy = [{"crash": ""}] * 4 + [{"crash": "exit"}] + [{"crash": ""}] * 4
    crashed = mesa_nb.sweep(Crashy, crashy, max_steps=4, seed=6, processes=2)
    assert crashed.runs["status"].tolist() == ["ok"] * 4 + ["crashed"] + ["ok"] * 4
    assert crashed.failures["error"].iloc[0].startswith("worker process died")
    assert not loky_workers() & warm  # the pool broke and was replaced
    wait_for_file(gate + ".started")  # the held run was sent again
    open(gate, "w").close()
    result = other.wait(HANG)
    assert result.n_ok == 6 and result.runs["status"].eq("ok").all()
    same_tables(result, serial(Gated, points, 7, max_steps=3))
    assert len(loky_workers()) == 2


def test_the_folders_of_killed_processes_are_removed(tmp_path, monkeypatch):
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    gone = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
    ).stdout.strip()
    stale = tmp_path / f"{FOLDER_PREFIX}{gone}-abc"
    alive = tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-def"
    stale.mkdir()
    alive.mkdir()
    note = WorkerPool()._path("task")
    assert not stale.exists() and alive.exists()
    assert note.startswith(str(tmp_path / f"{FOLDER_PREFIX}{os.getpid()}-"))
