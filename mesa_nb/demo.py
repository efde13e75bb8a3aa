"""A demo sweep: ``python -m mesa_nb.demo``.

Sweeps the Boltzmann wealth model over the number of agents with replicates on
two worker processes, prints the summary and the mean final Gini per ``n``.
"""

from __future__ import annotations

import argparse

from .api import sweep
from .api.progress import progress_bar
from .examples import BoltzmannWealth


def main(argv: list[str] | None = None) -> None:
    """Run the demo sweep and print what it found."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--iterations", type=int, default=5)
    parser.add_argument("--max-steps", type=int, default=100)
    parser.add_argument("--seed", type=int, default=2024)
    args = parser.parse_args(argv)

    with progress_bar() as on_progress:
        result = sweep(
            BoltzmannWealth,
            {"n": [25, 50, 100, 200], "width": 10, "height": 10},
            iterations=args.iterations,
            max_steps=args.max_steps,
            processes=args.processes,
            seed=args.seed,
            on_progress=on_progress,
        )
    print(result.summary())
    final = result.model.groupby("n")["Gini"].agg(["mean", "std", "count"])
    print("\nFinal Gini by number of agents:")
    print(final.round(3).to_string())


if __name__ == "__main__":
    main()
