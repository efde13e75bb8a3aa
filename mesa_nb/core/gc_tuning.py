"""Python's cyclic garbage collector, tuned while models run.

An agent-based model allocates many small container objects (agents, their
dicts and lists, grid cells) that live for the whole run. With CPython's
default thresholds (a young collection every 700 net allocations) the
collector scans them over and over: 5-25% of a run's time on the bundled
models (measured in docs/performance.md). While runs go, :func:`tuned_gc`
raises the thresholds and freezes the objects that existed before (a
notebook's data, earlier results) out of the collector's scans; both are
restored when the last user in the process leaves. Garbage cycles are still
collected, only less often; reference counting frees everything else at once
as before.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterator
from contextlib import contextmanager

from .interrupts import deferred

#: The thresholds while models run: a young collection every 200,000 net
#: allocations (the older generations as CPython's defaults). A finished
#: model is freed at once (``release_model``), taking its net allocations
#: back, so a run whose records stay below the threshold is never scanned at
#: all: on Boltzmann wealth (sweep 1 of the benchmark, runs of up to 80,000
#: agent records) 2 young collections instead of 41 at 50,000 (360 at
#: 10,000), the collector's time 0.2 -> 0.05 s of 12 s on Python 3.12. Garbage
#: cycles wait for at most that many allocations (tens of MB at worst); peak
#: memory of the benchmark's memory sweep moved by under 10 MiB. A threshold
#: already higher is kept.
RUN_THRESHOLDS = (200_000, 10, 10)

_lock = threading.Lock()
_users = 0
_saved: tuple[int, ...] = ()
_froze = False


@contextmanager
def tuned_gc() -> Iterator[None]:
    """Raise the collector's thresholds and freeze the existing heap.

    Re-entrant and thread-safe: concurrent sweeps in one process (background
    sweeps, a Dask worker's threads) share one tuning, undone by the last to
    leave. A collector switched off (``gc.disable()`` or a zero threshold)
    and objects frozen by someone else are left as they are. A Ctrl-C is
    held while the settings change, so it cannot leave them half done.
    """
    entered = False
    try:
        with deferred():  # a Ctrl-C held here is raised once entered is set
            _enter()
            entered = True
        yield
    finally:
        if entered:
            with deferred():
                _leave()


def _enter() -> None:
    global _users, _saved, _froze
    with _lock:
        _users += 1
        if _users > 1:
            return
        _saved = gc.get_threshold()
        _froze = gc.isenabled() and gc.get_freeze_count() == 0
        if _froze:
            gc.freeze()
        if _saved[0] > 0:
            pairs = zip(_saved, RUN_THRESHOLDS, strict=True)
            gc.set_threshold(*(max(old, new) for old, new in pairs))


def _leave() -> None:
    global _users, _froze
    with _lock:
        _users -= 1
        if _users > 0:
            return
        gc.set_threshold(*_saved)
        if _froze:
            gc.unfreeze()
            _froze = False
