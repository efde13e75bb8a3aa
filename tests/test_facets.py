"""No hidden pooling: by= and facet= (small multiples), the note naming the
parameters a plot pools over, agent distributions as ECDFs / step outlines."""

from __future__ import annotations

import mesa
import numpy as np
import pytest
from models import Coin

import mesa_nb
from mesa_nb.analysis import plots
from mesa_nb.core.errors import ParameterError

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import ErrorbarContainer  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore::mesa_nb.analysis.stats.BimodalWarning")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def gini(model: mesa.Model) -> float:
    wealth = np.sort([a.wealth for a in model.agents])
    n, total = len(wealth), wealth.sum()
    return float((2 * np.arange(1, n + 1) - n - 1) @ wealth / (n * total))


class Market(mesa.Model):
    """Coins change hands; with ``tax``, the richest gives one to the poorest
    now and then. ``noise`` changes nothing (a parameter to pool over)."""

    def __init__(self, n=4, tax=0.0, noise=0, rng=None) -> None:
        super().__init__(rng=rng)
        self.tax, self.noise = tax, noise
        for _ in range(n):
            Coin(self)
        self.datacollector = mesa.DataCollector(
            model_reporters={"Gini": gini},
            agent_reporters={"Wealth": "wealth"},
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.agents.shuffle_do("step")
        if self.random.random() < self.tax:
            ranked = sorted(self.agents, key=lambda a: a.wealth)
            if ranked[-1].wealth > 0:
                ranked[-1].wealth -= 1
                ranked[0].wealth += 1
        self.datacollector.collect(self)


@pytest.fixture(scope="module")
def market() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Market,
        {"n": [4, 8], "tax": [0.0, 0.3, 0.6, 0.9], "noise": [0, 1]},
        iterations=3,
        max_steps=6,
        data_collection_period=1,
        processes=1,
        seed=2,
    )


def labelled(lines) -> list:
    return [line for line in lines if not line.get_label().startswith("_")]


def test_lines_in_small_multiples(market) -> None:
    axes = plots.lines(market, "Gini", by="n", facet="tax")
    assert isinstance(axes, np.ndarray) and len(axes) == 4  # one panel a tax
    assert [ax.get_title() for ax in axes] == ["tax=0", "tax=0.3", "tax=0.6", "tax=0.9"]
    figure = axes[0].figure
    # four panels in rows of three: the two spare cells are hidden
    assert len([ax for ax in figure.axes if ax.get_visible()]) == 4
    model = market.model
    for ax, tax in zip(axes, [0.0, 0.3, 0.6, 0.9], strict=True):
        drawn = labelled(ax.get_lines())
        assert [line.get_label() for line in drawn] == ["n=4", "n=8"]
        for line, n in zip(drawn, [4, 8], strict=True):
            rows = model[(model["tax"] == tax) & (model["n"] == n)]
            # the mean over the replicates and over noise (pooled)
            np.testing.assert_allclose(
                line.get_ydata(), rows.groupby("Step")["Gini"].mean().to_numpy()
            )
        assert len(ax.collections) == 2  # a band per line
    # the panels share their axes, and one legend names the lines
    assert axes[0].get_shared_y_axes().joined(axes[0], axes[3])
    (legend,) = figure.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[:2] == ["n=4", "n=8"]
    assert texts[2].startswith("95% CI of the mean")
    assert legend.get_title().get_text() == "n"
    title = figure.get_suptitle().splitlines()
    assert title[:2] == ["Gini over steps", "pooled over noise (0, 1)"]


def test_the_title_names_the_pooled_parameters(market) -> None:
    # today's silent average: by one parameter, two others swept
    ax = plots.lines(market, "Gini", by="tax")
    assert ax.get_title().splitlines()[:2] == [
        "Gini over steps",
        "pooled over n (4, 8), noise (0, 1)",
    ]
    # every swept parameter shown: nothing pooled, no note
    one_noise = market.model[market.model["noise"] == 0]
    axes = plots.lines(one_noise, "Gini", by="tax", facet="n")
    assert "pooled" not in axes[0].figure.get_suptitle()
    ax = plots.final(market, "Gini", "tax", hue="n")
    assert ax.get_title().splitlines()[1] == "pooled over noise (0, 1)"
    ax = plots.heatmap(market, "Gini", "tax", "noise")
    assert ax.get_title().splitlines()[1] == "pooled over n (4, 8)"
    ax = plots.agents(market, "Wealth", by="n", facet="tax")[0]
    assert ax.figure.get_suptitle().splitlines()[1] == "pooled over noise (0, 1)"
    # more than four values: counted, not listed
    many = market.model.assign(noise=market.model["RunId"] % 6)
    ax = plots.lines(many, "Gini", by="n")
    assert "noise (6 values)" in ax.get_title()


def test_final_in_small_multiples(market) -> None:
    axes = plots.final(market, "Gini", "tax", hue="n", facet="noise")
    assert [ax.get_title() for ax in axes] == ["noise=0", "noise=1"]
    finals = market.model.sort_values("Step").groupby("RunId").tail(1)
    for ax, noise in zip(axes, [0, 1], strict=True):
        bars = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
        assert len(bars) == 2  # one series a value of n
        for container, n in zip(bars, [4, 8], strict=True):
            points = container.lines[0].get_xydata()
            rows = finals[(finals["noise"] == noise) & (finals["n"] == n)]
            np.testing.assert_allclose(
                points[:, 1], rows.groupby("tax")["Gini"].mean().to_numpy()
            )
    (legend,) = axes[0].figure.legends
    texts = [t.get_text() for t in legend.get_texts()]
    assert texts[:2] == ["n=4", "n=8"]
    assert texts[2].startswith("error bars: 95% CI of the mean")


def test_agent_ecdfs_per_group_stay_readable_with_four_groups(market) -> None:
    ax = plots.agents(market, "Wealth", by="tax")
    drawn = labelled(ax.get_lines())
    assert [line.get_label() for line in drawn] == [
        "tax=0",
        "tax=0.3",
        "tax=0.6",
        "tax=0.9",
    ]
    agents = market.agents.merge(market.runs[["RunId", "tax"]], on="RunId")
    last = agents[agents["Step"] == 6]
    for line, tax in zip(drawn, [0.0, 0.3, 0.6, 0.9], strict=True):
        values = np.sort(last.loc[last["tax"] == tax, "Wealth"].to_numpy(float))
        np.testing.assert_array_equal(np.sort(line.get_xdata()[1:]), values)
        assert line.get_ydata()[-1] == pytest.approx(1.0)
    assert len({line.get_color() for line in drawn}) == 4


def test_agents_in_small_multiples(market) -> None:
    axes = plots.agents(market, "Wealth", by="n", facet="tax", kind="hist")
    assert [ax.get_title() for ax in axes] == ["tax=0", "tax=0.3", "tax=0.6", "tax=0.9"]
    for ax in axes:  # one outline a value of n, in every panel
        outlines = [p for p in ax.patches if not p.get_label().startswith("_")]
        assert [p.get_label() for p in outlines] == ["n=4", "n=8"]
    axes = plots.agents(market, "Wealth", by="n", facet="noise", kind="ecdf")
    for ax in axes:
        assert [line.get_label() for line in labelled(ax.get_lines())] == [
            "n=4",
            "n=8",
        ]
    axes = plots.agents(market, "Wealth", by="n", facet="noise", kind="violin")
    assert [t.get_text() for t in axes[1].get_xticklabels()] == ["4", "8"]


def test_facets_on_a_given_figure_or_axes(market) -> None:
    figure = plt.figure(layout="constrained")
    axes = plots.lines(market, "Gini", by="n", facet="noise", ax=figure)
    assert axes[0].figure is figure and len(axes) == 2
    _, given = plt.subplots(1, 2)
    axes = plots.final(market, "Gini", "tax", facet="n", ax=given)
    assert list(axes) == list(given)
    with pytest.raises(ValueError, match="facet= draws 4 panels; ax= gives 2"):
        plots.lines(market, "Gini", facet="tax", ax=given)


def test_facet_mistakes(market) -> None:
    with pytest.raises(ParameterError, match="by and facet must be two different"):
        plots.lines(market, "Gini", by="n", facet="n")
    with pytest.raises(ParameterError, match=r"No parameter 'taxes'"):
        plots.lines(market, "Gini", facet="taxes")
    with pytest.raises(ParameterError, match="twice"):
        plots.final(market, "Gini", "tax", facet="tax")
    with pytest.raises(ParameterError, match=r"No parameter 'colour'"):
        plots.agents(market, "Wealth", facet="colour")
    # the default by is the first swept parameter that is not the facet
    axes = plots.lines(market, "Gini", facet="n")
    assert labelled(axes[0].get_lines())[0].get_label() == "tax=0"
