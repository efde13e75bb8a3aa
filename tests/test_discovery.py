"""Scenario discovery: PRIM boxes and feature scores find the region a model's
outcome comes from, on LHS samples, grids and loaded stores; conditions are
parsed, never evaluated."""

from __future__ import annotations

import mesa
import numpy as np
import pandas as pd
import pytest

import mesa_nb
from mesa_nb.analysis import discover
from mesa_nb.analysis.discovery import final_values, find, parse_condition
from mesa_nb.designs import between, integers, lhs, one_of

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.collections import PathCollection  # noqa: E402
from matplotlib.container import BarContainer  # noqa: E402

RANGES = {"a": between(0, 1), "b": between(0, 1), "c": between(0, 1)}


class Region(mesa.Model):
    """Outcome is about 1 exactly when a > 0.5 and b < 0.3 (and kind is 'x'
    when ``strict``), about 0 elsewhere; noise from the model's rng."""

    def __init__(self, a=0.0, b=0.0, c=0.0, k=1, kind="x", strict=False, rng=None):
        super().__init__(rng=rng)
        inside = a > 0.5 and b < 0.3 and (kind == "x" or not strict)
        self.outcome = float(inside) + self.rng.normal(0.0, 0.05)
        self.inside = inside
        self.datacollector = mesa.DataCollector(
            model_reporters={"Outcome": "outcome", "Inside": "inside"}
        )
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class TwoCorners(mesa.Model):
    """High in two separate regions: a > 0.6 and b > 0.5, a < 0.25 and b < 0.25."""

    def __init__(self, a=0.0, b=0.0, rng=None):
        super().__init__(rng=rng)
        self.y = float((a > 0.6 and b > 0.5) or (a < 0.25 and b < 0.25))
        self.datacollector = mesa.DataCollector(model_reporters={"y": "y"})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def region() -> mesa_nb.SweepResult:
    """400 LHS points of a, b, c."""
    return mesa_nb.sweep(Region, lhs(RANGES, 400, seed=2), max_steps=1, seed=1)


def assert_the_region(box: pd.Series) -> None:
    assert box["restricted"] == ("a", "b")
    assert box["a_min"] == pytest.approx(0.5, abs=0.05)
    assert box["b_max"] == pytest.approx(0.3, abs=0.05)
    assert box["a_max"] > 0.95 and box["b_min"] < 0.05  # the range's ends
    assert box["c_min"] < 0.05 and box["c_max"] > 0.95  # c not restricted


# -- PRIM -----------------------------------------------------------------------------
def test_prim_finds_the_box_the_outcome_comes_from(region):
    boxes = region.discover("Outcome > 0.5")
    assert list(boxes.columns) == [
        "coverage",
        "density",
        "mass",
        "runs",
        "cases",
        "restricted",
        "a_min",
        "a_max",
        "b_min",
        "b_max",
        "c_min",
        "c_max",
    ]
    assert list(boxes.index) == [1] and boxes.index.name == "box"
    box = boxes.loc[1]
    assert_the_region(box)
    # coverage and density are what the runs inside the box say
    final = final_values(region)
    inside = (
        final["a"].between(box["a_min"], box["a_max"])
        & final["b"].between(box["b_min"], box["b_max"])
        & final["c"].between(box["c_min"], box["c_max"])
    )
    cases = final["Outcome"] > 0.5
    assert box["runs"] == inside.sum() and box["cases"] == (inside & cases).sum()
    assert box["coverage"] == pytest.approx((inside & cases).sum() / cases.sum())
    assert box["density"] == pytest.approx((inside & cases).sum() / inside.sum())
    assert box["mass"] == pytest.approx(inside.mean())
    assert box["coverage"] > 0.9 and box["density"] > 0.9
    assert boxes.attrs["cases"] == cases.sum() and boxes.attrs["runs"] == 400


def test_a_function_of_the_final_values_is_a_condition(region):
    seen = {}

    def high(frame: pd.DataFrame) -> pd.Series:
        seen["columns"] = list(frame.columns)
        seen["index"] = frame.index.name
        return frame["Outcome"] > 0.5

    boxes = discover(region, high)
    assert seen == {"columns": ["a", "b", "c", "Outcome", "Inside"], "index": "RunId"}
    pd.testing.assert_frame_equal(boxes, region.discover("Outcome > 0.5"))
    assert boxes.attrs["condition"] == "high"
    by_flag = region.discover("Inside")  # a boolean reporter on its own
    assert by_flag.attrs["cases"] == final_values(region)["Inside"].sum()
    with pytest.raises(mesa_nb.ParameterError, match="one boolean per row"):
        region.discover(lambda f: [True, False])
    with pytest.raises(mesa_nb.ParameterError, match="must return booleans"):
        region.discover(lambda f: f["Outcome"])


def test_prim_keeps_categories_and_whole_numbers_as_they_are():
    ranges = {**RANGES, "k": integers(1, 4), "kind": one_of("x", "y")}
    result = mesa_nb.sweep(
        Region, lhs(ranges, 600, seed=3, fixed={"strict": True}), max_steps=1
    )
    boxes = result.discover("Outcome > 0.5")
    box = boxes.loc[1]
    assert box["kind"] == ("x",)
    assert set(box["restricted"]) == {"a", "b", "kind"}
    assert box["a_min"] == pytest.approx(0.5, abs=0.05)
    assert box["b_max"] == pytest.approx(0.3, abs=0.05)
    assert (box["k_min"], box["k_max"]) == (1, 4)
    assert isinstance(box["k_min"], int | np.integer)


def test_more_boxes_find_a_second_region_and_min_coverage_picks_on_the_trajectory():
    result = mesa_nb.sweep(
        TwoCorners, lhs({"a": between(0, 1), "b": between(0, 1)}, 400, seed=1)
    )
    boxes = result.discover("y > 0.5", max_boxes=3)
    assert len(boxes) == 2  # a third box would be no denser than the rest
    first, second = boxes.loc[1], boxes.loc[2]
    assert first["a_min"] == pytest.approx(0.6, abs=0.05)
    assert first["b_min"] == pytest.approx(0.5, abs=0.05)
    assert second["a_max"] == pytest.approx(0.25, abs=0.05)
    assert second["b_max"] == pytest.approx(0.25, abs=0.05)
    assert boxes["coverage"].sum() == pytest.approx(1.0, abs=0.05)

    found = find(result, "y > 0.5", min_coverage=0.9)
    (trajectory,) = found.trajectories
    kept = trajectory[trajectory["chosen"]].iloc[0]
    assert kept["coverage"] >= 0.9
    covering = trajectory[trajectory["coverage"] >= 0.9]
    assert kept["density"] == covering["density"].max()
    assert found.table.loc[1, "coverage"] == pytest.approx(kept["coverage"])


def test_a_grid_and_a_loaded_store_are_analysed(tmp_path):
    values = [0.05, 0.15, 0.25, 0.35, 0.45, 0.55, 0.65, 0.75, 0.85, 0.95]
    grid = mesa_nb.sweep(
        Region,
        {"a": values, "b": values, "c": [0.0, 1.0]},
        max_steps=1,
        store=tmp_path / "grid",
    )
    box = grid.discover("Outcome > 0.5").loc[1]
    assert box["restricted"] == ("a", "b")
    assert 0.45 < box["a_min"] <= 0.55 and 0.25 <= box["b_max"] < 0.35
    assert box["coverage"] == 1.0 and box["density"] == 1.0
    loaded = mesa_nb.load_store(tmp_path / "grid")
    pd.testing.assert_frame_equal(
        loaded.discover("Outcome > 0.5"), grid.discover("Outcome > 0.5")
    )
    pd.testing.assert_frame_equal(
        loaded.discover("Outcome > 0.5", method="trees", seed=1),
        grid.discover("Outcome > 0.5", method="trees", seed=1),
    )


# -- feature scores -------------------------------------------------------------------
def test_feature_scores_rank_the_parameters_that_matter(region):
    scores = region.discover("Outcome > 0.5", method="trees", seed=1)
    assert list(scores.columns) == ["score", "score_std"]
    assert scores.index.name == "parameter"
    assert set(scores.index[:2]) == {"a", "b"} and scores.index[-1] == "c"
    assert scores["score"].sum() == pytest.approx(1.0)
    assert scores.loc["c", "score"] < 0.5 * scores.loc[["a", "b"], "score"].min()
    same = region.discover("Outcome > 0.5", method="scores", seed=1)
    pd.testing.assert_frame_equal(same, scores)


# -- conditions -----------------------------------------------------------------------
FRAME = pd.DataFrame(
    {
        "Gini": [0.1, 0.5, 0.7, 0.9],
        "rate": [0.0, 0.1, 0.2, 0.3],
        "market": ["calm", "wild", "calm", "wild"],
        "Mean Wealth": [10.0, 20.0, 30.0, 40.0],
        "Done": [True, False, True, True],
    }
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Gini > 0.6", [False, False, True, True]),
        ("Gini>=0.5", [False, True, True, True]),
        ("0.2 <= Gini < 0.8", [False, True, True, False]),
        ("Gini > 0.6 and rate < 0.25", [False, False, True, False]),
        ("Gini < 0.2 or rate > 0.25", [True, False, False, True]),
        ("(Gini < 0.2 | rate > 0.25) & market == 'wild'", [False, False, False, True]),
        ('market != "calm"', [False, True, False, True]),
        ("`Mean Wealth` > 25", [False, False, True, True]),
        ("Done and Gini > 0.5", [False, False, True, True]),
        ("Done == False", [False, True, False, False]),
        ("Gini > -1e-3", [True, True, True, True]),
        ("Gini > rate", [True, True, True, True]),
    ],
)
def test_conditions_are_parsed(text, expected):
    assert parse_condition(text, FRAME).tolist() == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("Gini >", "at its end: expected a reporter, a parameter or a number"),
        ("Gini 0.6", "expected a comparison operator"),
        ("Gini > 0.6 rate", "expected 'and', 'or' or the end"),
        ("(Gini > 0.6", r"expected '\)'"),
        ("Gni > 0.6", "No reporter or parameter 'Gni'.* Did you mean 'Gini'"),
        ("market > 'calm'", "compare categories with == or != only"),
        ("market > 3", "compare categories with == or != only"),
        ("Gini == 'high'", "compares text with a number"),
        ("3 > 2", "name a reporter or a parameter on one side"),
        ("__import__('os').system('true')", "Cannot read the condition"),
        ("__import__ > 1", "No reporter or parameter '__import__'"),
        ("Gini > 0.6; rate", "Cannot read the condition"),
        ("", "expected a comparison"),
    ],
)
def test_conditions_that_cannot_be_read_are_refused(text, message):
    with pytest.raises(mesa_nb.ParameterError, match=message):
        parse_condition(text, FRAME)


def test_missing_values_and_conditions_that_hold_nowhere_or_everywhere(region):
    with pytest.raises(mesa_nb.ParameterError, match=r"missing \(NaN\) in 1 runs"):
        parse_condition("Gini > 0.5", FRAME.assign(Gini=[0.1, None, 0.7, 0.9]))
    with pytest.raises(mesa_nb.ParameterError) as caught:
        region.discover("Outcome > 5")
    assert "holds in no run (Outcome from" in str(caught.value)
    with pytest.raises(mesa_nb.ParameterError, match="holds in every run"):
        region.discover("Outcome > -5")
    with pytest.raises(mesa_nb.ParameterError, match="No discovery method"):
        region.discover("Outcome > 0.5", method="cart")
    with pytest.raises(mesa_nb.ParameterError, match="no record at step 3"):
        region.discover("Outcome > 0.5", step=3)
    with pytest.raises(mesa_nb.ParameterError, match="No parameter 'd'"):
        region.discover("Outcome > 0.5", parameters=["a", "d"])
    boxes = region.discover("Outcome > 0.5", parameters=["a", "c"])
    assert [c for c in boxes.columns if c.endswith("_min")] == ["a_min", "c_min"]


# -- plots ----------------------------------------------------------------------------
def test_the_tradeoff_plot_draws_each_peeling_step(region):
    found = find(region, "Outcome > 0.5")
    (trajectory,) = found.trajectories
    ax = region.plot.discovery("Outcome > 0.5")
    steps, kept = [c for c in ax.collections if isinstance(c, PathCollection)]
    assert np.allclose(
        steps.get_offsets(), trajectory[["coverage", "density"]].to_numpy()
    )
    assert np.allclose(steps.get_array(), trajectory["restricted"])
    chosen = trajectory[trajectory["chosen"]]
    assert np.allclose(kept.get_offsets(), chosen[["coverage", "density"]])
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    box = found.table.loc[1]
    assert legend == [
        "box 1: peeling steps",
        f"box 1 kept: coverage {box['coverage']:.2f}, density {box['density']:.2f}",
        f"all runs: density {found.cases / found.runs:.2f}",
    ]
    (line,) = ax.get_lines()
    assert line.get_ydata()[0] == pytest.approx(found.cases / 400)
    assert [t.get_text() for t in ax.texts] == ["box 1"]
    assert ax.get_xlabel().startswith("coverage")
    assert ax.get_ylabel().startswith("density")
    assert ax.get_title() == f"PRIM: Outcome > 0.5 ({found.cases} of 400 runs)"
    colorbar = ax.figure.axes[-1]
    assert colorbar.get_ylabel() == "restricted parameters"


def test_the_box_plot_draws_the_bounds_on_each_range(region):
    boxes = region.discover("Outcome > 0.5")
    ax = region.plot.discovery("Outcome > 0.5", kind="box")
    assert [t.get_text() for t in ax.get_yticklabels()] == ["c", "b", "a"]
    bars = ax.collections  # one broken_barh per parameter, c at the bottom
    assert len(bars) == 3
    box = boxes.loc[1]
    ((a_left, a_width),) = [tuple(p) for p in _spans(bars[2])]
    assert a_left == pytest.approx((box["a_min"] - 0.0) / _span(region, "a"), abs=0.01)
    assert a_left + a_width == pytest.approx(1.0, abs=0.01)
    texts = [t.get_text() for t in ax.texts]
    assert texts == [
        f"{box['b_min']:.3g} to {box['b_max']:.3g}",
        f"{box['a_min']:.3g} to {box['a_max']:.3g}",
    ]
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert legend == ["box 1", "not restricted"]
    assert "coverage" in ax.get_title()


def _spans(collection) -> list[tuple[float, float]]:
    """(left, width) of each rectangle of a broken_barh collection."""
    out = []
    for path in collection.get_paths():
        xs = path.vertices[:, 0]
        out.append((xs.min(), xs.max() - xs.min()))
    return out


def _span(result, name: str) -> float:
    values = final_values(result)[name]
    return values.max() - values.min()


def test_the_feature_score_plot_draws_ranked_bars(region):
    scores = region.discover("Outcome > 0.5", method="trees", seed=4)
    ax = region.plot.discovery("Outcome > 0.5", method="trees", seed=4)
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert np.allclose([p.get_width() for p in bars.patches], scores["score"][::-1])
    assert [t.get_text() for t in ax.get_yticklabels()] == list(scores.index[::-1])
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "score (mean decrease in impurity)"
    ]
    assert ax.get_title().startswith("Feature scores: Outcome > 0.5")
    with pytest.raises(ValueError, match="kind= chooses a PRIM plot"):
        region.plot.discovery("Outcome > 0.5", method="trees", kind="box")
