"""Interrupts, processes and inputs that used to lose data or fail badly.

Each test stands for one fault found by adversarial use (issue 14); real
signals, real worker processes, real files. Signals are raised from inside
the sweep (a progress callback, a write), never from timers.
"""

from __future__ import annotations

import concurrent.futures as cf
import signal
import subprocess
import sys
import textwrap
import threading
import tracemalloc

import mesa
import psutil
import pytest
from models import Money

import mesa_nb
from mesa_nb.api.reports import python_code
from mesa_nb.core import assemble as assemble_module
from mesa_nb.core.plan import plan_sweep
from mesa_nb.examples import BoltzmannWealth
from mesa_nb.notebook.form_state import FormState


def consistent(result) -> None:
    """Every run counted ok has its model rows, and no other run has any."""
    ok = set(result.runs.loc[result.runs["status"] == "ok", "RunId"])
    assert set(result.model["RunId"]) == ok


# -- interrupts (items 4, 5, 6) ---------------------------------------------------
def test_ctrl_c_inside_the_progress_callback_loses_no_run(tmp_path):
    raised = []

    def on_progress(event):
        if event.record is not None and event.done >= 5 and not raised:
            raised.append(event.done)
            signal.raise_signal(signal.SIGINT)  # the user's Ctrl-C, right here

    result = mesa_nb.sweep(
        Money,
        {"n": list(range(2, 26))},
        max_steps=30,
        seed=1,
        processes=2,
        store=tmp_path / "s",
        on_progress=on_progress,
    )
    assert result.interrupted and result.n_ok >= 5
    consistent(result)
    stored = mesa_nb.load_store(tmp_path / "s")
    consistent(stored)
    assert stored.n_ok == result.n_ok


def test_ctrl_c_during_a_store_write_keeps_runs_and_data_together(
    tmp_path, monkeypatch
):
    from mesa_nb.store import runstore

    real = runstore.RunStore.write
    calls = []

    def write(self, outcome):
        calls.append(1)
        if len(calls) == 2:
            signal.raise_signal(signal.SIGINT)  # Ctrl-C while this batch is written
        return real(self, outcome)

    monkeypatch.setattr(runstore.RunStore, "write", write)
    result = mesa_nb.sweep(
        Money, {"n": list(range(2, 12))}, max_steps=5, seed=1, store=tmp_path / "s"
    )
    assert result.interrupted
    consistent(result)
    stored = mesa_nb.load_store(tmp_path / "s")
    consistent(stored)
    assert stored.n_ok == result.n_ok >= 2  # the batch being written is kept whole


def test_a_second_ctrl_c_while_the_result_is_built_loses_nothing(monkeypatch):
    real = assemble_module.chunks_to_frame
    hits = []

    def slow_join(chunks, keys):
        if not hits:
            hits.append(1)
            signal.raise_signal(signal.SIGINT)  # the impatient second Ctrl-C
        return real(chunks, keys)

    monkeypatch.setattr(assemble_module, "chunks_to_frame", slow_join)

    first = []

    def on_progress(event):
        if event.record is not None and event.done >= 3 and not first:
            first.append(1)
            signal.raise_signal(signal.SIGINT)  # the first Ctrl-C

    result = mesa_nb.sweep(
        Money,
        {"n": list(range(2, 30))},
        max_steps=20,
        seed=1,
        processes=2,
        on_progress=on_progress,
    )
    assert hits and result.interrupted and result.n_ok >= 3
    consistent(result)


# -- processes (items 11, 13, 14) --------------------------------------------------
PARENT = textwrap.dedent(
    """
    import os, sys, time
    from mesa_nb.backends import _local_executor
    executor = _local_executor(2)
    pids = {executor.submit(os.getpid).result() for _ in range(20)}
    print(" ".join(map(str, sorted(pids))), flush=True)
    time.sleep(600)
    """
)


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_workers_exit_when_their_parent_dies(how):
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT], stdout=subprocess.PIPE, text=True
    )
    try:
        pids = [int(p) for p in parent.stdout.readline().split()]
        workers = [psutil.Process(pid) for pid in pids]
        assert workers and all(w.is_running() for w in workers)
        parent.send_signal(how)
        parent.wait(timeout=30)
        _, alive = psutil.wait_procs(workers, timeout=20)
        assert not alive, f"orphaned workers still running: {alive}"
    finally:
        if parent.poll() is None:
            parent.kill()


def test_no_more_worker_processes_than_runs():
    before = {p.pid for p in psutil.Process().children(recursive=True)}
    result = mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=2, processes=16, seed=1)
    assert result.n_ok == 2 and result.metadata["workers"] == 2
    workers = [
        p
        for p in psutil.Process().children(recursive=True)
        if p.pid not in before and "LokyProcess" in " ".join(p.cmdline())
    ]
    assert len(workers) <= 2


def test_stopping_a_sweep_leaves_a_users_executor_usable():
    stop = threading.Event()

    def on_progress(event):
        if event.record is not None:
            stop.set()

    with cf.ProcessPoolExecutor(max_workers=2) as pool:
        first = mesa_nb.sweep(
            Money,
            {"n": list(range(2, 40))},
            max_steps=50,
            seed=1,
            executor=pool,
            cancel=stop,
            on_progress=on_progress,
        )
        assert first.interrupted and first.n_ok >= 1
        again = mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=2, seed=1, executor=pool)
        assert again.n_ok == 2  # not "cannot schedule new futures after shutdown"


# -- inputs (items 15, 16, 17, 19) ---------------------------------------------------
def test_huge_grids_are_counted_without_being_laid_out():
    axes = {name: list(range(10)) for name in ("n", "width", "height")}
    tracemalloc.start()
    big = plan_sweep(BoltzmannWealth, {**axes, "n": list(range(1000))}, seed=1)
    assert big.n_runs == 100_000 and len(big.runs) == 100_000
    assert big.runs[99_999].params == {"n": 999, "width": 9, "height": 9}
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    assert peak < 5 * 2**20  # nothing was laid out per point
    ten_by_ten = {f"p{i}": list(range(10)) for i in range(10)}

    class Wide(mesa.Model):
        def __init__(self, rng=None, **kwargs):
            super().__init__(rng=rng)

    with pytest.raises(mesa_nb.SweepOptionError, match="10,000,000,000 runs"):
        plan_sweep(Wide, ten_by_ten, seed=1)
    form = FormState(Wide, namespace={})
    assert form.validate().request is not None  # the form checks in O(parameters)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"seed": -1}, "seed must be 0 or more"),
        ({"rng": "abc"}, "rng must be whole numbers"),
        ({"rng": [1, -2]}, "rng must be 0 or more"),
    ],
)
def test_bad_seeds_are_refused_before_any_run(kwargs, message):
    with pytest.raises(mesa_nb.SweepOptionError, match=message):
        mesa_nb.sweep(Money, {"n": [2]}, **kwargs)


def test_an_open_file_as_parameter_is_refused_with_the_fix(tmp_path):
    def unreadable():
        yield 1.0
        raise OSError("the disk went away")

    with (
        (tmp_path / "f.txt").open("w") as handle,
        pytest.raises(mesa_nb.ParameterError, match=r"mesa_nb\.Fixed\(f\)"),
    ):
        mesa_nb.sweep(Money, {"n": [2], "bonus": handle})
    with pytest.raises(
        mesa_nb.ParameterError, match=r"could not be read as values to sweep \(OSError"
    ):
        mesa_nb.sweep(Money, {"n": [2], "bonus": unreadable()})


def test_the_magic_refuses_bad_names_and_takes_quoted_paths(ipython, tmp_path):
    from IPython.core.error import UsageError

    ipython.user_ns["Money"] = Money
    for line, message in [
        ("Money --seed -1 -q", "seed must be 0 or more"),
        ("Money --out None -q", "must be a Python name"),
        ("Money --out print -q", "hide Python's built-in 'print'"),
        ("Money --client tcp://127.0.0.1:1 -q", "Cannot reach a Dask scheduler"),
    ]:
        with pytest.raises(UsageError, match=message):
            ipython.run_cell(f"%%batchrun {line}\nn = [2]\n")
    sys.modules.pop("this", None)
    with pytest.raises(UsageError, match=r"No model named 'this\.Zen'"):
        ipython.run_cell("%%batchrun this.Zen\nn = [2]\n")
    assert "this" not in sys.modules  # nothing was imported to find that out
    spaced = tmp_path / "my runs"
    ipython.run_cell(f'%%batchrun Money -q -s 2 --seed 3 --store "{spaced}"\nn = [2]\n')
    assert (spaced / "manifest.json").exists()


def test_the_forms_code_is_one_safe_cell(ipython, tmp_path):
    class Under(mesa.Model):
        def __init__(self, _x=1, rate=1.0, rng=None):
            super().__init__(rng=rng)
            self.datacollector = mesa.DataCollector(
                model_reporters={"X": lambda m: _x, "Rate": lambda m: rate}
            )
            self.datacollector.collect(self)

        def step(self):
            self.datacollector.collect(self)

    ipython.user_ns["Under"] = Under
    form = FormState(Under, namespace={})
    form.fields["_x"].mode, form.fields["_x"].list_text = "sweep", "1, 2"
    form.fields["rate"].fixed = float("inf")
    store = tmp_path / "x --seed 999"
    form.options.update(store=str(store), seed="5", max_steps=1)
    request = form.validate().request
    code = form.code("Under", request)
    assert python_code(float("inf")) == "float('inf')"
    ipython.run_cell(code.replace("--out results", "--out under -q"))
    under = ipython.user_ns["under"]
    assert under.metadata["master_seed"] == 5  # not 999: the path stayed a path
    assert under.runs["_x"].tolist() == [1, 2]  # _x is a parameter, not a helper
    assert under.model["Rate"].tolist() == [float("inf")] * 2
    assert (store / "manifest.json").exists()
    form.options.update(store="a\nb")
    assert "one line of text" in form.validate().errors["store"]
    form.options.update(store="", seed="٣")  # a digit, but not an ASCII one
    assert "whole number" in form.validate().errors["seed"]


class LazyCollector(mesa.Model):
    """Creates its DataCollector in its first step, as mesa.batch_run allows."""

    def __init__(self, n: int = 2, rng=None):
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = None

    def step(self):
        if self.datacollector is None:
            self.datacollector = mesa.DataCollector(model_reporters={"N": "n"})
        self.datacollector.collect(self)


def test_a_collector_created_in_the_first_step_is_read(processes):
    result = mesa_nb.sweep(
        LazyCollector, {"n": [2, 3]}, max_steps=3, seed=1, processes=processes
    )
    assert result.n_ok == 2
    assert result.model.groupby("RunId")["N"].last().tolist() == [2, 3]


def test_pyarrow_is_pinned_past_the_unpickling_bug():
    import tomllib
    from pathlib import Path

    from packaging.requirements import Requirement

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    required = project["dependencies"]  # the store is the product's memory
    (spec,) = [Requirement(r) for r in required if r.startswith("pyarrow")]
    assert not spec.specifier.contains("14.0.0") and spec.specifier.contains("14.0.1")


def loky_workers() -> list[psutil.Process]:
    return [
        p
        for p in psutil.Process().children(recursive=True)
        if "LokyProcess" in " ".join(p.cmdline())
    ]


def test_workers_started_by_the_magic_exist_before_the_first_sweep(ipython):
    from mesa_nb.backends import _local_executor

    _local_executor(1).shutdown(wait=True, kill_workers=True)
    assert not loky_workers()
    ipython.run_line_magic("config", "BatchRun.processes = 2")
    try:
        assert len(loky_workers()) == 2  # started, before any %%batchrun
    finally:
        ipython.run_line_magic("config", "BatchRun.processes = 1")


# -- a run that kills its own process at processes=1 (item 12) ------------------------
KILLER = textwrap.dedent(
    """
    import os, sys
    import mesa, mesa_nb

    class Killer(mesa.Model):
        def __init__(self, k=0, rng=None):
            super().__init__(rng=rng)
            self.k = k
            self.datacollector = mesa.DataCollector(model_reporters={"K": "k"})
            self.datacollector.collect(self)

        def step(self):
            if self.k == 2:
                os._exit(3)  # takes the whole process with it
            self.datacollector.collect(self)

    result = mesa_nb.sweep(Killer, {"k": [0, 1, 2, 3]}, max_steps=2, seed=1,
                           store=sys.argv[1])
    print(result.runs["status"].tolist())
    """
)


def test_a_run_that_kills_its_process_is_recorded_crashed_on_resume(tmp_path):
    script, store = tmp_path / "killer.py", tmp_path / "store"
    script.write_text(KILLER)

    def run() -> subprocess.CompletedProcess:
        command = [sys.executable, str(script), str(store)]
        return subprocess.run(command, capture_output=True, text=True, timeout=120)

    assert run().returncode == 3  # the run took the process down
    # once could be a kill from outside (kill -9 of a kernel): it runs again
    assert run().returncode == 3
    third = run()  # twice at the same run: that run is recorded as crashed
    assert third.returncode == 0, third.stderr[-2000:]
    assert third.stdout.strip() == "['ok', 'ok', 'crashed', 'ok']"
    loaded = mesa_nb.load_store(store)
    assert "processes=2" in loaded.failures["error"][0]
