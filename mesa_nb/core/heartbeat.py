"""Which runs are running, and at which step: for long runs on a progress bar.

A run says nothing until it has run :data:`BEAT_SECONDS`; from then on it
reports its step at most once a second (after a step), and when it ends it
takes its report back. So runs shorter than that, nearly all runs of most
sweeps, cost nothing here. In worker processes the report is a tiny file per
worker in a folder of the sweep's (the parent reads the folder about once a
second); in the sweep's own process it is a direct call. Nothing here is
needed for results: a lost report only makes the bar less informative.

A run is first seen once a step ends after its first :data:`BEAT_SECONDS`:
a run stuck in its very first step is not shown (a run stuck later shows
at its last reported step, its time still counting).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable
from dataclasses import dataclass

#: A run reports its step at most this often (seconds).
BEAT_SECONDS = 1.0
#: Runs in progress are reported (and shown) once they ran this long.
LONG_RUN_SECONDS = 3.0


@dataclass(frozen=True)
class Running:
    """A run in progress: its RunId, the step it reached, since when it runs."""

    run_id: int
    step: int
    started: float  # time.time() when the run started


class Pulse:
    """The step reports of one run to ``send``: the first once the run has
    lasted :data:`BEAT_SECONDS`, then at most one per :data:`BEAT_SECONDS`;
    :meth:`done` takes the report back (``send(None)``) if one was sent."""

    def __init__(self, run_id: int, send: Callable[[Running | None], None]) -> None:
        self.run_id = run_id
        self.send = send
        self.started = time.time()
        self.due = time.monotonic() + BEAT_SECONDS
        self.sent = False

    def __call__(self, step: int) -> None:
        now = time.monotonic()
        if now >= self.due:
            self.due = now + BEAT_SECONDS
            self.sent = True
            self.send(Running(self.run_id, step, self.started))

    def done(self) -> None:
        """The run ended: clear its report, if it made one."""
        if self.sent:
            self.sent = False
            self.send(None)


class FolderBeat:
    """Reports of worker processes, one small file per worker (picklable).

    ``None`` removes the worker's file, and touches nothing if this task
    wrote none (a batch of short runs never touches the disk).
    """

    def __init__(self, folder: str) -> None:
        self.folder = folder
        self.written = False

    def __getstate__(self) -> dict[str, str]:
        return {"folder": self.folder}

    def __setstate__(self, state: dict[str, str]) -> None:
        self.__init__(state["folder"])

    def __call__(self, running: Running | None) -> None:
        if running is None and not self.written:
            return
        path = os.path.join(self.folder, str(os.getpid()))
        with contextlib.suppress(OSError):  # a report is never worth a failure
            if running is None:
                self.written = False
                os.unlink(path)
                return
            tmp = f"{path}.tmp"
            with open(tmp, "w") as file:
                file.write(f"{running.run_id} {running.step} {running.started}")
            os.replace(tmp, path)
            self.written = True

    def read(self) -> list[Running]:
        """What every worker last reported."""
        found = []
        with contextlib.suppress(OSError):
            for name in os.listdir(self.folder):
                if name.endswith(".tmp"):
                    continue
                with contextlib.suppress(OSError, ValueError):
                    with open(os.path.join(self.folder, name)) as file:
                        run_id, step, started = file.read().split()
                    found.append(Running(int(run_id), int(step), float(started)))
        return found
