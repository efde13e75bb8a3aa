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

import pandas as pd

from . import _mesa
from .collect import COLLECTOR_HINT, drive, read_collector
from .columns import Chunk, frame_to_chunk
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


def _tag(frame: pd.DataFrame | None, run_id: int) -> pd.DataFrame | None:
    if frame is None:
        return None
    frame.insert(0, "RunId", run_id)
    return frame


def run_one(
    spec: RunSpec, settings: RunSettings, stop: Any = None
) -> tuple[RunRecord, dict[str, Any]]:
    """Build, step and read one model; failures are caught and recorded."""
    start = time.perf_counter()
    record = RunRecord(spec.run_id, OK)
    model = None
    data: dict[str, Any] = {}
    try:
        model, record.drawn = build_model(spec, settings)
        record_steps = drive(model, settings.max_steps, stop)
        data = read_collector(model, record_steps, settings.data_collection_period)
        for key in ("model", "agents", "agenttypes"):
            data[key] = _tag(data[key], spec.run_id)
        data["tables"] = {k: _tag(v, spec.run_id) for k, v in data["tables"].items()}
    except Exception as exc:
        record.status = FAILED
        record.error = f"{type(exc).__name__}: {exc}"
        record.traceback = traceback.format_exc()
        data = {}
    finally:
        if model is not None:
            record.steps = int(model.steps)
            _mesa.release_model(model)
    record.wall_time = time.perf_counter() - start
    return record, data


def _concat(frames: list[pd.DataFrame]) -> Chunk | None:
    frames = [f for f in frames if f is not None and len(f.columns)]
    if not frames:
        return None
    frame = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    return frame_to_chunk(frame)


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
    parts: dict[str, list] = {"model": [], "agents": [], "agenttypes": []}
    tables: dict[str, list] = {}
    interrupted = False
    try:
        for spec in specs:
            record, data = run_one(spec, settings, stop)
            if data:
                for key, frames in parts.items():
                    frames.append(data[key])
                for name, frame in data["tables"].items():
                    tables.setdefault(name, []).append(frame)
            records.append(record)
            if on_run is not None:
                on_run(record)
    except KeyboardInterrupt:
        interrupted = True
        kept = {r.run_id for r in records}
        for frames in [*parts.values(), *tables.values()]:
            frames[:] = [
                f for f in frames if f is None or f.empty or f["RunId"].iat[0] in kept
            ]
    return BatchOutcome(
        records,
        {key: _concat(frames) for key, frames in parts.items()},
        {name: _concat(frames) for name, frames in tables.items()},
        interrupted,
    )
