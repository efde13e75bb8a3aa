"""Input that used to give a wrong research record is refused, naming the fix.

Each test stands for one fault of the issue "A research record you can
trust": a NaN reporter analysed into zeros, a name both sampled and fixed, a
design or generator past the run cap, Morris levels and infinite bounds, a
list given for a name a design samples, and form messages pointing the wrong
way. Every refusal comes before any run starts.
"""

from __future__ import annotations

import itertools
import math

import mesa
import numpy as np
import pytest
import scipy.stats
from IPython.core.error import UsageError
from models import Money

import mesa_nb
from mesa_nb.api import session
from mesa_nb.core import designs, parameters
from mesa_nb.core.plan import MAX_RUNS
from mesa_nb.designs import between, integers, lhs, morris, sobol
from mesa_nb.examples import BoltzmannWealth
from mesa_nb.notebook.form_state import FIXED, RANGE, SWEEP, FormState


class Partial(mesa.Model):
    """y = 3a + b, undefined (NaN, or inf) where a > 0.7."""

    def __init__(self, a=0.0, b=0.0, gap=math.nan, rng=None):
        super().__init__(rng=rng)
        self.y = gap if a > 0.7 else 3 * a + b
        self.datacollector = mesa.DataCollector(model_reporters={"y": "y"})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class Holds(mesa.Model):
    """Reports what it was given: a rate and a value of any kind."""

    def __init__(self, rate: float = 0.0, held=None, rng=None):
        super().__init__(rng=rng)
        self.held = held
        self.datacollector = mesa.DataCollector(
            model_reporters={"Held": lambda m: repr(m.held), "Rate": lambda m: rate}
        )
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


class Untyped(mesa.Model):
    """A float parameter without a default value: the form's text box."""

    def __init__(self, rate: float = None, rng=None):  # noqa: RUF013
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(model_reporters={"Rate": lambda m: 1})
        self.datacollector.collect(self)

    def step(self):
        self.datacollector.collect(self)


AB = {"a": between(0, 1), "b": between(0, 1)}


# -- 10: a reporter NaN at some points ------------------------------------------
@pytest.mark.parametrize(
    "design",
    [sobol(AB, 16, seed=1), morris(AB, 10, seed=1)],
    ids=["sobol", "morris"],
)
def test_sensitivity_refuses_a_reporter_nan_at_some_points_naming_them(design):
    result = mesa_nb.sweep(Partial, design, max_steps=1, seed=1, processes=1)
    nan_runs = sorted(result.model.loc[result.model["y"].isna(), "RunId"].unique())
    assert nan_runs  # the model leaves y undefined at some points
    with pytest.raises(mesa_nb.ParameterError) as caught:
        result.sensitivity("y")
    message = str(caught.value)
    assert f"'y' is NaN at the end of {len(nan_runs)} runs" in message
    assert "RunIds " + ", ".join(map(str, nan_runs[:10])) in message
    assert f"of the design's {len(design)} points" in message
    assert "Make the reporter defined everywhere" in message
    assert "result.model['y'] = result.model['y'].fillna(0)" in message
    # the fix the message names works
    result.model["y"] = result.model["y"].fillna(0)
    table = result.sensitivity("y", seed=1)
    assert list(table.index) == ["a", "b"] and np.isfinite(table.to_numpy()).all()


def test_sensitivity_refuses_an_infinite_reporter_at_a_step():
    design = morris(AB, 6, seed=2, fixed={"gap": math.inf})
    result = mesa_nb.sweep(Partial, design, max_steps=1, seed=1, processes=1)
    with pytest.raises(mesa_nb.ParameterError, match="'y' is infinite at step 1 of"):
        result.sensitivity("y", step=1)


# -- 11: a name both sampled and fixed ------------------------------------------
@pytest.mark.parametrize(
    "make",
    [
        lambda: lhs({"x": between(0, 1)}, 8, fixed={"x": 3}),
        lambda: sobol({"x": between(0, 1), "y": between(0, 1)}, 8, fixed={"x": 3}),
        lambda: morris({"x": between(0, 1)}, 4, fixed={"x": 3}),
        lambda: designs.Design(
            "lhs", {"x": between(0, 1)}, np.zeros((2, 1)), 1, {"n": 2}, {"x": 3}
        ),
    ],
    ids=["lhs", "sobol", "morris", "Design"],
)
def test_a_name_both_sampled_and_fixed_is_refused(make):
    with pytest.raises(mesa_nb.ParameterError) as caught:
        make()
    assert caught.value.field == "x"
    assert str(caught.value) == (
        "'x' is both a sampled range and a constant (fixed x = 3), so every point "
        "would run at 3: give 'x' either as a range to sample or in fixed=, not "
        "both."
    )


# -- 19: designs and generators past the run cap --------------------------------
class NotDrawn(Exception):
    """Raised by a sampler stub: the design got as far as drawing."""


def _stub_samplers(monkeypatch):
    """Every sampler raises NotDrawn instead of drawing: a size check that
    comes before drawing is seen without a gigabyte of points."""

    class Engine:
        def __init__(self, *args, **kwargs):
            raise NotDrawn

    for engine in ("LatinHypercube", "Halton", "Sobol"):
        monkeypatch.setattr(scipy.stats.qmc, engine, Engine)

    def sample(*args, **kwargs):
        raise NotDrawn

    for method in ("sobol", "morris"):
        module = designs._salib(method)
        monkeypatch.setattr(module, "sample", sample)


TWO = {"x": between(0, 1), "y": integers(1, 5)}


@pytest.mark.parametrize(
    ("make", "points_per_size"),
    [
        (lambda size: designs.lhs(TWO, size), 1),
        (lambda size: designs.halton(TWO, size), 1),
        (lambda size: designs.sobol_sequence(TWO, size), 1),
        (lambda size: sobol(TWO, size), 2 + 2),  # n * (d + 2)
        (lambda size: sobol(TWO, size, second_order=True), 2 * 2 + 2),
        (lambda size: morris(TWO, size), 2 + 1),  # trajectories * (d + 1)
    ],
    ids=["lhs", "halton", "sobol_sequence", "sobol", "sobol-2nd", "morris"],
)
def test_a_design_past_the_run_cap_is_refused_before_it_is_drawn(
    monkeypatch, make, points_per_size
):
    _stub_samplers(monkeypatch)
    at_cap = MAX_RUNS // points_per_size
    with pytest.raises(NotDrawn):  # up to the cap, the design is drawn
        make(at_cap)
    with pytest.raises(mesa_nb.ParameterError) as caught:
        make(at_cap + 1)
    assert caught.value.field == "samples"
    points = (at_cap + 1) * points_per_size
    assert f"has {points:,} points, more than the {MAX_RUNS:,} runs" in str(
        caught.value
    )


def test_design_points_counts_what_each_design_draws():
    for make, method, options in [
        (lambda: lhs(TWO, 7), "lhs", {}),
        (lambda: sobol(TWO, 8), "sobol", {}),
        (lambda: sobol(TWO, 8, second_order=True), "sobol", {"second_order": True}),
        (lambda: morris(TWO, 5), "morris", {}),
    ]:
        design = make()
        size = design.options.get("n", design.options.get("trajectories"))
        assert len(design) == designs.design_points(method, 2, size, **options)


def test_a_huge_design_from_sweep_and_from_the_form_is_refused_not_a_memory_error():
    with pytest.raises(mesa_nb.ParameterError, match="more than the 20,000,000"):
        mesa_nb.sweep(
            Money, {"bonus": between(0, 1)}, design="lhs", samples=10**10, seed=1
        )
    form = FormState(BoltzmannWealth, namespace={})
    n = form.fields["n"]
    n.mode, n.style, n.start, n.stop = SWEEP, RANGE, 10, 50
    form.options.update(design="lhs", samples="10000000000", seed="3")
    checked = form.validate()
    assert "more than the 20,000,000 runs" in checked.errors["samples"]
    form.options.update(samples="1e10")  # a count: the option refuses a float
    assert "whole number" in form.validate().errors["samples"]


def test_an_endless_generator_stops_being_read_at_the_run_cap(monkeypatch):
    monkeypatch.setattr(parameters, "MAX_RUNS", 1000)
    with pytest.raises(mesa_nb.ParameterError) as caught:
        session.plan(Money, {"n": itertools.count(1)})
    assert caught.value.field == "n"
    assert "more than 1,000 values" in str(caught.value)
    endless_points = ({"n": i} for i in itertools.count(1))
    with pytest.raises(mesa_nb.ParameterError, match="more than 1,000 values"):
        session.plan(Money, endless_points)
    assert len(session.plan(Money, {"n": (i for i in range(1, 1001))}).runs) == 1000


def test_a_range_past_the_run_cap_is_refused_unread():
    with pytest.raises(mesa_nb.ParameterError) as caught:
        session.plan(Money, {"n": range(10**12)})
    assert caught.value.field == "n"
    assert f"more than {MAX_RUNS:,} values" in str(caught.value)
    with pytest.raises(mesa_nb.ParameterError, match="more than 20,000,000 values"):
        session.plan(Money, {"n": range(10**30)})  # longer than sys.maxsize


# -- 22: Morris levels and infinite bounds ---------------------------------------
@pytest.mark.parametrize("levels", [1, 3, 5, 0, True])
def test_morris_levels_must_be_even_and_two_or_more(levels):
    with pytest.raises(mesa_nb.ParameterError, match="an even number of levels"):
        morris({"x": between(0, 1)}, 4, levels=levels)


@pytest.mark.parametrize("levels", [2, 4, 6])
def test_even_morris_levels_are_drawn(levels):
    design = morris({"x": between(0, 1)}, 4, levels=levels, seed=1)
    steps = np.unique(np.round(design.unit[:, 0] * (levels - 1), 9))
    assert set(steps) <= set(range(levels))


@pytest.mark.parametrize(
    "make",
    [
        lambda: between(0, math.inf),
        lambda: between(-math.inf, 0),
        lambda: between(math.nan, 1),
        lambda: between(0, np.float64("inf")),
        lambda: designs.as_range("x", (0.0, math.inf)),
        lambda: integers(0, math.inf),
    ],
)
def test_non_finite_bounds_are_refused(make):
    with pytest.raises(mesa_nb.ParameterError):
        make()


def test_an_infinite_bound_names_the_fix():
    with pytest.raises(mesa_nb.ParameterError, match="two finite numbers"):
        between(0, math.inf)


# -- 27: a list for a name with a design -------------------------------------------
LIST_REFUSED = (
    "bonus = [0.01, 0.15] is a list of values, which a grid sweeps; with a design, "
    "give a range, e.g. bonus = between(0.01, 0.15), or hold it constant with "
    "mesa_nb.Fixed([0.01, 0.15])."
)


def test_a_list_in_a_design_cell_is_refused_before_any_run(ipython):
    ipython.user_ns["Money"] = Money
    ipython.user_ns.pop("trust_results", None)
    cell = (
        "%%batchrun Money --design lhs --samples 4 --max-steps 1 --processes 1 "
        "--quiet --out trust_results\n"
        "n = integers(2, 6)\n"
        "bonus = [0.01, 0.15]\n"
    )
    with pytest.raises(UsageError) as caught:
        ipython.run_cell(cell)
    assert str(caught.value) == LIST_REFUSED
    assert "trust_results" not in ipython.user_ns


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ([0.01, 0.15], LIST_REFUSED),
        ((1, 2, 3), "bonus = (1, 2, 3) is a tuple of values, which a grid sweeps; "),
        (range(1, 5), "e.g. bonus = integers(1, 4), or hold it constant with "),
        (np.array([0.5, 0.25]), "is an array of values"),
        (["a", "b"], "e.g. bonus = one_of('a', 'b'), "),
        ((x for x in [1, 2]), "is a generator of values"),
    ],
    ids=["list", "tuple", "range", "array", "strings", "generator"],
)
def test_a_list_given_to_sweep_with_a_design_is_refused(value, message):
    with pytest.raises(mesa_nb.ParameterError) as caught:
        mesa_nb.sweep(
            Money,
            {"n": integers(2, 6), "bonus": value},
            design="lhs",
            samples=4,
            max_steps=1,
            processes=1,
        )
    assert caught.value.field == "bonus"
    assert message in str(caught.value)


def test_with_a_design_fixed_holds_a_list_and_one_item_is_that_item():
    result = mesa_nb.sweep(
        Holds,
        {"rate": between(0, 1), "held": mesa_nb.Fixed([0.01, 0.15])},
        design="lhs",
        samples=3,
        max_steps=1,
        seed=1,
        processes=1,
    )
    assert result.n_ok == 3 and set(result.model["Held"]) == {"[0.01, 0.15]"}
    result = mesa_nb.sweep(
        Holds,
        {"rate": between(0, 1), "held": [0.5]},  # as a grid reads it: 0.5
        design="lhs",
        samples=3,
        max_steps=1,
        seed=1,
        processes=1,
    )
    assert set(result.model["Held"]) == {"0.5"}


def test_a_fixed_list_in_the_form_reaches_design_runs_as_itself():
    form = FormState(Holds, namespace={})
    rate, held = form.fields["rate"], form.fields["held"]
    rate.mode, rate.style, rate.start, rate.stop = SWEEP, RANGE, 0.0, 1.0
    held.mode, held.fixed = FIXED, "(1, 2)"
    form.options.update(design="lhs", samples="3", seed="1", max_steps=1)
    checked = form.validate()
    assert checked.errors == {}, checked.errors
    result = session.run(checked.request)
    assert set(result.model["Held"]) == {"(1, 2)"}


# -- 28: the form's messages for number fields ---------------------------------------
def _sweep_error(model, name, text):
    form = FormState(model, namespace={})
    form.fields[name].mode, form.fields[name].list_text = SWEEP, text
    return form.validate().errors[name]


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        (
            "bonus",
            "abc",
            "'abc' is not a number: write e.g. 0.5, or several values separated "
            "by commas: 0.02, 0.05.",
        ),
        (
            "bonus",
            "0.02; 0.05",
            "'0.02; 0.05': separate values with commas, not semicolons: 0.02, 0.05.",
        ),
        (
            "bonus",
            "0.1, 'a'",
            "'a' is not a number: write e.g. 0.5, or several values separated by "
            "commas: 0.02, 0.05.",
        ),
        (
            "n",
            "10, ten",
            "'ten' is not a whole number: write e.g. 5, or several values "
            "separated by commas: 10, 20.",
        ),
        (
            "n",
            "10; 20",
            "'10; 20': separate values with commas, not semicolons: 10, 20.",
        ),
    ],
)
def test_a_number_field_says_it_takes_numbers(name, text, message):
    assert _sweep_error(Money, name, text) == message


def test_a_fixed_number_box_given_several_values_says_it_takes_one():
    form = FormState(Untyped, namespace={})
    form.fields["rate"].fixed = "0.02, 0.05"
    assert form.validate().errors["rate"] == (
        "0.02, 0.05 is several values; a fixed value is one, a number: write e.g. "
        "0.5, or sweep the field to run each of them."
    )
    form.fields["rate"].fixed = "abc"
    assert "'abc' is not a number: write e.g. 0.5" in form.validate().errors["rate"]


def test_a_field_of_any_kind_still_asks_for_quotes():
    form = FormState(Holds, namespace={})
    form.fields["held"].fixed = "torus grid"
    assert (
        "is not a Python value; write strings in quotes"
        in (form.validate().errors["held"])
    )
