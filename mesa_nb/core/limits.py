"""How big one sweep may be, declared once for every module that checks it.

``plan`` checks the runs of a sweep against it; ``designs`` checks a design's
points before drawing them, and ``parameters`` stops reading a generator of
values there, so nothing grows to gigabytes before it is refused. It lives
here, below all three, so none of them imports another for it.
"""

from __future__ import annotations

#: More runs than this in one sweep are refused: their runs table alone would
#: not fit in memory. A sampling design or several sweeps is the way there.
MAX_RUNS = 20_000_000

__all__ = ["MAX_RUNS"]
