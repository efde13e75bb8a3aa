"""Quick matplotlib plots of a sweep: time series, final values, heatmaps, agents.

Every function takes a :class:`~mesa_nb.SweepResult` (or its DataFrames),
draws on ``ax`` (a new figure when None) and returns the Axes (with
``facet=``: one panel per value, an array of Axes). Only finished runs are
drawn; with a SweepResult the title says how many runs failed, and which swept
parameters a plot pools over. Intervals name their method in the legend;
two-peaked replicates are warned about (:class:`BimodalWarning`).
``result.plot`` binds them to a result: ``result.plot.lines("Gini")``.

matplotlib is imported when a plot is drawn (``pip install 'mesa_nb[notebook]'``).
"""

from __future__ import annotations

import inspect
import types
import warnings
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from contextvars import ContextVar
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.records import Status
from ..core.result import SweepResult
from .discovery import find as _discover
from .sensitivity import sensitivity as _analyse
from .stats import (
    BOOTSTRAP,
    CLIPPED,
    BimodalWarning,
    ModelTable,
    T,
    check_by,
    model_table,
    numeric_values,
    replicate_stats,
    unknown_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = [
    "BimodalWarning",
    "PlotAccessor",
    "agents",
    "discovery",
    "final",
    "heatmap",
    "lines",
    "quietly",
    "sensitivity",
]

_INSTALL_HINT = "pip install 'mesa_nb[notebook]'"
_MAX_CYCLE_COLORS = 10
_MAX_ANNOTATED_CELLS = 100
_MAX_LISTED_VALUES = 4
_FACET_COLUMNS = 3
#: Set by :func:`quietly`: plots drawn there give no warnings.
_QUIET: ContextVar[bool] = ContextVar("mesa_nb_quiet_plots", default=False)


@contextmanager
def quietly() -> Iterator[None]:
    """Draw plots without their warnings (their notes stay on the plots), in
    this thread only: for a plot redrawn many times, such as a live plot."""
    token = _QUIET.set(True)
    try:
        yield
    finally:
        _QUIET.reset(token)


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"mesa_nb's plots need matplotlib: {_INSTALL_HINT}") from exc
    return plt


def _axes(ax: Axes | Figure | None) -> Axes:
    """``ax`` itself, a new Axes on a given Figure, or a new figure's Axes."""
    if ax is None:
        _, ax = _pyplot().subplots(figsize=(7, 4.5), layout="constrained")
        return ax
    from matplotlib.figure import FigureBase

    if isinstance(ax, FigureBase):
        return ax.subplots()
    return ax


def _facet_axes(ax: Any, n: int) -> tuple[Any, list[Axes]]:
    """``n`` Axes for small multiples, in rows of up to three, sharing x and y:
    on a new figure (``ax`` None), on a given Figure, or the first ``n`` of a
    given sequence of Axes."""
    from matplotlib.figure import FigureBase

    columns = min(n, _FACET_COLUMNS)
    rows = -(-n // columns)
    if ax is None:
        figure, grid = _pyplot().subplots(
            rows,
            columns,
            figsize=(3.6 * columns + 1.8, 3.0 * rows + 1.0),
            sharex=True,
            sharey=True,
            squeeze=False,
            layout="constrained",
        )
    elif isinstance(ax, FigureBase):
        figure = ax
        grid = figure.subplots(rows, columns, sharex=True, sharey=True, squeeze=False)
    else:
        given = list(np.ravel(ax))
        if len(given) < n:
            raise ValueError(
                f"facet= draws {n} panels; ax= gives {len(given)} Axes. Give a "
                "Figure, enough Axes, or no ax (a new figure)."
            )
        return given[0].figure, given[:n]
    axes = list(grid.flat)
    for spare in axes[n:]:
        spare.set_visible(False)
    return figure, axes[:n]


def _fmt(value: Any) -> str:
    """A parameter value as a short label: 0.5, 100, True, torus."""
    if isinstance(value, np.generic):
        value = value.item()
    if isinstance(value, float):
        return f"{value:g}"
    return str(value)


def _colors(n: int) -> list[Any]:
    plt = _pyplot()
    if n <= _MAX_CYCLE_COLORS:
        cycle = plt.rcParams["axes.prop_cycle"].by_key().get("color", ["C0"])
        return [cycle[i % len(cycle)] for i in range(n)]
    return list(plt.get_cmap("viridis")(np.linspace(0.0, 0.9, n)))


def _groups(frame: pd.DataFrame, by: str | None) -> list[tuple[Any, pd.DataFrame]]:
    """``[(value, rows)]`` sorted by value; ``[(None, frame)]`` without ``by``."""
    if by is None:
        return [(None, frame)]
    return list(frame.groupby(by, sort=True, dropna=False))


def _label(name: str | None, value: Any, default: str) -> str:
    """``n=10``, or ``default`` when nothing is grouped."""
    return default if name is None else f"{name}={_fmt(value)}"


def _palette(frame: pd.DataFrame, by: str | None, default: str) -> dict[str, Any]:
    """One colour per value of ``by`` over the whole plot (every facet)."""
    labels = [_label(by, value, default) for value, _ in _groups(frame, by)]
    return dict(zip(labels, _colors(len(labels)), strict=True))


def _first_swept(table_swept: Sequence[str], but: str | None = None) -> str | None:
    return next((name for name in table_swept if name != but), None)


def _one_by(table: ModelTable, by: str | None, facet: str | None = None) -> str | None:
    if by is None:
        return _first_swept(table.swept, facet)
    if not isinstance(by, str):
        raise TypeError(f"by must be one parameter name (a str), got {by!r}.")
    return check_by(table, by)[0]


def _one_facet(table: ModelTable, facet: str | None) -> str | None:
    if facet is None:
        return None
    if not isinstance(facet, str):
        raise TypeError(f"facet must be one parameter name (a str), got {facet!r}.")
    return check_by(table, facet)[0]


def _sorted_values(column: pd.Series) -> list[Any]:
    values = list(pd.unique(column))
    try:
        return sorted(values)
    except TypeError:  # mixed kinds: in order of appearance
        return values


def _pooled_note(
    swept: Sequence[str], shown: Sequence[Any], frame: pd.DataFrame
) -> str:
    """``pooled over width (5, 10)``: the swept parameters a plot averages
    (or pools) over because they are not drawn; ``""`` if none is."""
    parts = []
    for name in swept:
        if name in shown or name not in frame.columns:
            continue
        values = _sorted_values(frame[name])
        listed = (
            ", ".join(_fmt(v) for v in values)
            if len(values) <= _MAX_LISTED_VALUES
            else f"{len(values)} values"
        )
        parts.append(f"{name} ({listed})")
    return f"pooled over {', '.join(parts)}" if parts else ""


def _title(head: str, *notes: str) -> str:
    return "\n".join([head, *(note for note in notes if note)])


def _bimodal_note(stats: pd.DataFrame, keys: Sequence[str], reporter: str) -> str:
    """A note naming the groups whose replicates are two-peaked, and the
    warning (once per plot, unless drawn in :func:`quietly`)."""
    flagged = stats[stats["bimodal"]]
    if flagged.empty:
        return ""
    names = [k for k in keys if k != "Step"]
    groups = flagged[names].drop_duplicates() if names else pd.DataFrame(index=[0])
    described = [
        ", ".join(f"{name}={_fmt(row[name])}" for name in names)
        for _, row in groups.iterrows()
    ]
    where = "; ".join(described[:3]) + ("; ..." if len(described) > 3 else "")
    at = ""
    if "Step" in stats.columns:
        steps = flagged["Step"].nunique()
        at = f" at {steps} of {stats['Step'].nunique()} steps"
    note = (
        f"two-peaked runs{' (' + where + ')' if names else ''}{at}: "
        "a mean may describe no run"
    )
    if not _QUIET.get():
        warnings.warn(
            f"{reporter}: the replicate runs are two-peaked (Hartigan's dip test, "
            f"5%, Holm-corrected){' for ' + where if names else ''}{at}; their mean "
            "may lie between the peaks and describe no run. Look at the runs "
            "(lines(..., runs=True)) or at their values (result.stats(..., "
            "final=True), columns dip_p and bimodal).",
            BimodalWarning,
            stacklevel=3,
        )
    return note


def _left(low: float, high: float) -> str:
    """How a t-interval leaves ``[low, high]``: ``left [0, 1]``, ``went
    below 0``, ``went above 0``."""
    if np.isinf(high):
        return f"went below {low:.3g}"
    if np.isinf(low):
        return f"went above {high:.3g}"
    return f"left [{low:.3g}, {high:.3g}]"


def _interval_label(stats: pd.DataFrame, level: float) -> str:
    """``95% CI of the mean (t; bootstrap where t left [0, 1])``: what the
    interval is, by the methods its rows used."""
    used = set(stats["interval"].dropna())
    low, high = stats.attrs.get("bounds", (-np.inf, np.inf))
    others = [
        text
        for method, text in ((BOOTSTRAP, "bootstrap"), (CLIPPED, "clipped t"))
        if method in used
    ]
    if stats.attrs.get("interval") == "bootstrap":
        how = "percentile bootstrap"
    elif not others:
        how = "t"
    elif T in used:
        how = f"t; {' or '.join(others)} where t {_left(low, high)}"
    else:
        how = f"{' or '.join(others)}: t {_left(low, high)}"
    sep = "\n" if len(how) > 24 else " "  # a long method on a line of its own
    return f"{level:.0%} CI of the mean{sep}({how})"


def lines(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    by: str | None = None,
    *,
    facet: str | None = None,
    band: Literal["ci", "minmax"] | None = "ci",
    level: float = 0.95,
    interval: Literal["auto", "t", "bootstrap"] = "auto",
    bounds: tuple[float | None, float | None] | None = None,
    runs: bool = False,
    ax: Axes | Any | None = None,
) -> Axes | np.ndarray:
    """A model reporter over Step: the mean of the replicates, one line per ``by``.

    Args:
        data: a SweepResult or its ``model`` table.
        reporter: the model reporter to plot.
        by: the parameter whose values get one line each. Default: the first
            swept parameter (other than ``facet``), or one line if nothing is
            swept.
        facet: a parameter whose values get one panel each (small multiples
            sharing their axes); the figure's legend names the lines.
        band: shade the ``level`` confidence interval of the mean (``"ci"``),
            the range over runs (``"minmax"``) or nothing (None). Runs that
            stopped early count with their last value carried forward (see
            ``replicate_stats``).
        level: confidence level of the ``"ci"`` band.
        interval, bounds: how the interval is made and the values the
            reporter can take, e.g. ``bounds=(0, 1)`` for a proportion (see
            :func:`~mesa_nb.analysis.stats.replicate_stats`): by default the
            t-interval, or where it leaves the range the bootstrap (10 runs
            or more) or the t-interval clipped to the range. The legend names
            the methods used.
        runs: also draw every run as a thin, faint line.
        ax: the Axes to draw on; a new figure when None. With ``facet``: a
            Figure to draw the panels in, or a sequence of Axes.

    Returns:
        The Axes; with ``facet``, an array of Axes (one per value). Swept
        parameters that are neither ``by`` nor ``facet`` are averaged over,
        and the title says which (``pooled over width (5, 10)``). A warning
        (:class:`~mesa_nb.analysis.stats.BimodalWarning`, once per plot) and a
        line of the title say where the replicates are two-peaked.
    """
    if band not in ("ci", "minmax", None):
        raise ValueError(f"band must be 'ci', 'minmax' or None, got {band!r}.")
    table = model_table(data)
    facet = _one_facet(table, facet)
    by = _one_by(table, by, facet)
    if by is not None and by == facet:
        raise ParameterError(f"by and facet must be two different parameters ({by!r}).")
    keys = [k for k in (facet, by) if k is not None]
    stats = replicate_stats(
        table, reporter, keys, level=level, interval=interval, bounds=bounds
    )
    title = _title(
        f"{reporter} over steps{table.excluded_note()}",
        _pooled_note(table.swept, keys, table.frame),
        _bimodal_note(stats, [*keys, "Step"], reporter),
    )
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    palette = _palette(stats, by, reporter)
    marker = "o" if stats["Step"].nunique() == 1 else None
    panels = _groups(stats, facet)
    frames = {_fmt(value): rows for value, rows in _groups(table.frame, facet)}
    if facet is None:
        figure, axes = None, [_axes(ax)]
    else:
        figure, axes = _facet_axes(ax, len(panels))
    shaded = False
    for axis, (value, rows) in zip(axes, panels, strict=True):
        frame = frames.get(_fmt(value), table.frame.iloc[:0])
        shaded |= _draw_lines(
            axis, rows, frame if runs else None, reporter, by, band, palette, marker
        )
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))
        if facet is not None:
            axis.set_title(_label(facet, value, ""), fontsize="medium")
    handles = _legend_handles(axes)
    if shaded:
        text = _interval_label(stats, level) if band == "ci" else "min-max of runs"
        handles.append(Patch(color="grey", alpha=0.3, label=text))
    if figure is None:
        (ax,) = axes
        ax.legend(handles=handles, title=by, fontsize="small")
        ax.set_title(title)
        ax.set_xlabel("Step")
        ax.set_ylabel(reporter)
        return ax
    figure.legend(
        handles=handles, title=by, fontsize="small", loc="outside right upper"
    )
    figure.suptitle(title)
    figure.supxlabel("Step")
    figure.supylabel(reporter)
    return np.array(axes, dtype=object)


def _draw_lines(
    ax: Axes,
    stats: pd.DataFrame,
    frame: pd.DataFrame | None,
    reporter: str,
    by: str | None,
    band: str | None,
    palette: dict[str, Any],
    marker: str | None,
) -> bool:
    """One panel of :func:`lines`; True if a band was shaded."""
    shaded = False
    run_groups = (
        {_fmt(value): rows for value, rows in _groups(frame, by)}
        if frame is not None
        else {}
    )
    for value, rows in _groups(stats, by):
        label = _label(by, value, reporter)
        color = palette[label]
        if frame is not None:
            group_runs = list(run_groups[_fmt(value)].groupby("RunId", sort=True))
            faint = min(0.3, 2.0 / len(group_runs))  # fainter when there are many
            for _, run in group_runs:
                ax.plot(
                    run["Step"],
                    numeric_values(run, reporter, "model reporter"),
                    color=color,
                    alpha=faint,
                    linewidth=0.7,
                    marker=marker,
                    label="_run",
                )
        if band is not None:
            low, high = ("ci_low", "ci_high") if band == "ci" else ("min", "max")
            if rows[[low, high]].notna().any(axis=None):
                ax.fill_between(
                    rows["Step"], rows[low], rows[high], color=color, alpha=0.2
                )
                shaded = True
        ax.plot(
            rows["Step"],
            rows["mean"],
            color=color,
            linewidth=2,
            marker=marker,
            label=label,
        )
    return shaded


def _legend_handles(axes: Sequence[Axes]) -> list[Any]:
    """The labelled artists of every panel, each label once, in order."""
    found: dict[str, Any] = {}
    for axis in axes:
        for handle, label in zip(*axis.get_legend_handles_labels(), strict=True):
            found.setdefault(label, handle)
    return list(found.values())


def _positions(values: Sequence[Any]) -> tuple[np.ndarray, bool]:
    """Numeric x for numeric parameter values, else 0, 1, 2... (categorical)."""
    series = pd.Series(list(values))
    if pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series):
        return series.to_numpy(dtype=float), False
    return np.arange(len(series), dtype=float), True


def final(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    x: str,
    *,
    hue: str | None = None,
    facet: str | None = None,
    level: float = 0.95,
    interval: Literal["auto", "t", "bootstrap"] = "auto",
    bounds: tuple[float | None, float | None] | None = None,
    ax: Axes | Any | None = None,
) -> Axes | np.ndarray:
    """The final value of a reporter (each run's last record) against parameter ``x``.

    Draws the mean over runs with error bars of the ``level`` confidence
    interval of the mean (none for points with a single run); one series per
    value of ``hue`` if given, each shifted sideways by a small offset so that
    their error bars do not hide each other; one panel per value of
    ``facet`` if given (small multiples sharing their axes; ``ax`` may then be
    a Figure or a sequence of Axes, and an array of Axes is returned).
    Non-numeric ``x`` values are placed at 0, 1, 2... with the values as tick
    labels. ``interval`` and ``bounds`` (e.g. ``(0, 1)`` for a proportion)
    choose the interval as in
    :func:`~mesa_nb.analysis.stats.replicate_stats`; the legend names it.
    Swept parameters that are not drawn are pooled, and the title says
    which; two-peaked replicates are warned about once.
    """
    table = model_table(data)
    for name, kind in ((hue, "hue"), (facet, "facet")):
        if name is not None and not isinstance(name, str):
            raise TypeError(f"{kind} must be one parameter name (a str), got {name!r}.")
    keys = check_by(table, [k for k in (x, hue, facet) if k is not None])
    stats = replicate_stats(
        table,
        reporter,
        keys,
        level=level,
        final=True,
        interval=interval,
        bounds=bounds,
    )
    title = _title(
        f"final {reporter} vs {x} (mean, {level:.0%} CI){table.excluded_note()}",
        _pooled_note(table.swept, keys, table.frame),
        _bimodal_note(stats, keys, reporter),
    )
    from matplotlib.lines import Line2D

    x_values = pd.Index(stats[x].drop_duplicates())  # sorted, as stats is
    positions, categorical = _positions(x_values)
    palette = _palette(stats, hue, reporter)
    shift = _dodge(positions, len(palette), categorical)
    order = list(palette)
    panels = _groups(stats, facet)
    if facet is None:
        figure, axes = None, [_axes(ax)]
    else:
        figure, axes = _facet_axes(ax, len(panels))
    for axis, (value, panel) in zip(axes, panels, strict=True):
        for hue_value, rows in _groups(panel, hue):
            mean = rows["mean"].to_numpy()
            yerr = np.vstack([mean - rows["ci_low"], rows["ci_high"] - mean])
            label = _label(hue, hue_value, reporter)
            offset = (order.index(label) - (len(order) - 1) / 2) * shift
            axis.errorbar(
                positions[x_values.get_indexer(rows[x])] + offset,
                mean,
                yerr=np.nan_to_num(yerr, nan=0.0),
                fmt="o-",
                capsize=4,
                color=palette[label],
                label=label if hue is not None else "_mean",
            )
        if categorical:
            axis.set_xticks(positions, [_fmt(v) for v in x_values])
        if facet is not None:
            axis.set_title(_label(facet, value, ""), fontsize="medium")
    handles = _legend_handles(axes)
    handles.append(
        Line2D(
            [],
            [],
            color="0.35",
            marker="|",
            markersize=12,
            linestyle="none",
            label=f"error bars: {_interval_label(stats, level)}",
        )
    )
    if figure is None:
        (ax,) = axes
        ax.legend(handles=handles, title=hue, fontsize="small")
        ax.set_title(title)
        ax.set_xlabel(x)
        ax.set_ylabel(f"final {reporter}")
        return ax
    figure.legend(
        handles=handles, title=hue, fontsize="small", loc="outside right upper"
    )
    figure.suptitle(title)
    figure.supxlabel(x)
    figure.supylabel(f"final {reporter}")
    return np.array(axes, dtype=object)


def _dodge(positions: np.ndarray, n_series: int, categorical: bool) -> float:
    """Sideways step between ``n_series`` error bar series at the same x."""
    if n_series < 2:
        return 0.0
    if categorical:
        return min(0.1, 0.5 / n_series)
    gaps = np.diff(np.unique(positions))
    if not len(gaps):
        return 0.0
    span = positions.max() - positions.min()
    return float(min(0.015 * span, 0.3 * gaps.min() / (n_series - 1)))


def heatmap(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    x: str,
    y: str,
    *,
    ax: Axes | None = None,
    cmap: str = "viridis",
) -> Axes:
    """The mean final value of a reporter over two parameters, one cell per pair.

    Rows are the values of ``y`` (increasing upwards), columns those of ``x``;
    pairs without a finished run (all failed) are blank. Small grids are
    annotated with the values. Other swept parameters are pooled (the title
    says which); two-peaked replicates are warned about once.
    """
    table = model_table(data)
    if x == y:
        raise ParameterError(f"x and y must be two different parameters, got {x!r}.")
    keys = check_by(table, [x, y])
    stats = replicate_stats(table, reporter, keys, final=True, interval="t")
    title = _title(
        f"mean final {reporter}{table.excluded_note()}",
        _pooled_note(table.swept, keys, table.frame),
        _bimodal_note(stats, keys, reporter),
    )
    grid = stats.pivot(index=y, columns=x, values="mean")
    if table.runs is not None:  # points whose runs all failed: blank cells
        grid = grid.reindex(
            index=table.runs[y].unique(), columns=table.runs[x].unique()
        )
    grid = grid.sort_index().sort_index(axis=1)
    ax = _axes(ax)
    image = ax.imshow(
        grid.to_numpy(dtype=float), origin="lower", aspect="auto", cmap=cmap
    )
    ax.set_xticks(range(grid.shape[1]), [_fmt(v) for v in grid.columns])
    ax.set_yticks(range(grid.shape[0]), [_fmt(v) for v in grid.index])
    if grid.shape[1] > 8:
        ax.tick_params(axis="x", labelrotation=45)
    if grid.size <= _MAX_ANNOTATED_CELLS:
        _annotate(ax, image, grid.to_numpy(dtype=float))
    ax.figure.colorbar(image, ax=ax, label=reporter)
    ax.set_title(title)
    ax.set_xlabel(x)
    ax.set_ylabel(y)
    return ax


def _annotate(ax: Axes, image: Any, values: np.ndarray) -> None:
    for (row, col), value in np.ndenumerate(values):
        if np.isnan(value):
            continue
        red, green, blue, _ = image.cmap(image.norm(value))
        dark = 0.299 * red + 0.587 * green + 0.114 * blue < 0.5
        ax.text(
            col,
            row,
            f"{value:.3g}",
            ha="center",
            va="center",
            fontsize="small",
            color="white" if dark else "black",
        )


def _agent_frame(
    data: SweepResult | pd.DataFrame, reporter: str
) -> tuple[pd.DataFrame, tuple[str, ...], tuple[str, ...], str]:
    """Agent rows with run parameters joined, the parameters, swept, note."""
    if isinstance(data, SweepResult):
        tables = [t for t in (data.agents, data.agenttypes) if not t.empty]
        available = [
            c
            for t in tables
            for c in t.columns
            if c not in ("RunId", "Step", "AgentID", "AgentType")
        ]
        source = next((t for t in tables if reporter in t.columns), None)
        if source is None or reporter in ("RunId", "Step", "AgentID", "AgentType"):
            raise unknown_name("agent reporter", reporter, available)
        ok = data.runs[data.runs["status"] == Status.OK]
        parameters = tuple(p for p in data.parameter_names if p in ok.columns)
        runs = ok[["RunId", *parameters]]
        frame = source.merge(runs, on="RunId", how="inner")
        table = model_table(data)
        swept = tuple(p for p in data.metadata.get("swept", ()) if p in parameters)
        return frame, parameters, swept, table.excluded_note()
    if isinstance(data, pd.DataFrame):
        missing = [c for c in ("RunId", "Step") if c not in data.columns]
        if missing:
            raise ParameterError(
                f"The agent table has no {' or '.join(missing)} column; pass a "
                "SweepResult or result.agents joined with the run parameters."
            )
        others = [c for c in data.columns if c not in ("RunId", "iteration", "Step")]
        if reporter not in others:
            raise unknown_name("agent reporter", reporter, others)
        return data, tuple(others), (), ""
    raise TypeError(
        f"Expected a SweepResult or an agent DataFrame, got {type(data).__name__}."
    )


def agents(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    by: str | None = None,
    *,
    facet: str | None = None,
    step: int | None = None,
    kind: Literal["ecdf", "hist", "violin"] = "ecdf",
    ax: Axes | Any | None = None,
) -> Axes | np.ndarray:
    """The distribution of an agent reporter at one Step, one per value of ``by``.

    Args:
        data: a SweepResult (``agents`` joined with the parameters of the
            finished runs), or a DataFrame with RunId, Step, the reporter and
            the ``by`` column (e.g. ``result.to_mesa_frame()``).
        reporter: the agent reporter to plot.
        by: the parameter whose values get one curve (or violin) each.
            Default: the first swept parameter (other than ``facet``), or one
            for all runs.
        facet: a parameter whose values get one panel each (small multiples
            sharing their axes; ``ax`` may then be a Figure or a sequence of
            Axes, and an array of Axes is returned).
        step: the Step to look at. Default: each run's last kept Step.
        kind: ``"ecdf"`` (default: the empirical cumulative distribution of
            the agents of all runs, one step line per value of ``by``, which
            stay readable however many there are), ``"hist"`` (step
            histograms, one outline per value, as shares of that value's
            agents over shared bins: one bin per integer for whole numbers)
            or ``"violin"``.
        ax: the Axes to draw on; a new figure when None.

    The agents of every run of a group are pooled; swept parameters that are
    neither ``by`` nor ``facet`` are pooled too, and the title says which.
    """
    if kind not in ("ecdf", "hist", "violin"):
        raise ValueError(f"kind must be 'ecdf', 'hist' or 'violin', got {kind!r}.")
    frame, parameters, swept, note = _agent_frame(data, reporter)
    for name in (by, facet):
        if name is not None and (name not in parameters or name == reporter):
            raise unknown_name(
                "parameter", name, [p for p in parameters if p != reporter]
            )
    if by is None:
        by = _first_swept(swept, facet)
    if by is not None and by == facet:
        raise ParameterError(f"by and facet must be two different parameters ({by!r}).")
    if step is None:
        last = frame.groupby("RunId")["Step"].transform("max")
        frame = frame[frame["Step"] == last]
        kept = frame["Step"].unique()
        where = f"Step {kept[0]}" if len(kept) == 1 else "the last step of each run"
    else:
        kept_steps = np.sort(frame["Step"].unique())
        if step not in kept_steps:
            shown = ", ".join(str(s) for s in kept_steps[:20])
            more = ", ..." if len(kept_steps) > 20 else ""
            raise ParameterError(
                f"No agent records at Step {step}. Kept steps: {shown}{more} "
                "(sweep with data_collection_period=1 to keep every step)."
            )
        frame = frame[frame["Step"] == step]
        where = f"Step {step}"
    frame = frame.assign(__value=numeric_values(frame, reporter, "agent reporter"))
    frame = frame[frame["__value"].notna()]
    if frame.empty:
        raise ParameterError(f"No values of agent reporter {reporter!r} at {where}.")
    shown = [k for k in (by, facet) if k is not None]
    title = _title(
        f"agents' {reporter} at {where}{note}", _pooled_note(swept, shown, frame)
    )
    palette = _palette(frame, by, reporter)
    bins = _bins(frame["__value"].to_numpy()) if kind == "hist" else None
    panels = _groups(frame, facet)
    if facet is None:
        figure, axes = None, [_axes(ax)]
    else:
        figure, axes = _facet_axes(ax, len(panels))
    for axis, (value, panel) in zip(axes, panels, strict=True):
        groups = [(v, rows["__value"].to_numpy()) for v, rows in _groups(panel, by)]
        labels = [_label(by, v, reporter) for v, _ in groups]
        colors = [palette[label] for label in labels]
        if kind == "violin":
            _violins(axis, [values for _, values in groups], colors)
            axis.set_xticks(range(len(groups)), [_fmt(v) for v, _ in groups])
        else:
            for (_, values), label, color in zip(groups, labels, colors, strict=True):
                if kind == "ecdf":
                    axis.ecdf(values, color=color, linewidth=1.8, label=label)
                    axis.set_ylim(-0.02, 1.02)
                else:
                    axis.hist(
                        values,
                        bins=bins,
                        weights=np.full(len(values), 1 / len(values)),
                        histtype="step",
                        color=color,
                        linewidth=1.8,
                        label=label,
                    )
        if facet is not None:
            axis.set_title(_label(facet, value, ""), fontsize="medium")
    xlabel, ylabel = {
        "ecdf": (reporter, "share of agents at or below"),
        "hist": (reporter, "share of agents (all runs)"),
        "violin": (by or "", reporter),
    }[kind]
    handles = _legend_handles(axes) if kind != "violin" and by is not None else []
    if figure is None:
        (ax,) = axes
        if handles:
            ax.legend(handles=handles, title=by, fontsize="small")
        ax.set_title(title)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        return ax
    if handles:
        figure.legend(
            handles=handles, title=by, fontsize="small", loc="outside right upper"
        )
    figure.suptitle(title)
    figure.supxlabel(xlabel)
    figure.supylabel(ylabel)
    return np.array(axes, dtype=object)


def _bins(values: np.ndarray) -> np.ndarray:
    """One bin per integer for small integer ranges, else numpy's 'auto' bins."""
    low, high = float(values.min()), float(values.max())
    if np.all(np.mod(values, 1) == 0) and high - low <= 60:
        return np.arange(low - 0.5, high + 1.5)
    return np.histogram_bin_edges(values, bins="auto")


def _violins(ax: Axes, datasets: list[np.ndarray], colors: list[Any]) -> None:
    from matplotlib import cbook
    from scipy.stats import gaussian_kde

    def density(values: np.ndarray, coords: np.ndarray) -> np.ndarray:
        if np.ptp(values) == 0:  # all equal: a flat line, not a singular KDE
            return np.ones_like(coords, dtype=float)
        return gaussian_kde(values)(coords)

    parts = ax.violin(
        cbook.violin_stats(datasets, density),
        positions=range(len(datasets)),
        showmeans=True,
        showextrema=True,
    )
    for body, color in zip(parts["bodies"], colors, strict=True):
        body.set_facecolor(color)
        body.set_edgecolor(color)
        body.set_alpha(0.5)
    for key in ("cmeans", "cmins", "cmaxes", "cbars"):
        parts[key].set_color(colors)


def sensitivity(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    *,
    ax: Axes | None = None,
    **options: Any,
) -> Axes:
    """Sensitivity of ``reporter`` to each parameter, ranked, with intervals.

    What is drawn follows the method (see
    :func:`mesa_nb.analysis.sensitivity.sensitivity`, which the keyword
    options go to):

    * sobol: first-order (S1) and total (ST) indices side by side, ranked by
      ST; morris: mu* ranked; delta: delta and S1 side by side, ranked by
      delta; rbd_fast: S1 ranked. Error bars: the bootstrap intervals.
    * prcc / src: one bar per parameter ranked by size, blue for a positive
      effect and red for a negative one, error bars from ``conf_low`` to
      ``conf_high``, each bar labelled with its p-value; src's title gives
      the fit's R^2.
    """
    table = _analyse(data, reporter, **options)
    ax = _axes(ax)
    method = table.attrs["method"]
    level = table.attrs.get("level", 0.95)
    ci = f"{level:.0%} CI"
    if method in ("prcc", "src"):
        _coefficient_bars(ax, table, method.upper(), ci)
    else:
        key, pairs, label = {
            "sobol": ("ST", ("S1", "ST"), "Sobol index"),
            "morris": ("mu_star", ("mu_star",), "Morris mu*"),
            "delta": ("delta", ("S1", "delta"), "delta / first-order index"),
            "rbd_fast": ("S1", ("S1",), "RBD-FAST first-order index"),
        }[method]
        names = {
            "S1": "first order (S1)",
            "ST": "total (ST)",
            "mu_star": "mu* (mean |elementary effect|)",
            "delta": "delta (moment-independent)",
        }
        table = table.sort_values(key)
        positions = np.arange(len(table))
        height = 0.76 / len(pairs)
        for i, name in enumerate(pairs):
            offset = (i - (len(pairs) - 1) / 2) * height
            conf = "mu_star_conf" if name == "mu_star" else f"{name}_conf"
            ax.barh(
                positions + offset,
                table[name],
                height,
                xerr=table[conf],
                color=f"C{i}",
                label=names[name],
                capsize=3,
            )
        ax.set_yticks(positions, [str(i) for i in table.index])
        ax.set_xlabel(f"{label} ({ci})")
        ax.legend(loc="lower right", fontsize="small")
    ax.axvline(0, color="0.6", linewidth=0.8)
    what = {
        "sobol": "Sobol indices",
        "morris": "Morris screening",
        "prcc": "PRCC",
        "src": f"SRC, R\N{SUPERSCRIPT TWO} = {table.attrs.get('R2', np.nan):.2f}",
        "delta": "delta",
        "rbd_fast": "RBD-FAST",
    }[method]
    runs = table.attrs.get("runs")
    over = f" over {runs} runs" if runs else ""
    ax.set_title(
        f"Sensitivity of {reporter} ({what}){over}{table.attrs.get('note', '')}"
    )
    return ax


def _coefficient_bars(ax: Axes, table: pd.DataFrame, name: str, ci: str) -> None:
    """PRCC / SRC: signed bars ranked by size, intervals, p-values."""
    from matplotlib.patches import Patch

    table = table.assign(__size=table[name].abs()).sort_values("__size")
    values = table[name].to_numpy()
    positions = np.arange(len(table))
    colors = np.where(values >= 0, "C0", "C3")
    ax.barh(positions, values, 0.6, color=colors)
    ax.errorbar(
        values,
        positions,
        xerr=np.vstack([values - table["conf_low"], table["conf_high"] - values]),
        fmt="none",
        ecolor="black",
        capsize=3,
        label=ci,
    )
    span = max(1e-9, float(np.nanmax(np.abs(table[["conf_low", "conf_high"]]))))
    for y, (value, p, high, low) in enumerate(
        zip(
            values, table["p_value"], table["conf_high"], table["conf_low"], strict=True
        )
    ):
        end = high if value >= 0 else low
        ax.text(
            end + (0.02 if value >= 0 else -0.02) * span,
            y,
            "p<0.001" if p < 0.001 else f"p={p:.2g}",
            va="center",
            ha="left" if value >= 0 else "right",
            fontsize="small",
        )
    ax.set_xlim(-1.4 * span if (values < 0).any() else -0.05 * span, 1.4 * span)
    ax.set_yticks(positions, [str(i) for i in table.index])
    ax.set_xlabel(f"{name} ({ci})")
    handles, _ = ax.get_legend_handles_labels()
    signs = [
        ("C0", f"{name} > 0", (values >= 0).any()),
        ("C3", f"{name} < 0", (values < 0).any()),
    ]
    patches = [Patch(color=c, label=text) for c, text, present in signs if present]
    ax.legend(handles=[*patches, *handles], loc="best", fontsize="small")


def _forwarding_signature(plot: Any, analysis: Any) -> inspect.Signature:
    """``plot``'s signature with its ``**options`` spelled out: the keyword
    parameters of ``analysis`` after its first two (data and reporter)."""
    own = inspect.signature(plot)
    *kept, _ = own.parameters.values()  # the last one is **options
    forwarded = list(inspect.signature(analysis).parameters.values())[2:]
    options = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in forwarded]
    return own.replace(parameters=[*kept[:2], *options, *kept[2:]])


sensitivity.__signature__ = _forwarding_signature(sensitivity, _analyse)  # type: ignore[attr-defined]


def discovery(
    data: SweepResult | pd.DataFrame,
    condition: Any,
    *,
    kind: Literal["tradeoff", "box"] | None = None,
    ax: Axes | None = None,
    **options: Any,
) -> Axes:
    """Scenario discovery of the runs where ``condition`` holds.

    The keyword options (``method``, ``step``, ``parameters``, ``max_boxes``,
    ``min_coverage``, ...) go to :func:`mesa_nb.analysis.discovery.discover`.

    * PRIM, ``kind="tradeoff"`` (the default): the coverage / density
      trade-off of each box's peeling trajectory, one point per step coloured
      by how many parameters it restricts; the box kept is ringed and named,
      the dashed line is the share of all runs that are cases.
    * PRIM, ``kind="box"``: the kept boxes' bounds, one row per parameter, as
      a share of the parameter's observed range (categories: the kept ones
      named); restricted parameters drawn solid, with their bounds written.
    * trees: the feature scores, ranked, with their spread over the trees.
    """
    from matplotlib.patches import Patch

    found = _discover(data, condition, **options)
    ax = _axes(ax)
    boxes = found.table
    cases = f"{found.condition} ({found.cases} of {found.runs} runs)"
    if found.method == "trees":
        if kind is not None:
            raise ValueError("kind= chooses a PRIM plot; method='trees' has one plot.")
        table = boxes.iloc[::-1]
        positions = np.arange(len(table))
        ax.barh(
            positions,
            table["score"],
            0.6,
            xerr=table["score_std"],
            capsize=3,
            color="C0",
            error_kw={"alpha": 0.6},
            label="score (mean decrease in impurity)",
        )
        ax.set_yticks(positions, [str(i) for i in table.index])
        ax.set_xlabel("feature score (error bar: spread over the trees)")
        ax.legend(loc="lower right", fontsize="small")
        ax.set_title(f"Feature scores: {cases}{found.note}")
        return ax
    kind = "tradeoff" if kind is None else kind
    if kind == "tradeoff":
        _tradeoff(ax, found)
        ax.set_title(f"PRIM: {cases}{found.note}")
    elif kind == "box":
        _box_bounds(ax, found, Patch)
        first = boxes.iloc[0]
        ax.set_title(
            f"PRIM box{'es' if len(boxes) > 1 else ''}: {cases}{found.note}\n"
            f"box 1: coverage {first['coverage']:.2f}, density {first['density']:.2f}"
        )
    else:
        raise ValueError(f"kind must be 'tradeoff' or 'box', got {kind!r}.")
    return ax


def _tradeoff(ax: Axes, found: Any) -> None:
    """Coverage against density along each box's trajectory."""
    from matplotlib.colors import BoundaryNorm

    plt = _pyplot()
    most = max(int(t["restricted"].max()) for t in found.trajectories)
    cmap = plt.get_cmap("viridis", most + 1)
    norm = BoundaryNorm(np.arange(-0.5, most + 1.5), cmap.N)
    markers = "osD^v<>"
    points = None
    for number, trajectory in enumerate(found.trajectories, start=1):
        marker = markers[(number - 1) % len(markers)]
        points = ax.scatter(
            trajectory["coverage"],
            trajectory["density"],
            c=trajectory["restricted"],
            cmap=cmap,
            norm=norm,
            marker=marker,
            s=28,
            label=f"box {number}: peeling steps",
        )
        kept = trajectory[trajectory["chosen"]].iloc[0]
        ax.scatter(
            [kept["coverage"]],
            [kept["density"]],
            s=180,
            facecolors="none",
            edgecolors="black",
            linewidths=1.5,
            marker=marker,
            label=f"box {number} kept: coverage {kept['coverage']:.2f}, "
            f"density {kept['density']:.2f}",
        )
        ax.annotate(
            f"box {number}",
            (kept["coverage"], kept["density"]),
            xytext=(8, -14),
            textcoords="offset points",
            fontsize="small",
        )
    ax.axhline(
        found.base_density,
        color="0.5",
        linestyle="--",
        linewidth=1,
        label=f"all runs: density {found.base_density:.2f}",
    )
    bar = ax.figure.colorbar(points, ax=ax, ticks=range(most + 1))
    bar.set_label("restricted parameters")
    ax.set_xlim(0, 1.05)
    ax.set_ylim(0, 1.05)
    ax.set_xlabel("coverage (share of the cases in the box)")
    ax.set_ylabel("density (share of the box's runs that are cases)")
    ax.legend(loc="lower left", fontsize="small")


def _box_bounds(ax: Axes, found: Any, patch: Any) -> None:
    """Each kept box's bounds per parameter, on the parameter's observed range."""
    boxes = found.table
    names = list(found.parameters)[::-1]  # the first parameter on top
    height = 0.7 / len(boxes)
    for number, (_, box) in enumerate(boxes.iterrows(), start=1):
        color = f"C{number - 1}"
        offset = ((number - 1) - (len(boxes) - 1) / 2) * height
        for row, name in enumerate(names):
            whole = found.ranges[name]
            restricted = name in box["restricted"]
            y = row - offset
            segments, text = _segments(box, name, whole)
            ax.broken_barh(
                [(left, right - left) for left, right in segments],
                (y - height * 0.45, height * 0.9),
                color=color,
                alpha=0.85 if restricted else 0.15,
            )
            if restricted:
                ax.text(
                    max(right for _, right in segments) + 0.01,
                    y,
                    text,
                    va="center",
                    fontsize="small",
                )
    ax.set_yticks(range(len(names)), names)
    ax.set_xlim(0, 1.3)
    ax.set_xticks([0, 0.25, 0.5, 0.75, 1.0])
    ax.set_xlabel("share of the parameter's observed range")
    handles = [
        patch(color=f"C{i}", alpha=0.85, label=f"box {i + 1}")
        for i in range(len(boxes))
    ]
    handles.append(patch(color="0.5", alpha=0.15, label="not restricted"))
    ax.legend(
        handles=handles, loc="upper left", bbox_to_anchor=(1.01, 1), fontsize="small"
    )


def _segments(
    box: pd.Series, name: str, whole: Any
) -> tuple[list[tuple[float, float]], str]:
    """Where a box lies on a parameter's observed range, in [0, 1]: one
    segment for a number (a whole number's values as unit-wide bins), one
    per kept value for a category; and the bounds as text."""
    if f"{name}_min" not in box.index:
        kept, n = box[name], len(whole)
        segments = [(i / n, (i + 1) / n) for i, v in enumerate(whole) if v in kept]
        return segments, ", ".join(_fmt(v) for v in kept)
    low, high = box[f"{name}_min"], box[f"{name}_max"]
    start, end = whole
    if isinstance(start, int) and isinstance(end, int):  # whole numbers: bins
        low, high, start, end = low - 0.5, high + 0.5, start - 0.5, end + 0.5
        shown = box[f"{name}_min"], box[f"{name}_max"]
        text = str(shown[0]) if shown[0] == shown[1] else f"{shown[0]} to {shown[1]}"
    else:
        text = f"{_fmt_bound(low)} to {_fmt_bound(high)}"
    span = (end - start) or 1.0
    return [((low - start) / span, (high - start) / span)], text


def _fmt_bound(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return f"{value:.3g}" if isinstance(value, float) else str(value)


discovery.__signature__ = _forwarding_signature(discovery, _discover)  # type: ignore[attr-defined]


class _Bound:
    """A plot function as a :class:`PlotAccessor` method: on an accessor it is
    the function bound to the accessor's result, so its signature (without
    the data argument) and docstring are the function's own."""

    def __init__(self, function: Any) -> None:
        self.function = function

    def __get__(self, accessor: PlotAccessor | None, owner: type | None = None) -> Any:
        if accessor is None:
            return self.function
        return types.MethodType(self.function, accessor._result)


#: The methods that ``repr(result.plot)`` lists, in order.
_LISTED = ("lines", "final", "heatmap", "agents", "stats", "sensitivity", "discovery")


def _call_text(method: Any) -> str:
    """``method``'s parameters as a call, without annotations and ``ax``."""
    signature = inspect.signature(method)
    parameters = [
        p.replace(annotation=inspect.Parameter.empty)
        for p in signature.parameters.values()
        if p.name != "ax"
    ]
    return str(
        signature.replace(
            parameters=parameters, return_annotation=inspect.Signature.empty
        )
    )


class PlotAccessor:
    """Quick plots of one :class:`~mesa_nb.SweepResult` (``result.plot``).

    Each method is the function of the same name in
    :mod:`mesa_nb.analysis.plots` (``stats``: :func:`mesa_nb.stats.replicate_stats`)
    with the result as its data.
    """

    lines = _Bound(lines)
    final = _Bound(final)
    heatmap = _Bound(heatmap)
    agents = _Bound(agents)
    sensitivity = _Bound(sensitivity)
    discovery = _Bound(discovery)
    stats = _Bound(replicate_stats)

    def __init__(self, result: SweepResult) -> None:
        self._result = result

    def __repr__(self) -> str:
        table = model_table(self._result)
        agent_reporters = [
            c
            for t in (self._result.agents, self._result.agenttypes)
            for c in t.columns
            if c not in ("RunId", "Step", "AgentID", "AgentType")
        ]
        return "\n".join(
            [
                "Quick plots (matplotlib) of this sweep:",
                *(f"  .{name}{_call_text(getattr(self, name))}" for name in _LISTED),
                f"model reporters: {', '.join(table.reporters) or '(none)'}",
                f"agent reporters: {', '.join(agent_reporters) or '(none)'}",
                f"parameters: {', '.join(table.parameters) or '(none)'}"
                + (f" (swept: {', '.join(table.swept)})" if table.swept else ""),
            ]
        )
