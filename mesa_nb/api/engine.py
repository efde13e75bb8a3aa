"""Run a plan on a backend into a store; load and compact stores.

This is where the core meets the backends and the store: :func:`run_plan`
executes a plan made by :mod:`.session` (which every front end uses to
prepare a sweep once and run that same plan).
"""

from __future__ import annotations

import datetime as dt
import functools
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
from ..core.precision import (
    FinalValues,
    PointStanding,
    PrecisionProgress,
    Standing,
    assess,
    next_round,
    outcome,
    standing,
    unknown_reporters,
)
from ..core.records import FRAMES, MODEL, Batch, ProgressCallback, RunRecord, Status
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
    sweep reads its snapshots from it). A plan of ``iterations="auto"`` runs
    in rounds (see :class:`Rounds`) until its points are precise.
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
    rounds = None if plan.rule is None else Rounds(run_store, in_memory)
    try:
        if rounds is not None and on_progress is not None:
            on_progress = rounds.reporting(on_progress)
        gatherer = Gatherer(plan, on_progress, run_store, retry_failed=retry_failed)
        gatherer.load_stored()
        gatherer.record_fatal_run()  # writes: this sweep holds the store's lock
        gatherer.start()
        if on_gatherer is not None:
            on_gatherer(gatherer)
        runs = gatherer.pending()
        most = len(runs)
        if plan.rule is not None:  # the rounds to come may need every worker
            most = max(most, len(plan.space) * plan.rule.max_iterations)
        backend = resolve_backend(workers, executor, runs=most)
        writer = None
        if not in_memory:
            writer = run_store.part_writer()
            check_shared_store(backend, run_store.path)
        interrupted = False
        while True:
            if not runs:
                pass
            elif backend.inline:
                interrupted = run_inline(gatherer.plan, runs, gatherer, cancel, writer)
            else:
                interrupted = run_pool(
                    gatherer.plan, runs, backend, gatherer, cancel, writer
                )
            if rounds is None or interrupted or gatherer.refusal is not None:
                break
            try:
                if not rounds.next_round(gatherer):
                    break
            except KeyboardInterrupt:
                interrupted = True
                break
            runs = gatherer.pending()
        with deferred(swallow=True):  # a late Ctrl-C must not lose the result
            result = gatherer.build(
                executor=backend.name,
                workers=backend.workers,
                interrupted=interrupted,
            )
            if rounds is not None:
                result.metadata["precision"] = rounds.outcome(gatherer, interrupted)
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


class Rounds:
    """The rounds of an ``iterations="auto"`` sweep (see
    :mod:`mesa_nb.core.precision`): after each round, read the final values
    of the runs that finished, decide which points get more replicates,
    record the next round's runs in the store (before they run), and hand
    the gatherer the plan that holds them.

    Every decision is made from the plan's layout and the runs' values
    alone, so a sweep stopped and resumed from its store ends with the runs
    of one that ran through.
    """

    def __init__(self, run_store: RunStore | None, in_memory: bool) -> None:
        self.store = None if in_memory else run_store
        self.run_store = run_store
        self.finals: FinalValues | None = None
        self.seen = 0  # model chunks read from memory
        self.standings: list[PointStanding] | None = None
        self.assessed: tuple[int, int] | None = None  # (runs planned, records)
        #: where the points stand, for progress events (None: no round ended)
        self.standing: Standing | None = None

    def reporting(self, callback: ProgressCallback) -> ProgressCallback:
        """``callback`` given :class:`PrecisionProgress` events (with where
        the points stand); named as the callback, for its warnings."""

        def tell(event: Any) -> None:
            callback(PrecisionProgress.of(event, self.standing))

        names = ("__module__", "__name__", "__qualname__", "__doc__")
        return functools.update_wrapper(tell, callback, assigned=names, updated=())

    def assess(self, gatherer: Gatherer) -> list[PointStanding]:
        """Where each point of the gatherer's plan stands now."""
        plan = gatherer.plan
        rule = plan.rule
        if self.finals is None:
            self.finals = FinalValues(rule.reporters)
        with gatherer.lock:
            ok = [r for r, rec in gatherer.records.items() if rec.status == Status.OK]
            chunks = []
            if self.store is None:
                chunks = gatherer.data.of(FRAMES, MODEL)[self.seen :]
                self.seen += len(chunks)
            done = len(gatherer.records)
        wanted = set(ok).difference(self.finals.rows)
        if self.store is not None and wanted:
            chunks = self._stored(wanted)
        self.finals.take(chunks, wanted)
        missing = self.finals.missing()
        if missing:
            raise SweepOptionError(
                unknown_reporters(missing, self.finals.columns, len(plan.runs)),
                field="precision",
            )
        runs = plan.runs
        values = self.finals.by_point(runs.locate, [r for r in ok if r < len(runs)])
        self.standings = assess(rule, plan.replicates(), values)
        self.standing = standing(rule, self.standings, plan.rounds())
        self.assessed = (len(runs), done)
        return self.standings

    def _stored(self, wanted: set[int]) -> list[dict[str, Any]]:
        """The final rows of ``wanted`` runs, read from the store (the data
        of a sweep bigger than memory is only there)."""
        import pyarrow.compute as pc

        try:
            dataset = self.store.scan(MODEL)
        except KeyError:  # no run stored data yet
            return []
        names = dataset.schema.names
        self.finals.columns.update(names)
        columns = [c for c in ("RunId", "Step", *self.finals.reporters) if c in names]
        table = dataset.to_table(
            columns=columns, filter=pc.field("RunId").isin(sorted(wanted))
        )
        return [{c: table.column(c).to_numpy(zero_copy_only=False) for c in columns}]

    def next_round(self, gatherer: Gatherer) -> bool:
        """Give the points that need more replicates their next round; False
        when none does (every point precise, capped or failing)."""
        plan = gatherer.plan
        targets = next_round(self.assess(gatherer))
        if not targets:
            gatherer.start()  # a last event: where the points ended
            return False
        grown = plan.with_replicates(targets)
        with deferred(), gatherer.lock:
            if gatherer.store is not None:
                try:  # the new runs are numbered in the store before they run
                    self.run_store.record_round(grown)
                except Exception as exc:  # go on in memory, as the gatherer does
                    gatherer.store_error = f"{type(exc).__name__}: {exc}"
                    gatherer.store = None  # no run is stored under unknown RunIds
            gatherer.plan = grown
        gatherer.start()  # the new total
        return True

    def outcome(self, gatherer: Gatherer, interrupted: bool) -> dict[str, Any]:
        """What ``result.metadata["precision"]`` holds (see
        :func:`~mesa_nb.core.precision.outcome`)."""
        plan = gatherer.plan
        current = (len(plan.runs), len(gatherer.records))
        if self.standings is None or self.assessed != current:
            try:
                self.assess(gatherer)
            except Exception as exc:  # never lose the result over its summary
                return {**plan.rule.definition(), "finished": False, "error": str(exc)}
        swept = plan.space.swept
        points = plan.space.points

        def labels(index: int) -> dict[str, Any]:
            return {name: points[index][name] for name in swept}

        return outcome(
            plan.rule, self.standings, plan.rounds(), labels, not interrupted
        )


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
    precision = None
    if stored_plan.rule is not None:  # before build, which takes the data
        precision = _stored_precision(gatherer, run_store, lazy)
    result = gatherer.build(
        executor="store", workers=0, interrupted=False, missing_status=Status.PENDING
    )
    if precision is not None:
        result.metadata["precision"] = precision
    result.metadata["wall_time"] = float(result.runs["wall_time"].sum())
    result.metadata["provenance"] = run_store.provenance()
    if "grown_from" in manifest["metadata"]:
        result.metadata["grown_from"] = manifest["metadata"]["grown_from"]
    if lazy:
        make_lazy(result, run_store, model_cls)
    else:
        result.use_store(run_store)
    return result


def _stored_precision(
    gatherer: Gatherer, run_store: RunStore, lazy: bool
) -> dict[str, Any]:
    """Where the points of a stored auto sweep stand; ``finished`` only if
    no run is pending and no point would get more."""
    rounds = Rounds(run_store, in_memory=not lazy)
    try:
        standings = rounds.assess(gatherer)
    except SweepOptionError as exc:
        rule = gatherer.plan.rule
        return {**rule.definition(), "finished": False, "error": str(exc)}
    going_on = bool(gatherer.pending()) or bool(next_round(standings))
    return rounds.outcome(gatherer, interrupted=going_on)


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
