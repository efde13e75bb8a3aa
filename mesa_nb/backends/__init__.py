"""Where runs execute: in this process, in local workers (one warm pool per
process, shared by every sweep: :mod:`.pool`), or on any
``concurrent.futures.Executor`` (a Dask ``Client`` is turned into one).

Every backend implements :class:`mesa_nb.core.backend.Backend` and hands out
``concurrent.futures.Future`` objects, so the core has one dispatch loop for
all of them. Optional engines (Dask) load lazily.
"""

from __future__ import annotations

import concurrent.futures as cf
from collections.abc import Callable
from typing import Any

import cloudpickle

from ..core.backend import Backend, InProcessBackend
from ..core.errors import SweepOptionError
from ..core.plan import resolve_processes
from .pool import WORKERS


class LokyBackend(Backend):
    """Local worker processes (loky), kept warm between sweeps and shared by
    every sweep of the process, whatever thread runs it (see
    :mod:`mesa_nb.backends.pool` for sizes, stops and crashes).

    loky ships classes and functions defined in ``__main__`` (notebook cells)
    with cloudpickle and uses its own process context, so the global
    multiprocessing start method is never touched.

    ``workers`` is what the sweep got: ``min(processes, runs)``, or fewer if
    it shares a smaller pool with a sweep already running.
    """

    name = "processes"
    local = True

    def __init__(self, processes: int, runs: int | None = None) -> None:
        self._lease = WORKERS.lease(processes, runs)
        self.workers = self._lease.workers
        self.stop_token = self._lease.stop_token

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self._lease.submit(fn, *args)

    def reset(self) -> None:
        """Nothing to do: the pool replaces a broken executor as it is next used."""

    def abort(self) -> None:
        """Stop this sweep's tasks; other sweeps on the pool go on."""
        self._lease.stop()

    def crashed(self, exc: BaseException) -> bool:
        from loky.process_executor import TerminatedWorkerError

        return isinstance(exc, TerminatedWorkerError | cf.BrokenExecutor)


def _local_executor(workers: int) -> Any:
    """The shared loky executor, resized to ``workers`` if no sweep uses it;
    its workers load the worker side (and Mesa) as they start."""
    return WORKERS.executor(workers)


def start_workers(processes: int | None) -> None:
    """Start local worker processes now, in the background, for a sweep to come.

    Worker start-up (importing Mesa, ~1 s) then overlaps whatever comes
    before the sweep: planning it, or the user typing the next cell. Returns
    at once; ``processes`` of 1 (or None: every core) as in ``sweep``. A
    pool that a running sweep uses is left as it is.
    """
    workers = resolve_processes(processes)
    if workers > 1:
        WORKERS.warm(workers)


def shutdown_workers() -> None:
    """Stop the local worker processes now (runs in progress with them); the
    next sweep starts new ones."""
    WORKERS.shutdown()


def _call_pickled(payload: bytes) -> Any:
    fn, args = cloudpickle.loads(payload)
    return fn(*args)


class ExecutorBackend(Backend):
    """Any ``concurrent.futures.Executor`` given by the user: never shut down.

    Tasks travel as cloudpickle payloads, so notebook-defined classes work even
    with the standard library's ``ProcessPoolExecutor``. On a stop, the
    sweep's pending tasks are cancelled; tasks already running finish in the
    background (a plain Executor cannot stop them), and the executor stays
    usable for the next sweep.
    """

    def __init__(self, executor: cf.Executor, workers: int | None = None) -> None:
        self.executor = executor
        self.name = type(executor).__name__
        self.workers = workers or getattr(executor, "_max_workers", None) or 1

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        return self.executor.submit(_call_pickled, cloudpickle.dumps((fn, args)))

    def abort(self) -> None:
        """Nothing to do: the dispatcher cancelled this sweep's pending tasks."""


def resolve_backend(
    processes: int, executor: Any = None, runs: int | None = None
) -> Backend:
    """Pick the backend for ``processes`` workers or a given ``executor``.

    ``runs`` (how many runs are to do) caps the number of local workers.
    ``executor`` may be a ``concurrent.futures.Executor``, a Dask
    ``distributed.Client``, a scheduler address (``"tcp://host:8786"``), or
    ``"dask"`` for a local Dask cluster of ``processes`` workers.
    """
    if executor is None:
        if processes == 1:
            return InProcessBackend()
        # never more local workers than runs to do (but workers, for isolation)
        return LokyBackend(processes, runs)
    if isinstance(executor, Backend):
        return executor
    if isinstance(executor, cf.Executor):
        return ExecutorBackend(executor)
    if isinstance(executor, str) or type(executor).__module__.startswith("distributed"):
        from . import dask

        if executor == "dask":
            return dask.DaskBackend(dask.local_client(processes))
        if isinstance(executor, str):
            if "://" not in executor:
                raise SweepOptionError(
                    f"executor={executor!r}: give 'dask' for a local Dask cluster "
                    "or a scheduler address such as 'tcp://127.0.0.1:8786'."
                )
            return dask.DaskBackend(dask.connect(executor))
        if dask.is_dask_client(executor):
            return dask.DaskBackend(executor)
    raise SweepOptionError(
        f"executor must be a concurrent.futures.Executor, a dask.distributed "
        f"Client, a scheduler address or 'dask', not {type(executor).__name__}."
    )


__all__ = [
    "Backend",
    "ExecutorBackend",
    "InProcessBackend",
    "LokyBackend",
    "resolve_backend",
    "shutdown_workers",
    "start_workers",
]
