"""Draw the images of docs/plots.md (and of the section "Intervals, facets and
live plots" of docs/analysis.md) from real sweeps of mesa_nb's example models
and of a small SIR model written here.

Run from the repository root: ``python docs/make_plot_images.py`` (about 20 s).
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import mesa_nb
from mesa_nb.analysis.stats import BimodalWarning
from mesa_nb.examples import BoltzmannWealth, EconomicModel, Outbreak

IMG = Path(__file__).resolve().parent / "img"


def save(ax: plt.Axes, name: str) -> None:
    """Save the figure of ``ax`` as docs/img/<name>.png."""
    path = IMG / f"{name}.png"
    ax.figure.savefig(path, dpi=100)
    plt.close(ax.figure)
    print(f"wrote {path.relative_to(IMG.parent.parent)}")


def save_figure(figure: plt.Figure, name: str) -> None:
    """Save ``figure`` (small multiples) as docs/img/<name>.png."""
    save(figure.axes[0], name)


def main() -> None:
    IMG.mkdir(exist_ok=True)
    # Every step kept: 3 sizes x 2 grid widths x 8 replicates, 100 steps.
    boltzmann = mesa_nb.sweep(
        BoltzmannWealth,
        {"n": [25, 50, 100], "width": [5, 10], "height": 10},
        iterations=8,
        max_steps=100,
        data_collection_period=1,
        processes=2,
        seed=42,
    )
    print(boltzmann.summary())
    save(boltzmann.plot.lines("Gini", by="n"), "plot_lines")
    save(boltzmann.plot.agents("Wealth", by="n"), "plot_agents")
    # No hidden pooling: one panel per grid width, one line per n.
    facets = boltzmann.plot.lines("Gini", by="n", facet="width")
    save_figure(facets[0].figure, "plots-facets")

    # Final states only: 4 tax rates x 3 volatilities x 4 replicates.
    economy = mesa_nb.sweep(
        EconomicModel,
        {
            "taxation_rate": [0, 0.02, 0.05, 0.1],
            "market_volatility": [0, 0.25, 0.5],
            "n_agents": 50,
            "width": 10,
            "height": 10,
        },
        iterations=4,
        max_steps=60,
        processes=2,
        seed=1,
    )
    print(economy.summary())
    save(
        economy.plot.final("Gini", "taxation_rate", hue="market_volatility"),
        "plot_final",
    )
    save(
        economy.plot.heatmap("Gini", "taxation_rate", "market_volatility"),
        "plot_heatmap",
    )
    # Four tax rates in each of three panels: ECDFs stay readable.
    ecdfs = economy.plot.agents("Wealth", by="taxation_rate", facet="market_volatility")
    save_figure(ecdfs[0].figure, "plots-agents-ecdf")

    # An epidemic that dies out or takes off: its attack rate is a share.
    epidemics = mesa_nb.sweep(
        Outbreak,
        {"r0": [1.5, 3.0], "population": 100},
        iterations=12,
        max_steps=15,
        data_collection_period=1,
        processes=1,
        seed=4,
    )
    print(epidemics.stats("attack_rate", final=True, interval="t"))
    print(epidemics.stats("attack_rate", final=True, bounds=(0, 1)))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(12, 4.6), sharey=True, layout="constrained"
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BimodalWarning)
        epidemics.plot.lines("attack_rate", runs=True, interval="t", ax=left)
        epidemics.plot.lines("attack_rate", runs=True, bounds=(0, 1), ax=right)
    left.set_title("interval='t'\n" + left.get_title(), fontsize="medium")
    right.set_title("bounds=(0, 1)\n" + right.get_title(), fontsize="medium")
    for ax in (left, right):
        ax.axhspan(-0.5, 0, color="0.9", zorder=0)
        ax.axhspan(1, 1.5, color="0.9", zorder=0)
        ax.set_ylim(-0.2, 1.2)
    save_figure(figure, "plots-intervals")
    live_plot_image()


def live_plot_image() -> None:
    """A live plot's figure mid-sweep: its title says how many runs it shows."""
    from mesa_nb.notebook.live import live_figure, progress_head

    some_done = threading.Event()
    live = mesa_nb.sweep(
        BoltzmannWealth,
        {"n": [25, 50, 100], "width": 10, "height": 10},
        iterations=8,
        max_steps=100,
        data_collection_period=1,
        processes=2,
        seed=42,
        background=True,
        on_progress=lambda event: event.done >= 9 and some_done.set(),
    )
    some_done.wait(120)
    snapshot = live.snapshot()
    figure = live_figure(
        snapshot, "lines", ("Gini",), {"by": "n"}, progress_head(snapshot, live.done())
    )
    live.cancel()
    path = IMG / "live-plot-runs.png"
    figure.savefig(path, dpi=100)
    print(f"wrote {path.relative_to(IMG.parent.parent)}")


if __name__ == "__main__":
    main()
