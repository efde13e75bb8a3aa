"""Merge a store's many small parts into one part per table, safe to kill.

A ``<table>/*.parquet`` glob (DuckDB, Polars) must never read a row twice,
and a read must find every run, whenever a compaction is stopped:

1. the merged parts are written into ``compacting/<P>/`` (no glob reaches
   them), then their batch ``P`` is committed: ``runs/P.parquet``, which
   holds every run's newest record and lists the staged parts. From here on
   a read uses the staged parts.
2. the older ``runs`` parts are removed, then every data part in the table
   folders (all superseded by ``P``, or never committed): a glob reads fewer
   rows meanwhile, never more.
3. the staged parts are linked into the table folders under a new batch
   name, committed again (``runs/P2.parquet``, the newest), then ``P`` and
   ``compacting/`` are removed.

:func:`finish_compaction`, run by the lock holder whenever it opens the
store, finishes a compaction stopped after step 1, and removes the staged
parts of one stopped before its commit; :func:`remove_uncommitted` removes
data parts whose batch was never committed (a writer killed mid-batch).
"""

from __future__ import annotations

from pathlib import Path

from ..core.records import Batch, sort_keys
from .atomic import remove_file, remove_tree
from .names import StoreLayout, part_order
from .reader import StoreReader
from .writer import BatchWriter, joined


def compact_parts(reader: StoreReader, writer: BatchWriter) -> dict[str, int]:
    """Rewrite the store as one batch, each table sorted by its keys in one
    part; return the part counts before and after (the caller holds the lock
    and has tidied the store: :func:`finish_compaction`).

    Reads the store into memory (all of it) at once.
    """
    layout = reader.layout
    before = len(layout.run_parts())
    records, data = reader.read()
    if not records:
        return {"parts_before": before, "parts_after": before}
    merged = Batch(
        {
            (group, name): [joined(chunks, sort_keys(group, name))]
            for group, name, chunks in data.items()
            if chunks
        }
    )
    part = writer.names.new()
    staged = f"{layout.staging.name}/{part}/"
    try:
        writer.commit(records, *writer.write_parts(merged, part, under=staged))
    except BaseException:  # e.g. a full disk: nothing changed, nothing left
        if not layout.run_part(part).exists():
            remove_tree(layout.staging / part)
        raise
    finish_compaction(reader, writer)
    return {"parts_before": before, "parts_after": len(layout.run_parts())}


def finish_compaction(reader: StoreReader, writer: BatchWriter) -> None:
    """Finish a compaction stopped after its commit, or remove the staged
    parts of one stopped before it (the caller holds the lock)."""
    layout = reader.layout
    if not layout.staging.is_dir():
        return
    committed = [
        folder.name
        for folder in layout.staging.iterdir()
        if layout.run_part(folder.name).is_file()
    ]
    if committed:
        staged = layout.run_part(max(committed))
        if not _put_in_place(reader, writer, staged):
            return  # its runs part cannot be read: leave the store as it is
    remove_tree(layout.staging)


def _put_in_place(reader: StoreReader, writer: BatchWriter, staged: Path) -> bool:
    """Steps 2 and 3 for the committed, staged batch ``staged``."""
    layout = reader.layout
    batch = reader.read_batch(staged)
    if batch is None:
        return False
    runs = layout.run_parts()
    for path in runs:
        if part_order(path) < part_order(staged):
            remove_file(path)
    if not any(part_order(path) > part_order(staged) for path in runs):
        for path in layout.data_parts():  # superseded, or never committed
            remove_file(path)
        writer.names.follow(layout)
        part = writer.names.new()
        files = []
        for entry in (batch["files"] or {}).get("files", []):
            relative = layout.data_part(entry["group"], entry["name"], part)
            writer.files.link(layout.root / entry["path"], layout.root / relative)
            files.append({**entry, "path": relative})
        writer.commit(batch["records"], part, files)
    remove_file(staged)
    _remove_empty_folders(layout)
    return True


def remove_uncommitted(reader: StoreReader) -> None:
    """Remove the data parts whose batch was never committed: named after no
    ``runs`` part and listed by none (a writer killed before its commit, a
    worker whose batch was not committed). The caller holds the lock."""
    layout = reader.layout
    named = {path.stem for path in layout.run_parts()}
    orphans = [p for p in layout.data_parts() if p.stem not in named]
    if not orphans:
        return
    listed = {
        layout.root / entry["path"]
        for batch in reader.batches()
        for entry in (batch["files"] or {}).get("files", [])
        if isinstance(entry, dict) and isinstance(entry.get("path"), str)
    }
    for path in orphans:
        if path not in listed:
            remove_file(path)


def _remove_empty_folders(layout: StoreLayout) -> None:
    """Remove the folders of user tables and datasets left empty."""
    for folder in layout.data_folders():
        if folder.parent != layout.root and not any(folder.iterdir()):
            remove_tree(folder)
