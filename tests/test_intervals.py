"""Intervals that respect the data: bounds, the bootstrap, clipping, the
method named in stats() and in legends; two-peaked replicates flagged."""

from __future__ import annotations

import warnings

import mesa
import numpy as np
import pandas as pd
import pytest
from models import Money

import mesa_nb
from mesa_nb.analysis import plots
from mesa_nb.analysis.stats import BimodalWarning, replicate_stats
from mesa_nb.core.errors import ParameterError
from mesa_nb.examples import Outbreak

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


class Split(mesa.Model):
    """A share that drifts from 0.5 to 0 or to 1 (each run picks one at
    random): its replicates end half at 0 and half at 1."""

    def __init__(self, rate: float = 0.1, rng=None) -> None:
        super().__init__(rng=rng)
        self.rate = rate
        self.target = 1.0 if self.random.random() < 0.5 else 0.0
        self.share = 0.5
        self.datacollector = mesa.DataCollector(model_reporters={"Share": "share"})
        self.datacollector.collect(self)

    def step(self) -> None:
        move = self.rate * (0.5 + self.random.random())
        if self.target:
            self.share = min(1.0, self.share + move)
        else:
            self.share = max(0.0, self.share - move)
        self.datacollector.collect(self)


@pytest.fixture(scope="module")
def outbreaks() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Outbreak,
        {"r0": [0.8, 1.2, 1.6, 2.0], "population": 40},
        iterations=6,
        max_steps=12,
        data_collection_period=1,
        processes=1,
        seed=3,
    )


@pytest.fixture(scope="module")
def split() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Split,
        {"rate": [0.1]},
        iterations=40,
        max_steps=12,
        data_collection_period=1,
        processes=1,
        seed=5,
    )


def frame_of(values, steps=None) -> pd.DataFrame:
    """One parameter point's final values as a model table."""
    values = list(values)
    return pd.DataFrame(
        {
            "RunId": range(len(values)),
            "iteration": range(len(values)),
            "Step": 9 if steps is None else steps,
            "Share": values,
        }
    )


# -- a proportion ---------------------------------------------------------------
def test_the_intervals_of_a_proportion_stay_inside_0_and_1(outbreaks) -> None:
    plain = outbreaks.stats("attack_rate", interval="t")
    # the problem: Student's t leaves the values a proportion can take
    assert (plain["ci_low"] < 0).any()
    for options in ({}, {"bounds": (0, 1)}, {"interval": "bootstrap"}):
        for final in (False, True):
            out = outbreaks.stats("attack_rate", final=final, **options)
            inside = out.dropna(subset=["ci_low"])
            assert len(inside) and (inside["ci_low"] >= 0).all()
            assert (inside["ci_high"] <= 1).all()
            assert (inside["ci_low"] <= inside["mean"]).all()
            assert (inside["mean"] <= inside["ci_high"]).all()
    out = outbreaks.stats("attack_rate", bounds=(0, 1))
    # where t stayed inside it is kept; six runs a point: clipped elsewhere
    assert set(out["interval"].dropna()) == {"t", "t, clipped"}
    kept = out["interval"] == "t"
    pd.testing.assert_series_equal(out["ci_low"][kept], plain["ci_low"][kept])
    clipped = out[out["interval"] == "t, clipped"]
    assert ((clipped["ci_low"] == 0) | (clipped["ci_high"] == 1)).all()
    assert out.attrs["bounds"] == (0.0, 1.0)
    assert out.attrs["bounds_from"] == "declared"


def test_ten_runs_or_more_get_the_bootstrap_where_t_leaves_the_range() -> None:
    values = [0.0] * 10 + [0.3, 0.5]
    t = replicate_stats(frame_of(values), "Share", by=[], interval="t")
    assert t["ci_low"].item() < 0
    out = replicate_stats(frame_of(values), "Share", by=[], bounds=(0, 1))
    assert out["interval"].item() == "bootstrap"
    # the percentile bootstrap of the mean, as scipy computes it, seeded
    from scipy.stats import bootstrap

    expected = bootstrap(
        (np.array([values]),),
        np.mean,
        axis=-1,
        vectorized=True,
        method="percentile",
        n_resamples=9999,
        rng=np.random.default_rng(0),
    ).confidence_interval
    assert out["ci_low"].item() == pytest.approx(expected.low[0])
    assert out["ci_high"].item() == pytest.approx(expected.high[0])
    assert 0 <= out["ci_low"].item() < out["mean"].item() < out["ci_high"].item()
    # seeded: the same call gives the same interval; another seed another one
    spread = frame_of(np.random.default_rng(4).exponential(size=12))
    once = replicate_stats(spread, "Share", by=[], interval="bootstrap")
    pd.testing.assert_frame_equal(
        once, replicate_stats(spread, "Share", by=[], interval="bootstrap")
    )
    other = replicate_stats(spread, "Share", by=[], interval="bootstrap", seed=1)
    assert other["ci_high"].item() != once["ci_high"].item()


def test_without_declared_bounds_they_are_read_from_the_values() -> None:
    def stats(values):
        return replicate_stats(frame_of(values), "Share", by=[])

    # every value in [0, 1]: a share; few runs: t clipped to it
    share = stats([0.1, 0.1, 0.1, 0.6])
    assert share["interval"].item() == "t, clipped"
    assert share["ci_low"].item() == 0
    assert 0.6 < share["ci_high"].item() < 1
    assert share.attrs["bounds"] == (0.0, 1.0)
    assert share.attrs["bounds_from"] == "observed"
    # none negative: a count, wealth; only the lower side is a limit
    count = stats([5.0, 5.0, 5.0, 30.0])
    assert count["ci_low"].item() == 0 and count["ci_high"].item() > 30
    assert count.attrs["bounds"] == (0.0, np.inf)
    assert stats([-5.0, -5.0, -5.0, -30.0]).attrs["bounds"] == (-np.inf, 0.0)
    # both signs: no bounds, Student's t
    free = stats([-1.0, -1.0, -1.0, 4.0])
    assert free["interval"].item() == "t" and free["ci_low"].item() < -1
    # one-sided declared bounds
    low = replicate_stats(
        frame_of([0.1, 0.1, 0.1, 0.6]), "Share", by=[], bounds=(0, None)
    )
    assert low["ci_low"].item() == 0
    assert low["ci_high"].item() == pytest.approx(share["ci_high"].item())


def test_interval_t_is_the_plain_t_interval_unless_bounds_are_declared() -> None:
    values = [0.0, 0.0, 0.1, 0.9]
    plain = replicate_stats(frame_of(values), "Share", by=[], interval="t")
    mean, sem = np.mean(values), np.std(values, ddof=1) / 2
    from scipy import stats as scipy_stats

    half = scipy_stats.t.ppf(0.975, 3) * sem
    assert plain["ci_low"].item() == pytest.approx(mean - half)
    assert plain["ci_high"].item() == pytest.approx(mean + half)
    assert plain["interval"].item() == "t"
    clipped = replicate_stats(
        frame_of(values), "Share", by=[], interval="t", bounds=(0, 1)
    )
    assert clipped["ci_low"].item() == 0
    assert clipped["ci_high"].item() == pytest.approx(mean + half)
    assert clipped["interval"].item() == "t, clipped"


def test_bad_bounds_and_methods() -> None:
    frame = frame_of([0.2, 0.4, 1.5])
    with pytest.raises(ParameterError, match=r"'Share' takes values from 0.2 to 1.5"):
        replicate_stats(frame, "Share", by=[], bounds=(0, 1))
    with pytest.raises(ValueError, match="low < high"):
        replicate_stats(frame, "Share", by=[], bounds=(1, 0))
    with pytest.raises(ValueError, match=r"bounds must be \(low, high\)"):
        replicate_stats(frame, "Share", by=[], bounds=1)
    with pytest.raises(ValueError, match="interval must be"):
        replicate_stats(frame, "Share", by=[], interval="wald")


def test_a_single_run_has_no_interval_and_no_method() -> None:
    out = replicate_stats(frame_of([0.4]), "Share", by=[])
    assert out["ci_low"].isna().all() and out["interval"].isna().all()


# -- the legends name the method --------------------------------------------------
# epidemics that die out or take off: two-peaked at r0=2 (warned, see below)
@pytest.mark.filterwarnings("ignore::mesa_nb.analysis.stats.BimodalWarning")
def test_the_legends_name_the_interval_method(outbreaks) -> None:
    ax = plots.lines(outbreaks, "attack_rate", bounds=(0, 1))
    band = ax.get_legend().get_texts()[-1].get_text()
    assert band == "95% CI of the mean\n(t; clipped t where t left [0, 1])"
    for collection in ax.collections:  # every band inside [0, 1]
        y = collection.get_paths()[0].vertices[:, 1]
        assert y.min() >= 0 and y.max() <= 1
    ax = plots.lines(outbreaks, "attack_rate", interval="t")
    assert ax.get_legend().get_texts()[-1].get_text() == "95% CI of the mean (t)"
    ax = plots.final(outbreaks, "attack_rate", "r0", interval="bootstrap")
    assert ax.get_legend().get_texts()[-1].get_text() == (
        "error bars: 95% CI of the mean (percentile bootstrap)"
    )
    (container,) = ax.containers
    for low, high in (s[:, 1] for s in container.lines[2][0].get_segments()):
        assert 0 <= low <= high <= 1
    ax = plots.final(outbreaks, "attack_rate", "r0")  # the observed range
    text = ax.get_legend().get_texts()[-1].get_text()
    assert text == "error bars: 95% CI of the mean\n(t; clipped t where t left [0, 1])"


def test_many_runs_name_the_bootstrap_in_the_legend() -> None:
    # s="a": 12 runs, mostly 0 (t leaves [0, 1]); s="b": 12 runs near 0.5
    runs = [("a", 0.0)] * 10 + [("a", 0.4), ("a", 0.6)]
    runs += [("b", 0.5)] * 6 + [("b", 0.45), ("b", 0.55)] * 3
    rows = [
        (run, run, s, step, v) for run, (s, v) in enumerate(runs) for step in (0, 1)
    ]
    frame = pd.DataFrame(rows, columns=["RunId", "iteration", "s", "Step", "Share"])
    ax = plots.lines(frame, "Share", by="s", bounds=(0, 1))
    assert ax.get_legend().get_texts()[-1].get_text() == (
        "95% CI of the mean\n(t; bootstrap where t left [0, 1])"
    )


# -- two peaks ----------------------------------------------------------------
def test_replicates_half_at_0_and_half_at_1_are_flagged(split) -> None:
    finals = split.model.sort_values("Step").groupby("RunId")["Share"].last()
    assert set(finals) == {0.0, 1.0}
    assert 12 <= finals.sum() <= 28  # about half each way
    out = split.stats("Share", final=True)
    assert out["bimodal"].item()
    assert out["dip_p"].item() < 0.05
    assert 0 <= out["ci_low"].item() <= out["ci_high"].item() <= 1
    over_steps = split.stats("Share")
    assert not over_steps.loc[over_steps["Step"] == 0, "bimodal"].item()
    assert over_steps.loc[over_steps["Step"] >= 8, "bimodal"].all()


def test_a_mean_plot_of_two_peaked_runs_warns_once(split) -> None:
    with pytest.warns(BimodalWarning) as caught:
        ax = plots.lines(split, "Share", by=None)
    mine = [w for w in caught if issubclass(w.category, BimodalWarning)]
    assert len(mine) == 1  # once for the plot, not once per step
    message = str(mine[0].message)
    assert message.startswith("Share: the replicate runs are two-peaked")
    assert "Hartigan's dip test" in message
    assert ax.get_title().splitlines()[-1].startswith("two-peaked runs")
    with pytest.warns(BimodalWarning) as caught:
        plots.final(split, "Share", "rate")
    assert len([w for w in caught if issubclass(w.category, BimodalWarning)]) == 1
    with warnings.catch_warnings():
        warnings.simplefilter("error", BimodalWarning)
        with plots.quietly():  # live plots: the note stays, no warning
            ax = plots.lines(split, "Share")
        assert "two-peaked runs" in ax.get_title()


def test_counts_are_not_two_peaked_for_their_ties(outbreaks) -> None:
    from diptest import diptest

    rng = np.random.default_rng(2)
    counts = rng.poisson(3, size=40).astype(float)
    raw_p = diptest(counts)[1]
    assert raw_p < 0.05  # the dip test alone takes ties for peaks
    out = replicate_stats(frame_of(counts), "Share", by=[])
    assert out["dip_p"].item() > 0.5 and not out["bimodal"].item()
    # nor is a 0/1 indicator (its mean is the share of runs where it holds)
    indicator = replicate_stats(frame_of([0.0, 1.0] * 6), "Share", by=[])
    assert not indicator["bimodal"].item()


def test_unimodal_runs_give_no_warning() -> None:
    result = mesa_nb.sweep(
        Money,
        {"n": [3, 6]},
        iterations=6,
        max_steps=5,
        data_collection_period=1,
        processes=1,
        seed=7,
    )
    assert not result.stats("Max")["bimodal"].any()
    with warnings.catch_warnings():
        warnings.simplefilter("error", BimodalWarning)
        ax = plots.lines(result, "Max")
        plots.final(result, "Max", "n")
    assert "two-peaked" not in ax.get_title()
