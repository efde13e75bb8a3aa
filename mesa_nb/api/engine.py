"""Run a plan on a backend into a store; load and compact stores.

This is where the core meets the backends and the store: :func:`run_plan`
executes a plan made by :mod:`.session` (which every front end uses to
prepare a sweep once and run that same plan).
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable
from typing import Any

from ..backends import resolve_backend
from ..core.dispatch import run_inline, run_pool
from ..core.errors import StoreError, SweepOptionError
from ..core.gather import Gatherer
from ..core.interrupts import deferred
from ..core.meta import versions
from ..core.options import SweepOptions
from ..core.plan import SweepPlan, resolve_processes
from ..core.records import Batch, RunRecord, Status
from ..core.result import SweepResult
from ..store import RunStore
from ..store.encoding import encode_value
from ..store.manifest import plan_from_manifest

__all__ = ["compact", "load_store", "run_plan"]


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


def make_lazy(result: SweepResult, store: RunStore, model_cls: Any) -> None:
    """Let ``result`` read its tables from the store when first asked for."""

    def load(_name: str) -> dict[str, Any]:
        cls = model_cls if isinstance(model_cls, type) else None
        stored = load_store(store.path, cls)
        names = ("model", "agents", "agenttypes", "tables", "datasets")
        return {n: getattr(stored, n) for n in names}

    result.read_lazily(load, store)


def require_pyarrow() -> None:
    """Refuse a store before any run starts where pyarrow cannot be imported
    (it is a dependency, but an environment can still lack or break it)."""
    try:
        import pyarrow.parquet  # noqa: F401
    except ImportError as exc:
        raise StoreError(
            f"A results store needs pyarrow, which cannot be imported here ({exc}): "
            "pip install 'pyarrow>=14.0.1', or run without a store."
        ) from None


def existing_store(path: str | os.PathLike) -> RunStore:
    """The store at ``path``, or a :class:`StoreError` if there is none."""
    run_store = RunStore(path)
    if not run_store.exists():
        raise StoreError(f"{path} has no manifest.json: it is not a results store.")
    return run_store


def store_metadata(plan: SweepPlan) -> dict[str, Any]:
    """What a store's manifest records besides the definition."""
    return {
        **plan.describe(),
        "spec": encode_value(plan.spec),  # lossless: read back by load_store
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
        "versions": versions(),
    }


def run_plan(
    plan: SweepPlan,
    options: SweepOptions | None = None,
    *,
    on_gatherer: Callable[[Gatherer], None] | None = None,
    **given: Any,
) -> SweepResult:
    """Run a plan from :func:`plan` with the ``run`` options of ``options``
    (or keywords, as :func:`sweep` takes them).

    ``on_gatherer`` is given the gatherer as soon as it exists (a background
    sweep reads its snapshots from it).
    """
    options = (options or SweepOptions.of()).replace(**given)
    workers = resolve_processes(options.processes)
    store, force, cancel = options.store, options.force, options.cancel
    on_progress, in_memory = options.on_progress, options.in_memory
    retry_failed, executor = options.retry_failed, options.executor
    if not in_memory and store is None:
        raise SweepOptionError(
            "in_memory=False keeps the data in the store only: give store=DIR.",
            field="store",
        )
    run_store = None
    if store is not None:
        require_pyarrow()
        run_store = RunStore(store)
        plan = run_store.open(plan, store_metadata(plan), force=force)
    try:
        gatherer = Gatherer(plan, on_progress, run_store, retry_failed=retry_failed)
        gatherer.load_stored()
        gatherer.record_fatal_run()  # writes: this sweep holds the store's lock
        gatherer.start()
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
            make_lazy(result, run_store, plan.settings.model_cls)
        elif run_store is not None:
            result.use_store(run_store)  # readable after close()
    finally:
        if run_store is not None:
            run_store.close()
    if run_store is not None:  # read after close(): with the sweep's end
        result.metadata["provenance"] = run_store.provenance()
    return result


def load_store(
    path: str | os.PathLike, model_cls: type | None = None, *, lazy: bool = False
) -> SweepResult:
    """Load a results store into a :class:`SweepResult` without running anything.

    Runs not stored yet have status ``pending``. Give ``model_cls`` to be able
    to :meth:`~SweepResult.rebuild_model`. ``lazy=True`` reads the runs now
    and the tables when first asked for; ``result.scan(table)`` queries the
    stored files in place either way.
    """
    run_store = existing_store(path)
    manifest = run_store.manifest()
    stored_plan = plan_from_manifest(manifest, model_cls)
    source = _RecordsOnly(run_store) if lazy else run_store
    gatherer = Gatherer(stored_plan, None, source)
    gatherer.load_stored()  # reads only: no crash record, no note cleared
    result = gatherer.build(
        executor="store", workers=0, interrupted=False, missing_status=Status.PENDING
    )
    result.metadata["wall_time"] = float(result.runs["wall_time"].sum())
    result.metadata["provenance"] = run_store.provenance()
    if "grown_from" in manifest["metadata"]:
        result.metadata["grown_from"] = manifest["metadata"]["grown_from"]
    if lazy:
        make_lazy(result, run_store, model_cls)
    else:
        result.use_store(run_store)
    return result


def compact(path: str | os.PathLike) -> dict[str, int]:
    """Merge a store's small parts into one large part per table, sorted by
    RunId and Step (``mesa-nb compact STORE``); returns the part counts."""
    return existing_store(path).compact()


class _RecordsOnly:
    """A store read for its run records only (the tables come lazily)."""

    def __init__(self, store: RunStore) -> None:
        self.store, self.path = store, store.path

    def read(self) -> tuple[list[RunRecord], Batch]:
        """The stored records, and no data."""
        return self.store.read_records(), Batch()
