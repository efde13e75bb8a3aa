"""replicate_stats: hand-computed statistics, exclusion of failed runs, errors."""

from __future__ import annotations

import dataclasses
import math

import numpy as np
import pandas as pd
import pytest
from models import Fragile, Money
from scipy import stats as scipy_stats

import mesa_nb
from mesa_nb.analysis.stats import STAT_COLUMNS, replicate_stats
from mesa_nb.core.errors import MesaNbError, ParameterError

# Student t quantiles for a 95% interval, written out (checked against scipy below).
T975_DF1 = 12.7062047361747
T975_DF2 = 4.30265272974946


def small_frame() -> pd.DataFrame:
    """Six runs shaped like result.model: n=10 has 3 runs, n=20 has 3 runs, but
    RunId 5 (n=20) stopped after Step 0."""
    rows = [
        # RunId, iteration, n, Step, Gini
        (0, 0, 10, 0, 1.0),
        (0, 0, 10, 1, 2.0),
        (1, 0, 20, 0, 5.0),
        (1, 0, 20, 1, 7.0),
        (2, 1, 10, 0, 3.0),
        (2, 1, 10, 1, 6.0),
        (3, 1, 20, 0, 5.0),
        (3, 1, 20, 1, 9.0),
        (4, 2, 10, 0, 2.0),
        (4, 2, 10, 1, 4.0),
        (5, 2, 20, 0, 8.0),
    ]
    return pd.DataFrame(rows, columns=["RunId", "iteration", "n", "Step", "Gini"])


def test_t_quantiles_written_out_are_scipys() -> None:
    assert scipy_stats.t.ppf(0.975, 1) == pytest.approx(T975_DF1, rel=1e-12)
    assert scipy_stats.t.ppf(0.975, 2) == pytest.approx(T975_DF2, rel=1e-12)


def test_per_step_statistics_match_hand_computed_values() -> None:
    # Shuffled input: the output is sorted by n, then Step.
    frame = small_frame().sample(frac=1.0, random_state=3)
    out = replicate_stats(frame, "Gini", by="n", interval="t")

    s3 = math.sqrt(3)
    expected = pd.DataFrame(
        {
            "n": [10, 10, 20, 20],
            "Step": [0, 1, 0, 1],
            # the run of n=20 without Step 1 counts there with its Step 0 value
            "count": [3, 3, 3, 3],
            # n=10: (1,3,2) (2,6,4); n=20: (5,5,8) (7,9,8)
            "mean": [2.0, 4.0, 6.0, 8.0],
            "std": [1.0, 2.0, s3, 1.0],
            "sem": [1 / s3, 2 / s3, 1.0, 1 / s3],
            "ci_low": [
                2 - T975_DF2 / s3,
                4 - T975_DF2 * 2 / s3,
                6 - T975_DF2,
                8 - T975_DF2 / s3,
            ],
            "ci_high": [
                2 + T975_DF2 / s3,
                4 + T975_DF2 * 2 / s3,
                6 + T975_DF2,
                8 + T975_DF2 / s3,
            ],
            "min": [1.0, 2.0, 5.0, 7.0],
            "max": [3.0, 6.0, 8.0, 9.0],
        }
    )
    assert list(out.columns) == ["n", "Step", *STAT_COLUMNS]
    assert out["count"].dtype == np.int64
    pd.testing.assert_frame_equal(
        out[expected.columns], expected, check_exact=False, rtol=1e-12
    )
    assert out["interval"].tolist() == ["t"] * 4
    # three runs a group: too few for the dip test
    assert out["dip_p"].isna().all() and not out["bimodal"].any()


def test_final_uses_each_runs_last_record_and_drops_step() -> None:
    out = replicate_stats(small_frame(), "Gini", by="n", final=True, interval="t")
    assert list(out.columns) == ["n", *STAT_COLUMNS]
    # last values: n=10 -> 2, 6, 4; n=20 -> 7, 9 and 8 (RunId 5 stopped at Step 0)
    assert out["n"].tolist() == [10, 20]
    assert out["count"].tolist() == [3, 3]
    assert out["mean"].tolist() == pytest.approx([4.0, 8.0])
    assert out["std"].tolist() == pytest.approx([2.0, 1.0])
    assert out["ci_low"].tolist() == pytest.approx(
        [4 - T975_DF2 * 2 / math.sqrt(3), 8 - T975_DF2 / math.sqrt(3)]
    )
    assert out["max"].tolist() == [6.0, 9.0]


def test_default_by_for_a_dataframe_is_the_columns_that_vary() -> None:
    frame = small_frame()
    frame.insert(3, "width", 10)  # a constant parameter column
    out = replicate_stats(frame, "Gini")
    assert list(out.columns[:2]) == ["n", "Step"]
    pooled = replicate_stats(frame, "Gini", by=[], final=True)
    assert list(pooled.columns) == STAT_COLUMNS
    values = [2.0, 7.0, 6.0, 9.0, 4.0, 8.0]
    assert pooled["count"].item() == 6
    assert pooled["mean"].item() == pytest.approx(np.mean(values))
    assert pooled["std"].item() == pytest.approx(np.std(values, ddof=1))


def test_level_sets_the_t_quantile() -> None:
    out = replicate_stats(
        small_frame(), "Gini", by="n", level=0.9, final=True, interval="t"
    )
    t90 = scipy_stats.t.ppf(0.95, 2)  # 2.919985580355516
    assert t90 == pytest.approx(2.919985580355516)
    half = t90 * 2 / math.sqrt(3)
    assert out.loc[0, "ci_low"] == pytest.approx(4 - half)
    assert out.loc[0, "ci_high"] == pytest.approx(4 + half)


def test_a_single_run_has_nan_spread_and_interval() -> None:
    frame = small_frame()
    one = frame[frame["RunId"] == 1]
    out = replicate_stats(one, "Gini", by=[])
    assert out["count"].tolist() == [1, 1]
    assert out["mean"].tolist() == [5.0, 7.0]
    assert out["min"].tolist() == [5.0, 7.0]
    assert out[["std", "sem", "ci_low", "ci_high"]].isna().all(axis=None)


def test_zero_spread_gives_a_zero_width_interval() -> None:
    frame = small_frame()
    out = replicate_stats(frame[frame["RunId"].isin([1, 3])], "Gini", by="n")
    step0 = out[out["Step"] == 0].iloc[0]
    assert (step0["mean"], step0["std"], step0["ci_low"], step0["ci_high"]) == (
        5.0,
        0.0,
        5.0,
        5.0,
    )


@pytest.fixture(scope="module")
def money() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Money,
        {"n": [3, 6], "bonus": [0.0, 1.0]},
        iterations=3,
        max_steps=4,
        data_collection_period=1,
        seed=11,
    )


def test_sweep_result_groups_by_the_swept_parameters(money) -> None:
    out = replicate_stats(money, "Max")
    assert list(out.columns[:3]) == ["n", "bonus", "Step"]
    groups = money.model.groupby(["n", "bonus", "Step"])["Max"]
    assert out["count"].tolist() == groups.count().tolist()
    assert out["count"].tolist() == [3] * (2 * 2 * 5)
    np.testing.assert_allclose(out["mean"], groups.mean().to_numpy())
    np.testing.assert_allclose(out["std"], groups.std().to_numpy())
    np.testing.assert_allclose(out["min"], groups.min().to_numpy())
    # the same numbers from the method, and from the bare model table
    pd.testing.assert_frame_equal(money.stats("Max"), out)
    pd.testing.assert_frame_equal(replicate_stats(money.model, "Max"), out)


def test_final_on_a_sweep_is_the_last_step_of_each_run(money) -> None:
    out = money.stats("Total", by="n", final=True)
    # Money conserves wealth: Total == n in every run, 6 runs per n
    assert out["n"].tolist() == [3, 6]
    assert out["count"].tolist() == [6, 6]
    assert out["mean"].tolist() == [3.0, 6.0]
    assert out["std"].tolist() == [0.0, 0.0]
    assert out["ci_low"].tolist() == [3.0, 6.0]


@pytest.fixture(scope="module")
def fragile() -> mesa_nb.SweepResult:
    return mesa_nb.sweep(
        Fragile,
        {"fail": [False, True]},
        iterations=3,
        max_steps=4,
        data_collection_period=1,
        seed=5,
    )


def test_failed_runs_are_not_counted(fragile) -> None:
    assert fragile.n_failed == 3
    ok = set(fragile.runs.loc[fragile.runs["status"] == "ok", "RunId"])
    assert set(fragile.model["RunId"]) == ok  # the model table holds ok runs only
    out = fragile.stats("Steps")
    assert out["fail"].unique().tolist() == [False]
    assert out["Step"].tolist() == [0, 1, 2, 3, 4]
    assert out["count"].tolist() == [3] * 5
    assert out["mean"].tolist() == [0.0, 1.0, 2.0, 3.0, 4.0]


def test_rows_of_runs_that_are_not_ok_are_dropped(fragile) -> None:
    failed_id = int(fragile.failures["RunId"].iloc[0])
    stray = pd.DataFrame(
        {"RunId": [failed_id], "iteration": [0], "fail": [True], "Step": [0]}
    ).assign(Steps=100)
    edited = dataclasses.replace(
        fragile, model=pd.concat([fragile.model, stray], ignore_index=True)
    )
    out = replicate_stats(edited, "Steps", by=[], final=True)
    assert out["count"].item() == 3
    assert out["max"].item() == 4.0


def test_unknown_reporter_lists_the_reporters(money) -> None:
    with pytest.raises(ParameterError) as info:
        replicate_stats(money, "Totl")
    message = str(info.value)
    assert message.startswith("No model reporter 'Totl'. Available: Total, Max, Steps.")
    assert "Did you mean 'Total'?" in message
    assert isinstance(info.value, ValueError)
    assert isinstance(info.value, MesaNbError)


def test_a_parameter_is_not_a_reporter(money) -> None:
    with pytest.raises(ParameterError, match="No model reporter 'n'"):
        replicate_stats(money, "n")


def test_unknown_by_lists_the_parameters(money) -> None:
    with pytest.raises(
        ParameterError, match=r"No parameter 'nn'\. Available: n, bonus"
    ):
        replicate_stats(money, "Max", by=["bonus", "nn"])
    with pytest.raises(ParameterError, match="twice"):
        replicate_stats(money, "Max", by=["n", "n"])


def test_gini_of_the_boltzmann_example() -> None:
    from mesa_nb.examples import BoltzmannWealth

    result = mesa_nb.sweep(
        BoltzmannWealth,
        {"n": [5, 10], "width": 3, "height": 3},
        iterations=2,
        max_steps=3,
        seed=2,
    )
    out = result.stats("Gini")
    assert out["n"].tolist() == [5, 10]
    assert out["Step"].tolist() == [3, 3]  # default collection keeps the last Step
    finals = result.model.groupby("n")["Gini"].mean()
    np.testing.assert_allclose(out["mean"], finals.to_numpy())
    with pytest.raises(
        ParameterError, match=r"^No model reporter 'Gni'\. Available: Gini\."
    ):
        result.stats("Gni")


def test_bad_inputs() -> None:
    frame = small_frame()
    with pytest.raises(ValueError, match="level"):
        replicate_stats(frame, "Gini", level=95)
    with pytest.raises(TypeError, match="SweepResult or a DataFrame"):
        replicate_stats(frame.to_dict("records"), "Gini")  # type: ignore[arg-type]
    with pytest.raises(ParameterError, match="no Step column"):
        replicate_stats(frame.drop(columns="Step"), "Gini")
    with pytest.raises(ParameterError, match="not numeric"):
        replicate_stats(frame.assign(Label="x"), "Label")
