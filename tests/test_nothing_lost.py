"""Failures, crashes, interrupts and kills lose no finished run (real processes)."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import pandas as pd
import psutil
import pytest
from models import Crashy, Fragile, ModelOnly, Money, step_number
from test_nothing_lost_models import SlowMoney

import mesa_nb
from mesa_nb import StoreError, load_store

TESTS = Path(__file__).resolve().parent
COMPARED_RUN_COLUMNS = ["RunId", "iteration", "seed", "n", "bonus", "status", "steps"]


def test_an_exception_anywhere_in_a_run_fails_only_that_run(processes):
    def bad_reporter_value(rng):
        raise KeyError("no value for you")

    result = mesa_nb.sweep(
        Fragile,
        [
            {"fail": False, "fail_init": False},
            {"fail": True, "fail_init": False},
            {"fail": False, "fail_init": True},
            {"fail": False, "fail_init": False},
        ],
        max_steps=4,
        processes=processes,
    )
    assert result.runs["status"].tolist() == ["ok", "failed", "failed", "ok"]
    errors = result.failures.set_index("RunId")["error"]
    assert errors[1] == "ZeroDivisionError: boom at step 2"
    assert errors[2] == "RuntimeError: broken at init"
    assert "in __init__" in result.failures.set_index("RunId")["traceback"][2]
    sampled = mesa_nb.sweep(
        ModelOnly,
        {"a": bad_reporter_value},
        iterations=2,
        max_steps=1,
        processes=processes,
    )
    assert sampled.runs["status"].tolist() == ["failed", "failed"]
    assert sampled.failures["error"].str.startswith("KeyError").all()


@pytest.mark.parametrize("how", ["exit", "sigkill", "segfault"])
def test_a_run_that_kills_its_worker_is_the_only_one_lost(how):
    points = [{"crash": ""}] * 5 + [{"crash": how}] + [{"crash": ""}] * 6
    result = mesa_nb.sweep(Crashy, points, max_steps=4, processes=2, seed=1)
    status = result.runs["status"].tolist()
    assert status == ["ok"] * 5 + ["crashed"] + ["ok"] * 6
    failure = result.failures.iloc[0]
    assert failure["RunId"] == 5 and failure["error"].startswith("worker process died")
    expected_code = {"exit": "EXIT(3)", "sigkill": "SIGKILL", "segfault": "SIGSEGV"}[
        how
    ]
    assert expected_code in failure["error"]
    assert sorted(result.model["RunId"].unique()) == [0, 1, 2, 3, 4, 6, 7, 8, 9, 10, 11]
    # the executor is usable for the next sweep
    after = mesa_nb.sweep(Crashy, {"crash": ["", ""]}, max_steps=3, processes=2)
    assert after.n_ok == 2


def _interrupt_main_thread_after(seconds: float) -> None:
    main = threading.main_thread().ident
    threading.Timer(seconds, signal.pthread_kill, args=(main, signal.SIGINT)).start()


def _busy_children() -> list[psutil.Process]:
    children = psutil.Process().children(recursive=True)
    for child in children:
        with contextlib.suppress(psutil.NoSuchProcess):
            child.cpu_percent(None)
    time.sleep(0.5)
    busy = []
    for child in children:
        try:
            if child.cpu_percent(None) > 20:
                busy.append(child)
        except psutil.NoSuchProcess:
            pass
    return busy


def test_an_interrupt_stops_promptly_and_keeps_finished_runs(processes):
    # 40 runs of ~0.6 s each; the interrupt comes after about 2.5 s
    if processes > 1:
        mesa_nb.sweep(Crashy, {"crash": [""] * 2}, max_steps=1, processes=processes)
    _interrupt_main_thread_after(2.5)
    start = time.perf_counter()
    result = mesa_nb.sweep(
        Crashy, {"work": [0.15] * 40}, max_steps=4, processes=processes, seed=2
    )
    elapsed = time.perf_counter() - start
    assert result.interrupted
    assert elapsed < 2.5 + 1.5, f"took {elapsed:.1f} s to stop"
    assert 1 <= result.n_ok < 40
    assert result.n_ok + result.n_cancelled == 40
    finished = set(result.runs.loc[result.runs["status"] == "ok", "RunId"])
    assert set(result.model["RunId"]) == finished
    assert result.model.groupby("RunId")["Step"].max().eq(4).all()
    assert not _busy_children()
    # and the next sweep runs normally
    assert mesa_nb.sweep(Crashy, {"crash": [""]}, max_steps=2, processes=processes).n_ok


SWEEP = dict(
    parameters={"n": [3, 5, 7], "bonus": [0.0, 0.5]},
    iterations=4,
    max_steps=30,
    data_collection_period=5,
    seed=99,
)

DRIVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import mesa_nb
    from test_nothing_lost_models import SlowMoney

    mesa_nb.sweep(SlowMoney, {parameters!r}, iterations={iterations},
                  max_steps={max_steps}, seed={seed}, processes=2, store={store!r},
                  data_collection_period={data_collection_period})
    print("FINISHED")
    """
)


def _stored_runs(store: Path) -> int:
    parts = list((store / "runs").glob("*.parquet")) if store.exists() else []
    return sum(len(pd.read_parquet(p)) for p in parts)


def test_a_killed_driver_resumes_from_the_store_to_the_uninterrupted_result(tmp_path):
    store = tmp_path / "store"
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS), store=str(store), **SWEEP))
    driver = subprocess.Popen(
        [sys.executable, str(script)], stdout=subprocess.PIPE, start_new_session=True
    )
    deadline = time.monotonic() + 120
    while _stored_runs(store) < 6 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(driver.pid, signal.SIGKILL)  # the kernel dies, workers with it
    driver.wait(timeout=30)
    stored = _stored_runs(store)
    assert 6 <= stored < 24, "kill the driver mid-sweep"

    partial = load_store(store)
    assert partial.n_ok == stored
    assert (partial.runs["status"] == "pending").sum() == 24 - stored

    events = []
    resumed = mesa_nb.sweep(
        SlowMoney, store=store, processes=2, on_progress=events.append, **SWEEP
    )
    assert resumed.metadata["resumed_runs"] == stored
    assert len(events) - 1 == 24 - stored  # only the missing runs ran
    assert events[0].done == stored

    reference = mesa_nb.sweep(SlowMoney, processes=1, **SWEEP)
    for name in ("model", "agents"):
        pd.testing.assert_frame_equal(getattr(resumed, name), getattr(reference, name))
    pd.testing.assert_frame_equal(
        resumed.runs[COMPARED_RUN_COLUMNS], reference.runs[COMPARED_RUN_COLUMNS]
    )
    reloaded = load_store(store, model_cls=SlowMoney)
    pd.testing.assert_frame_equal(reloaded.agents, reference.agents)
    assert step_number(reloaded.rebuild_model(3)) == 30


def test_a_store_of_another_sweep_is_refused(tmp_path):
    mesa_nb.sweep(Money, {"n": [1, 2]}, max_steps=2, seed=1, store=tmp_path)
    with pytest.raises(StoreError, match="differs in: points"):
        mesa_nb.sweep(Money, {"n": [1, 3]}, max_steps=2, seed=1, store=tmp_path)
    with pytest.raises(StoreError, match="differs in: max_steps"):
        mesa_nb.sweep(Money, {"n": [1, 2]}, max_steps=3, seed=1, store=tmp_path)
    with pytest.raises(StoreError, match="differs in: seeding"):
        mesa_nb.sweep(Money, {"n": [1, 2]}, max_steps=2, seed=2, store=tmp_path)
    other = tmp_path / "not-a-store"
    other.mkdir()
    (other / "notes.txt").write_text("mine")
    with pytest.raises(StoreError, match="not empty"):
        mesa_nb.sweep(Money, {"n": 1}, store=other)


def test_without_a_seed_a_resume_reuses_the_stored_seeds(tmp_path):
    first = mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=3, store=tmp_path)
    again = mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=3, store=tmp_path)
    assert again.metadata["resumed_runs"] == 2
    assert again.runs["seed"].tolist() == first.runs["seed"].tolist()


def test_failures_and_odd_values_are_stored_without_pickle(tmp_path):
    result = mesa_nb.sweep(
        Fragile, {"fail": [False, True]}, max_steps=3, seed=4, store=tmp_path
    )
    loaded = load_store(tmp_path)
    assert loaded.runs["status"].tolist() == ["ok", "failed"]
    assert loaded.failures["traceback"].iloc[0] == result.failures["traceback"].iloc[0]
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert {p.suffix for p in files} == {".json", ".parquet"}
    for path in files:
        assert b"cloudpickle" not in path.read_bytes()


MEMORY_SCRIPT = textwrap.dedent(
    """
    import tracemalloc
    import mesa_nb
    from mesa_nb.examples import BoltzmannWealth

    mesa_nb.sweep(BoltzmannWealth, {"n": [5]}, max_steps=1, processes=2)  # warm up
    tracemalloc.start()
    result = mesa_nb.sweep(BoltzmannWealth, {"n": [100, 200]}, iterations=6,
                           max_steps=100, data_collection_period=1, processes=2,
                           seed=1)
    _, peak = tracemalloc.get_traced_memory()
    tables = [result.runs, result.model, result.agents]
    final = sum(int(t.memory_usage(deep=True).sum()) for t in tables)
    column = max(int(c.nbytes) for c in result.agents._mgr.arrays)
    print(len(result.agents), final, column, peak)
    """
)


def test_the_parent_holds_little_more_than_the_final_tables():
    done = subprocess.run(
        [sys.executable, "-c", MEMORY_SCRIPT],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    rows, final, column, peak = map(int, done.stdout.split())
    assert rows == 6 * (100 + 200) * 101
    # the final tables, one column being joined, and a small constant
    assert peak <= final + column + 4 * 2**20, (peak / 2**20, final / 2**20)


def test_a_cancel_event_from_another_thread_stops_the_sweep(processes):
    cancel = threading.Event()
    threading.Timer(1.5, cancel.set).start()
    start = time.perf_counter()
    result = mesa_nb.sweep(
        Crashy, {"work": [0.1] * 40}, max_steps=5, processes=processes, cancel=cancel
    )
    assert time.perf_counter() - start < 1.5 + 1.0
    assert result.interrupted and result.n_ok + result.n_cancelled == 40
    assert set(result.model["RunId"]) == set(
        result.runs.loc[result.runs["status"] == "ok", "RunId"]
    )
