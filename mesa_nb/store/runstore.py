"""A results directory that grows as runs finish, and lets a sweep resume.

Layout (Parquet via pyarrow, JSON; never pickle)::

    manifest.json             format, sweep definition, seeds, model fingerprint
    lock.json                 who is writing the store (pid, host, since)
    runs/<part>.parquet       one row per finished run: status, steps, errors;
                              its metadata lists the batch's data parts with
                              their sha256 and row counts
    model/<part>.parquet      the data of those runs, one file per table
    agents/<part>.parquet
    agenttypes/<part>.parquet
    tables/<name>/<part>.parquet      <name> percent-encoded into one path
    datasets/<name>/<part>.parquet    component (see :func:`encode_name`)

``<part>`` is ``<time_ns, 20 digits>-<random>``, so parts sort in the order
they were written. Each batch of finished runs writes its data parts first
and its ``runs`` part last (the commit point), each into a uniquely named
temporary file, flushed, fsynced and renamed into place (the directory is
fsynced after). A run counts as stored only once its ``runs`` row exists, so
a killed kernel loses at most the runs in flight and never leaves half a
run behind; a data part that goes missing or is damaged later is found by
its checksum, and the runs of its batch are read as not run (a resume runs
them again). The last record of a run wins, so a run re-run later replaces
its old record.

One sweep writes a store at a time: :meth:`RunStore.open` takes an exclusive
lock (``flock`` on ``lock.json``) that :meth:`RunStore.close` releases, as
does the death of the process holding it.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import os
import re
import socket
import sys
import time
import uuid
import warnings
import weakref
from pathlib import Path
from typing import Any

import numpy as np

from ..core.columns import chunks_to_frame, frame_to_chunk
from ..core.errors import StoreError
from ..core.plan import SweepPlan
from ..core.records import (
    DATA_TABLES,
    TABLE_KEYS,
    BatchOutcome,
    Chunk,
    RunRecord,
    Status,
)
from .encoding import (
    _pyarrow,
    chunk_to_parquet,
    dumps_tagged,
    loads_tagged,
    parquet_table,
    parquet_to_chunk,
    table_metadata,
    table_to_parquet,
    to_json,
)
from .manifest import (
    FORMAT,
    READABLE_FORMATS,
    differences,
    fingerprint_change,
    manifest_problem,
    model_fingerprint,
    stored_master_seed,
    sweep_definition,
)

LOCK_NAME = "lock.json"
#: Names the run running in the sweep's own process (processes=1).
RUNNING_NAME = "running.json"
#: How many times a sweep's process died while each run ran in it.
DEATHS_NAME = "deaths.json"
#: Parquet metadata of a ``runs`` part: the batch's data parts and checksums.
BATCH_KEY = b"mesa_nb_batch"
#: Parquet metadata of a ``runs`` part: how its ``drawn`` column is encoded.
DRAWN_KEY = b"mesa_nb_drawn"
_PART = re.compile(r"\d{20}-[0-9a-f]+")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_MAX_COMPONENT = 150

Chunks = dict[str, list[Chunk]]


def encode_name(name: str) -> str:
    """A table or dataset name as one safe path component.

    Letters, digits, ``_`` and ``-`` are kept; every other character (``/``,
    ``.``, ``%``, spaces, anything non-ASCII) becomes ``%XX`` per UTF-8 byte
    (the empty name is ``%``), so the name decodes back (:func:`decode_name`).
    A name with capitals gets ``~`` and a short hash of it appended (``A`` and
    ``a`` are one directory on case-insensitive file systems); a very long
    name is cut and ended with ``~`` and a longer hash. Either way the name
    itself is also kept in the ``runs`` part of each batch.
    """
    if not name:
        return "%"
    encoded = "".join(
        c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in name
    )
    digest = hashlib.sha256(name.encode()).hexdigest()
    if len(encoded) > _MAX_COMPONENT:
        cut = encoded[:100]
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut
        return f"{cut}~{digest[:16]}"
    if any("A" <= c <= "Z" for c in name):
        return f"{encoded}~{digest[:8]}"
    return encoded


def decode_name(component: str) -> str:
    """The name :func:`encode_name` encoded (a cut long name stays cut)."""
    component = component.partition("~")[0]
    if component == "%":
        return ""
    raw, i = bytearray(), 0
    while i < len(component):
        if component[i] == "%" and _hex(component, i):
            raw.append(int(component[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += component[i].encode()
            i += 1
    return raw.decode("utf-8", errors="replace")


def _hex(text: str, i: int) -> bool:
    return len(text) >= i + 3 and all(
        c in "0123456789abcdefABCDEF" for c in text[i + 1 : i + 3]
    )


def _part_order(path: Path) -> tuple[int, str]:
    """Write order: parts of older stores (random names) first, then by time."""
    return (1 if _PART.fullmatch(path.stem) else 0, path.stem)


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - filesystems without directory fsync
        pass
    finally:
        os.close(fd)


class RunStore:
    """Writes finished runs to ``path`` and reads them back.

    ``problems`` lists, in words, what the last :meth:`read` found damaged
    or missing (the runs concerned are read as not run).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(os.fspath(path)).expanduser()
        self.problems: list[str] = []
        self._lock_fd: int | None = None
        self._release: Any = None
        self._last_ns = 0
        self._dirs: set[Path] = set()

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def exists(self) -> bool:
        """True if a sweep has already been stored here."""
        return self.manifest_path.is_file()

    def manifest(self) -> dict[str, Any]:
        """The stored manifest; refuses what is not a mesa_nb store, or a
        damaged one."""
        try:
            manifest = json.loads(self.manifest_path.read_bytes())
        except (OSError, ValueError) as exc:
            raise StoreError(
                f"{self.manifest_path} cannot be read ({type(exc).__name__}: "
                f"{exc}): the store is damaged; restore manifest.json from a "
                "backup or use a new store directory."
            ) from None
        found = manifest.get("format") if isinstance(manifest, dict) else None
        if found not in READABLE_FORMATS:
            raise StoreError(
                f"{self.path} is not a mesa_nb results store (format {found!r}"
                f"{', made by a newer mesa_nb' if _newer(found) else ''}); "
                "choose another directory."
            )
        problem = manifest_problem(manifest)
        if problem:
            raise StoreError(
                f"{self.manifest_path} is damaged: {problem}; restore manifest.json "
                "from a backup or use a new store directory."
            )
        return manifest

    def stored_master_seed(self) -> int | None:
        """The master seed of the stored sweep, if it used one."""
        return stored_master_seed(self.manifest())

    # -- opening and closing -------------------------------------------------------
    def open(
        self, plan: SweepPlan, metadata: dict[str, Any], force: bool = False
    ) -> None:
        """Start a new store for ``plan``, or check that it stores this sweep
        (and was made by the same model code, unless ``force``).

        Takes the store's lock until :meth:`close`: a store another sweep is
        writing is refused.
        """
        definition = sweep_definition(plan)
        fingerprint = model_fingerprint(plan.settings.model_cls)
        self._check_location()
        self._lock()
        try:
            if self.exists():
                self._check_resume(definition, fingerprint, force)
            else:
                self._check_empty()
                manifest = {
                    "format": FORMAT,
                    "definition": definition,
                    "metadata": {
                        **plan.describe(),
                        **metadata,
                        "model_fingerprint": fingerprint,
                    },
                }
                self._write_manifest(manifest)
            self._last_ns = max(self._last_ns, self._newest_part_ns())
            self._remove_temporaries()
        except BaseException:
            self.close()
            raise

    def close(self) -> None:
        """Release the store's lock (does nothing if it is not held)."""
        release, self._release, self._lock_fd = self._release, None, None
        _HELD.discard(self)
        if release is not None:
            release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _check_location(self) -> None:
        if self.path.exists() and not self.path.is_dir():
            raise StoreError(
                f"{self.path} is a file, not a directory: give a new or empty "
                "directory (or an existing store) for store=."
            )
        if self.path.is_dir() and not self.exists():
            self._check_empty()

    def _check_empty(self) -> None:
        if not self.path.is_dir():
            return
        others = [
            p.name
            for p in self.path.iterdir()
            if p.name not in (LOCK_NAME, RUNNING_NAME, DEATHS_NAME)
            and not _is_temporary(p.name)
        ]
        if others:
            raise StoreError(
                f"{self.path} exists and is not empty but has no manifest.json: "
                "give an empty or new directory."
            )

    def _check_resume(
        self, definition: dict[str, Any], fingerprint: dict[str, Any], force: bool
    ) -> None:
        manifest = self.manifest()
        changed = differences(manifest["definition"], definition)
        if changed:
            raise StoreError(
                f"{self.path} holds a different sweep (it differs in: "
                f"{', '.join(changed)}). Use a new store directory for this "
                "sweep, or run the stored definition again to resume it."
            )
        metadata = manifest["metadata"]
        change = fingerprint_change(metadata.get("model_fingerprint"), fingerprint)
        if change and not force:
            raise StoreError(
                f"{self.path} was written by other model code: {change} since its "
                "runs were stored. Pass force=True (%%batchrun --force) to resume "
                "anyway, or use a new store."
            )
        rewrite = manifest["format"] != FORMAT
        if change:  # forced: the new code is recorded, the old one kept
            history = metadata.setdefault("earlier_fingerprints", [])
            history.append(metadata.get("model_fingerprint"))
            metadata["model_fingerprint"] = fingerprint
            rewrite = True
        if rewrite:
            manifest["format"] = FORMAT
            self._write_manifest(manifest)

    def _write_manifest(self, manifest: dict[str, Any]) -> None:
        text = json.dumps(to_json(manifest), indent=2)
        self._write_file(self.manifest_path, text.encode())

    # -- the lock ------------------------------------------------------------------
    @property
    def lock_path(self) -> Path:
        return self.path / LOCK_NAME

    def _lock(self) -> None:
        if self._lock_fd is not None:
            return
        try:
            self._ensure_dir(self.path)
            fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"Cannot write to {self.path} ({type(exc).__name__}: {exc}): give "
                "a directory you can write to for store=."
            ) from None
        try:
            locked = _try_lock(fd)
        except OSError as exc:  # a filesystem without locks: go on unlocked
            warnings.warn(
                f"{self.path} cannot be locked ({exc}); make sure no other sweep "
                "writes this store at the same time.",
                RuntimeWarning,
                stacklevel=3,
            )
            locked = True
        if not locked:
            holder = _holder(self.lock_path)
            os.close(fd)
            raise StoreError(
                f"{self.path} is being written by another sweep ({holder}): wait "
                "for it to finish, or use another store directory."
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "python": sys.executable,
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        self._lock_fd = fd
        self._release = weakref.finalize(self, os.close, fd)
        _HELD.add(self)

    def _remove_temporaries(self) -> None:
        """Remove what writers killed mid-write left (only under the lock)."""
        folders = [self.path, *(self.path / d for d in ("runs", *DATA_TABLES))]
        for group in ("tables", "datasets"):
            if (self.path / group).is_dir():
                folders += [p for p in (self.path / group).iterdir() if p.is_dir()]
        for folder in folders:
            if folder.is_dir():
                for entry in os.scandir(folder):
                    if _is_temporary(entry.name):
                        with contextlib.suppress(OSError):
                            os.unlink(entry.path)

    def _newest_part_ns(self) -> int:
        names = (p.stem for p in (self.path / "runs").glob("*.parquet"))
        return max((int(n[:20]) for n in names if _PART.fullmatch(n)), default=0)

    # -- writing -------------------------------------------------------------------
    def _new_part(self) -> str:
        ns = max(time.time_ns(), self._last_ns + 1)
        self._last_ns = ns
        return f"{ns:020d}-{uuid.uuid4().hex[:8]}"

    def _ensure_dir(self, folder: Path) -> None:
        if folder in self._dirs:
            return
        missing = []
        at = folder
        while not at.exists():
            missing.append(at)
            at = at.parent
        folder.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):
            _fsync_dir(created.parent)
        self._dirs.add(folder)

    def _write_file(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically and durably: a unique
        temporary file, flushed and fsynced, renamed, the directory fsynced."""
        self._ensure_dir(path.parent)
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        try:
            with open(tmp, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        _fsync_dir(path.parent)

    # -- a run in this very process -------------------------------------------------
    @property
    def running_path(self) -> Path:
        return self.path / RUNNING_NAME

    def mark_running(self, run_id: int | None) -> None:
        """Note the run about to start in the sweep's own process (None: none).

        A run that kills that process (``os._exit``, a segfault: the kernel
        dies with it) leaves the note behind; :meth:`died_running` finds it
        on resume, so the run is recorded as crashed instead of killing every
        resume again. Not fsynced: it only has to outlive the process.
        """
        if run_id is None:
            with contextlib.suppress(FileNotFoundError):
                self.running_path.unlink()
            return
        tmp = self.running_path.with_name(f".{RUNNING_NAME}.{uuid.uuid4().hex}.tmp")
        tmp.write_text(json.dumps({"run_id": int(run_id), "pid": os.getpid()}))
        os.replace(tmp, self.running_path)

    def died_running(self) -> tuple[int, int] | None:
        """The run that was running when an earlier sweep's process died, and
        how many sweeps have died while running it (this one included).

        The note is cleared, the count kept (``deaths.json``): a process
        killed from outside (kill -9 of a kernel) dies at some run once; a run
        that kills its process does so every time.
        """
        try:
            run_id = int(json.loads(self.running_path.read_text())["run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        deaths_path = self.path / DEATHS_NAME
        try:
            deaths = json.loads(deaths_path.read_text())
        except (OSError, ValueError):
            deaths = {}
        count = int(deaths.get(str(run_id), 0)) + 1
        deaths[str(run_id)] = count
        self._write_file(deaths_path, json.dumps(deaths).encode())
        self.mark_running(None)
        return run_id, count

    def write(self, outcome: BatchOutcome) -> None:
        """Store a finished batch: data parts first, its run records last."""
        if not outcome.records:
            return
        if outcome.stored is not None:  # a worker wrote the data parts already
            self.commit(outcome.records, *outcome.stored)
            return
        self.commit(outcome.records, *self.write_parts(outcome))

    def part_writer(self) -> PartWriter:
        """What a worker process writes its batches' data parts with."""
        return PartWriter(str(self.path))

    def write_parts(self, outcome: BatchOutcome) -> tuple[str, list[dict[str, Any]]]:
        """Write a batch's data parts (not its records); return the part name
        and what :meth:`commit` records of each file."""
        part = self._new_part()
        files = []
        named = [("frames", t, t, c) for t, c in outcome.frames.items()]
        for group, chunks in (
            ("tables", outcome.tables),
            ("datasets", outcome.datasets),
        ):
            named += [
                (group, name, f"{group}/{encode_name(name)}", chunk)
                for name, chunk in chunks.items()
            ]
        for group, name, folder, chunk in named:
            if not chunk:
                continue
            data, rows = chunk_to_parquet(chunk)
            relative = f"{folder}/{part}.parquet"
            self._write_file(self.path / relative, data)
            files.append(
                {
                    "group": group,
                    "name": name,
                    "path": relative,
                    "sha256": hashlib.sha256(data).hexdigest(),
                    "bytes": len(data),
                    "rows": rows,
                }
            )
        return part, files

    def write_records(self, records: list[RunRecord], part: str | None = None) -> None:
        """Store run records (the commit point of a batch)."""
        self.commit(records, part or self._new_part(), [])

    def commit(
        self, records: list[RunRecord], part: str, files: list[dict[str, Any]]
    ) -> None:
        pa, _ = _pyarrow()
        columns = {
            "RunId": pa.array([r.run_id for r in records], pa.int64()),
            "status": pa.array([str(r.status) for r in records], pa.string()),
            "steps": pa.array([r.steps for r in records], pa.int64()),
            "wall_time": pa.array([float(r.wall_time) for r in records], pa.float64()),
            "error": pa.array([_text(r.error) for r in records], pa.string()),
            "traceback": pa.array([_text(r.traceback) for r in records], pa.string()),
            "drawn": pa.array([dumps_tagged(r.drawn) for r in records], pa.string()),
            "seeded": pa.array([r.seeded for r in records], pa.bool_()),
            "part": pa.array([part] * len(records), pa.string()),
        }
        table = pa.table(columns)
        batch = {"part": part, "files": files}
        batch["sha256"] = _batch_digest(table.to_pylist(), files)
        table = table.replace_schema_metadata(
            {
                BATCH_KEY: json.dumps(batch).encode(),
                DRAWN_KEY: b"tagged-json",
            }
        )
        self._write_file(
            self.path / "runs" / f"{part}.parquet", table_to_parquet(table)
        )

    # -- reading -------------------------------------------------------------------
    def read(self) -> tuple[list[RunRecord], Chunks, Chunks, Chunks]:
        """Every stored run: its records, and its data as chunks per table,
        per user table and per recorder dataset.

        The last record of a run wins. A batch whose data part is missing,
        truncated or damaged is left out (its runs read as not run, so a
        resume runs them again) and said in :attr:`problems`.
        """
        result = self._read(check_all=False)
        if self.problems:
            shown = "; ".join(self.problems[:3])
            more = len(self.problems) - 3
            warnings.warn(
                f"The store {self.path} has {len(self.problems)} damaged or missing "
                f"part(s); their runs are read as not run and a resume runs them "
                f"again: {shown}{f' (and {more} more)' if more > 0 else ''}",
                RuntimeWarning,
                stacklevel=2,
            )
        return result

    def verify(self) -> list[str]:
        """Read and check every part (also of runs stored again later, and the
        manifest); return the problems found, in words (empty: all is well)."""
        problems = []
        try:
            self.manifest()
        except StoreError as exc:
            problems.append(str(exc))
        self._read(check_all=True)
        return problems + self.problems

    def _read(self, check_all: bool) -> tuple[list[RunRecord], Chunks, Chunks, Chunks]:
        self.problems = []
        batches = [b for b in map(self._read_batch, self._run_parts()) if b]
        latest: dict[int, int] = {}  # RunId -> index of the batch that wins
        for index, batch in enumerate(batches):
            for record in batch["records"]:
                latest[record.run_id] = index
        frames: Chunks = {t: [] for t in DATA_TABLES}
        tables: Chunks = {}
        datasets: Chunks = {}
        groups = {"frames": frames, "tables": tables, "datasets": datasets}
        kept: set[int] = set()
        for index, batch in enumerate(batches):
            wins = {r.run_id for r in batch["records"] if latest[r.run_id] == index}
            if not wins and not check_all:
                continue
            data, problem = self._read_data(batch)
            if problem:
                self.problems.append(_lost(problem, wins))
                for run_id in wins:
                    del latest[run_id]
                continue
            if not wins:
                continue
            kept.add(index)
            for group, name, chunk in data:
                chunks = groups[group].setdefault(name, [])
                rows = _rows_of(chunk, wins)
                if rows is not None:
                    chunks.append(rows)
        records = [
            record
            for index, batch in enumerate(batches)
            if index in kept
            for record in batch["records"]
            if latest.get(record.run_id) == index
        ]
        return records, frames, tables, datasets

    def read_records(self) -> list[RunRecord]:
        """The newest stored record of every run, without reading any data
        (the data parts are checked when the tables are read)."""
        self.problems = []
        latest: dict[int, RunRecord] = {}
        for batch in filter(None, map(self._read_batch, self._run_parts())):
            for record in batch["records"]:
                latest[record.run_id] = record
        return list(latest.values())

    def compact(self) -> dict[str, int]:
        """Merge the store's many small parts into one part per table, sorted
        by RunId and Step, in large row groups; return the part counts before
        and after.

        The new part is committed (with every run's newest record) before the
        old parts are removed, so a crash at any moment leaves a readable
        store. Reads the store into memory table by table's worth at once.
        """
        self._lock()
        try:
            before = len(self._run_parts())
            records, frames, tables, datasets = self.read()
            if not records:
                return {"parts_before": before, "parts_after": before}
            old = self._run_parts()
            old_data = [
                self.path / f["path"]
                for batch in filter(None, map(self._read_batch, old))
                for f in (batch.get("files") or {}).get("files", [])
            ]
            outcome = BatchOutcome(
                records,
                {t: _joined(c, TABLE_KEYS[t]) for t, c in frames.items() if c},
                {n: _joined(c, ["RunId"]) for n, c in tables.items() if c},
                {n: _joined(c, ["RunId", "time"]) for n, c in datasets.items() if c},
            )
            self.write(outcome)
            for path in [*old, *old_data]:
                with contextlib.suppress(FileNotFoundError):
                    path.unlink()
            return {"parts_before": before, "parts_after": len(self._run_parts())}
        finally:
            self.close()

    def committed_files(self, group: str, name: str) -> list[Path]:
        """The data files of ``name`` (a table of ``group``: frames, tables,
        datasets) that committed batches hold, for scanning them in place."""
        files = []
        for batch in filter(None, map(self._read_batch, self._run_parts())):
            for file in (batch.get("files") or {}).get("files", []):
                if file.get("group") == group and file.get("name") == name:
                    path = self.path / file["path"]
                    if path.exists():
                        files.append(path)
        return files

    def _run_parts(self) -> list[Path]:
        return sorted((self.path / "runs").glob("*.parquet"), key=_part_order)

    def _read_batch(self, path: Path) -> dict[str, Any] | None:
        """A ``runs`` part: its records and the data parts it lists."""
        name = _relative(path, self.path)
        try:
            table = parquet_table(path.read_bytes())
            batch = table_metadata(table, BATCH_KEY)
            rows = table.to_pylist()
            if batch is not None and batch.get("sha256") != _batch_digest(
                rows, batch.get("files")
            ):
                raise ValueError("its checksum does not match its content")
            tagged = (table.schema.metadata or {}).get(DRAWN_KEY) == b"tagged-json"
            records = [_record(row, tagged) for row in rows]
        except Exception as exc:
            self.problems.append(
                f"{name} cannot be read ({_reason(exc)}): the runs it recorded are "
                "read as not run (unless stored again later), and a resume runs "
                "them again."
            )
            return None
        stem = path.stem
        return {"name": name, "part": stem, "records": records, "files": batch}

    def _read_data(
        self, batch: dict[str, Any]
    ) -> tuple[list[tuple[str, str, Chunk]], str | None]:
        """The data parts of a batch, checked; or a problem, in words."""
        listing = batch["files"]
        if listing is None:  # written before checksums: find its parts by name
            files = self._old_data_parts(batch["part"])
        else:
            files = listing.get("files", [])
        if not isinstance(files, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("path"), str)
            and e.get("group") in ("frames", "tables", "datasets")
            and isinstance(e.get("name"), str)
            and (e["group"] != "frames" or e["name"] in DATA_TABLES)
            for e in files
        ):
            return [], f"{batch['name']} lists its data parts in an unknown form"
        data = []
        for entry in files:
            relative = entry["path"]
            if ".." in relative.split("/") or relative.startswith("/"):
                return [], f"{batch['name']} lists a data part outside the store"
            try:
                raw = (self.path / relative).read_bytes()
            except FileNotFoundError:
                return [], f"{relative} is missing"
            except OSError as exc:
                return [], f"{relative} cannot be read ({_reason(exc)})"
            if "sha256" in entry and hashlib.sha256(raw).hexdigest() != entry["sha256"]:
                stored = entry.get("bytes", len(raw))
                if len(raw) != stored:
                    how = f"truncated ({len(raw)} bytes, {stored} were written)"
                else:
                    how = "damaged (its sha256 does not match the one recorded)"
                return [], f"{relative} is {how}"
            try:
                chunk, rows = parquet_to_chunk(raw)
            except Exception as exc:
                return [], f"{relative} is truncated or damaged ({_reason(exc)})"
            if "rows" in entry and rows != entry["rows"]:
                return [], f"{relative} has {rows} rows, {entry['rows']} were stored"
            data.append((entry["group"], entry["name"], chunk))
        return data, None

    def _old_data_parts(self, part: str) -> list[dict[str, Any]]:
        """The data parts of a batch of a store written before checksums."""
        found = []
        for table in DATA_TABLES:
            if (self.path / table / f"{part}.parquet").exists():
                found.append(
                    {
                        "group": "frames",
                        "name": table,
                        "path": f"{table}/{part}.parquet",
                    }
                )
        for group in ("tables", "datasets"):
            for folder in sorted((self.path / group).glob("*")):
                if (folder / f"{part}.parquet").exists():
                    found.append(
                        {
                            "group": group,
                            "name": folder.name,
                            "path": f"{group}/{folder.name}/{part}.parquet",
                        }
                    )
        return found


#: Stores whose lock this process holds (see :func:`_forget_inherited_locks`).
_HELD: weakref.WeakSet[RunStore] = weakref.WeakSet()


def _forget_inherited_locks() -> None:
    """In a forked child: drop the copies of the parent's lock descriptors
    (closing a copy leaves the parent's lock held), so that the lock never
    outlives the parent because a child lives on."""
    for store in list(_HELD):
        fd, release = store._lock_fd, store._release
        store._lock_fd = store._release = None
        if release is not None:
            release.detach()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


def _newer(found: Any) -> bool:
    return isinstance(found, str) and found.startswith("mesa_nb-store/")


def _is_temporary(name: str) -> bool:
    return name.startswith(".") and name.endswith(".tmp")


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def _batch_digest(rows: list[dict[str, Any]], files: Any) -> str:
    text = json.dumps([rows, files], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def _record(row: dict[str, Any], tagged: bool) -> RunRecord:
    drawn = row["drawn"]
    drawn = loads_tagged(drawn) if tagged else json.loads(drawn)
    steps = row["steps"]
    seeded = row.get("seeded")
    return RunRecord(
        int(row["RunId"]),
        Status(row["status"]),
        None if steps is None or steps != steps else int(steps),
        float(row["wall_time"]),
        drawn,
        row["error"],
        row["traceback"],
        None if seeded is None else bool(seeded),
    )


def _rows_of(chunk: Chunk, run_ids: set[int]) -> Chunk | None:
    """The rows of ``chunk`` that belong to ``run_ids`` (None if none do)."""
    if "RunId" not in chunk:
        return None
    keep = np.isin(chunk["RunId"], list(run_ids))
    if not keep.any():
        return None
    if keep.all():
        return chunk
    return {name: values[keep] for name, values in chunk.items()}


def _lost(problem: str, run_ids: set[int]) -> str:
    if not run_ids:
        return f"{problem}; its runs were stored again later, nothing is lost."
    ids = sorted(run_ids)
    shown = ", ".join(map(str, ids[:10])) + (", ..." if len(ids) > 10 else "")
    return (
        f"{problem}: the {len(ids)} run(s) of its batch (RunId {shown}) are read "
        "as not run, and a resume runs them again."
    )


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {text[0][:160]}" if text else type(exc).__name__


def _relative(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:  # pragma: no cover
        return str(path)


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting: False if another holds it.

    Raises OSError where the filesystem cannot lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(lock_path: Path) -> str:
    """Who holds a store's lock, as ``lock.json`` says."""
    try:
        info = json.loads(lock_path.read_text())
        where = (
            f" on {info['host']}" if info.get("host") != socket.gethostname() else ""
        )
        mine = " (this process)" if info["pid"] == os.getpid() else ""
        return f"pid {info['pid']}{mine}{where}, since {info['since']}"
    except (OSError, ValueError, KeyError, TypeError):
        return "pid unknown"


class PartWriter:
    """Writes a batch's data parts into a store from a worker process.

    Picklable (it holds the store's path only); the parent commits the
    batch's run records, as for batches it writes itself.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def write_parts(self, outcome: BatchOutcome) -> tuple[str, list[dict[str, Any]]]:
        return RunStore(self.path).write_parts(outcome)


def _joined(chunks: list[Chunk], keys: list[str]) -> Chunk:
    """Chunks as one, sorted by ``keys`` (what a compacted part holds)."""
    return frame_to_chunk(chunks_to_frame(list(chunks), keys))
