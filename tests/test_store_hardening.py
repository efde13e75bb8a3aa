"""The results store under faults: concurrent sweeps, odd values and paths,
damaged files, changed code, runs stored again (real files, real processes)."""

from __future__ import annotations

import importlib
import json
import linecache
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import time
import uuid
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from models import Money, step_number
from test_nothing_lost_models import SlowMoney

import mesa_nb
from mesa_nb import StoreError, load_store
from mesa_nb.api import plan as make_plan
from mesa_nb.core.records import RunRecord, Status
from mesa_nb.store import RunStore
from mesa_nb.store import atomic as atomic_module
from mesa_nb.store.encoding import dumps_tagged, loads_tagged

TESTS = Path(__file__).resolve().parent
SLOW = dict(parameters={"n": [3, 5, 7]}, iterations=4, max_steps=30)


def one_line(exc: pytest.ExceptionInfo) -> str:
    message = str(exc.value)
    assert "\n" not in message, message
    return message


def frames_equal(left: mesa_nb.SweepResult, right: mesa_nb.SweepResult) -> None:
    for name in ("model", "agents"):
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name))
    columns = ["RunId", "iteration", "seed", "status", "steps"]
    pd.testing.assert_frame_equal(left.runs[columns], right.runs[columns])


# -- 1. two sweeps, one store ----------------------------------------------------------
DRIVER = textwrap.dedent(
    """
    import sys
    sys.path.insert(0, {tests!r})
    import mesa_nb
    from test_nothing_lost_models import SlowMoney

    mesa_nb.sweep(SlowMoney, {parameters!r}, iterations={iterations},
                  max_steps={max_steps}, processes=1, store=sys.argv[1])
    print("FINISHED")
    """
)


def _driver(tmp_path: Path) -> Path:
    script = tmp_path / "driver.py"
    script.write_text(DRIVER.format(tests=str(TESTS), **SLOW))
    return script


def _start(script: Path, store: Path) -> subprocess.Popen:
    return subprocess.Popen(
        [sys.executable, str(script), str(store)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )


def _stored(store: Path) -> int:
    parts = list((store / "runs").glob("*.parquet")) if store.exists() else []
    return sum(pq.read_metadata(p).num_rows for p in parts)


def test_two_sweeps_into_one_store_at_once_one_is_refused_nothing_mixed(tmp_path):
    script, store = _driver(tmp_path), tmp_path / "store"
    # two real processes, started together, no seed: each draws its own
    sweeps = [_start(script, store), _start(script, store)]
    outputs = [p.communicate(timeout=180) for p in sweeps]
    finished = [i for i, (out, _) in enumerate(outputs) if "FINISHED" in out]
    assert len(finished) == 1, outputs
    winner, loser = sweeps[finished[0]], sweeps[1 - finished[0]]
    error = outputs[1 - finished[0]][1].strip().splitlines()[-1]
    assert loser.returncode != 0
    assert error.startswith("mesa_nb.core.errors.StoreError: ")
    assert f"is being written by another sweep (pid {winner.pid}" in error
    assert error.endswith("wait for it to finish, or use another store directory.")
    assert "FileNotFoundError" not in outputs[1 - finished[0]][1]

    # the store holds the winner's sweep only, every run under its seed
    seed = RunStore(store).stored_master_seed()
    stored = load_store(store)
    assert stored.n_ok == 12
    reference = mesa_nb.sweep(Money, seed=seed, **SLOW)  # SlowMoney minus the sleep
    frames_equal(stored, reference)
    assert not list(store.rglob("*.tmp"))

    # in one process too: a second writer is refused while the first holds it
    plan = make_plan(SlowMoney, store=store, **SLOW)
    with RunStore(store) as first:
        first.open(plan, {})
        with pytest.raises(StoreError) as refused:
            RunStore(store).open(plan, {})
        assert f"pid {os.getpid()} (this process)" in one_line(refused)
    with RunStore(store) as again:
        again.open(plan, {})  # close() released it

    # kill -9 of the writer releases the lock: the sweep resumes at once
    killed_store = tmp_path / "killed"
    killed = _start(script, killed_store)
    deadline = time.monotonic() + 120
    while _stored(killed_store) < 2 and time.monotonic() < deadline:
        time.sleep(0.05)
    os.killpg(killed.pid, signal.SIGKILL)
    killed.communicate(timeout=30)
    assert 2 <= _stored(killed_store) < 12
    seed = RunStore(killed_store).stored_master_seed()
    resumed = mesa_nb.sweep(SlowMoney, store=killed_store, **SLOW)
    assert resumed.metadata["resumed_runs"] >= 2
    frames_equal(resumed, mesa_nb.sweep(Money, seed=seed, **SLOW))


def test_every_file_goes_through_a_unique_fsynced_temporary(tmp_path, monkeypatch):
    events: list[tuple] = []
    real_replace, real_fsync = os.replace, os.fsync

    def replace(src, dst):
        events.append(("replace", Path(src), Path(dst)))
        real_replace(src, dst)

    def fsync(fd):
        events.append(("fsync", fd))
        real_fsync(fd)

    monkeypatch.setattr(atomic_module.os, "replace", replace)
    monkeypatch.setattr(atomic_module.os, "fsync", fsync)
    mesa_nb.sweep(Money, {"n": [2, 3, 4]}, max_steps=2, seed=1, store=tmp_path / "s")
    replaces = [e for e in events if e[0] == "replace"]
    stale = tmp_path / "s" / "model" / ".0-dead.parquet.0123.tmp"  # a killed writer's
    stale.write_bytes(b"half")
    sources = [src for _, src, _ in replaces]
    assert (
        len(set(sources)) == len(sources) >= 7
    )  # manifest + 3 x (model, agents, runs)
    for index, event in enumerate(events):
        if event[0] == "replace":
            _, src, dst = event
            assert src.parent == dst.parent and src.name.endswith(".tmp")
            assert events[index - 1][0] == "fsync"  # the file, before its rename
            assert events[index + 1][0] == "fsync"  # its directory, after
    mesa_nb.sweep(Money, {"n": [2, 3, 4]}, max_steps=2, seed=1, store=tmp_path / "s")
    assert not stale.exists()  # removed by the next writer, under the lock


# -- 2. integers beyond 64 bits --------------------------------------------------------
class HugeInts(mesa.Model):
    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Huge": lambda m: 2**64 + step_number(m) * m.n,
                "Mixed": lambda m: 2**70 if step_number(m) % 2 else step_number(m),
                "Negative": lambda m: -(2**63) - 1 - step_number(m),
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


def test_a_reporter_int_beyond_64_bits_is_stored_and_comes_back_exact(tmp_path):
    kwargs = dict(max_steps=3, data_collection_period=1, seed=1)
    in_memory = mesa_nb.sweep(HugeInts, {"n": [1, 2]}, **kwargs)
    stored = mesa_nb.sweep(HugeInts, {"n": [1, 2]}, store=tmp_path, **kwargs)
    assert stored.n_ok == 2 and stored.metadata.get("store_error") is None
    pd.testing.assert_frame_equal(stored.model, in_memory.model)
    loaded = load_store(tmp_path)
    pd.testing.assert_frame_equal(loaded.model, in_memory.model)
    assert loaded.model["Huge"].tolist() == [
        2**64 + s * n for n in (1, 2) for s in range(4)
    ]
    assert {type(v) for v in loaded.model["Mixed"]} == {int}


# -- 3. store paths --------------------------------------------------------------------
def test_store_paths_are_local_directories_tilde_colon_and_files(tmp_path, monkeypatch):
    home, work = tmp_path / "home", tmp_path / "work"
    home.mkdir()
    work.mkdir()
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.chdir(work)
    kwargs = dict(max_steps=2, seed=1)

    tilde = mesa_nb.sweep(Money, {"n": [2, 3]}, store="~/x", **kwargs)
    assert tilde.metadata["store"] == str(home / "x")
    assert (home / "x" / "manifest.json").exists()
    assert sorted((home / "x" / "model").glob("*.parquet"))
    assert not (work / "~").exists()
    assert RunStore("~/x").path == home / "x"
    assert load_store("~/x").n_ok == 2

    colon = mesa_nb.sweep(Money, {"n": [2, 3]}, store="a:b/c", **kwargs)
    again = mesa_nb.sweep(Money, {"n": [2, 3]}, store="a:b/c", **kwargs)
    assert (work / "a:b" / "c" / "manifest.json").exists()
    assert again.metadata["resumed_runs"] == 2
    pd.testing.assert_frame_equal(load_store("a:b/c").model, colon.model)

    (work / "notes.txt").write_text("mine")
    with pytest.raises(StoreError) as refused:
        mesa_nb.sweep(Money, {"n": [2]}, store="notes.txt", **kwargs)
    assert "is a file, not a directory: give a new or empty directory" in one_line(
        refused
    )
    assert (work / "notes.txt").read_text() == "mine"


# -- 4. damaged, missing, truncated parts; a damaged manifest; old stores --------------
def _batches(store: Path) -> list[dict]:
    """Each batch: its runs part, RunIds and data parts (as the store lists them)."""
    batches = []
    for path in sorted((store / "runs").glob("*.parquet")):
        table = pq.read_table(path)
        listing = json.loads(table.schema.metadata[b"mesa_nb_batch"])
        batches.append(
            {
                "runs": path,
                "ids": table.column("RunId").to_pylist(),
                "files": {f["name"]: store / f["path"] for f in listing["files"]},
            }
        )
    return batches


def test_damaged_or_missing_parts_are_found_and_their_runs_run_again(tmp_path):
    kwargs = dict(parameters={"n": [2, 3, 4, 5, 6, 7]}, max_steps=3, seed=5)
    reference = mesa_nb.sweep(Money, **kwargs)
    store = tmp_path / "s"
    mesa_nb.sweep(Money, store=store, **kwargs)
    batches = _batches(store)
    assert len(batches) >= 4
    missing, truncated, flipped = batches[0], batches[1], batches[-1]
    missing["files"]["model"].unlink()
    data = truncated["files"]["agents"].read_bytes()
    truncated["files"]["agents"].write_bytes(data[: len(data) // 2])
    data = bytearray(flipped["files"]["model"].read_bytes())
    data[len(data) // 3] ^= 0x10
    flipped["files"]["model"].write_bytes(bytes(data))
    lost = sorted(missing["ids"] + truncated["ids"] + flipped["ids"])

    problems = RunStore(store).verify()
    assert len(problems) == 3
    assert "model/" in problems[0] and "is missing" in problems[0]
    assert "is truncated" in problems[1]
    assert "is damaged" in problems[2] or "is truncated or damaged" in problems[2]
    assert all("a resume runs them again" in p for p in problems)

    with pytest.warns(RuntimeWarning, match="3 damaged or missing part"):
        partial = load_store(store)
    pending = partial.runs.loc[partial.runs["status"] == "pending", "RunId"]
    assert sorted(pending) == lost
    assert not set(partial.model["RunId"]) & set(lost)

    events = []
    with pytest.warns(RuntimeWarning, match="damaged or missing"):
        resumed = mesa_nb.sweep(Money, store=store, on_progress=events.append, **kwargs)
    assert sorted(e.record.run_id for e in events[1:]) == lost  # only those ran
    frames_equal(resumed, reference)
    later = RunStore(store).verify()  # the old damage is still there...
    assert len(later) == 3 and all(p.endswith("nothing is lost.") for p in later)
    reader = RunStore(store)
    records, *_ = reader.read()  # ... but costs no run any more
    assert reader.problems == [] and len(records) == 6
    frames_equal(load_store(store), reference)

    # a damaged commit point: its runs are read as not run, and run again
    runs_part = _batches(store)[2]
    data = runs_part["runs"].read_bytes()
    runs_part["runs"].write_bytes(data[:-20])
    (problem,) = [p for p in RunStore(store).verify() if "cannot be read" in p]
    assert runs_part["runs"].name in problem
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        status = load_store(store).runs["status"]
    assert (status == "pending").sum() == len(runs_part["ids"])
    with pytest.warns(RuntimeWarning, match="cannot be read"):
        frames_equal(mesa_nb.sweep(Money, store=store, **kwargs), reference)

    # a damaged manifest is refused, naming the key, before anything runs
    manifest = json.loads((store / "manifest.json").read_text())
    del manifest["definition"]["max_steps"]
    (store / "manifest.json").write_text(json.dumps(manifest))
    for attempt in (
        lambda: load_store(store),
        lambda: mesa_nb.sweep(Money, store=store, **kwargs),
    ):
        with pytest.raises(StoreError) as refused:
            attempt()
        message = one_line(refused)
        assert "definition.max_steps is missing" in message
        assert "damaged" in message and "use a new store directory" in message
    manifest["definition"]["max_steps"] = "3"
    (store / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match=r"definition\.max_steps should be an integer"):
        load_store(store)


def _make_old(store: Path) -> None:
    """Rewrite a store as mesa_nb wrote it before checksums: random part
    names, pandas-written parts with plain JSON, no fingerprint."""
    for runs in (store / "runs").glob("*.parquet"):
        old = uuid.uuid4().hex[:16]
        frame = pq.read_table(runs).to_pandas()
        frame["drawn"] = [json.dumps(loads_tagged(d)) for d in frame["drawn"]]
        frame["part"] = old
        frame.to_parquet(store / "runs" / f"{old}.parquet", index=False)
        runs.unlink()
        for table in ("model", "agents"):
            part = store / table / runs.name
            pq.read_table(part).to_pandas().to_parquet(
                store / table / f"{old}.parquet", index=False
            )
            part.unlink()
    manifest = json.loads((store / "manifest.json").read_text())
    manifest["format"] = "mesa_nb-store/1"
    del manifest["definition"]["point_types"], manifest["metadata"]["model_fingerprint"]
    (store / "manifest.json").write_text(json.dumps(manifest))
    (store / "lock.json").unlink()


def test_a_store_written_before_checksums_still_loads_and_resumes(tmp_path):
    kwargs = dict(max_steps=3, seed=5)
    reference = mesa_nb.sweep(Money, {"n": [2, 3, 4]}, **kwargs)
    mesa_nb.sweep(Money, {"n": [2, 3, 4]}, store=tmp_path, **kwargs)
    _make_old(tmp_path)
    assert RunStore(tmp_path).verify() == []
    frames_equal(load_store(tmp_path), reference)
    resumed = mesa_nb.sweep(Money, {"n": [2, 3, 4]}, store=tmp_path, **kwargs)
    assert resumed.metadata["resumed_runs"] == 3
    frames_equal(resumed, reference)


# -- 5. table names --------------------------------------------------------------------
def test_table_names_become_one_safe_path_component_each(tmp_path):
    outside = tmp_path / "outside"
    names = [str(outside / "abs"), "a/b", "../x", ".", "..", "%41", "", "ünï code"]

    class Tables(mesa.Model):
        def __init__(self, n: int = 1, rng=None) -> None:
            super().__init__(rng=rng)
            self.datacollector = mesa.DataCollector(
                model_reporters={"n": lambda m: n},
                tables={name: ["v"] for name in names},
            )
            self.datacollector.collect(self)

        def step(self) -> None:
            for i, name in enumerate(names):
                self.datacollector.add_table_row(
                    name, {"v": i * 10 + step_number(self)}
                )
            self.datacollector.collect(self)

    store = tmp_path / "store"
    result = mesa_nb.sweep(Tables, {"n": [1, 2]}, max_steps=2, seed=1, store=store)
    assert sorted(result.tables) == sorted(names)
    assert not outside.exists()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["store"]
    folders = sorted(p.name for p in (store / "tables").iterdir())
    assert len(folders) == len(names)
    assert all("/" not in f and not f.startswith(".") for f in folders)
    loaded = load_store(store)
    assert sorted(loaded.tables) == sorted(names)
    for name in names:
        pd.testing.assert_frame_equal(loaded.tables[name], result.tables[name])


# -- 6. the model's code, value types and objects decide resuming ----------------------
MODEL_SOURCE = textwrap.dedent(
    """
    import mesa

    class Grows(mesa.Model):
        def __init__(self, n=1, rng=None):
            super().__init__(rng=rng)
            self.n = n
            self.datacollector = mesa.DataCollector(
                model_reporters={{"Value": lambda m: m.n * m.t}}
            )
            self.t = 0  # its own step count: Mesa 4 has no model.steps
            self.datacollector.collect(self)

        def step(self):
            self.t += 1
            self.n += {increment}
            self.datacollector.collect(self)
    """
)


def _grows(folder: Path, increment: int) -> type:
    path = folder / "grows_model.py"
    path.write_text(MODEL_SOURCE.format(increment=increment))
    linecache.checkcache(str(path))
    importlib.invalidate_caches()
    module = sys.modules.get("grows_model")
    module = (
        importlib.reload(module) if module else importlib.import_module("grows_model")
    )
    return module.Grows


class Settings:
    """A parameter value without a repr of its own (its repr has an address)."""

    def __init__(self, rate: float) -> None:
        self.rate = rate


class Configured(mesa.Model):
    def __init__(self, settings: Settings | None = None, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(
            model_reporters={"Rate": lambda m: settings.rate * n}
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


def test_changed_code_value_types_and_objects_decide_resuming(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "dont_write_bytecode", True)  # no stale .pyc
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "grows_model", raising=False)
    store = tmp_path / "store"
    kwargs = dict(max_steps=3, seed=2, store=store)
    mesa_nb.sweep(_grows(tmp_path, 1), {"n": [1, 2]}, **kwargs)
    assert mesa_nb.sweep(_grows(tmp_path, 1), {"n": [1, 2]}, **kwargs).n_ok == 2

    changed = _grows(tmp_path, 2)
    with pytest.raises(StoreError) as refused:
        mesa_nb.sweep(changed, {"n": [1, 2]}, **kwargs)
    message = one_line(refused)
    assert "the code of grows_model.Grows" in message
    assert message.endswith(
        "Pass force=True (%%batchrun --force) to resume anyway, or use a new store."
    )
    forced = RunStore(store)
    forced.open(make_plan(changed, {"n": [1, 2]}, **kwargs), {}, force=True)
    forced.close()
    metadata = json.loads((store / "manifest.json").read_text())["metadata"]
    assert len(metadata["earlier_fingerprints"]) == 1
    assert mesa_nb.sweep(changed, {"n": [1, 2]}, **kwargs).metadata["resumed_runs"] == 2

    # 1.0 is not 1: the types of parameter values are part of the definition
    typed = tmp_path / "typed"
    mesa_nb.sweep(Money, {"n": [1, 2]}, max_steps=2, seed=1, store=typed)
    with pytest.raises(StoreError) as refused:
        mesa_nb.sweep(Money, {"n": [1.0, 2.0]}, max_steps=2, seed=1, store=typed)
    assert "differs in: point_types (n: int in the store, float now)" in one_line(
        refused
    )

    # an object is described by its class and public state, not its address
    objects = tmp_path / "objects"
    first = mesa_nb.sweep(
        Configured,
        {"settings": Settings(0.5), "n": [1, 2]},
        max_steps=1,
        seed=1,
        store=objects,
    )
    again = mesa_nb.sweep(
        Configured,
        {"settings": Settings(0.5), "n": [1, 2]},
        max_steps=1,
        seed=1,
        store=objects,
    )
    assert again.metadata["resumed_runs"] == 2
    same = ["RunId", "n", "Step", "Rate"]
    pd.testing.assert_frame_equal(again.model[same], first.model[same])
    assert "0x" not in (objects / "manifest.json").read_text()
    with pytest.raises(StoreError, match="differs in: points"):
        mesa_nb.sweep(
            Configured,
            {"settings": Settings(0.7), "n": [1, 2]},
            max_steps=1,
            seed=1,
            store=objects,
        )


def test_a_notebook_class_is_fingerprinted_by_its_methods(ipython, tmp_path):
    cell = textwrap.dedent(
        """
        import mesa, mesa_nb

        class CellModel(mesa.Model):
            def __init__(self, n=1, rng=None):
                super().__init__(rng=rng)
                self.datacollector = mesa.DataCollector(
                    model_reporters={{"n": lambda m: {value}}}
                )
                self.datacollector.collect(self)

            def step(self):
                self.datacollector.collect(self)

        result = mesa_nb.sweep(CellModel, {{"n": [1, 2]}}, max_steps=1, seed=1,
                               store={store!r})
        """
    )
    store = str(tmp_path / "nb")
    ipython.run_cell(cell.format(value=1, store=store))
    ipython.run_cell(cell.format(value=1, store=store))  # defined again, same code
    assert ipython.user_ns["result"].metadata["resumed_runs"] == 2
    with pytest.raises(StoreError, match=r"the code of __main__\.CellModel"):
        ipython.run_cell(cell.format(value=2, store=store))


# -- 7. values come back as they were --------------------------------------------------
ODD_VALUES = {
    "list": lambda m: [step_number(m), [step_number(m)]],
    "tuple": lambda m: (step_number(m), "a"),
    "dict": lambda m: {"a": step_number(m), 1: (2,), (3, 4): None},
    "set": lambda m: {step_number(m), "x"},
    "frozenset": lambda m: frozenset([step_number(m)]),
    "complex": lambda m: 1j * step_number(m) + 0.5,
    "bytes": lambda m: bytes([step_number(m), 255]),
    "numpy": lambda m: np.float32(step_number(m)) if step_number(m) % 2 else "even",
    "array": lambda m: np.arange(step_number(m), dtype=np.int8).reshape(-1, 1),
    "mixed": lambda m: [None, 1, 2.5, "s", True][step_number(m) % 5],
    "nan_or_text": lambda m: float("nan") if step_number(m) % 2 else "text",
    "nested": lambda m: {"k": [(1, {2.0}), frozenset({b"x"})], "c": 1 + 2j},
    "plain": lambda m: step_number(m) * 1.5,
    "text": lambda m: f"step {step_number(m)}",
}


class OddValues(mesa.Model):
    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = mesa.DataCollector(model_reporters=ODD_VALUES)
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


def test_reporter_values_come_back_as_they_were(tmp_path):
    kwargs = dict(max_steps=6, data_collection_period=1, seed=3)
    in_memory = mesa_nb.sweep(OddValues, {"n": [1, 2]}, **kwargs)
    mesa_nb.sweep(OddValues, {"n": [1, 2]}, store=tmp_path, **kwargs)
    resumed = mesa_nb.sweep(OddValues, {"n": [1, 2]}, store=tmp_path, **kwargs)
    assert resumed.metadata["resumed_runs"] == 2
    for result in (resumed, load_store(tmp_path)):
        pd.testing.assert_frame_equal(result.model, in_memory.model)
        for column in ODD_VALUES:
            for got, want in zip(
                result.model[column], in_memory.model[column], strict=True
            ):
                assert type(got) is type(want), (column, got, want)
    row = resumed.model.iloc[3]
    assert row["tuple"] == (3, "a") and row["list"] == [3, [3]]
    assert row["dict"] == {"a": 3, 1: (2,), (3, 4): None}
    assert row["complex"] == 3j + 0.5 and row["numpy"].dtype == np.float32

    part = next((tmp_path / "model").glob("*.parquet"))
    table = pq.read_table(part)
    tagged = json.loads(table.schema.metadata[b"mesa_nb_tagged"])
    assert tagged["encoding"] == "mesa_nb-tagged-json/1"
    assert set(tagged["columns"]) == set(ODD_VALUES) - {"plain", "text"}
    assert str(table.schema.field("plain").type) == "double"
    assert str(table.schema.field("text").type) == "string"


@pytest.mark.parametrize(
    "value",
    [
        None,
        True,
        2**100,
        -0.0,
        float("inf"),
        "",
        [1, (2,)],
        (),
        {},
        {1: {2: 3}},
        {"$tuple": [1]},
        set(),
        frozenset({1}),
        1j,
        b"\x00",
        bytearray(b"ab"),
        np.int64(7),
        np.bool_(True),
        np.datetime64("2020-01-02T03:04", "m"),
        np.array([[1.5, np.nan]]),
        np.array(["a", "bc"]),
        np.array([1, "x"], object),
    ],
    ids=repr,
)
def test_the_tagged_encoding_is_lossless(value):
    back = loads_tagged(dumps_tagged(value))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    elif isinstance(value, np.generic):
        assert back.dtype == value.dtype and back == value
    else:
        assert back == value and repr(back) == repr(value)


# -- 8. a run stored again later wins --------------------------------------------------
class SometimesBroken(mesa.Model):
    broken = True

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = mesa.DataCollector(model_reporters={"N": lambda m: m.n})
        self.datacollector.collect(self)

    def step(self) -> None:
        if self.n == 2 and SometimesBroken.broken:
            raise RuntimeError("not fixed yet")
        self.datacollector.collect(self)


def test_a_run_stored_again_later_replaces_its_old_record(tmp_path, monkeypatch):
    store, again = tmp_path / "store", tmp_path / "again"
    kwargs = dict(max_steps=2, seed=1)
    first = mesa_nb.sweep(SometimesBroken, {"n": [1, 2, 3]}, store=store, **kwargs)
    assert first.runs["status"].tolist() == ["ok", "failed", "ok"]
    names = [p.name for p in sorted((store / "runs").glob("*.parquet"))]
    ids = [pq.read_table(store / "runs" / n).column("RunId")[0].as_py() for n in names]
    assert ids == [0, 1, 2]  # part names sort in write order

    # the model is fixed and run 1 is run again: its new batch lands after
    monkeypatch.setattr(SometimesBroken, "broken", False)
    fixed = mesa_nb.sweep(SometimesBroken, {"n": [1, 2, 3]}, store=again, **kwargs)
    for batch in _batches(again):
        if batch["ids"] == [1]:
            for path in [batch["runs"], *batch["files"].values()]:
                shutil.copy(path, store / path.relative_to(again))
    loaded = load_store(store)
    assert loaded.runs["status"].tolist() == ["ok", "ok", "ok"]
    pd.testing.assert_frame_equal(loaded.model, fixed.model)
    resumed = mesa_nb.sweep(SometimesBroken, {"n": [1, 2, 3]}, store=store, **kwargs)
    assert resumed.metadata["resumed_runs"] == 3
    pd.testing.assert_frame_equal(resumed.model, fixed.model)

    # the same through the store's own API: the later record wins
    writer = RunStore(store)
    writer.write_records([RunRecord(2, Status.FAILED, 1, 0.1, error="later")])
    records, *_ = writer.read()
    assert {r.run_id: r.error for r in records}[2] == "later"


def test_loading_a_store_writes_nothing_only_its_next_sweep_takes_the_crash_note(
    tmp_path,
):
    store = tmp_path / "store"
    kwargs = dict(max_steps=2, seed=1)
    mesa_nb.sweep(Money, {"n": [2, 3, 4]}, store=store, **kwargs)
    # as a process that died while running run 1 (processes=1) leaves it
    (store / "running.json").write_text(json.dumps({"run_id": 1, "pid": 0}))

    def contents() -> dict[str, bytes]:
        return {
            p.relative_to(store).as_posix(): p.read_bytes()
            for p in sorted(store.rglob("*"))
            if p.is_file() and p.name != "lock.json"
        }

    before = contents()
    for lazy in (False, True):
        assert load_store(store, lazy=lazy).n_ok == 3
        assert contents() == before  # no note cleared, no death counted

    resumed = mesa_nb.sweep(Money, {"n": [2, 3, 4]}, store=store, **kwargs)
    assert resumed.metadata["resumed_runs"] == 3
    assert not (store / "running.json").exists()
    assert json.loads((store / "deaths.json").read_text()) == {"1": 1}
