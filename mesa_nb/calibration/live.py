"""A calibration running on a thread: ``calibrate(..., background=True)``."""

from __future__ import annotations

import threading
from typing import Any

from ..core.result import extension
from .result import Calibration
from .runner import CalibrationProgress, Calibrator, Outcome
from .spec import CalibrationSpec


class LiveCalibration:
    """A calibration in progress. ``wait()`` gives the :class:`Calibration`,
    ``cancel()`` stops it (finished batches are kept, and with a store it
    resumes where it stopped), ``snapshot()`` is the result so far (the
    generations finished), ``live("history")`` a plot redrawn as it goes
    (in a notebook)."""

    def __init__(self, spec: CalibrationSpec, on_progress: Any = None) -> None:
        self.spec = spec
        self._cancel = threading.Event()
        self._finished = threading.Event()
        self._changed = threading.Condition()
        self._event: CalibrationProgress | None = None
        self._user_progress = on_progress or spec.options.on_progress
        self._calibrator = Calibrator(
            spec, on_progress=self._progress, cancel=self._cancel
        )
        # Here, not on the thread: bad input and a store held by another
        # calibration are refused by the call, and the store is ours from now.
        self._calibrator.prepare()
        self._result: Calibration | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(
            target=self._run, name="mesa_nb-calibration", daemon=True
        )
        self._thread.start()

    def _progress(self, event: CalibrationProgress) -> None:
        with self._changed:
            self._event = event
            self._changed.notify_all()
        if self._user_progress is not None:
            self._user_progress(event)

    def _run(self) -> None:
        try:
            outcome = self._calibrator.run()
            self._result = Calibration(self.spec, outcome)
        except BaseException as exc:  # shown by wait(), never lost in a thread
            self._error = exc
        finally:
            self._finished.set()
            with self._changed:
                self._changed.notify_all()

    # -- state ---------------------------------------------------------------
    def done(self) -> bool:
        return self._finished.is_set()

    @property
    def progress(self) -> CalibrationProgress | None:
        """The last progress event."""
        return self._event

    def wait_for_change(self, timeout: float | None = None) -> bool:
        """Block until the next progress event or the end (True if one came)."""
        with self._changed:
            if self.done():
                return False
            return self._changed.wait(timeout)

    def wait(self, timeout: float | None = None) -> Calibration:
        """The finished calibration (raises what the calibration raised)."""
        if not self._finished.wait(timeout):
            raise TimeoutError(f"The calibration is still running after {timeout} s.")
        if self._error is not None:
            raise self._error
        assert self._result is not None
        return self._result

    def cancel(self) -> Calibration:
        """Stop at the next run boundary; the result of what finished."""
        self._cancel.set()
        return self.wait()

    def snapshot(self) -> Calibration:
        """The calibration as it stands: the generations (batches) finished."""
        if self.done() and self._result is not None:
            return self._result
        outcome = self._calibrator.outcome
        if outcome is None:
            outcome = Outcome(None, 0)
        return Calibration(self.spec, outcome, running=True)

    def status(self) -> str:
        state = "done" if self.done() else "running"
        event = self._event
        where = "" if event is None else f", {event.runs} runs, {event.text()}"
        name = self.spec.model_name.split(":")[-1]
        return f"<LiveCalibration of {name}: {state}{where}>"

    def live(self, kind: str = "history", **kwargs: Any) -> Any:
        """A plot of ``kind`` (``history``, ``posterior``) redrawn as
        generations finish (the notebook layer draws it)."""
        return extension("live_calibration")(self, kind, **kwargs)

    def __repr__(self) -> str:
        return self.status()

    def _repr_html_(self) -> str:
        from html import escape

        return f"<pre>{escape(self.status())}</pre>"


__all__ = ["LiveCalibration"]
