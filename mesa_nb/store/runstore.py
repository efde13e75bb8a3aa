"""A results directory that grows as runs finish, and lets a sweep resume.

:class:`RunStore` is a thin facade over the store's parts: :mod:`.names`
(which file lives where), :mod:`.lock` (one writer at a time),
:mod:`.atomic` (fsync'd atomic writes), :mod:`.opening` (the manifest),
:mod:`.writer` (the commit protocol: data parts first, the ``runs`` part
last), :mod:`.crash_notes` (runs that kill the sweep's own process),
:mod:`.reader` (checksummed reads) and :mod:`.compaction`.

One sweep writes a store at a time: :meth:`RunStore.open` takes an exclusive
lock (``flock`` on ``lock.json``) that :meth:`RunStore.close` releases, as
does the death of the process holding it. Building a :class:`RunStore`
touches no file, and reading (:meth:`read`, :meth:`scan`, :meth:`verify`...)
never writes: only the lock holder writes, tidies (temporaries, a compaction
stopped part-way, parts never committed) and keeps the crash notes.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from ..core.errors import StoreError
from ..core.plan import SweepPlan
from ..core.records import Batch, BatchOutcome, RunRecord
from .atomic import AtomicFiles, remove_temporaries
from .compaction import compact_parts, finish_compaction, remove_uncommitted
from .crash_notes import CrashNotes
from .encoding import POINT_VALUES, encode_points
from .fingerprint import model_fingerprint
from .lock import StoreLock
from .manifest import stored_master_seed
from .names import PartNames, StoreLayout, store_root
from .opening import (
    Opening,
    check_location,
    prepare_manifest,
    read_manifest,
    record_round,
)
from .provenance import ProvenanceLog, read_provenance, sweep_provenance
from .reader import StoreReader, manifest_limits_problem
from .writer import BatchWriter, FileEntry, PartWriter


class RunStore:
    """Writes finished runs to ``path`` and reads them back.

    ``problems`` lists, in words, what the last :meth:`read` found damaged
    or missing (the runs concerned are read as not run).
    """

    def __init__(self, path: str | os.PathLike) -> None:
        self.layout = StoreLayout(store_root(path))
        self.path = self.layout.root
        self._files = AtomicFiles()
        self._names = PartNames()
        self._lock = StoreLock(self.layout, self._files)
        self._writer = BatchWriter(self.layout, self._files, self._names)
        self._reader = StoreReader(self.layout)
        self._notes = CrashNotes(self.layout, self._files)
        self._provenance = ProvenanceLog(self.layout, self._files)

    @property
    def problems(self) -> list[str]:
        """What the last read found damaged or missing, in words."""
        return self._reader.problems

    def exists(self) -> bool:
        """True if a sweep has already been stored here."""
        return self.layout.manifest.is_file()

    def manifest(self) -> dict[str, Any]:
        """The stored manifest; refuses what is not a mesa_nb store, or a
        damaged one (also one whose numbers or seeds are beyond anything
        mesa_nb writes)."""
        manifest = read_manifest(self.layout)
        problem = manifest_limits_problem(manifest)
        if problem:
            raise StoreError(
                f"{self.layout.manifest} is damaged: {problem}; restore "
                "manifest.json from a backup or use a new store directory."
            )
        return manifest

    def provenance(self) -> dict[str, Any] | None:
        """Where the runs came from: the last sweep's provenance, with
        ``earlier_sweeps`` (None for a store made before it was kept)."""
        return read_provenance(self.layout)

    def stored_master_seed(self) -> int | None:
        """The master seed of the stored sweep, if it used one."""
        return stored_master_seed(self.manifest())

    # -- opening and closing -------------------------------------------------------
    def open(
        self, plan: SweepPlan, metadata: dict[str, Any], force: bool = False
    ) -> SweepPlan:
        """Start a new store for ``plan``, or check that it stores this sweep
        or a smaller one it grows (and was made by the same model code, unless
        ``force``); return the plan laid out as the store numbers its runs.

        Takes the store's lock until :meth:`close`: a store another sweep is
        writing is refused. Holding it, tidies the store (:meth:`_tidy`).
        """
        fingerprint = model_fingerprint(plan.settings.model_cls)
        check_location(self.layout)
        self._lock.acquire()
        try:
            if not self.exists():  # the points' values as they were (the
                # definition describes them; a store read checks it first)
                metadata = {**metadata, POINT_VALUES: encode_points(plan.space.points)}
            opening = Opening(plan, metadata, fingerprint, force)
            plan = prepare_manifest(self.layout, self._files, opening)
            self._tidy()
            entry = sweep_provenance(plan.settings.model_cls, fingerprint)
            self._provenance.start(entry)  # this sweep's versions, git, start
        except BaseException:
            self.close()
            raise
        return plan

    def record_round(self, plan: SweepPlan) -> None:
        """Record the runs of an auto sweep's next round (its plan's new
        layout) before they run; only the sweep that holds the lock does."""
        self._owner_only("records the rounds of its sweep")
        record_round(self.layout, self._files, plan)

    def _tidy(self) -> None:
        """What only the lock holder does: remove the temporaries of killed
        writers, finish (or undo) a compaction stopped part-way, remove data
        parts never committed."""
        self._names.follow(self.layout)
        remove_temporaries(self.layout.folders())
        finish_compaction(self._reader, self._writer)
        remove_uncommitted(self._reader)
        self._names.follow(self.layout)

    @property
    def locked(self) -> bool:
        """Whether this store object holds the store's lock."""
        return self._lock.held

    @contextlib.contextmanager
    def _writing(self) -> Iterator[None]:
        """Write holding the lock: the one taken by :meth:`open`, or taken
        for this write only (refused while another sweep writes)."""
        if self._lock.held:
            yield
            return
        self._lock.acquire()
        try:
            yield
        finally:
            self.close()

    def _owner_only(self, what: str) -> None:
        if not self._lock.held:
            raise StoreError(
                f"Only the sweep that holds the lock of {self.path} {what}: "
                "open the store for a sweep first (RunStore.open); reading it "
                "(load_store, mesa-nb status) writes nothing."
            )

    def close(self) -> None:
        """Release the store's lock (does nothing if it is not held)."""
        try:
            self._provenance.end()  # the sweep's end time, if it started one
        finally:
            self._lock.release()

    def __enter__(self) -> RunStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- writing (the lock holder) -------------------------------------------------
    def write(self, outcome: BatchOutcome) -> None:
        """Store a finished batch: data parts first, its run records last."""
        with self._writing():
            self._writer.write(outcome)

    def write_parts(self, data: Batch) -> tuple[str, list[FileEntry]]:
        """Write a batch's data parts (not its records); return the part name
        and what :meth:`commit` records of each file."""
        with self._writing():
            return self._writer.write_parts(data)

    def write_records(self, records: list[RunRecord], part: str | None = None) -> None:
        """Store run records (the commit point of a batch)."""
        with self._writing():
            self._writer.write_records(records, part)

    def commit(
        self, records: list[RunRecord], part: str, files: list[FileEntry]
    ) -> None:
        """Commit batch ``part``: its records and its data ``files``."""
        with self._writing():
            self._writer.commit(records, part, files)

    def part_writer(self) -> PartWriter:
        """What a worker process writes its batches' data parts with."""
        return PartWriter(str(self.path))

    def mark_running(self, run_id: int | None) -> None:
        """Note the run about to start in the sweep's own process (None: none);
        see :class:`~.crash_notes.CrashNotes`. Only the lock holder does."""
        self._owner_only("notes the run it is running")
        self._notes.mark_running(run_id)

    def died_running(self) -> tuple[int, int] | None:
        """The run an earlier sweep's process died running, and how many
        sweeps died running it (this one included); clears the note. Only
        the lock holder does: the note of a sweep still running is not a
        death."""
        self._owner_only("counts the run an earlier sweep died running")
        return self._notes.died_running()

    def compact(self) -> dict[str, int]:
        """Merge the store's many small parts into one part per table, sorted
        by RunId and Step, in large row groups; return the part counts before
        and after (see :func:`~.compaction.compact_parts`; safe to kill at
        any moment). Releases the lock when done."""
        self._lock.acquire()
        try:
            self._tidy()
            return compact_parts(self._reader, self._writer)
        finally:
            self.close()

    # -- reading -------------------------------------------------------------------
    def read(self) -> tuple[list[RunRecord], Batch]:
        """Every stored run: its newest record, and its data.

        A batch whose data part is missing, truncated or damaged is left out
        (its runs read as not run, so a resume runs them again) and said in
        :attr:`problems` and a warning.
        """
        return self._reader.read()

    def read_records(self) -> list[RunRecord]:
        """The newest stored record of every run, without reading any data."""
        return self._reader.read_records()

    def verify(self) -> list[str]:
        """Read and check every part (also of runs stored again later, and the
        manifest); return the problems found, in words (empty: all is well)."""
        problems = []
        try:
            self.manifest()
        except StoreError as exc:
            problems.append(str(exc))
        try:
            self._reader.read_checked(check_all=True)
        except StoreError as exc:  # a part that is a link, or outside the store
            return [*problems, *self.problems, str(exc)]
        return problems + self.problems

    def committed_files(self, group: str, name: str) -> list[Path]:
        """The data files of table ``name`` of ``group`` that the batches
        holding a run's newest record list, checked (what :meth:`read` reads)."""
        return self._reader.committed_files(group, name)

    def scan(self, table: str) -> Any:
        """The stored data of ``table`` as a ``pyarrow.dataset.Dataset``:
        the rows :meth:`read` reads, over the checked parts (KeyError if the
        store has no such table)."""
        return self._reader.scan(table)
