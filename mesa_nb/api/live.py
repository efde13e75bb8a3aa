"""A sweep that runs in the background while the notebook stays free.

``sweep(..., background=True)`` (``%%batchrun --background``) returns a
:class:`LiveSweep` at once. It reads like a :class:`~mesa_nb.SweepResult`
(``.runs``, ``.model``, ``.plot``, ``.stats`` give a snapshot of the runs
finished so far), and ``wait()`` gives the final result, identical to a
foreground sweep with the same seed.
"""

from __future__ import annotations

import atexit
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.gather import Gatherer
from ..core.plan import SweepPlan
from ..core.result import SweepResult, extension

#: Live sweeps still running, so that a kernel shutting down can stop them.
_RUNNING: weakref.WeakSet = weakref.WeakSet()
#: At exit, how long :func:`stop_all` waits for the stopped sweeps to put
#: away what finished (a run stops at its next step; one stuck in a step is
#: not waited for longer).
STOP_WAIT_SECONDS = 5.0


@dataclass
class _State:
    """What the sweep's thread shares with its LiveSweep (never the LiveSweep
    itself, so that dropping it, e.g. by ``%reset``, can stop the runs)."""

    cancel: threading.Event = field(default_factory=threading.Event)
    ready: threading.Event = field(default_factory=threading.Event)
    finished: threading.Event = field(default_factory=threading.Event)
    result: SweepResult | None = None
    error: BaseException | None = None
    gatherer: Gatherer | None = None


def _run(state: _State, run: Callable[..., SweepResult]) -> None:
    def ready(gatherer: Gatherer) -> None:
        state.gatherer = gatherer
        state.ready.set()

    try:
        state.result = run(cancel=state.cancel, on_gatherer=ready)
    except BaseException as exc:  # shown by wait(), never lost in a thread
        state.error = exc
    finally:
        state.ready.set()
        state.finished.set()


class LiveSweep:
    """A sweep running on a background thread.

    Attributes:
        plan: the sweep's plan.
    """

    def __init__(self, plan: SweepPlan, run: Callable[..., SweepResult]) -> None:
        self.plan = plan
        self._state = _State()
        _RUNNING.add(self)
        # Stop the runs when this object is dropped (e.g. %reset) unfinished.
        weakref.finalize(self, self._state.cancel.set)
        threading.Thread(
            target=_run,
            args=(self._state, run),
            name="mesa_nb-background-sweep",
            daemon=True,
        ).start()

    @property
    def error(self) -> BaseException | None:
        """What ended the sweep before it could finish, if anything."""
        return self._state.error

    # -- control -----------------------------------------------------------------
    def done(self) -> bool:
        """True once the sweep has ended (finished, stopped or failed)."""
        return self._state.finished.is_set()

    def ended_within(self, seconds: float) -> bool:
        """Wait at most ``seconds`` for the sweep to end; True if it has."""
        return self._state.finished.wait(seconds)

    def wait(self, timeout: float | None = None) -> SweepResult:
        """Block until the sweep ends; return its final result.

        Raises ``TimeoutError`` if it is still running after ``timeout``
        seconds, or what stopped it from finishing.
        """
        if not self._state.finished.wait(timeout):
            raise TimeoutError(
                f"the sweep is still running after {timeout} s "
                f"({self.progress_text()}); call wait() again, or cancel()."
            )
        if self._state.error is not None:
            raise self._state.error
        assert self._state.result is not None
        return self._state.result

    def cancel(self) -> SweepResult:
        """Stop the sweep (finished runs are kept) and return its result."""
        self._state.cancel.set()
        return self.wait()

    # -- what is there so far ---------------------------------------------------------
    @property
    def result(self) -> SweepResult:
        """The final result when the sweep has ended, else a snapshot."""
        if self.done() and self._state.result is not None:
            return self._state.result
        return self.snapshot()

    def snapshot(self) -> SweepResult:
        """The runs finished so far, as a SweepResult (the others ``pending``)."""
        state = self._state
        state.ready.wait()
        if state.result is not None:
            return state.result
        if state.gatherer is None:
            raise RuntimeError(f"the sweep did not start: {state.error!r}")
        return state.gatherer.snapshot()

    def progress_text(self) -> str:
        """``12 of 40 runs done``."""
        gatherer = self._state.gatherer
        done = len(gatherer.records) if gatherer is not None else 0
        return f"{done} of {self.plan.n_runs} runs done"

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result, name)

    def live(self, *args: Any, **kwargs: Any) -> Any:
        """A plot redrawn as runs finish (see ``mesa_nb.notebook.live``)."""
        return extension("live")(self, *args, **kwargs)

    def __repr__(self) -> str:
        state = "finished" if self.done() else "running"
        return f"<LiveSweep of {self.plan.settings.model_cls.__name__}: {state}, " + (
            f"{self.progress_text()}>"
        )

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(repr(self))}</pre>"


def stop_all(wait: float = STOP_WAIT_SECONDS) -> None:
    """Stop every background sweep of this process (at interpreter exit) and
    wait up to ``wait`` seconds for them to end.

    Stopped runs are cancelled, as by ``cancel()``: not recorded, so resuming
    the sweep from its store runs them. Waiting lets each sweep keep what
    finished and clear its note of the run in progress (else the store would
    count the exit as a death of the process during that run).
    """
    states = [live._state for live in list(_RUNNING)]
    for state in states:
        state.cancel.set()
    end = time.monotonic() + wait
    for state in states:
        state.finished.wait(max(0.0, end - time.monotonic()))


atexit.register(stop_all)
