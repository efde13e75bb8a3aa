"""A store is a record to trust: reading writes nothing, a killed compaction
never doubles a glob, scans read what a read reads, crafted stores are
refused, values come back as they were, a full disk cancels runs (issue
"A research record you can trust", items 3, 5, 6, 20, 24, 25).

Real files and real processes; faults are injected around the real code
(a child process whose file operations stop at a chosen one, a disk that
refuses a write), never by a test-only switch in mesa_nb.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import decimal
import errno
import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
import threading
import warnings
import zoneinfo
from pathlib import Path

import mesa
import numpy as np
import pandas as pd
import pyarrow.dataset as ds
import pytest
from models import Money, Typed, step_number

import mesa_nb
from mesa_nb import StoreError, load_store
from mesa_nb.api import plan as make_plan
from mesa_nb.core.records import Batch, BatchOutcome, RunRecord, Status
from mesa_nb.store import RunStore
from mesa_nb.store import atomic as atomic_module
from mesa_nb.store.encoding import (
    POINT_VALUES,
    decode_points,
    dumps_tagged,
    loads_tagged,
)

TESTS = Path(__file__).resolve().parent
PARIS = zoneinfo.ZoneInfo("Europe/Paris")


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root`` (and ``root``): kind, size, mtime, inode and
    content hash. Equal snapshots: nothing was written, created or removed."""
    entries = {}
    for path in [root, *sorted(root.rglob("*"))]:
        info = path.lstat()
        digest = None
        if path.is_file() and not path.is_symlink():
            digest = hashlib.sha256(path.read_bytes()).hexdigest()
        entries[path.relative_to(root).as_posix()] = (
            info.st_mode,
            info.st_size,
            info.st_mtime_ns,
            info.st_ino,
            digest,
        )
    return entries


def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "mesa_nb", *args],
        capture_output=True,
        text=True,
        check=False,
    )


def frames_equal(left: mesa_nb.SweepResult, right: mesa_nb.SweepResult) -> None:
    for name in ("model", "agents"):
        pd.testing.assert_frame_equal(getattr(left, name), getattr(right, name))
    columns = ["RunId", "iteration", "seed", "status", "steps"]
    pd.testing.assert_frame_equal(left.runs[columns], right.runs[columns])


# -- 3. reading is read-only; crash notes belong to the lock holder --------------------
BLOCKING_MODEL = textwrap.dedent(
    """
    import sys

    import mesa

    BLOCK_AT = None  # the driver sets it: the run with this n waits on stdin


    class Blocking(mesa.Model):
        def __init__(self, n=2, rng=None):
            super().__init__(rng=rng)
            self.n = n
            self.wealth = list(range(n))
            self.t = 0  # its own step count: Mesa 4 has no model.steps
            self.datacollector = mesa.DataCollector(
                model_reporters={"Total": lambda m: sum(m.wealth)}
            )
            self.datacollector.collect(self)

        def step(self):
            self.t += 1
            if self.n == BLOCK_AT and self.t == 1:
                print("BLOCKED", flush=True)
                sys.stdin.readline()
            self.wealth = [w + 1 for w in self.wealth]
            self.datacollector.collect(self)
    """
)
BLOCKING_DRIVER = textwrap.dedent(
    """
    import sys

    sys.path.insert(0, sys.argv[2])
    import blocking_model
    import mesa_nb

    blocking_model.BLOCK_AT = 4
    mesa_nb.sweep(blocking_model.Blocking, {"n": [2, 3, 4]}, max_steps=3, seed=1,
                  processes=1, store=sys.argv[1])
    """
)


def test_a_status_during_a_live_sweep_writes_nothing_and_a_kill_costs_no_run(
    tmp_path,
):
    """The issue's story: status (and every other read) while a sweep runs,
    then an outside kill. The live sweep's note is left alone, the kill is
    counted once, no innocent run is stored as crashed."""
    (tmp_path / "blocking_model.py").write_text(BLOCKING_MODEL)
    (tmp_path / "driver.py").write_text(BLOCKING_DRIVER)
    store = tmp_path / "store"
    sweep = subprocess.Popen(
        [sys.executable, str(tmp_path / "driver.py"), str(store), str(tmp_path)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        start_new_session=True,
    )
    try:
        assert sweep.stdout.readline().strip() == "BLOCKED"  # run 2 is running
        running = json.loads((store / "running.json").read_text())
        assert running["run_id"] == 2 and running["pid"] == sweep.pid
        before = snapshot(store)

        status = run_cli("status", str(store))
        assert status.returncode == 0, status.stderr
        exported = run_cli("export", str(store), "--to", str(tmp_path / "out"))
        assert exported.returncode == 0, exported.stderr
        loaded = load_store(store)
        assert loaded.runs["status"].tolist().count("pending") >= 1
        lazy = load_store(store, lazy=True)
        assert len(lazy.model) == len(loaded.model)
        assert lazy.scan("model").count_rows() == len(loaded.model)
        reader = RunStore(store)
        assert reader.verify() == []
        assert reader.committed_files("frames", "model")
        # writing is the lock holder's: refused while the sweep holds it
        for write in (
            lambda: reader.write_records([RunRecord(2, Status.CRASHED)]),
            lambda: reader.died_running(),
            lambda: reader.mark_running(0),
        ):
            with pytest.raises(StoreError):
                write()
        assert snapshot(store) == before  # not a byte, not an mtime changed
    finally:
        os.killpg(sweep.pid, signal.SIGKILL)  # the outside kill
        sweep.wait()
        sweep.stdout.close()
        sweep.stdin.close()

    assert json.loads((store / "running.json").read_text())["run_id"] == 2
    # the same sweep again; its stdin at its end, run 2 does not wait this time
    again = subprocess.run(
        [sys.executable, str(tmp_path / "driver.py"), str(store), str(tmp_path)],
        stdin=subprocess.DEVNULL,
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert load_store(store).runs["status"].tolist() == ["ok", "ok", "ok"]
    assert json.loads((store / "deaths.json").read_text()) == {"2": 1}


def test_only_the_lock_holder_keeps_crash_notes_or_writes(tmp_path):
    store = tmp_path / "store"
    kwargs = dict(max_steps=2, seed=1)
    mesa_nb.sweep(Money, {"n": [2, 3, 4]}, store=store, **kwargs)
    (store / "running.json").write_text(json.dumps({"run_id": 1, "pid": 0}))
    before = snapshot(store)
    outsider = RunStore(store)
    with pytest.raises(StoreError, match="Only the sweep that holds the lock"):
        outsider.died_running()
    with pytest.raises(StoreError, match="Only the sweep that holds the lock"):
        outsider.mark_running(None)
    assert snapshot(store) == before  # the note is still there, no death counted

    plan = make_plan(Money, {"n": [2, 3, 4]}, **kwargs)
    with RunStore(store) as owner:
        owner.open(plan, {})
        assert owner.locked
        assert owner.died_running() == (1, 1)
        owner.mark_running(2)
        assert json.loads((store / "running.json").read_text())["run_id"] == 2
        with pytest.raises(StoreError, match="being written by another sweep"):
            RunStore(store).write_records([RunRecord(0, Status.FAILED)])
    assert not outsider.locked


def _store_with_leftovers(tmp_path: Path) -> tuple[Path, mesa_nb.SweepResult]:
    """A finished store holding what a killed sweep, writer and compaction
    leave: a crash note, a temporary, an uncommitted part, staged parts."""
    store = tmp_path / "store"
    result = mesa_nb.sweep(Money, {"n": [2, 3, 4]}, max_steps=2, seed=1, store=store)
    (store / "running.json").write_text(json.dumps({"run_id": 1, "pid": 0}))
    part = next((store / "agents").glob("*.parquet"))
    (store / "agents" / f".{part.name}.0123.tmp").write_bytes(b"half")
    shutil.copy(part, store / "agents" / "99999999999999999999-deadbeef.parquet")
    staged = store / "compacting" / "99999999999999999998-cafecafe" / "agents"
    staged.mkdir(parents=True)
    shutil.copy(part, staged / "99999999999999999998-cafecafe.parquet")
    return store, result


READ_EVERYTHING = textwrap.dedent(
    """
    import sys

    import mesa_nb
    from mesa_nb.cli import main
    from mesa_nb.store import RunStore

    store, out = sys.argv[1], sys.argv[2]
    eager = mesa_nb.load_store(store)
    lazy = mesa_nb.load_store(store, lazy=True)
    assert len(lazy.agents) == len(eager.agents) == eager.scan("agents").count_rows()
    assert lazy.scan("model").count_rows() == len(eager.model)
    assert RunStore(store).verify() == []
    assert main(["status", store]) == 0
    assert main(["export", store, "--to", out]) == 0
    print("READ", eager.n_ok)
    """
)


def test_reading_a_store_never_writes_or_tidies_it(tmp_path):
    store, result = _store_with_leftovers(tmp_path)
    script = tmp_path / "read.py"
    script.write_text(READ_EVERYTHING)
    before = snapshot(store)
    done = subprocess.run(
        [sys.executable, str(script), str(store), str(tmp_path / "out")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "READ 3" in done.stdout
    frames_equal(load_store(store), result)
    assert snapshot(store) == before

    # the next sweep holds the lock: it tidies, and takes the crash note
    mesa_nb.sweep(Money, {"n": [2, 3, 4]}, max_steps=2, seed=1, store=store)
    assert not (store / "compacting").exists()
    assert not (store / "running.json").exists()
    names = [p.name for p in (store / "agents").iterdir()]
    assert not [n for n in names if n.startswith(".") or n.startswith("9999")]


@pytest.fixture
def read_only_mounts(tmp_path: Path) -> None:
    """Skip unless this machine can bind-mount a folder read-only for a child
    (a private mount namespace: needs ``unshare`` and the right to mount)."""
    if shutil.which("unshare") is None or shutil.which("mount") is None:
        pytest.skip("no unshare or mount here")
    done = subprocess.run(
        ["unshare", "-m", "sh", "-c", f'mount --bind -o ro "{tmp_path}" "{tmp_path}"'],
        capture_output=True,
        check=False,
    )
    if done.returncode != 0:
        pytest.skip("cannot mount read-only here")


def test_a_read_only_store_can_be_loaded_scanned_exported_and_shown(
    tmp_path, read_only_mounts
):
    store, _ = _store_with_leftovers(tmp_path)
    script = tmp_path / "read.py"
    script.write_text(READ_EVERYTHING)
    shell = (
        'mount --bind -o ro "$1" "$1" && ! touch "$1/.probe" 2>/dev/null '
        '&& exec "$2" "$3" "$1" "$4"'
    )
    out = tmp_path / "out"
    done = subprocess.run(
        [
            "unshare",
            "-m",
            "sh",
            "-c",
            shell,
            "sh",
            str(store),
            sys.executable,
            *map(str, (script, out)),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "READ 3" in done.stdout


# -- 5. a compaction killed at any moment ----------------------------------------------
COMPACT_DRIVER = textwrap.dedent(
    """
    import os
    import sys

    import pyarrow.dataset  # noqa: F401 - loaded before the faults are armed
    import pyarrow.parquet  # noqa: F401

    from mesa_nb.cli import main

    store, stop_at = sys.argv[1], int(sys.argv[2])
    calls = 0


    def counted(real):
        def call(*args, **kwargs):
            global calls
            calls += 1
            if calls == stop_at:
                os._exit(9)  # killed just before this file operation
            return real(*args, **kwargs)

        return call


    for name in ("replace", "link", "unlink", "rmdir"):
        setattr(os, name, counted(getattr(os, name)))
    code = main(["compact", store])
    print("CALLS", calls, flush=True)
    sys.exit(code)
    """
)
#: Each data folder of the Typed store, and the key of its rows.
GLOBS = {
    "model": ["RunId", "Step"],
    "agenttypes": ["RunId", "Step", "AgentID"],
    "tables/events": ["RunId", "step"],
}


def _globbed(store: Path) -> dict[str, pd.DataFrame]:
    """What ``<folder>/*.parquet`` reads (as DuckDB or Polars would)."""
    frames = {}
    for folder in GLOBS:
        files = sorted(str(p) for p in (store / folder).glob("*.parquet"))
        frames[folder] = (
            ds.dataset(files, format="parquet").to_table().to_pandas()
            if files
            else pd.DataFrame(columns=GLOBS[folder])
        )
    return frames


def _compact_in_child(
    driver: Path, store: Path, stop_at: int
) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, str(driver), str(store), str(stop_at)],
        capture_output=True,
        text=True,
        check=False,
    )


@pytest.mark.slow
def test_a_compaction_killed_at_any_file_operation_never_doubles_a_glob(tmp_path):
    kwargs = dict(parameters={"birds": [1, 2], "fish": [1]}, max_steps=3, seed=2)
    pristine = tmp_path / "pristine"
    reference = mesa_nb.sweep(Typed, store=pristine, **kwargs)
    expected = {folder: len(frame) for folder, frame in _globbed(pristine).items()}
    assert expected["model"] == len(reference.model)
    assert len(list((pristine / "runs").glob("*.parquet"))) >= 2
    driver = tmp_path / "compact.py"
    driver.write_text(COMPACT_DRIVER)

    whole = tmp_path / "whole"
    shutil.copytree(pristine, whole)
    done = _compact_in_child(driver, whole, 0)
    assert done.returncode == 0, done.stderr
    calls = int(done.stdout.split("CALLS")[1])
    assert calls > 10

    for stop_at in range(1, calls + 1):
        store = tmp_path / f"stopped-{stop_at}"
        shutil.copytree(pristine, store)
        killed = _compact_in_child(driver, store, stop_at)
        assert killed.returncode == 9, (stop_at, killed.stderr)
        for folder, frame in _globbed(store).items():  # fewer rows, never twice
            assert len(frame) <= expected[folder], (stop_at, folder)
            assert not frame.duplicated(GLOBS[folder]).any(), (stop_at, folder)
        with warnings.catch_warnings():
            warnings.simplefilter("error", RuntimeWarning)  # nothing damaged, lost
            loaded = load_store(store)
        frames_equal(loaded, reference)

        # the next lock holder finishes (or undoes) it: a compact or a sweep
        if stop_at % 2:
            mesa_nb.compact(store)
        else:
            resumed = mesa_nb.sweep(Typed, store=store, **kwargs)
            assert resumed.metadata["resumed_runs"] == len(reference.runs)
        assert not (store / "compacting").exists(), stop_at
        globbed = _globbed(store)
        for folder, frame in globbed.items():
            assert len(frame) == expected[folder], (stop_at, folder)
        frames_equal(load_store(store), reference)
        shutil.rmtree(store)


def test_a_compacted_store_is_one_batch_a_glob_reads_once(tmp_path):
    kwargs = dict(parameters={"birds": [1, 2, 3], "fish": [1, 2]}, max_steps=3, seed=2)
    store = tmp_path / "store"
    reference = mesa_nb.sweep(Typed, store=store, **kwargs)
    run = run_cli("compact", str(store))
    assert run.returncode == 0, run.stderr
    assert len(list((store / "runs").glob("*.parquet"))) == 1
    for folder, frame in _globbed(store).items():
        assert len(list((store / folder).glob("*.parquet"))) == 1
        assert not frame.duplicated(GLOBS[folder]).any()
    assert len(_globbed(store)["model"]) == len(reference.model)
    assert not (store / "compacting").exists()
    frames_equal(load_store(store), reference)


# -- 6. scans read the rows a read reads -----------------------------------------------
def _parts(store: Path, folder: str) -> list[Path]:
    return sorted((store / folder).glob("*.parquet"))


def test_a_scan_lists_only_current_checked_parts_after_damage_and_re_runs(tmp_path):
    kwargs = dict(parameters={"n": [2, 3, 4, 5, 6, 7]}, max_steps=3, seed=5)
    reference = mesa_nb.sweep(Money, **kwargs)
    store = tmp_path / "s"
    mesa_nb.sweep(Money, store=store, **kwargs)
    agents = _parts(store, "agents")
    assert len(agents) >= 3
    data = agents[1].read_bytes()
    agents[1].write_bytes(data[: len(data) // 2])  # truncated

    with pytest.warns(RuntimeWarning, match="damaged or missing"):
        partial = load_store(store)
    with pytest.warns(RuntimeWarning, match="is truncated"):
        scanned = partial.scan("agents")
    assert scanned.count_rows() == len(partial.agents) < len(reference.agents)
    reader = RunStore(store)
    listed = reader.committed_files("frames", "agents")
    assert agents[1] not in listed and "is truncated" in reader.problems[0]

    with pytest.warns(RuntimeWarning, match="damaged or missing"):
        mesa_nb.sweep(Money, store=store, **kwargs)  # runs that batch again
    resumed = load_store(store)
    table = resumed.scan("agents").to_table().to_pandas()
    assert len(table) == len(reference.agents)  # not the superseded rows too
    keys = ["RunId", "Step", "AgentID"]
    got = table.sort_values(keys, ignore_index=True)[[*keys, "Wealth"]]
    want = reference.agents.sort_values(keys, ignore_index=True)[[*keys, "Wealth"]]
    pd.testing.assert_frame_equal(got, want, check_dtype=False)
    listed = RunStore(store).committed_files("frames", "agents")
    assert agents[1] not in listed and len(listed) == len(set(listed))
    assert resumed.scan("model").count_rows() == len(reference.model)

    # a part damaged in place (same size, other bytes) is left out too
    model = RunStore(store).committed_files("frames", "model")[-1]
    flipped = bytearray(model.read_bytes())
    flipped[len(flipped) // 3] ^= 0x10
    model.write_bytes(bytes(flipped))
    with pytest.warns(RuntimeWarning, match="damaged"):
        after = load_store(store)
    with pytest.warns(RuntimeWarning, match="is damaged"):
        assert after.scan("model").count_rows() == len(after.model)


def test_a_scan_leaves_out_the_rows_of_runs_stored_again_later(tmp_path):
    """A batch whose runs are partly stored again later: its file stays
    listed, the later rows of those runs win, as in a read."""
    store = RunStore(tmp_path / "s")

    def batch(rows: dict[int, float], status: Status = Status.OK) -> BatchOutcome:
        ids = np.repeat(list(rows), 2)
        chunk = {
            "RunId": ids.astype(np.int64),
            "Step": np.tile([0, 1], len(rows)).astype(np.int64),
            "Total": np.repeat(list(rows.values()), 2).astype(float),
        }
        records = [RunRecord(i, status, 1, 0.1) for i in rows]
        return BatchOutcome(records, Batch({("frames", "model"): [chunk]}))

    store.write(batch({0: 1.0, 1: 1.0}))
    store.write(batch({1: 2.0}))  # run 1 stored again: its newer rows win
    records, data = store.read()
    assert sorted(r.run_id for r in records) == [0, 1]
    read = pd.concat(pd.DataFrame(c) for c in data.of("frames", "model"))
    read = read.sort_values(["RunId", "Step"], ignore_index=True)
    scanned = store.scan("model").to_table().to_pandas()
    scanned = scanned.sort_values(["RunId", "Step"], ignore_index=True)
    assert scanned["Total"].tolist() == [1.0, 1.0, 2.0, 2.0]
    pd.testing.assert_frame_equal(scanned, read, check_dtype=False)
    assert len(store.committed_files("frames", "model")) == 2


# -- 20. crafted stores ----------------------------------------------------------------
def _crafted(tmp_path: Path) -> Path:
    store = tmp_path / "store"
    mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=2, seed=1, store=store)
    return store


def _edit_manifest(store: Path, change) -> None:
    manifest = json.loads((store / "manifest.json").read_text())
    change(manifest["definition"])
    (store / "manifest.json").write_text(json.dumps(manifest))


CRAFTED_MANIFESTS = {
    "a billion iterations": (
        lambda d: d.update(iterations=10**9),
        "definition.iterations is 1000000000",
    ),
    "more runs than planned": (
        lambda d: d.update(iterations=10**7 + 1),
        "more than the 20,000,000",
    ),
    "a 5000-digit seed": (
        lambda d: d["seeding"].update(master_seed="7" * 5000),
        "master_seed has 5,000 digits",
    ),
    "a seed of other digits": (
        lambda d: d["seeding"].update(master_seed="١٢٣"),
        "master_seed should be a string of digits",
    ),
    "a period of 0": (
        lambda d: d.update(data_collection_period=0),
        "data_collection_period is 0",
    ),
}


@pytest.mark.parametrize("crafted", list(CRAFTED_MANIFESTS))
def test_a_crafted_manifest_is_refused_naming_the_problem_and_the_fix(
    tmp_path, crafted
):
    change, problem = CRAFTED_MANIFESTS[crafted]
    store = _crafted(tmp_path)
    _edit_manifest(store, change)
    before = snapshot(store)
    for attempt in (
        lambda: load_store(store),
        lambda: load_store(store, lazy=True),
        lambda: mesa_nb.sweep(Money, {"n": [2, 3]}, max_steps=2, store=store),
    ):
        with pytest.raises(StoreError) as refused:
            attempt()
        message = str(refused.value)
        assert problem in message, message
        assert "restore manifest.json from a backup or use a new store" in message
    shown = run_cli("status", str(store))
    assert shown.returncode == 2 and problem in shown.stderr
    assert "Traceback" not in shown.stderr
    assert snapshot(store) == before


def _outside_copy(tmp_path: Path, part: Path) -> Path:
    outside = tmp_path / "elsewhere" / part.name
    outside.parent.mkdir(exist_ok=True)
    shutil.copy(part, outside)
    return outside


LINKED_PARTS = {
    "an agents part linked to /dev/zero": ("agents", lambda t, p: Path("/dev/zero")),
    "an agents part linked to its copy elsewhere": ("agents", _outside_copy),
    "a runs part linked to its copy elsewhere": ("runs", _outside_copy),
}


@pytest.mark.parametrize("linked", list(LINKED_PARTS))
def test_a_part_that_is_a_link_is_refused_not_read(tmp_path, linked):
    folder, target = LINKED_PARTS[linked]
    store = _crafted(tmp_path)
    part = _parts(store, folder)[0]
    to = target(tmp_path, part)
    part.unlink()
    part.symlink_to(to)
    for attempt in (
        lambda: load_store(store),
        lambda: load_store(store, lazy=True).scan("agents"),
        lambda: load_store(store, lazy=True).agents,
    ):
        with pytest.raises(StoreError) as refused:
            attempt()
        message = str(refused.value)
        assert f"{folder}/{part.name} is a symbolic link (to {to})" in message
        assert "Replace the link with a copy of its file, or delete it" in message
    (problem,) = RunStore(store).verify()
    assert "symbolic link" in problem


def test_a_part_reached_through_a_linked_folder_outside_the_store_is_refused(tmp_path):
    store = _crafted(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.move(store / "agents", elsewhere)
    (store / "agents").symlink_to(elsewhere)
    with pytest.raises(StoreError, match="lies outside the store") as refused:
        load_store(store)
    assert "Copy that folder into the store in place of the link" in str(refused.value)


def test_a_device_or_pipe_in_place_of_a_part_is_refused(tmp_path):
    store = _crafted(tmp_path)
    part = _parts(store, "model")[0]
    part.unlink()
    os.mkfifo(part)  # reading it would wait forever
    with pytest.raises(StoreError, match="is not a regular file"):
        load_store(store)


# -- 24. values and parameters come back as they were ----------------------------------
@pytest.mark.parametrize(
    "value",
    [
        pd.Timestamp("2020-01-02 03:04:05.123456789", tz="Europe/Paris"),
        pd.Timestamp("2024-03-31 03:30", tz="UTC"),
        pd.Timestamp(np.datetime64("2020-01-02T03:04:05", "s")),
        pd.Timestamp("2021-06-01 12:00", tz="dateutil/Europe/Paris"),
        pd.Timedelta("1 day 3ns"),
        pd.NaT,
        dt.datetime(2020, 1, 2, tzinfo=PARIS),
        dt.datetime(2021, 10, 31, 2, 30, fold=1, tzinfo=PARIS),  # the second 2:30
        dt.datetime(2021, 3, 28, 2, 30, tzinfo=PARIS),  # a wall time that never was
        dt.datetime(2020, 1, 1, tzinfo=dt.timezone(dt.timedelta(hours=5.5), "IST")),
        dt.datetime(2020, 1, 1, tzinfo=dt.UTC),
        dt.datetime(2020, 1, 1, fold=1),
        dt.time(3, 4, tzinfo=PARIS),
        decimal.Decimal("1.10"),
        1 + 2j,
        (1, (2.5, "x")),
        np.arange(3),
        {"when": (dt.date(2020, 1, 1), pd.Timestamp("2020-01-01", tz="Asia/Tokyo"))},
    ],
    ids=repr,
)
def test_the_tagged_encoding_keeps_zones_timestamps_and_exact_values(value):
    back = loads_tagged(dumps_tagged(value))
    assert type(back) is type(value)
    if isinstance(value, np.ndarray):
        assert back.dtype == value.dtype
        np.testing.assert_array_equal(back, value)
    else:
        assert repr(back) == repr(value)
        assert back == value or value is pd.NaT


def test_an_older_stores_datetime_text_is_still_read():
    assert loads_tagged('{"$datetime":"2020-01-02T03:04:05+01:00"}') == dt.datetime(
        2020, 1, 2, 3, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=1))
    )


class Clock(mesa.Model):
    """Reports Timestamps with a time zone, across a change of clocks."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.n = n
        start = pd.Timestamp("2024-03-31 01:30", tz="Europe/Paris")
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "when": lambda m: (
                    start + pd.Timedelta(hours=step_number(m), nanoseconds=m.n)
                ),
                "zone": lambda m: dt.datetime(2024, 1, m.n, tzinfo=PARIS),
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


def test_reported_timestamps_come_back_from_the_store_with_their_zone(tmp_path):
    kwargs = dict(max_steps=2, data_collection_period=1, seed=1)
    in_memory = mesa_nb.sweep(Clock, {"n": [1, 2]}, **kwargs)
    mesa_nb.sweep(Clock, {"n": [1, 2]}, store=tmp_path, **kwargs)
    loaded = load_store(tmp_path)
    pd.testing.assert_frame_equal(loaded.model, in_memory.model)
    assert str(loaded.model["when"].dtype) == "datetime64[ns, Europe/Paris]"


class Fixed(mesa.Model):
    def __init__(self, n=2, d=None, c=None, t=None, a=None, tup=None, rng=None):
        super().__init__(rng=rng)
        self.n = n
        self.datacollector = mesa.DataCollector(model_reporters={"N": "n"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


FIXED = {
    "n": [2, 3],
    "d": decimal.Decimal("1.10"),
    "c": 1 + 2j,
    "t": dt.datetime(2020, 1, 1, tzinfo=PARIS),
    "a": [np.arange(3)],
    "tup": [(1, 2)],
}


def test_a_new_store_keeps_its_fixed_parameters_exactly(tmp_path):
    result = mesa_nb.sweep(Fixed, FIXED, max_steps=1, seed=1, store=tmp_path)
    points = decode_points(RunStore(tmp_path).manifest()["metadata"][POINT_VALUES])
    assert len(points) == 2
    for name in ("d", "c", "t", "tup"):
        assert repr(points[0][name]) == repr(FIXED[name] if name != "tup" else (1, 2))
    np.testing.assert_array_equal(points[1]["a"], np.arange(3))
    assert [p["n"] for p in points] == result.runs["n"].tolist()


def test_a_loaded_store_gives_its_fixed_parameters_as_they_were(tmp_path):
    result = mesa_nb.sweep(Fixed, FIXED, max_steps=1, seed=1, store=tmp_path)
    loaded = load_store(tmp_path)
    for name in ("d", "c", "t", "a", "tup"):
        for got, want in zip(loaded.runs[name], result.runs[name], strict=True):
            assert type(got) is type(want) and repr(got) == repr(want), name


# -- 25. a full disk cancels runs, a resume runs them ----------------------------------
def _disk_refuses(monkeypatch, code: int, times: int) -> list[Path]:
    """The next ``times`` writes of an agents part fail with ``code``, as a
    full (or read-only, or failing) disk would; the real write around it."""
    real = atomic_module.AtomicFiles.write
    refused: list[Path] = []
    lock = threading.Lock()

    def write(self, path: Path, data: bytes) -> None:
        with lock:
            refuse = path.parent.name == "agents" and len(refused) < times
            if refuse:
                refused.append(path)
        if refuse:
            raise OSError(code, os.strerror(code), str(path))
        real(self, path, data)

    monkeypatch.setattr(atomic_module.AtomicFiles, "write", write)
    return refused


@pytest.mark.parametrize("code", ["ENOSPC", "EDQUOT", "EROFS", "EIO"])
@pytest.mark.parametrize("where", ["in-process", "threads"])
def test_runs_the_disk_could_not_take_are_cancelled_and_resumed(
    tmp_path, monkeypatch, code, where
):
    kwargs = dict(parameters={"n": [2, 3, 4, 5, 6]}, max_steps=3, seed=9)
    reference = mesa_nb.sweep(Money, **kwargs)
    store = tmp_path / "s"
    number = getattr(errno, code)
    refused = _disk_refuses(monkeypatch, number, times=2)
    with cf.ThreadPoolExecutor(2) as threads:
        # in-process: run_inline; threads: the pool's path, workers in this process
        run = dict(processes=1) if where == "in-process" else dict(executor=threads)
        first = mesa_nb.sweep(Money, store=store, in_memory=False, **run, **kwargs)
    assert len(refused) == 2
    statuses = first.runs["status"]
    assert set(statuses) <= {"ok", "cancelled"} and (statuses == "cancelled").any()
    cancelled = set(first.runs.loc[statuses == "cancelled", "RunId"])
    for error in first.runs.loc[statuses == "cancelled", "error"]:
        assert "disk refused its data" in error and os.strerror(number) in error
        assert "resume the sweep to run it again" in error
    stored = load_store(store)
    assert (
        set(stored.runs.loc[stored.runs["status"] == "pending", "RunId"]) == cancelled
    )
    reader = RunStore(store)
    for table in ("model", "agents"):  # no part of a refused batch is left behind
        assert sorted(reader.committed_files("frames", table)) == _parts(store, table)

    monkeypatch.undo()  # space is freed
    events = []
    resumed = mesa_nb.sweep(
        Money, store=store, in_memory=False, on_progress=events.append, **kwargs
    )
    assert {e.record.run_id for e in events if e.record} == cancelled
    frames_equal(load_store(store), reference)
    assert resumed.n_ok == len(reference.runs)
