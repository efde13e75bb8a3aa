"""Sensitivity for any sample: PRCC, SRC, delta and RBD-FAST on LHS, QMC and
grid sweeps and loaded stores, checked against known answers and against
formulas computed here without mesa_nb."""

from __future__ import annotations

import math

import mesa
import numpy as np
import pandas as pd
import pytest
from scipy import stats

import mesa_nb
from mesa_nb.analysis import sensitivity
from mesa_nb.designs import between, halton, lhs, one_of, sobol, sobol_sequence

matplotlib = pytest.importorskip("matplotlib")
matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.container import BarContainer, ErrorbarContainer  # noqa: E402

NOISE = 0.5
RANGES = {name: between(0, 1) for name in "abc"}


class NoisyLinear(mesa.Model):
    """y = 3a + b + 0c + N(0, 0.5), the noise drawn from the model's rng."""

    def __init__(self, a=0.0, b=0.0, c=0.0, kind="x", rng=None):
        super().__init__(rng=rng)
        self.y = 3 * a + b + 0 * c + self.rng.normal(0.0, NOISE)
        self.datacollector = mesa.DataCollector(model_reporters={"y": "y"})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class Undefined(mesa.Model):
    """NoisyLinear whose y is NaN when a > 0.9."""

    def __init__(self, a=0.0, b=0.0, c=0.0, rng=None):
        super().__init__(rng=rng)
        self.y = float("nan") if a > 0.9 else 3 * a + b + self.rng.normal(0, NOISE)
        self.datacollector = mesa.DataCollector(model_reporters={"y": "y"})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def lhs_result() -> mesa_nb.SweepResult:
    """100 LHS points x 2 replicates = 200 runs."""
    design = lhs(RANGES, 100, seed=1)
    return mesa_nb.sweep(NoisyLinear, design, iterations=2, max_steps=1, seed=1)


def hand_prcc(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    """PRCC from the inverse of the rank correlation matrix (another formula
    than mesa_nb's residual regressions): -P_iy / sqrt(P_ii P_yy)."""
    ranks = np.column_stack([stats.rankdata(c) for c in np.column_stack([x, y]).T])
    precision = np.linalg.inv(np.corrcoef(ranks, rowvar=False))
    k = x.shape[1]
    return np.array(
        [
            -precision[i, k] / math.sqrt(precision[i, i] * precision[k, k])
            for i in range(k)
        ]
    )


def inputs(result: mesa_nb.SweepResult) -> tuple[np.ndarray, np.ndarray]:
    final = result.model.sort_values("RunId")
    return final[list("abc")].to_numpy(), final["y"].to_numpy()


# -- PRCC and SRC ----------------------------------------------------------------------
def test_prcc_on_an_lhs_sweep_ranks_a_over_b_over_c(lhs_result):
    table = lhs_result.sensitivity("y", method="prcc")
    assert list(table.columns) == ["PRCC", "p_value", "conf_low", "conf_high"]
    assert list(table.index) == ["a", "b", "c"]
    assert table.index.name == "parameter"
    prcc = table["PRCC"]
    assert prcc["a"] > prcc["b"] > abs(prcc["c"])
    # c has no effect: its interval holds 0 and its p-value is not small
    assert table.loc["c", "conf_low"] < 0 < table.loc["c", "conf_high"]
    assert table.loc["c", "p_value"] > 0.05
    for name in "ab":  # a and b do: intervals clear of 0, tiny p-values
        assert table.loc[name, "conf_low"] > 0
        assert table.loc[name, "p_value"] < 1e-6
    assert (table["conf_low"] < prcc).all() and (prcc < table["conf_high"]).all()
    # the same numbers by another formula
    x, y = inputs(lhs_result)
    assert np.allclose(prcc, hand_prcc(x, y), atol=1e-10)
    # the p-value is the t-test on n - k - 1 = 196 degrees of freedom
    r = prcc["c"]
    t = r * math.sqrt(196 / (1 - r * r))
    assert table.loc["c", "p_value"] == pytest.approx(2 * stats.t.sf(abs(t), 196))
    assert table.attrs["runs"] == 200 and table.attrs["method"] == "prcc"


def test_prcc_is_the_default_for_a_sample_and_level_widens_the_interval(
    lhs_result,
):
    default = lhs_result.sensitivity("y")
    assert default.attrs["method"] == "prcc"
    wide = lhs_result.sensitivity("y", level=0.99)
    assert np.allclose(wide["PRCC"], default["PRCC"])
    assert (wide["conf_low"] < default["conf_low"]).all()
    assert (wide["conf_high"] > default["conf_high"]).all()


def test_src_matches_the_linear_model(lhs_result):
    table = lhs_result.sensitivity("y", method="src")
    assert list(table.columns) == ["SRC", "p_value", "conf_low", "conf_high"]
    x, y = inputs(lhs_result)
    # by hand: the raw least-squares slopes times sd(x) / sd(y)
    design = np.column_stack([np.ones(len(y)), x])
    slopes = np.linalg.lstsq(design, y, rcond=None)[0][1:]
    expected = slopes * x.std(axis=0, ddof=1) / y.std(ddof=1)
    assert np.allclose(table["SRC"], expected, atol=1e-10)
    # and near the model's truth: 3 sd(a) / sd(y), sd(b) / sd(y), 0
    sd_y = math.sqrt(10 / 12 + NOISE**2)
    truth = [3 / math.sqrt(12) / sd_y, 1 / math.sqrt(12) / sd_y, 0.0]
    assert np.allclose(table["SRC"], truth, atol=0.08), table
    assert table.loc["c", "conf_low"] < 0 < table.loc["c", "conf_high"]
    assert table.attrs["R2"] == pytest.approx(
        (10 / 12) / (10 / 12 + NOISE**2), abs=0.06
    )


# -- delta and RBD-FAST ----------------------------------------------------------------
def test_delta_and_rbd_fast_agree_on_the_order(lhs_result):
    prcc = lhs_result.sensitivity("y", method="prcc")["PRCC"]
    fast = lhs_result.sensitivity("y", method="rbd_fast", seed=1)
    assert list(fast.columns) == ["S1", "S1_conf"]
    delta = lhs_result.sensitivity("y", method="delta", seed=1, resamples=10)
    assert list(delta.columns) == ["delta", "delta_conf", "S1", "S1_conf"]
    order = list(prcc.abs().sort_values(ascending=False).index)
    assert order == ["a", "b", "c"]
    assert list(fast["S1"].sort_values(ascending=False).index) == order
    assert list(delta["delta"].sort_values(ascending=False).index) == order
    # first-order indices near the truth: var(3a) / var(y) = 0.69
    share_a = (9 / 12) / (10 / 12 + NOISE**2)
    assert fast.loc["a", "S1"] == pytest.approx(share_a, abs=0.15)
    assert delta.loc["a", "S1"] == pytest.approx(share_a, abs=0.15)


@pytest.mark.filterwarnings("ignore:.*Potential Bias Notice")
def test_salib_leaves_warnings_and_numpy_global_state_alone(lhs_result):
    import warnings

    np.random.seed(123)
    expected = np.random.random()
    np.random.seed(123)
    filters, formatter = list(warnings.filters), warnings.formatwarning
    lhs_result.sensitivity("y", method="delta", seed=5, resamples=3)
    assert np.random.random() == expected
    assert warnings.filters == filters
    assert warnings.formatwarning is formatter


def test_halton_and_sobol_sequence_samples_are_analysed():
    for make in (halton, sobol_sequence):
        result = mesa_nb.sweep(
            NoisyLinear, make(RANGES, 128, seed=2), max_steps=1, seed=2
        )
        prcc = result.sensitivity("y")["PRCC"]
        assert prcc["a"] > prcc["b"] > abs(prcc["c"])
        fast = result.sensitivity("y", method="rbd_fast", seed=1)["S1"]
        assert fast["a"] > fast["b"]


# -- refusals --------------------------------------------------------------------------
def test_a_method_that_does_not_fit_says_what_it_needs_and_what_ran(lhs_result):
    with pytest.raises(mesa_nb.ParameterError) as caught:
        lhs_result.sensitivity("y", method="sobol")
    text = str(caught.value)
    assert "needs a sweep run on mesa_nb.designs.sobol(...)" in text
    assert "this sweep ran a Latin hypercube (lhs) design of 100 points" in text
    assert "method='prcc', 'src', 'delta' or 'rbd_fast'" in text
    assert "needs a lhs design" not in text  # the old self-contradiction

    grid = mesa_nb.sweep(
        NoisyLinear,
        {"a": [0.0, 0.5, 1.0], "b": [0.0, 1.0], "c": [0.0, 0.5, 1.0]},
        iterations=2,
        max_steps=1,
        seed=3,
    )
    with pytest.raises(mesa_nb.ParameterError) as caught:
        grid.sensitivity("y", method="delta")
    text = str(caught.value)
    assert "random or space-filling sample" in text
    assert "this sweep ran a grid of 3 x 2 x 3 values (18 points)" in text.lower()
    assert "method='prcc' or 'src'" in text
    with pytest.raises(mesa_nb.ParameterError, match=r"designs\.morris"):
        grid.sensitivity("y", method="morris")

    saltelli = mesa_nb.sweep(NoisyLinear, sobol(RANGES, 16, seed=1), max_steps=1)
    with pytest.raises(mesa_nb.ParameterError) as caught:
        saltelli.sensitivity("y", method="rbd_fast")
    assert "ran a Saltelli (sobol) design of 80 points" in str(caught.value)
    assert "method='sobol', 'prcc' or 'src'" in str(caught.value)
    assert saltelli.sensitivity("y", method="prcc")["PRCC"]["a"] > 0.5

    with pytest.raises(mesa_nb.ParameterError, match="Did you mean 'prcc'"):
        lhs_result.sensitivity("y", method="prc")


def test_prcc_on_a_grid_ranks_the_parameters():
    grid = mesa_nb.sweep(
        NoisyLinear,
        {"a": [0.0, 0.5, 1.0], "b": [0.0, 0.5, 1.0], "c": [0.0, 1.0]},
        iterations=4,
        max_steps=1,
        seed=3,
    )
    table = grid.sensitivity("y")
    assert table.attrs["runs"] == 72
    assert table.loc["a", "PRCC"] > table.loc["b", "PRCC"] > abs(table.loc["c", "PRCC"])
    assert table.loc["c", "conf_low"] < 0 < table.loc["c", "conf_high"]


def test_categorical_parameters_are_refused_not_encoded():
    ranges = {**RANGES, "kind": one_of("x", "y")}
    result = mesa_nb.sweep(NoisyLinear, lhs(ranges, 40, seed=1), max_steps=1)
    with pytest.raises(mesa_nb.ParameterError) as caught:
        result.sensitivity("y", method="prcc")
    text = str(caught.value)
    assert "'kind' is a categorical parameter (values 'x', 'y')" in text
    assert "parameters=['a', 'b', 'c']" in text
    table = result.sensitivity("y", parameters=["a", "b", "c"])
    assert list(table.index) == ["a", "b", "c"]
    # each category on its own: a model-shaped DataFrame of its runs
    calm = result.model[result.model["kind"] == "x"]
    alone = sensitivity(calm, "y", method="prcc")
    assert list(alone.index) == ["a", "b", "c"]
    assert alone.attrs["runs"] == len(calm)


def test_runs_without_a_value_are_named():
    result = mesa_nb.sweep(Undefined, lhs(RANGES, 30, seed=4), max_steps=1)
    nan_ids = result.model.loc[result.model["y"].isna(), "RunId"].tolist()
    assert nan_ids
    with pytest.raises(mesa_nb.ParameterError) as caught:
        result.sensitivity("y")
    assert "'y' is NaN at the end of" in str(caught.value)
    assert ", ".join(map(str, sorted(nan_ids)[:3])) in str(caught.value)
    with pytest.raises(mesa_nb.ParameterError, match="no record at step 7"):
        result.sensitivity("y", step=7)
    kept = result.model.dropna(subset=["y"])
    assert sensitivity(kept, "y").attrs["runs"] == 30 - len(nan_ids)


def test_too_few_runs_and_constant_outputs_are_refused():
    small = mesa_nb.sweep(NoisyLinear, lhs(RANGES, 5, seed=1), max_steps=1)
    with pytest.raises(mesa_nb.ParameterError, match="needs 6 runs or more"):
        small.sensitivity("y")
    with pytest.raises(mesa_nb.ParameterError, match="needs 50 runs or more"):
        small.sensitivity("y", method="rbd_fast")
    frame = small.model.assign(y=1.0)
    with pytest.raises(mesa_nb.ParameterError, match="same value"):
        sensitivity(frame, "y", parameters=["a", "b"])


def test_a_loaded_store_gives_the_same_table(tmp_path):
    design = lhs(RANGES, 60, seed=6)
    ran = mesa_nb.sweep(
        NoisyLinear, design, max_steps=1, seed=6, store=tmp_path / "store"
    )
    loaded = mesa_nb.load_store(tmp_path / "store")
    pd.testing.assert_frame_equal(
        loaded.sensitivity("y", method="prcc"), ran.sensitivity("y", method="prcc")
    )
    pd.testing.assert_frame_equal(
        loaded.sensitivity("y", method="rbd_fast", seed=1),
        ran.sensitivity("y", method="rbd_fast", seed=1),
    )
    with pytest.raises(mesa_nb.ParameterError, match="Latin hypercube"):
        loaded.sensitivity("y", method="sobol")


# -- plots -----------------------------------------------------------------------------
def test_the_prcc_plot_draws_ranked_signed_bars_with_intervals(lhs_result):
    table = lhs_result.sensitivity("y")
    ax = lhs_result.plot.sensitivity("y")
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 1
    widths = [p.get_width() for p in bars[0].patches]
    ranked = table["PRCC"].reindex(table["PRCC"].abs().sort_values().index)
    assert np.allclose(widths, ranked)  # smallest |PRCC| at the bottom
    labels = [t.get_text() for t in ax.get_yticklabels()]
    assert labels == list(ranked.index) == ["c", "b", "a"]
    (errors,) = [c for c in ax.containers if isinstance(c, ErrorbarContainer)]
    segments = errors.lines[2][0].get_segments()
    for (start, end), name in zip(segments, labels, strict=True):
        assert start[0] == pytest.approx(table.loc[name, "conf_low"])
        assert end[0] == pytest.approx(table.loc[name, "conf_high"])
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 3 and all(t.startswith("p") for t in texts)
    assert "p<0.001" in texts
    legend = [t.get_text() for t in ax.get_legend().get_texts()]
    assert "95% CI" in legend and "PRCC > 0" in legend
    assert ax.get_xlabel() == "PRCC (95% CI)"
    assert ax.get_title() == "Sensitivity of y (PRCC) over 200 runs"


def test_the_src_delta_and_rbd_fast_plots(lhs_result):
    ax = lhs_result.plot.sensitivity("y", method="src")
    assert "R\N{SUPERSCRIPT TWO} = 0.7" in ax.get_title()
    assert ax.get_xlabel() == "SRC (95% CI)"
    plt.close("all")

    fast = lhs_result.sensitivity("y", method="rbd_fast", seed=2)
    ax = lhs_result.plot.sensitivity("y", method="rbd_fast", seed=2)
    (bars,) = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert np.allclose([p.get_width() for p in bars.patches], fast["S1"].sort_values())
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["first order (S1)"]
    assert "RBD-FAST" in ax.get_title()
    plt.close("all")

    ax = lhs_result.plot.sensitivity("y", method="delta", seed=2, resamples=3)
    bars = [c for c in ax.containers if isinstance(c, BarContainer)]
    assert len(bars) == 2 and all(len(b.patches) == 3 for b in bars)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [
        "first order (S1)",
        "delta (moment-independent)",
    ]
    assert [t.get_text() for t in ax.get_yticklabels()][-1] == "a"
