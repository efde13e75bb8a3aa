"""Execute runs: the code that runs inside worker processes.

A run never raises: whatever goes wrong is recorded in its :class:`RunRecord`
and the next run starts.
"""

from __future__ import annotations

import time
import traceback
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from . import _mesa
from .collect import COLLECTOR_HINT, RunData, drive, read_collector
from .columns import Chunk, ChunkBuilder
from .errors import ModelClassError
from .parameters import Sampler
from .plan import RunSettings, RunSpec, model_kwargs
from .seeding import sampling_rng

OK, FAILED, CRASHED, CANCELLED = "ok", "failed", "crashed", "cancelled"
PENDING = "pending"


@dataclass
class RunRecord:
    """What happened to one run."""

    run_id: int
    status: str
    steps: int | None = None
    wall_time: float = 0.0
    drawn: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None


@dataclass
class BatchOutcome:
    """The records of a batch of runs, and their data as one chunk per table."""

    records: list[RunRecord]
    frames: dict[str, Chunk | None]
    tables: dict[str, Chunk | None]
    interrupted: bool = False


def draw_samplers(spec: RunSpec) -> dict[str, Any]:
    """Draw every callable parameter of ``spec`` from the run's own RNG."""
    samplers = {n: v for n, v in spec.params.items() if isinstance(v, Sampler)}
    if not samplers:
        return {}
    rng = sampling_rng(spec.seed)
    return {name: sampler.draw(rng) for name, sampler in samplers.items()}


def build_model(spec: RunSpec, settings: RunSettings) -> tuple[Any, dict[str, Any]]:
    """Construct the model of ``spec``; return it with the drawn parameters."""
    drawn = draw_samplers(spec)
    model = settings.model_cls(**model_kwargs(spec, settings, drawn))
    if getattr(model, "datacollector", None) is None:
        _mesa.release_model(model)
        raise ModelClassError(
            f"{settings.model_cls.__name__} has no `datacollector` after __init__. "
            + COLLECTOR_HINT
        )
    return model, drawn


def run_one(
    spec: RunSpec, settings: RunSettings, stop: Any = None
) -> tuple[RunRecord, RunData | None]:
    """Build, step and read one model; failures are caught and recorded."""
    start = time.perf_counter()
    record = RunRecord(spec.run_id, OK)
    model = None
    data: RunData | None = None
    try:
        model, record.drawn = build_model(spec, settings)
        record_steps = drive(model, settings.max_steps, stop)
        data = read_collector(model, record_steps, settings.data_collection_period)
    except Exception as exc:
        record.status = FAILED
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
        data = None
    finally:
        if model is not None:
            record.steps = int(model.steps)
            _mesa.release_model(model)
    record.wall_time = time.perf_counter() - start
    return record, data


def _add_run(builders: dict[str, ChunkBuilder], run_id: int, data: RunData) -> None:
    for table, columns in data.items():
        if columns is None:
            continue
        rows = len(next(iter(columns.values()))) if columns else 0
        builder = builders.setdefault(table, ChunkBuilder())
        run_ids = np.full(rows, run_id, dtype=np.int64)
        builder.add({"RunId": run_ids, **columns}, rows, key=run_id)


def run_batch(
    settings: RunSettings,
    specs: Sequence[RunSpec],
    on_run: Callable[[RunRecord], None] | None = None,
    stop: Any = None,
) -> BatchOutcome:
    """Run ``specs`` one after the other and pack their data per table.

    A ``KeyboardInterrupt`` (or ``stop`` being set) stops the batch; the runs
    finished so far are kept and the outcome is flagged ``interrupted``.
    """
    records: list[RunRecord] = []
    builders: dict[str, ChunkBuilder] = {}
    interrupted = False
    try:
        for spec in specs:
            record, data = run_one(spec, settings, stop)
            if data is not None:
                _add_run(builders, spec.run_id, data)
            records.append(record)
            if on_run is not None:
                on_run(record)
    except KeyboardInterrupt:
        interrupted = True
        finished = {r.run_id for r in records}
        for builder in builders.values():
            if (builder.sizes and not finished) or (
                builder.sizes and builder.pieces["RunId"][-1][0] not in finished
            ):
                builder.drop_last()
    chunks = {table: builder.finish() for table, builder in builders.items()}
    return BatchOutcome(
        records,
        {table: chunks.get(table) for table in ("model", "agents", "agenttypes")},
        {t.split("/", 1)[1]: c for t, c in chunks.items() if t.startswith("tables/")},
        interrupted,
    )
