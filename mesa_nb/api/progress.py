"""Turn the core's progress callback into a tqdm bar.

The core only calls a function; which bar draws it is decided here (text or
``tqdm.auto``) or by the notebook layer (``tqdm.notebook``).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..core.records import Progress


class TqdmProgress:
    """A progress callback drawing runs done / total, with failed runs counted.

    For an ``iterations="auto"`` sweep the total grows round by round, and
    the bar shows where the points stand (the widest interval left).
    """

    def __init__(self, tqdm_cls: Any = None, **tqdm_kwargs: Any) -> None:
        if tqdm_cls is None:
            from tqdm.auto import tqdm as tqdm_cls
        self.tqdm_cls = tqdm_cls
        self.kwargs = {"unit": "run", "desc": "runs", **tqdm_kwargs}
        self.bar: Any = None
        self.failed = 0
        self.running = ""
        self.precision = ""

    def start(self, total: int) -> None:
        """Show the bar now (a background sweep's first event comes later,
        from another thread, and must not decide where the bar appears)."""
        if self.bar is None:
            self.bar = self.tqdm_cls(total=total, **self.kwargs)

    def __call__(self, event: Progress) -> None:
        if event.running is not None:
            self._show_running(event.running)
            return
        if self.bar is None:
            self.bar = self.tqdm_cls(
                total=event.total, initial=event.done, **self.kwargs
            )
        elif event.record is None and event.done != self.bar.n:
            self.bar.n = event.done  # runs loaded from a store
            self.bar.refresh()
        if event.total != self.bar.total:  # an auto sweep's next round
            self._set_total(event.total)
        standing = getattr(event, "precision", None)
        text = standing.text() if standing is not None else ""
        if event.failed != self.failed or text != self.precision:
            self.failed, self.precision = event.failed, text
            self._postfix(refresh=event.record is None)
        if event.record is not None:
            self.bar.update(1)

    def _set_total(self, total: int) -> None:
        """Grow the bar (a notebook bar's widget too: tqdm sets its maximum
        only when made or reset)."""
        self.bar.total = total
        widgets = getattr(getattr(self.bar, "container", None), "children", ())
        if len(widgets) == 3:  # tqdm.notebook: text, progress widget, text
            widgets[1].max = total
        self.bar.refresh()

    def _postfix(self, refresh: bool) -> None:
        postfix = {"failed": self.failed} if self.failed else {}
        if self.precision:
            postfix["precision"] = self.precision
        if self.running:
            postfix["running"] = self.running
        self.bar.set_postfix(postfix, refresh=refresh)

    def _show_running(self, running: tuple[tuple[int, int, float], ...]) -> None:
        """Runs going on for a while, with the step they are at: 'run 12 at
        step 340 (5 s)'."""
        if self.bar is None:
            return
        long = list(running)  # the core reports only runs going on for a while
        text = ", ".join(f"run {r} at step {s} ({age:.0f} s)" for r, s, age in long[:3])
        if len(long) > 3:
            text += f" +{len(long) - 3}"
        self.running = text
        self._postfix(refresh=True)

    def finish(self, failed: bool) -> None:
        """Turn a notebook bar red when runs failed or the sweep was stopped."""
        if failed and self.bar is not None and hasattr(self.bar, "container"):
            self.bar.disp(bar_style="danger", check_delay=False)

    def close(self) -> None:
        """Close the bar; an unfinished bar is left as it stopped."""
        if self.bar is not None:
            self.bar.close()


@contextmanager
def progress_bar(enabled: bool = True, tqdm_cls: Any = None) -> Iterator[Any]:
    """Yield a progress callback (or None when disabled); close the bar after."""
    if not enabled:
        yield None
        return
    bar = TqdmProgress(tqdm_cls)
    try:
        yield bar
    finally:
        bar.close()
