"""Execute runs: the code that runs inside worker processes (or in-process).

A run never raises: whatever goes wrong is recorded in its :class:`RunRecord`
and the next run starts.
"""

from __future__ import annotations

import errno
import os
import pickle
import random
import signal
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from typing import Any, Protocol

import numpy as np

from . import mesa_adapter
from .collect import (
    COLLECTOR_HINT,
    CollectsNothing,
    RunData,
    drive,
    first_difference,
    read_collector,
)
from .columns import ChunkBuilder, escaped
from .errors import ModelClassError
from .gc_tuning import tuned_gc
from .heartbeat import Pulse, Running
from .parameters import Sampler
from .plan import RunSettings, model_kwargs
from .records import (
    Batch,
    BatchOutcome,
    RunRecord,
    RunSpec,
    RunTimedOut,
    Status,
    StopToken,
)
from .seeding import sampling_rng

#: How often a worker checks that the process that started it is alive.
PARENT_CHECK_SECONDS = 0.5
#: True in a local worker process (set as it starts): there a run's time limit
#: interrupts it with a timer signal, even inside a long step or a sleep.
IN_WORKER = False
#: The first run of a sweep is run again for this many steps (or units of
#: model time) to check that it repeats (:func:`check_repeat`).
REPEAT_STEPS = 3


@contextmanager
def time_limit(seconds: float | None) -> Iterator[float | None]:
    """Yield the run's deadline (monotonic clock), or None without a limit.

    In a worker process the run is also interrupted when the limit passes
    (``signal.setitimer``); elsewhere the deadline is checked between steps.
    """
    if seconds is None:
        yield None
        return
    deadline = time.monotonic() + seconds
    main = threading.current_thread() is threading.main_thread()
    if not (IN_WORKER and main and hasattr(signal, "setitimer")):
        yield deadline
        return

    def on_alarm(_signum: int, _frame: Any) -> None:
        raise RunTimedOut

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield deadline
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def preload() -> None:
    """Run in each new worker process as it starts.

    Importing this module loaded Mesa and the worker side already, so a
    sweep's first task starts at once. And the worker exits when the process
    that started it dies (SIGKILL, SIGTERM, a crashed kernel), instead of
    idling on as an orphan.
    """
    global IN_WORKER
    IN_WORKER = True
    parent = os.getppid()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="mesa_nb-parent-watch", daemon=True).start()


def draw_samplers(spec: RunSpec) -> dict[str, Any]:
    """Draw every callable parameter of ``spec`` from the run's own RNG."""
    samplers = {n: v for n, v in spec.params.items() if isinstance(v, Sampler)}
    if not samplers:
        return {}
    rng = sampling_rng(spec.seed)
    return {name: sampler.draw(rng) for name, sampler in samplers.items()}


def recordable(value: Any) -> Any:
    """``value`` if it can travel back and be stored, else a label for it.

    A drawn simulator, or anything else bound to its model, is given to the
    model but recorded as ``<ABMSimulator>``.
    """
    if value is None or isinstance(value, bool | int | float | str | np.generic):
        return value
    try:
        pickle.dumps(value)
    except Exception:
        return f"<{type(value).__qualname__}>"
    return value


def build_model(
    spec: RunSpec, settings: RunSettings, drawn: dict[str, Any] | None = None
) -> tuple[Any, dict[str, Any]]:
    """Construct the model of ``spec``; return it with the values drawn for its
    callable parameters (``drawn``: use these instead of drawing them)."""
    if drawn is None:
        drawn = draw_samplers(spec)
    return settings.model_cls(**model_kwargs(spec, settings, drawn)), drawn


def collects_data(model: Any) -> bool:
    """Whether the model has a DataCollector or a DataRecorder (now)."""
    has_collector = getattr(model, "datacollector", None) is not None
    return has_collector or bool(mesa_adapter.data_recorders(model))


def no_collector_error(model_cls: type, when: str) -> ModelClassError:
    """The refusal of a model that collects nothing."""
    return ModelClassError(
        f"{model_cls.__name__} has no `datacollector` (nor a DataRecorder) "
        f"{when}. " + COLLECTOR_HINT
    )


def check_repeat(
    spec: RunSpec,
    settings: RunSettings,
    model: Any,
    drawn: dict[str, Any],
    stop: StopToken | None = None,
) -> tuple[bool | None, str]:
    """Build the model of ``spec`` again with its seed (and the values drawn
    for it, ``drawn``), run it a few steps (:data:`REPEAT_STEPS`) and compare
    its records with the first records of ``model`` (the run itself):
    ``(same, what was checked)``.

    A model that draws from a generator other than its own (``random``,
    ``np.random``, an unseeded networkx graph) gives other values. The
    global generators' states are put back afterwards, so the check changes
    nothing for the runs after it. It never fails the run: a repeat that
    raises leaves the run unchecked (None).
    """
    steps = min(settings.max_steps, REPEAT_STEPS)
    until = None if settings.until is None else min(settings.until, REPEAT_STEPS)
    bound = [name for name, value in drawn.items() if recordable(value) is not value]
    if bound:  # drawn objects bound to the run's model (a simulator): anew
        fresh = draw_samplers(spec)
        drawn = {**drawn, **{name: fresh[name] for name in bound}}
    length = f"to model time {until:g}" if until is not None else f"for {steps} steps"
    what = f"RunId {spec.run_id} was built again with its seed and run {length}"
    saved = random.getstate(), np.random.get_state()
    again = None
    try:
        with time_limit(settings.timeout) as deadline:
            again, _ = build_model(spec, settings, drawn)
            driven = drive(again, steps, stop, until, deadline)
        difference = first_difference(model, again, driven.steps)
    except KeyboardInterrupt:
        if stop is None or not stop.is_set():
            raise  # Ctrl-C: the batch stops here
        return None, f"not checked: the sweep was stopped while {what}"
    except BaseException as exc:  # a check never fails its run
        return None, f"not checked: {what}, which raised {type(exc).__name__}: {exc}"
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        if again is not None:
            mesa_adapter.release_model(again)
    if difference is None:
        return True, f"checked: {what}: the same values"
    return False, f"checked: {what}: different values ({difference})"


def _repeat_or_why_not(
    spec: RunSpec,
    settings: RunSettings,
    record: RunRecord,
    model: Any,
    drawn: dict[str, Any],
    stop: StopToken | None,
) -> tuple[bool | None, str]:
    """:func:`check_repeat`, unless the run is not meant to repeat."""
    if spec.seed is None:
        return None, "not checked: the runs were given no seed (None)"
    if record.seeded is False:
        return None, (
            "not checked: the model's generator was not seeded with the run's "
            "seed, so its runs cannot repeat"
        )
    return check_repeat(spec, settings, model, drawn, stop)


def run_one(
    spec: RunSpec,
    settings: RunSettings,
    stop: StopToken | None = None,
    beat: Callable[[Running | None], None] | None = None,
    check: bool = False,
) -> tuple[RunRecord, RunData | None]:
    """Build, step and read one model; failures are caught and recorded.

    Whatever the run raises is its failure, ``SystemExit`` included; only a
    ``KeyboardInterrupt`` (or ``stop``) ends it without a record. A model
    that collects no data is refused (``record.refusal``) after its first
    step. ``check`` repeats the run for a few steps (:func:`check_repeat`).
    """
    start = time.perf_counter()
    record = RunRecord(spec.run_id, Status.OK)
    model = None
    pulse = None
    data: RunData | None = None
    try:
        with time_limit(settings.timeout) as deadline:
            model, drawn = build_model(spec, settings)
            record.drawn = {name: recordable(v) for name, v in drawn.items()}
            record.seeded = mesa_adapter.model_seeded_with(model, spec.seed)
            pulse = Pulse(spec.run_id, beat) if beat is not None else None
            driven = drive(
                model,
                settings.max_steps,
                stop,
                settings.until,
                deadline,
                pulse,
                require_data=True,
            )
        if not collects_data(model):
            raise CollectsNothing
        data = read_collector(
            model,
            driven,
            settings.data_collection_period,
            settings.until,
            settings.mesa_records,
        )
        if check:  # after the run's data is read: the repeat cannot change it
            record.reproduced, record.check = _repeat_or_why_not(
                spec, settings, record, model, drawn, stop
            )
    except RunTimedOut:
        record.status = Status.TIMEOUT
        reached = mesa_adapter.steps_of(model) if model is not None else 0
        record.error = (
            f"RunTimedOut: the run went past its time limit of {settings.timeout} s "
            f"(after {reached} steps)"
        )
        data = None
    except KeyboardInterrupt:
        raise
    except CollectsNothing:
        when = (
            "after its first step" if mesa_adapter.steps_of(model) else "after __init__"
        )
        refusal = str(no_collector_error(settings.model_cls, when))
        record.status = Status.FAILED
        record.error, record.refusal = f"ModelClassError: {refusal}", refusal
        data = None
    except BaseException as exc:  # sys.exit() is the run's failure too
        record.status = Status.FAILED
        record.error = escaped(f"{type(exc).__name__}: {exc}")
        record.traceback = escaped(traceback.format_exc())
        data = None
    finally:
        if pulse is not None:
            pulse.done()
        if model is not None:
            record.steps = mesa_adapter.steps_of(model)
            mesa_adapter.release_model(model)
    record.wall_time = time.perf_counter() - start
    return record, data


class _BatchBuilder:
    """The data of a batch's runs, per table, joined once the batch ends."""

    def __init__(self, exact: bool = False) -> None:
        self.exact = exact
        self.builders: dict[tuple[str, str], ChunkBuilder] = {}
        self.last_run: int | None = None

    def add(self, run_id: int, data: RunData) -> None:
        """Add the tables of run ``run_id``, each with a RunId column."""
        for group, name, columns in data.named_columns():
            rows = len(next(iter(columns.values()))) if columns else 0
            run_ids = np.full(rows, run_id, dtype=np.int64)
            builder = self.builders.get((group, name))
            if builder is None:
                builder = self.builders[group, name] = ChunkBuilder(self.exact)
            builder.add({"RunId": run_ids, **columns}, rows)
        self.last_run = run_id

    def drop_unfinished(self, finished: set[int]) -> None:
        """Forget the data of a run that was interrupted before its record."""
        if self.last_run is None or self.last_run in finished:
            return
        for builder in self.builders.values():
            last = builder.pieces["RunId"][-1] if builder.sizes else []
            if len(last) and last[0] == self.last_run:
                builder.drop_last()

    def outcome(self, records: list[RunRecord], interrupted: bool) -> BatchOutcome:
        """The batch's records and its tables, one chunk each."""
        data = Batch()
        for (group, name), builder in self.builders.items():
            chunk = builder.finish()
            if chunk is not None:
                data.add(group, name, chunk)
        return BatchOutcome(records, data, interrupted)


class PartsWriter(Protocol):
    """What writes a batch's data into a store from a worker (a PartWriter)."""

    def write_parts(self, data: Batch) -> tuple[str, list[dict[str, Any]]]:
        """Write the data parts; return the part name and its files."""
        ...


def run_batch(
    settings: RunSettings,
    specs: Sequence[RunSpec],
    on_run: Callable[[RunRecord], None] | None = None,
    stop: StopToken | None = None,
    on_start: Callable[[RunSpec], None] | None = None,
    beat: Callable[[Running | None], None] | None = None,
    writer: PartsWriter | None = None,
    check: bool = False,
) -> BatchOutcome:
    """Run ``specs`` one after the other and pack their data per table.

    A ``KeyboardInterrupt`` (or ``stop`` being set) stops the batch; the runs
    finished so far are kept and the outcome is flagged ``interrupted``. With
    a ``writer`` (a store's part writer), the data is written into the store
    here and only the records travel back. ``check``: the first run that
    finishes is repeated to check it (see :func:`check_repeat`). A run that
    finds the model collects no data (``record.refusal``) ends the batch.
    """
    records: list[RunRecord] = []
    data = _BatchBuilder(settings.exact_values)
    interrupted = False
    try:
        for spec in specs:
            if on_start is not None:
                on_start(spec)
            record, run_data = run_one(spec, settings, stop, beat, check)
            if run_data is not None:
                data.add(spec.run_id, run_data)
            records.append(record)
            check = check and record.check is None
            if on_run is not None:
                on_run(record)
            if record.refusal is not None:
                break
    except KeyboardInterrupt:
        interrupted = True
        data.drop_unfinished({r.run_id for r in records})
    if beat is not None:
        beat(None)
    outcome = data.outcome(records, interrupted)
    if writer is not None and records:  # data goes to the store, not back
        try:
            outcome.stored = writer.write_parts(outcome.data)
        except OSError as exc:
            if exc.errno not in DISK_ERRORS:
                raise
            return BatchOutcome(not_stored(records, exc), Batch(), interrupted)
        outcome.data = Batch()
    return outcome


#: A disk that cannot take a batch's data: full, over quota, read-only, failing.
DISK_ERRORS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EROFS", "EIO")
    if hasattr(errno, name)
)


def not_stored(records: list[RunRecord], exc: OSError) -> list[RunRecord]:
    """The records of a batch whose data the disk refused (``exc``): its
    finished runs are cancelled, not failed (a store keeps no cancelled run,
    so a resume runs them again); runs that failed stay failed."""
    why = (
        f"not stored: the store's disk refused its data ({type(exc).__name__}: "
        f"{exc}); free space (or fix the disk) and resume the sweep to run it again"
    )
    return [
        replace(r, status=Status.CANCELLED, error=why) if r.status == Status.OK else r
        for r in records
    ]


@dataclass(frozen=True)
class BatchTask:
    """A batch of runs as shipped to a worker: what :func:`run_batch` needs
    there (``stop``: the backend's stop token; ``beat``: where the worker
    reports its runs in progress; ``writer``: writes the data into a store;
    ``check``: repeat its first finished run, see :func:`check_repeat`)."""

    settings: RunSettings
    specs: tuple[RunSpec, ...]
    stop: StopToken | None = None
    beat: Callable[[Running | None], None] | None = None
    writer: PartsWriter | None = None
    check: bool = False


def run_batch_task(task: BatchTask) -> BatchOutcome:
    """Run a task's batch in a worker (see :func:`run_batch`), with the
    garbage collector tuned for models (:func:`~.gc_tuning.tuned_gc`)."""
    with tuned_gc():
        return run_batch(
            task.settings,
            task.specs,
            stop=task.stop,
            beat=task.beat,
            writer=task.writer,
            check=task.check,
        )
