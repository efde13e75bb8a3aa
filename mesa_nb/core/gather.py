"""Gather what finished runs send back, and build the result from it.

Records and data arrive in completion order (or from a store); the result is
built once, sorted by RunId, so it never depends on that order.
"""

from __future__ import annotations

import datetime as dt
import time
import warnings
from typing import Any, Protocol

import pandas as pd

from .columns import chunks_to_frame
from .meta import versions
from .parameters import PerRun
from .plan import SweepPlan
from .records import (
    DATA_TABLES,
    TABLE_KEYS,
    BatchOutcome,
    Chunk,
    Progress,
    ProgressCallback,
    RunRecord,
    RunSpec,
    Status,
    run_parameters,
)
from .result import SweepResult


class RunSink(Protocol):
    """Where finished runs are kept as they arrive (the results store)."""

    path: Any

    def read(self) -> tuple[list[RunRecord], dict[str, list[Chunk]], dict, dict]:
        """Runs stored earlier: records, and data chunks per table, user
        table and recorder dataset."""
        ...

    def write(self, outcome: BatchOutcome) -> None:
        """Store a batch: data first, records last."""
        ...

    def write_records(self, records: list[RunRecord]) -> None:
        """Store records of runs that have no data."""
        ...


class Gatherer:
    """Collects records and frames as they arrive and builds the result."""

    def __init__(
        self,
        plan: SweepPlan,
        on_progress: ProgressCallback | None,
        store: RunSink | None = None,
    ) -> None:
        self.plan = plan
        self.on_progress = on_progress
        self.store = store
        self.records: dict[int, RunRecord] = {}
        self.frames: dict[str, list[Chunk]] = {table: [] for table in DATA_TABLES}
        self.tables: dict[str, list[Chunk]] = {}
        self.datasets: dict[str, list[Chunk]] = {}
        self.failed = 0
        self.resumed = 0
        self.warned_unseeded = False
        if store is not None:
            self._preload(store)
        if on_progress is not None:
            on_progress(Progress(len(plan.runs), len(self.records), self.failed))

    def _preload(self, store: RunSink) -> None:
        records, frames, tables, datasets = store.read()
        for record in records:
            self.records[record.run_id] = record
            self.failed += record.status != Status.OK
        for key, chunks in frames.items():
            self.frames[key].extend(chunks)
        for name, chunks in tables.items():
            self.tables.setdefault(name, []).extend(chunks)
        for name, chunks in datasets.items():
            self.datasets.setdefault(name, []).extend(chunks)
        self.resumed = len(records)

    def pending(self) -> list[RunSpec]:
        """The runs of the plan that have not finished yet."""
        return [r for r in self.plan.runs if r.run_id not in self.records]

    def add_record(self, record: RunRecord) -> None:
        self.records[record.run_id] = record
        if record.seeded is False and not self.warned_unseeded:
            self.warned_unseeded = True
            name = self.plan.settings.model_cls.__name__
            warnings.warn(
                f"{name} was given the seed of its runs but its random generator "
                "was not seeded with it (a model that takes **kwargs and does not "
                "pass rng= on to super().__init__?): these runs cannot be "
                "reproduced from their seeds, and runs['reproducible'] says so. "
                "Pass the seed on: super().__init__(rng=rng).",
                UserWarning,
                stacklevel=2,
            )
        if record.status != Status.OK:
            self.failed += 1
        if self.on_progress is not None:
            self.on_progress(
                Progress(len(self.plan.runs), len(self.records), self.failed, record)
            )

    def add_frames(self, outcome: BatchOutcome) -> None:
        if self.store is not None:
            self.store.write(outcome)
        for table, chunk in outcome.frames.items():
            self.frames[table].append(chunk)
        for name, chunk in outcome.tables.items():
            self.tables.setdefault(name, []).append(chunk)
        for name, chunk in outcome.datasets.items():
            self.datasets.setdefault(name, []).append(chunk)

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
            params = run_parameters(spec.params, record.drawn)
            shown = {
                n: repr(v) if isinstance(v, PerRun) else v for n, v in params.items()
            }
            rows.append(
                {
                    "RunId": spec.run_id,
                    "iteration": spec.iteration,
                    "seed": spec.seed,
                    **shown,
                    "status": str(record.status),
                    "steps": record.steps,
                    "reproducible": record.seeded,
                    "wall_time": record.wall_time,
                    "error": record.error,
                    "traceback": record.traceback,
                }
            )
            if record.status == Status.OK:
                kwargs[spec.run_id] = params
        columns = ["RunId", "iteration", "seed", *names, "status", "steps"]
        columns += ["reproducible", "wall_time", "error", "traceback"]
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
        missing_status: Status = Status.CANCELLED,
    ) -> SweepResult:
        """The :class:`SweepResult` of everything gathered (consumes the chunks)."""
        plan = self.plan
        runs, kwargs = self._runs_table(missing_status)
        model = chunks_to_frame(self.frames["model"], TABLE_KEYS["model"])
        reporters = [
            c for c in model.columns if c not in (*TABLE_KEYS["model"], "Time")
        ]
        keys = ["iteration", *(n for n in plan.space.names if n not in reporters)]
        by_run = runs.set_index("RunId")[keys]
        model = model.join(by_run, on="RunId")
        order = ["RunId", *keys, "Step"]
        model = model[order + [c for c in model.columns if c not in order]]
        agents = chunks_to_frame(self.frames["agents"], TABLE_KEYS["agents"])
        agenttypes = chunks_to_frame(
            self.frames["agenttypes"], TABLE_KEYS["agenttypes"]
        )
        tables = {n: chunks_to_frame(f, ["RunId"]) for n, f in self.tables.items()}
        datasets = {
            n: chunks_to_frame(f, ["RunId", "time"]) for n, f in self.datasets.items()
        }
        metadata = {
            **plan.describe(),
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
        cls = plan.settings.model_cls
        return SweepResult(
            runs,
            model,
            agents,
            agenttypes,
            tables,
            metadata,
            parameter_names=plan.space.names,
            model_reporters=tuple(reporters),
            datasets=datasets,
            settings=plan.settings,
            model_cls=cls if isinstance(cls, type) else None,
            run_kwargs=kwargs,
        )
