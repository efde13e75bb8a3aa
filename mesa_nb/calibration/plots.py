"""Plots of a calibration: the posterior, its predictions, and the way there.

Pure functions of DataFrames, each returning a matplotlib Figure (closed from
pyplot, so a notebook shows it once: as the cell's value). Weighted
quantiles are the inverse of the weighted empirical distribution function:
the smallest value whose cumulative weight reaches the level (numpy's
``inverted_cdf`` with weights). matplotlib is imported when a plot is drawn.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from .abc import weighted_quantile

if TYPE_CHECKING:
    from matplotlib.axes import Axes
    from matplotlib.figure import Figure

__all__ = ["history_figure", "posterior_figure", "predictive_figure"]

#: The credible interval the posterior plot reports.
CREDIBLE = 0.9
#: Whole-number values get one bin each up to this many values.
_MAX_UNIT_BINS = 60
#: A log scale when the positive values span this factor or more.
_LOG_SPAN = 100.0


def _figure(rows: int, columns: int, size: tuple[float, float], **options: Any) -> Any:
    """A new figure and its grid of Axes. On the main thread a pyplot figure,
    closed at once (a notebook shows it once, as the cell's value, through
    pyplot's display hooks); on another thread (a live plot) a figure made
    outside pyplot, which is not safe there."""
    if threading.current_thread() is threading.main_thread():
        import matplotlib.pyplot as plt

        figure, grid = plt.subplots(
            rows, columns, figsize=size, squeeze=False, layout="constrained", **options
        )
        plt.close(figure)
        return figure, grid
    from matplotlib.figure import Figure

    figure = Figure(figsize=size, layout="constrained")
    return figure, figure.subplots(rows, columns, squeeze=False, **options)


def _weights(frame: pd.DataFrame, what: str) -> np.ndarray:
    """The ``weight`` column (equal weights without one), checked."""
    if "weight" not in frame.columns:
        return np.ones(len(frame))
    weights = frame["weight"].to_numpy(dtype=float)
    if not np.isfinite(weights).all() or (weights < 0).any() or weights.sum() <= 0:
        raise ParameterError(
            f"The {what}'s weight column must hold finite weights of 0 or more, "
            "not all 0."
        )
    return weights


def _require(frame: pd.DataFrame, columns: Sequence[str], what: str) -> None:
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ParameterError(
            f"The {what} has no column {missing[0]!r}; its columns: "
            f"{', '.join(map(str, frame.columns))}."
        )


def _fmt(value: Any) -> str:
    if isinstance(value, np.generic):
        value = value.item()
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _is_categorical(column: pd.Series) -> bool:
    return pd.api.types.is_bool_dtype(column) or not pd.api.types.is_numeric_dtype(
        column
    )


def _categories(column: pd.Series) -> list[Any]:
    values = list(pd.unique(column))
    try:
        return sorted(values)
    except TypeError:  # mixed kinds: in order of appearance
        return values


def _bins(values: np.ndarray, whole: bool, span: tuple[float, float], bins: int) -> Any:
    """Unit bins for few whole numbers, else ``bins`` bins over ``span``."""
    low, high = span
    if whole and high - low + 1 <= _MAX_UNIT_BINS:
        return np.arange(np.floor(low) - 0.5, np.ceil(high) + 1.0, 1.0)
    if high <= low:  # one value: a bin around it
        low, high = low - 0.5, high + 0.5
    return np.linspace(low, high, bins + 1)


def _span(
    values: np.ndarray, bounds: tuple[float, float] | None
) -> tuple[float, float]:
    if bounds is not None:
        return float(bounds[0]), float(bounds[1])
    return float(np.min(values)), float(np.max(values))


# --- posterior ------------------------------------------------------------------


class _Dimension:
    """One parameter's posterior column as numbers (a category: its code)."""

    def __init__(
        self, name: str, column: pd.Series, bounds: tuple[float, float] | None
    ) -> None:
        self.name = name
        self.categorical = _is_categorical(column)
        if self.categorical:
            self.categories = _categories(column)
            codes = {value: i for i, value in enumerate(self.categories)}
            self.values = column.map(codes).to_numpy(dtype=float)
            self.limits = (-0.5, len(self.categories) - 0.5)
        else:
            self.categories = []
            self.values = column.to_numpy(dtype=float)
            self.limits = _span(self.values, bounds)
        self.whole = not self.categorical and bool(
            np.all(self.values == np.round(self.values))
        )

    def position(self, value: Any) -> float:
        """Where ``value`` (a truth) lies on this dimension's axis (nan: an
        unseen category)."""
        if self.categorical:
            known = value in self.categories
            return float(self.categories.index(value)) if known else math.nan
        return float(value)

    def shares(self, weights: np.ndarray) -> np.ndarray:
        """A category's posterior probabilities, in ``categories`` order."""
        total = np.bincount(
            self.values.astype(int), weights, minlength=len(self.categories)
        )
        return total / weights.sum()

    def interval(self, weights: np.ndarray) -> tuple[float, float, float]:
        """The weighted mean and the central credible interval."""
        mean = float(np.average(self.values, weights=weights))
        tail = (1 - CREDIBLE) / 2
        low, high = weighted_quantile(self.values, weights, [tail, 1 - tail])
        return mean, float(low), float(high)

    def describe(self, weights: np.ndarray, *, words: bool = False) -> str:
        """``1.02 [0.81, 1.23]``: the weighted mean and credible interval (in
        words: named); a category: the most probable one and its probability."""
        if self.categorical:
            shares = self.shares(weights)
            top = int(np.argmax(shares))
            return f"most probable {_fmt(self.categories[top])} ({shares[top]:.0%})"
        mean, low, high = self.interval(weights)
        if words:
            return (
                f"weighted mean {_fmt(mean)}, {CREDIBLE:.0%} credible interval "
                f"[{_fmt(low)}, {_fmt(high)}]"
            )
        return f"{_fmt(mean)} [{_fmt(low)}, {_fmt(high)}]"


def posterior_figure(
    posterior: pd.DataFrame,
    names: Sequence[str],
    *,
    truth: Mapping[str, Any] | None = None,
    bounds: Mapping[str, tuple[float, float]] | None = None,
    bins: int = 30,
) -> Figure:
    """The weighted posterior of ``names``: a corner plot.

    Diagonal: each parameter's weighted histogram (a density, ``bins`` bins
    over the particles' range, one per value for few whole numbers; a
    category: its probabilities), on the prior's support when ``bounds``
    gives it (so the plot shows how far the data narrowed the prior), with
    the weighted mean (dashed) and 90% credible interval (shaded), both
    written above it. Below the diagonal: every pair, one point per
    particle, more opaque the heavier. ``truth``: known values, drawn as red
    lines (and points in the pairs). One parameter: one Axes.
    """
    names = list(names)
    if not names:
        raise ParameterError("posterior_figure needs one parameter name or more.")
    _require(posterior, names, "posterior")
    weights = _weights(posterior, "posterior")
    truth, bounds = dict(truth or {}), dict(bounds or {})
    dims = [_Dimension(n, posterior[n], bounds.get(n)) for n in names]
    d = len(dims)
    size = (6.4, 4.4) if d == 1 else (2.5 * d + 0.8, 2.3 * d + 1.0)
    figure, grid = _figure(d, d, size, sharex="col")
    for i, row in enumerate(dims):
        for j, column in enumerate(dims):
            ax = grid[i, j]
            if j > i:
                ax.axis("off")  # the upper triangle stays empty
            elif i == j:
                _marginal(ax, column, weights, bins, truth)
            else:
                _pair(ax, column, row, weights, truth)
            if i == d - 1:
                ax.set_xlabel(column.name)
        if i > 0:
            grid[i, 0].set_ylabel(row.name)
    ess = weights.sum() ** 2 / (weights**2).sum()
    head = (
        f"Posterior of {', '.join(names)}: {len(posterior)} particles, "
        f"effective sample size {ess:.0f}"
    )
    if d == 1:
        grid[0, 0].set_ylabel("density" if not dims[0].categorical else "probability")
        grid[0, 0].set_title(
            f"{head}\n{names[0]}: {dims[0].describe(weights, words=True)}"
        )
        grid[0, 0].legend(fontsize="small")
    else:
        figure.suptitle(
            f"{head}\nabove each parameter: weighted mean "
            f"[{CREDIBLE:.0%} credible interval]"
        )
        found: dict[str, Any] = {}
        for k in range(d):
            for handle, label in zip(
                *grid[k, k].get_legend_handles_labels(), strict=True
            ):
                found.setdefault(label, handle)
        grid[0, d - 1].legend(  # in the empty upper triangle
            list(found.values()), list(found), loc="upper right", fontsize="small"
        )
    return figure


def _marginal(
    ax: Axes, dim: _Dimension, weights: np.ndarray, bins: int, truth: Mapping
) -> None:
    """A parameter's weighted histogram with its mean, interval and truth."""
    if dim.categorical:
        positions = np.arange(len(dim.categories))
        ax.bar(
            positions,
            dim.shares(weights),
            0.7,
            color="C0",
            alpha=0.75,
            label="posterior",
        )
        ax.set_xticks(positions, [_fmt(c) for c in dim.categories])
    else:
        edges = _bins(dim.values, dim.whole, _span(dim.values, None), bins)
        ax.hist(
            dim.values,
            bins=edges,
            weights=weights,
            density=True,
            color="C0",
            alpha=0.75,
            label="posterior",
        )
        mean, low, high = dim.interval(weights)
        if dim.whole:  # cover the end values' bars
            low, high = low - 0.5, high + 0.5
        ax.axvspan(
            low,
            high,
            color="C1",
            alpha=0.15,
            label=f"{CREDIBLE:.0%} credible interval",
            zorder=0,
        )
        ax.axvline(mean, color="C1", linestyle="--", label="weighted mean")
    if dim.name in truth:
        ax.axvline(
            dim.position(truth[dim.name]), color="C3", linewidth=1.5, label="truth"
        )
    ax.set_xlim(*_padded(dim))
    ax.set_title(f"{dim.name} = {dim.describe(weights)}", fontsize="medium")
    ax.set_yticks([])


def _padded(dim: _Dimension) -> tuple[float, float]:
    low, high = dim.limits
    if high <= low:
        return low - 0.5, high + 0.5
    if dim.whole:
        return low - 0.5, high + 0.5
    return low, high


def _pair(
    ax: Axes, x: _Dimension, y: _Dimension, weights: np.ndarray, truth: Mapping
) -> None:
    """Particles of two parameters, heavier ones more opaque and on top."""
    from matplotlib.colors import to_rgba

    order = np.argsort(weights, kind="stable")
    colors = np.tile(to_rgba("C0"), (len(order), 1))
    colors[:, 3] = 0.08 + 0.72 * weights[order] / weights.max()
    ax.scatter(x.values[order], y.values[order], s=7, c=colors, linewidths=0)
    if x.name in truth and y.name in truth:
        tx, ty = x.position(truth[x.name]), y.position(truth[y.name])
        ax.plot([tx], [ty], marker="o", color="C3", markersize=6, label="truth")
    for dim, line in ((x, ax.axvline), (y, ax.axhline)):
        if dim.name in truth:
            line(dim.position(truth[dim.name]), color="C3", linewidth=1)
    ax.set_xlim(*_padded(x))
    ax.set_ylim(*_padded(y))
    if y.categorical:
        ax.set_yticks(range(len(y.categories)), [_fmt(c) for c in y.categories])


# --- posterior predictive -------------------------------------------------------


def predictive_figure(
    runs: pd.DataFrame,
    reporter: str,
    observed: pd.DataFrame | None = None,
    *,
    level: float = 0.9,
) -> Figure:
    """Posterior predictive ``reporter``: what the posterior's runs produce.

    ``runs`` has ``RunId``, ``Step``, ``reporter`` and ``weight`` (the
    weight of the run's particle). Over Step: the weighted median and the
    central ``level`` band of the runs at each step, with ``observed``
    (``Step`` and ``reporter`` columns) as points. Runs of one record each
    (final values): their weighted histogram, with the observed value (its
    last step's) as a vertical line.
    """
    if not 0 < level < 1:
        raise ParameterError(f"level must be between 0 and 1, got {level!r}.")
    _require(runs, ["RunId", "Step", reporter], "runs table")
    if observed is not None:
        if "Step" not in observed.columns and observed.index.name == "Step":
            observed = observed.reset_index()
        _require(observed, [reporter], "observed data")
    frame = runs.assign(weight=_weights(runs, "runs table"))
    frame = frame[frame[reporter].notna()]
    if frame.empty:
        raise ParameterError(f"No run has a value of {reporter}.")
    if frame.groupby("RunId").size().max() == 1:
        return _final_predictive(frame, reporter, observed, level)
    return _series_predictive(frame, reporter, observed, level)


def _band(level: float) -> list[float]:
    return [(1 - level) / 2, 0.5, (1 + level) / 2]


def _series_predictive(
    frame: pd.DataFrame, reporter: str, observed: pd.DataFrame | None, level: float
) -> Figure:
    figure, grid = _figure(1, 1, (7.0, 4.5))
    ax = grid[0, 0]
    steps, rows = [], []
    for step, at in frame.groupby("Step", sort=True):
        values = at[reporter].to_numpy(dtype=float)
        steps.append(step)
        rows.append(weighted_quantile(values, at["weight"].to_numpy(), _band(level)))
    low, median, high = np.array(rows).T
    ax.fill_between(
        steps, low, high, color="C0", alpha=0.25, label=f"central {level:.0%} of runs"
    )
    ax.plot(steps, median, color="C0", linewidth=2, label="median")
    if observed is not None:
        _observed_points(ax, observed, reporter, steps[-1])
    ax.set_xlabel("Step")
    ax.set_ylabel(reporter)
    ax.set_title(
        f"Posterior predictive {reporter}: {frame['RunId'].nunique()} runs\n"
        f"weighted median and central {level:.0%} band per step"
    )
    ax.legend(fontsize="small")
    return figure


def _observed_points(
    ax: Axes, observed: pd.DataFrame, reporter: str, last: Any
) -> None:
    """The observed values as points at their steps; a value without a step
    (a final value) at the runs' last step, as a diamond."""
    steps = (
        pd.to_numeric(observed["Step"], errors="coerce")
        if "Step" in observed.columns
        else pd.Series(np.nan, index=observed.index)
    )
    values = observed[reporter].to_numpy(dtype=float)
    timed = steps.notna().to_numpy()
    style = {"color": "black", "linestyle": "none", "zorder": 3}
    if timed.any():
        x = steps[timed].to_numpy(dtype=float)
        ax.plot(x, values[timed], marker="o", markersize=3.5, label="observed", **style)
    if not timed.all():
        final = values[~timed][-1]
        ax.plot(
            [last],
            [final],
            marker="D",
            markersize=7,
            label="observed final value",
            **style,
        )


def _final_predictive(
    frame: pd.DataFrame, reporter: str, observed: pd.DataFrame | None, level: float
) -> Figure:
    figure, grid = _figure(1, 1, (7.0, 4.5))
    ax = grid[0, 0]
    values = frame[reporter].to_numpy(dtype=float)
    weights = frame["weight"].to_numpy()
    whole = bool(np.all(values == np.round(values)))
    edges = _bins(values, whole, _span(values, None), 30)
    ax.hist(values, bins=edges, weights=weights, density=True, color="C0", alpha=0.75)
    low, median, high = weighted_quantile(values, weights, _band(level))
    ax.axvspan(
        low,
        high,
        color="C0",
        alpha=0.12,
        label=f"central {level:.0%} of runs",
        zorder=0,
    )
    ax.axvline(median, color="C0", linestyle="--", label="median")
    title = (
        f"Posterior predictive final {reporter}: {len(frame)} runs\n"
        f"weighted median {_fmt(median)}, central {level:.0%} "
        f"[{_fmt(low)}, {_fmt(high)}]"
    )
    if observed is not None and len(observed):
        last = observed.sort_values("Step") if "Step" in observed.columns else observed
        value = float(last[reporter].iloc[-1])
        ax.axvline(value, color="black", linewidth=2, label="observed")
        title += f"; observed {_fmt(value)}"
    ax.set_xlabel(f"final {reporter}")
    ax.set_ylabel("density")
    ax.set_title(title)
    ax.legend(fontsize="small")
    return figure


# --- history --------------------------------------------------------------------


def history_figure(history: pd.DataFrame, method: str) -> Figure:
    """How a calibration went.

    ``method="abc"``: the ABC-SMC history (``generation``, ``tolerance``,
    ``acceptance``, ``runs``): the tolerance per generation on a log scale
    (generation 0, drawn from the prior, has none) above the acceptance
    rate. ``method="optimize"``: the trials table (``trial``, ``value``,
    ``state``): every trial's value as a point and the best value so far
    against trials; or the batch history (``trials`` per batch, ``best``):
    the best value so far.
    """
    if method == "abc":
        return _abc_history(history)
    if method == "optimize":
        if "value" in history.columns:
            return _trials_history(history)
        return _batch_history(history)
    raise ParameterError(f"method must be 'abc' or 'optimize', got {method!r}.")


def _abc_history(history: pd.DataFrame) -> Figure:
    from matplotlib.ticker import MaxNLocator, PercentFormatter

    _require(history, ["generation", "tolerance", "acceptance"], "ABC history")
    figure, grid = _figure(2, 1, (6.4, 5.2), sharex=True)
    top, bottom = grid[0, 0], grid[1, 0]
    generations = history["generation"].to_numpy()
    tolerance = history["tolerance"].to_numpy(dtype=float)
    shown = np.isfinite(tolerance) & (tolerance > 0)
    top.plot(generations[shown], tolerance[shown], "o-", color="C0")
    top.set_yscale("log")
    _plain_log_ticks(top, tolerance[shown])
    top.set_ylabel("tolerance")
    top.set_title(
        "distance accepted (log scale; generation 0 takes the prior's draws)",
        fontsize="medium",
    )
    bottom.plot(
        generations, history["acceptance"].to_numpy(dtype=float), "o-", color="C2"
    )
    bottom.set_ylim(0, 1.05)
    bottom.yaxis.set_major_formatter(PercentFormatter(1.0))
    bottom.set_ylabel("acceptance rate")
    bottom.set_xlabel("generation")
    bottom.xaxis.set_major_locator(MaxNLocator(integer=True))
    runs = f", {int(history['runs'].sum())} runs" if "runs" in history.columns else ""
    figure.suptitle(f"ABC-SMC: {len(history)} generations{runs}")
    return figure


def _scale(ax: Axes, values: np.ndarray) -> None:
    """A log y axis when the positive values span two decades or more."""
    values = values[np.isfinite(values)]
    if len(values) and values.min() > 0 and values.max() / values.min() >= _LOG_SPAN:
        ax.set_yscale("log")


def _trials_history(trials: pd.DataFrame) -> Figure:
    _require(trials, ["trial", "value"], "trials table")
    ordered = trials.sort_values("trial", kind="stable")
    values = ordered["value"].to_numpy(dtype=float)
    if "state" in ordered.columns:
        values = np.where(ordered["state"] == "COMPLETE", values, np.nan)
    number = np.arange(1, len(values) + 1)
    best = np.fmin.accumulate(values)  # nan until a first value
    figure, grid = _figure(1, 1, (7.0, 4.5))
    ax = grid[0, 0]
    ok = ~np.isnan(values)
    ax.plot(
        number[ok], values[ok], "o", color="C0", alpha=0.5, markersize=4, label="trial"
    )
    ax.plot(
        number,
        best,
        color="C3",
        linewidth=2,
        drawstyle="steps-post",
        label="best so far",
    )
    _scale(ax, values)
    failed = int((~ok).sum())
    note = f" ({failed} failed, not drawn)" if failed else ""
    head = f"best {_fmt(float(np.nanmin(values)))}" if ok.any() else "no value yet"
    ax.set_title(f"Optimisation: {head} after {len(values)} trials{note}")
    ax.set_xlabel("trials")
    ax.set_ylabel("value (mean distance)")
    ax.legend(fontsize="small")
    return figure


def _batch_history(history: pd.DataFrame) -> Figure:
    _require(history, ["trials", "best"], "optimisation history")
    told = np.cumsum(history["trials"].to_numpy())
    best = history["best"].to_numpy(dtype=float)
    figure, grid = _figure(1, 1, (7.0, 4.5))
    ax = grid[0, 0]
    ax.plot(told, best, "o-", color="C3", drawstyle="steps-post", label="best so far")
    _scale(ax, best)
    failed = int(history["failed"].sum()) if "failed" in history.columns else 0
    note = f" ({failed} failed)" if failed else ""
    ax.set_title(f"Optimisation: best value after each batch of trials{note}")
    ax.set_xlabel("trials")
    ax.set_ylabel("best value so far (mean distance)")
    ax.legend(fontsize="small")
    return figure


def _plain_log_ticks(ax: Axes, values: np.ndarray) -> None:
    """Log-scale y ticks as plain numbers (0.3, not 3e-01); within two
    decades, the minor ticks at 2, 3 and 5 times a power of ten too."""
    from matplotlib.ticker import FuncFormatter, NullFormatter

    def plain(value: float, _: Any) -> str:
        return f"{value:g}"

    def some(value: float, _: Any) -> str:
        lead = value / 10 ** math.floor(math.log10(value))
        return f"{value:g}" if any(math.isclose(lead, k) for k in (2, 3, 5)) else ""

    ax.yaxis.set_major_formatter(FuncFormatter(plain))
    narrow = len(values) and values.max() / values.min() < _LOG_SPAN
    ax.yaxis.set_minor_formatter(FuncFormatter(some) if narrow else NullFormatter())
