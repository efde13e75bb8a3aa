"""Gather what finished runs send back, and build the result from it.

Records and data arrive in completion order (or from a store); the result is
built once, sorted by RunId, so it never depends on that order.
"""

from __future__ import annotations

import datetime as dt
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import _mesa
from .columns import Chunk, chunks_to_frame
from .parameters import Sampler
from .plan import RunSpec, SweepPlan
from .result import SweepResult
from .run import CANCELLED, OK, BatchOutcome, RunRecord
from .store import RunStore


@dataclass(frozen=True)
class Progress:
    """One progress event: sent once at the start, then once per finished run."""

    total: int
    done: int
    failed: int
    record: RunRecord | None = None


ProgressCallback = Callable[[Progress], None]


class Gatherer:
    """Collects records and frames as they arrive and builds the result."""

    def __init__(
        self,
        plan: SweepPlan,
        on_progress: ProgressCallback | None,
        store: RunStore | None = None,
    ) -> None:
        self.plan = plan
        self.on_progress = on_progress
        self.store = store
        self.records: dict[int, RunRecord] = {}
        self.frames: dict[str, list[Chunk]] = {
            "model": [],
            "agents": [],
            "agenttypes": [],
        }
        self.tables: dict[str, list[Chunk]] = {}
        self.failed = 0
        self.resumed = 0
        if store is not None:
            self._preload(store)
        if on_progress is not None:
            on_progress(Progress(len(plan.runs), len(self.records), self.failed))

    def _preload(self, store: RunStore) -> None:
        records, frames, tables = store.read()
        for record in records:
            self.records[record.run_id] = record
            self.failed += record.status != OK
        for key, chunks in frames.items():
            self.frames[key].extend(chunks)
        for name, chunks in tables.items():
            self.tables.setdefault(name, []).extend(chunks)
        self.resumed = len(records)

    def pending(self) -> list[RunSpec]:
        """The runs of the plan that have not finished yet."""
        return [r for r in self.plan.runs if r.run_id not in self.records]

    def add_record(self, record: RunRecord) -> None:
        self.records[record.run_id] = record
        if record.status != OK:
            self.failed += 1
        if self.on_progress is not None:
            self.on_progress(
                Progress(len(self.plan.runs), len(self.records), self.failed, record)
            )

    def add_frames(self, outcome: BatchOutcome) -> None:
        if self.store is not None:
            self.store.write(outcome)
        for key, frame in outcome.frames.items():
            if frame is not None:
                self.frames[key].append(frame)
        for name, frame in outcome.tables.items():
            if frame is not None:
                self.tables.setdefault(name, []).append(frame)

    def add_batch(self, outcome: BatchOutcome) -> None:
        self.add_frames(outcome)
        for record in outcome.records:
            self.add_record(record)

    def add_failure(self, record: RunRecord) -> None:
        """A run that failed outside ``run_one`` (e.g. its worker died)."""
        if self.store is not None:
            self.store.write_records([record])
        self.add_record(record)

    # -- the result -----------------------------------------------------------
    def _runs_table(
        self, missing_status: str
    ) -> tuple[pd.DataFrame, dict[int, dict[str, Any]]]:
        rows, kwargs = [], {}
        names = self.plan.space.names
        for spec in self.plan.runs:
            record = self.records.get(spec.run_id) or RunRecord(
                spec.run_id, missing_status
            )
            params = {
                n: record.drawn.get(n) if isinstance(v, Sampler) else v
                for n, v in spec.params.items()
            }
            rows.append(
                {
                    "RunId": spec.run_id,
                    "iteration": spec.iteration,
                    "seed": spec.seed,
                    **params,
                    "status": record.status,
                    "steps": record.steps,
                    "wall_time": record.wall_time,
                    "error": record.error,
                    "traceback": record.traceback,
                }
            )
            if record.status == OK:
                kwargs[spec.run_id] = params
        columns = ["RunId", "iteration", "seed", *names, "status", "steps"]
        columns += ["wall_time", "error", "traceback"]
        runs = pd.DataFrame(rows, columns=columns)
        runs["steps"] = runs["steps"].astype("Int64")
        return runs, kwargs

    def build(
        self,
        *,
        executor: str,
        workers: int,
        started: float,
        start_wall: dt.datetime,
        interrupted: bool,
        missing_status: str = CANCELLED,
    ) -> SweepResult:
        """The :class:`SweepResult` of everything gathered (consumes the chunks)."""
        plan = self.plan
        runs, kwargs = self._runs_table(missing_status)
        model = chunks_to_frame(self.frames["model"], ["RunId", "Step"])
        reporters = set(model.columns)
        keys = ["iteration", *(n for n in plan.space.names if n not in reporters)]
        by_run = runs.set_index("RunId")[keys]
        model = model.join(by_run, on="RunId")
        order = ["RunId", *keys, "Step"]
        model = model[order + [c for c in model.columns if c not in order]]
        agent_keys = ["RunId", "Step", "AgentID"]
        agents = chunks_to_frame(self.frames["agents"], agent_keys)
        agenttypes = chunks_to_frame(self.frames["agenttypes"], agent_keys)
        tables = {n: chunks_to_frame(f, ["RunId"]) for n, f in self.tables.items()}
        cls = plan.settings.model_cls
        metadata = {
            "model": cls.__qualname__,
            "model_module": cls.__module__,
            "parameters": list(plan.space.names),
            "swept": list(plan.space.swept),
            "sampled": list(plan.space.sampled),
            "n_points": len(plan.space),
            "iterations": plan.iterations,
            "n_runs": len(plan.runs),
            "max_steps": plan.settings.max_steps,
            "data_collection_period": plan.settings.data_collection_period,
            "seed_source": plan.seed_source,
            "master_seed": plan.master_seed,
            "seed_kwarg": plan.settings.seed_kwarg,
            "executor": executor,
            "workers": workers,
            "store": str(self.store.path) if self.store is not None else None,
            "resumed_runs": self.resumed,
            "started_at": start_wall.isoformat(),
            "finished_at": dt.datetime.now(dt.UTC).isoformat(),
            "wall_time": time.perf_counter() - started,
            "interrupted": interrupted,
            "versions": versions(),
        }
        return SweepResult(
            runs,
            model,
            agents,
            agenttypes,
            tables,
            metadata,
            parameter_names=plan.space.names,
            model_cls=cls if isinstance(cls, type) else None,
            run_kwargs=kwargs,
        )


def versions() -> dict[str, str]:
    """Python, Mesa and mesa_nb versions, as recorded with every sweep."""
    from . import __version__

    return {
        "python": sys.version.split()[0],
        "platform": platform.platform(),
        "mesa": _mesa.MESA_VERSION,
        "mesa_nb": __version__,
        "pandas": pd.__version__,
    }
