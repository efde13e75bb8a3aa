"""Quick matplotlib plots of a sweep: time series, final values, heatmaps, agents.

Every function takes a :class:`~mesa_nb.SweepResult` (or its DataFrames),
draws on ``ax`` (a new figure when None) and returns the Axes. Only finished
runs are drawn; with a SweepResult the title says how many runs failed.
``result.plot`` binds them to a result: ``result.plot.lines("Gini")``.

matplotlib is imported when a plot is drawn (``pip install 'mesa_nb[notebook]'``).
"""

from __future__ import annotations

import inspect
import types
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.records import Status
from ..core.result import SweepResult
from .discovery import find as _discover
from .sensitivity import sensitivity as _analyse
from .stats import (
    ModelTable,
    check_by,
    model_table,
    numeric_values,
    replicate_stats,
    unknown_name,
)

if TYPE_CHECKING:
    from matplotlib.axes import Axes

__all__ = [
    "PlotAccessor",
    "agents",
    "discovery",
    "final",
    "heatmap",
    "lines",
    "sensitivity",
]

_INSTALL_HINT = "pip install 'mesa_nb[notebook]'"
_MAX_CYCLE_COLORS = 10
_MAX_ANNOTATED_CELLS = 100


def _pyplot() -> Any:
    try:
        import matplotlib.pyplot as plt
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise ImportError(f"mesa_nb's plots need matplotlib: {_INSTALL_HINT}") from exc
    return plt


def _axes(ax: Axes | None) -> Axes:
    if ax is not None:
        return ax
    _, ax = _pyplot().subplots(figsize=(7, 4.5), layout="constrained")
    return ax


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


def _first_swept(table_swept: Sequence[str]) -> str | None:
    return table_swept[0] if table_swept else None


def _one_by(table: ModelTable, by: str | None) -> str | None:
    if by is None:
        return _first_swept(table.swept)
    if not isinstance(by, str):
        raise TypeError(f"by must be one parameter name (a str), got {by!r}.")
    return check_by(table, by)[0]


def lines(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    by: str | None = None,
    *,
    band: Literal["ci", "minmax"] | None = "ci",
    level: float = 0.95,
    runs: bool = False,
    ax: Axes | None = None,
) -> Axes:
    """A model reporter over Step: the mean of the replicates, one line per ``by``.

    Args:
        data: a SweepResult or its ``model`` table.
        reporter: the model reporter to plot.
        by: the parameter whose values get one line each. Default: the first
            swept parameter, or one line if nothing is swept.
        band: shade the ``level`` confidence interval of the mean (``"ci"``),
            the range over runs (``"minmax"``) or nothing (None). For a
            whole-number reporter (a count) the interval band is clipped to
            the values observed at each Step, so a count's band never shows
            impossible values. Runs that stopped early count with their last
            value carried forward (see ``replicate_stats``).
        level: confidence level of the ``"ci"`` band.
        runs: also draw every run as a thin, faint line.
        ax: the Axes to draw on; a new figure when None.
    """
    if band not in ("ci", "minmax", None):
        raise ValueError(f"band must be 'ci', 'minmax' or None, got {band!r}.")
    table = model_table(data)
    by = _one_by(table, by)
    stats = replicate_stats(table, reporter, [] if by is None else [by], level=level)
    ax = _axes(ax)
    from matplotlib.patches import Patch
    from matplotlib.ticker import MaxNLocator

    observed = numeric_values(table.frame, reporter, "model reporter").dropna()
    # a count (whole numbers): its band stays within the values observed
    whole = bool(len(observed)) and bool(np.all(np.mod(observed, 1) == 0))
    groups = _groups(stats, by)
    # same grouping of the same rows: the runs of each group, in the same order
    run_groups = [rows for _, rows in _groups(table.frame, by)] if runs else []
    marker = "o" if stats["Step"].nunique() == 1 else None
    shaded = False
    for i, ((value, rows), color) in enumerate(
        zip(groups, _colors(len(groups)), strict=True)
    ):
        if runs:
            group_runs = list(run_groups[i].groupby("RunId", sort=True))
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
                lower, upper = rows[low], rows[high]
                if whole:
                    lower = np.maximum(lower, rows["min"])
                    upper = np.minimum(upper, rows["max"])
                ax.fill_between(rows["Step"], lower, upper, color=color, alpha=0.2)
                shaded = True
        label = reporter if by is None else f"{by}={_fmt(value)}"
        ax.plot(
            rows["Step"],
            rows["mean"],
            color=color,
            linewidth=2,
            marker=marker,
            label=label,
        )
    handles, _ = ax.get_legend_handles_labels()
    if shaded:
        text = f"{level:.0%} CI of the mean" if band == "ci" else "min-max of runs"
        handles.append(Patch(color="grey", alpha=0.3, label=text))
    ax.legend(handles=handles, title=by, fontsize="small")
    ax.set_title(f"{reporter} over steps{table.excluded_note()}")
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_xlabel("Step")
    ax.set_ylabel(reporter)
    return ax


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
    level: float = 0.95,
    ax: Axes | None = None,
) -> Axes:
    """The final value of a reporter (each run's last record) against parameter ``x``.

    Draws the mean over runs with error bars of the ``level`` confidence
    interval of the mean (none for points with a single run); one series per
    value of ``hue`` if given, each shifted sideways by a small offset so that
    their error bars do not hide each other. Non-numeric ``x`` values are
    placed at 0, 1, 2... with the values as tick labels.
    """
    table = model_table(data)
    keys = check_by(table, [x] if hue is None else [x, hue])
    stats = replicate_stats(table, reporter, keys, level=level, final=True)
    ax = _axes(ax)
    x_values = pd.Index(stats[x].drop_duplicates())  # sorted, as stats is
    positions, categorical = _positions(x_values)
    groups = _groups(stats, hue)
    shift = _dodge(positions, len(groups), categorical)
    for i, (value, rows) in enumerate(groups):
        mean = rows["mean"].to_numpy()
        yerr = np.vstack([mean - rows["ci_low"], rows["ci_high"] - mean])
        label = reporter if hue is None else f"{hue}={_fmt(value)}"
        offset = (i - (len(groups) - 1) / 2) * shift
        ax.errorbar(
            positions[x_values.get_indexer(rows[x])] + offset,
            mean,
            yerr=np.nan_to_num(yerr, nan=0.0),
            fmt="o-",
            capsize=4,
            label=label,
        )
    if categorical:
        ax.set_xticks(positions, [_fmt(v) for v in x_values])
    if hue is not None:
        ax.legend(title=hue, fontsize="small")
    ax.set_title(
        f"final {reporter} vs {x} (mean, {level:.0%} CI){table.excluded_note()}"
    )
    ax.set_xlabel(x)
    ax.set_ylabel(f"final {reporter}")
    return ax


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
    annotated with the values.
    """
    table = model_table(data)
    if x == y:
        raise ParameterError(f"x and y must be two different parameters, got {x!r}.")
    keys = check_by(table, [x, y])
    stats = replicate_stats(table, reporter, keys, final=True)
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
    ax.set_title(f"mean final {reporter}{table.excluded_note()}")
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
    step: int | None = None,
    kind: Literal["hist", "violin"] = "hist",
    ax: Axes | None = None,
) -> Axes:
    """The distribution of an agent reporter at one Step, one per value of ``by``.

    Args:
        data: a SweepResult (``agents`` joined with the parameters of the
            finished runs), or a DataFrame with RunId, Step, the reporter and
            the ``by`` column (e.g. ``result.to_mesa_frame()``).
        reporter: the agent reporter to plot.
        by: the parameter whose values get one histogram (or violin) each.
            Default: the first swept parameter, or one for all runs.
        step: the Step to look at. Default: each run's last kept Step.
        kind: ``"hist"`` (counts of agents over all runs, shared bins, bars
            side by side) or ``"violin"``.
        ax: the Axes to draw on; a new figure when None.
    """
    if kind not in ("hist", "violin"):
        raise ValueError(f"kind must be 'hist' or 'violin', got {kind!r}.")
    frame, parameters, swept, note = _agent_frame(data, reporter)
    if by is None:
        by = _first_swept(swept)
    elif by not in parameters or by == reporter:
        raise unknown_name("parameter", by, [p for p in parameters if p != reporter])
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
    groups = [(v, rows["__value"].to_numpy()) for v, rows in _groups(frame, by)]
    groups = [(v, values) for v, values in groups if len(values)]
    if not groups:
        raise ParameterError(f"No values of agent reporter {reporter!r} at {where}.")
    ax = _axes(ax)
    labels = [reporter if by is None else f"{by}={_fmt(v)}" for v, _ in groups]
    colors = _colors(len(groups))
    if kind == "hist":
        datasets = [values for _, values in groups]
        # several datasets: bars side by side in each bin, one BarContainer each
        ax.hist(
            datasets,
            bins=_bins(np.concatenate(datasets)),
            color=colors,
            label=labels,
            alpha=0.85,
        )
        ax.set_xlabel(reporter)
        ax.set_ylabel("agents (all runs)")
        if by is not None:
            ax.legend(title=by, fontsize="small")
    else:
        _violins(ax, [values for _, values in groups], colors)
        ax.set_xticks(range(len(groups)), [_fmt(v) for v, _ in groups])
        ax.set_xlabel(by or "")
        ax.set_ylabel(reporter)
    ax.set_title(f"agents' {reporter} at {where}{note}")
    return ax


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
