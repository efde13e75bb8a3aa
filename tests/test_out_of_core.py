"""Bigger than memory: workers write the store, results read it lazily."""

from __future__ import annotations

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
import pyarrow.dataset as ds
import pytest
from models import Crashy, Money

import mesa_nb
from benchmarks.out_of_core import Crowd

TESTS = Path(__file__).resolve().parent


def test_a_sweep_kept_out_of_memory_equals_the_one_in_memory(tmp_path, processes):
    kwargs = dict(max_steps=6, data_collection_period=1, iterations=3, seed=4)
    parameters = {"n": [3, 6], "bonus": [0.0, 1.0]}
    stored = mesa_nb.sweep(
        Money,
        parameters,
        processes=processes,
        store=tmp_path / "s",
        in_memory=False,
        **kwargs,
    )
    assert "model" not in vars(stored)  # not read yet
    memory = mesa_nb.sweep(Money, parameters, processes=processes, **kwargs)
    for name in ("model", "agents"):
        pd.testing.assert_frame_equal(getattr(stored, name), getattr(memory, name))
    agents = stored.scan("agents")
    assert agents.count_rows() == len(memory.agents)
    one = agents.to_table(filter=ds.field("RunId") == 5, columns=["Step", "Wealth"])
    assert one.column_names == ["Step", "Wealth"]
    assert one.num_rows == int((memory.agents["RunId"] == 5).sum())
    lazy = mesa_nb.load_store(tmp_path / "s", lazy=True)
    assert "agents" not in vars(lazy)
    pd.testing.assert_frame_equal(lazy.agents, memory.agents)
    counts = mesa_nb.compact(tmp_path / "s")
    assert counts["parts_after"] == 1 < counts["parts_before"]
    pd.testing.assert_frame_equal(
        mesa_nb.load_store(tmp_path / "s").model, memory.model
    )


def test_a_worker_crash_loses_only_its_run(tmp_path):
    result = mesa_nb.sweep(
        Crashy,
        {"crash": ["", "", "exit", ""]},
        max_steps=3,
        processes=2,
        store=tmp_path / "s",
        in_memory=False,
        seed=1,
    )
    assert result.runs["status"].tolist() == ["ok", "ok", "crashed", "ok"]
    assert sorted(set(result.model["RunId"])) == [0, 1, 3]


DRIVER = textwrap.dedent(
    """
    import sys, time
    sys.path.insert(0, {tests!r})
    import mesa_nb
    from test_nothing_lost_models import SlowMoney
    mesa_nb.sweep(SlowMoney, {{"n": list(range(2, 14))}}, iterations=2, max_steps=5,
                  seed=3, processes=2, store=sys.argv[1], in_memory=False)
    """
)


def test_kill_9_of_the_driver_then_resume_gives_the_same_rows(tmp_path):
    from test_nothing_lost_models import SlowMoney

    script, store = tmp_path / "driver.py", tmp_path / "store"
    script.write_text(DRIVER.format(tests=str(TESTS)))
    driver = subprocess.Popen([sys.executable, str(script), str(store)])
    runs = store / "runs"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if runs.is_dir() and len(list(runs.glob("*.parquet"))) >= 2:
            break
        time.sleep(0.05)
    os.kill(driver.pid, signal.SIGKILL)
    driver.wait(timeout=30)
    stored = mesa_nb.load_store(store)
    assert 0 < stored.n_ok < 24
    resumed = mesa_nb.sweep(
        SlowMoney,
        {"n": list(range(2, 14))},
        iterations=2,
        max_steps=5,
        seed=3,
        processes=2,
        store=store,
        in_memory=False,
    )
    assert resumed.metadata["resumed_runs"] == stored.n_ok
    whole = mesa_nb.sweep(
        Money, {"n": list(range(2, 14))}, iterations=2, max_steps=5, seed=3
    )
    pd.testing.assert_frame_equal(resumed.model, whole.model)
    pd.testing.assert_frame_equal(resumed.agents, whole.agents)


@pytest.mark.slow
def test_the_parents_memory_stays_flat_while_millions_of_rows_are_written(tmp_path):
    me = psutil.Process()
    samples: list[int] = []
    done = threading.Event()

    def sample() -> None:
        while not done.is_set():
            samples.append(me.memory_info().rss)
            time.sleep(0.02)

    before = me.memory_info().rss
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    try:
        result = mesa_nb.sweep(
            Crowd,  # the model of benchmark 8
            {"agents": 1500, "rate": 1},
            iterations=24,
            max_steps=80,
            data_collection_period=1,
            processes=2,
            seed=1,
            store=tmp_path / "s",
            in_memory=False,
        )
    finally:
        done.set()
        sampler.join()
    rows = result.scan("agents").count_rows()
    assert rows == 24 * 81 * 1500  # 2.9 million agent rows, written by workers
    growth = (max(samples) - before) / 2**20
    in_memory = rows * 20 / 2**20  # what the agents table alone would take
    assert growth < 40 and growth < in_memory / 2, (growth, in_memory)


def test_showing_a_result_kept_out_of_memory_reads_nothing(tmp_path):
    result = mesa_nb.sweep(
        Money,
        {"n": [3, 4]},
        max_steps=2,
        seed=1,
        store=tmp_path / "s",
        in_memory=False,
    )
    text = repr(result) + result._repr_html_()
    assert "in the store, read when first used" in text
    assert "model" not in vars(result)  # still not read
    assert len(result.model) == 2 and "model" in vars(result)
