"""The small interface the dispatcher drives, and the in-process reference.

Backends hand out ``concurrent.futures.Future`` objects; implementations
(local processes, any Executor, Dask) live in :mod:`mesa_nb.backends`.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable
from typing import Any


class PolledStop:
    """A picklable stop flag for runs in worker processes: :meth:`is_set`
    asks :meth:`poll` (a file, a Dask event...) at most every ``interval``
    seconds, and stays set once set. Only ``address`` travels."""

    interval = 0.1

    def __init__(self, address: str) -> None:
        self.address = address
        self._checked = 0.0
        self._set = False

    def __getstate__(self) -> dict[str, Any]:
        return {"address": self.address}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__init__(state["address"])

    def poll(self) -> bool:
        """Whether the flag is set where it lives (asked now)."""
        raise NotImplementedError

    def is_set(self) -> bool:
        now = time.monotonic()
        if not self._set and now - self._checked >= self.interval:
            self._checked = now
            self._set = self.poll()
        return self._set


class Backend:
    """Where the tasks of a sweep execute.

    Attributes:
        name: shown in metadata.
        workers: how many runs can execute at once.
        inline: True if runs execute in the calling process (no futures).
        local: True if its workers run on this machine (they can report
            the runs in progress through files).
        stop_token: shipped with every task; runs stop between steps when it
            is set (None: the dispatcher's own interrupt is enough).
    """

    name = "backend"
    workers = 1
    inline = False
    local = False
    stop_token: Any = None

    def submit(self, fn: Callable[..., Any], *args: Any) -> cf.Future:
        """Start ``fn(*args)`` somewhere; return its future."""
        raise NotImplementedError(f"{type(self).__name__} runs no tasks")

    def reset(self) -> None:
        """Make the backend usable again after a worker died."""

    def abort(self) -> None:
        """Stop this sweep's running tasks now (called on interrupt)."""

    def crashed(self, exc: BaseException) -> bool:
        """Whether ``exc`` from a future means its worker died."""
        return isinstance(exc, cf.BrokenExecutor)


class InProcessBackend(Backend):
    """Runs execute one after another in the calling process (the reference)."""

    name = "in-process"
    inline = True
