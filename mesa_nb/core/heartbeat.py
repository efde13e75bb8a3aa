"""Which runs are running, and at which step: for long runs on a progress bar.

A run reports its step at most once a second. In worker processes the
report is a tiny file per worker in a folder of the sweep's (the parent
reads the folder about once a second); in the sweep's own process it is a
direct call. Nothing here is needed for results: a lost report only makes
the bar less informative.
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
    """Rate-limits the step reports of one run to ``send``."""

    def __init__(self, run_id: int, send: Callable[[Running], None]) -> None:
        self.run_id = run_id
        self.send = send
        self.started = time.time()
        self.last = 0.0
        send(Running(run_id, 0, self.started))

    def __call__(self, step: int) -> None:
        now = time.monotonic()
        if now - self.last >= BEAT_SECONDS:
            self.last = now
            self.send(Running(self.run_id, step, self.started))


class FolderBeat:
    """Reports of worker processes, one small file per worker (picklable)."""

    def __init__(self, folder: str) -> None:
        self.folder = folder

    def __call__(self, running: Running | None) -> None:
        path = os.path.join(self.folder, str(os.getpid()))
        with contextlib.suppress(OSError):  # a report is never worth a failure
            if running is None:
                os.unlink(path)
                return
            tmp = f"{path}.tmp"
            with open(tmp, "w") as file:
                file.write(f"{running.run_id} {running.step} {running.started}")
            os.replace(tmp, path)

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
