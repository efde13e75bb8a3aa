"""Read a store's committed batches back, checking every checksum.

The last record of a run wins, so a run re-run later replaces its old
record. A data part that went missing or is damaged is found by its checksum
(or row count), and the runs of its batch are read as not run (a resume runs
them again); :attr:`StoreReader.problems` says so in words. Scans list the
same parts a read uses: those of the batches that hold a run's newest record,
checked.

What a crafted store could use against its reader is refused with a
:class:`~mesa_nb.core.errors.StoreError`: a part that is a link, a device or
lies outside the store (:func:`check_part_file`), manifest numbers beyond what
mesa_nb plans (:func:`manifest_limits_problem`). Reading never writes.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import stat
import warnings
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import StoreError
from ..core.plan import MAX_RUNS
from ..core.records import (
    DATA_TABLES,
    DATASETS,
    FRAMES,
    GROUPS,
    TABLES,
    Batch,
    Chunk,
    RunRecord,
    Status,
)
from .encoding import loads_tagged, parquet_table, parquet_to_chunk, table_metadata
from .names import StoreLayout
from .writer import BATCH_KEY, DRAWN_KEY, batch_digest

#: A ``runs`` part as read: its name, part, records and the files it lists.
StoredBatch = dict[str, Any]
#: The most digits of a seed in a manifest: Python's limit for turning text
#: into an int, so no seed mesa_nb wrote (``str(seed)``) is longer.
MAX_SEED_DIGITS = 4300
_DIGITS = re.compile(r"[0-9]+")
_HASH_BLOCK = 1 << 20


class StoreReader:
    """Reads the store at ``layout``; :attr:`problems` lists, in words, what
    the last read found damaged or missing."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.problems: list[str] = []
        self._digests: dict[tuple[str, int, int, int], str] = {}

    def read(self) -> tuple[list[RunRecord], Batch]:
        """Every stored run: its newest record, and its data.

        A batch whose data part is missing, truncated or damaged is left out
        (its runs read as not run) and said in :attr:`problems` and a
        warning (raised for the caller of the caller).
        """
        result = self.read_checked(check_all=False)
        self._warn()
        return result

    def _warn(self) -> None:
        """Warn of :attr:`problems` (for the caller of the caller's caller)."""
        if not self.problems:
            return
        shown = "; ".join(self.problems[:3])
        more = len(self.problems) - 3
        warnings.warn(
            f"The store {self.layout.root} has {len(self.problems)} damaged or "
            f"missing part(s); their runs are read as not run and a resume runs "
            f"them again: {shown}{f' (and {more} more)' if more > 0 else ''}",
            RuntimeWarning,
            stacklevel=4,
        )

    def read_checked(self, check_all: bool) -> tuple[list[RunRecord], Batch]:
        """As :meth:`read`, without a warning; ``check_all`` also checks the
        data of runs stored again later."""
        self.problems = []
        batches = self.batches()
        latest: dict[int, int] = {}  # RunId -> index of the batch that wins
        for index, batch in enumerate(batches):
            for record in batch["records"]:
                latest[record.run_id] = index
        data = Batch()
        kept: set[int] = set()
        for index, batch in enumerate(batches):
            wins = {r.run_id for r in batch["records"] if latest[r.run_id] == index}
            if not wins and not check_all:
                continue
            parts, problem = self.read_data(batch)
            if problem:
                self.problems.append(_lost(problem, wins))
                for run_id in wins:
                    del latest[run_id]
                continue
            if not wins:
                continue
            kept.add(index)
            for group, name, chunk in parts:
                rows = _rows_of(chunk, wins)
                chunks = data.chunks.setdefault((group, name), [])  # known, if empty
                if rows is not None:
                    chunks.append(rows)
        records = [
            record
            for index, batch in enumerate(batches)
            if index in kept
            for record in batch["records"]
            if latest.get(record.run_id) == index
        ]
        return records, data

    def read_records(self) -> list[RunRecord]:
        """The newest stored record of every run, without reading any data
        (the data parts are checked when the tables are read)."""
        self.problems = []
        latest: dict[int, RunRecord] = {}
        for batch in filter(None, map(self.read_batch, self.layout.run_parts())):
            for record in batch["records"]:
                latest[record.run_id] = record
        return list(latest.values())

    def batches(self) -> list[StoredBatch]:
        """Every readable ``runs`` part, in the order they were written."""
        return [b for b in map(self.read_batch, self.layout.run_parts()) if b]

    def committed_files(self, group: str, name: str) -> list[Path]:
        """The data files of ``name`` (a table of ``group``: frames, tables,
        datasets) of the batches that hold a run's newest record and whose
        parts are all there and match their checksums (what :meth:`read`
        reads), for scanning them in place."""
        return [path for path, _ in self.current_files(group, name)]

    def current_files(self, group: str, name: str) -> list[tuple[Path, set[int]]]:
        """:meth:`committed_files`, each with the RunIds whose rows in it were
        superseded by a later batch (usually none)."""
        self.problems = []
        batches = self.batches()
        latest: dict[int, int] = {}
        for index, batch in enumerate(batches):
            for record in batch["records"]:
                latest[record.run_id] = index
        found = []
        for index, batch in enumerate(batches):
            ids = {r.run_id for r in batch["records"]}
            wins = {run_id for run_id in ids if latest.get(run_id) == index}
            if not wins:
                continue
            problem = self.check_files(batch)
            if problem:
                self.problems.append(_lost(problem, wins))
                for run_id in wins:
                    del latest[run_id]
                continue
            for entry in self._entries(batch):
                if entry["group"] == group and entry["name"] == name:
                    found.append((self.layout.root / entry["path"], ids - wins))
        return found

    def scan(self, table: str) -> Any:
        """The committed data of ``table`` (a data table, or a user table or
        recorder dataset by name) as a ``pyarrow.dataset.Dataset``: the parts
        a read uses, checked (a damaged batch is left out, with a warning);
        rows of runs stored again later are left out too."""
        if table in DATA_TABLES:
            candidates = [(FRAMES, table)]
        else:
            candidates = [(TABLES, table), (DATASETS, table)]
        for group, name in candidates:
            files = self.current_files(group, name)
            self._warn()
            if files:
                return _dataset(files)
        raise KeyError(f"The store has no table {table!r}.")

    def check_files(self, batch: StoredBatch) -> str | None:
        """Whether the data parts of a batch are there and match their
        checksums (read, not decoded; a part checked before and unchanged
        since is not read again); the problem, in words, if not."""
        entries = self._entries(batch)
        if entries is None:
            return f"{batch['name']} lists its data parts in an unknown form"
        for entry in entries:
            relative = entry["path"]
            path, problem = self._part_file(relative, entry)
            if problem:
                return problem
            if "sha256" not in entry:
                continue
            info = path.stat()
            key = (str(path), info.st_ino, info.st_size, info.st_mtime_ns)
            digest = self._digests.get(key)
            if digest is None:
                try:
                    digest = _sha256_of(path)
                except OSError as exc:
                    return f"{relative} cannot be read ({_reason(exc)})"
                self._digests[key] = digest
            if digest != entry["sha256"]:
                return (
                    f"{relative} is damaged (its sha256 does not match the one "
                    "recorded)"
                )
        return None

    def read_batch(self, path: Path) -> StoredBatch | None:
        """A ``runs`` part: its records and the data parts it lists (None,
        and a problem noted, if it cannot be read or its checksum fails)."""
        name = _relative(path, self.layout.root)
        try:
            info = os.lstat(path)
        except OSError:
            info = None  # gone meanwhile: read below, and said so
        if info is not None:
            check_part_file(self.layout.root, path, info)
        try:
            table = parquet_table(path.read_bytes())
            batch = table_metadata(table, BATCH_KEY)
            rows = table.to_pylist()
            if batch is not None and batch.get("sha256") != batch_digest(
                rows, batch.get("files")
            ):
                raise ValueError("its checksum does not match its content")
            tagged = (table.schema.metadata or {}).get(DRAWN_KEY) == b"tagged-json"
            records = [_record(row, tagged) for row in rows]
            # a cancelled run is never stored (a resume runs it again)
            records = [r for r in records if r.status != Status.CANCELLED]
        except Exception as exc:
            self.problems.append(
                f"{name} cannot be read ({_reason(exc)}): the runs it recorded are "
                "read as not run (unless stored again later), and a resume runs "
                "them again."
            )
            return None
        return {"name": name, "part": path.stem, "records": records, "files": batch}

    def read_data(
        self, batch: StoredBatch
    ) -> tuple[list[tuple[str, str, Chunk]], str | None]:
        """The data parts of a batch, checked; or a problem, in words."""
        files = self._entries(batch)
        if files is None:
            return [], f"{batch['name']} lists its data parts in an unknown form"
        data = []
        for entry in files:
            chunk, problem = self._read_part(entry["path"], entry)
            if problem:
                return [], problem
            data.append((entry["group"], entry["name"], chunk))
        return data, None

    def _entries(self, batch: StoredBatch) -> list[dict[str, Any]] | None:
        """The data parts a batch lists (found by name in a store written
        before checksums); None if the list is not in a known form. Raises
        a StoreError for a part named outside the store."""
        listing = batch["files"]
        if listing is None:  # written before checksums: find its parts by name
            return self.layout.old_data_parts(batch["part"])
        files = listing.get("files", [])
        if not isinstance(files, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("path"), str)
            and e.get("group") in GROUPS
            and isinstance(e.get("name"), str)
            and (e["group"] != FRAMES or e["name"] in DATA_TABLES)
            for e in files
        ):
            return None
        for entry in files:
            relative = entry["path"]
            if ".." in relative.split("/") or relative.startswith("/"):
                raise StoreError(
                    f"{batch['name']} lists a data part outside the store "
                    f"({relative}): the store was altered by hand. Remove that "
                    "runs part (its runs then run again on resume)."
                )
        return files

    def _part_file(
        self, relative: str, entry: dict[str, Any]
    ) -> tuple[Path, str | None]:
        """The path of a data part a batch lists, once it is known to be a
        regular file inside the store of the size recorded; else the problem
        (missing, truncated), in words. Raises StoreError for a link, a
        device, a part outside the store."""
        path = self.layout.root / relative
        try:
            info = os.lstat(path)
        except FileNotFoundError:
            return path, f"{relative} is missing"
        except OSError as exc:
            return path, f"{relative} cannot be read ({_reason(exc)})"
        check_part_file(self.layout.root, path, info)
        stored = entry.get("bytes")
        if isinstance(stored, int) and info.st_size != stored:
            how = "truncated" if info.st_size < stored else "damaged"
            return path, (
                f"{relative} is {how} ({info.st_size} bytes, {stored} were written)"
            )
        return path, None

    def _read_part(
        self, relative: str, entry: dict[str, Any]
    ) -> tuple[Chunk, str | None]:
        """One data part a batch lists, checked against what it recorded."""
        path, problem = self._part_file(relative, entry)
        if problem:
            return {}, problem
        try:
            raw = path.read_bytes()
        except FileNotFoundError:
            return {}, f"{relative} is missing"
        except OSError as exc:
            return {}, f"{relative} cannot be read ({_reason(exc)})"
        if "sha256" in entry and hashlib.sha256(raw).hexdigest() != entry["sha256"]:
            stored = entry.get("bytes", len(raw))
            if len(raw) != stored:
                how = f"truncated ({len(raw)} bytes, {stored} were written)"
            else:
                how = "damaged (its sha256 does not match the one recorded)"
            return {}, f"{relative} is {how}"
        try:
            chunk, rows = parquet_to_chunk(raw)
        except Exception as exc:
            return {}, f"{relative} is truncated or damaged ({_reason(exc)})"
        if "rows" in entry and rows != entry["rows"]:
            return {}, f"{relative} has {rows} rows, {entry['rows']} were stored"
        return chunk, None


def check_part_file(root: Path, path: Path, info: os.stat_result) -> None:
    """Refuse a part of the store at ``root`` that is not a regular file
    inside it (``info``: its ``lstat``): a symbolic link (to ``/dev/zero``,
    to a file elsewhere), a device or pipe, or a file reached through a
    linked folder that leads out of the store."""
    relative = _relative(path, root)
    if stat.S_ISLNK(info.st_mode):
        raise StoreError(
            f"{root}: {relative} is a symbolic link (to {os.readlink(path)}), not "
            "a part mesa_nb wrote: a store's parts are regular files inside it. "
            "Replace the link with a copy of its file, or delete it (the runs of "
            "its batch then run again on resume)."
        )
    if not stat.S_ISREG(info.st_mode):
        raise StoreError(
            f"{root}: {relative} is not a regular file, not a part mesa_nb wrote: "
            "delete it (the runs of its batch then run again on resume)."
        )
    real, inside = os.path.realpath(path), os.path.realpath(root)
    if os.path.commonpath([real, inside]) != inside:
        raise StoreError(
            f"{root}: {relative} lies outside the store (at {real}: a folder on "
            "its way is a link), not a part mesa_nb wrote. Copy that folder into "
            "the store in place of the link, or remove it (the runs of its "
            "batches then run again on resume)."
        )


def manifest_limits_problem(manifest: dict[str, Any]) -> str | None:
    """What in a manifest (of the right layout, see
    :func:`~.manifest.manifest_problem`) is beyond anything mesa_nb writes:
    more runs than the planner plans (:data:`~mesa_nb.core.plan.MAX_RUNS`),
    numbers out of range, a seed that is not a string of at most
    :data:`MAX_SEED_DIGITS` digits; None if all is in bounds."""
    definition = manifest["definition"]
    points, iterations = len(definition["points"]), definition["iterations"]
    if not 1 <= iterations <= MAX_RUNS:
        return (
            f"definition.iterations is {iterations}, it should be 1 to {MAX_RUNS:,} "
            "(the most runs mesa_nb plans)"
        )
    if points * iterations > MAX_RUNS:
        return (
            f"definition.points and iterations make {points:,} x {iterations:,} "
            f"runs, more than the {MAX_RUNS:,} mesa_nb plans"
        )
    if definition["max_steps"] < 0:
        steps = definition["max_steps"]
        return f"definition.max_steps is {steps}, it should be 0 or more"
    period = definition["data_collection_period"]
    if period != -1 and period < 1:
        return (
            f"definition.data_collection_period is {period}, it should be -1 or "
            "1 or more"
        )
    seeding = definition["seeding"]
    if seeding.get("kind") == "master":
        seed = seeding.get("master_seed")
        return _seed_problem("definition.seeding.master_seed", seed)
    if seeding.get("kind") == "rng":
        seeds = seeding.get("seeds")
        if isinstance(seeds, list) and len(seeds) != iterations:
            return (
                f"definition.seeding.seeds has {len(seeds)} seeds for {iterations} "
                "iterations (one each)"
            )
        for seed in seeds or []:
            if seed is not None and not isinstance(seed, dict):
                problem = _seed_problem("definition.seeding.seeds", seed)
                if problem:
                    return problem
    return None


def _seed_problem(where: str, seed: Any) -> str | None:
    if isinstance(seed, int) and not isinstance(seed, bool) and seed >= 0:
        seed = str(seed)  # JSON gives no int longer than Python's limit
    if not isinstance(seed, str) or not _DIGITS.fullmatch(seed):
        return f"{where} should be a string of digits (a seed 0 or more)"
    if len(seed) > MAX_SEED_DIGITS:
        return (
            f"{where} has {len(seed):,} digits, more than the {MAX_SEED_DIGITS:,} of "
            "any seed mesa_nb writes"
        )
    return None


def _sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as file:
        while block := file.read(_HASH_BLOCK):
            digest.update(block)
    return digest.hexdigest()


def _dataset(files: list[tuple[Path, set[int]]]) -> Any:
    """A ``pyarrow.dataset.Dataset`` over ``files``, leaving out the rows of
    the runs each lists (read into memory, only for a file that has some)."""
    import pyarrow.dataset as ds

    whole = [str(path) for path, superseded in files if not superseded]
    parts = [ds.dataset(whole, format="parquet")] if whole else []
    for path, superseded in files:
        if superseded:
            table = ds.dataset(str(path), format="parquet").to_table(
                filter=~ds.field("RunId").isin(sorted(superseded))
            )
            parts.append(ds.dataset(table))
    if len(parts) == 1:
        return parts[0]
    schema = parts[0].schema
    return ds.dataset([_with_schema(p, schema) for p in parts], schema=schema)


def _with_schema(dataset: Any, schema: Any) -> Any:
    """An in-memory dataset cast to ``schema`` (a part on disk as it is)."""
    import pyarrow.dataset as ds

    if isinstance(dataset, ds.InMemoryDataset) and dataset.schema != schema:
        return ds.dataset(dataset.to_table().cast(schema))
    return dataset


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
