"""Draw the images of docs/analysis.md from a real sweep of EconomicModel.

Run from the repository root: ``python docs/make_analysis_images.py`` (about
30 s on 2 processes). It prints the tables the page quotes.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

import mesa_nb
from mesa_nb.designs import between, integers, lhs
from mesa_nb.examples import EconomicModel

IMG = Path(__file__).resolve().parent / "img"


def save(figure: plt.Figure, name: str) -> None:
    """Save ``figure`` as docs/img/<name>.png."""
    path = IMG / f"{name}.png"
    figure.savefig(path, dpi=100)
    plt.close(figure)
    print(f"wrote {path.relative_to(IMG.parent.parent)}")


def main() -> None:
    IMG.mkdir(exist_ok=True)
    pd.set_option("display.width", 120)
    pd.set_option("display.precision", 3)
    # A Latin hypercube of 150 points x 2 replicates, 60 steps each.
    design = lhs(
        {
            "taxation_rate": between(0.0, 0.1),
            "market_volatility": between(0.0, 0.5),
            "wealth_std": between(5.0, 60.0),
            "n_agents": integers(20, 100),
        },
        150,
        seed=1,
        fixed={"width": 10, "height": 10},
    )
    result = mesa_nb.sweep(
        EconomicModel, design, iterations=2, max_steps=60, processes=2, seed=1
    )
    print(result.summary())

    print(result.sensitivity("Gini", method="prcc"))
    print(result.sensitivity("Gini", method="src"))
    print(result.sensitivity("Gini", method="rbd_fast", seed=1))
    save(result.plot.sensitivity("Gini", method="prcc").figure, "analysis-prcc")

    print(result.discover("Gini > 0.3").T)
    print(result.discover("Gini > 0.3", method="trees", seed=1))
    figure, (left, right) = plt.subplots(
        1, 2, figsize=(13, 4.8), layout="constrained", width_ratios=[1, 1.1]
    )
    result.plot.discovery("Gini > 0.3", ax=left)
    result.plot.discovery("Gini > 0.3", kind="box", ax=right)
    save(figure, "analysis-prim")


if __name__ == "__main__":
    main()
