"""Plots of a background sweep, redrawn in one output area as runs finish.

``results.live("Gini", by="n")`` (after ``%%batchrun ... --background``)
returns an output widget; a thread redraws the plot from a snapshot of the
finished runs at most every ``every`` seconds, and once more at the end.
"""

from __future__ import annotations

import base64
import io
import threading
from typing import Any

import ipywidgets as w

from ..analysis.plots import PlotAccessor
from ..core.errors import MesaNbError
from ..core.result import register_extension

#: The fastest a live plot is redrawn (seconds between two drawings).
REDRAW_SECONDS = 0.5


def _png(result: Any, kind: str, args: tuple, kwargs: dict) -> bytes:
    from matplotlib.figure import Figure  # outside pyplot: safe off-thread

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    getattr(PlotAccessor(result), kind)(*args, ax=figure.subplots(), **kwargs)
    figure.tight_layout()
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
            ``"heatmap"``, ``"agents"``; ``*args``/``**kwargs`` go to it.
        every: seconds between two redrawings at the most.
    """
    if not hasattr(PlotAccessor, kind) or kind.startswith("_"):
        raise MesaNbError(
            f"kind={kind!r}: give a plot of result.plot, e.g. 'lines' or 'final'."
        )
    output = w.Output(layout=w.Layout(min_height="120px"))
    output.add_class("mesa-nb-live-plot")

    def draw(drawn: int) -> int:
        result = live.snapshot()
        done = result.n_ok
        if done == drawn:
            return drawn
        try:
            png = _png(result, kind, args, kwargs)
        except MesaNbError as exc:  # e.g. no finished run yet
            _show(output, {"text/plain": f"waiting for runs ({exc})"})
            return drawn
        text = f"<{kind} plot of {done} finished runs>"
        _show(output, {"image/png": base64.b64encode(png).decode(), "text/plain": text})
        return done

    def redraw() -> None:
        drawn = -1
        while not live.done():
            drawn = draw(drawn)
            live.ended_within(every)
        draw(drawn)

    _show(output, {"text/plain": "waiting for the first finished run..."})
    threading.Thread(target=redraw, name="mesa_nb-live-plot", daemon=True).start()
    return output


register_extension("live", live_plot)
