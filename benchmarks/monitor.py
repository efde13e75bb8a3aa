"""Sample the memory and CPU time of a whole process tree from the outside.

The measuring subprocess is watched by a thread of the parent, so sampling
costs the measured process no GIL time. Every ``interval`` seconds the RSS of
the root and all its descendants is summed; the list of descendants is
refreshed every ``rescan_every`` samples (finding children scans ``/proc``,
about 1-2 ms) and whenever a process disappears.

CPU time (user + system) is remembered per process, so the tree's cumulative
CPU keeps the time of workers that have exited. On a shared machine, CPU time
is a steadier measure of work than wall time.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

import psutil

MiB = 1024 * 1024


@dataclass(frozen=True)
class Sample:
    """Summed memory of the tree at one moment (``time.time()``).

    ``anon`` is RSS minus file-backed resident pages (shared libraries,
    mapped files): memory the processes cannot share, a fairer sum than RSS,
    which counts every shared library once per process.
    """

    t: float
    rss: int
    anon: int
    processes: int
    cpu: float = 0.0  # cumulative CPU seconds of every process seen so far


class TreeSampler:
    """Samples the RSS of ``pid`` and its descendants in a daemon thread."""

    def __init__(
        self, pid: int, interval: float = 0.02, rescan_every: int = 10
    ) -> None:
        self.root = psutil.Process(pid)
        self.interval = interval
        self.rescan_every = rescan_every
        self.samples: list[Sample] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._tree: list[psutil.Process] = []
        self._cpu: dict[int, float] = {}

    def __enter__(self) -> TreeSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def _rescan(self) -> None:
        try:
            self._tree = [self.root, *self.root.children(recursive=True)]
        except psutil.Error:
            self._tree = []

    def _sample(self) -> bool:
        """Take one sample; False if a process vanished (time to rescan)."""
        rss = anon = 0
        complete = True
        for process in self._tree:
            try:
                with process.oneshot():
                    info = process.memory_info()
                    times = process.cpu_times()
            except psutil.Error:
                complete = False
                continue
            rss += info.rss
            anon += info.rss - info.shared
            self._cpu[process.pid] = times.user + times.system
        if rss:
            cpu = sum(self._cpu.values())
            sample = Sample(time.time(), rss, anon, len(self._tree), cpu)
            self.samples.append(sample)
        return complete

    def _run(self) -> None:
        count = 0
        while not self._stop.is_set():
            if count % self.rescan_every == 0:
                self._rescan()
            count = count + 1 if self._sample() else 0
            self._stop.wait(self.interval)

    def peak(
        self, start: float | None = None, end: float | None = None
    ) -> Sample | None:
        """The peak RSS (and, separately, peak anon) between ``start`` and ``end``.

        ``None`` bounds mean the whole life of the process. A window too short to
        hold a sample gets the first sample after it.
        """
        lo = start if start is not None else float("-inf")
        hi = end if end is not None else float("inf")
        window = [s for s in self.samples if lo <= s.t <= hi]
        if not window:
            window = [s for s in self.samples if s.t >= lo][:1]
        if not window:
            return None
        best_rss = max(window, key=lambda s: s.rss)
        best_anon = max(s.anon for s in window)
        return Sample(best_rss.t, best_rss.rss, best_anon, best_rss.processes)

    def cpu_between(self, start: float, end: float) -> float | None:
        """CPU seconds the tree used from ``start`` to ``end`` (+- one interval)."""
        before = [s.cpu for s in self.samples if s.t <= start]
        after = [s.cpu for s in self.samples if s.t >= end]
        if not self.samples:
            return None
        first = before[-1] if before else 0.0
        last = after[0] if after else self.samples[-1].cpu
        return max(0.0, last - first)
