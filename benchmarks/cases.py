"""The reference sweeps (full size and ``--quick`` size) and who runs them.

A :class:`Case` is plain data, rebuilt by number in every measuring
subprocess, so nothing but ``--case N [--quick]`` crosses the process boundary.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field
from typing import Any

#: Seeds of the replicates: replicate ``i`` of every point uses ``SEED0 + i``,
#: identically in the plain loop, ``mesa.batch_run`` and mesa_nb.
SEED0 = 1000


@dataclass(frozen=True)
class Variant:
    """One way of running a sweep: a tool and a number of processes."""

    tool: str  # a key of TOOLS
    processes: int

    @property
    def label(self) -> str:
        """Human-readable name, e.g. ``mesa_nb x2``."""
        return f"{TOOLS[self.tool]} x{self.processes}"


#: Every tool a sweep can be run with, and how the report names it.
TOOLS = {
    "plain": "plain loop",
    "mesa": "mesa.batch_run",
    "nb": "mesa_nb.sweep",
    "nb-br": "mesa_nb.batch_run",
    "in-one": "mesa_nb.batch_run / mesa.batch_run in one process,",
    "nb-warm": "mesa_nb.sweep, warm workers,",
    "nb-loaded": "mesa_nb.sweep, workers started at load,",
    "first-run": "mesa_nb.sweep (2nd sweep)",
}


PLAIN = Variant("plain", 1)
MESA_1, MESA_2 = Variant("mesa", 1), Variant("mesa", 2)
NB_1, NB_2 = Variant("nb", 1), Variant("nb", 2)
#: The drop-in: ``mesa_nb.batch_run``, the same call as ``mesa.batch_run``.
NB_BR_1 = Variant("nb-br", 1)
#: ``mesa.batch_run`` and ``mesa_nb.batch_run`` taking turns in one interpreter
#: (M N N M ...), each call's rows kept until the same tool's next call, as a
#: notebook keeps ``results``: what a user comparing the two in one session sees.
IN_ONE = Variant("in-one", 1)
#: A notebook's second and later sweeps: the workers are already running.
NB_2_WARM = Variant("nb-warm", 2)
#: A notebook's first sweep: ``%load_ext`` started the workers a moment before.
NB_2_LOADED = Variant("nb-loaded", 2)
FIRST_RUN = Variant("first-run", 2)
#: Every tool on a regular sweep, the plain loop (the reference) first.
ALL_TOOLS = (PLAIN, MESA_1, MESA_2, NB_1, NB_2, NB_2_WARM, NB_2_LOADED)
#: The drop-in against Mesa at one process: fresh processes and in one.
DROP_IN = (NB_BR_1, IN_ONE)
#: ``--quick`` runs the 2-process tools (a pool start-up each, ~1-3 s of CPU
#: per worker) on sweeps 5 and 6 only (and 7), to stay well under a minute.
SERIAL_TOOLS = (PLAIN, MESA_1, NB_1, *DROP_IN)


@dataclass(frozen=True)
class Case:
    """One reference sweep.

    ``parameters`` maps a name to a list (swept, full factorial, last name
    fastest, as Mesa does) or to a constant. Every point runs once per seed.
    """

    number: int
    title: str
    model: str  # a class name in ``module``
    parameters: dict[str, Any]
    replicates: int
    max_steps: int
    period: int = -1  # data_collection_period
    variants: tuple[Variant, ...] = ALL_TOOLS
    note: str = field(default="", compare=False)
    module: str = "mesa_nb.examples"

    @property
    def seeds(self) -> list[int]:
        """One seed per replicate (``rng=[...]`` per iteration, as Mesa 3.5)."""
        return [SEED0 + i for i in range(self.replicates)]

    @property
    def points(self) -> list[dict[str, Any]]:
        """The parameter points, in Mesa's order."""
        names = list(self.parameters)
        values = [v if isinstance(v, list) else [v] for v in self.parameters.values()]
        return [
            dict(zip(names, combo, strict=True)) for combo in itertools.product(*values)
        ]

    @property
    def n_runs(self) -> int:
        """Points x replicates."""
        return len(self.points) * self.replicates

    @property
    def shape(self) -> str:
        """A one-line description of the sweep's size."""
        swept = " x ".join(
            f"{name} {len(v)}"
            for name, v in self.parameters.items()
            if isinstance(v, list)
        )
        collect = "every step" if self.period == 1 else "end only"
        return (
            f"{swept or '1 point'} x {self.replicates} replicates = {self.n_runs} runs,"
            f" {self.max_steps} steps, collect {collect}"
        )


def _full_cases() -> list[Case]:
    boltzmann = {"n": [100, 200, 300, 400], "width": 10, "height": 10}
    regular = (*ALL_TOOLS, *DROP_IN)
    return [
        Case(
            1,
            "Boltzmann wealth",
            "BoltzmannWealth",
            boltzmann,
            20,
            200,
            variants=regular,
        ),
        Case(
            2,
            "Economic model (MultiGrid)",
            "EconomicModel",
            {"taxation_rate": [0.0, 0.05, 0.1], "market_volatility": [0.05, 0.2]},
            10,
            100,
            variants=regular,
        ),
        Case(
            3,
            "Population model",
            "PopulationModel",
            {"base_reproduction_rate": [0.02, 0.05, 0.1, 0.15]},
            10,
            200,
            variants=regular,
        ),
        Case(
            4,
            "Schelling 50x50",
            "Schelling",
            {"homophily": [2, 3, 4]},
            4,
            100,
            variants=regular,
        ),
        Case(5, "Tiny runs", "BoltzmannWealthNoSpace", {"n": 10}, 2000, 5),
        Case(
            6,
            "Memory: Boltzmann, agents every step",
            "BoltzmannWealth",
            boltzmann,
            20,
            200,
            period=1,
        ),
        Case(
            7,
            "Second sweep: time to first run",
            "BoltzmannWealth",
            {"n": 100, "width": 10, "height": 10},
            8,
            20,
            variants=(FIRST_RUN,),
            note="same sweep twice in one interpreter; the second is timed",
        ),
        _tutorial(list(range(5, 105, 5)), 5, 100),
    ]


#: Mesa's batch-run tutorial: its model, its call (``benchmarks/tutorial.py``).
TUTORIAL_TOOLS = (MESA_1, NB_1, *DROP_IN)


def _tutorial(n: list[int], replicates: int, steps: int) -> Case:
    return Case(
        8,
        "Mesa's batch-run tutorial",
        "MoneyModel",
        {"width": 10, "height": 10, "n": n},
        replicates,
        steps,
        period=1,
        variants=TUTORIAL_TOOLS,
        note="the tutorial's model and call, five rng= seeds",
        module="benchmarks.tutorial",
    )


def _quick_cases() -> list[Case]:
    boltzmann = {"n": [20, 40], "width": 10, "height": 10}
    return [
        Case(
            1,
            "Boltzmann wealth",
            "BoltzmannWealth",
            boltzmann,
            2,
            20,
            variants=SERIAL_TOOLS,
        ),
        Case(
            2,
            "Economic model (MultiGrid)",
            "EconomicModel",
            {
                "taxation_rate": [0.0, 0.1],
                "market_volatility": [0.05, 0.2],
                "n_agents": 30,
            },
            1,
            10,
            variants=SERIAL_TOOLS,
        ),
        Case(
            3,
            "Population model",
            "PopulationModel",
            {"base_reproduction_rate": [0.02, 0.1], "initial_population": 30},
            2,
            20,
            variants=SERIAL_TOOLS,
        ),
        Case(
            4,
            "Schelling 15x15",
            "Schelling",
            {"homophily": [2, 4], "width": 15, "height": 15},
            1,
            10,
            variants=SERIAL_TOOLS,
        ),
        Case(5, "Tiny runs", "BoltzmannWealthNoSpace", {"n": 10}, 100, 5),
        Case(
            6,
            "Memory: Boltzmann, agents every step",
            "BoltzmannWealth",
            boltzmann,
            2,
            20,
            period=1,
        ),
        Case(
            7,
            "Second sweep: time to first run",
            "BoltzmannWealth",
            {"n": 20, "width": 10, "height": 10},
            4,
            10,
            variants=(FIRST_RUN,),
        ),
        _tutorial([5, 10], 2, 10),
    ]


def build_cases(quick: bool = False) -> list[Case]:
    """All reference sweeps, full size or shrunk for a smoke run."""
    return _quick_cases() if quick else _full_cases()


def get_case(number: int, quick: bool = False) -> Case:
    """The sweep numbered ``number``."""
    for case in build_cases(quick):
        if case.number == number:
            return case
    raise KeyError(f"no benchmark sweep numbered {number}")
