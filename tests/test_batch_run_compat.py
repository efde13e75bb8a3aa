"""mesa_nb.batch_run against the installed mesa.batch_run, row for row (on Mesa
4, which has none, against Mesa 3.5's: ``models.reference_batch_run``)."""

from __future__ import annotations

import mesa
import pytest
from models import Fragile, Money, StopsEarly, mesa_batch_run

import mesa_nb
from mesa_nb import SweepFailedError

MESA_35 = tuple(int(x) for x in mesa.__version__.split(".")[:2]) >= (3, 4)


def _normalise(rows):
    """Mesa 3.5 reports Step as a float (model.time); compare as ints."""
    return [{**row, "Step": int(row["Step"])} for row in rows]


@pytest.mark.parametrize("period", [-1, 1, 3])
@pytest.mark.skipif(MESA_35, reason="mesa>=3.4 overrides an rng parameter with None")
def test_same_rows_as_mesa_with_seeds_as_a_parameter(period, processes):
    kwargs = dict(
        parameters={"n": [3, 4], "rng": [11, 12]},
        iterations=2,
        max_steps=5,
        data_collection_period=period,
        display_progress=False,
    )
    expected = mesa.batch_run(Money, **kwargs)
    got = mesa_nb.batch_run(Money, number_processes=processes, **kwargs)
    assert got == expected
    assert list(got[0]) == [
        "RunId",
        "iteration",
        "Step",
        "n",
        "rng",
        "Total",
        "Max",
        "Steps",
        "AgentID",
        "Wealth",
    ]


@pytest.mark.parametrize("period", [-1, 1])
@pytest.mark.skipif(not MESA_35, reason="batch_run(rng=...) arrived in mesa 3.4")
def test_same_rows_as_mesa_with_rng_given_to_both(period, processes):
    kwargs = dict(
        parameters={"n": [3, 4]},
        rng=[5, 6, 7],
        max_steps=5,
        data_collection_period=period,
        display_progress=False,
    )
    expected = _normalise(mesa_batch_run(Money, **kwargs))
    got = mesa_nb.batch_run(Money, number_processes=processes, **kwargs)
    assert got == expected


@pytest.mark.skipif(MESA_35, reason="documented mesa 3.3 behaviour")
def test_documented_difference_mesa_33_runs_one_extra_step_and_drops_the_early_stop():
    # A model that stops itself at step 3: mesa 3.3 reports Step 2 (the state
    # before the last step), mesa_nb reports the final Step 3.
    kwargs = dict(parameters={"stop_at": 3}, max_steps=10, display_progress=False)
    assert [r["Step"] for r in mesa.batch_run(StopsEarly, **kwargs)] == [2]
    assert [r["Step"] for r in mesa_nb.batch_run(StopsEarly, **kwargs)] == [3]
    # With max_steps, mesa 3.3 steps the model max_steps + 1 times.
    rows = mesa.batch_run(
        StopsEarly,
        parameters={"stop_at": 99},
        max_steps=4,
        data_collection_period=1,
        display_progress=False,
    )
    ours = mesa_nb.batch_run(
        StopsEarly,
        parameters={"stop_at": 99},
        max_steps=4,
        data_collection_period=1,
        display_progress=False,
    )
    assert [r["Steps"] for r in rows] == [0, 1, 2, 3, 4]  # the 5th step is unseen
    assert [r["Steps"] for r in ours] == [0, 1, 2, 3, 4]


@pytest.mark.skipif(not MESA_35, reason="mesa 3.5 collection-period semantics")
def test_batch_run_keeps_the_records_mesa_35_keeps_and_sweep_keeps_the_last():
    kwargs = dict(
        parameters={"stop_at": 99},
        max_steps=10,
        data_collection_period=4,
        display_progress=False,
        rng=[1],
    )
    expected = mesa_batch_run(StopsEarly, **kwargs)
    assert [r["Step"] for r in expected] == [0.0, 4.0, 8.0]
    assert mesa_nb.batch_run(StopsEarly, **kwargs) == expected
    result = mesa_nb.sweep(
        StopsEarly, {"stop_at": 99}, max_steps=10, data_collection_period=4, rng=[1]
    )
    assert result.model["Step"].tolist() == [0, 4, 8, 10]  # sweep keeps the last


def test_failures_raise_after_every_other_run_finished(processes):
    points = [{"fail": False}, {"fail": True}, {"fail": False}, {"fail": False}]
    with pytest.raises(SweepFailedError, match="1 of 4 runs failed") as info:
        mesa_nb.batch_run(
            Fragile,
            points,
            max_steps=3,
            number_processes=processes,
            display_progress=False,
        )
    exc = info.value
    assert {row["RunId"] for row in exc.rows} == {0, 2, 3}
    assert exc.failures["RunId"].tolist() == [1]
    assert "ZeroDivisionError" in exc.failures["traceback"].iloc[0]


def test_errors_warn_returns_the_finished_rows():
    with pytest.warns(RuntimeWarning, match="1 of 2 runs failed"):
        rows = mesa_nb.batch_run(
            Fragile,
            {"fail": [False, True]},
            max_steps=3,
            display_progress=False,
            errors="warn",
        )
    assert {row["RunId"] for row in rows} == {0}


def test_display_progress_draws_a_text_bar(capsys):
    mesa_nb.batch_run(Money, {"n": [1, 2]}, max_steps=1, display_progress=True)
    err = capsys.readouterr().err
    assert "2/2" in err
