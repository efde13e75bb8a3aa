"""Calibration end to end: real runs through the sweep runner, real stores.

The analytic case: each run draws 50 values from N(mu, 1) with the model's
generator and reports their mean; observed mean 1.3, prior mu ~ U(-5, 5),
so the posterior is N(1.3, 1/50) (the truncation at +-5 is 26 sd away).
"""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

import mesa_nb
from mesa_nb.calibration import (
    CalibrationSpec,
    Priors,
    calibrate,
    load_calibration,
)
from mesa_nb.calibration.observed import Distance, Observed, ObservedError, Summaries
from mesa_nb.calibration.record import CalibrationStore
from mesa_nb.core.errors import MesaNbError, StoreError, SweepFailedError
from mesa_nb.designs import between, integers
from tests.models import NormalMean

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
#: Small but sound: 300 particles, tolerance down to 0.005 scaled units
#: (about 0.02 in mu: it widens the posterior sd by well under 1%).
ANALYTIC = dict(
    method="abc",
    population=300,
    generations=12,
    min_tolerance=0.005,
    max_steps=0,
    seed=20261206,
    quiet=True,
)


def _analytic(**options):
    return calibrate(
        NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, **{**ANALYTIC, **options}
    )


@pytest.fixture(scope="module")
def analytic_cal():
    return _analytic(processes=1)


def test_abc_recovers_the_analytic_posterior(analytic_cal):
    cal = analytic_cal
    posterior = cal.posterior
    assert list(posterior.columns) == ["mu", "weight", "distance"]
    assert len(posterior) == 300
    assert posterior["weight"].sum() == pytest.approx(1.0)
    row = cal.summary().loc["mu"]
    assert abs(row["mean"] - 1.3) < 0.05, row
    assert abs(row["sd"] / (1 / math.sqrt(50)) - 1) < 0.25, row
    assert row["lower_0.9"] < 1.3 < row["upper_0.9"]
    assert cal.stop_reason == "min_tolerance"
    assert cal.failed == 0 and cal.runs >= 300 * len(cal.history)
    history = cal.history
    assert history["tolerance"].iloc[0] == math.inf
    assert (np.diff(history["tolerance"].to_numpy()[1:]) < 0).all()
    assert isinstance(cal.best["mu"], float)
    assert abs(cal.best["mu"] - 1.3) < 0.2


def test_the_same_seed_gives_the_same_calibration_at_two_processes(analytic_cal):
    again = _analytic(processes=2)
    pd.testing.assert_frame_equal(again.posterior, analytic_cal.posterior)
    pd.testing.assert_frame_equal(again.history, analytic_cal.history)
    other = _analytic(processes=1, seed=7, generations=2)
    assert not other.posterior["mu"].equals(analytic_cal.posterior["mu"])


def test_a_failed_run_is_a_rejected_particle_counted_and_reported():
    cal = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        {"fail_above": 3.0},
        **{**ANALYTIC, "generations": 3, "min_tolerance": 0.0},
    )
    assert cal.failed > 0
    assert cal.history["failed"].sum() == cal.failed
    assert (cal.posterior["mu"] <= 3.0).all()
    assert f"{cal.failed} failed" in cal.text()


def test_a_model_failing_everywhere_is_refused_after_its_first_batch():
    refused = pytest.raises(SweepFailedError, match="All 40 runs of the first batch")
    with refused as info:
        calibrate(
            NormalMean,
            {"mu": between(1, 2)},
            {"Mean": 1.3},
            {"fail_above": 0.0},
            **{**ANALYTIC, "population": 40},
        )
    assert "above 0.0" in str(info.value)
    assert len(info.value.failures) == 40


def test_optimisation_finds_the_observed_mean():
    cal = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        method="optimize",
        trials=40,
        batch=8,
        replicates=3,
        max_steps=0,
        seed=3,
        quiet=True,
    )
    assert abs(cal.best["mu"] - 1.3) < 0.3
    trials = cal.trials
    assert len(trials) == 40 and cal.runs == 120
    assert trials["value"].min() == pytest.approx(cal.history["best"].iloc[-1])
    with pytest.raises(MesaNbError, match="best parameters, not a posterior"):
        cal.posterior  # noqa: B018
    predictive = cal.predictive_runs()
    assert predictive["RunId"].nunique() == 3


def test_bad_input_is_refused_before_any_run(tmp_path):
    store = tmp_path / "cal"
    with pytest.raises(MesaNbError, match="nu"):
        calibrate(
            NormalMean, {"nu": between(0, 1)}, {"Mean": 1.0}, quiet=True, store=store
        )
    assert not (store / "runs").exists()
    with pytest.raises(MesaNbError, match="a prior and a fixed value"):
        calibrate(NormalMean, {"mu": between(0, 1)}, {"Mean": 1}, {"mu": 2})
    with pytest.raises(MesaNbError, match="between"):
        calibrate(NormalMean, {"mu": [0, 1]}, {"Mean": 1.0})
    with pytest.raises(MesaNbError, match="must be a number"):
        calibrate(NormalMean, {"mu": between(0, 1)}, {"Mean": "high"})
    with pytest.raises(MesaNbError, match="population"):
        calibrate(NormalMean, {"mu": between(0, 1)}, {"Mean": 1.0}, population=2)
    with pytest.raises(MesaNbError, match="Did you mean 'population'"):
        calibrate(NormalMean, {"mu": between(0, 1)}, {"Mean": 1.0}, populaton=20)


def test_an_unknown_observed_reporter_names_the_reporters():
    with pytest.raises(ObservedError, match="'Mean'"):
        calibrate(
            NormalMean,
            {"mu": between(0, 1)},
            {"Average": 1.0},
            population=10,
            max_steps=0,
            quiet=True,
        )


def test_summaries_of_series_carry_a_finished_runs_last_value():
    observed = Observed.of(
        pd.DataFrame({"Step": [0, 2, 4], "I": [1.0, 5.0, 2.0], "R": [0, 1, None]})
    )
    assert observed.coordinates == ("I@0", "I@2", "I@4", "R@0", "R@2")
    model = pd.DataFrame(
        {
            "RunId": [0, 0, 0, 1, 1, 1, 1, 1],
            "Step": [0, 1, 2, 0, 1, 2, 3, 4],
            "I": [1, 3, 4, 1, 2, 6, 3, 1],
            "R": [0, 0, 1, 0, 0, 2, 3, 4],
        }
    )
    got = Summaries(observed).of_runs(model, [0, 1, 2])
    np.testing.assert_array_equal(got[0], [1, 4, 4, 0, 1])  # ended at step 2
    np.testing.assert_array_equal(got[1], [1, 6, 1, 0, 2])
    assert np.isnan(got[2]).all()  # no rows: a failed run
    distance = Distance(observed)
    distance.fit(got[:2])
    d = distance(got)
    assert d[0] > 0 and np.isnan(d[2])
    assert Observed.from_dict(observed.to_dict()) == observed


def test_a_user_summary_and_distance_are_used():
    def summaries(rows):
        return {"twice": 2 * rows["Mean"].iloc[-1]}

    def distance(simulated, observed):
        return abs(simulated["twice"] - observed["twice"])

    cal = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"twice": 2.6},
        summaries=summaries,
        distance=distance,
        **{**ANALYTIC, "generations": 4, "population": 100},
    )
    assert abs(cal.summary().loc["mu", "mean"] - 1.3) < 0.5
    assert cal.posterior["distance"].max() <= cal.history["tolerance"].iloc[-1]


def test_the_spec_round_trips_through_plain_data():
    spec = CalibrationSpec.of(
        NormalMean,
        {"mu": between(-5, 5), "draws": integers(10, 60)},
        pd.DataFrame({"Step": [0, 1], "Mean": [0.5, 1.5]}),
        {"fail_above": 4.0},
        method="optimize",
        trials=30,
        max_steps=3,
    )
    document = json.loads(json.dumps(spec.to_dict()))
    again = CalibrationSpec.from_dict(document, model=NormalMean)
    assert again.to_dict() == spec.to_dict()
    assert again.priors == spec.priors and again.observed == spec.observed
    assert again.options.trials == 30 and again.parameters == {"fail_above": 4.0}


def test_a_stored_calibration_loads_back_and_refuses_another(tmp_path):
    store = tmp_path / "cal"
    options = {**ANALYTIC, "generations": 3, "min_tolerance": 0.0, "population": 50}
    cal = calibrate(
        NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, store=store, **options
    )
    loaded = load_calibration(store)
    pd.testing.assert_frame_equal(loaded.posterior, cal.posterior)
    pd.testing.assert_frame_equal(loaded.history, cal.history)
    runs = loaded.predictive_runs()
    assert runs["RunId"].count() == 50 and runs["weight"].sum() == pytest.approx(1.0)
    # the same call on the same store runs nothing and gives the same result
    again = calibrate(
        NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, store=store, **options
    )
    pd.testing.assert_frame_equal(again.posterior, cal.posterior)
    with pytest.raises(StoreError, match="population"):
        calibrate(
            NormalMean,
            {"mu": between(-5, 5)},
            {"Mean": 1.3},
            store=store,
            **{**options, "population": 60},
        )


_KILLED = textwrap.dedent(
    """
    import os, signal, sys
    sys.path.insert(0, {root!r})
    from mesa_nb.calibration import calibrate
    from mesa_nb.designs import between
    from tests.models import NormalMean

    def kill_in_generation_two(event):
        if event.step == 1 and event.runs >= {kill_at}:
            os.kill(os.getpid(), signal.SIGKILL)

    calibrate(NormalMean, {{"mu": between(-5, 5)}}, {{"Mean": 1.3}},
              store={store!r}, on_progress=kill_in_generation_two, **{options!r})
    """
)


def test_a_calibration_killed_in_its_second_generation_resumes_to_the_same_posterior(
    tmp_path,
):
    options = {
        **ANALYTIC,
        "generations": 3,
        "min_tolerance": 0.0,
        "population": 200,
        "processes": 2,
    }
    options.pop("quiet")
    store = tmp_path / "killed"
    script = _KILLED.format(
        root=str(ROOT), store=str(store), options=options, kill_at=260
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=ROOT, timeout=600)
    assert done.returncode == -signal.SIGKILL
    calibration = CalibrationStore(store)
    assert calibration.told("g000-b000") is not None
    assert calibration.told("g001-b000") is None
    partial = mesa_nb.load_store(calibration.sweep_store("g001-b000"))
    assert 0 < partial.n_ok < len(partial.runs)  # killed mid-generation
    resumed = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        store=store,
        quiet=True,
        **options,
    )
    whole = calibrate(
        NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, quiet=True, **options
    )
    pd.testing.assert_frame_equal(resumed.posterior, whole.posterior)
    pd.testing.assert_frame_equal(resumed.history, whole.history)
    assert os.path.exists(store / "told" / "g002-b000.json")


def test_background_calibration_gives_snapshots_and_the_same_result(tmp_path):
    options = {**ANALYTIC, "generations": 3, "min_tolerance": 0.0, "population": 50}
    live = calibrate(
        NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, background=True, **options
    )
    seen = []
    while live.wait_for_change(timeout=60):
        seen.append(live.progress)
    cal = live.wait(timeout=120)
    assert live.done() and "done" in live.status()
    assert seen and seen[-1].finished
    direct = calibrate(NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, **options)
    pd.testing.assert_frame_equal(cal.posterior, direct.posterior)
    snapshot = live.snapshot()
    pd.testing.assert_frame_equal(snapshot.posterior, cal.posterior)


def test_a_follow_up_sweep_draws_from_the_posterior(analytic_cal):
    result = analytic_cal.sweep(40, max_steps=0, seed=5)
    assert len(result.runs) == 40
    mus = result.runs["mu"].to_numpy()
    assert set(mus) <= set(analytic_cal.posterior["mu"])
    assert abs(result.model["Mean"].mean() - 1.3) < 0.15


def test_priors_accept_scipy_distributions():
    from scipy import stats

    priors = Priors.of({"mu": stats.norm(0, 3)})
    again = Priors.from_dict(json.loads(json.dumps(priors.to_dict())))
    assert again == priors
    cal = calibrate(
        NormalMean,
        {"mu": stats.norm(0, 3)},
        {"Mean": 1.3},
        **{**ANALYTIC, "generations": 4, "population": 100, "min_tolerance": 0.0},
    )
    assert abs(cal.summary().loc["mu", "mean"] - 1.3) < 0.3


def test_a_series_calibration_draws_its_predictive_runs_one_by_one():
    from mesa_nb.examples import Epidemic

    observed = pd.DataFrame({"Step": [0, 5, 10, 15], "Infected": [5, 40, 120, 90]})
    cal = calibrate(
        Epidemic,
        {"beta": between(0.2, 1.2), "gamma": between(0.05, 0.5)},
        observed,
        {"population": 500},
        population=40,
        generations=2,
        max_steps=20,
        seed=4,
        quiet=True,
    )
    runs = cal.predictive_runs()
    assert runs["RunId"].nunique() == 40  # one per particle, across batches
    assert runs.groupby("RunId")["particle"].nunique().eq(1).all()
    weights = runs.groupby("RunId")["weight"].first()
    np.testing.assert_allclose(weights.to_numpy(), cal.posterior["weight"].to_numpy())
    assert runs["Step"].min() == 0 and runs["Step"].max() <= 20
    figure = cal.plot.predictive("Infected")
    assert "40 runs" in figure.axes[0].get_title()
    with pytest.raises(MesaNbError, match="'Susceptible'"):
        cal.plot.predictive("Exposed")


def test_optimisation_trials_share_seeds_and_abc_particles_do_not(tmp_path):
    calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        method="optimize",
        trials=8,
        replicates=2,
        max_steps=0,
        seed=3,
        quiet=True,
        store=tmp_path / "optimize",
    )
    runs = mesa_nb.load_store(tmp_path / "optimize" / "runs" / "g000-b000").runs
    assert len(runs) == 16
    assert runs.groupby("iteration")["seed"].nunique().eq(1).all()  # common seeds
    assert runs["seed"].nunique() == 2
    calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        **{**ANALYTIC, "population": 20, "generations": 1},
        store=tmp_path / "abc",
    )
    runs = mesa_nb.load_store(tmp_path / "abc" / "runs" / "g000-b000").runs
    assert runs["seed"].nunique() == len(runs) == 20  # independent draws


def test_two_calibrations_cannot_write_one_store(tmp_path):
    holder = CalibrationStore(tmp_path / "shared")
    holder.lock()
    try:
        with pytest.raises(StoreError, match="Another calibration"):
            calibrate(
                NormalMean,
                {"mu": between(-5, 5)},
                {"Mean": 1.3},
                store=tmp_path / "shared",
                **{**ANALYTIC, "population": 20},
            )
    finally:
        holder.unlock()


def test_a_cancelled_calibration_keeps_what_finished_and_resumes(tmp_path):
    import threading

    store = tmp_path / "cancelled"
    options = {**ANALYTIC, "generations": 3, "min_tolerance": 0.0, "population": 50}
    cancel = threading.Event()

    def stop_in_generation_two(event):
        if event.step == 1 and event.runs > 60:
            cancel.set()

    stopped = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        store=store,
        cancel=cancel,
        on_progress=stop_in_generation_two,
        **{k: v for k, v in options.items() if k != "quiet"},
    )
    assert stopped.interrupted and stopped.stop_reason is None
    assert len(stopped.history) == 1  # generation 0 kept
    resumed = calibrate(
        NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, store=store, **options
    )
    whole = calibrate(NormalMean, {"mu": between(-5, 5)}, {"Mean": 1.3}, **options)
    pd.testing.assert_frame_equal(resumed.posterior, whole.posterior)
