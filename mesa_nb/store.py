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

import hashlib
import inspect
import json
import os
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from .columns import Chunk, frame_to_chunk
from .errors import MesaNbError
from .parameters import ParameterSpace, Sampler
from .plan import RunSettings, RunSpec, SweepPlan
from .run import BatchOutcome, RunRecord
from .seeding import derive_seed

FORMAT = "mesa_nb-store/1"
DATA_TABLES = ("model", "agents", "agenttypes")
JSON_COLUMNS_KEY = b"mesa_nb_json_columns"


class StoreError(MesaNbError, ValueError):
    """The results directory cannot be used for this sweep."""


def _pyarrow() -> Any:
    try:
        import pyarrow as pa
        import pyarrow.parquet as pq
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(
            "A results store needs pyarrow: pip install 'mesa_nb[parquet]'"
        ) from None
    return pa, pq


# -- describing a sweep as JSON ------------------------------------------------
def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Sampler):
        return _describe_callable(value.function)
    if isinstance(value, type):
        return {"class": f"{value.__module__}.{value.__qualname__}"}
    if callable(value):
        return _describe_callable(value)
    return {"repr": repr(value)}


def _describe_callable(function: Any) -> dict[str, str]:
    try:
        source = inspect.getsource(function)
    except (OSError, TypeError):
        code = getattr(function, "__code__", None)
        source = repr(code.co_code + repr(code.co_consts).encode()) if code else ""
    name = getattr(function, "__qualname__", type(function).__name__)
    return {"callable": name, "sha256": hashlib.sha256(source.encode()).hexdigest()}


def to_json(value: Any) -> Any:
    """``value`` as plain JSON data (non-JSON objects become descriptions)."""
    return json.loads(json.dumps(value, default=_json_default))


def sweep_definition(plan: SweepPlan) -> dict[str, Any]:
    """What makes two sweeps the same sweep (model, points, options, seeds)."""
    cls = plan.settings.model_cls
    if plan.seed_source == "rng":
        seeding: dict[str, Any] = {
            "kind": "rng",
            "seeds": to_json(
                [plan.runs[i * len(plan.space)].seed for i in range(plan.iterations)]
            ),
        }
    elif plan.seed_source == "parameter":
        seeding = {"kind": "parameter"}
    else:
        seeding = {"kind": "master", "master_seed": str(plan.master_seed)}
    return {
        "model": f"{cls.__module__}.{cls.__qualname__}",
        "parameters": list(plan.space.names),
        "points": to_json(list(plan.space.points)),
        "iterations": plan.iterations,
        "max_steps": plan.settings.max_steps,
        "data_collection_period": plan.settings.data_collection_period,
        "seed_kwarg": plan.settings.seed_kwarg,
        "seeding": seeding,
    }


def _differences(stored: dict[str, Any], wanted: dict[str, Any]) -> list[str]:
    return [key for key in wanted if stored.get(key) != wanted[key]]


# -- Parquet with a JSON fallback for odd columns ------------------------------
def _write_parquet(path: Path, frame: pd.DataFrame) -> None:
    pa, pq = _pyarrow()
    json_columns = []
    try:
        table = pa.Table.from_pandas(frame, preserve_index=False)
    except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
        frame = frame.copy()
        for column in frame.columns:
            try:
                pa.array(frame[column])
            except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError):
                frame[column] = [
                    json.dumps(v, default=_json_default) for v in frame[column]
                ]
                json_columns.append(str(column))
        table = pa.Table.from_pandas(frame, preserve_index=False)
    metadata = dict(table.schema.metadata or {})
    metadata[JSON_COLUMNS_KEY] = json.dumps(json_columns).encode()
    table = table.replace_schema_metadata(metadata)
    tmp = path.with_suffix(".tmp")
    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, tmp)
    os.replace(tmp, path)


def _read_parquet(path: Path) -> pd.DataFrame:
    _, pq = _pyarrow()
    table = pq.read_table(path)
    frame = table.to_pandas()
    raw = (table.schema.metadata or {}).get(JSON_COLUMNS_KEY)
    for column in json.loads(raw) if raw else []:
        frame[column] = [json.loads(v) for v in frame[column]]
    return frame


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
        seeding = self.manifest()["definition"]["seeding"]
        return int(seeding["master_seed"]) if seeding["kind"] == "master" else None

    def open(self, plan: SweepPlan, metadata: dict[str, Any]) -> None:
        """Start a new store for ``plan``, or check that it stores this sweep."""
        definition = sweep_definition(plan)
        if self.exists():
            stored = self.manifest()["definition"]
            changed = _differences(stored, definition)
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
                _write_parquet(
                    self.path / table / f"{part}.parquet", pd.DataFrame(chunk)
                )
        for name, chunk in outcome.tables.items():
            if chunk:
                _write_parquet(
                    self.path / "tables" / name / f"{part}.parquet", pd.DataFrame(chunk)
                )
        self.write_records(outcome.records, part)

    def write_records(self, records: list[RunRecord], part: str | None = None) -> None:
        """Store run records (the commit point of a batch)."""
        part = part or uuid.uuid4().hex[:16]
        frame = pd.DataFrame(
            {
                "RunId": [r.run_id for r in records],
                "status": [r.status for r in records],
                "steps": pd.array([r.steps for r in records], dtype="Int64"),
                "wall_time": [r.wall_time for r in records],
                "error": pd.array([r.error for r in records], dtype=object),
                "traceback": pd.array([r.traceback for r in records], dtype=object),
                "drawn": [json.dumps(r.drawn, default=_json_default) for r in records],
                "part": part,
            }
        )
        _write_parquet(self.path / "runs" / f"{part}.parquet", frame)

    # -- reading -------------------------------------------------------------------
    def read(
        self,
    ) -> tuple[list[RunRecord], dict[str, list[Chunk]], dict[str, list[Chunk]]]:
        """Every stored run: its records, and its data as chunks per table."""
        records: dict[int, RunRecord] = {}
        part_of: dict[int, str] = {}
        for path in sorted((self.path / "runs").glob("*.parquet")):
            for row in _read_parquet(path).to_dict("records"):
                run_id = int(row["RunId"])
                if run_id in records:
                    continue
                records[run_id] = RunRecord(
                    run_id,
                    row["status"],
                    None if pd.isna(row["steps"]) else int(row["steps"]),
                    float(row["wall_time"]),
                    json.loads(row["drawn"]),
                    row["error"],
                    row["traceback"],
                )
                part_of[run_id] = row["part"]
        frames = {t: self._read_table(self.path / t, part_of) for t in DATA_TABLES}
        tables = {
            d.name: self._read_table(d, part_of)
            for d in sorted((self.path / "tables").glob("*"))
            if d.is_dir()
        }
        return list(records.values()), frames, tables

    @staticmethod
    def _read_table(folder: Path, part_of: dict[int, str]) -> list[Chunk]:
        chunks = []
        for path in sorted(folder.glob("*.parquet")):
            frame = _read_parquet(path)
            keep = frame["RunId"].map(part_of).eq(path.stem)
            if keep.any():
                chunks.append(frame_to_chunk(frame[keep].reset_index(drop=True)))
        return chunks


def plan_from_manifest(manifest: dict[str, Any], model_cls: type | None) -> SweepPlan:
    """Rebuild the run list of a stored sweep (for loading it without a re-run)."""
    definition = manifest["definition"]
    names = tuple(definition["parameters"])
    points = tuple(
        {
            n: Sampler(None, takes_rng=False)
            if isinstance(v, dict)
            and "callable" in v
            and n in manifest["metadata"]["sampled"]
            else v
            for n, v in point.items()
        }
        for point in definition["points"]
    )
    meta = manifest["metadata"]
    space = ParameterSpace(names, points, tuple(meta["swept"]), tuple(meta["sampled"]))
    seeding = definition["seeding"]
    runs = []
    for iteration in range(definition["iterations"]):
        for point in points:
            run_id = len(runs)
            if seeding["kind"] == "rng":
                seed = seeding["seeds"][iteration]
            elif seeding["kind"] == "master":
                seed = derive_seed(int(seeding["master_seed"]), run_id)
            else:
                seed = point.get("rng", point.get("seed"))
            runs.append(RunSpec(run_id, iteration, point, seed))
    settings = RunSettings(
        model_cls or _Named(definition["model"]),
        definition["max_steps"],
        definition["data_collection_period"],
        definition["seed_kwarg"],
    )
    master = int(seeding["master_seed"]) if seeding["kind"] == "master" else None
    return SweepPlan(
        settings,
        space,
        runs,
        definition["iterations"],
        master,
        meta.get("seed_source", seeding["kind"]),
    )


class _Named:
    """Stands for a model class that was not given when loading a store."""

    def __init__(self, dotted: str) -> None:
        self.__module__, _, self.__qualname__ = dotted.rpartition(".")
