"""Merge a store's many small parts into one part per table.

The merged batch is committed (with every run's newest record) before the old
parts are removed, so a crash at any moment leaves a readable store.
"""

from __future__ import annotations

import contextlib

from ..core.records import Batch, BatchOutcome, sort_keys
from .reader import StoreReader
from .writer import BatchWriter, joined


def compact_parts(reader: StoreReader, writer: BatchWriter) -> dict[str, int]:
    """Rewrite the store as one batch, each table sorted by its keys in one
    part; return the part counts before and after (the caller holds the lock).

    Reads the store into memory (all of it) at once.
    """
    layout = reader.layout
    before = len(layout.run_parts())
    records, data = reader.read()
    if not records:
        return {"parts_before": before, "parts_after": before}
    old = layout.run_parts()
    old_data = [
        path
        for batch in filter(None, map(reader.read_batch, old))
        for path in reader.data_files(batch)
    ]
    merged = Batch(
        {
            (group, name): [joined(chunks, sort_keys(group, name))]
            for group, name, chunks in data.items()
            if chunks
        }
    )
    writer.write(BatchOutcome(records, merged))
    for path in [*old, *old_data]:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
    return {"parts_before": before, "parts_after": len(layout.run_parts())}
