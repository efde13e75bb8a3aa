"""``sweep``: plan a sweep once, run the plan on a backend, return its tables.

This is where the core meets the backends and the store:
:func:`plan` validates (and, with a store, takes its seeds), :func:`run_plan`
executes a plan, :func:`sweep` is the two in one call. The magic and the form
plan once, show or check the plan, and hand that same plan to
:func:`run_plan`.
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import threading
from collections.abc import Callable
from typing import Any

from ..backends import resolve_backend
from ..core import mesa_adapter
from ..core.dispatch import run_inline, run_pool
from ..core.errors import ModelClassError, StoreError, SweepOptionError
from ..core.gather import Gatherer
from ..core.interrupts import deferred
from ..core.meta import versions
from ..core.plan import SweepPlan, plan_sweep, resolve_processes
from ..core.records import ProgressCallback, Status
from ..core.result import SweepResult
from ..core.worker import build_model, collects_data, no_collector_error
from ..store import RunStore
from ..store.manifest import plan_from_manifest
from .live import LiveSweep

__all__ = ["compact", "load_store", "plan", "run_plan", "sweep"]


def plan(
    model_cls: type,
    parameters: Any,
    *,
    iterations: int | None = None,
    max_steps: int = 1000,
    data_collection_period: int = -1,
    seed: int | None = None,
    rng: Any = None,
    store: str | os.PathLike | None = None,
    scenario: Any = None,
    until: float | None = None,
    timeout: float | None = None,
) -> SweepPlan:
    """Validate a sweep and lay out its runs; nothing runs.

    Without ``seed`` and ``rng``, a store that already holds this sweep gives
    its master seed, so running the plan resumes that sweep.
    """
    resume_seed = None
    if store is not None and seed is None and rng is None:
        run_store = RunStore(store)
        if run_store.exists():
            resume_seed = run_store.stored_master_seed()
    return plan_sweep(
        model_cls,
        parameters,
        iterations=iterations,
        max_steps=max_steps,
        data_collection_period=data_collection_period,
        seed=seed,
        rng=rng,
        resume_seed=resume_seed,
        scenario=scenario,
        until=until,
        timeout=timeout,
    )


def _probe_collector(plan: SweepPlan) -> None:
    """Build the first run's model once, to refuse a model that collects no data.

    A model that creates its DataCollector in its first step (as
    ``mesa.batch_run`` allows) is stepped once to see it. Other errors are
    left for the runs to record.
    """
    try:
        model, _ = build_model(plan.runs[0], plan.settings)
    except Exception:
        return
    try:
        if not collects_data(model) and plan.settings.max_steps > 0:
            model.step()
        if not collects_data(model):
            raise no_collector_error(plan.settings.model_cls, "after __init__")
    except ModelClassError:
        raise
    except Exception:
        return
    finally:
        mesa_adapter.release_model(model)


def check_shared_store(backend: Any, path: Any) -> None:
    """Workers that write into the store must see it: refuse a Dask cluster
    whose workers do not (the store must be on a shared file system)."""
    client = getattr(backend, "client", None)
    if client is None:
        return
    seen = client.run(os.path.isdir, str(path))
    blind = [worker for worker, ok in seen.items() if not ok]
    if blind:
        raise SweepOptionError(
            f"in_memory=False: the Dask workers {', '.join(blind[:3])} cannot see the "
            f"store {path}: put it on a file system every worker mounts at the same "
            "path, or keep the data in memory.",
            field="store",
        )


def make_lazy(result: SweepResult, path: Any, model_cls: Any) -> None:
    """Let ``result`` read its tables from the store when first asked for."""

    def load(_name: str) -> dict[str, Any]:
        stored = load_store(path, model_cls if isinstance(model_cls, type) else None)
        names = ("model", "agents", "agenttypes", "tables", "datasets")
        return {n: getattr(stored, n) for n in names}

    result.read_lazily(load, RunStore(path))


def store_metadata(plan: SweepPlan) -> dict[str, Any]:
    """What a store's manifest records besides the definition."""
    return {
        **plan.describe(),
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "versions": versions(),
    }


def run_plan(
    plan: SweepPlan,
    *,
    processes: int | None = 1,
    executor: Any = None,
    on_progress: ProgressCallback | None = None,
    store: str | os.PathLike | None = None,
    cancel: threading.Event | None = None,
    retry_failed: bool = False,
    force: bool = False,
    on_gatherer: Callable[[Gatherer], None] | None = None,
    in_memory: bool = True,
) -> SweepResult:
    """Run a plan from :func:`plan` (arguments as in :func:`sweep`).

    ``on_gatherer`` is given the gatherer as soon as it exists (a background
    sweep reads its snapshots from it).
    """
    workers = resolve_processes(processes)
    if not in_memory and store is None:
        raise SweepOptionError(
            "in_memory=False keeps the data in the store only: give store=DIR.",
            field="store",
        )
    run_store = None
    if store is not None:
        run_store = RunStore(store)
        run_store.open(plan, store_metadata(plan), force=force)
    try:
        _probe_collector(plan)
        gatherer = Gatherer(plan, on_progress, run_store, retry_failed=retry_failed)
        if on_gatherer is not None:
            on_gatherer(gatherer)
        runs = gatherer.pending()
        backend = resolve_backend(workers, executor, runs=len(runs))
        writer = None
        if not in_memory:
            writer = run_store.part_writer()
            check_shared_store(backend, run_store.path)
        if not runs:
            interrupted = False
        elif backend.inline:
            interrupted = run_inline(plan, runs, gatherer, cancel, writer)
        else:
            interrupted = run_pool(plan, runs, backend, gatherer, cancel, writer)
        with deferred(swallow=True):  # a late Ctrl-C must not lose the result
            result = gatherer.build(
                executor=backend.name,
                workers=backend.workers,
                interrupted=interrupted,
            )
        if not in_memory:
            make_lazy(result, run_store.path, plan.settings.model_cls)
        elif run_store is not None:
            result.use_store(RunStore(run_store.path))
        return result
    finally:
        if run_store is not None:
            run_store.close()


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
    scenario: Any = None,
    until: float | None = None,
    timeout: float | None = None,
    retry_failed: bool = False,
    force: bool = False,
    background: bool = False,
    in_memory: bool = True,
) -> SweepResult | LiveSweep:
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
        executor: a ``concurrent.futures.Executor``, a Dask ``Client``, a
            scheduler address or ``"dask"`` to run on instead.
        on_progress: called with a :class:`~mesa_nb.Progress` at the start and
            as each run finishes.
        store: a directory where finished runs are written (Parquet) as they
            finish. Given the same store and definition again, the sweep
            resumes: stored runs are loaded, only the others run.
        cancel: a ``threading.Event``; setting it (from another thread, e.g. a
            Stop button) stops the sweep as an interrupt does: pending runs
            are cancelled, running ones stopped, finished ones kept.
        scenario: for a model that takes ``scenario=`` (Mesa 3.5), its
            Scenario class, where mesa_nb cannot find it (from the annotation
            of ``scenario`` or the scenario a default-built model has).
            Parameters may then name the scenario's fields; every run builds
            its own scenario, seeded with the run's seed.
        until: end each run at this model time (``model.run_until``, run one
            unit of time at a time so stop and progress still work); tables
            then carry ``Time`` next to ``Step``. ``max_steps`` is not used.
        timeout: seconds a run may take; a longer one is stopped and recorded
            with status ``timeout`` (and the steps it reached). In worker
            processes a timer interrupts it, even inside a step; in this
            process (``processes=1``) and on Dask the limit is checked
            between steps.
        retry_failed: when resuming a store, run its failed and crashed runs
            again (after fixing the model, say) instead of keeping them.
        force: resume a store even though the model's code changed since
            it was written (only when the change cannot alter the results).
        in_memory: False (with ``store``) keeps the data out of this process:
            workers write it into the store, only run records come back, and
            the result reads its tables from the store when asked
            (``result.scan(table)`` queries them in place).
        background: return at once a :class:`~mesa_nb.api.live.LiveSweep`
            that runs the sweep on a thread: ``.wait()`` gives the result,
            ``.cancel()`` stops it, its tables are a snapshot of the runs
            finished so far. ``cancel=`` is then its own.

    Returns:
        A :class:`~mesa_nb.SweepResult`. An interrupted sweep returns the
        finished runs, flagged ``interrupted``.
    """
    the_plan = plan(
        model_cls,
        parameters,
        iterations=iterations,
        max_steps=max_steps,
        data_collection_period=data_collection_period,
        seed=seed,
        rng=rng,
        store=store,
        scenario=scenario,
        until=until,
        timeout=timeout,
    )
    run = functools.partial(
        run_plan,
        the_plan,
        processes=processes,
        executor=executor,
        on_progress=on_progress,
        store=store,
        retry_failed=retry_failed,
        force=force,
        in_memory=in_memory,
    )
    if background:
        return LiveSweep(the_plan, run)
    return run(cancel=cancel)


def load_store(
    path: str | os.PathLike, model_cls: type | None = None, *, lazy: bool = False
) -> SweepResult:
    """Load a results store into a :class:`SweepResult` without running anything.

    Runs not stored yet have status ``pending``. Give ``model_cls`` to be able
    to :meth:`~SweepResult.rebuild_model`. ``lazy=True`` reads the runs now
    and the tables when first asked for; ``result.scan(table)`` queries the
    stored files in place either way.
    """
    run_store = RunStore(path)
    if not run_store.exists():
        raise StoreError(f"{path} has no manifest.json: it is not a results store.")
    stored_plan = plan_from_manifest(run_store.manifest(), model_cls)
    source = _RecordsOnly(run_store) if lazy else run_store
    gatherer = Gatherer(stored_plan, None, source)
    result = gatherer.build(
        executor="store", workers=0, interrupted=False, missing_status=Status.PENDING
    )
    result.metadata["wall_time"] = float(result.runs["wall_time"].sum())
    if lazy:
        make_lazy(result, run_store.path, model_cls)
    else:
        result.use_store(run_store)
    return result


def compact(path: str | os.PathLike) -> dict[str, int]:
    """Merge a store's small parts into one large part per table, sorted by
    RunId and Step (``mesa-nb compact STORE``); returns the part counts."""
    run_store = RunStore(path)
    if not run_store.exists():
        raise StoreError(f"{path} has no manifest.json: it is not a results store.")
    return run_store.compact()


class _RecordsOnly:
    """A store read for its run records only (the tables come lazily)."""

    def __init__(self, store: RunStore) -> None:
        self.store, self.path = store, store.path

    def read(self) -> tuple[list, dict, dict, dict]:
        return self.store.read_records(), {}, {}, {}

    def died_running(self) -> None:
        return None
