"""Hold Ctrl-C while finished runs are being put away.

A ``KeyboardInterrupt`` that lands between writing a batch's data and its run
records, or while the result is being built, would leave runs recorded
without their data, or lose every finished run. Inside :func:`deferred` a
SIGINT is noted and delivered when the section ends (or, with
``swallow=True``, dropped: the sweep is stopping already).
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any


@contextmanager
def deferred(swallow: bool = False) -> Iterator[None]:
    """Run the block with SIGINT held; raise KeyboardInterrupt after it.

    Only the main thread receives signals; elsewhere (a form's sweep thread)
    the block simply runs.
    """
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    received: list[int] = []

    def note(signum: int, _frame: Any) -> None:
        received.append(signum)

    try:
        previous = signal.signal(signal.SIGINT, note)
    except ValueError:  # not the main interpreter
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received and not swallow:
        raise KeyboardInterrupt("interrupted while finished runs were put away")
