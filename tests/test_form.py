"""The sweep form without a browser: set values, click buttons, assert the calls."""

from __future__ import annotations

import enum
import importlib
import inspect
import time
from typing import Literal

import ipywidgets as w
import mesa
import pytest
from IPython.core.error import UsageError
from IPython.core.interactiveshell import InteractiveShell
from IPython.utils.capture import capture_output
from models import Fragile, Money, step_number

import mesa_nb
from mesa_nb.api.reports import cell_code
from mesa_nb.core.errors import ParameterError
from mesa_nb.core.options import SweepOptions
from mesa_nb.core.spec import SweepSpec
from mesa_nb.examples import BoltzmannWealth
from mesa_nb.notebook.form_state import (
    ANY,
    BOOL,
    CHOICE,
    FLOAT,
    INT,
    STR,
    describe,
    form_parameters,
    parse_sweep_text,
    range_values,
    run_count_text,
)
from mesa_nb.notebook.form_view import SweepForm, control_for

WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


class Color(enum.Enum):
    RED = "red"
    BLUE = "blue"


class Styled(mesa.Model):
    """Parameters of every kind the form maps, echoed by its reporters."""

    def __init__(
        self,
        size: int,
        color: Color = Color.RED,
        shape: Literal["circle", "square"] = "circle",
        label: str = "a",
        visible: bool = True,
        rate=0.5,
        extra=None,
        rng=None,
    ) -> None:
        super().__init__(rng=rng)
        self.values = (size, color, shape, label, visible, rate, extra)
        self.datacollector = mesa.DataCollector(
            model_reporters={
                "Draw": lambda m: m.random.random(),
                "Echo": lambda m: repr(m.values),
            }
        )
        self.datacollector.collect(self)

    def step(self) -> None:
        self.datacollector.collect(self)


class Slow(mesa.Model):
    """Sleeps in every step, so a sweep of it can be stopped halfway."""

    def __init__(self, n: int = 1, rng=None) -> None:
        super().__init__(rng=rng)
        self.datacollector = mesa.DataCollector(model_reporters={"Steps": step_number})
        self.datacollector.collect(self)

    def step(self) -> None:
        time.sleep(0.02)
        self.datacollector.collect(self)


def parameter(name: str, default=inspect.Parameter.empty, annotation=None):
    return inspect.Parameter(
        name,
        inspect.Parameter.KEYWORD_ONLY,
        default=default,
        annotation=inspect.Parameter.empty if annotation is None else annotation,
    )


def text(output: w.Output) -> str:
    """Everything printed into an Output widget."""
    return "".join(o.get("text", "") for o in output.outputs)


def images(output: w.Output) -> list[str]:
    return [o["data"]["image/png"] for o in output.outputs if "data" in o]


# -- pure mapping functions ---------------------------------------------------------
def test_form_parameters_skip_seeds_and_star_args():
    class Model(mesa.Model):
        def __init__(self, a=1, *args, b=2, seed=None, rng=None, **kwargs):
            super().__init__()

    assert [p.name for p in form_parameters(Model)] == ["a", "b"]


@pytest.mark.parametrize(
    ("param", "kind", "widget", "value"),
    [
        (parameter("on", False), BOOL, w.Checkbox, False),
        (parameter("n", 3), INT, w.IntText, 3),
        (parameter("rate", 0.5), FLOAT, w.FloatText, 0.5),
        (parameter("rate", 1, float), FLOAT, w.FloatText, 1.0),
        (parameter("label", "x"), STR, w.Text, "x"),
        (parameter("color", Color.BLUE), CHOICE, w.Dropdown, Color.BLUE),
        (parameter("color", Color.RED, Color), CHOICE, w.Dropdown, Color.RED),
        (parameter("shape", "b", Literal["a", "b"]), CHOICE, w.Dropdown, "b"),
        (parameter("n", None, int | None), INT, w.Text, "None"),
        (parameter("size", (1, 2)), ANY, w.Text, "(1, 2)"),
        (parameter("n", annotation=int), INT, w.Text, ""),
        (parameter("on", annotation=bool), BOOL, w.Dropdown, None),
    ],
)
def test_control_matches_annotation_then_default(param, kind, widget, value):
    assert describe(param).kind == kind
    control = control_for(param)
    assert type(control) is widget
    assert control.value == value


def test_annotation_wins_over_the_default_type():
    assert describe(parameter("n", 1.0, int)).kind == INT
    assert describe(parameter("x", "1", "int")).kind == INT  # a string annotation
    choices = describe(parameter("shape", "a", Literal["a", "b"])).choices
    assert choices == ("a", "b")


def test_required_controls_start_empty_and_say_so():
    control = control_for(parameter("n", annotation=int))
    assert control.value == "" and "required" in control.placeholder


@pytest.mark.parametrize(
    ("text", "kind", "expected"),
    [
        ("10, 20, 30", INT, [10, 20, 30]),
        ("0.1, 1", FLOAT, [0.1, 1.0]),
        ("True, False", BOOL, [True, False]),
        ("torus, 'a,b', \"c\"", STR, ["torus", "a,b", "c"]),
        ("1, 2", STR, ["1", "2"]),
        ("(1, 2), [3], None, 'x'", ANY, [(1, 2), [3], None, "x"]),
        ("7,", INT, [7]),
    ],
)
def test_parse_sweep_text(text, kind, expected):
    assert parse_sweep_text(text, kind) == expected


def test_parse_sweep_text_reads_choices_by_name_or_value():
    assert parse_sweep_text("BLUE, 'red'", CHOICE, tuple(Color)) == [
        Color.BLUE,
        Color.RED,
    ]
    assert parse_sweep_text("square", CHOICE, ("circle", "square")) == ["square"]


@pytest.mark.parametrize(
    ("text", "kind", "message"),
    [
        ("", INT, "at least one value"),
        ("  ", STR, "at least one value"),
        ("1, x", INT, "'x' is not a whole number"),
        ("1, [2", ANY, "is not a Python value"),
        ("2.5", INT, "2.5 is not a whole number"),
        ("True", INT, "not a whole number"),
        ("'a'", FLOAT, "is not a number"),
        ("1", BOOL, "not True or False"),
        ("1, , 2", INT, "an empty value"),
    ],
)
def test_parse_sweep_text_errors(text, kind, message):
    with pytest.raises(ParameterError, match=message):
        parse_sweep_text(text, kind)


def test_parse_sweep_text_refuses_unknown_choices():
    with pytest.raises(ParameterError, match="'triangle' is not one of: 'circle'"):
        parse_sweep_text("triangle", CHOICE, ("circle", "square"))


@pytest.mark.parametrize(
    ("start", "stop", "step", "expected"),
    [
        (10, 30, 10, [10, 20, 30]),  # the stop is included when it lands
        (0, 25, 10, [0, 10, 20]),
        (0.0, 0.3, 0.1, [0.0, 0.1, 0.2, 0.3]),
        (0, 1, 0.25, [0.0, 0.25, 0.5, 0.75, 1.0]),
        (5, 1, -2, [5, 3, 1]),
        (4, 4, 1, [4]),
    ],
)
def test_range_values(start, stop, step, expected):
    values = range_values(start, stop, step)
    assert values == expected
    assert [type(v) for v in values] == [type(v) for v in expected]


@pytest.mark.parametrize(
    ("start", "stop", "step", "message"),
    [(0, 10, 0, "must not be 0"), (3, 1, 1, "no values"), (0, 1e9, 1, "at most")],
)
def test_range_values_errors(start, stop, step, message):
    with pytest.raises(ParameterError, match=message):
        range_values(start, stop, step)


def test_run_count_text():
    assert run_count_text(6, 2) == "12 runs = 6 points x 2 iterations"
    assert run_count_text(1, 1) == "1 run = 1 point x 1 iteration"


def test_cell_code_writes_flags_and_one_line_per_parameter():
    options = SweepOptions.of(iterations=2, max_steps=100, processes=None, seed=42)
    spec = SweepSpec(
        BoltzmannWealth, {"n": [10, 20], "color": Color.RED, "label": "a"}, options
    )
    code = cell_code(spec, "BoltzmannWealth", "sweep1")
    assert code == (
        "%%batchrun BoltzmannWealth --iterations 2 --max-steps 100 "
        "--collect-every -1 --seed 42 --processes all --out sweep1\n"
        "n = [10, 20]\n"
        "color = Color.RED\n"
        "label = 'a'"
    )


# -- the form -----------------------------------------------------------------------
@pytest.fixture
def ns() -> dict:
    return {}


def test_the_form_shows_defaults_and_marks_required_parameters(ns):
    f = SweepForm(Styled, namespace=ns)
    assert list(f.rows) == [
        "size",
        "color",
        "shape",
        "label",
        "visible",
        "rate",
        "extra",
    ]
    assert "required" in f.rows["size"].default.value
    assert "*" in f.rows["size"].label.value
    assert "default 'circle'" in f.rows["shape"].default.value
    assert "required" in f.rows["size"].status.value
    assert f.request is None and f.run_button.disabled
    f.rows["size"].fixed.value = "4"
    assert f.request is not None and not f.run_button.disabled
    assert f.rows["size"].status.value == ""
    assert "1 run = 1 point x 1 iteration" in f.count.value


def test_the_run_count_follows_the_values(ns):
    f = SweepForm(BoltzmannWealth, namespace=ns)
    assert "1 run = 1 point" in f.count.value
    n = f.rows["n"]
    n.mode.value = "sweep"
    n.list_text.value = "10, 20, 30"
    f.rows["width"].mode.value = "sweep"
    f.rows["width"].list_text.value = "5, 10"
    f.options["iterations"].widget.value = 2
    assert "12 runs = 6 points x 2 iterations" in f.count.value
    assert "3 values: 10, 20, 30" in n.status.value
    n.sweep_style.value = "range"
    n.start.value, n.stop.value, n.step.value = 10, 50, 10
    assert "20 runs = 10 points x 2 iterations" in f.count.value
    assert f.request.parameters["n"] == [10, 20, 30, 40, 50]


@pytest.mark.parametrize(
    ("where", "set_value", "message"),
    [
        ("n", lambda f: setattr(f.rows["n"].list_text, "value", ""), "at least one"),
        (
            "n",
            lambda f: setattr(f.rows["n"].list_text, "value", "10, ten"),
            "'ten' is not a whole number",
        ),
        (
            "iterations",
            lambda f: setattr(f.options["iterations"].widget, "value", 0),
            "iterations must be at least 1",
        ),
        (
            "data_collection_period",
            lambda f: setattr(f.options["data_collection_period"].widget, "value", 0),
            "data_collection_period must be -1",
        ),
        (
            "max_steps",
            lambda f: setattr(f.options["max_steps"].widget, "value", -1),
            "max_steps must be 0 or more",
        ),
        (
            "processes",
            lambda f: setattr(f.options["processes"].widget, "value", "many"),
            "or 'all'",
        ),
        (
            "seed",
            lambda f: setattr(f.options["seed"].widget, "value", "-3"),
            "seed must be 0 or more",
        ),
        (
            "output",
            lambda f: setattr(f.options["output"].widget, "value", "1st"),
            "output must be a Python name",
        ),
    ],
)
def test_errors_show_inline_next_to_their_control(ns, where, set_value, message):
    f = SweepForm(BoltzmannWealth, namespace=ns)
    f.rows["n"].mode.value = "sweep"
    set_value(f)
    label = f.rows[where].status if where in f.rows else f.options[where].error
    assert message in label.value and "color:#c62828" in label.value
    assert f.request is None and f.run_button.disabled
    assert "fix the values marked in red" in f.count.value
    f.run()  # refused: nothing starts
    assert f.thread is None and "results" not in ns


def test_option_errors_show_while_a_parameter_is_wrong_too(ns):
    f = SweepForm(Styled, namespace=ns)  # size is required and still empty
    f.options["iterations"].widget.value = 0
    assert "required" in f.rows["size"].status.value
    assert "iterations must be at least 1" in f.options["iterations"].error.value
    assert f.errors.value == "" and f.request is None
    f.rows["size"].fixed.value = "2"
    assert "required" not in f.rows["size"].status.value and f.request is None
    f.options["iterations"].widget.value = 1
    assert f.request is not None and f.options["iterations"].error.value == ""


def test_defaults_prefill_parameters_and_options(ns):
    f = SweepForm(
        BoltzmannWealth,
        namespace=ns,
        defaults={"n": range(10, 40, 10), "width": 5, "iterations": 3, "seed": 9},
    )
    assert f.rows["n"].mode.value == "sweep"
    assert f.rows["n"].list_text.value == "10, 20, 30"
    assert f.rows["width"].fixed.value == 5
    assert "9 runs = 3 points x 3 iterations" in f.count.value
    assert f.request.options.seed == 9
    with pytest.raises(TypeError, match="'widht', which is neither"):
        SweepForm(BoltzmannWealth, namespace=ns, defaults={"widht": 3})


def run_form(f: SweepForm, timeout: float = 60):
    f.run_button.click()
    return f.wait(timeout)


def test_run_binds_the_result_and_calls_the_core_with_the_form_values(ns):
    f = mesa_nb.form(Money, namespace=ns, n=[3, 6], bonus=0.5)
    f.options["iterations"].widget.value = 2
    f.options["max_steps"].widget.value = 4
    f.options["data_collection_period"].widget.value = 2
    f.options["seed"].widget.value = "11"
    f.options["output"].widget.value = "money"
    result = run_form(f)
    assert ns["money"] is result is f.result
    assert result.runs["n"].tolist() == [3, 6, 3, 6]
    assert result.runs["bonus"].eq(0.5).all()
    meta = result.metadata
    assert (meta["iterations"], meta["max_steps"]) == (2, 4)
    assert meta["data_collection_period"] == 2 and meta["master_seed"] == 11
    assert meta["swept"] == ["n"] and meta["workers"] == 1
    assert result.model["Step"].tolist() == [0, 2, 4] * 4
    shown = text(f.output)
    assert "money = Money sweep: 4 runs (4 ok, 0 failed)" in shown
    assert "drawn" not in shown
    assert len(images(f.output)) == 1  # the default plot: Total by n
    assert not f.run_button.disabled and f.stop_button.disabled
    bar = f.progress.children[0]
    assert bar.children[1].value == 4 and bar.children[1].bar_style == "success"


def test_an_empty_seed_is_drawn_at_run_and_shown_in_the_code(ns):
    f = SweepForm(Money, namespace=ns)
    f.code_button.value = True
    shown = f.code_view.value
    code = f.code()
    seed = int(code.split("--seed ")[1].split()[0])
    assert 0 <= seed < 2**31 and f"--seed {seed}" in shown
    result = run_form(f)
    assert f.last_code == code
    assert result.metadata["master_seed"] == seed
    assert f"seed {seed} was drawn" in text(f.output)
    f.rows["n"].fixed.value = 6  # the next Run gets a new seed
    assert f"--seed {seed} " not in f.code_view.value


def test_stop_keeps_the_finished_runs(ns):
    f = SweepForm(Slow, namespace=ns, defaults={"n": list(range(40))})
    f.options["max_steps"].widget.value = 5
    f.run_button.click()
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        bars = f.progress.children
        if bars and bars[0].children[1].value >= 2:
            break
        time.sleep(0.02)
    assert f.running and f.run_button.disabled and not f.stop_button.disabled
    f.stop_button.click()
    assert f.stop_button.disabled
    result = f.wait(30)
    assert result.interrupted and ns["results"] is result
    assert 2 <= result.n_ok < 40 and result.n_cancelled >= 1
    assert result.n_ok + result.n_cancelled == 40
    assert set(result.model["RunId"]) == set(result.runs.query("status == 'ok'").RunId)
    assert f"Interrupted: kept {result.n_ok} finished runs in results" in text(f.output)
    assert f.progress.children[0].children[1].bar_style == "danger"
    assert not f.run_button.disabled


def test_failed_runs_are_reported_as_text_not_a_traceback(ns):
    f = SweepForm(Fragile, namespace=ns, defaults={"fail": [False, True]})
    result = run_form(f)
    shown = text(f.output)
    assert result.n_failed == 1 and "1 of 2 runs failed" in shown
    assert "boom at step 2" in shown and "results.failures" in shown
    assert "Traceback" not in shown


def test_an_error_outside_the_runs_is_shown_as_text(ns):
    class Broken(mesa.Model):
        def __init__(self, n: int = 1, rng=None):
            super().__init__(rng=rng)  # no datacollector: the core refuses it

    f = SweepForm(Broken, namespace=ns)
    assert run_form(f) is None
    shown = text(f.output)
    assert shown.startswith("The sweep did not run: ModelClassError") and (
        "Traceback" not in shown
    )
    assert "results" not in ns and not f.run_button.disabled


def test_mesa_nb_form_stays_a_function_once_the_form_module_is_imported(ns):
    importlib.import_module("mesa_nb.notebook.form_view")
    assert callable(mesa_nb.form) and not isinstance(mesa_nb.form, type(importlib))
    assert isinstance(mesa_nb.form(Money, namespace=ns), SweepForm)


def test_the_form_displays_as_its_widget(ns):
    f = SweepForm(Money, namespace=ns)
    bundle = f._repr_mimebundle_()
    assert bundle[WIDGET_VIEW]["model_id"] == f.widget.model_id


# -- the same sweep as a %%batchrun cell -------------------------------------------
def batchrun_magics(ip: InteractiveShell):
    """The loaded ``BatchRun`` magics, whose traits ``%config`` sets."""
    return next(c for c in ip.configurables if type(c).__name__ == "BatchRun")


@pytest.fixture
def shell(ipython: InteractiveShell):
    """The session's real IPython shell (conftest), with the test models."""
    magics = batchrun_magics(ipython)
    saved = {"quiet": magics.quiet, "iterations": magics.iterations}
    ipython.run_line_magic("config", "BatchRun.quiet = True")
    ipython.user_ns.update(Money=Money, Styled=Styled, Color=Color)
    yield ipython
    for name, value in saved.items():
        ipython.run_line_magic("config", f"BatchRun.{name} = {value!r}")
    for name in ("Money", "Styled", "Color", "results", "again"):
        ipython.user_ns.pop(name, None)


def run_code(ip: InteractiveShell, code: str, out: str = "again"):
    ip.run_cell(code.replace("--out results", f"--out {out}")).raise_error()
    return ip.user_ns[out]


def test_the_shown_code_gives_identical_results(shell):
    f = mesa_nb.form(Money, namespace=shell.user_ns)
    f.rows["n"].mode.value = "sweep"
    f.rows["n"].list_text.value = "3, 5"
    bonus = f.rows["bonus"]
    bonus.mode.value = "sweep"
    bonus.sweep_style.value = "range"
    bonus.start.value, bonus.stop.value, bonus.step.value = 0.0, 0.2, 0.1
    f.options["iterations"].widget.value = 2
    f.options["max_steps"].widget.value = 6
    f.options["data_collection_period"].widget.value = 3
    code = f.code()
    assert code.splitlines()[1:] == ["n = [3, 5]", "bonus = [0.0, 0.1, 0.2]"]
    result = run_form(f)
    assert shell.user_ns["results"] is result and f.last_code == code
    again = run_code(shell, code)
    assert again.model.equals(result.model) and again.agents.equals(result.agents)
    assert again.runs["seed"].equals(result.runs["seed"])


def test_enum_literal_str_and_bool_values_round_trip_through_the_code(shell):
    f = SweepForm(Styled, namespace=shell.user_ns)
    f.rows["size"].fixed.value = "3"
    f.rows["color"].mode.value = "sweep"
    f.rows["color"].list_text.value = "RED, BLUE"
    f.rows["shape"].fixed.value = "square"
    f.rows["label"].mode.value = "sweep"
    f.rows["label"].list_text.value = "plain, 'with, comma'"
    f.rows["visible"].fixed.value = False
    f.rows["extra"].fixed.value = "(1, 2)"  # a tuple is held constant, not swept
    f.options["max_steps"].widget.value = 2
    result = run_form(f)
    assert f.last_code.splitlines()[1:] == [
        "size = 3",
        "color = [Color.RED, Color.BLUE]",
        "shape = 'square'",
        "label = ['plain', 'with, comma']",
        "visible = False",
        "rate = 0.5",
        "extra = [(1, 2)]",
    ]
    assert result.n_ok == 4 and result.metadata["swept"] == ["color", "label"]
    assert result.model["Echo"].iloc[0] == repr(
        (3, Color.RED, "square", "plain", False, 0.5, (1, 2))
    )
    again = run_code(shell, f.last_code)
    assert again.model.equals(result.model)


def test_batchrun_form_magic_displays_a_form_with_the_config_defaults(
    shell, monkeypatch
):
    built = []

    class Recorded(SweepForm):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, **kwargs)
            built.append(self)

    module = importlib.import_module(
        "mesa_nb.notebook.form_view"
    )  # what the magic imports
    monkeypatch.setattr(module, "SweepForm", Recorded)
    shell.run_line_magic("config", "BatchRun.iterations = 3")  # the fixture resets it
    with capture_output() as captured:
        returned = shell.run_line_magic("batchrun_form", "Money")
    assert returned is None
    (shown,) = captured.outputs
    (form,) = built
    assert shown.data[WIDGET_VIEW]["model_id"] == form.widget.model_id
    assert form.namespace is shell.user_ns and form.model_name == "Money"
    assert "3 runs = 1 point x 3 iterations" in form.count.value


def test_batchrun_form_magic_names_an_unknown_model(shell):
    with pytest.raises(UsageError, match="Did you mean Money"):
        shell.run_line_magic("batchrun_form", "Mony")
    with pytest.raises(UsageError, match="Give the model"):
        shell.run_line_magic("batchrun_form", "")


def test_unload_removes_the_line_magic(shell):
    assert "batchrun_form" in shell.magics_manager.magics["line"]
    shell.run_line_magic("unload_ext", "mesa_nb")
    assert "batchrun_form" not in shell.magics_manager.magics["line"]
    shell.run_line_magic("load_ext", "mesa_nb")
    assert "batchrun_form" in shell.magics_manager.magics["line"]


def test_store_and_client_options_reach_the_core_and_the_code(ns, tmp_path):
    store = tmp_path / "store"
    f = SweepForm(Money, namespace=ns)
    f.options["seed"].widget.value = "4"
    f.options["max_steps"].widget.value = 3
    f.options["store"].widget.value = str(store)
    f.options["executor"].widget.value = "no_such_client"
    f._refresh()
    assert "no such name in the notebook" in f.options["executor"].error.value
    assert f.run_button.disabled
    f.options["executor"].widget.value = ""
    f._refresh()
    assert f"--store {store}" in f.code()
    f.run()
    first = f.wait(60)
    assert (store / "manifest.json").exists() and first.n_ok == 1
    f.run()
    again = f.wait(60)
    assert again.metadata["resumed_runs"] == 1
    shown = "".join(o.get("text", "") for o in f.output.outputs)
    assert "Resumed from" in shown


def test_the_design_dropdown_shows_grid_and_every_checkbox_its_whole_label(ns):
    f = SweepForm(BoltzmannWealth, namespace=ns)
    design = f.options["design"].widget
    assert design.value == "grid" and design.label == "grid"  # not a blank box
    assert f.validate() is not None and f.request.options.design is None
    design.value = "lhs"
    f._refresh()
    assert f.state.options["design"] == "lhs"
    for name in ("check_reproducible", "in_memory", "retry_failed", "force"):
        box = f.options[name].widget
        assert box.style.description_width == "initial" and not box.indent
