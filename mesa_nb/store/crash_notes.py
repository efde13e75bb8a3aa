"""Notes that outlive a sweep's own process when a run kills it.

At ``processes=1`` a run runs in the sweep's process: one that kills it
(``os._exit``, a segfault: the kernel dies with it) would kill every resume
again. ``running.json`` names the run going on; a resume finds it, counts the
death in ``deaths.json``, and the sweep records a run that killed its
process twice as crashed.
"""

from __future__ import annotations

import contextlib
import json
import os

from .atomic import AtomicFiles, replace_quickly
from .names import StoreLayout


class CrashNotes:
    """``running.json`` and ``deaths.json`` of the store at ``layout``."""

    def __init__(self, layout: StoreLayout, files: AtomicFiles) -> None:
        self.layout = layout
        self.files = files

    def mark_running(self, run_id: int | None) -> None:
        """Note the run about to start in the sweep's own process (None: none).

        Not fsynced: it only has to outlive the process.
        """
        if run_id is None:
            with contextlib.suppress(FileNotFoundError):
                self.layout.running.unlink()
            return
        note = json.dumps({"run_id": int(run_id), "pid": os.getpid()})
        replace_quickly(self.layout.running, note)

    def died_running(self) -> tuple[int, int] | None:
        """The run that was running when an earlier sweep's process died, and
        how many sweeps have died while running it (this one included).

        The note is cleared, the count kept (``deaths.json``): a process
        killed from outside (kill -9 of a kernel) dies at some run once; a run
        that kills its process does so every time.
        """
        try:
            run_id = int(json.loads(self.layout.running.read_text())["run_id"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        try:
            deaths = json.loads(self.layout.deaths.read_text())
        except (OSError, ValueError):
            deaths = {}
        count = int(deaths.get(str(run_id), 0)) + 1
        deaths[str(run_id)] = count
        self.files.write(self.layout.deaths, json.dumps(deaths).encode())
        self.mark_running(None)
        return run_id, count
