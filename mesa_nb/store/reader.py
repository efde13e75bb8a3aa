"""Read a store's committed batches back, checking every checksum.

The last record of a run wins, so a run re-run later replaces its old
record. A data part that went missing or is damaged is found by its checksum
(or row count), and the runs of its batch are read as not run (a resume runs
them again); :attr:`StoreReader.problems` says so in words.
"""

from __future__ import annotations

import hashlib
import json
import warnings
from pathlib import Path
from typing import Any

import numpy as np

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


class StoreReader:
    """Reads the store at ``layout``; :attr:`problems` lists, in words, what
    the last read found damaged or missing."""

    def __init__(self, layout: StoreLayout) -> None:
        self.layout = layout
        self.problems: list[str] = []

    def read(self) -> tuple[list[RunRecord], Batch]:
        """Every stored run: its newest record, and its data.

        A batch whose data part is missing, truncated or damaged is left out
        (its runs read as not run) and said in :attr:`problems` and a
        warning (raised for the caller of the caller).
        """
        result = self.read_checked(check_all=False)
        if self.problems:
            shown = "; ".join(self.problems[:3])
            more = len(self.problems) - 3
            warnings.warn(
                f"The store {self.layout.root} has {len(self.problems)} damaged or "
                f"missing part(s); their runs are read as not run and a resume runs "
                f"them again: {shown}{f' (and {more} more)' if more > 0 else ''}",
                RuntimeWarning,
                stacklevel=3,
            )
        return result

    def read_checked(self, check_all: bool) -> tuple[list[RunRecord], Batch]:
        """As :meth:`read`, without a warning; ``check_all`` also checks the
        data of runs stored again later."""
        self.problems = []
        batches = [b for b in map(self.read_batch, self.layout.run_parts()) if b]
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

    def committed_files(self, group: str, name: str) -> list[Path]:
        """The data files of ``name`` (a table of ``group``: frames, tables,
        datasets) that committed batches hold, for scanning them in place."""
        files = []
        for batch in filter(None, map(self.read_batch, self.layout.run_parts())):
            for file in _listed(batch):
                if file.get("group") == group and file.get("name") == name:
                    path = self.layout.root / file["path"]
                    if path.exists():
                        files.append(path)
        return files

    def scan(self, table: str) -> Any:
        """The committed data of ``table`` (a data table, or a user table or
        recorder dataset by name) as a ``pyarrow.dataset.Dataset``."""
        if table in DATA_TABLES:
            candidates = [(FRAMES, table)]
        else:
            candidates = [(TABLES, table), (DATASETS, table)]
        for group, name in candidates:
            files = self.committed_files(group, name)
            if files:
                import pyarrow.dataset as ds

                return ds.dataset([str(f) for f in files], format="parquet")
        raise KeyError(f"The store has no table {table!r}.")

    def read_batch(self, path: Path) -> StoredBatch | None:
        """A ``runs`` part: its records and the data parts it lists (None,
        and a problem noted, if it cannot be read or its checksum fails)."""
        name = _relative(path, self.layout.root)
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
        except Exception as exc:
            self.problems.append(
                f"{name} cannot be read ({_reason(exc)}): the runs it recorded are "
                "read as not run (unless stored again later), and a resume runs "
                "them again."
            )
            return None
        return {"name": name, "part": path.stem, "records": records, "files": batch}

    def data_files(self, batch: StoredBatch) -> list[Path]:
        """The data files a batch lists (whether they exist or not)."""
        return [self.layout.root / entry["path"] for entry in _listed(batch)]

    def read_data(
        self, batch: StoredBatch
    ) -> tuple[list[tuple[str, str, Chunk]], str | None]:
        """The data parts of a batch, checked; or a problem, in words."""
        listing = batch["files"]
        if listing is None:  # written before checksums: find its parts by name
            files = self.layout.old_data_parts(batch["part"])
        else:
            files = listing.get("files", [])
        if not isinstance(files, list) or not all(
            isinstance(e, dict)
            and isinstance(e.get("path"), str)
            and e.get("group") in GROUPS
            and isinstance(e.get("name"), str)
            and (e["group"] != FRAMES or e["name"] in DATA_TABLES)
            for e in files
        ):
            return [], f"{batch['name']} lists its data parts in an unknown form"
        data = []
        for entry in files:
            relative = entry["path"]
            if ".." in relative.split("/") or relative.startswith("/"):
                return [], f"{batch['name']} lists a data part outside the store"
            chunk, problem = self._read_part(relative, entry)
            if problem:
                return [], problem
            data.append((entry["group"], entry["name"], chunk))
        return data, None

    def _read_part(
        self, relative: str, entry: dict[str, Any]
    ) -> tuple[Chunk, str | None]:
        """One data part a batch lists, checked against what it recorded."""
        try:
            raw = (self.layout.root / relative).read_bytes()
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


def _listed(batch: StoredBatch) -> list[dict[str, Any]]:
    """The data files a batch lists with their checksums (none before those)."""
    return (batch.get("files") or {}).get("files", [])


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
