"""Tables joined with their runs' parameters, on demand (Mesa's tutorial filter)."""

from __future__ import annotations

import pandas as pd
import pytest
from models import Money, Typed

import mesa_nb


@pytest.fixture(scope="module")
def result() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Money,
        {"n": [3, 4], "bonus": [0.0, 1.5]},
        iterations=3,
        max_steps=4,
        data_collection_period=1,
        seed=7,
        processes=1,
        quiet=True,
    )


def test_agents_with_parameters_filter_like_mesas_rows(result):
    agents = result.with_parameters("agents")
    assert list(agents.columns[:5]) == ["RunId", "iteration", "seed", "n", "bonus"]
    assert len(agents) == len(result.agents)
    picked = agents[(agents.n == 4) & (agents.iteration == 2)]
    runs = result.runs[(result.runs.n == 4) & (result.runs.iteration == 2)]
    assert set(picked["RunId"]) == set(runs["RunId"]) and len(runs) == 2
    # every row carries the values of its own run, not of a neighbour
    by_run = result.runs.set_index("RunId")
    for column in ("iteration", "seed", "n", "bonus"):
        expected = by_run.loc[agents["RunId"], column].to_numpy()
        assert (agents[column].to_numpy() == expected).all(), column
    # the agent columns are the original ones, in the original order
    pd.testing.assert_frame_equal(
        agents[list(result.agents.columns)].reset_index(drop=True),
        result.agents.reset_index(drop=True),
    )


def test_a_table_that_has_the_parameters_is_not_joined_twice(result):
    model = result.with_parameters("model")
    own = [c for c in result.model.columns if c not in ("RunId", "iteration")]
    assert list(model.columns) == ["RunId", "iteration", "seed", *own]
    pd.testing.assert_frame_equal(model[list(result.model.columns)], result.model)
    assert result.with_parameters("runs") is result.runs


def test_agenttypes_and_unknown_tables():
    typed = mesa_nb.sweep(Typed, {"birds": [1, 2]}, max_steps=2, seed=1, quiet=True)
    joined = typed.with_parameters("agenttypes")
    assert {"iteration", "birds", "AgentType"} <= set(joined.columns)
    with pytest.raises(KeyError, match="the tables are: runs, model"):
        typed.with_parameters("agent")


def test_a_loaded_store_joins_the_same(tmp_path, result):
    stored = mesa_nb.sweep(
        Money,
        {"n": [3, 4]},
        iterations=2,
        max_steps=3,
        seed=5,
        quiet=True,
        store=tmp_path / "runs",
    )
    loaded = mesa_nb.load_store(tmp_path / "runs")
    pd.testing.assert_frame_equal(
        loaded.with_parameters("agents").reset_index(drop=True),
        stored.with_parameters("agents").reset_index(drop=True),
        check_dtype=False,
    )
