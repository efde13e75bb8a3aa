"""Calibration by optimisation: Optuna's ask-and-tell in batches (no Mesa here)."""

from __future__ import annotations

import logging
import math
import subprocess
import sys
import warnings

import numpy as np
import pytest
from scipy import stats

from mesa_nb.calibration.optimize import Optimizer
from mesa_nb.calibration.priors import Priors
from mesa_nb.core.designs import between, integers, one_of
from mesa_nb.core.errors import ParameterError

optuna = pytest.importorskip("optuna")


def _plane() -> Priors:
    return Priors.of({"x": between(-5, 5), "y": between(-5, 5)})


def _bowl(thetas: np.ndarray) -> np.ndarray:
    """f(x, y) = (x - 1)^2 + (y + 2)^2, minimum 0 at (1, -2)."""
    return (thetas[:, 0] - 1) ** 2 + (thetas[:, 1] + 2) ** 2


def _run(optimizer: Optimizer, objective) -> list[np.ndarray]:
    """Propose and tell until done; the proposals' thetas, in order."""
    proposed = []
    while not optimizer.done:
        proposal = optimizer.propose()
        proposed.append(proposal.thetas.copy())
        optimizer.tell(proposal, objective(proposal.thetas))
    return proposed


@pytest.mark.parametrize("sampler", ["tpe", "cmaes"])
def test_finds_the_minimum_of_a_bowl(sampler: str) -> None:
    optimizer = Optimizer(_plane(), 120, seed=3, batch=8, sampler=sampler)
    proposed = _run(optimizer, _bowl)
    assert [len(t) for t in proposed] == [8] * 15
    theta, value = optimizer.best
    assert abs(theta[0] - 1) < 0.1
    assert abs(theta[1] + 2) < 0.1
    assert value == pytest.approx(_bowl(theta[None, :])[0])
    assert optimizer.runs == 120
    assert optimizer.stop_reason == "trials"
    every = np.vstack(proposed)
    assert value == _bowl(every).min()  # the best told value, nothing else


def test_batches_the_trials_and_stops() -> None:
    optimizer = Optimizer(_plane(), 10, seed=0, batch=4, sampler="random")
    sizes, generations = [], []
    while not optimizer.done:
        assert optimizer.stop_reason is None
        proposal = optimizer.propose()
        sizes.append(len(proposal.thetas))
        generations.append((proposal.generation, proposal.batch))
        optimizer.tell(proposal, _bowl(proposal.thetas))
    assert sizes == [4, 4, 2]
    assert generations == [(0, 0), (1, 0), (2, 0)]
    with pytest.raises(RuntimeError, match="All 10 trials"):
        optimizer.propose()


def test_trials_and_history_tables() -> None:
    optimizer = Optimizer(_plane(), 20, seed=5, batch=8, sampler="random")
    proposed = _run(optimizer, _bowl)
    trials = optimizer.trials()
    assert list(trials.columns) == ["trial", "batch", "value", "state", "x", "y"]
    assert list(trials["trial"]) == list(range(20))
    assert list(trials["batch"]) == [0] * 8 + [1] * 8 + [2] * 4
    every = np.vstack(proposed)
    np.testing.assert_array_equal(trials[["x", "y"]].to_numpy(), every)
    np.testing.assert_allclose(trials["value"], _bowl(every))
    assert set(trials["state"]) == {"COMPLETE"}

    history = optimizer.history()
    assert list(history.columns) == ["batch", "trials", "best", "failed"]
    assert list(history["trials"]) == [8, 8, 4]
    values = _bowl(every)
    expected = [values[:8].min(), values[:16].min(), values.min()]
    np.testing.assert_allclose(history["best"], expected)
    assert list(history["failed"]) == [0, 0, 0]


def test_whole_numbers_and_choices() -> None:
    priors = Priors.of(
        {"k": integers(1, 6), "c": one_of("low", "mid", "high"), "x": between(0, 1)}
    )

    def objective(thetas: np.ndarray) -> np.ndarray:
        points = priors.points(thetas)
        return np.array(
            [
                (p["k"] - 4) ** 2 + 5.0 * (p["c"] != "mid") + (p["x"] - 0.5) ** 2
                for p in points
            ]
        )

    optimizer = Optimizer(priors, 60, seed=2, batch=6)
    proposed = np.vstack(_run(optimizer, objective))
    assert np.array_equal(proposed[:, 0], np.round(proposed[:, 0]))
    assert set(proposed[:, 0]) <= set(range(1, 7))
    assert set(proposed[:, 1]) <= {0.0, 1.0, 2.0}
    trials = optimizer.trials()
    assert trials["k"].dtype.kind == "i"
    assert set(trials["c"]) <= {"low", "mid", "high"}
    theta, _ = optimizer.best
    best = priors.points(theta[None, :])[0]
    assert best["k"] == 4
    assert best["c"] == "mid"


@pytest.mark.parametrize("sampler", ["cmaes", "random"])
def test_every_sampler_takes_every_kind(sampler: str) -> None:
    priors = Priors.of(
        {"k": integers(0, 3), "c": one_of(True, False), "m": stats.norm(2, 0.5)}
    )
    optimizer = Optimizer(priors, 24, seed=1, batch=8, sampler=sampler)
    proposed = np.vstack(_run(optimizer, lambda t: t[:, 0] + (t[:, 2] - 2) ** 2))
    (low, high) = priors.bounds()[2]
    assert ((proposed[:, 2] >= low) & (proposed[:, 2] <= high)).all()
    assert set(proposed[:, 0]) <= {0.0, 1.0, 2.0, 3.0}
    assert set(proposed[:, 1]) <= {0.0, 1.0}


def test_failed_trials_are_never_best() -> None:
    optimizer = Optimizer(_plane(), 40, seed=4, batch=8)

    def objective(thetas: np.ndarray) -> np.ndarray:
        values = _bowl(thetas)
        return np.where(thetas[:, 0] > 0, np.nan, values)  # x > 0 fails

    _run(optimizer, objective)
    trials = optimizer.trials()
    failed = trials[trials["x"] > 0]
    assert len(failed) > 0
    assert set(failed["state"]) == {"FAIL"}
    assert failed["value"].isna().all()
    theta, value = optimizer.best
    assert theta[0] <= 0
    complete = trials[trials["state"] == "COMPLETE"]
    assert value == complete["value"].min()
    assert optimizer.history()["failed"].sum() == len(failed)
    states = [t.state for t in optimizer._study.get_trials(deepcopy=False)]
    assert states.count(optuna.trial.TrialState.FAIL) == len(failed)


def test_no_best_while_every_trial_failed() -> None:
    optimizer = Optimizer(_plane(), 8, seed=0, batch=8)
    _run(optimizer, lambda t: np.full(len(t), np.nan))
    assert optimizer.done
    with pytest.raises(ValueError, match="no best"):
        _ = optimizer.best
    assert math.isnan(optimizer.history()["best"].iloc[0])


@pytest.mark.parametrize("sampler", ["tpe", "cmaes", "random"])
def test_same_seed_same_proposals(sampler: str) -> None:
    def run(seed: int) -> list[np.ndarray]:
        optimizer = Optimizer(_plane(), 32, seed=seed, batch=8, sampler=sampler)
        return _run(optimizer, _bowl)

    first, again, other = run(11), run(11), run(12)
    assert len(first) == len(again) == 4
    for a, b in zip(first, again, strict=True):
        np.testing.assert_array_equal(a, b)
    assert not np.array_equal(first[0], other[0])


def test_a_replay_resumes_where_the_first_run_stopped() -> None:
    """A fresh optimizer told the first run's values proposes what it did."""
    first = Optimizer(_plane(), 24, seed=9, batch=8)
    proposals = _run(first, _bowl)
    replay = Optimizer(_plane(), 24, seed=9, batch=8)
    for thetas in proposals:
        proposal = replay.propose()
        np.testing.assert_array_equal(proposal.thetas, thetas)
        replay.tell(proposal, _bowl(thetas))
    assert replay.best[1] == first.best[1]


def test_any_size_of_seed() -> None:
    big = Optimizer(_plane(), 8, seed=2**70, batch=8, sampler="random")
    assert big.propose().thetas.shape == (8, 2)


def test_optuna_is_quiet_and_settings_are_restored(
    caplog: pytest.LogCaptureFixture,
) -> None:
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.INFO)
    caplog.set_level(logging.DEBUG)
    try:
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            optimizer = Optimizer(_plane(), 16, seed=0, batch=8)  # logs a new study
            _run(optimizer, lambda t: np.where(t[:, 0] > 0, np.nan, _bowl(t)))
            mixed = Priors.of(
                {"c": one_of("a", "b"), "x": between(0, 1), "y": between(0, 1)}
            )
            # CMA-ES samples a choice at random, and warns that it does
            _run(Optimizer(mixed, 24, seed=0, sampler="cmaes"), lambda t: t[:, 1])
        assert optuna.logging.get_verbosity() == logging.INFO
        optuna.logging.set_verbosity(logging.WARNING)
        _run(Optimizer(_plane(), 8, seed=0, batch=8, sampler="cmaes"), _bowl)
        assert optuna.logging.get_verbosity() == logging.WARNING
    finally:
        optuna.logging.set_verbosity(previous)
    assert not [r for r in caplog.records if r.name.startswith("optuna")]
    assert not caught


def test_optuna_logs_unless_silenced(caplog: pytest.LogCaptureFixture) -> None:
    """The check above can fail: Optuna's own study logs at INFO."""
    previous = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(logging.INFO)
    caplog.set_level(logging.DEBUG)
    try:
        optuna.create_study()
    finally:
        optuna.logging.set_verbosity(previous)
    assert [r for r in caplog.records if r.name.startswith("optuna")]


def test_mistakes_are_named() -> None:
    with pytest.raises(ParameterError, match="sampler"):
        Optimizer(_plane(), 8, seed=0, sampler="grid")
    with pytest.raises(ParameterError, match="trials"):
        Optimizer(_plane(), 0, seed=0)
    with pytest.raises(ParameterError, match="batch"):
        Optimizer(_plane(), 8, seed=0, batch=0)
    with pytest.raises(ParameterError, match="'value'"):
        Optimizer(Priors.of({"value": between(0, 1)}), 8, seed=0)
    optimizer = Optimizer(_plane(), 16, seed=0, batch=8, sampler="random")
    proposal = optimizer.propose()
    with pytest.raises(ValueError, match="8 trials"):
        optimizer.tell(proposal, np.zeros(3))
    optimizer.tell(proposal, _bowl(proposal.thetas))
    with pytest.raises(ValueError, match="not waiting"):
        optimizer.tell(proposal, _bowl(proposal.thetas))
    assert optimizer.runs == 8
    assert not optimizer.done


def test_optuna_and_matplotlib_load_when_used() -> None:
    code = (
        "import sys, mesa_nb.calibration.optimize, mesa_nb.calibration.plots; "
        "print(sorted({'optuna', 'matplotlib'} & set(sys.modules)))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert out.stdout.strip() == "[]"
