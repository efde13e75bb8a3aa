"""Event-driven models of Mesa 3.3: a simulator per run, never shared or sent back.

Mesa 3.3's WolfSheep needs ``simulator=ABMSimulator()``; Mesa 3.5's takes a
scenario and no simulator (see test_mesa35.py), so this runs on Mesa 3.3.
"""

from __future__ import annotations

import mesa
import pandas as pd
import pytest
from models import step_number

import mesa_nb
from mesa_nb.core import mesa_adapter

pytestmark = pytest.mark.skipif(
    mesa_adapter.HAS_MODEL_TIME,
    reason=f"Mesa {mesa.__version__}'s WolfSheep has no simulator (Mesa 3.3 only)",
)


def by_hand(initial_sheep: int, seed: int, steps: int) -> pd.DataFrame:
    from mesa.examples import WolfSheep
    from mesa.experimental.devs import ABMSimulator

    simulator = ABMSimulator()
    model = WolfSheep(initial_sheep=initial_sheep, seed=seed, simulator=simulator)
    simulator.run_for(steps)
    return pd.DataFrame(model.datacollector.model_vars)


def test_each_run_builds_its_own_simulator_and_its_events_run(processes):
    from mesa.examples import WolfSheep

    result = mesa_nb.sweep(
        WolfSheep,
        {"initial_sheep": [20, 40]},
        max_steps=12,
        seed=3,
        processes=processes,
        data_collection_period=1,
    )
    assert result.n_ok == 2, result.failures
    assert result.runs["simulator"].tolist() == ["ABMSimulator", "ABMSimulator"]
    for run in result.runs.itertuples():
        expected = by_hand(run.initial_sheep, run.seed, 12)
        got = result.model[result.model["RunId"] == run.RunId]
        for reporter in ("Sheep", "Wolves", "Grass"):  # grass regrows by events
            assert got[reporter].tolist() == expected[reporter].tolist()


def test_a_simulator_class_or_factory_given_as_a_parameter():
    from mesa.examples import WolfSheep
    from mesa.experimental.devs import ABMSimulator

    as_class = mesa_nb.sweep(
        WolfSheep,
        {"initial_sheep": 20, "simulator": ABMSimulator},
        max_steps=4,
        seed=1,
        processes=2,
    )
    as_factory = mesa_nb.sweep(
        WolfSheep,
        {"initial_sheep": 20, "simulator": lambda: ABMSimulator()},
        max_steps=4,
        seed=1,
        processes=2,
    )
    assert as_class.n_ok == as_factory.n_ok == 1
    assert as_class.runs["simulator"].tolist() == ["ABMSimulator"]
    assert as_factory.runs["simulator"].tolist() == ["<ABMSimulator>"]  # drawn, shown
    pd.testing.assert_frame_equal(
        as_class.model.drop(columns="simulator", errors="ignore"),
        as_factory.model.drop(columns="simulator", errors="ignore"),
    )
    rebuilt = as_class.rebuild_model(0)
    assert step_number(rebuilt) == 4 and rebuilt.simulator.time == 4
