"""Calibration at its edges: odd priors and names, holes in the data, small
budgets, stores that are not what they seem, several calibrations at once.

Each test is a real calibration on the sweep runner (fast models, max_steps=0
or a few steps) and fails without the fix it guards.
"""

from __future__ import annotations

import logging
import os
import threading

import mesa
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mesa_nb
from mesa_nb.calibration import CalibrationSpec, calibrate, load_calibration
from mesa_nb.calibration.observed import Observed, ObservedError
from mesa_nb.core import mesa_adapter
from mesa_nb.core.errors import (
    MesaNbError,
    ParameterError,
    StoreError,
    SweepFailedError,
    SweepOptionError,
)
from mesa_nb.designs import between, integers, one_of
from mesa_nb.examples import Epidemic
from tests.models import NormalMean

FAST = dict(max_steps=0, seed=11, quiet=True, processes=1)


def _exact(value: object, choices: tuple) -> bool:
    """``value`` is one of ``choices`` with its own type (1 is not True or 1.0)."""
    return any(type(value) is type(c) and value == c for c in choices)


class Typed(mesa.Model):
    """Reports the mean of 50 draws from N(code, 1), ``code`` from its
    parameters; refuses a parameter of another type than the priors give
    (None is not NaN, 1 is not 1.0 or True), so a run with a coerced value
    fails."""

    KINDS = (None, "a")
    SIZES = (1, 2.5)
    FLAGS = (1, True)

    def __init__(self, kind=None, size=1, flag=1, k=0, rng=None) -> None:
        super().__init__(rng=rng)
        for value, choices in (
            (kind, self.KINDS),
            (size, self.SIZES),
            (flag, self.FLAGS),
        ):
            if not _exact(value, choices):
                raise TypeError(f"{value!r} is none of {choices!r}")
        if type(k) is not int:
            raise TypeError(f"k={k!r} is not an int")
        code = (kind == "a") + size + k
        self.mean = float(self.rng.normal(code, 1.0, size=50).mean())
        self.datacollector = mesa.DataCollector(model_reporters={"Mean": "mean"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.running = False


class Count(mesa.Model):
    """The mean of 50 draws from N(n, 1); ``n`` must be an int."""

    def __init__(self, n: int = 0, rng=None) -> None:
        super().__init__(rng=rng)
        if type(n) is not int:
            raise TypeError(f"n={n!r} is not an int")
        self.mean = float(self.rng.normal(n, 1.0, size=50).mean())
        self.datacollector = mesa.DataCollector(model_reporters={"Mean": "mean"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.running = False


class Holes(mesa.Model):
    """NormalMean whose reporter is None above ``hole_above``."""

    def __init__(self, mu: float = 0.0, hole_above: float = 99.0, rng=None) -> None:
        super().__init__(rng=rng)
        mean = float(self.rng.normal(mu, 1.0, size=50).mean())
        self.mean = None if mu > hole_above else mean
        self.datacollector = mesa.DataCollector(model_reporters={"Mean": "mean"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.running = False


class Gap(mesa.Model):
    """Reports ``mu`` plus noise at every step, but None at step 2 when
    ``mu`` is above 0 (the run goes on to its last step)."""

    def __init__(self, mu: float = 0.0, rng=None) -> None:
        super().__init__(rng=rng)
        self.mu, self.steps_done = mu, 0
        self.value: float | None = mu
        self.datacollector = mesa.DataCollector(model_reporters={"Value": "value"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.steps_done += 1
        hole = self.steps_done == 2 and self.mu > 0
        self.value = None if hole else self.mu + float(self.rng.normal(0, 0.1))
        self.datacollector.collect(self)


# -- values as the model takes them ----------------------------------------------------
def test_choices_and_whole_numbers_keep_their_values_and_types():
    priors = {
        "kind": one_of(*Typed.KINDS),
        "size": one_of(*Typed.SIZES),
        "flag": one_of(*Typed.FLAGS),
        "k": integers(0, 2),
    }
    cal = calibrate(Typed, priors, {"Mean": 2.0}, population=30, generations=2, **FAST)
    assert cal.failed == 0
    posterior = cal.posterior
    for name in ("kind", "size", "flag"):
        assert posterior[name].dtype == object, name
        choices = getattr(Typed, name.upper() + "S")
        assert all(_exact(v, choices) for v in posterior[name]), name
    best = cal.best
    assert _exact(best["kind"], Typed.KINDS) and type(best["k"]) is int
    for point in cal.sample(40):
        assert _exact(point["kind"], Typed.KINDS) and _exact(point["size"], Typed.SIZES)
        assert _exact(point["flag"], Typed.FLAGS) and type(point["k"]) is int
    # the follow-up sweep gives the model the values it was calibrated with
    assert cal.sweep(20, **FAST).n_ok == 20
    summary = cal.summary()
    assert {"mode", "mode_weight"} <= set(summary.columns)
    assert not np.isfinite(summary.loc["size", "mean"])  # a category: no mean
    # 1 and True are two choices: the mode's weight is the share of one of them
    shares = posterior.groupby(posterior["flag"].map(type).map(str))["weight"].sum()
    assert summary.loc["flag", "mode_weight"] == pytest.approx(shares.max())
    assert shares.max() < 1


def test_a_discrete_scipy_prior_gives_whole_numbers():
    cal = calibrate(
        Count,
        {"n": stats.poisson(3)},
        {"Mean": 4.0},
        population=20,
        generations=2,
        **FAST,
    )
    assert cal.failed == 0
    assert type(cal.best["n"]) is int
    assert all(type(p["n"]) is int for p in cal.sample(10))


def test_equal_distances_make_the_first_particle_best():
    cal = calibrate(
        Count,
        {"n": integers(0, 9)},
        {"Mean": 4.0},
        distance=lambda simulated, observed: 0.0,
        population=10,
        generations=1,
        **FAST,
    )
    assert (cal.posterior["distance"] == 0).all()
    assert cal.best == {"n": int(cal.posterior["n"].iloc[0])}
    assert type(cal.best["n"]) is int


def test_categories_are_drawn_in_the_posterior_plot():
    pytest.importorskip("matplotlib")
    cal = calibrate(
        Typed,
        {"kind": one_of(*Typed.KINDS), "k": integers(0, 2)},
        {"Mean": 1.0},
        population=20,
        generations=1,
        **FAST,
    )
    figure = cal.plot.posterior()
    assert "kind" in figure.axes[0].get_title()  # the diagonal's first marginal
    only = calibrate(
        Typed,
        {"kind": one_of(*Typed.KINDS)},
        {"Mean": 1.0},
        population=10,
        generations=1,
        **FAST,
    )
    assert "most probable" in only.plot.posterior().axes[0].get_title()


# -- names -----------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("priors", "fixed", "method"),
    [
        ({"weight": between(0, 1)}, {}, "abc"),
        ({"distance": between(0, 1)}, {}, "abc"),
        ({"mu": between(0, 1)}, {"particle": 1}, "abc"),
        ({"value": between(0, 1)}, {}, "optimize"),
    ],
)
def test_a_parameter_named_as_a_result_column_is_refused(priors, fixed, method):
    name = next(iter({**fixed, **priors} if fixed else priors))
    with pytest.raises(ParameterError, match=f"Parameter '{name}' has the name"):
        CalibrationSpec.of(NormalMean, priors, {"Mean": 1.0}, fixed, method=method)


def test_observing_a_parameter_instead_of_a_reporter_is_refused():
    with pytest.raises(ObservedError, match="'mu': a parameter"):
        calibrate(
            NormalMean, {"mu": between(-5, 5)}, {"mu": 1.3}, population=10, **FAST
        )


# -- data the runs cannot match --------------------------------------------------------
def test_observed_steps_after_max_steps_are_refused_before_any_run(tmp_path):
    observed = pd.DataFrame({"Step": [0, 10, 30], "Infected": [5, 40, 10]})
    priors = {"beta": between(0, 1)}
    store = tmp_path / "cal"
    with pytest.raises(ObservedError, match=r"steps after max_steps=20 \(30\)"):
        calibrate(Epidemic, priors, observed, max_steps=20, store=store, quiet=True)
    assert not (store / "runs").exists()
    cal = calibrate(
        Epidemic,
        priors,
        observed,
        population=10,
        generations=1,
        **{**FAST, "max_steps": 30},
    )
    assert len(cal.posterior) == 10


def test_gaps_of_a_nullable_column_are_not_observed():
    frame = pd.DataFrame({"Step": [0, 5, 10], "I": [1, None, 3]}).convert_dtypes()
    assert Observed.of(frame).coordinates == ("I@0", "I@10")


def test_a_run_whose_reporter_is_none_is_a_failed_run_counted_everywhere():
    cal = calibrate(
        Holes,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        {"hole_above": 2.0},
        population=30,
        generations=2,
        **FAST,
    )
    assert cal.failed > 0
    assert cal.history["failed"].sum() == cal.failed
    assert f"({cal.failed} failed)" in cal.text()
    assert (cal.posterior["mu"] <= 2.0).all()


def test_a_series_value_that_is_none_is_not_filled_from_an_earlier_step():
    observed = pd.DataFrame({"Step": [0, 2, 3], "Value": [0.5, 0.5, 0.5]})
    cal = calibrate(
        Gap,
        {"mu": between(-1, 1)},
        observed,
        population=20,
        generations=1,
        **{**FAST, "max_steps": 3},
    )
    assert cal.failed > 0  # every run with mu > 0 has no value at step 2
    assert (cal.posterior["mu"] <= 0).all()


def test_a_first_batch_with_nothing_to_compare_is_refused_and_frees_the_store(
    tmp_path,
):
    store = tmp_path / "cal"
    # runs=: without the check, generation 0 would never fill (nor end)
    options = dict(population=10, generations=2, runs=500, store=store, **FAST)
    with pytest.raises(ObservedError, match=r"no number .* for 'Mean' in any") as info:
        calibrate(
            Holes,
            {"mu": between(-5, 5)},
            {"Mean": 1.3},
            {"hole_above": -9.0},
            **options,
        )
    assert "refused runs are kept in" in str(info.value)
    assert mesa_nb.load_store(store / "refused" / "g000-b000-0").n_ok == 10
    with pytest.raises(SweepFailedError, match="All 10 runs"):
        calibrate(
            NormalMean,
            {"mu": between(1, 2)},
            {"Mean": 1.3},
            {"fail_above": 0.0},
            **options,
        )
    assert (store / "refused" / "g000-b000-1").is_dir()
    # the corrected calibration (other fixed parameters) starts afresh here
    cal = calibrate(Holes, {"mu": between(-5, 5)}, {"Mean": 1.3}, **options)
    assert cal.failed == 0 and len(cal.history) == 2
    pd.testing.assert_frame_equal(load_calibration(store).posterior, cal.posterior)


def test_a_negative_user_distance_is_refused_naming_distance():
    with pytest.raises(ObservedError, match=r"distance\(\) returned -1"):
        calibrate(
            NormalMean,
            {"mu": between(-5, 5)},
            {"Mean": 1.3},
            distance=lambda simulated, observed: -1.0,
            population=10,
            **FAST,
        )


# -- budgets ---------------------------------------------------------------------------
def test_a_budget_below_one_generation_is_refused_before_any_run(tmp_path):
    store = tmp_path / "cal"
    with pytest.raises(SweepOptionError, match="x replicates=2 = 200 runs"):
        calibrate(
            NormalMean,
            {"mu": between(-5, 5)},
            {"Mean": 1.3},
            population=100,
            replicates=2,
            runs=150,
            store=store,
            **FAST,
        )
    assert not store.exists()
    with pytest.raises(SweepOptionError, match="runs=3 or more"):
        calibrate(
            NormalMean,
            {"mu": between(-5, 5)},
            {"Mean": 1.3},
            method="optimize",
            runs=2,
            **FAST,
        )
    cal = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        population=10,
        runs=10,
        **FAST,
    )
    assert len(cal.history) == 1 and cal.stop_reason == "max_runs"


# -- stores ----------------------------------------------------------------------------
def test_priors_out_of_alphabetical_order_load_back_and_resume_in_order(tmp_path):
    store = tmp_path / "cal"
    priors = {"mu": between(-5, 5), "draws": integers(30, 60)}
    options = dict(population=20, generations=2, store=store, **FAST)
    cal = calibrate(NormalMean, priors, {"Mean": 1.3}, **options)
    loaded = load_calibration(store)
    assert list(loaded.posterior.columns[:2]) == ["mu", "draws"]
    pd.testing.assert_frame_equal(loaded.posterior, cal.posterior)
    swapped = {"draws": priors["draws"], "mu": priors["mu"]}
    with pytest.raises(StoreError, match="priors \\(their order\\)"):
        calibrate(NormalMean, swapped, {"Mean": 1.3}, **options)


def test_a_refused_call_leaves_no_definition_to_refuse_the_corrected_one(tmp_path):
    store = tmp_path / "cal"
    with pytest.raises(MesaNbError, match="no parameter 'nu'"):
        calibrate(NormalMean, {"nu": between(0, 1)}, {"Mean": 1.0}, store=store, **FAST)
    assert not (store / "calibration.json").exists()
    cal = calibrate(
        NormalMean,
        {"mu": between(0, 1)},
        {"Mean": 1.0},
        store=store,
        population=10,
        generations=1,
        **FAST,
    )
    assert len(cal.posterior) == 10


def test_load_of_an_interrupted_store_says_it_was_interrupted(tmp_path):
    store = tmp_path / "cal"
    cancel = threading.Event()

    def stop_in_generation_one(event):
        if event.step == 1:
            cancel.set()

    calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        population=20,
        generations=3,
        store=store,
        cancel=cancel,
        on_progress=stop_in_generation_one,
        **{**FAST, "quiet": False},
    )
    loaded = load_calibration(store)
    assert loaded.interrupted and loaded.stop_reason is None
    assert "interrupted" in loaded.text() and len(loaded.history) == 1


def test_a_calibration_stopped_in_its_first_batch_counts_the_runs_it_made(tmp_path):
    cancel = threading.Event()

    def stop_after_five(event):
        if event.runs >= 5:
            cancel.set()

    cal = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        population=50,
        store=tmp_path / "cal",
        cancel=cancel,
        on_progress=stop_after_five,
        **{**FAST, "quiet": False},
    )
    stored = mesa_nb.load_store(tmp_path / "cal" / "runs" / "g000-b000")
    assert cal.interrupted and cal.runs == stored.n_ok >= 5
    assert f"({cal.runs} runs, 0 failed)" in cal.text()


def test_stores_that_are_no_calibration_are_refused_by_name(tmp_path, monkeypatch):
    sweep_store = tmp_path / "sweep"
    mesa_nb.sweep(NormalMean, {"mu": [1.0]}, max_steps=0, store=sweep_store)
    a_file = tmp_path / "notes.txt"
    a_file.write_text("x")
    for path in (tmp_path / "missing", sweep_store, a_file):
        with pytest.raises(StoreError, match=r"holds no calibration|Cannot read"):
            load_calibration(path)
    options = dict(population=10, generations=1, **FAST)
    before = sorted(os.listdir(sweep_store))
    for path, words in (
        ("", "store= is empty"),
        (a_file, "Cannot keep a calibration"),
        (a_file / "sub", "Cannot keep a calibration"),
        (sweep_store, "holds no calibration but other files"),
    ):
        with pytest.raises(StoreError, match=words):
            calibrate(
                NormalMean, {"mu": between(0, 2)}, {"Mean": 1.0}, store=path, **options
            )
    assert sorted(os.listdir(sweep_store)) == before  # nothing written there
    monkeypatch.setenv("HOME", str(tmp_path))
    odd = "~/a dir ü/cal"
    cal = calibrate(
        NormalMean, {"mu": between(0, 2)}, {"Mean": 1.0}, store=odd, **options
    )
    assert (tmp_path / "a dir ü" / "cal" / "calibration.json").is_file()
    pd.testing.assert_frame_equal(load_calibration(odd).posterior, cal.posterior)


def test_a_follow_up_sweep_of_a_loaded_calibration_names_the_model_it_needs(tmp_path):
    store = tmp_path / "cal"
    calibrate(
        NormalMean,
        {"mu": between(0, 2)},
        {"Mean": 1.0},
        store=store,
        population=10,
        generations=1,
        **FAST,
    )
    with pytest.raises(ParameterError, match="model_cls=NormalMean"):
        load_calibration(store).sweep(5, **FAST)
    assert load_calibration(store, model_cls=NormalMean).sweep(5, **FAST).n_ok == 5


def test_an_optimisation_without_a_finished_trial_still_displays(tmp_path):
    cancel = threading.Event()
    cancel.set()  # stopped before its first batch ends
    cal = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        method="optimize",
        trials=8,
        cancel=cancel,
        **FAST,
    )
    assert cal.interrupted
    assert "no best yet" in cal.text() and "no best yet" in cal._repr_html_()
    with pytest.raises(ParameterError, match="no best yet"):
        cal.best  # noqa: B018


# -- in the background -----------------------------------------------------------------
def test_background_calibrations_refuse_bad_input_and_a_held_store_at_the_call(
    tmp_path,
):
    with pytest.raises(MesaNbError, match="no parameter 'nu'"):
        calibrate(
            NormalMean, {"nu": between(0, 1)}, {"Mean": 1.0}, background=True, **FAST
        )
    options = dict(population=20, generations=2, **FAST)
    release = threading.Event()  # the first holds its store until released

    def hold(event):
        release.wait(60)

    first = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": 1.3},
        background=True,
        store=tmp_path / "a",
        on_progress=hold,
        **options,
    )
    other = calibrate(
        NormalMean,
        {"mu": between(-5, 5)},
        {"Mean": -2.0},
        background=True,
        store=tmp_path / "b",
        **options,
    )
    try:
        with pytest.raises(StoreError, match="this process"):
            calibrate(
                NormalMean,
                {"mu": between(-5, 5)},
                {"Mean": 1.3},
                background=True,
                store=tmp_path / "a",
                **options,
            )
    finally:
        release.set()
    one, two = first.wait(120), other.wait(120)
    direct = calibrate(NormalMean, {"mu": between(-5, 5)}, {"Mean": -2.0}, **options)
    pd.testing.assert_frame_equal(two.posterior, direct.posterior)
    assert len(one.history) == 2


def test_optuna_log_level_is_restored_when_two_threads_overlap():
    optuna = pytest.importorskip("optuna")
    from mesa_nb.calibration.optimize import _quiet_optuna

    optuna.logging.set_verbosity(logging.INFO)
    entered, leave = threading.Event(), threading.Event()

    def second() -> None:
        with _quiet_optuna():
            entered.set()
            leave.wait(30)

    try:
        with _quiet_optuna():
            thread = threading.Thread(target=second)
            thread.start()
            assert entered.wait(30)
        # the first block has ended, the second not: still quiet
        assert optuna.logging.get_verbosity() == logging.ERROR
        leave.set()
        thread.join(30)
        assert optuna.logging.get_verbosity() == logging.INFO
    finally:
        leave.set()
        optuna.logging.set_verbosity(logging.WARNING)


# -- Mesa 3.5 scenarios ----------------------------------------------------------------
def test_a_scenario_model_is_calibrated_by_its_fields():
    if mesa_adapter.Scenario is None:
        pytest.skip("Mesa 3.5+ scenarios")
    from mesa.examples import BoltzmannWealth

    cal = calibrate(
        BoltzmannWealth,
        {"n": integers(10, 40)},
        {"Gini": 0.5},
        population=10,
        generations=1,
        **{**FAST, "max_steps": 5},
    )
    assert cal.failed == 0 and type(cal.best["n"]) is int
    runs = cal.predictive_runs()
    assert sorted(runs["n"]) == sorted(cal.posterior["n"])


def test_follow_up_sweeps_use_the_calibrations_scenario_class(tmp_path):
    if mesa_adapter.Scenario is None:
        pytest.skip("Mesa 3.5+ scenarios")
    store = tmp_path / "pond"
    cal = calibrate(
        Pond,
        {"fish": integers(0, 9)},
        {"Mean": 4.0},
        scenario=PondScenario,
        population=10,
        generations=1,
        store=store,
        **FAST,
    )
    assert cal.sweep(4, **FAST).n_ok == 4
    loaded = load_calibration(store, model_cls=Pond)
    assert loaded.sweep(4, **FAST).n_ok == 4


if mesa_adapter.Scenario is not None:
    from mesa.experimental.scenarios import Scenario

    class PondScenario(Scenario):
        """Pond's scenario, named only by ``scenario=``."""

        fish: int = 0


class Pond(mesa.Model):
    """Takes a scenario without saying which: only ``scenario=`` tells."""

    def __init__(self, scenario=None) -> None:
        super().__init__(scenario=scenario)
        fish = scenario.fish if scenario is not None else 0
        self.mean = float(self.rng.normal(fish, 1.0, size=50).mean())
        self.datacollector = mesa.DataCollector(model_reporters={"Mean": "mean"})
        self.datacollector.collect(self)

    def step(self) -> None:
        self.running = False
