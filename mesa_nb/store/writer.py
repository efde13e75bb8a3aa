"""Write batches of finished runs into a store: data parts first, runs last.

Each batch writes its data parts first, one per table, and its ``runs`` part
last: the commit point, whose metadata lists the data parts with their
sha256, size and row count, and a checksum of its own rows. Every file is
written atomically and durably (:mod:`.atomic`). A run counts as stored only
once its ``runs`` row exists, so a killed kernel loses at most the runs in
flight and never leaves half a run behind. A batch whose parts cannot all be
written (a full disk) removes those it wrote; a cancelled run is never
stored (a resume runs it again).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from ..core.columns import chunks_to_frame, frame_to_chunk
from ..core.records import Batch, BatchOutcome, Chunk, RunRecord, Status, sort_keys
from .atomic import AtomicFiles, remove_file
from .encoding import _pyarrow, chunk_to_parquet, dumps_tagged, table_to_parquet
from .names import PartNames, StoreLayout, store_root

#: Parquet metadata of a ``runs`` part: the batch's data parts and checksums.
BATCH_KEY = b"mesa_nb_batch"
#: Parquet metadata of a ``runs`` part: how its ``drawn`` column is encoded.
DRAWN_KEY = b"mesa_nb_drawn"

#: What a batch records of each data part: group, name, path, sha256, bytes, rows.
FileEntry = dict[str, Any]


def batch_digest(rows: list[dict[str, Any]], files: Any) -> str:
    """The checksum a ``runs`` part keeps of its rows and its file list."""
    text = json.dumps([rows, files], sort_keys=True, default=repr)
    return hashlib.sha256(text.encode()).hexdigest()


def joined(chunks: list[Chunk], keys: list[str]) -> Chunk:
    """Chunks as one, sorted by ``keys`` (consumes them)."""
    return frame_to_chunk(chunks_to_frame(list(chunks), keys))


class BatchWriter:
    """Writes batches into the store at ``layout``: data parts, then records."""

    def __init__(self, layout: StoreLayout, files: AtomicFiles, names: PartNames):
        self.layout = layout
        self.files = files
        self.names = names

    def write(self, outcome: BatchOutcome) -> None:
        """Store a finished batch: data parts first, its run records last."""
        if not outcome.records:
            return
        if outcome.stored is not None:  # a worker wrote the data parts already
            self.commit(outcome.records, *outcome.stored)
            return
        self.commit(outcome.records, *self.write_parts(outcome.data))

    def write_parts(
        self, data: Batch, part: str | None = None, under: str = ""
    ) -> tuple[str, list[FileEntry]]:
        """Write a batch's data parts (not its records), one per table; return
        the part name and what :meth:`commit` records of each file.

        ``under``: a folder of the store the parts go into instead of their
        own (compaction stages its parts there). If a part cannot be written
        (a full disk), the parts written before it are removed and the error
        raised: no part of an uncommitted batch is left for a glob to read.
        """
        part = part or self.names.new()
        files: list[FileEntry] = []
        try:
            for group, name, chunks in data.items():
                chunks = [chunk for chunk in chunks if chunk]
                if not chunks:
                    continue
                one = (
                    chunks[0]
                    if len(chunks) == 1
                    else joined(chunks, sort_keys(group, name))
                )
                raw, rows = chunk_to_parquet(one)
                relative = f"{under}{self.layout.data_part(group, name, part)}"
                self.files.write(self.layout.root / relative, raw)
                files.append(
                    {
                        "group": group,
                        "name": name,
                        "path": relative,
                        "sha256": hashlib.sha256(raw).hexdigest(),
                        "bytes": len(raw),
                        "rows": rows,
                    }
                )
        except BaseException:
            for entry in files:
                remove_file(self.layout.root / entry["path"])
            raise
        return part, files

    def write_records(self, records: list[RunRecord], part: str | None = None) -> None:
        """Store run records (the commit point of a batch)."""
        self.commit(records, part or self.names.new(), [])

    def commit(
        self, records: list[RunRecord], part: str, files: list[FileEntry]
    ) -> None:
        """Write the ``runs`` part of batch ``part``: its records, and its
        data ``files`` with their checksums (the batch's commit point).

        Cancelled records are left out (a run stored as cancelled would be
        skipped by a resume); a batch of cancelled runs only is not stored,
        and its data ``files`` are removed.
        """
        records = [r for r in records if r.status != Status.CANCELLED]
        if not records:
            for entry in files:
                remove_file(self.layout.root / entry["path"])
            return
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
        batch["sha256"] = batch_digest(table.to_pylist(), files)
        table = table.replace_schema_metadata(
            {BATCH_KEY: json.dumps(batch).encode(), DRAWN_KEY: b"tagged-json"}
        )
        self.files.write(self.layout.run_part(part), table_to_parquet(table))


class PartWriter:
    """Writes a batch's data parts into a store from a worker process.

    Picklable (it holds the store's path only); the parent commits the
    batch's run records, as for batches it writes itself.
    """

    def __init__(self, path: str) -> None:
        self.path = path

    def write_parts(self, data: Batch) -> tuple[str, list[FileEntry]]:
        """Write the data parts of a batch; return its part name and files."""
        layout = StoreLayout(store_root(self.path))
        return BatchWriter(layout, AtomicFiles(), PartNames()).write_parts(data)


def _text(value: Any) -> str | None:
    return None if value is None else str(value)
