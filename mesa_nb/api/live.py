"""A sweep that runs in the background while the notebook stays free.

``sweep(..., background=True)`` (``%%batchrun --background``) returns a
:class:`LiveSweep` at once. It reads like a :class:`~mesa_nb.SweepResult`
(``.runs``, ``.model``, ``.plot``, ``.stats`` give a snapshot of the runs
finished so far), and ``wait()`` gives the final result, identical to a
foreground sweep with the same seed. In a notebook its one-line display
(``<LiveSweep of Model: running, 3 of 24 runs done>``) is kept up to date
by :meth:`LiveSweep.watch`, and says ``done`` when the sweep has ended.
"""

from __future__ import annotations

import atexit
import contextlib
import functools
import threading
import time
import weakref
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from ..core.gather import Gatherer
from ..core.plan import SweepPlan
from ..core.result import SweepResult, extension

#: How often :meth:`LiveSweep.watch` looks at the count of finished runs.
WATCH_SECONDS = 1.0

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
    #: Called once when the sweep ends, before ``finished`` is set.
    listeners: list[Callable[[], None]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)
    notified: bool = False

    def notify(self) -> None:
        """Call the listeners (each once); what they raise is not the sweep's."""
        with self.lock:
            listeners, self.listeners, self.notified = self.listeners, [], True
        for listener in listeners:
            with contextlib.suppress(Exception):  # a display must not stop the end
                listener()


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
        # the displays say "done" before wait() returns
        state.notify()
        state.finished.set()


def _status(state: _State, plan: SweepPlan) -> str:
    """``<LiveSweep of Model: running, 3 of 24 runs done>``, or once it
    has ended ``done, 24 of 24 runs ok`` (``stopped``, ``failed``)."""
    name = plan.settings.model_cls.__name__
    result, error = state.result, state.error
    if result is not None:
        total = len(result.runs)
        parts = [f"{result.n_ok} of {total} runs ok"]
        if result.n_failed:
            parts.append(f"{result.n_failed} failed")
        if result.n_cancelled:
            parts.append(f"{result.n_cancelled} cancelled")
        head = "stopped" if result.interrupted else "done"
        text = f"{head}, {', '.join(parts)}"
    elif error is not None:
        text = f"failed: {type(error).__name__}: {error}"
    else:
        text = f"running, {_progress(state, plan)}"
    return f"<LiveSweep of {name}: {text}>"


def _progress(state: _State, plan: SweepPlan) -> str:
    """``12 of 40 runs done``: of the gatherer's plan once there is one (an
    ``iterations="auto"`` sweep adds runs round after round)."""
    gatherer = state.gatherer
    if gatherer is None:
        return f"0 of {plan.n_runs} runs done"
    return f"{len(gatherer.records)} of {gatherer.plan.n_runs} runs done"


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

    def on_end(self, callback: Callable[[], None]) -> None:
        """Call ``callback()`` once when the sweep ends, on the sweep's thread
        before :meth:`wait` returns (at once if it has ended). What it raises
        is ignored. It must not wait for the sweep, and should not hold this
        LiveSweep (a dropped LiveSweep stops its runs)."""
        state = self._state
        with state.lock:
            if not state.notified:
                state.listeners.append(callback)
                return
        callback()

    def status(self) -> str:
        """The one-line display: ``<LiveSweep of Model: running, 3 of 24 runs
        done>``, ``<LiveSweep of Model: done, 24 of 24 runs ok>``."""
        return _status(self._state, self.plan)

    def watch(
        self, callback: Callable[[str], None], every: float = WATCH_SECONDS
    ) -> None:
        """Call ``callback(status)`` with :meth:`status` now, whenever it
        changes while the sweep runs (looked at every ``every`` seconds, on a
        thread), and a last time when the sweep ends, before :meth:`wait`
        returns: a display kept up to date (the notebook's one-line display
        of a background sweep). Holds no reference to this LiveSweep."""
        state = self._state
        text = functools.partial(_status, state, self.plan)
        guard = threading.Lock()
        shown: list[str | None] = [None]
        closed = [False]

        def push(last: bool) -> None:
            with guard:
                if closed[0]:
                    return
                closed[0] = last
                current = text()
                if current != shown[0]:
                    shown[0] = current
                    callback(current)

        def poll() -> None:
            while not state.finished.wait(every):
                try:
                    push(False)
                except Exception:  # a display is not the sweep: stop watching
                    return

        push(False)
        threading.Thread(target=poll, name="mesa_nb-live-status", daemon=True).start()
        self.on_end(functools.partial(push, True))

    def progress_text(self) -> str:
        """``12 of 40 runs done``."""
        return _progress(self._state, self.plan)

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self.result, name)

    def live(self, *args: Any, **kwargs: Any) -> Any:
        """A plot redrawn as runs finish (see ``mesa_nb.notebook.live``)."""
        return extension("live")(self, *args, **kwargs)

    def __repr__(self) -> str:
        return self.status()

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(repr(self))}</pre>"

    @property
    def _ipython_display_(self) -> Callable[[], None] | None:
        """IPython shows a LiveSweep through the display that the notebook
        layer registers (``%load_ext mesa_nb``), updated as the sweep runs
        and when it ends; without it, through ``_repr_html_`` (a still line)."""
        try:
            show = extension("live_display")
        except AttributeError:
            return None
        return functools.partial(show, self)


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
