"""Quick plots: what is drawn is the data (lines, bands, error bars, cells, counts)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from models import Fragile, Money, step_number
from scipy import stats as scipy_stats

import mesa_nb
from mesa_nb.analysis import plots
from mesa_nb.analysis.plots import PlotAccessor
from mesa_nb.analysis.stats import replicate_stats
from mesa_nb.core.errors import ParameterError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

ITERATIONS = 3


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def money() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Money,
        {"n": [3, 6], "bonus": [0.0, 1.0]},
        iterations=ITERATIONS,
        max_steps=5,
        data_collection_period=1,
        seed=7,
    )


@pytest.fixture(scope="module")
def fragile() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Fragile,
        {"fail": [False, True]},
        iterations=2,
        max_steps=4,
        data_collection_period=1,
        seed=3,
    )


def hand_stats(frame: pd.DataFrame, keys: list[str], column: str) -> pd.DataFrame:
    """mean, t-interval of the mean, min and max, computed without mesa_nb."""
    grouped = frame.groupby(keys)[column]
    out = grouped.agg(["count", "mean", "std", "min", "max"])
    half = scipy_stats.t.ppf(0.975, out["count"] - 1) * out["std"]
    half = half / np.sqrt(out["count"])
    out["low"] = out["mean"] - half
    out["high"] = out["mean"] + half
    return out


def visible_lines(ax) -> list:
    return [line for line in ax.get_lines() if not line.get_label().startswith("_")]


def band_edges(collection, xs) -> tuple[list[float], list[float]]:
    """Lowest and highest y of a fill_between polygon at each x."""
    vertices = collection.get_paths()[0].vertices
    low = [vertices[vertices[:, 0] == x, 1].min() for x in xs]
    high = [vertices[vertices[:, 0] == x, 1].max() for x in xs]
    return low, high


def last_rows(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.sort_values(["RunId", "Step"]).groupby("RunId").tail(1)


# -- lines --------------------------------------------------------------------
def test_lines_draws_the_mean_per_value_of_the_first_swept_parameter(money) -> None:
    ax = plots.lines(money, "Max")
    drawn = visible_lines(ax)
    assert [line.get_label() for line in drawn] == ["n=3", "n=6"]
    expected = hand_stats(money.model, ["n", "Step"], "Max")
    for line, n in zip(drawn, [3, 6], strict=True):
        assert line.get_xdata().tolist() == [0, 1, 2, 3, 4, 5]
        np.testing.assert_allclose(line.get_ydata(), expected.loc[n, "mean"])
    # bonus is swept too: the mean lines average over it, and say so
    assert ax.get_title() == "Max over steps\npooled over bonus (0, 1)"
    assert ax.get_xlabel() == "Step"
    assert ax.get_ylabel() == "Max"
    legend = ax.get_legend()
    assert legend.get_title().get_text() == "n"
    assert [t.get_text() for t in legend.get_texts()] == [
        "n=3",
        "n=6",
        "95% CI of the mean (t)",
    ]


def test_lines_band_edges_are_the_confidence_interval(money) -> None:
    ax = plots.lines(money, "Max", by="bonus")
    model = money.model
    # Max is a count (bounds [0, inf) read from its values): the t-intervals
    # stay above 0, so they are Student's t
    expected = hand_stats(model, ["bonus", "Step"], "Max")
    assert [line.get_label() for line in visible_lines(ax)] == ["bonus=0", "bonus=1"]
    assert len(ax.collections) == 2
    for band, bonus in zip(ax.collections, [0.0, 1.0], strict=True):
        low, high = band_edges(band, range(6))
        wanted = expected.loc[bonus]
        # Step 0: every run has Max 1, so the interval has zero width
        np.testing.assert_allclose(low, wanted["low"].fillna(wanted["mean"]))
        np.testing.assert_allclose(high, wanted["high"].fillna(wanted["mean"]))
        assert max(np.subtract(high, low)) > 0
        assert min(low) >= 0


def test_early_stops_do_not_make_the_mean_saw_tooth() -> None:
    from models import StopsEarly

    # replicates of one point that stop at different steps (drawn per run)
    result = mesa_nb.sweep(
        StopsEarly,
        {"stop_at": lambda rng: int(rng.integers(3, 19))},
        iterations=8,
        max_steps=20,
        data_collection_period=5,
        seed=1,
    )
    assert result.runs["steps"].nunique() > 2
    stats = result.stats("Steps", by=[])
    # every run counts at every Step, its last value carried forward
    assert stats["count"].tolist() == [8] * len(stats)
    assert stats["mean"].is_monotonic_increasing  # no drop at Steps 7 and 12
    _, ax = plt.subplots()
    plots.lines(result, "Steps", by=None, ax=ax)
    (band,) = ax.collections
    low, high = band_edges(band, stats["Step"].tolist())
    assert low == list(stats["ci_low"])
    assert high == list(stats["ci_high"])
    assert min(low) >= 0  # a count's band stays within what was observed
    assert set(stats["interval"].dropna()) <= {"t", "t, clipped"}


def test_lines_minmax_band_and_runs(money) -> None:
    ax = plots.lines(money, "Max", band="minmax", runs=True)
    expected = hand_stats(money.model, ["n", "Step"], "Max")
    for band, n in zip(ax.collections, [3, 6], strict=True):
        low, high = band_edges(band, range(6))
        np.testing.assert_allclose(low, expected.loc[n, "min"])
        np.testing.assert_allclose(high, expected.loc[n, "max"])
    faint = [line for line in ax.get_lines() if line.get_label() == "_run"]
    assert len(faint) == len(money.runs) == 2 * 2 * ITERATIONS
    drawn_runs = sorted(tuple(line.get_ydata()) for line in faint)
    real_runs = sorted(
        tuple(rows["Max"].astype(float)) for _, rows in money.model.groupby("RunId")
    )
    assert drawn_runs == real_runs
    assert ax.get_legend().get_texts()[-1].get_text() == "min-max of runs"


def test_lines_without_band(money) -> None:
    ax = plots.lines(money, "Total", band=None)
    assert len(ax.collections) == 0
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n=3", "n=6"]
    assert ax.get_title() == "Total over steps\npooled over bonus (0, 1)"
    with pytest.raises(ValueError, match="band must be"):
        plots.lines(money, "Total", band="sd")


def test_lines_from_the_model_table_draws_the_same(money) -> None:
    from_result = plots.lines(money, "Max")
    from_frame = plots.lines(money.model, "Max")
    for a, b in zip(visible_lines(from_result), visible_lines(from_frame), strict=True):
        assert a.get_label() == b.get_label()
        np.testing.assert_array_equal(a.get_ydata(), b.get_ydata())


def test_lines_of_a_single_run() -> None:
    result = mesa_nb.sweep(
        Money, {"n": 4}, max_steps=3, data_collection_period=1, seed=1
    )
    ax = result.plot.lines("Max")
    (line,) = visible_lines(ax)
    assert line.get_label() == "Max"
    np.testing.assert_array_equal(line.get_ydata(), result.model["Max"].to_numpy())
    assert len(ax.collections) == 0  # no interval from one run
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["Max"]
    assert ax.get_legend().get_title().get_text() == ""


def test_lines_excludes_failed_runs_and_says_so(fragile) -> None:
    ax = fragile.plot.lines("Steps", runs=True)
    assert ax.get_title() == "Steps over steps (2 failed runs excluded)"
    assert [line.get_label() for line in visible_lines(ax)] == ["fail=False"]
    assert len([ln for ln in ax.get_lines() if ln.get_label() == "_run"]) == 2
    np.testing.assert_array_equal(visible_lines(ax)[0].get_ydata(), [0, 1, 2, 3, 4])


def test_unknown_names_list_the_available_ones(money) -> None:
    with pytest.raises(
        ParameterError, match=r"No model reporter 'Mx'\. Available: Total, Max, Steps"
    ):
        plots.lines(money, "Mx")
    with pytest.raises(ParameterError, match=r"No parameter 'm'\. Available: n, bonus"):
        plots.lines(money, "Max", by="m")
    with pytest.raises(ParameterError, match=r"No parameter 'z'\. Available: n, bonus"):
        plots.heatmap(money, "Max", "n", "z")
    with pytest.raises(
        ParameterError, match=r"No agent reporter 'Wealt'\. Available: Wealth"
    ):
        plots.agents(money, "Wealt")


# -- final --------------------------------------------------------------------
def test_final_error_bars_are_the_interval_of_the_final_means(money) -> None:
    ax = plots.final(money, "Max", "n", hue="bonus", interval="t")
    containers = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    assert len(containers) == 2
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "bonus=0",
        "bonus=1",
        "error bars: 95% CI of the mean (t)",
    ]
    assert ax.get_legend().get_title().get_text() == "bonus"
    expected = hand_stats(last_rows(money.model), ["bonus", "n"], "Max")
    # the two series are dodged sideways by 0.015 * (6 - 3), around the true x
    for container, bonus, shift in zip(
        containers, [0.0, 1.0], [-0.0225, 0.0225], strict=True
    ):
        wanted = expected.loc[bonus]
        points = container.lines[0].get_xydata()
        np.testing.assert_allclose(points[:, 0], [3 + shift, 6 + shift])
        np.testing.assert_allclose(points[:, 1], wanted["mean"])
        segments = container.lines[2][0].get_segments()
        np.testing.assert_allclose([s[0][1] for s in segments], wanted["low"])
        np.testing.assert_allclose([s[1][1] for s in segments], wanted["high"])
    assert ax.get_xlabel() == "n"
    assert ax.get_ylabel() == "final Max"
    assert ax.get_title() == "final Max vs n (mean, 95% CI)"


def test_final_with_categorical_values_from_a_dataframe() -> None:
    frame = pd.DataFrame(
        {
            "RunId": [0, 1, 2, 3],
            "iteration": [0, 0, 1, 1],
            "space": ["torus", "walls", "torus", "walls"],
            "Step": [9, 9, 9, 9],
            "Total": [1.0, 4.0, 3.0, 8.0],
        }
    )
    ax = plots.final(frame, "Total", "space", interval="t")
    assert [t.get_text() for t in ax.get_xticklabels()] == ["torus", "walls"]
    (container,) = ax.containers
    np.testing.assert_allclose(container.lines[0].get_xydata(), [[0, 2.0], [1, 6.0]])
    half = scipy_stats.t.ppf(0.975, 1) * np.sqrt(2) / np.sqrt(2)  # std sqrt(2), n 2
    segments = container.lines[2][0].get_segments()
    np.testing.assert_allclose(segments[0], [[0, 2 - half], [0, 2 + half]])
    np.testing.assert_allclose(segments[1], [[1, 6 - 2 * half], [1, 6 + 2 * half]])


# -- heatmap ------------------------------------------------------------------
def test_heatmap_cells_are_the_mean_final_values(money) -> None:
    ax = plots.heatmap(money, "Max", "n", "bonus")
    finals = last_rows(money.model)
    pivot = finals.pivot_table(index="bonus", columns="n", values="Max", aggfunc="mean")
    np.testing.assert_allclose(ax.images[0].get_array(), pivot.to_numpy())
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "6"]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["0", "1"]
    bottom, top = ax.get_ylim()
    assert bottom < top  # the first bonus value is the bottom row
    assert ax.get_xlabel() == "n"
    assert ax.get_ylabel() == "bonus"
    assert ax.get_title() == "mean final Max"
    colorbar = ax.images[0].colorbar
    assert colorbar.ax.get_ylabel() == "Max"
    annotations = sorted(float(t.get_text()) for t in ax.texts)
    np.testing.assert_allclose(annotations, np.sort(pivot.to_numpy(), axis=None), 1e-2)
    with pytest.raises(ParameterError, match="two different"):
        plots.heatmap(money, "Max", "n", "n")


# -- agents -------------------------------------------------------------------
def ecdf_at(line, value: float) -> float:
    """The height of a drawn ECDF at ``value``."""
    x, y = line.get_xdata(), line.get_ydata()
    return float(y[x <= value].max())


def test_agent_ecdfs_one_line_per_group(money) -> None:
    ax = plots.agents(money, "Wealth")
    drawn = visible_lines(ax)
    assert [line.get_label() for line in drawn] == ["n=3", "n=6"]
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["n=3", "n=6"]
    assert ax.get_legend().get_title().get_text() == "n"
    runs_per_n = 2 * ITERATIONS  # two bonus values
    last = money.agents[money.agents["Step"] == 5].merge(money.runs, on="RunId")
    for line, n in zip(drawn, [3, 6], strict=True):
        values = last.loc[last["n"] == n, "Wealth"].to_numpy(dtype=float)
        assert len(values) == n * runs_per_n  # every agent of every run
        assert line.get_drawstyle() == "steps-post"
        assert sorted(line.get_xdata()[1:]) == sorted(values)
        for value in np.unique(values):  # the share of agents at or below
            assert ecdf_at(line, value) == pytest.approx(np.mean(values <= value))
        assert line.get_ydata()[-1] == pytest.approx(1.0)
    assert ax.get_title() == "agents' Wealth at Step 5\npooled over bonus (0, 1)"
    assert ax.get_xlabel() == "Wealth"
    assert ax.get_ylabel() == "share of agents at or below"


def test_agent_step_histograms_are_shares_of_each_group(money) -> None:
    ax = plots.agents(money, "Wealth", kind="hist")
    outlines = [patch for patch in ax.patches if not patch.get_label().startswith("_")]
    assert [patch.get_label() for patch in outlines] == ["n=3", "n=6"]
    assert not [c for c in ax.containers if isinstance(c, BarContainer)]
    last = money.agents[money.agents["Step"] == 5].merge(money.runs, on="RunId")
    for outline, n in zip(outlines, [3, 6], strict=True):
        assert outline.get_fill() is False  # an outline, not filled bars
        # a step outline: (left edge, height) of each bin at vertices 1, 3, 5...
        xy = outline.get_xy()
        lefts, heights = xy[1:-1:2, 0], xy[1:-1:2, 1]
        # one bin per integer wealth, from 0.5 below it: its share of agents
        shares = last.loc[last["n"] == n, "Wealth"].value_counts(normalize=True)
        expected = [shares.get(round(left + 0.5), 0.0) for left in lefts]
        np.testing.assert_allclose(heights, expected)
        assert heights.sum() == pytest.approx(1.0)
    assert ax.get_ylabel() == "share of agents (all runs)"


def test_agent_distribution_at_a_chosen_step(money) -> None:
    ax = plots.agents(money, "Wealth", by="bonus", step=0)
    drawn = visible_lines(ax)
    assert len(drawn) == 2
    for line in drawn:  # everyone starts with 1: the ECDF jumps to 1 at 1
        assert set(line.get_xdata()) == {1.0}
        assert ecdf_at(line, 1.0) == 1.0
    assert ax.get_title() == "agents' Wealth at Step 0\npooled over n (3, 6)"
    with pytest.raises(ParameterError, match=r"No agent records at Step 99\. Kept"):
        plots.agents(money, "Wealth", step=99)


def test_agent_violins(money) -> None:
    ax = plots.agents(money, "Wealth", kind="violin")
    assert len(ax.collections) >= 2
    assert [t.get_text() for t in ax.get_xticklabels()] == ["3", "6"]
    assert ax.get_xlabel() == "n"
    assert ax.get_ylabel() == "Wealth"
    with pytest.raises(ValueError, match="kind must be"):
        plots.agents(money, "Wealth", kind="box")


class FragileMoney(Money):
    """Money that raises in its second step when ``fail`` is True."""

    def __init__(self, n: int = 3, fail: bool = False, rng=None) -> None:
        super().__init__(n=n, rng=rng)
        self.fail = fail

    def step(self) -> None:
        if self.fail and step_number(self) == 2:
            raise ZeroDivisionError("boom at step 2")
        super().step()


@pytest.fixture(scope="module")
def fragile_money() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        FragileMoney,
        {"n": [3, 4], "fail": [False, True]},
        iterations=2,
        max_steps=4,
        data_collection_period=1,
        seed=9,
    )


def test_every_plot_excludes_failed_runs_and_says_so(fragile_money) -> None:
    result = fragile_money
    assert result.n_failed == 4
    assert result.failures["error"].str.contains("boom at step 2").all()
    note = " (4 failed runs excluded)"

    ax = plots.agents(result, "Wealth", by="fail")
    (line,) = visible_lines(ax)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["fail=False"]
    assert len(line.get_xdata()) - 1 == 2 * (3 + 4)  # ok runs' agents
    assert ax.get_title() == f"agents' Wealth at Step 4{note}\npooled over n (3, 4)"

    ax = plots.final(result, "Total", "n", hue="fail")
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts[:2] == ["fail=False", "error bars: 95% CI of the mean (t)"]
    assert ax.get_title().endswith(note)

    ax = plots.heatmap(result, "Total", "fail", "n")
    # the fail=True column is blank: every run there failed
    cells = np.ma.filled(ax.images[0].get_array(), np.nan)
    np.testing.assert_array_equal(cells, [[3.0, np.nan], [4.0, np.nan]])
    assert [t.get_text() for t in ax.get_xticklabels()] == ["False", "True"]
    assert ax.get_title() == f"mean final Total{note}"


# -- the accessor -------------------------------------------------------------
def test_accessor_delegates_and_lists_the_helpers(money) -> None:
    accessor = money.plot
    assert isinstance(accessor, PlotAccessor)
    text = repr(accessor)
    for helper in (".lines(", ".final(", ".heatmap(", ".agents(", ".stats("):
        assert helper in text
    assert "model reporters: Total, Max, Steps" in text
    assert "agent reporters: Wealth" in text
    pd.testing.assert_frame_equal(
        accessor.stats("Max", final=True), replicate_stats(money, "Max", final=True)
    )
    _, given = plt.subplots()
    assert accessor.final("Max", "n", ax=given) is given
    assert accessor.heatmap("Max", "bonus", "n", ax=plt.subplots()[1]).get_title() == (
        "mean final Max"
    )
    lines_ax = accessor.lines("Max", "bonus")
    assert [ln.get_label() for ln in visible_lines(lines_ax)] == ["bonus=0", "bonus=1"]
    assert accessor.agents("Wealth", step=0).get_title() == (
        "agents' Wealth at Step 0\npooled over bonus (0, 1)"
    )
