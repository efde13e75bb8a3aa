"""What a background sweep shows in a notebook, kept up to date as runs finish.

* ``results.live("Gini", by="n")`` (after ``%%batchrun ... --background``)
  returns an output widget; a thread redraws the plot from a snapshot of the
  finished runs at most every ``every`` seconds, and once more at the end.
  The figure's title says how many runs it shows: ``3 of 24 runs finished
  (sweep running)``.
* The background cell's own line, ``<LiveSweep of Model: running, 3 of 24
  runs done>``, is a display that is updated as runs finish and says ``done``
  once the sweep has ended (:func:`show_live_sweep`, registered as IPython's
  display of a LiveSweep).
* ``cal.live("history")`` (after ``%%calibrate ... --background``) returns an
  output widget redrawn each time a generation (abc) or a batch (optimize)
  ends, its title saying ``generation 3 of at most 10 (running)``
  (:func:`live_calibration_plot`); until the first one ends it says it is
  waiting. A background calibration's line is kept up to date as the sweep's
  is (:func:`show_live_calibration`).
"""

from __future__ import annotations

import base64
import html
import io
import math
import threading
from collections.abc import Callable
from typing import Any

import ipywidgets as w

from ..analysis.plots import PlotAccessor, quietly
from ..core.errors import MesaNbError
from ..core.result import register_extension

#: The fastest a live plot is redrawn (seconds between two drawings).
REDRAW_SECONDS = 0.5
#: How often a background calibration's line is updated (seconds).
WATCH_SECONDS = 1.0
#: The plots of a calibration a live plot can redraw.
CALIBRATION_PLOTS = ("history", "posterior")


def progress_head(result: Any, ended: bool) -> str:
    """``3 of 24 runs finished (sweep running)``: what a live plot shows."""
    text = f"{result.n_ok} of {len(result.runs)} runs finished"
    if result.n_failed:
        text += f", {result.n_failed} failed"
    if not ended:
        return f"{text} (sweep running)"
    return f"{text} (sweep {'stopped' if result.interrupted else 'done'})"


def live_figure(result: Any, kind: str, args: tuple, kwargs: dict, head: str) -> Any:
    """The plot ``result.plot.<kind>(*args, **kwargs)`` on a Figure made
    outside pyplot (safe off the main thread), ``head`` above its title.
    Drawn :func:`~mesa_nb.analysis.plots.quietly`: notes stay on the plot,
    warnings are not repeated at every redraw."""
    from matplotlib.figure import Figure

    facets = kwargs.get("facet") is not None
    figure = Figure(
        figsize=(9.6, 5.6) if facets else (6.4, 4.0), dpi=100, layout="constrained"
    )
    with quietly():
        getattr(PlotAccessor(result), kind)(
            *args, ax=figure if facets else figure.subplots(), **kwargs
        )
    title = figure.get_suptitle()
    figure.suptitle(f"{head}\n{title}" if title else head, fontsize="medium")
    return figure


def _png(figure: Any) -> bytes:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _show(output: w.Output, data: dict[str, str]) -> None:
    output.outputs = ({"output_type": "display_data", "data": data, "metadata": {}},)


def live_plot(
    live: Any, *args: Any, kind: str = "lines", every: float = REDRAW_SECONDS, **kwargs
) -> w.Output:
    """A plot of ``live`` (a background sweep) redrawn as its runs finish.

    Args:
        kind: a method of ``result.plot``: ``"lines"``, ``"final"``,
            ``"heatmap"``, ``"agents"``; ``*args``/``**kwargs`` go to it
            (``facet=`` too).
        every: seconds between two redrawings at the most.

    The figure's title starts with ``N of M runs finished`` and says
    whether the sweep is still running; the text shown where images are not
    says the same. The widget's ``ended`` (a ``threading.Event``) is set once
    the drawing of the ended sweep is shown.
    """
    if not hasattr(PlotAccessor, kind) or kind.startswith("_"):
        raise MesaNbError(
            f"kind={kind!r}: give a plot of result.plot, e.g. 'lines' or 'final'."
        )
    output = w.Output(layout=w.Layout(min_height="120px"))
    output.add_class("mesa-nb-live-plot")
    output.ended = threading.Event()

    def draw(drawn: tuple[int, bool] | None) -> tuple[int, bool] | None:
        ended = live.done()
        result = live.snapshot()
        key = (result.n_ok, ended)
        if key == drawn:
            return drawn
        head = progress_head(result, ended)
        try:
            png = _png(live_figure(result, kind, args, kwargs, head))
        except MesaNbError as exc:  # e.g. no finished run yet
            _show(output, {"text/plain": f"waiting for runs: {head} ({exc})"})
            return drawn
        text = f"<{kind} plot: {head}>"
        _show(output, {"image/png": base64.b64encode(png).decode(), "text/plain": text})
        return key

    def redraw() -> None:
        drawn = None
        try:
            while not live.done():
                drawn = draw(drawn)
                live.ended_within(every)
            draw(drawn)
        finally:
            output.ended.set()

    _show(output, {"text/plain": "waiting for the first finished run..."})
    threading.Thread(target=redraw, name="mesa_nb-live-plot", daemon=True).start()
    return output


def show_live_sweep(live: Any) -> None:
    """Display ``live``'s one line (``<LiveSweep of Model: running, 3 of 24
    runs done>``) and keep it up to date: as runs finish, and when the sweep
    ends (``done, 24 of 24 runs ok``), before ``live.wait()`` returns. An
    IPython display with an id, updated in place (no widget needed)."""
    from IPython.display import display

    handle = None

    def show(text: str) -> None:
        nonlocal handle
        bundle = {"text/plain": text, "text/html": f"<pre>{html.escape(text)}</pre>"}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)
        else:
            handle.update(bundle, raw=True)

    live.watch(show)


# -- calibrations ------------------------------------------------------------------
def _ended_within(live: Any, seconds: float) -> bool:
    """Wait at most ``seconds`` for a background calibration to end."""
    try:
        live.wait(seconds)
    except TimeoutError:
        return live.done()
    except BaseException:  # what ended it: the live objects show it
        return True
    return True


def _end_state(live: Any) -> str:
    """How a background calibration ended: done, stopped or failed."""
    try:
        cal = live.wait(0)
    except BaseException as exc:
        return f"failed: {type(exc).__name__}: {exc}"
    return "stopped" if cal.interrupted else "done"


def _unit(cal: Any) -> tuple[str, int]:
    """``("generation", most)`` (abc) or ``("batch", most)`` (optimize)."""
    options = cal.spec.options
    if cal.method == "abc":
        return "generation", options.generations
    return "batch", math.ceil(options.trials / options.batch)


def calibration_head(cal: Any, ended: bool, state: str = "done") -> str:
    """``generation 3 of at most 10 (running)``: what a live plot of a
    calibration shows (``state``: how it ended, once ``ended``)."""
    word, most = _unit(cal)
    shown = state if ended else "running"
    return f"{word} {len(cal.history)} of at most {most} ({shown})"


def calibration_figure(cal: Any, kind: str, kwargs: dict, head: str) -> Any:
    """The plot ``cal.plot.<kind>(**kwargs)`` with ``head`` above its title."""
    figure = getattr(cal.plot, kind)(**kwargs)
    title = figure.get_suptitle()
    figure.suptitle(f"{head}\n{title}" if title else head, fontsize="medium")
    return figure


def _steps_past(live: Any, seen: int) -> None:
    """Block until more than ``seen`` generations (batches) have ended, or the
    calibration has."""
    while not live.done():
        event = live.progress
        if event is not None and event.step > seen:
            return
        live.wait_for_change(WATCH_SECONDS)


def live_calibration_plot(
    live: Any, kind: str = "history", every: float = REDRAW_SECONDS, **kwargs: Any
) -> w.Output:
    """A plot of a background calibration, redrawn each time a generation
    (abc) or a batch (optimize) ends, and once more at its end.

    Args:
        kind: ``"history"`` (tolerance and acceptance per generation; the best
            distance per batch) or ``"posterior"`` (abc: the marginals and
            pairs so far); ``**kwargs`` go to ``cal.plot.<kind>``.
        every: seconds between two redrawings at the most.

    The figure's title starts with ``generation 3 of at most 10 (running)``
    (``done``, ``stopped`` once ended); until the first generation ends the
    widget says it is waiting. The widget's ``ended`` (a ``threading.Event``)
    is set once the drawing of the ended calibration is shown.
    """
    if kind not in CALIBRATION_PLOTS:
        raise MesaNbError(
            f"kind={kind!r}: give one of {', '.join(map(repr, CALIBRATION_PLOTS))}."
        )
    first = live.snapshot()
    if kind == "posterior" and first.method != "abc":
        raise MesaNbError(
            "An optimisation has no posterior to draw: give kind='history'."
        )
    word, _ = _unit(first)
    output = w.Output(layout=w.Layout(min_height="120px"))
    output.add_class("mesa-nb-live-plot")
    output.ended = threading.Event()

    def draw(drawn: tuple[int, bool] | None) -> tuple[int, bool] | None:
        ended = live.done()
        cal = live.snapshot()
        key = (len(cal.history), ended)
        if key == drawn:
            return drawn
        head = calibration_head(cal, ended, _end_state(live) if ended else "")
        if key[0] == 0:
            what = f"no {word} ended" if ended else f"waiting for the first {word}"
            _show(output, {"text/plain": f"{what}: {head}; {live.status()}"})
            return key
        try:
            with quietly():
                png = _png(calibration_figure(cal, kind, kwargs, head))
        except MesaNbError as exc:
            _show(output, {"text/plain": f"waiting: {head} ({exc})"})
            return drawn
        text = f"<{kind} plot: {head}>"
        _show(output, {"image/png": base64.b64encode(png).decode(), "text/plain": text})
        return key

    def redraw() -> None:
        drawn = None
        try:
            while not live.done():
                drawn = draw(drawn)
                _ended_within(live, every)
                _steps_past(live, -1 if drawn is None else drawn[0])
            draw(drawn)
        finally:
            output.ended.set()

    _show(output, {"text/plain": f"waiting for the first {word} to end..."})
    threading.Thread(
        target=redraw, name="mesa_nb-live-calibration-plot", daemon=True
    ).start()
    return output


def watch_calibration(
    live: Any, callback: Callable[[str], None], every: float = WATCH_SECONDS
) -> threading.Event:
    """Call ``callback(live.status())`` now, whenever it changes while the
    calibration runs (looked at every ``every`` seconds, on a thread) and a
    last time once it has ended; the Event returned is set after that call."""
    ended = threading.Event()
    shown: list[str | None] = [None]

    def push() -> None:
        text = live.status()
        if text != shown[0]:
            shown[0] = text
            callback(text)

    def poll() -> None:
        try:
            while not live.done():
                push()
                _ended_within(live, every)
            push()
        except Exception:  # a display is not the calibration: stop watching
            pass
        finally:
            ended.set()

    push()
    threading.Thread(
        target=poll, name="mesa_nb-live-calibration-status", daemon=True
    ).start()
    return ended


def show_live_calibration(live: Any, every: float = WATCH_SECONDS) -> threading.Event:
    """Display ``live``'s one line (``<LiveCalibration of Model: running, 120
    runs, generation 2, ...>``) and keep it up to date until it says ``done``:
    an IPython display with an id, updated in place. Returns the Event set
    once the last line is shown."""
    return watch_calibration(live, _display_line(), every)


def _display_line() -> Callable[[str], None]:
    """A callback showing a line, then updating it in place."""
    from IPython.display import display

    handle = None

    def show(text: str) -> None:
        nonlocal handle
        bundle = {"text/plain": text, "text/html": f"<pre>{html.escape(text)}</pre>"}
        if handle is None:
            handle = display(bundle, raw=True, display_id=True)
        else:
            handle.update(bundle, raw=True)

    return show


register_extension("live", live_plot)
register_extension("live_display", show_live_sweep)
register_extension("live_calibration", live_calibration_plot)
