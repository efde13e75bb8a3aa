"""One pool of local worker processes per process, shared by every sweep.

loky's ``get_reusable_executor`` keeps its executor per *thread*: a
background sweep or the form's Run thread started a pool of its own, so
three background sweeps ran six workers on two cores, each paying worker
start-up. :data:`WORKERS` is one pool for all threads: foreground,
background and form sweeps submit to the same warm workers.

Each sweep takes a :class:`Lease` on the pool:

* **Size.** A new pool gets ``min(processes, runs)`` workers. A pool no
  other sweep is using (and with no task left in it) is resized to fit:
  grown up to ``min(processes, runs)``, shrunk down to ``processes``
  (fewer runs than workers never shrink it: extra workers just idle). A pool
  in use is never resized (that would wait for the other sweeps' tasks and
  restart their workers): the sweep shares it as it is, and
  ``Lease.workers`` (the ``workers`` of the result's metadata) says how
  many it got, at most the pool's size.
* **Stopping a sweep** (Ctrl-C, Stop, ``cancel``) stops only its own
  tasks: they are cancelled if pending, and running ones stop at their next
  step (a :class:`FileStop` token). Tasks that end within
  :data:`ABORT_GRACE_SECONDS` are kept by the dispatcher. Only if some are
  still running after that (a step that hangs) *and* no other sweep uses
  the pool are its workers killed; otherwise those tasks are left to end on
  their own and killed when the pool is next taken with nobody else on it.
* **A worker that dies** breaks a loky executor for every task in it.
  Every task records the pid of the worker running it; when the pool breaks,
  a task whose worker is still alive (or that had not started) was only a
  bystander and is sent again, transparently, to a fresh pool. Only the
  task whose own worker died sees the crash, so the dispatcher of *its*
  sweep isolates the culprit run and records it as crashed; other sweeps,
  and the sweep's other tasks, lose nothing.
"""

from __future__ import annotations

import atexit
import concurrent.futures as cf
import contextlib
import glob
import itertools
import os
import shutil
import tempfile
import threading
import weakref
from collections.abc import Callable
from typing import Any

from ..core.backend import PolledStop
from ..core.worker import preload

#: Idle local workers stay alive this long (seconds) for the next sweep.
IDLE_WORKER_TIMEOUT = 900
#: A running task checks at most this often whether its sweep was stopped.
STOP_POLL_SECONDS = 0.1
#: A stopped sweep waits this long for its running tasks to stop and report.
ABORT_GRACE_SECONDS = 1.0
#: How many times a task is sent again after another task's worker died.
RESEND_LIMIT = 3
#: The pool's folder of small files (stop flags, task notes) is named so,
#: with the pid of the process that owns it.
FOLDER_PREFIX = "mesa_nb-pool-"


class FileStop(PolledStop):
    """A stop flag for runs in worker processes: set when its file
    (``address``) exists (checked at most every :data:`STOP_POLL_SECONDS`)."""

    interval = STOP_POLL_SECONDS

    def poll(self) -> bool:
        return os.path.exists(self.address)

    def set(self) -> None:
        self._set = True
        with contextlib.suppress(OSError):
            open(self.address, "w").close()

    def clear(self) -> None:
        with contextlib.suppress(OSError):
            os.unlink(self.address)


def _remove_stale_folders() -> None:
    """Remove the pool folders of processes that died without cleaning up
    (killed: their exit handlers did not run). POSIX only."""
    if os.name != "posix":
        return
    for path in glob.glob(os.path.join(tempfile.gettempdir(), f"{FOLDER_PREFIX}*-*")):
        owner = os.path.basename(path)[len(FOLDER_PREFIX) :].split("-")[0]
        try:
            os.kill(int(owner), 0)
        except ProcessLookupError:
            shutil.rmtree(path, ignore_errors=True)
        except (ValueError, OSError):
            continue  # alive (another user's), or not ours to judge


def start_worker(parent: int) -> None:
    """Run in each new worker as it starts: :func:`preload`, and exit at once
    if the process that started it died meanwhile (``preload`` then watches
    an adoptive parent that never dies)."""
    preload()
    if os.getppid() != parent:
        os._exit(1)


def run_marked(marker: str, fn: Callable[..., Any], *args: Any) -> Any:
    """In a worker: note this process's pid in ``marker``, then run the task.

    The parent reads the note if the pool breaks (and removes it when the
    task ends): it tells whether this task's own worker died.
    """
    # without a note, a broken pool counts the task as not started: resent
    with contextlib.suppress(OSError), open(marker, "w") as file:
        file.write(str(os.getpid()))
    return fn(*args)


def _worker_died(executor: Any, marker: str) -> bool:
    """Whether the worker that ran the task of ``marker`` is dead.

    Called as loky fails the futures of a broken pool, before it kills the
    surviving workers: only the worker that crashed is dead then. (Called
    any later, every worker counts as dead: the dispatcher then isolates the
    task's runs, as it does for a crash of its own.)
    """
    try:
        with open(marker) as file:
            text = file.read()
    except OSError:
        return False  # the task had not started
    try:
        process = executor._processes.get(int(text))
    except (ValueError, AttributeError):
        return True  # cannot tell: let the dispatcher isolate it
    return process is None or process.exitcode is not None


def _is_crash(exc: BaseException) -> bool:
    from loky.process_executor import TerminatedWorkerError

    return isinstance(exc, TerminatedWorkerError)


class _Relay(cf.Future):
    """The future a sweep gets for one task; it follows the task when the
    task is sent again to a fresh pool."""

    def __init__(self, lease: Lease, fn: Callable[..., Any], args: tuple) -> None:
        super().__init__()
        self.lease = lease
        self.task: tuple | None = (fn, args)
        self.resent = 0
        self._inner: cf.Future | None = None
        self._executor: Any = None
        self._marker = ""
        self._guard = threading.RLock()

    def follow(self, inner: cf.Future, executor: Any, marker: str) -> None:
        """Track ``inner``, the task's future in ``executor``."""
        with self._guard:
            if self.done():  # cancelled while it was being sent again
                inner.cancel()
                return
            self._inner, self._executor, self._marker = inner, executor, marker
        inner.add_done_callback(self._landed)

    def cancel(self) -> bool:
        with self._guard:
            if self._inner is not None and not self._inner.cancel():
                return False  # running: its sweep's stop token stops it
            return super().cancel()

    def fail(self, exc: BaseException) -> None:
        with self._guard:
            if not self.done():
                self.set_exception(exc)
                self.task = None

    def _landed(self, inner: cf.Future) -> None:
        with self._guard:
            if inner is not self._inner or self.done():
                return
            self._inner = None
            marker = self._marker
            if inner.cancelled():
                super().cancel()
            elif inner.exception() is None:
                self.set_result(inner.result())
            elif self._bystander(inner.exception(), marker):
                self.resent += 1
                threading.Thread(  # never in loky's thread, which calls this
                    target=self.lease.pool.resend,
                    args=(self,),
                    name="mesa_nb-resend",
                    daemon=True,
                ).start()
            else:
                self.set_exception(inner.exception())
            if self.done():
                self.task = None
        with contextlib.suppress(OSError):
            os.unlink(marker)

    def _bystander(self, exc: BaseException, marker: str) -> bool:
        """True if the pool broke under this task because another task's
        worker died: the task is then sent again."""
        return (
            _is_crash(exc)
            and not self.lease.stopped
            and self.resent < RESEND_LIMIT
            and not _worker_died(self._executor, marker)
        )


class Lease:
    """One sweep's use of the shared pool.

    Attributes:
        workers: how many workers the sweep gets (at most the pool's size).
        stop_token: shipped with every task; set when the sweep stops.
        stopped: set when the sweep was stopped.
    """

    def __init__(self, pool: WorkerPool, workers: int, stop_token: FileStop) -> None:
        self.pool = pool
        self.workers = workers
        self.stop_token = stop_token
        self.started = False
        self.stopped = False
        self._unfinished: set[_Relay] = set()
        self._lock = threading.Lock()
        weakref.finalize(self, stop_token.clear)

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        """Run ``fn(*args)`` on a worker of the pool; return its future."""
        return self.pool.submit(self, fn, args)

    def stop(self) -> None:
        """Stop this sweep's tasks, and no other sweep's (see the module)."""
        self.pool.stop(self)

    def active(self) -> bool:
        """True while the sweep may still submit or wait for tasks."""
        return not self.stopped and (not self.started or bool(self._unfinished))

    def unfinished(self) -> list[_Relay]:
        with self._lock:
            return [relay for relay in self._unfinished if not relay.done()]

    def track(self, relay: _Relay) -> None:
        with self._lock:
            self._unfinished.add(relay)
        relay.add_done_callback(self._untrack)

    def _untrack(self, relay: cf.Future) -> None:
        with self._lock:
            self._unfinished.discard(relay)


class WorkerPool:
    """The process's local worker processes (loky), for sweeps on any thread.

    Every change of the executor (start, resize, replace, kill) happens under
    one lock; tasks are submitted under it too, so a resize never waits for
    a task that slipped in.
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()
        self._executor: Any = None
        self._size = 1
        self._ids = itertools.count()
        self._folder: str | None = None
        self._leases: weakref.WeakSet[Lease] = weakref.WeakSet()
        self._orphans: set[cf.Future] = set()

    # -- for sweeps ---------------------------------------------------------------
    def lease(self, processes: int, runs: int | None = None) -> Lease:
        """Take the pool for a sweep of ``runs`` runs on ``processes`` workers."""
        wanted = max(1, min(processes, runs or processes))
        with self._lock:
            shared = self._others(None)
            if not shared and self._orphans:
                self._kill()  # a stopped sweep's leftover tasks hold workers
            executor = self._current(wanted)
            if not shared:
                executor = self._fit(executor, min(max(self._size, wanted), processes))
            stop = FileStop(self._path("stop"))
            lease = Lease(self, min(wanted, self._size), stop)
            self._leases.add(lease)
        return lease

    def submit(self, lease: Lease, fn: Callable[..., Any], args: tuple) -> cf.Future:
        relay = _Relay(lease, fn, args)
        lease.track(relay)
        lease.started = True
        try:
            self._send(relay)
        except BaseException:
            relay.cancel()
            raise
        return relay

    def resend(self, relay: _Relay) -> None:
        """Send a task again after the pool broke under it (on its own thread)."""
        if relay.done():
            return
        if relay.lease.stopped:
            relay.cancel()
            return
        try:
            self._send(relay)
        except BaseException as exc:
            relay.fail(exc)

    def stop(self, lease: Lease) -> None:
        """Stop ``lease``'s tasks; kill workers only if nobody else uses them."""
        lease.stopped = True
        lease.stop_token.set()
        running = lease.unfinished()
        if running:
            cf.wait(running, timeout=ABORT_GRACE_SECONDS)
        with self._lock:
            left = lease.unfinished()
            if not left:
                return
            if self._others(lease):
                for relay in left:
                    self._orphans.add(relay)
                    relay.add_done_callback(self._orphans.discard)
            else:
                self._kill()

    # -- for warming up and tests -----------------------------------------------
    def executor(self, workers: int) -> Any:
        """The loky executor, resized to ``workers`` if nobody uses it."""
        with self._lock:
            executor = self._current(workers)
            if not self._others(None):
                executor = self._fit(executor, workers)
            return executor

    def warm(self, workers: int) -> None:
        """Start the workers now (they import Mesa as they start)."""
        with self._lock:
            self.executor(workers).submit(int)  # the first task starts them

    def shutdown(self) -> None:
        """Kill the workers now, runs in progress too; the next sweep starts
        new ones."""
        with self._lock:
            self._kill()

    def worker_pids(self) -> list[int]:
        """The pids of the pool's worker processes."""
        with self._lock:
            if self._executor is None:
                return []
            return list(self._executor._processes)

    # -- under the lock -------------------------------------------------------------
    def _others(self, lease: Lease | None) -> bool:
        return any(other is not lease and other.active() for other in self._leases)

    def _current(self, size: int | None = None) -> Any:
        """The executor, started anew if there is none or it broke."""
        executor = self._executor
        if executor is not None and not executor._flags.shutdown:
            return executor
        if executor is not None:
            executor.shutdown(wait=True)  # a broken pool: let it clean up
            size = self._size
        return self._start(size or self._size)

    def _start(self, size: int) -> Any:
        from loky.reusable_executor import _ReusablePoolExecutor

        self._executor = _ReusablePoolExecutor(
            max_workers=size,
            executor_id=next(self._ids),
            timeout=IDLE_WORKER_TIMEOUT,
            initializer=start_worker,
            initargs=(os.getpid(),),
        )
        self._size = size
        return self._executor

    def _fit(self, executor: Any, size: int) -> Any:
        """Resize an executor nobody uses, if no task is left in it."""
        if size == executor._max_workers or executor._pending_work_items:
            return executor
        if size > executor.queue_size:  # loky cannot grow that far in place
            executor.shutdown(wait=True)
            return self._start(size)
        executor._resize(size)
        self._size = size
        return executor

    def _kill(self) -> None:
        if self._executor is not None:
            self._executor.shutdown(wait=True, kill_workers=True)
            self._executor = None
        self._orphans.clear()

    def _path(self, name: str) -> str:
        """A path for a small file the workers see (stop flags, task notes)."""
        if self._folder is None:
            _remove_stale_folders()
            self._folder = tempfile.mkdtemp(prefix=f"{FOLDER_PREFIX}{os.getpid()}-")
            atexit.register(shutil.rmtree, self._folder, ignore_errors=True)
        return os.path.join(self._folder, f"{name}-{next(self._ids)}")

    def _send(self, relay: _Relay) -> None:
        assert relay.task is not None
        fn, args = relay.task
        for attempt in range(2):
            with self._lock:
                executor = self._current()
                marker = self._path("task")
                try:
                    inner = executor.submit(run_marked, marker, fn, *args)
                    break
                except RuntimeError:  # it broke (or was shut down) just now
                    if attempt or not executor._flags.shutdown:
                        raise
        relay.follow(inner, executor, marker)


#: The worker pool of this process.
WORKERS = WorkerPool()
