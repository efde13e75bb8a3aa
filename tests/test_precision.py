"""Replicates until precise (``iterations="auto"``): the number of replicates
lands where the variance says, runs are a prefix of the fixed-iterations
sweep with the same master seed, stores resume to the same runs, bad input is
refused before any run, failing and capped points are reported, and every
front end (code, cell, form, experiment file, mesa-nb) takes the options.

The model's final value is ``N(0, sigma**2)``, so a point needs about
``(1.96 * sigma / h)**2`` replicates for a 95% half-width of ``h``.
"""

from __future__ import annotations

import inspect
import textwrap
import threading

import mesa
import numpy as np
import pandas as pd
import pytest
from IPython.core.error import UsageError

import mesa_nb
from mesa_nb.api import session
from mesa_nb.api.experiment import load_experiment
from mesa_nb.api.progress import TqdmProgress
from mesa_nb.api.reports import dry_run, outcome_report
from mesa_nb.cli import main as mesa_nb_main
from mesa_nb.core.errors import SweepOptionError
from mesa_nb.core.precision import FIRST_ROUND, PrecisionProgress
from mesa_nb.notebook.form_state import SWEEP, FormState
from mesa_nb.notebook.form_view import SweepForm


class Noisy(mesa.Model):
    """Its last step sets X to a draw of N(0, sigma**2)."""

    built = 0

    def __init__(self, sigma: float = 1.0, rng=None):
        super().__init__(rng=rng)
        type(self).built += 1
        self.sigma = sigma
        self.x = 0.0
        self.datacollector = mesa.DataCollector({"X": "x"})

    def step(self):
        self.x = float(self.rng.normal(0.0, self.sigma))
        self.datacollector.collect(self)


#: The model as a file of a project (for the experiment-file test).
NOISY_SOURCE = "import mesa\n\n\n" + inspect.getsource(Noisy)

#: The small auto sweep most tests compare against.
SMALL = {
    "iterations": "auto",
    "precision": {"X": 0.3},
    "max_iterations": 400,
    "max_steps": 1,
    "seed": 11,
}
SIGMAS = {"sigma": [1.0, 2.0]}
RUN_COLUMNS = ["RunId", "iteration", "sigma", "seed", "status"]


def runs_of(result):
    return result.runs[RUN_COLUMNS].reset_index(drop=True)


def values_of(result):
    return result.model[["RunId", "iteration", "sigma", "X"]].reset_index(drop=True)


def replicates(result) -> dict[float, int]:
    return result.runs.groupby("sigma").size().to_dict()


@pytest.fixture(scope="module")
def small():
    return mesa_nb.sweep(Noisy, SIGMAS, **SMALL)


# -- the stopping rule ---------------------------------------------------------------
def test_replicates_land_where_the_variance_says():
    h, sigmas = 0.1, [1.5, 2.0]
    result = mesa_nb.sweep(
        Noisy,
        {"sigma": sigmas},
        iterations="auto",
        precision={"X": h},
        max_iterations=3000,
        max_steps=1,
        seed=2024,
    )
    found = replicates(result)
    precision = result.metadata["precision"]
    assert precision["reached"] and precision["finished"]
    assert precision["rounds"] > 3  # in rounds, not at once
    for sigma in sigmas:
        expected = (1.96 * sigma / h) ** 2
        print(f"sigma={sigma}: {found[sigma]} replicates, wanted {expected:.0f}")
        assert abs(found[sigma] / expected - 1) <= 0.15, (sigma, found[sigma], expected)
        final = result.model.loc[result.model["sigma"] == sigma, "X"]
        width = 1.96 * final.std(ddof=1) / np.sqrt(len(final))
        assert width <= h * 1.01
    for point in precision["points"]:
        assert point["status"] == "precise" and point["half_width"]["X"] <= h
        assert point["replicates"] == found[point["sigma"]] == point["values"]


def test_runs_are_a_prefix_of_the_fixed_sweep_with_the_same_seed(small):
    most = max(replicates(small).values())
    fixed = mesa_nb.sweep(Noisy, SIGMAS, iterations=most, max_steps=1, seed=11)
    keys = ["sigma", "iteration"]
    auto = small.runs.merge(small.model[["RunId", "X"]], on="RunId")
    full = fixed.runs.merge(fixed.model[["RunId", "X"]], on="RunId")
    joined = auto.merge(full, on=keys, suffixes=("", "_fixed"), validate="1:1")
    assert len(joined) == len(auto) == len(small.runs)
    assert (joined["seed"] == joined["seed_fixed"]).all()
    assert (joined["X"] == joined["X_fixed"]).all()
    for sigma, count in replicates(small).items():  # a prefix, point by point
        assert sorted(auto.loc[auto["sigma"] == sigma, "iteration"]) == list(
            range(count)
        )


def test_a_failing_point_is_reported_after_one_round_not_run_again():
    result = mesa_nb.sweep(Noisy, {"sigma": [1.0, -1.0]}, **SMALL)  # scale < 0
    assert replicates(result)[-1.0] == FIRST_ROUND
    precision = result.metadata["precision"]
    assert not precision["reached"]
    (missed,) = precision["not_reached"]
    assert (missed["sigma"], missed["status"], missed["values"]) == (-1.0, "failing", 0)
    report = outcome_report(result)
    assert "Not precise: 1 point of 2" in report
    assert "point 1 (sigma=-1.0): 10 replicates, no interval, its runs" in report


def test_max_iterations_caps_and_the_outcome_names_the_points_not_precise():
    options = {**SMALL, "precision": {"X": 0.05}, "max_iterations": 40}
    result = mesa_nb.sweep(Noisy, SIGMAS, **options)
    assert replicates(result) == {1.0: 40, 2.0: 40}
    precision = result.metadata["precision"]
    assert not precision["reached"] and precision["finished"]
    assert [p["sigma"] for p in precision["not_reached"]] == [1.0, 2.0]
    assert {p["status"] for p in precision["not_reached"]} == {"capped"}
    assert precision["widest"]["point"] == 1 and precision["widest"]["reporter"] == "X"
    report = outcome_report(result)
    assert "Not precise: 2 points of 2 did not reach X ±0.05" in report
    assert "point 0 (sigma=1.0): 40 replicates, X ±0." in report
    assert "capped at max_iterations=40" in report


# -- bad input -----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("options", "field", "message"),
    [
        ({"precision": {"X": 0.1}}, "precision", "add iterations='auto'"),
        ({"iterations": "auto"}, "precision", "precision={'Gini': 0.01}"),
        (
            {"iterations": "auto", "precision": {"X": 0}},
            "precision",
            "a half-width above 0 for each reporter",
        ),
        (
            {"iterations": "auto", "precision": "X=-1"},
            "precision",
            "a half-width above 0",
        ),
        (
            {"iterations": "auto", "precision": {"X": 0.1}, "max_iterations": 5},
            "max_iterations",
            "max_iterations must be at least 10",
        ),
        ({"max_iterations": 50}, "max_iterations", "caps the replicates"),
        (
            {"iterations": "auto", "precision": {"X": 0.1}, "rng": [1, 2]},
            "rng",
            "give seed= instead",
        ),
        ({"iterations": "lots"}, "iterations", "or 'auto'"),
    ],
    ids=[
        "precision-without-auto",
        "auto-without-precision",
        "zero-half-width",
        "negative-half-width",
        "max-below-first-round",
        "max-without-auto",
        "rng-with-auto",
        "not-auto",
    ],
)
def test_bad_input_is_refused_before_any_run(options, field, message):
    Noisy.built = 0
    with pytest.raises(SweepOptionError, match=message) as refused:
        mesa_nb.sweep(Noisy, SIGMAS, max_steps=1, **options)
    assert refused.value.field == field
    assert Noisy.built == 0


def test_an_unknown_reporter_is_refused_after_the_first_round_saying_so(tmp_path):
    with pytest.raises(SweepOptionError, match="found after the first round") as err:
        mesa_nb.sweep(
            Noisy, SIGMAS, **{**SMALL, "precision": {"Y": 0.1}}, store=tmp_path / "s"
        )
    assert "'Y', which the model does not report (its model reporters: X)" in str(
        err.value
    )
    kept = mesa_nb.load_store(tmp_path / "s")
    assert kept.n_ok == 2 * FIRST_ROUND  # the first round is kept in the store


# -- stores, stops, resumes ------------------------------------------------------------
def _stop_mid_round(event, cancel):
    if event.record is not None and event.done >= 2 * FIRST_ROUND + 7:
        cancel.set()


def _stop_as_round_two_starts(event, cancel):
    standing = getattr(event, "precision", None)
    if event.record is None and standing is not None and standing.round == 1:
        cancel.set()


@pytest.mark.parametrize(
    "stop", [_stop_mid_round, _stop_as_round_two_starts], ids=["mid-round", "between"]
)
def test_a_stopped_auto_sweep_resumes_to_the_runs_of_one_that_ran_through(
    stop, small, tmp_path
):
    store = tmp_path / "store"
    cancel = threading.Event()
    stopped = mesa_nb.sweep(
        Noisy,
        SIGMAS,
        **SMALL,
        store=store,
        cancel=cancel,
        on_progress=lambda event: stop(event, cancel),
    )
    assert stopped.interrupted and stopped.n_ok < len(small.runs)
    assert not stopped.metadata["precision"]["finished"]
    assert not mesa_nb.load_store(store).metadata["precision"]["finished"]
    resumed = mesa_nb.sweep(Noisy, SIGMAS, **SMALL, store=store)
    assert resumed.metadata["resumed_runs"] == stopped.n_ok
    pd.testing.assert_frame_equal(runs_of(resumed), runs_of(small))
    pd.testing.assert_frame_equal(values_of(resumed), values_of(small))
    assert resumed.metadata["precision"]["reached"]
    loaded = mesa_nb.load_store(store)
    pd.testing.assert_frame_equal(runs_of(loaded), runs_of(small))
    assert loaded.metadata["precision"]["reached"]


def test_out_of_core_reads_the_values_from_the_store(small, tmp_path):
    result = mesa_nb.sweep(
        Noisy, SIGMAS, **SMALL, store=tmp_path / "big", in_memory=False
    )
    pd.testing.assert_frame_equal(runs_of(result), runs_of(small))
    pd.testing.assert_frame_equal(values_of(result), values_of(small))


def test_a_tighter_precision_goes_on_from_the_stored_runs(small, tmp_path):
    store = tmp_path / "store"
    mesa_nb.sweep(Noisy, SIGMAS, **SMALL, store=store)
    Noisy.built = 0
    tighter = mesa_nb.sweep(
        Noisy, SIGMAS, **{**SMALL, "precision": {"X": 0.2}}, store=store
    )
    assert tighter.metadata["resumed_runs"] == len(small.runs)
    assert Noisy.built < len(tighter.runs)  # only the new runs ran (and one check)
    first = runs_of(tighter).iloc[: len(small.runs)].reset_index(drop=True)
    pd.testing.assert_frame_equal(first, runs_of(small))
    assert tighter.metadata["precision"]["reached"]
    grown = mesa_nb.load_store(store).metadata["grown_from"]
    assert grown[-1]["precision"] == {"X": 0.3}
    with pytest.raises(mesa_nb.StoreError, match="iterations='auto' sweep"):
        mesa_nb.sweep(Noisy, SIGMAS, iterations=3, max_steps=1, seed=11, store=store)


def test_more_points_get_their_rounds_as_in_a_fresh_sweep(small, tmp_path):
    store, more = tmp_path / "store", {"sigma": [1.0, 2.0, 3.0]}
    mesa_nb.sweep(Noisy, SIGMAS, **SMALL, store=store)
    grown = mesa_nb.sweep(Noisy, more, **SMALL, store=store)
    fresh = mesa_nb.sweep(Noisy, more, **SMALL)
    assert grown.metadata["resumed_runs"] == len(small.runs)
    keys = ["sigma", "iteration", "seed"]
    found, wanted = (r.runs[keys].sort_values(keys) for r in (grown, fresh))
    pd.testing.assert_frame_equal(
        found.reset_index(drop=True), wanted.reset_index(drop=True)
    )
    assert grown.metadata["precision"]["reached"]


def test_two_processes_in_the_background_give_the_same_runs(small):
    live = mesa_nb.sweep(Noisy, SIGMAS, **SMALL, processes=2, background=True)
    result = live.wait(timeout=120)
    pd.testing.assert_frame_equal(runs_of(result), runs_of(small))
    pd.testing.assert_frame_equal(values_of(result), values_of(small))
    assert result.metadata["precision"]["reached"]


# -- progress ------------------------------------------------------------------------
class FakeBar:
    """Records what a tqdm bar is told."""

    def __init__(self, total, initial=0, **kwargs):
        self.total, self.n, self.postfixes, self.totals = total, initial, [], [total]

    def refresh(self):
        self.totals.append(self.total)

    def set_postfix(self, postfix=None, refresh=True, **kwargs):
        self.postfixes.append(dict(postfix or {}, **kwargs))

    def update(self, n):
        self.n += n

    def close(self):
        pass


def test_the_bar_grows_round_by_round_and_shows_the_widest_interval_left():
    bars, events = [], []

    def make(*args, **kwargs):
        bars.append(FakeBar(*args, **kwargs))
        return bars[-1]

    bar = TqdmProgress(tqdm_cls=make)

    def seen(event):
        events.append(event)
        bar(event)

    result = mesa_nb.sweep(Noisy, SIGMAS, **SMALL, on_progress=seen)
    (drawn,) = bars
    assert drawn.totals[0] == 2 * FIRST_ROUND and drawn.total == len(result.runs)
    assert len(set(drawn.totals)) > 2 and drawn.n == len(result.runs)
    assert all(isinstance(e, PrecisionProgress) for e in events)
    shown = [p["precision"] for p in drawn.postfixes if "precision" in p]
    assert shown[0].startswith("round 1: ") and "widest X ±" in shown[0]
    assert shown[-1].startswith(f"round {result.metadata['precision']['rounds']}: 2/2")


# -- front ends ------------------------------------------------------------------
def test_a_cell_runs_the_same_sweep_and_saves_it(ipython, small, tmp_path, capsys):
    ipython.user_ns["Noisy"] = Noisy
    saved = tmp_path / "auto.toml"
    ipython.run_cell(
        "%%batchrun Noisy --iterations auto --precision X=0.3 --max-iterations 400 "
        f"-s 1 --seed 11 -q -o auto_cell --save {saved}\n"
        "sigma = [1.0, 2.0]\n"
    )
    cell = ipython.user_ns["auto_cell"]
    pd.testing.assert_frame_equal(runs_of(cell), runs_of(small))
    assert (
        "Precise: every point's 95% interval is within X ±0.3"
        in capsys.readouterr().out
    )
    options = load_experiment(saved).spec.options
    assert (options.iterations, options.precision, options.max_iterations) == (
        "auto",
        {"X": 0.3},
        400,
    )
    with pytest.raises(UsageError, match="a half-width above 0"):
        ipython.run_cell(
            "%%batchrun Noisy --iterations auto --precision X=0 -q\nsigma = 1.0\n"
        )
    ipython.run_cell(
        "%%batchrun Noisy --iterations auto --precision X=0.3 -s 1 --dry-run\n"
        "sigma = [1.0, 2.0]\n"
    )
    assert "20 runs of Noisy = 2 parameter points x 10 iterations in a first round" in (
        capsys.readouterr().out
    )


def test_the_form_offers_the_options_and_writes_the_cell(ipython, small):
    state = FormState(Noisy, namespace={})
    state.fields["sigma"].mode, state.fields["sigma"].list_text = SWEEP, "1.0, 2.0"
    state.options.update(
        iterations="auto",
        precision="X=0.3",
        max_iterations="400",
        max_steps=1,
        seed="11",
        output="from_form",
    )
    request = state.validate().request
    assert request is not None and request.plan.rule.wanted == (("X", 0.3),)
    code = state.code("Noisy")
    assert "--iterations auto --precision X=0.3 --max-iterations 400" in code
    ipython.user_ns["Noisy"] = Noisy
    ipython.run_cell(code.replace("%%batchrun Noisy", "%%batchrun Noisy -q", 1) + "\n")
    pd.testing.assert_frame_equal(runs_of(ipython.user_ns["from_form"]), runs_of(small))

    form = SweepForm(Noisy, namespace={})
    boxes = form.options
    boxes["iterations"].widget.value = "auto"
    assert "precision" in boxes["precision"].error.value  # auto needs a precision
    boxes["precision"].widget.value = "X=0.3"
    assert form.request is not None and "then until precise" in form.count.value
    boxes["iterations"].widget.value = 3  # a number from code is shown as text
    assert "precision" in boxes["precision"].error.value  # not without auto
    boxes["precision"].widget.value = ""
    assert form.request is not None and form.request.plan.iterations == 3


def test_an_experiment_file_runs_headless_to_the_same_runs(small, tmp_path, capsys):
    (tmp_path / "noisy.py").write_text(NOISY_SOURCE)
    (tmp_path / "auto.toml").write_text(
        textwrap.dedent(
            """
            model = "noisy.py:Noisy"
            iterations = "auto"
            max_iterations = 400
            max_steps = 1
            seed = 11
            store = "runs"

            [precision]
            X = 0.3

            [parameters]
            sigma = [1.0, 2.0]
            """
        )
    )
    assert mesa_nb_main(["run", str(tmp_path / "auto.toml"), "-q"]) == 0
    stored = mesa_nb.load_store(tmp_path / "runs")
    pd.testing.assert_frame_equal(runs_of(stored), runs_of(small))
    pd.testing.assert_frame_equal(values_of(stored), values_of(small))
    capsys.readouterr()
    assert mesa_nb_main(["status", str(tmp_path / "runs")]) == 0
    status = capsys.readouterr().out
    assert "up to" in status and "iterations='auto': Precise:" in status
    loaded = load_experiment(tmp_path / "auto.toml", ["precision=X=0.2"])
    assert loaded.spec.options.precision == {"X": 0.2}
    text, _ = dry_run(session.prepare(loaded.spec).plan)
    assert "until the 95% interval of each point's final X ±0.2" in text
