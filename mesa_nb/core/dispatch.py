"""Hand runs to a backend in tasks of about half a second, and take them back.

Tasks are sized from the runs timed so far; results stream back in completion
order. A task whose worker died has its runs retried one at a time, so only
the run that kills its worker is lost. An interrupt (or the ``cancel`` event)
cancels what is pending, stops what runs, and keeps what finished; so does a
stop that comes from outside the runs (:func:`stopped_from_outside`: a kernel
shutting down terminates its workers, an executor shut down): the runs it cut
short are not recorded, so resuming the sweep runs them.

The first task (until one run was checked) asks its worker to repeat its
first run, to check that runs repeat from their seeds; a run that finds the
model collects no data stops the sweep.
"""

from __future__ import annotations

import concurrent.futures as cf
import re
import shutil
import tempfile
import time
import traceback
from collections import deque

from .backend import Backend
from .gather import Gatherer
from .gc_tuning import tuned_gc
from .heartbeat import BEAT_SECONDS, FolderBeat
from .interrupts import deferred
from .plan import SweepPlan
from .records import RunRecord, RunSpec, Status, StopToken
from .worker import BatchTask, PartsWriter, run_batch, run_batch_task

#: Aim for tasks of about this many seconds of work.
TASK_SECONDS = 0.5
#: Signals that stop a process from outside (a kernel shutting down or
#: restarting terminates its children, ``kill``, a closed terminal): a worker
#: that died of one was stopped; its runs did not crash.
STOP_SIGNALS = ("SIGTERM", "SIGINT", "SIGHUP")


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


def run_inline(
    plan: SweepPlan,
    runs: list[RunSpec],
    gatherer: Gatherer,
    cancel: StopToken | None = None,
    writer: PartsWriter | None = None,
) -> bool:
    """Run ``runs`` in this process; True if the sweep was interrupted.

    Progress is reported run by run; each batch is put away whole (see
    :meth:`Gatherer.add_batch`), also when an interrupt ends it. The garbage
    collector is tuned for models meanwhile (:func:`~.gc_tuning.tuned_gc`).
    """
    with tuned_gc():
        return _run_batches(plan, runs, gatherer, cancel, writer)


def _run_batches(
    plan: SweepPlan,
    runs: list[RunSpec],
    gatherer: Gatherer,
    cancel: StopToken | None,
    writer: PartsWriter | None,
) -> bool:
    """:func:`run_inline`'s loop: batches sized as runs are timed."""
    sizer = BatchSizer(workers=1)
    position = 0
    outcome = None
    try:
        while position < len(runs):
            size = sizer.size(len(runs) - position) if sizer.count else 1
            batch = runs[position : position + size]
            position += size
            if cancel is not None and cancel.is_set():
                return True
            outcome = run_batch(
                plan.settings,
                batch,
                on_run=gatherer.preview,
                stop=cancel,
                on_start=gatherer.starting,
                beat=gatherer.heard,
                writer=writer,
                check=gatherer.check_wanted,
            )
            gatherer.add_batch(outcome)
            gatherer.done_running()
            sizer.observe(outcome.records)
            if outcome.interrupted or gatherer.refusal is not None:
                return True
    except KeyboardInterrupt:
        with deferred(swallow=True):
            if outcome is not None:
                gatherer.add_batch(outcome)  # once only, if it was not in yet
            gatherer.done_running()
        return True
    return False


def _exit_codes(exc: BaseException) -> str | None:
    """The workers' exit codes loky names in a crash, e.g. ``SIGTERM(-15)``."""
    codes = re.search(r"exit codes of the workers are \{(.*?)\}", str(exc))
    return codes[1] if codes else None


def stopped_from_outside(exc: BaseException, crashed: bool) -> bool:
    """Whether ``exc`` (from a task's future, or from submitting one) means
    the sweep's workers were stopped, not that its runs failed: the task was
    cancelled, the executor was shut down (our own Stop, the process
    exiting), or every worker that died was killed by a stop signal
    (:data:`STOP_SIGNALS`: a kernel that shuts down or restarts terminates
    its children before it exits)."""
    if isinstance(exc, cf.CancelledError):
        return True
    if isinstance(exc, RuntimeError) and "shutdown" in str(exc):
        return True  # loky's ShutdownExecutorError; "... after shutdown"
    if crashed:
        codes = [c.strip() for c in (_exit_codes(exc) or "").split(",") if c.strip()]
        return bool(codes) and all(c.split("(")[0] in STOP_SIGNALS for c in codes)
    return False


def _crash_record(spec: RunSpec, exc: BaseException, crashed: bool) -> RunRecord:
    if crashed:
        codes = _exit_codes(exc)
        error = "worker process died" + (f" (exit code {codes})" if codes else "")
    else:
        error = f"task failed outside the run: {type(exc).__name__}: {exc}"
    return RunRecord(
        spec.run_id,
        Status.CRASHED if crashed else Status.FAILED,
        error=error,
        traceback="".join(traceback.format_exception(exc)),
    )


def run_pool(
    plan: SweepPlan,
    runs: list[RunSpec],
    backend: Backend,
    gatherer: Gatherer,
    cancel: StopToken | None = None,
    writer: PartsWriter | None = None,
) -> bool:
    """Run ``runs`` on ``backend``'s workers; True if the sweep was interrupted.

    With a ``writer``, workers write their data into the store themselves.
    """
    queue: deque[RunSpec] = deque(runs)
    suspects: deque[RunSpec] = deque()  # retried one at a time after a crash
    in_flight: dict[cf.Future, list[RunSpec]] = {}
    alone: set[cf.Future] = set()
    sizer = BatchSizer(backend.workers)
    beats = tempfile.mkdtemp(prefix="mesa_nb-running-") if backend.local else None
    beat = FolderBeat(beats) if beats else None
    heard = time.monotonic()
    checking: set[cf.Future] = set()  # the task asked to check reproducibility

    def submit(batch: list[RunSpec], isolated: bool = False) -> None:
        check = not checking and gatherer.check_wanted
        task = BatchTask(
            plan.settings, tuple(batch), backend.stop_token, beat, writer, check
        )
        try:
            future = backend.submit(run_batch_task, task)
        except Exception as exc:
            if stopped_from_outside(exc, False):
                raise KeyboardInterrupt("the executor was shut down") from exc
            # A worker died and the pool knows before its futures have told us:
            # those futures fail on their own; this task goes to a fresh pool.
            if not backend.crashed(exc):
                raise
            backend.reset()
            future = backend.submit(run_batch_task, task)
        in_flight[future] = batch
        if isolated:
            alone.add(future)
        if check:
            checking.add(future)

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
            if beat is not None and time.monotonic() - heard >= BEAT_SECONDS:
                heard = time.monotonic()
                gatherer.heard_all(beat.read())
            for future in done:
                batch = in_flight[future]
                isolated = future in alone
                try:
                    outcome = future.result()
                except KeyboardInterrupt:
                    raise
                except BaseException as exc:  # SystemExit too
                    crashed = backend.crashed(exc)
                    if stopped_from_outside(exc, crashed):
                        raise KeyboardInterrupt("the workers were stopped") from exc
                    if crashed:
                        backend.reset()
                    if isolated or (len(batch) == 1 and not crashed):
                        gatherer.add_failure(_crash_record(batch[0], exc, crashed))
                    else:
                        suspects.extend(batch)
                else:
                    gatherer.add_batch(outcome)
                    sizer.observe(outcome.records)
                del in_flight[future]  # only once it is put away
                alone.discard(future)
                checking.discard(future)
            if gatherer.refusal is not None:  # the model collects no data
                raise KeyboardInterrupt("the model class was refused")
    except KeyboardInterrupt:
        with deferred(swallow=True):  # a second Ctrl-C must not lose these
            for future in in_flight:
                future.cancel()
            backend.abort()
            # Tasks that finished while we were stopping are still kept.
            for future in in_flight:
                if (
                    future.done()
                    and not future.cancelled()
                    and future.exception() is None
                ):
                    gatherer.add_batch(future.result())
        return True
    finally:
        if beats is not None:
            shutil.rmtree(beats, ignore_errors=True)
    return False
