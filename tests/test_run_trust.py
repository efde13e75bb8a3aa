"""A research record you can trust: what a sweep records is what happened.

Runs stopped from outside (a kernel shutting down or restarting, the process
exiting, Stop) are cancelled, never crashed; a swept ``seed`` is a parameter
like any other; ``reproducible`` is checked, not assumed; a snapshot never
shows runs without their data; ``batch_run`` keeps each value's type; the
model is built only by its runs; a run's ``sys.exit()``, a string that is not
valid text or a broken progress callback cost that run (or nothing), never
the sweep; a store that fails is reported after the sweep, not in its bar.

Real worker processes, real subprocesses and a real IPython kernel; waits are
on events and conditions, never on the clock.
"""

from __future__ import annotations

import json
import os
import random
import shutil
import subprocess
import sys
import textwrap
import threading
import warnings
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pytest
from models import Money, mesa_batch_run, step_number

import mesa_nb
from mesa_nb import ModelClassError
from mesa_nb.api.engine import run_plan
from mesa_nb.api.live import LiveSweep
from mesa_nb.api.session import prepare, spec_of
from mesa_nb.core.mesa_adapter import MESA_4
from mesa_nb.core.options import BY_NAME, SweepOptions

TESTS = str(Path(__file__).parent)


def same_rows(expected, got):
    """Mesa's rows and ours: the same keys in the same order, the same values
    of the same types."""
    assert len(got) == len(expected)
    for mine, theirs in zip(got, expected, strict=True):
        assert list(mine) == list(theirs)
        for key, value in theirs.items():
            assert mine[key] == value, key
            assert type(mine[key]) is type(value), (key, mine[key], value)


def warned(caught, text):
    return [w for w in caught if text in str(w.message)]


# -- models (importable by worker processes and subprocesses) --------------------------
class Busy(mesa.Model):
    """Computes for a while each step (no sleep)."""

    def __init__(self, k: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.k = k
        self.datacollector = mesa.DataCollector(
            model_reporters={"S": step_number, "R": lambda m: m.random.random()}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        sum(self.random.random() for _ in range(3000))
        self.datacollector.collect(self)


class Seeded(mesa.Model):
    """Mesa's tutorial idiom: the model takes ``seed``."""

    def __init__(self, n: int = 5, seed=None) -> None:
        # Mesa 4's Model takes no ``seed``: the model hands it on as ``rng``.
        super().__init__(**({"rng": seed} if MESA_4 else {"seed": seed}))
        for _ in range(n):
            mesa.Agent(self)
        self.datacollector = mesa.DataCollector(
            model_reporters={"N": lambda m: len(m.agents), "Steps": step_number}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class GlobalRandom(mesa.Model):
    """Draws from the ``random`` module: not reproducible from its seed."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(
            model_reporters={"Draw": lambda m: random.random()}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class GlobalNumpy(mesa.Model):
    """Draws from numpy's global generator: not reproducible from its seed."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.level = np.random.random()
        self.datacollector = mesa.DataCollector(model_reporters={"Level": "level"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class MixedTypes(mesa.Model):
    """Reporters whose values have different types in different runs."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Value": lambda m: 7 if m.n == 2 else 0.0,
                "Half": lambda m: np.float64(m.n) / 2,
                "Count": lambda m: np.int64(m.n),
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class CountsBuilds(mesa.Model):
    """Counts how often it is built in the process named by ``home``."""

    home: int | None = None
    built_at_home = 0

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        if os.getpid() == type(self).home:
            type(self).built_at_home += 1
        self.datacollector = mesa.DataCollector(model_reporters={"S": step_number})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class ExitsInInit(mesa.Model):
    """Kills the process that builds it."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        os._exit(3)


class NoData(mesa.Model):
    """Collects nothing; counts the steps taken in this process."""

    steps_taken = 0

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)

    def step(self) -> None:
        type(self).steps_taken += 1


class LateCollector(mesa.Model):
    """Makes its DataCollector in its first step (mesa.batch_run allows it)."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)

    def step(self) -> None:
        if not hasattr(self, "datacollector"):
            self.datacollector = mesa.DataCollector(model_reporters={"S": step_number})
        self.datacollector.collect(self)


class Bail(BaseException):
    """Not an Exception, not a KeyboardInterrupt."""


class Exits(mesa.Model):
    """Calls sys.exit() (or raises a BaseException) in its second step."""

    def __init__(self, how: str = "", rng=None) -> None:
        super().__init__(rng=rng)
        self.how = how
        self.datacollector = mesa.DataCollector(model_reporters={"S": step_number})
        self.datacollector.collect(self)

    def step(self) -> None:
        if step_number(self) == 2 and self.how == "exit":
            sys.exit("the model had enough")
        if step_number(self) == 2 and self.how == "bail":
            raise Bail("out")
        self.datacollector.collect(self)


class Surrogates(mesa.Model):
    """Reports a string with a lone surrogate (not valid UTF-8)."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = mesa.DataCollector(
            model_reporters={"Name": lambda m: f"agent\ud800{m.n}"},
            agent_reporters={"Label": lambda a: "x\udfff"},
        )
        mesa.Agent(self)
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


# -- 4. a kernel shutting down cancels the runs in flight ----------------------------
#: A background sweep of 12 long runs into a store, started and seen running.
START_IN_BACKGROUND = textwrap.dedent(
    """
    import os, signal, sys, threading
    sys.path.insert(0, {tests!r})
    import psutil
    import mesa_nb
    from test_run_trust import Busy

    seen = threading.Event()

    def on_progress(event):
        if event.record is not None and event.done >= 2:
            seen.set()

    live = mesa_nb.sweep(Busy, {{"k": list(range(12))}}, max_steps=600, seed=1,
                         processes=2, store={store!r}, background=True,
                         on_progress=on_progress)
    seen.wait()  # runs are in flight now
    """
)

KERNEL_LIKE_EXIT = START_IN_BACKGROUND + textwrap.dedent(
    """
    how = {how!r}
    if how == "kernel":
        # What a Jupyter kernel does when it shuts down or restarts: terminate
        # its children (the workers), then exit. Here: until the sweep ended.
        while not live.ended_within(0.05):
            for child in psutil.Process().children(recursive=True):
                try:
                    child.terminate()
                except psutil.NoSuchProcess:
                    pass
    if how == "sigterm":
        os.kill(os.getpid(), signal.SIGTERM)
    sys.exit(0)  # at exit, api.live.stop_all stops what still runs
    """
)


def _resumes(store: Path) -> None:
    """The store holds finished and cancelled runs only; resuming runs the rest."""
    stored = mesa_nb.load_store(store)
    statuses = set(stored.runs["status"])
    assert statuses <= {"ok", "pending"}, stored.failures[["RunId", "error"]]
    assert stored.n_ok >= 2
    again = mesa_nb.sweep(
        Busy, {"k": list(range(12))}, max_steps=600, seed=1, store=store
    )
    assert again.n_ok == 12 and not again.n_failed
    assert again.metadata["resumed_runs"] == stored.n_ok


@pytest.mark.slow
@pytest.mark.parametrize("how", ["kernel", "exit", "sigterm"])
def test_runs_in_flight_when_the_process_goes_are_cancelled_never_crashed(
    tmp_path, how
):
    script = tmp_path / "sweep.py"
    store = tmp_path / "store"
    script.write_text(KERNEL_LIKE_EXIT.format(tests=TESTS, store=str(store), how=how))
    subprocess.run([sys.executable, str(script)], check=False, capture_output=True)
    _resumes(store)


KERNEL_CELL = START_IN_BACKGROUND  # run as one cell of a real kernel


@pytest.mark.slow
def test_restarting_a_real_kernel_during_a_background_sweep_cancels_its_runs(
    tmp_path,
):
    from jupyter_client.manager import start_new_kernel

    store = tmp_path / "store"
    manager, client = start_new_kernel(kernel_name="python3")
    try:
        reply = client.execute_interactive(
            KERNEL_CELL.format(tests=TESTS, store=str(store))
        )
        assert reply["content"]["status"] == "ok"
        manager.restart_kernel(now=False)  # runs are in flight
    finally:
        client.stop_channels()
        manager.shutdown_kernel(now=True)
    _resumes(store)


# -- 8. a swept seed is a parameter like any other ------------------------------------
@pytest.mark.filterwarnings("ignore:The use of the `seed` keyword:FutureWarning")
def test_batch_run_with_mesas_seed_idiom_gives_mesas_rows():
    kwargs = dict(
        parameters={"seed": None, "n": [5, 10]},
        iterations=3,
        max_steps=10,
        number_processes=1,
        display_progress=False,
    )
    expected = mesa_batch_run(Seeded, **kwargs)
    got = mesa_nb.batch_run(Seeded, **kwargs)
    same_rows(expected, got)
    assert list(got.result.runs.columns).count("seed") == 1


@pytest.mark.filterwarnings("ignore:The use of the `seed` keyword:FutureWarning")
def test_a_swept_seed_is_one_column_of_every_table(processes):
    result = mesa_nb.sweep(
        Seeded, {"seed": [1, 2, 3], "n": [4]}, max_steps=3, processes=processes
    )
    for table in (result.runs, result.model, result.failures):
        assert len(set(table.columns)) == len(table.columns), list(table.columns)
    assert result.runs["seed"].tolist() == [1, 2, 3]
    assert result.model.groupby("RunId")["seed"].first().tolist() == [1, 2, 3]
    stats = result.stats("N", by="seed", final=True)
    assert stats["seed"].tolist() == [1, 2, 3] and stats["mean"].tolist() == [4] * 3
    assert result.runs["reproducible"].tolist() == [True] * 3
    assert result.rebuild_model(2).datacollector.model_vars["N"] == [4, 4, 4, 4]


# -- 9. an honest reproducibility check -----------------------------------------------
@pytest.mark.parametrize("model", [GlobalRandom, GlobalNumpy])
def test_a_model_drawing_from_a_global_generator_is_found_out(model, processes):
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mesa_nb.sweep(
            model, {"n": [1, 2, 3]}, max_steps=5, seed=1, processes=processes
        )
    assert result.n_ok == 3
    found = warned(caught, "is not reproducible from its seed")
    assert len(found) == 1, [str(w.message) for w in caught]
    message = str(found[0].message)
    assert "`random` module" in message and "np.random" in message
    assert "networkx" in message and "check_reproducible=False" in message
    assert found[0].filename == __file__  # the model's code, not mesa_nb's
    assert found[0].category is UserWarning
    assert result.runs["reproducible"].tolist() == [False] * 3
    what = result.metadata["reproducibility"]
    assert what.startswith("checked: RunId 0") and "different values" in what


def test_a_seeded_model_passes_the_check_without_a_word(processes):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        result = mesa_nb.sweep(
            Money, {"n": [2, 3]}, iterations=2, max_steps=4, seed=1, processes=processes
        )
    assert result.runs["reproducible"].tolist() == [True] * 4
    what = result.metadata["reproducibility"]
    assert what.startswith("checked: RunId 0") and "the same values" in what


def test_the_check_leaves_the_global_generators_as_they_were():
    random.seed(11)
    np.random.seed(11)
    expected = random.random(), np.random.random()
    random.seed(11)
    np.random.seed(11)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mesa_nb.sweep(Money, {"n": [2]}, max_steps=3, seed=1)  # checked, seeded
    assert (random.random(), np.random.random()) == expected


def test_unseeded_runs_are_not_checked():
    result = mesa_nb.sweep(GlobalRandom, {"n": [1, 2]}, max_steps=2, rng=[None])
    assert result.metadata["reproducibility"].startswith("not checked")
    assert result.runs["reproducible"].isna().all()


@pytest.mark.skipif(
    "check_reproducible" not in BY_NAME, reason="the option is not declared yet"
)
def test_the_check_can_be_turned_off():
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mesa_nb.sweep(
            GlobalRandom, {"n": [1]}, max_steps=2, seed=1, check_reproducible=False
        )
    assert not warned(caught, "not reproducible")
    assert result.metadata["reproducibility"] == "not checked: check_reproducible=False"


# -- 12. snapshots are consistent -----------------------------------------------------
def test_a_snapshot_taken_as_the_sweep_ends_holds_every_run_with_its_data():
    prepared = prepare(
        spec_of(Money, {"n": [2, 3, 4, 5]}, SweepOptions.of(max_steps=3, seed=1))
    )
    built, go_on = threading.Event(), threading.Event()

    def run(**callbacks):
        result = run_plan(prepared.plan, prepared.options, **callbacks)
        built.set()  # the result is built; the sweep has not handed it over yet
        go_on.wait()
        return result

    live = LiveSweep(prepared.plan, run)
    built.wait()
    snapshot = live.snapshot()
    go_on.set()
    final = live.wait()
    assert snapshot.n_ok == 4
    assert sorted(snapshot.model["RunId"].unique()) == [0, 1, 2, 3]
    pd.testing.assert_frame_equal(snapshot.model, final.model)


# -- 13. batch_run keeps each value's own type ----------------------------------------
def test_batch_run_keeps_ints_floats_and_numpy_scalars_as_mesa_does(processes):
    kwargs = dict(parameters={"n": [1, 2, 3]}, max_steps=2, display_progress=False)
    expected = mesa_batch_run(MixedTypes, number_processes=1, **kwargs)
    got = mesa_nb.batch_run(MixedTypes, number_processes=processes, **kwargs)
    same_rows(expected, got)
    assert [row["Value"] for row in got] == [0.0, 7, 0.0]


# -- 15. the model is built by its runs only ------------------------------------------
def test_the_calling_process_builds_no_model_of_a_parallel_sweep():
    CountsBuilds.home, CountsBuilds.built_at_home = os.getpid(), 0
    result = mesa_nb.sweep(CountsBuilds, {"n": [1, 2]}, max_steps=2, processes=2)
    assert result.n_ok == 2
    assert CountsBuilds.built_at_home == 0


def test_a_model_that_kills_its_process_in_init_kills_only_workers(tmp_path):
    script = tmp_path / "sweep.py"
    script.write_text(
        textwrap.dedent(
            f"""
            import json, sys
            sys.path.insert(0, {TESTS!r})
            import mesa_nb
            from test_run_trust import ExitsInInit
            result = mesa_nb.sweep(ExitsInInit, {{"n": [1, 2]}}, processes=2, seed=1)
            print(json.dumps(result.runs["status"].tolist()))
            """
        )
    )
    done = subprocess.run([sys.executable, str(script)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr[-2000:]
    assert json.loads(done.stdout.splitlines()[-1]) == ["crashed", "crashed"]


def test_a_model_without_data_ends_the_sweep_at_its_first_step(tmp_path):
    NoData.steps_taken = 0
    store = tmp_path / "store"
    with pytest.raises(ModelClassError, match=r"self\.datacollector = mesa\."):
        mesa_nb.sweep(NoData, {"n": list(range(20))}, max_steps=500, store=store)
    assert NoData.steps_taken == 1  # not 20 runs x 500 steps
    stored = mesa_nb.load_store(store)
    assert set(stored.runs["status"]) == {"pending"}  # nothing recorded failed


def test_a_model_without_data_is_refused_by_its_workers():
    with pytest.raises(ModelClassError, match="no `datacollector` \\(nor"):
        mesa_nb.sweep(NoData, {"n": list(range(8))}, max_steps=50, processes=2)


def test_a_collector_made_in_the_first_step_is_found(processes):
    result = mesa_nb.sweep(
        LateCollector,
        {"n": [1, 2]},
        max_steps=3,
        seed=1,
        processes=processes,
        data_collection_period=1,
    )
    assert result.n_ok == 2
    assert result.model["S"].tolist() == [1, 2, 3, 1, 2, 3]


# -- 16. a run's SystemExit is that run's failure -------------------------------------
def test_sys_exit_in_a_run_fails_that_run_only(processes):
    result = mesa_nb.sweep(
        Exits,
        {"how": ["", "exit", "bail", ""]},
        max_steps=4,
        seed=1,
        processes=processes,
    )
    assert result.runs["status"].tolist() == ["ok", "failed", "failed", "ok"]
    errors = result.failures["error"].tolist()
    assert errors == ["SystemExit: the model had enough", "Bail: out"]
    assert result.model["RunId"].unique().tolist() == [0, 3]


# -- 17. a string that is not valid text ----------------------------------------------
def test_a_reporter_string_with_a_lone_surrogate_keeps_its_run(tmp_path, processes):
    store = tmp_path / "store"
    result = mesa_nb.sweep(
        Surrogates, {"n": [1, 2]}, max_steps=2, seed=1, processes=processes, store=store
    )
    assert result.n_ok == 2 and result.metadata["store_error"] is None
    assert result.model["Name"].tolist() == ["agent\\ud8001", "agent\\ud8002"]
    assert set(result.agents["Label"]) == {"x\\udfff"}
    pd.testing.assert_frame_equal(mesa_nb.load_store(store).model, result.model)


# -- 23. a broken progress callback ---------------------------------------------------
def test_a_progress_callback_that_raises_costs_nothing_but_its_calls(processes):
    calls = []

    def fussy_bar(event):
        calls.append(event)
        if len(calls) == 2:
            raise ValueError("the bar broke")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mesa_nb.sweep(
            Money,
            {"n": [1, 2, 3, 4]},
            max_steps=2,
            seed=1,
            processes=processes,
            on_progress=fussy_bar,
        )
    assert result.n_ok == 4 and not result.interrupted
    assert len(calls) == 2  # not called again once it raised
    found = warned(caught, "on_progress callback")
    assert len(found) == 1
    assert "fussy_bar()" in str(found[0].message)
    assert "ValueError: the bar broke" in str(found[0].message)
    assert found[0].filename == __file__ and found[0].category is RuntimeWarning


# -- a store that fails mid-sweep -----------------------------------------------------
def test_a_store_that_fails_mid_sweep_is_reported_after_the_sweep(tmp_path):
    store = tmp_path / "store"

    def break_the_store(event):
        if event.record is not None and (store / "runs").is_dir():
            shutil.rmtree(store / "runs")
            (store / "runs").write_text("not a folder any more")

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = mesa_nb.sweep(
            Money,
            {"n": [1, 2, 3]},
            max_steps=2,
            seed=1,
            store=store,
            on_progress=break_the_store,
        )
    assert result.n_ok == 3 and result.model["RunId"].nunique() == 3
    assert result.metadata["store_error"]
    assert not [w for w in caught if "store" in str(w.message).lower()]
