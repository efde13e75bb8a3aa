"""``sweep``: plan a sweep, run it on a backend, return its tables.

The steps live in their own modules: :mod:`.plan` (validation, RunIds,
seeds), :mod:`.dispatch` (tasks on a backend), :mod:`.gather` (the result),
:mod:`.store` (the Parquet store).
"""

from __future__ import annotations

import datetime as dt
import os
import threading
import time
from typing import Any

from . import _mesa
from .dispatch import run_inline, run_pool
from .errors import ModelClassError
from .executors import resolve_backend
from .gather import Gatherer, Progress, ProgressCallback, versions
from .plan import SweepPlan, plan_sweep, resolve_processes
from .result import SweepResult
from .run import PENDING, build_model
from .store import RunStore, StoreError, plan_from_manifest

__all__ = ["Progress", "ProgressCallback", "load_store", "sweep"]


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
        interrupted = run_inline(plan, runs, gatherer, cancel)
    else:
        interrupted = run_pool(plan, runs, backend, gatherer, cancel)
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
