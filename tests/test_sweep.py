"""The DataFrame-first API, run in-process and on worker processes."""

from __future__ import annotations

import pandas as pd
import pytest
from models import (
    AgentsOnly,
    CollectsBeforeStep,
    Fragile,
    ModelOnly,
    Money,
    StopsEarly,
    Typed,
    step_number,
)

import mesa_nb
from mesa_nb.core.mesa_adapter import MESA_4


def test_tables_are_tidy_and_keyed(processes):
    result = mesa_nb.sweep(
        Money,
        {"n": [2, 3], "bonus": 0.5},
        iterations=2,
        max_steps=4,
        seed=1,
        data_collection_period=1,
        processes=processes,
    )
    runs = result.runs
    assert runs.columns.tolist()[:5] == ["RunId", "iteration", "seed", "n", "bonus"]
    assert runs["RunId"].tolist() == [0, 1, 2, 3]
    assert runs["status"].eq("ok").all()
    assert runs["steps"].tolist() == [4, 4, 4, 4]
    assert (runs["wall_time"] > 0).all()
    model = result.model
    assert model.columns.tolist() == [
        "RunId",
        "iteration",
        "n",
        "bonus",
        "Step",
        "Total",
        "Max",
        "Steps",
    ]
    assert len(model) == 4 * 5
    assert (model["Step"] == model["Steps"]).all()
    agents = result.agents
    assert agents.columns.tolist() == ["RunId", "Step", "AgentID", "Wealth"]
    assert len(agents) == (2 + 3) * 2 * 5
    assert not agents.duplicated(["RunId", "Step", "AgentID"]).any()
    # wealth is conserved in every run and step
    sums = agents.groupby(["RunId", "Step"])["Wealth"].sum()
    n_of_run = runs.set_index("RunId")["n"]
    assert (sums == n_of_run.reindex(sums.index.get_level_values(0)).to_numpy()).all()
    meta = result.metadata
    assert meta["n_runs"] == 4 and meta["master_seed"] == 1
    assert (
        meta["versions"]["mesa"] and meta["versions"]["mesa_nb"] == mesa_nb.__version__
    )
    assert meta["started_at"] <= meta["finished_at"]


def test_a_run_stops_after_exactly_max_steps(processes):
    result = mesa_nb.sweep(ModelOnly, {"a": [1, 2]}, max_steps=7, processes=processes)
    assert result.runs["steps"].tolist() == [7, 7]
    assert result.model["Step"].tolist() == [7, 7]
    assert result.model["Steps"].tolist() == [7, 7]


def test_max_steps_zero_keeps_the_record_taken_at_init():
    result = mesa_nb.sweep(ModelOnly, {"a": 1}, max_steps=0)
    assert result.model[["Step", "Steps"]].values.tolist() == [[0, 0]]


def test_a_run_that_stops_itself_reports_its_final_state(processes):
    result = mesa_nb.sweep(
        StopsEarly,
        {"stop_at": [2, 5]},
        max_steps=100,
        data_collection_period=3,
        processes=processes,
    )
    assert result.runs["steps"].tolist() == [2, 5]
    by_run = result.model.groupby("RunId")["Step"].apply(list).to_dict()
    assert by_run == {0: [0, 2], 1: [0, 3, 5]}


@pytest.mark.parametrize(
    ("period", "steps"),
    [
        (-1, [10]),
        (1, list(range(11))),
        (3, [0, 3, 6, 9, 10]),
        (5, [0, 5, 10]),
        (20, [0, 10]),
    ],
)
def test_collection_period_keeps_multiples_and_always_the_last(period, steps):
    result = mesa_nb.sweep(
        Money, {"n": 2}, max_steps=10, data_collection_period=period, seed=3
    )
    assert result.model["Step"].tolist() == steps
    assert sorted(result.agents["Step"].unique()) == steps


def test_step_is_model_steps_when_the_record_was_taken():
    result = mesa_nb.sweep(
        CollectsBeforeStep, {}, max_steps=4, data_collection_period=1
    )
    assert result.model["Step"].tolist() == [1, 2, 3, 4]
    assert result.model["Steps"].tolist() == [1, 2, 3, 4]


def test_collectors_with_only_agent_reporters_still_give_rows(processes):
    result = mesa_nb.sweep(
        AgentsOnly,
        {"n": [2, 3]},
        max_steps=2,
        data_collection_period=1,
        processes=processes,
    )
    assert result.model.columns.tolist() == ["RunId", "iteration", "n", "Step"]
    assert result.model["Step"].tolist() == [0, 1, 2, 0, 1, 2]
    assert len(result.agents) == (2 + 3) * 3
    rows = result.to_mesa_rows()
    assert len(rows) == 15
    assert set(rows[0]) == {
        "RunId",
        "iteration",
        "Step",
        "n",
        "rng",
        "AgentID",
        "Wealth",
    }


def test_agent_types_and_tables(processes):
    result = mesa_nb.sweep(
        Typed,
        {"birds": [1, 2]},
        max_steps=3,
        data_collection_period=-1,
        processes=processes,
    )
    types = result.agenttypes
    assert set(types["AgentType"]) == {"Bird", "Fish"}
    assert types.groupby("RunId").size().tolist() == [2, 3]
    assert types.loc[types["AgentType"] == "Bird", "Height"].eq(10).all()
    assert types.loc[types["AgentType"] == "Fish", "Depth"].eq(5).all()
    events = result.tables["events"]
    assert events.columns.tolist() == ["RunId", "step", "what"]
    assert events["step"].tolist() == [1, 2, 3, 1, 2, 3]


def test_callable_parameters_are_drawn_per_run_recorded_and_reproducible(processes):
    params = {"a": lambda rng: int(rng.integers(0, 1_000_000)), "b": ["x", "y"]}
    first = mesa_nb.sweep(
        ModelOnly, params, iterations=3, max_steps=1, seed=9, processes=processes
    )
    again = mesa_nb.sweep(ModelOnly, params, iterations=3, max_steps=1, seed=9)
    drawn = first.runs["a"].tolist()
    assert len(set(drawn)) == 6
    assert drawn == again.runs["a"].tolist()
    assert first.model["A"].tolist() == drawn
    assert first.model["a"].tolist() == drawn


def test_zero_argument_callables_are_called_once_per_run():
    counter = iter(range(100))
    result = mesa_nb.sweep(
        ModelOnly, {"a": lambda: next(counter)}, iterations=4, max_steps=0
    )
    assert sorted(result.runs["a"]) == sorted(set(result.runs["a"]))
    assert result.model["A"].tolist() == result.runs["a"].tolist()


def test_results_are_identical_whatever_the_number_of_processes():
    kwargs = dict(
        parameters={"n": [2, 4, 6], "bonus": [0.0, 1.0]},
        iterations=3,
        max_steps=6,
        data_collection_period=2,
        seed=2024,
    )
    one = mesa_nb.sweep(Money, **kwargs, processes=1)
    two = mesa_nb.sweep(Money, **kwargs, processes=2)
    pd.testing.assert_frame_equal(one.model, two.model)
    pd.testing.assert_frame_equal(one.agents, two.agents)
    columns = ["RunId", "iteration", "seed", "n", "bonus", "status", "steps"]
    pd.testing.assert_frame_equal(one.runs[columns], two.runs[columns])
    assert one.to_mesa_rows() == two.to_mesa_rows()


def test_rebuild_model_gives_the_exact_model_of_a_run(processes):
    result = mesa_nb.sweep(
        Money, {"n": [3, 8]}, iterations=2, max_steps=9, seed=77, processes=processes
    )
    for run_id in (1, 3):
        model = result.rebuild_model(run_id)
        assert step_number(model) == 9
        wealth = sorted((a.unique_id, a.wealth) for a in model.agents)
        final = result.agents[(result.agents["RunId"] == run_id)]
        assert wealth == list(
            final[["AgentID", "Wealth"]].itertuples(index=False, name=None)
        )
    fresh = result.rebuild_model(1, steps=0)
    assert step_number(fresh) == 0 and all(a.wealth == 1 for a in fresh.agents)


def test_progress_callback_streams_one_event_per_run(processes):
    events = []
    mesa_nb.sweep(
        Fragile,
        {"fail": [False, True, False]},
        iterations=2,
        max_steps=3,
        processes=processes,
        on_progress=events.append,
    )
    assert events[0].record is None and events[0].total == 6
    finished = events[1:]
    assert [e.done for e in finished] == [1, 2, 3, 4, 5, 6]
    assert sorted(e.record.run_id for e in finished) == list(range(6))
    assert finished[-1].failed == 2


def test_a_failing_run_is_recorded_and_the_others_finish(processes):
    result = mesa_nb.sweep(
        Fragile, {"fail": [False, True]}, iterations=2, max_steps=4, processes=processes
    )
    assert result.runs["status"].tolist() == ["ok", "failed", "ok", "failed"]
    failures = result.failures
    assert failures["RunId"].tolist() == [1, 3]
    assert failures["error"].str.contains("ZeroDivisionError: boom at step 2").all()
    assert failures["traceback"].str.contains("raise ZeroDivisionError").all()
    # Mesa 3 counts the step that raised; Mesa 4's schedule counts a step
    # only after it returns.
    assert failures["steps"].tolist() == ([1, 1] if MESA_4 else [2, 2])
    assert sorted(result.model["RunId"].unique()) == [0, 2]
