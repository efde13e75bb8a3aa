"""Calibration plots: what is drawn is the weighted posterior, its predictions
and the history (values checked against numbers computed here)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from mesa_nb.calibration.abc import weighted_quantile
from mesa_nb.calibration.plots import (
    history_figure,
    posterior_figure,
    predictive_figure,
)
from mesa_nb.core.errors import ParameterError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection, PolyCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

RED = matplotlib.colors.to_rgba("C3")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _quantiles(values: np.ndarray, counts: np.ndarray, q: list[float]) -> np.ndarray:
    """Quantiles of integer-weighted values: each value repeated ``count`` times."""
    return np.quantile(np.repeat(values, counts), q, method="inverted_cdf")


def _particles(n: int = 400, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    return pd.DataFrame(
        {
            "x": rng.normal(1.0, 0.3, n),
            "y": rng.normal(-2.0, 0.5, n),
            "weight": rng.integers(1, 6, n).astype(float),
        }
    )


def _drawn(figure) -> list:
    """The Axes with something drawn (not the empty upper triangle)."""
    return [ax for ax in figure.axes if ax.axison]


def _bars(ax) -> list[Rectangle]:
    """The bars of the Axes' one histogram or bar chart."""
    (container,) = ax.containers
    return list(container.patches)


def _vlines(ax, color=RED) -> list[float]:
    """x of the vertical lines of ``color`` drawn across the Axes."""
    return [
        line.get_xdata()[0]
        for line in ax.lines
        if len(line.get_xdata()) == 2
        and line.get_xdata()[0] == line.get_xdata()[1]
        and matplotlib.colors.to_rgba(line.get_color()) == color
    ]


def test_weighted_quantile_is_the_repeated_sample_quantile() -> None:
    rng = np.random.default_rng(1)
    values = rng.normal(size=50)
    counts = rng.integers(1, 7, 50)
    q = [0.0, 0.05, 0.25, 0.5, 0.9, 0.95, 1.0]
    np.testing.assert_array_equal(
        weighted_quantile(values, counts.astype(float), q),
        _quantiles(values, counts, q),
    )


def test_posterior_corner_plot() -> None:
    posterior = _particles()
    weights = posterior["weight"].to_numpy()
    counts = weights.astype(int)
    bounds = {"x": (-5.0, 5.0), "y": (-6.0, 4.0)}
    figure = posterior_figure(
        posterior, ["x", "y"], truth={"x": 1.1, "y": -1.9}, bounds=bounds, bins=20
    )
    fignums = plt.get_fignums()
    assert not any(plt.figure(n) is figure for n in fignums)  # outside pyplot
    assert len(figure.axes) == 4
    assert len(_drawn(figure)) == 3  # two marginals, one pair
    grid = np.array(figure.axes).reshape(2, 2)
    assert not grid[0, 1].axison
    legend = [t.get_text() for t in grid[0, 1].get_legend().get_texts()]
    assert legend == ["posterior", "90% credible interval", "weighted mean", "truth"]

    for k, name in enumerate(["x", "y"]):
        ax = grid[k, k]
        values = posterior[name].to_numpy()
        edges = np.linspace(values.min(), values.max(), 21)  # over the particles
        heights, _ = np.histogram(values, edges, weights=weights, density=True)
        drawn = [bar.get_height() for bar in _bars(ax)]
        np.testing.assert_allclose(drawn, heights)
        assert ax.get_xlim() == pytest.approx(bounds[name])
        assert _vlines(ax) == [pytest.approx({"x": 1.1, "y": -1.9}[name])]
        mean = np.average(values, weights=weights)
        low, high = _quantiles(values, counts, [0.05, 0.95])
        assert ax.get_title() == f"{name} = {mean:.3g} [{low:.3g}, {high:.3g}]"

    pair = grid[1, 0]
    (points,) = [c for c in pair.collections if isinstance(c, PathCollection)]
    order = np.argsort(weights, kind="stable")
    np.testing.assert_allclose(
        points.get_offsets(), posterior[["x", "y"]].to_numpy()[order]
    )
    alphas = points.get_facecolors()[:, 3]
    assert (np.diff(alphas) >= 0).all()  # heavier particles more opaque
    assert alphas[-1] > alphas[0]
    truth_points = [line for line in pair.lines if line.get_marker() == "o"]
    assert [(p.get_xdata()[0], p.get_ydata()[0]) for p in truth_points] == [(1.1, -1.9)]
    assert pair.get_xlim() == pytest.approx(bounds["x"])
    assert pair.get_ylim() == pytest.approx(bounds["y"])
    assert pair.get_xlabel() == "x"
    assert pair.get_ylabel() == "y"

    ess = weights.sum() ** 2 / (weights**2).sum()
    title = figure.get_suptitle()
    assert f"400 particles, effective sample size {ess:.0f}" in title
    assert "90% credible interval" in title


def test_one_parameter_is_one_axes() -> None:
    posterior = _particles()[["x", "weight"]]
    figure = posterior_figure(posterior, ["x"])
    (ax,) = figure.axes
    weights = posterior["weight"].to_numpy()
    mean = np.average(posterior["x"], weights=weights)
    low, high = _quantiles(posterior["x"].to_numpy(), weights.astype(int), [0.05, 0.95])
    assert f"weighted mean {mean:.3g}" in ax.get_title()
    assert f"90% credible interval [{low:.3g}, {high:.3g}]" in ax.get_title()
    assert ax.get_xlim() == pytest.approx((posterior["x"].min(), posterior["x"].max()))
    labels = ax.get_legend_handles_labels()[1]
    assert labels == ["posterior", "90% credible interval", "weighted mean"]


def test_whole_numbers_get_unit_bins_and_choices_bars() -> None:
    posterior = pd.DataFrame(
        {
            "k": [1, 2, 2, 3, 3, 3],
            "c": ["b", "a", "a", "b", "b", "a"],
            "weight": [1.0, 1.0, 1.0, 1.0, 1.0, 3.0],
        }
    )
    figure = posterior_figure(posterior, ["k", "c"], bounds={"k": (0, 4)})
    assert figure.axes[0].get_xlim() == (-0.5, 4.5)  # the support, whole values
    grid = np.array(figure.axes).reshape(2, 2)
    bars = _bars(grid[0, 0])
    centres = [bar.get_x() + bar.get_width() / 2 for bar in bars]
    assert centres == [1, 2, 3]
    heights = np.array([1, 2, 5]) / 8  # weights per value; unit-wide bins
    np.testing.assert_allclose([bar.get_height() for bar in bars], heights)
    shares = [bar.get_height() for bar in _bars(grid[1, 1])]
    np.testing.assert_allclose(shares, [5 / 8, 3 / 8])  # a, b
    assert [t.get_text() for t in grid[1, 1].get_xticklabels()] == ["a", "b"]
    assert grid[1, 1].get_title() == "c = most probable a (62%)"


def test_posterior_names_what_is_missing() -> None:
    with pytest.raises(ParameterError, match="'z'"):
        posterior_figure(_particles(), ["x", "z"])
    bad = _particles().assign(weight=-1.0)
    with pytest.raises(ParameterError, match="weight"):
        posterior_figure(bad, ["x"])


def _series_runs(n: int = 30, steps: int = 12) -> pd.DataFrame:
    rng = np.random.default_rng(2)
    rows = []
    for run in range(n):
        rate, weight = rng.uniform(0.5, 1.5), float(rng.integers(1, 5))
        for step in range(steps):
            value = rate * step + rng.normal(0, 0.5)
            rows.append({"RunId": run, "Step": step, "I": value, "weight": weight})
    return pd.DataFrame(rows)


def test_predictive_band_over_steps() -> None:
    runs = _series_runs()
    observed = pd.DataFrame({"Step": [0, 4, 8, 11], "I": [0.2, 4.1, 7.9, 11.5]})
    figure = predictive_figure(runs, "I", observed, level=0.8)
    (ax,) = figure.axes
    (band,) = [c for c in ax.collections if isinstance(c, PolyCollection)]
    vertices = band.get_paths()[0].vertices
    median = next(line for line in ax.lines if line.get_label() == "median")
    for step, rows in runs.groupby("Step"):
        values = rows["I"].to_numpy()
        counts = rows["weight"].to_numpy().astype(int)
        low, mid, high = _quantiles(values, counts, [0.1, 0.5, 0.9])
        at = vertices[np.isclose(vertices[:, 0], step)][:, 1]
        assert at.min() == pytest.approx(low)
        assert at.max() == pytest.approx(high)
        assert median.get_ydata()[step] == pytest.approx(mid)
    drawn = next(line for line in ax.lines if line.get_label() == "observed")
    np.testing.assert_array_equal(drawn.get_xdata(), observed["Step"])
    np.testing.assert_array_equal(drawn.get_ydata(), observed["I"])
    assert ax.get_xlabel() == "Step"
    assert ax.get_ylabel() == "I"
    assert "30 runs" in ax.get_title()
    assert "80% band" in ax.get_title()


def test_predictive_marks_a_final_observed_value_at_the_last_step() -> None:
    observed = pd.DataFrame({"Step": [None], "I": [9.5]})
    figure = predictive_figure(_series_runs(), "I", observed)
    (ax,) = figure.axes
    final = next(
        line for line in ax.lines if line.get_label() == "observed final value"
    )
    assert (final.get_xdata()[0], final.get_ydata()[0]) == (11, 9.5)


def test_predictive_of_final_values_is_a_histogram() -> None:
    rng = np.random.default_rng(3)
    runs = pd.DataFrame(
        {
            "RunId": range(200),
            "Step": 50,
            "R": rng.normal(0.4, 0.05, 200),
            "weight": rng.integers(1, 4, 200).astype(float),
        }
    )
    observed = pd.DataFrame({"Step": [50], "R": [0.42]})
    figure = predictive_figure(runs, "R", observed)
    (ax,) = figure.axes
    values, weights = runs["R"].to_numpy(), runs["weight"].to_numpy()
    heights, _ = np.histogram(
        values,
        np.linspace(values.min(), values.max(), 31),
        weights=weights,
        density=True,
    )
    np.testing.assert_allclose([b.get_height() for b in _bars(ax)], heights)
    assert _vlines(ax, color=(0.0, 0.0, 0.0, 1.0)) == [0.42]
    low, mid, high = _quantiles(values, weights.astype(int), [0.05, 0.5, 0.95])
    assert f"weighted median {mid:.3g}" in ax.get_title()
    assert f"[{low:.3g}, {high:.3g}]" in ax.get_title()
    assert "observed 0.42" in ax.get_title()


def test_predictive_names_what_is_missing() -> None:
    with pytest.raises(ParameterError, match="'Q'"):
        predictive_figure(_series_runs(), "Q")


def test_abc_history() -> None:
    history = pd.DataFrame(
        {
            "generation": [0, 1, 2, 3],
            "tolerance": [np.inf, 2.0, 0.8, 0.3],
            "runs": [100, 220, 410, 900],
            "acceptance": [1.0, 0.45, 0.24, 0.11],
        }
    )
    figure = history_figure(history, "abc")
    top, bottom = figure.axes
    (tolerance,) = top.lines
    np.testing.assert_array_equal(tolerance.get_xdata(), [1, 2, 3])
    np.testing.assert_array_equal(tolerance.get_ydata(), [2.0, 0.8, 0.3])
    assert top.get_yscale() == "log"
    (acceptance,) = bottom.lines
    np.testing.assert_array_equal(acceptance.get_xdata(), [0, 1, 2, 3])
    np.testing.assert_array_equal(acceptance.get_ydata(), history["acceptance"])
    assert bottom.get_xlabel() == "generation"
    assert figure.get_suptitle() == "ABC-SMC: 4 generations, 1630 runs"


def test_optimize_history_of_trials() -> None:
    trials = pd.DataFrame(
        {
            "trial": [0, 1, 2, 3, 4, 5],
            "batch": [0, 0, 0, 1, 1, 1],
            "value": [500.0, np.nan, 30.0, 40.0, 2.0, 3.0],
            "state": [
                "COMPLETE",
                "FAIL",
                "COMPLETE",
                "COMPLETE",
                "COMPLETE",
                "COMPLETE",
            ],
        }
    )
    figure = history_figure(trials, "optimize")
    (ax,) = figure.axes
    points = next(line for line in ax.lines if line.get_label() == "trial")
    np.testing.assert_array_equal(points.get_xdata(), [1, 3, 4, 5, 6])
    np.testing.assert_array_equal(points.get_ydata(), [500, 30, 40, 2, 3])
    best = next(line for line in ax.lines if line.get_label() == "best so far")
    np.testing.assert_array_equal(best.get_ydata(), [500, 500, 30, 30, 2, 2])
    assert ax.get_yscale() == "log"  # 500 / 2 spans more than two decades
    assert ax.get_title() == "Optimisation: best 2 after 6 trials (1 failed, not drawn)"


def test_optimize_history_of_batches() -> None:
    history = pd.DataFrame(
        {
            "batch": [0, 1, 2],
            "trials": [8, 8, 4],
            "best": [5.0, 3.0, 2.5],
            "failed": [0, 2, 0],
        }
    )
    (ax,) = history_figure(history, "optimize").axes
    (line,) = ax.lines
    np.testing.assert_array_equal(line.get_xdata(), [8, 16, 20])
    np.testing.assert_array_equal(line.get_ydata(), [5.0, 3.0, 2.5])
    assert ax.get_yscale() == "linear"
    assert "(2 failed)" in ax.get_title()


def test_history_needs_a_known_method() -> None:
    with pytest.raises(ParameterError, match="method"):
        history_figure(pd.DataFrame(), "grid")
