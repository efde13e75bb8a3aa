"""The form's state without any widget: fields, validation, run count, the cell."""

from __future__ import annotations

import ast
import sys

import pytest
from models import Money

from mesa_nb.examples import BoltzmannWealth
from mesa_nb.notebook.form_state import FIXED, RANGE, SWEEP, FormState


def state(model=BoltzmannWealth, **kwargs) -> FormState:
    return FormState(model, namespace={}, **kwargs)


def test_fields_start_at_the_model_defaults():
    form = state()
    assert list(form.fields) == ["n", "width", "height"]
    n = form.fields["n"]
    assert (n.mode, n.fixed, n.info.kind) == (FIXED, 100, "int")
    checked = form.validate()
    assert checked.errors == {} and checked.request is not None
    assert checked.request.parameters == {"n": 100, "width": 10, "height": 10}
    assert checked.request.n_runs == 1


def test_a_swept_field_gives_the_run_count_and_a_hint():
    form = state()
    n = form.fields["n"]
    n.mode, n.list_text = SWEEP, "10, 20, 30"
    form.fields["width"].mode, form.fields["width"].style = SWEEP, RANGE
    form.fields["width"].start, form.fields["width"].stop = 5, 15
    form.fields["width"].step = 5
    form.options["iterations"] = 2
    checked = form.validate()
    assert checked.request.n_runs == 3 * 3 * 2
    assert checked.request.parameters["width"] == [5, 10, 15]
    assert checked.hints["n"] == "3 values: 10, 20, 30"


def test_checking_lays_out_no_runs():
    form = state()
    form.fields["n"].mode, form.fields["n"].list_text = SWEEP, "1, 2, 3, 4"
    form.options["iterations"] = 50_000
    request = form.validate().request
    assert request.n_runs == 200_000
    assert "runs" not in vars(request.plan)  # numbered (and seeded) only at Run


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        (
            lambda f: vars(f.fields["n"]).update(mode=SWEEP, list_text="10, ten"),
            "n",
            "'ten' is not a whole number",
        ),
        (lambda f: f.options.update(iterations=0), "iterations", "at least 1"),
        (lambda f: f.options.update(max_steps=-2), "max_steps", "0 or more"),
        (lambda f: f.options.update(processes="lots"), "processes", "or 'all'"),
        (lambda f: f.options.update(executor="nope"), "executor", "no such name"),
    ],
)
def test_errors_go_to_the_field_they_concern(change, field, message):
    form = state()
    change(form)
    checked = form.validate()
    assert message in checked.errors[field] and checked.request is None


def test_core_errors_are_routed_by_their_field_not_their_text():
    form = state(Money)
    form.fields["n"].mode, form.fields["n"].list_text = SWEEP, "1, 2"
    form.options["data_collection_period"] = 0
    checked = form.validate()
    assert list(checked.errors) == ["data_collection_period"]
    assert checked.general == ""


def test_defaults_prefill_and_unknown_names_are_refused():
    form = state(defaults={"n": range(10, 40, 10), "seed": 9, "processes": None})
    assert form.fields["n"].mode == SWEEP and form.fields["n"].list_text == "10, 20, 30"
    assert form.options["seed"] == "9" and form.options["processes"] == "all"
    with pytest.raises(TypeError, match="'widht', which is neither"):
        state(defaults={"widht": 3})


def test_the_cell_reads_back_as_the_same_sweep_and_keeps_its_drawn_seed():
    form = state(defaults={"n": [5, 10]})
    code = form.code("BoltzmannWealth")
    head, *body = code.splitlines()
    assert head.startswith("%%batchrun BoltzmannWealth --iterations 1")
    seed = int(head.split("--seed ")[1].split()[0])
    assert form.code("BoltzmannWealth") == code  # the drawn seed is kept
    values = {
        line.split(" = ")[0]: ast.literal_eval(line.split(" = ")[1]) for line in body
    }
    assert values == {"n": [5, 10], "width": 10, "height": 10}
    assert form.options_for_run(form.validate().request.options).seed == seed


def test_the_state_module_imports_no_widgets():
    import subprocess

    code = "import sys, mesa_nb.notebook.form_state\nprint('ipywidgets' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"


def test_a_time_limit_is_a_form_option_and_a_flag():
    form = state(defaults={"timeout": 2.5})
    request = form.validate().request
    assert request.options.timeout == 2.5 and request.plan.settings.timeout == 2.5
    assert "--timeout 2.5" in form.code("BoltzmannWealth")
    form.options["timeout"] = "soon"
    assert "number of seconds" in form.validate().errors["timeout"]


def test_a_design_turns_swept_ranges_into_sampled_ranges():
    from mesa_nb.core.designs import Range

    form = state()
    n, width = form.fields["n"], form.fields["width"]
    n.mode, n.style, n.start, n.stop = SWEEP, RANGE, 10, 50
    width.mode, width.style, width.start, width.stop = SWEEP, RANGE, 5, 20
    form.options.update(design="lhs", samples="12", seed="3")
    request = form.validate().request
    assert request.n_runs == 12  # 12 points of a Latin hypercube, not a grid
    assert isinstance(request.parameters["n"], Range)
    code = form.code("BoltzmannWealth")
    assert "--design lhs --samples 12" in code
    assert "n = integers(10, 50)" in code and "height = 10" in code
    form.options.update(samples="many")
    assert "whole number" in form.validate().errors["samples"]
    form.options.update(samples="12")
    n.style = "list"  # a list of numbers is not a range to sample
    assert "give a range" in form.validate().errors["n"]


def test_the_forms_design_code_runs_the_same_sweep(ipython):
    form = state(defaults={"seed": 5})
    n = form.fields["n"]
    n.mode, n.style, n.start, n.stop = SWEEP, RANGE, 10, 30
    form.options.update(design="lhs", samples="6", max_steps=3)
    code = form.code("BoltzmannWealth").replace("--out results", "--out lhs6 -q")
    ipython.user_ns["BoltzmannWealth"] = BoltzmannWealth
    ipython.run_cell(code)
    ran = ipython.user_ns["lhs6"]
    assert len(ran.runs) == 6 and ran.design.method == "lhs"
    assert ran.runs["n"].between(10, 30).all()
