"""Draw the images of docs/plots.md from real sweeps of mesa_nb's example models.

Run from the repository root: ``python docs/make_plot_images.py`` (about 10 s).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

import mesa_nb
from mesa_nb.examples import BoltzmannWealth, EconomicModel

IMG = Path(__file__).resolve().parent / "img"


def save(ax: plt.Axes, name: str) -> None:
    """Save the figure of ``ax`` as docs/img/<name>.png."""
    path = IMG / f"{name}.png"
    ax.figure.savefig(path, dpi=100)
    plt.close(ax.figure)
    print(f"wrote {path.relative_to(IMG.parent.parent)}")


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


if __name__ == "__main__":
    main()
