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
"""

from __future__ import annotations

import base64
import html
import io
import threading
from typing import Any

import ipywidgets as w

from ..analysis.plots import PlotAccessor, quietly
from ..core.errors import MesaNbError
from ..core.result import register_extension

#: The fastest a live plot is redrawn (seconds between two drawings).
REDRAW_SECONDS = 0.5


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


register_extension("live", live_plot)
register_extension("live_display", show_live_sweep)
