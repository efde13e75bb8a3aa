"""Drive a planned sweep on a backend and gather what comes back.

Runs are grouped into tasks of about half a second (measured as runs finish),
results stream back in completion order to a progress callback, and nothing
that finished is lost: a failing run is recorded, runs that shared a task
with a crashed worker are retried alone, and an interrupt keeps every
finished run.
"""

from __future__ import annotations

import concurrent.futures as cf
import datetime as dt
import os
import platform
import re
import sys
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pandas as pd

from . import _mesa
from .columns import Chunk, chunks_to_frame
from .errors import ModelClassError
from .executors import Backend, resolve_backend
from .parameters import Sampler
from .plan import RunSpec, SweepPlan, plan_sweep, resolve_processes
from .result import SweepResult
from .run import (
    CANCELLED,
    CRASHED,
    FAILED,
    OK,
    PENDING,
    BatchOutcome,
    RunRecord,
    build_model,
    run_batch,
)
from .store import RunStore, StoreError, plan_from_manifest

#: Aim for tasks of about this many seconds of work.
TASK_SECONDS = 0.5


@dataclass(frozen=True)
class Progress:
    """One progress event: sent once at the start, then once per finished run."""

    total: int
    done: int
    failed: int
    record: RunRecord | None = None


ProgressCallback = Callable[[Progress], None]


class BatchSizer:
    """How many runs to put in the next task, from the runs timed so far."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self.seconds = 0.0
        self.count = 0

    def observe(self, records: list[RunRecord]) -> None:
        self.seconds += sum(r.wall_time for r in records)
        self.count += len(records)

    def size(self, remaining: int) -> int:
        if not self.count:
            return 1
        mean = max(self.seconds / self.count, 1e-6)
        wanted = int(TASK_SECONDS / mean)
        fair_share = remaining // (2 * self.workers)
        return max(1, min(wanted, fair_share, remaining))


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
            model_cls=cls,
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


def probe_collector(plan: SweepPlan) -> None:
    """Build the first run's model once, to refuse a model without a collector.

    Other errors are left for the runs to record.
    """
    first = plan.runs[0]
    try:
        model, _ = build_model(first, plan.settings)
    except ModelClassError:
        raise
    except Exception:
        return
    _mesa.release_model(model)


def _run_inline(
    plan: SweepPlan, runs: list[RunSpec], gatherer: Gatherer, cancel: Any = None
) -> bool:
    sizer = BatchSizer(workers=1)
    position = 0
    try:
        while position < len(runs):
            size = sizer.size(len(runs) - position) if sizer.count else 1
            batch = runs[position : position + size]
            position += size
            if cancel is not None and cancel.is_set():
                return True
            outcome = run_batch(
                plan.settings, batch, on_run=gatherer.add_record, stop=cancel
            )
            gatherer.add_frames(outcome)
            sizer.observe(outcome.records)
            if outcome.interrupted:
                return True
    except KeyboardInterrupt:
        return True
    return False


def _crash_record(spec: RunSpec, exc: BaseException, crashed: bool) -> RunRecord:
    if crashed:
        codes = re.search(r"exit codes of the workers are \{(.*?)\}", str(exc))
        error = "worker process died" + (f" (exit code {codes[1]})" if codes else "")
    else:
        error = f"task failed outside the run: {type(exc).__name__}: {exc}"
    return RunRecord(
        spec.run_id,
        CRASHED if crashed else FAILED,
        error=error,
        traceback="".join(traceback.format_exception(exc)),
    )


def _run_pool(
    plan: SweepPlan,
    runs: list[RunSpec],
    backend: Backend,
    gatherer: Gatherer,
    cancel: Any = None,
) -> bool:
    queue: deque[RunSpec] = deque(runs)
    suspects: deque[RunSpec] = deque()  # retried one at a time after a crash
    in_flight: dict[cf.Future, list[RunSpec]] = {}
    alone: set[cf.Future] = set()
    sizer = BatchSizer(backend.workers)

    def submit(batch: list[RunSpec], isolated: bool = False) -> None:
        future = backend.submit(
            run_batch, plan.settings, batch, None, backend.stop_token
        )
        in_flight[future] = batch
        if isolated:
            alone.add(future)

    try:
        while queue or suspects or in_flight:
            if suspects:
                if not in_flight:
                    submit([suspects.popleft()], isolated=True)
            else:
                while queue and len(in_flight) < 2 * backend.workers:
                    size = min(sizer.size(len(queue)), len(queue))
                    submit([queue.popleft() for _ in range(size)])
            if cancel is not None and cancel.is_set():
                raise KeyboardInterrupt("sweep stopped")
            done, _ = cf.wait(in_flight, timeout=0.2, return_when=cf.FIRST_COMPLETED)
            for future in done:
                batch = in_flight.pop(future)
                isolated = future in alone
                alone.discard(future)
                try:
                    outcome = future.result()
                except Exception as exc:
                    crashed = backend.crashed(exc)
                    if crashed:
                        backend.reset()
                    if isolated or (len(batch) == 1 and not crashed):
                        gatherer.add_failure(_crash_record(batch[0], exc, crashed))
                    else:
                        suspects.extend(batch)
                    continue
                gatherer.add_batch(outcome)
                sizer.observe(outcome.records)
    except KeyboardInterrupt:
        for future in in_flight:
            future.cancel()
        backend.abort()
        # Tasks that finished while we were stopping are still kept.
        for future, _batch in in_flight.items():
            if future.done() and not future.cancelled() and future.exception() is None:
                gatherer.add_batch(future.result())
        return True
    return False


def sweep(
    model_cls: type,
    parameters: Any,
    *,
    iterations: int | None = None,
    max_steps: int = 1000,
    data_collection_period: int = -1,
    processes: int | None = 1,
    seed: int | None = None,
    rng: Any = None,
    executor: Any = None,
    on_progress: ProgressCallback | None = None,
    store: str | os.PathLike | None = None,
    cancel: threading.Event | None = None,
) -> SweepResult:
    """Run a parameter sweep and return its tidy tables.

    Args:
        model_cls: a ``mesa.Model`` subclass (may be defined in a notebook).
        parameters: ``{name: value or values}`` (values are swept, full
            factorial), a list of ``{name: value}`` points, or a DataFrame of
            points. Callables ``lambda rng: ...`` are drawn once per run.
        iterations: replicates of every point (default 1).
        max_steps: a run stops after this many steps, or when
            ``model.running`` becomes False.
        data_collection_period: -1 keeps the last record of each run; ``n``
            keeps records whose Step is a multiple of ``n``, and the last.
        processes: worker processes (1 runs in this process; None = all cores).
        seed: master seed; one independent seed is derived per run. Without
            ``seed`` and ``rng`` a fresh master seed is drawn and recorded.
        rng: one seed per iteration, as ``mesa.batch_run(rng=[...])``.
        executor: a ``concurrent.futures.Executor`` to run on instead.
        on_progress: called with a :class:`Progress` as each run finishes.
        store: a directory where finished runs are written (Parquet) as they
            finish. Given the same store and definition again, the sweep
            resumes: stored runs are loaded, only the others run.
        cancel: a ``threading.Event``; setting it (from another thread, e.g. a
            Stop button) stops the sweep as an interrupt does: pending runs
            are cancelled, running ones stopped, finished ones kept.

    Returns:
        A :class:`~mesa_nb.SweepResult`. An interrupted sweep returns the
        finished runs, flagged ``interrupted``.
    """
    definition = dict(
        iterations=iterations,
        max_steps=max_steps,
        data_collection_period=data_collection_period,
        rng=rng,
    )
    plan = plan_sweep(model_cls, parameters, seed=seed, **definition)
    workers = resolve_processes(processes)
    run_store = None
    if store is not None:
        run_store = RunStore(store)
        if run_store.exists() and plan.seed_source == "entropy":
            # No seed given: resume with the seeds of the stored sweep.
            stored_seed = run_store.stored_master_seed()
            if stored_seed is not None:
                plan = plan_sweep(model_cls, parameters, seed=stored_seed, **definition)
                plan.seed_source = "entropy"
        run_store.open(plan, store_metadata(plan))
    probe_collector(plan)
    backend = resolve_backend(workers, executor)
    started, start_wall = time.perf_counter(), dt.datetime.now(dt.UTC)
    gatherer = Gatherer(plan, on_progress, run_store)
    runs = gatherer.pending()
    if not runs:
        interrupted = False
    elif backend.inline:
        interrupted = _run_inline(plan, runs, gatherer, cancel)
    else:
        interrupted = _run_pool(plan, runs, backend, gatherer, cancel)
    return gatherer.build(
        executor=backend.name,
        workers=backend.workers,
        started=started,
        start_wall=start_wall,
        interrupted=interrupted,
    )


def store_metadata(plan: SweepPlan) -> dict[str, Any]:
    """What a store's manifest records besides the definition."""
    cls = plan.settings.model_cls
    return {
        "model": cls.__qualname__,
        "model_module": cls.__module__,
        "swept": list(plan.space.swept),
        "sampled": list(plan.space.sampled),
        "seed_source": plan.seed_source,
        "n_runs": len(plan.runs),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "versions": versions(),
    }


def load_store(path: str | os.PathLike, model_cls: type | None = None) -> SweepResult:
    """Load a results store into a :class:`SweepResult` without running anything.

    Runs not stored yet have status ``pending``. Give ``model_cls`` to be able
    to :meth:`~SweepResult.rebuild_model`.
    """
    run_store = RunStore(path)
    if not run_store.exists():
        raise StoreError(f"{path} has no manifest.json: it is not a results store.")
    manifest = run_store.manifest()
    plan = plan_from_manifest(manifest, model_cls)
    gatherer = Gatherer(plan, None, run_store)
    now = dt.datetime.now(dt.UTC)
    result = gatherer.build(
        executor="store",
        workers=0,
        started=time.perf_counter(),
        start_wall=now,
        interrupted=False,
        missing_status=PENDING,
    )
    result.metadata["wall_time"] = float(result.runs["wall_time"].sum())
    return result
