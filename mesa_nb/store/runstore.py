"""A results directory that grows as runs finish, and lets a sweep resume.

Layout (Parquet via pyarrow, JSON; never pickle)::

    manifest.json             format, sweep definition, seeds, versions
    runs/<part>.parquet       one row per finished run: status, steps, errors
    model/<part>.parquet      the data of those runs, one file per table
    agents/<part>.parquet
    agenttypes/<part>.parquet
    tables/<name>/<part>.parquet

Each batch of finished runs writes its data parts first and its ``runs`` part
last, each through a temporary file renamed into place: a run counts as
stored only once its ``runs`` row exists, so a killed kernel loses at most the
runs in flight and never leaves half a run behind.
"""

from __future__ import annotations

import json
import os
import uuid
from pathlib import Path
from typing import Any

import pandas as pd

from ..core.columns import frame_to_chunk
from ..core.errors import StoreError
from ..core.plan import SweepPlan
from ..core.records import DATA_TABLES, BatchOutcome, Chunk, RunRecord, Status
from .encoding import json_default, read_parquet, to_json, write_parquet
from .manifest import FORMAT, differences, stored_master_seed, sweep_definition


class RunStore:
    """Writes finished runs to ``path`` and reads them back."""

    def __init__(self, path: str | os.PathLike) -> None:
        self.path = Path(path)

    @property
    def manifest_path(self) -> Path:
        return self.path / "manifest.json"

    def exists(self) -> bool:
        """True if a sweep has already been stored here."""
        return self.manifest_path.exists()

    def manifest(self) -> dict[str, Any]:
        """The stored manifest; refuses what is not a mesa_nb store."""
        try:
            manifest = json.loads(self.manifest_path.read_text())
        except (OSError, json.JSONDecodeError) as exc:
            raise StoreError(f"{self.manifest_path} cannot be read: {exc}") from None
        if manifest.get("format") != FORMAT:
            raise StoreError(
                f"{self.path} is not a mesa_nb results store (format "
                f"{manifest.get('format')!r}); choose another directory."
            )
        return manifest

    def stored_master_seed(self) -> int | None:
        """The master seed of the stored sweep, if it used one."""
        return stored_master_seed(self.manifest())

    def open(self, plan: SweepPlan, metadata: dict[str, Any]) -> None:
        """Start a new store for ``plan``, or check that it stores this sweep."""
        definition = sweep_definition(plan)
        if self.exists():
            stored = self.manifest()["definition"]
            changed = differences(stored, definition)
            if changed:
                raise StoreError(
                    f"{self.path} holds a different sweep (it differs in: "
                    f"{', '.join(changed)}). Use a new store directory for this "
                    "sweep, or run the stored definition again to resume it."
                )
            return
        if self.path.exists() and any(self.path.iterdir()):
            raise StoreError(
                f"{self.path} exists and is not empty but has no manifest.json: "
                "give an empty or new directory."
            )
        self.path.mkdir(parents=True, exist_ok=True)
        manifest = {"format": FORMAT, "definition": definition, "metadata": metadata}
        tmp = self.manifest_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(to_json(manifest), indent=2))
        os.replace(tmp, self.manifest_path)

    # -- writing -----------------------------------------------------------------
    def write(self, outcome: BatchOutcome) -> None:
        """Store a finished batch: data parts first, its run records last."""
        if not outcome.records:
            return
        part = uuid.uuid4().hex[:16]
        for table, chunk in outcome.frames.items():
            if chunk:
                write_parquet(
                    self.path / table / f"{part}.parquet", pd.DataFrame(chunk)
                )
        for group, named in (
            ("tables", outcome.tables),
            ("datasets", outcome.datasets),
        ):
            for name, chunk in named.items():
                if chunk:
                    path = self.path / group / name / f"{part}.parquet"
                    write_parquet(path, pd.DataFrame(chunk))
        self.write_records(outcome.records, part)

    def write_records(self, records: list[RunRecord], part: str | None = None) -> None:
        """Store run records (the commit point of a batch)."""
        part = part or uuid.uuid4().hex[:16]
        frame = pd.DataFrame(
            {
                "RunId": [r.run_id for r in records],
                "status": [str(r.status) for r in records],
                "steps": pd.array([r.steps for r in records], dtype="Int64"),
                "wall_time": [r.wall_time for r in records],
                "error": pd.array([r.error for r in records], dtype=object),
                "traceback": pd.array([r.traceback for r in records], dtype=object),
                "drawn": [json.dumps(r.drawn, default=json_default) for r in records],
                "seeded": pd.array([r.seeded for r in records], dtype="boolean"),
                "part": part,
            }
        )
        write_parquet(self.path / "runs" / f"{part}.parquet", frame)

    # -- reading -------------------------------------------------------------------
    def read(
        self,
    ) -> tuple[
        list[RunRecord],
        dict[str, list[Chunk]],
        dict[str, list[Chunk]],
        dict[str, list[Chunk]],
    ]:
        """Every stored run: its records, and its data as chunks per table,
        per user table and per recorder dataset."""
        records: dict[int, RunRecord] = {}
        part_of: dict[int, str] = {}
        for path in sorted((self.path / "runs").glob("*.parquet")):
            for row in read_parquet(path).to_dict("records"):
                run_id = int(row["RunId"])
                if run_id in records:
                    continue
                records[run_id] = RunRecord(
                    run_id,
                    Status(row["status"]),
                    None if pd.isna(row["steps"]) else int(row["steps"]),
                    float(row["wall_time"]),
                    json.loads(row["drawn"]),
                    row["error"],
                    row["traceback"],
                    _bool_or_none(row.get("seeded")),
                )
                part_of[run_id] = row["part"]
        frames = {t: self._read_table(self.path / t, part_of) for t in DATA_TABLES}
        tables, datasets = (
            {
                d.name: self._read_table(d, part_of)
                for d in sorted((self.path / group).glob("*"))
                if d.is_dir()
            }
            for group in ("tables", "datasets")
        )
        return list(records.values()), frames, tables, datasets

    @staticmethod
    def _read_table(folder: Path, part_of: dict[int, str]) -> list[Chunk]:
        chunks = []
        for path in sorted(folder.glob("*.parquet")):
            frame = read_parquet(path)
            keep = frame["RunId"].map(part_of).eq(path.stem)
            if keep.any():
                chunks.append(frame_to_chunk(frame[keep].reset_index(drop=True)))
        return chunks


def _bool_or_none(value: Any) -> bool | None:
    return None if value is None or pd.isna(value) else bool(value)
