"""Gather what finished runs send back, and build the result from it.

Records and data arrive in completion order (or from a store); the result is
built once, sorted by RunId (see :mod:`.assemble`), so it never depends on
that order.
"""

from __future__ import annotations

import datetime as dt
import inspect
import os
import sys
import threading
import time
import warnings
from dataclasses import replace
from typing import Any, Protocol

from .assemble import assemble_result
from .errors import ModelClassError, warn_user
from .heartbeat import LONG_RUN_SECONDS, Running
from .interrupts import deferred
from .meta import versions
from .plan import SweepPlan
from .records import (
    FAILED_STATUSES,
    Batch,
    BatchOutcome,
    Progress,
    ProgressCallback,
    RunRecord,
    RunSpec,
    Status,
)
from .result import SweepResult

_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _code_of(obj: Any) -> Any:
    """The code object where ``obj`` (a class, function, method or callable
    object) is defined, or None."""
    if isinstance(obj, type):  # its __init__, else any method it defines
        methods = [obj.__dict__.get("__init__"), *vars(obj).values()]
        return next((m.__code__ for m in methods if hasattr(m, "__code__")), None)
    target = obj if inspect.isroutine(obj) else type(obj).__call__
    target = getattr(inspect.unwrap(target), "__func__", target)
    return getattr(target, "__code__", None)


def warn_at(obj: Any, message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, pointing at the user's code that ``obj`` (a model class, a
    callback) is defined in, never at mesa_nb's source; a sweep on a thread
    has no user's line on its stack, the model's definition is the one to fix.
    """
    code = _code_of(obj)
    if code is None or code.co_filename.startswith(_PACKAGE):
        warn_user(message, category)
        return
    module = getattr(obj, "__module__", None) or "__main__"
    found = sys.modules.get(module)
    warnings.warn_explicit(
        message,
        category,
        code.co_filename,
        code.co_firstlineno,
        module=module,
        registry={},
        module_globals=getattr(found, "__dict__", None),
    )


def _named(callback: Any) -> str:
    name = getattr(callback, "__qualname__", None) or type(callback).__qualname__
    return f"{name}()" if callable(callback) else repr(callback)


class RunSink(Protocol):
    """Where finished runs are kept as they arrive (the results store)."""

    path: Any

    def read(self) -> tuple[list[RunRecord], Batch]:
        """Runs stored earlier: their records and their data."""
        ...

    def write(self, outcome: BatchOutcome) -> None:
        """Store a batch: data first, records last."""
        ...

    def write_records(self, records: list[RunRecord]) -> None:
        """Store records of runs that have no data."""
        ...

    def mark_running(self, run_id: int | None) -> None:
        """Note the run starting in this process (None: none)."""
        ...

    def died_running(self) -> tuple[int, int] | None:
        """The run noted as running when an earlier sweep's process died, and
        how often that happened at that run."""
        ...


class Gatherer:
    """Collects records and data as they arrive and builds the result.

    Its constructor only sets it up: :meth:`load_stored` takes a store's
    earlier runs, :meth:`record_fatal_run` (the sweep that holds the store's
    lock) writes a crash record, :meth:`start` reports the first progress.
    """

    def __init__(
        self,
        plan: SweepPlan,
        on_progress: ProgressCallback | None,
        store: RunSink | None = None,
        retry_failed: bool = False,
    ) -> None:
        self.plan = plan
        self.on_progress = on_progress
        self.store = store
        self.records: dict[int, RunRecord] = {}
        self.data = Batch()
        self.failed = 0
        self.resumed = 0
        self.stored_ids: set[int] = set()  # every run the store held
        self.warned_unseeded = False
        self.previewed: dict[int, RunRecord] = {}
        self.store_error: str | None = None
        #: a run found the model class cannot be swept: the message
        self.refusal: str | None = None
        #: what the reproducibility check did (None: not done yet)
        self.check_note: str | None = None
        self.built: SweepResult | None = None
        self.store_path = str(store.path) if store is not None else None
        self.retry_failed = retry_failed
        self.lock = threading.RLock()  # snapshots read while batches arrive
        self.running: dict[int, Running] = {}
        self.shown_running = False
        self.started = time.perf_counter()
        self.start_wall = dt.datetime.now(dt.UTC)

    def load_stored(self) -> None:
        """Take the runs stored earlier (not failed ones with ``retry_failed``)."""
        if self.store is None:
            return
        records, data = self.store.read()
        self.stored_ids.update(r.run_id for r in records)
        self._take_stored(records)
        self.data.extend(data)

    def _take_stored(self, records: list[RunRecord]) -> None:
        if self.retry_failed:
            records = [r for r in records if r.status not in FAILED_STATUSES]
        for record in records:
            self.records[record.run_id] = record
            self.failed += record.status != Status.OK
        self.resumed += len(records)

    def record_fatal_run(self) -> None:
        """Record as crashed a run that an earlier sweep's process died running
        twice (at processes=1 it would kill this one too).

        Writes to the store: only for the sweep that holds its lock, after
        :meth:`load_stored`.
        """
        if self.store is None:
            return
        died = self.store.died_running()
        if died is None or died[0] in self.stored_ids:
            return
        run_id, deaths = died
        if deaths >= 2:  # killed its process twice: it is the run's doing
            crash = RunRecord(
                run_id,
                Status.CRASHED,
                error="the process died twice while this run ran in it "
                "(processes=1): run with processes=2 or more to isolate "
                "crashes, or retry_failed=True to run it again",
            )
            self.store.write_records([crash])
            self.stored_ids.add(run_id)
            self._take_stored([crash])

    def start(self) -> None:
        """Report the first progress event (the runs stored earlier are done)."""
        self._tell(Progress(len(self.plan.runs), len(self.records), self.failed))

    def _tell(self, event: Progress) -> None:
        """Call the progress callback. A callback that raises is the user's
        bug, not the sweep's: it is reported once and not called again."""
        callback = self.on_progress
        if callback is None:
            return
        try:
            callback(event)
        except Exception as exc:
            self.on_progress = None
            warn_at(
                callback,
                f"The on_progress callback {_named(callback)} raised "
                f"{type(exc).__name__}: {exc}. The sweep goes on without calling "
                "it again; fix the callback to see progress.",
                RuntimeWarning,
            )

    @property
    def check_wanted(self) -> bool:
        """Whether a run should still be repeated to check that runs repeat
        (the ``check_reproducible`` setting, until one run was checked)."""
        wanted = getattr(self.plan.settings, "check_reproducible", True)
        return bool(wanted) and self.check_note is None and self.refusal is None

    def pending(self) -> list[RunSpec]:
        """The runs of the plan that have not finished yet."""
        return [r for r in self.plan.runs if r.run_id not in self.records]

    def _warn_if_unseeded(self, record: RunRecord) -> None:
        settings = self.plan.settings
        given = settings.seed_kwarg is not None or settings.scenario is not None
        if not given:  # planning already said the model takes no seed
            return
        if record.seeded is False and not self.warned_unseeded:
            self.warned_unseeded = True
            cls = self.plan.settings.model_cls
            warn_at(
                cls,
                f"{cls.__name__} was given the seed of its runs but its random "
                "generator was not seeded with it (a model that takes **kwargs and "
                "does not pass rng= on to super().__init__?): these runs cannot be "
                "reproduced from their seeds, and runs['reproducible'] says so. "
                "Pass the seed on: super().__init__(rng=rng).",
            )

    def _take_check(self, record: RunRecord) -> None:
        """Note what the reproducibility check found; warn if the run differed."""
        if record.check is None or self.check_note is not None:
            return
        self.check_note = record.check
        if record.reproduced is False:
            cls = self.plan.settings.model_cls
            warn_at(
                cls,
                f"{cls.__name__} is not reproducible from its seed: "
                f"{record.check.removeprefix('checked: ')}. "
                "It draws random numbers from a generator other than the model's "
                "own: the `random` module, numpy's global `np.random`, or a "
                "networkx graph built without seed=. Draw from self.random / "
                "self.rng (and pass seed=self.random to networkx); until then "
                "runs['reproducible'] is False. check_reproducible=False turns "
                "this check off.",
            )

    def _report(self, record: RunRecord, later: int = 0) -> None:
        """Report ``record`` (``later``: records of its batch reported after it)."""
        if self.on_progress is not None:
            done = len(self.records) + len(self.previewed) - later
            self._tell(Progress(len(self.plan.runs), done, self.failed, record))

    def heard(self, running: Running | None) -> None:
        """A run in this process reports its step (None: its batch ended)."""
        if running is None:
            self.running.clear()
        else:
            self.running = {running.run_id: running}
        self._report_running()

    def heard_all(self, running: list[Running]) -> None:
        """What the worker processes last reported."""
        self.running = {r.run_id: r for r in running if r.run_id not in self.records}
        self._report_running()

    def _report_running(self) -> None:
        """Tell the progress callback about runs going on for a while (and
        once more when none is left, so a display can clear them)."""
        if self.on_progress is None:
            return
        now = time.time()
        running = tuple(
            (r.run_id, r.step, now - r.started)
            for r in sorted(self.running.values(), key=lambda r: r.run_id)
            if r.run_id not in self.records
            and r.run_id not in self.previewed
            and now - r.started >= LONG_RUN_SECONDS
        )
        if not running and not self.shown_running:
            return
        self.shown_running = bool(running)
        done = len(self.records) + len(self.previewed)
        self._tell(Progress(len(self.plan.runs), done, self.failed, running=running))

    def starting(self, spec: RunSpec) -> None:
        """A run is about to start in this process: note it in the store."""
        if self.store is not None:
            self._store("mark_running", spec.run_id)

    def done_running(self) -> None:
        """No run of this process is running any more."""
        if self.store is not None:
            self._store("mark_running", None)

    def preview(self, record: RunRecord) -> None:
        """A run finished in this process; its batch is put away later.

        Reports progress now, so an in-process sweep's bar moves run by run.
        """
        if record.refusal is not None:
            self.refusal = self.refusal or record.refusal
            return
        self.previewed[record.run_id] = record
        if record.status != Status.OK:
            self.failed += 1
        self._report(record)

    def _store(self, method: str, *args: Any) -> None:
        """Write to the store; on failure, go on in memory without it.

        The failure is recorded (``metadata['store_error']``), not printed:
        a warning would land inside the progress bar; front ends report it
        after the sweep (see ``api.reports.outcome_notes``).
        """
        if self.store is None:
            return
        try:
            getattr(self.store, method)(*args)
        except Exception as exc:
            self.store_error = f"{type(exc).__name__}: {exc}"
            self.store = None

    def add_batch(self, outcome: BatchOutcome) -> None:
        """Put a finished batch away: store (data, then records), tables, records.

        Ctrl-C is held meanwhile, so no run is ever counted without its data;
        a batch added twice (after an interrupt) is added once. A run that
        refused the model class (``record.refusal``) is not kept: the sweep
        stops and :meth:`build` raises its error.
        """
        kept = [r for r in outcome.records if r.refusal is None]
        if len(kept) < len(outcome.records):
            self.refusal = self.refusal or next(
                r.refusal for r in outcome.records if r.refusal is not None
            )
            outcome = replace(outcome, records=kept)
        if not kept or all(r.run_id in self.records for r in kept):
            return
        with deferred(), self.lock:
            self._store("write", outcome)
            self.data.extend(outcome.data)
            fresh = self._register(outcome.records)
        for i, record in enumerate(fresh):
            self._report(record, later=len(fresh) - 1 - i)

    def _register(self, records: list[RunRecord]) -> list[RunRecord]:
        """Count ``records`` as finished; return those not reported yet."""
        fresh = []
        for record in records:
            self.records[record.run_id] = record
            if self.previewed.pop(record.run_id, None) is None:
                self.failed += record.status != Status.OK
                fresh.append(record)
            self._warn_if_unseeded(record)
            self._take_check(record)
        return fresh

    def add_failure(self, record: RunRecord) -> None:
        """A run that failed outside ``run_one`` (e.g. its worker died)."""
        with deferred(), self.lock:
            self._store("write_records", [record])
            fresh = self._register([record])
        for each in fresh:
            self._report(each)

    # -- the result -----------------------------------------------------------
    def snapshot(self) -> SweepResult:
        """The runs finished so far as a result (the chunks are not consumed).

        Once :meth:`build` has run, the result it built: its chunks are gone
        into it, and a snapshot never shows runs without their data.
        """
        with self.lock:
            if self.built is not None:
                return self.built
            records, data = dict(self.records), self.data.copy()
        return self._result(records, data, "running", 0, False, Status.PENDING)

    def build(
        self,
        *,
        executor: str,
        workers: int,
        interrupted: bool,
        missing_status: Status = Status.CANCELLED,
    ) -> SweepResult:
        """The :class:`SweepResult` of everything gathered (consumes the chunks).

        Raises :class:`ModelClassError` if a run found the model class cannot
        be swept (the runs finished before it are in the store, if any).
        """
        if self.refusal is not None:
            raise ModelClassError(self.refusal)
        with self.lock:
            self.built = self._result(
                self.records, self.data, executor, workers, interrupted, missing_status
            )
            return self.built

    def _result(
        self,
        records: dict[int, RunRecord],
        data: Batch,
        executor: str,
        workers: int,
        interrupted: bool,
        missing_status: Status,
    ) -> SweepResult:
        result = assemble_result(self.plan, records, data, missing_status)
        result.metadata.update(
            {
                "executor": executor,
                "workers": workers,
                "store": self.store_path,
                "store_error": self.store_error,
                "resumed_runs": self.resumed,
                "started_at": self.start_wall.isoformat(),
                "finished_at": dt.datetime.now(dt.UTC).isoformat(),
                "wall_time": time.perf_counter() - self.started,
                "interrupted": interrupted,
                "reproducibility": self._reproducibility(records, executor),
                "versions": versions(),
            }
        )
        return result

    def _reproducibility(self, records: dict[int, RunRecord], executor: str) -> str:
        """What was checked of the runs' reproducibility, in words."""
        if self.check_note is not None:
            return self.check_note
        checked = sorted(
            (r for r in records.values() if r.reproduced is not None),
            key=lambda r: r.run_id,
        )
        if checked:
            found = "the same values" if checked[0].reproduced else "different values"
            return f"checked: RunId {checked[0].run_id} was run again: {found}"
        if executor == "store":
            return "not known: the store keeps no reproducibility check"
        if not getattr(self.plan.settings, "check_reproducible", True):
            return "not checked: check_reproducible=False"
        return "not checked: no run of this sweep finished ok"
