"""A widget form for picking and running a sweep, built from the model's signature.

``mesa_nb.form(Model)`` or ``%batchrun_form Model`` shows it. As in
``ipywidgets.interact``, small pure functions map a parameter to its control
(:func:`control_for`) and text to values (:func:`parse_sweep_text`,
:func:`range_values`); :class:`SweepForm` only observes values, validates them
with the core (:func:`mesa_nb.plan.plan_sweep`) and calls :func:`mesa_nb.sweep`
on a background thread, so the kernel stays free for the Stop button.

The form calls the core with exactly the parameters its "show code" view
writes as a ``%%batchrun`` cell, so running that cell gives the same runs.
"""

from __future__ import annotations

import ast
import base64
import enum
import html
import inspect
import io
import keyword
import math
import os
import secrets
import sys
import threading
import types
import typing
import warnings
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from .engine import sweep
from .errors import MesaNbError, ParameterError
from .plan import SEED_NAMES, plan_sweep
from .progress import TqdmProgress
from .result import SweepResult

BOOL, INT, FLOAT, STR, CHOICE, ANY = "bool", "int", "float", "str", "choice", "any"
NUMBERS = (INT, FLOAT)
FIXED, SWEEP = "fixed", "sweep"
NOT_GIVEN = inspect.Parameter.empty
LIST, RANGE = "list", "range"
#: A range longer than this is refused (a typo such as step 0.0001).
MAX_RANGE = 100_000
#: Seeds drawn for an empty Seed box are below this: short enough to retype.
FRESH_SEED_BOUND = 2**31

ERROR_STYLE = "color:#c62828"
HINT_STYLE = "color:#666"


# -- parameters -> kinds and controls (pure) -----------------------------------
@dataclass(frozen=True)
class ParamInfo:
    """What the form needs to know about one model parameter."""

    name: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()


def form_parameters(model_cls: type) -> list[inspect.Parameter]:
    """The parameters the form shows: all but ``rng``/``seed`` and ``*args``."""
    try:
        signature = inspect.signature(model_cls, eval_str=True)
    except Exception:  # an annotation naming something not importable
        signature = inspect.signature(model_cls)
    return [
        p
        for p in signature.parameters.values()
        if p.name not in SEED_NAMES and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]


_NAMED_TYPES = {"bool": bool, "int": int, "float": float, "str": str}


def _strip_optional(annotation: Any) -> Any:
    """``X | None`` and ``Optional[X]`` -> ``X``."""
    if typing.get_origin(annotation) in (typing.Union, types.UnionType):
        args = [a for a in typing.get_args(annotation) if a is not type(None)]
        if len(args) == 1:
            return args[0]
    return annotation


def _kind_of_type(tp: Any) -> tuple[str, tuple[Any, ...]] | None:
    if typing.get_origin(tp) is typing.Literal:
        return CHOICE, typing.get_args(tp)
    if isinstance(tp, type) and issubclass(tp, enum.Enum):
        return CHOICE, tuple(tp)
    for kind, cls in ((BOOL, bool), (INT, int), (FLOAT, float), (STR, str)):
        if tp is cls:
            return kind, ()
    return None


def describe(parameter: inspect.Parameter) -> ParamInfo:
    """The kind of a parameter: its annotation first, then its default's type."""
    annotation = parameter.annotation
    if isinstance(annotation, str):
        annotation = _NAMED_TYPES.get(annotation.removesuffix(" | None"), annotation)
    required = parameter.default is parameter.empty
    default = None if required else parameter.default
    found = None
    if annotation is not parameter.empty:
        found = _kind_of_type(_strip_optional(annotation))
    if found is None and not required and default is not None:
        found = _kind_of_type(type(default))
        if found is None and isinstance(default, enum.Enum):
            found = CHOICE, tuple(type(default))
    kind, choices = found or (ANY, ())
    return ParamInfo(parameter.name, kind, default, required, choices)


def python_code(value: Any) -> str:
    """``value`` as Python source: ``repr``, or ``Color.RED`` for an Enum member."""
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, list):
        return "[" + ", ".join(python_code(v) for v in value) + "]"
    return repr(value)


def is_literal(value: Any) -> bool:
    """Whether ``repr(value)`` reads back as the same value."""
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def _choice_label(value: Any) -> str:
    return value.name if isinstance(value, enum.Enum) else repr(value)


def uses_text_entry(info: ParamInfo) -> bool:
    """Whether the fixed control is a Text read as a Python value.

    So it is for values of no known kind, for required parameters (empty
    until given) and for defaults of None, which no typed control can hold.
    """
    if info.kind == CHOICE or (info.kind == BOOL and info.required):
        return False
    return info.kind == ANY or info.required or info.default is None


def control_for(parameter: inspect.Parameter | ParamInfo) -> w.Widget:
    """The control of a fixed value, matched to the parameter's kind.

    bool -> Checkbox, int -> IntText, float -> FloatText, str -> Text,
    Enum / Literal -> Dropdown; anything else is a Text holding a Python
    literal. A required parameter starts empty (a Text, or a Dropdown with
    no selection) so the form is invalid until it is given.
    """
    info = parameter if isinstance(parameter, ParamInfo) else describe(parameter)
    layout = w.Layout(width="180px")
    if info.kind == CHOICE or (info.kind == BOOL and info.required):
        choices = info.choices if info.kind == CHOICE else (True, False)
        value = info.default if info.default in choices else None
        options = [(_choice_label(c), c) for c in choices]
        return w.Dropdown(options=options, value=value, layout=layout)
    if uses_text_entry(info):
        if info.required:
            return w.Text(placeholder=f"required ({info.kind})", layout=layout)
        if is_literal(info.default):
            return w.Text(value=python_code(info.default), layout=layout)
        placeholder = f"model default: {info.default!r}"
        return w.Text(placeholder=placeholder, layout=layout)
    if info.kind == BOOL:
        return w.Checkbox(value=bool(info.default), indent=False)
    if info.kind == INT:
        return w.IntText(value=info.default, layout=layout)
    if info.kind == FLOAT:
        return w.FloatText(value=info.default, layout=layout)
    return w.Text(value=info.default, layout=layout)


# -- text -> values (pure) ---------------------------------------------------------
def split_items(text: str) -> list[str]:
    """Split at commas outside quotes and brackets: ``"'a,b', (1, 2)"`` -> 2 items."""
    items, depth, quote, start = [], 0, "", 0
    for i, char in enumerate(text):
        if quote:
            if char == quote and text[i - 1] != "\\":
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            depth -= 1
        elif char == "," and depth == 0:
            items.append(text[start:i].strip())
            start = i + 1
    items.append(text[start:].strip())
    return items[:-1] if len(items) > 1 and not items[-1] else items


def _literal(item: str) -> Any:
    try:
        return ast.literal_eval(item)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        raise ParameterError(
            f"{item!r} is not a Python value; write strings in quotes, e.g. 'torus'."
        ) from None


def _check_choice(value: Any, choices: Sequence[Any]) -> Any:
    for choice in choices:
        if value == choice or (
            isinstance(choice, enum.Enum) and value in (choice.name, choice.value)
        ):
            return choice
    listed = ", ".join(_choice_label(c) for c in choices)
    raise ParameterError(f"{value!r} is not one of: {listed}.")


def parse_value(item: str, kind: str, choices: Sequence[Any] = ()) -> Any:
    """One typed value from text: a Python literal checked against ``kind``.

    A ``str`` (or a choice) may be written without quotes.
    """
    item = item.strip()
    if not item:
        raise ParameterError("an empty value: write one between the commas.")
    if kind == STR:
        try:
            value = ast.literal_eval(item)
        except (ValueError, SyntaxError):
            return item
        return value if isinstance(value, str) else item
    if kind == CHOICE:
        try:
            value = ast.literal_eval(item)
        except (ValueError, SyntaxError):
            value = item
        return _check_choice(value, choices)
    value = _literal(item)
    if kind == INT and (isinstance(value, bool) or not isinstance(value, int)):
        raise ParameterError(f"{item} is not a whole number.")
    if kind == FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ParameterError(f"{item} is not a number.")
        return float(value)
    if kind == BOOL and not isinstance(value, bool):
        raise ParameterError(f"{item} is not True or False.")
    return value


def parse_sweep_text(text: str, kind: str, choices: Sequence[Any] = ()) -> list[Any]:
    """Values of a comma-separated list, each read with ``ast.literal_eval``.

    ``kind`` is one of ``"bool" "int" "float" "str" "choice" "any"``; strings
    may be written with or without quotes. Raises :class:`ParameterError`.
    """
    if not text.strip():
        raise ParameterError("give at least one value (comma-separated).")
    return [parse_value(item, kind, choices) for item in split_items(text)]


def _tidy(value: float) -> float:
    """Drop float noise: ``0.1 * 3`` -> ``0.3`` (12 significant digits)."""
    return float(f"{value:.12g}")


def range_values(start: float, stop: float, step: float) -> list[Any]:
    """``start, start + step, ...`` up to ``stop``, including ``stop`` when it lands.

    Unlike Python's ``range``, the stop is *inclusive* when a step lands on it
    (``range_values(10, 30, 10) == [10, 20, 30]``): a form's "from 10 to 30"
    reads that way. Ints give ints; floats are rounded to 12 significant
    digits so ``0.1`` steps give ``0.3``, not ``0.30000000000000004``.
    A negative step counts down.
    """
    if step == 0:
        raise ParameterError("the step must not be 0.")
    count = math.floor((stop - start) / step + 1e-9) + 1
    if count < 1:
        way = "up" if step > 0 else "down"
        raise ParameterError(
            f"no values: from {start} to {stop} never steps {way} by {step}."
        )
    if count > MAX_RANGE:
        raise ParameterError(f"{count} values; at most {MAX_RANGE} in one range.")
    if all(isinstance(v, int) and not isinstance(v, bool) for v in (start, stop, step)):
        return [start + i * step for i in range(count)]
    return [_tidy(start + i * step) for i in range(count)]


def format_sweep_text(values: Sequence[Any]) -> str:
    """The list text that reads back as ``values``."""
    return ", ".join(_choice_label(v) for v in values)


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_count_text(n_points: int, iterations: int) -> str:
    """``"12 runs = 6 points x 2 iterations"``."""
    return (
        f"{_plural(n_points * iterations, 'run')} = {_plural(n_points, 'point')} "
        f"x {_plural(iterations, 'iteration')}"
    )


def core_value(value: Any, swept: bool) -> Any:
    """What the core and the cell get: a list when swept.

    A fixed list, tuple or set would be swept by the core, so it is given as
    a one-item list (the same in the code view), which holds it constant.
    """
    if swept:
        return list(value)
    if isinstance(value, list | tuple | set | frozenset | range):
        return [value]
    return value


@dataclass(frozen=True)
class RunOptions:
    """The run options of the form (the ``%%batchrun`` flags)."""

    iterations: int = 1
    max_steps: int = 1000
    data_collection_period: int = -1
    processes: int | None = 1  # None = all cores
    seed: int | None = None
    output: str = "results"


def batchrun_code(model_name: str, parameters: dict[str, Any], opts: RunOptions) -> str:
    """The ``%%batchrun`` cell that runs the same sweep as the form."""
    processes = "all" if opts.processes is None else opts.processes
    flags = [
        f"--iterations {opts.iterations}",
        f"--max-steps {opts.max_steps}",
        f"--collect-every {opts.data_collection_period}",
        f"--processes {processes}",
    ]
    if opts.seed is not None:
        flags.append(f"--seed {opts.seed}")
    flags.append(f"--out {opts.output}")
    head = f"%%batchrun {model_name} " + " ".join(flags)
    body = [f"{name} = {python_code(value)}" for name, value in parameters.items()]
    return "\n".join([head, *body])


def model_reference(model_cls: type, namespace: dict[str, Any]) -> str:
    """How the cell names the model: its name in the notebook, or an import path."""
    name = model_cls.__name__
    if namespace.get(name) is model_cls or model_cls.__module__ == "__main__":
        return name
    if "<locals>" in model_cls.__qualname__:
        return name
    return f"{model_cls.__module__}.{model_cls.__qualname__}"


def config_options(shell: Any) -> RunOptions:
    """Defaults from ``%config BatchRun.*`` when the magic is loaded."""
    for configurable in getattr(shell, "configurables", []):
        if type(configurable).__name__ == "BatchRun":
            return RunOptions(
                iterations=configurable.iterations,
                max_steps=configurable.max_steps,
                data_collection_period=configurable.data_collection_period,
                processes=configurable.processes,
                output=configurable.output,
            )
    return RunOptions()


def error_target(message: str, names: Sequence[str]) -> str | None:
    """The parameter or option a core error message is about, if it names one."""
    for name in names:
        if f"'{name}'" in message or message.startswith(f"{name} "):
            return name
    return None


def first_reporter(result: SweepResult) -> str | None:
    """The first model reporter: the first column of ``result.model`` after Step."""
    columns = list(result.model.columns)
    if "Step" not in columns:
        return None
    reporters = columns[columns.index("Step") + 1 :]
    return reporters[0] if reporters else None


# -- the widgets -------------------------------------------------------------------
def _html(text: str, style: str = "") -> str:
    """``text`` escaped, in a span that wraps with tight lines."""
    if not text:
        return ""
    style += ";display:inline-block;line-height:1.3"
    return f'<span style="{style}">{html.escape(text, quote=False)}</span>'


def _small(widget: w.Widget, width: str) -> w.Widget:
    widget.layout.width = width
    return widget


class ParameterRow:
    """The controls of one parameter: fixed value, or the values to sweep."""

    def __init__(self, info: ParamInfo) -> None:
        self.info = info
        star = f' <span style="{ERROR_STYLE}" title="required">*</span>'
        self.label = w.HTML(
            f"<b>{html.escape(info.name)}</b>{star if info.required else ''}"
            f' <span style="{HINT_STYLE}">{info.kind}</span>'
        )
        self.default = w.HTML(
            _html("required", ERROR_STYLE)
            if info.required
            else _html(f"default {python_code(info.default)}", HINT_STYLE)
        )
        self.mode = w.ToggleButtons(
            options=[FIXED, SWEEP],
            value=FIXED,
            style={"button_width": "68px"},
            tooltips=["one value", "several values: every one is run"],
        )
        self.fixed = control_for(info)
        numeric = info.kind in NUMBERS
        self.sweep_style = w.ToggleButtons(
            options=[LIST, RANGE] if numeric else [LIST],
            value=LIST,
            style={"button_width": "64px"},
        )
        self.list_text = w.Text(
            value=self._initial_list(),
            placeholder="values, comma-separated",
            layout=w.Layout(width="200px"),
        )
        number = w.IntText if info.kind == INT else w.FloatText
        start = info.default if numeric and info.default is not None else 0
        self.start = _small(number(value=start, description="from"), "120px")
        self.stop = _small(number(value=start, description="to"), "120px")
        self.step = _small(number(value=1, description="step"), "120px")
        for box in (self.start, self.stop, self.step):
            box.style.description_width = "32px"
        self.value_box = w.HBox(layout=w.Layout(align_items="center"))
        self.status = w.HTML()
        hooks = {"mode": self.mode, "style": self.sweep_style, "value": self.fixed}
        hooks |= {"list": self.list_text, "start": self.start, "stop": self.stop}
        hooks |= {"step": self.step, "status": self.status}
        for hook, widget in hooks.items():
            widget.add_class(f"mesa-nb-{hook}-{info.name}")  # for browser tests
        for widget in (self.mode, self.sweep_style):
            widget.observe(self._relayout, "value")
        self._relayout()

    def _initial_list(self) -> str:
        info = self.info
        if info.kind == BOOL:
            return "False, True"
        if info.kind == CHOICE:
            return format_sweep_text(info.choices)
        if info.required or not is_literal(info.default):
            return ""
        return format_sweep_text([info.default])

    def _relayout(self, _change: Any = None) -> None:
        if self.mode.value == FIXED:
            children: tuple[w.Widget, ...] = (self.fixed,)
        elif self.sweep_style.value == RANGE:
            children = (self.sweep_style, self.start, self.stop, self.step)
        elif self.info.kind in NUMBERS:
            children = (self.sweep_style, self.list_text)
        else:  # only numbers have ranges
            children = (self.list_text,)
        self.value_box.children = children

    @property
    def inputs(self) -> list[w.Widget]:
        """Every control whose value the form observes."""
        sweep = [self.sweep_style, self.list_text, self.start, self.stop, self.step]
        return [self.mode, self.fixed, *sweep]

    @property
    def cells(self) -> list[w.Widget]:
        """The row's cells in the form's grid."""
        return [self.label, self.default, self.mode, self.value_box, self.status]

    def prefill(self, value: Any) -> None:
        """Show ``value``: a list, tuple or range sweeps it, anything else is fixed."""
        if isinstance(value, list | tuple | range):
            self.mode.value = SWEEP
            self.sweep_style.value = LIST
            self.list_text.value = format_sweep_text(list(value))
        elif uses_text_entry(self.info):
            self.fixed.value = python_code(value)
        else:
            self.fixed.value = value

    def fixed_value(self) -> Any:
        """The fixed value (``NOT_GIVEN``: leave it to the model's default).

        Raises :class:`ParameterError` if it is missing or invalid.
        """
        value, info = self.fixed.value, self.info
        if isinstance(self.fixed, w.Dropdown):
            if value is None and info.required:
                raise ParameterError("required: pick a value.")
            return NOT_GIVEN if value is None else value
        if not uses_text_entry(info):
            return value
        text = value.strip()
        if not text:
            if info.required:
                raise ParameterError(f"required: type a value ({info.kind}).")
            return NOT_GIVEN
        if text == "None" and info.default is None and not info.required:
            return None
        return parse_value(text, info.kind, info.choices)

    def values(self) -> Any:
        """What the core gets for this parameter (``NOT_GIVEN``: nothing)."""
        if self.mode.value == FIXED:
            value = self.fixed_value()
            return value if value is NOT_GIVEN else core_value(value, swept=False)
        if self.sweep_style.value == RANGE:
            return range_values(self.start.value, self.stop.value, self.step.value)
        return parse_sweep_text(self.list_text.value, self.info.kind, self.info.choices)

    def show(self, error: str = "", hint: str = "") -> None:
        """An error (red) or a hint (grey) beside the row."""
        self.status.value = _html(error, ERROR_STYLE) or _html(hint, HINT_STYLE)


@dataclass
class SweepRequest:
    """A validated form: the core's arguments and the run count."""

    parameters: dict[str, Any]
    options: RunOptions
    n_points: int
    iterations: int

    @property
    def n_runs(self) -> int:
        """Points x iterations."""
        return self.n_points * self.iterations


@dataclass
class _Option:
    """One run-option control with its error label."""

    widget: w.Widget
    error: w.HTML = field(
        default_factory=lambda: w.HTML(layout=w.Layout(width="230px"))
    )


def _int_text(value: int, description: str, tooltip: str) -> w.IntText:
    return w.IntText(
        value=value,
        description=description,
        tooltip=tooltip,
        style={"description_width": "100px"},
        layout=w.Layout(width="230px"),
    )


def _text(value: str, description: str, placeholder: str = "") -> w.Text:
    return w.Text(
        value=value,
        description=description,
        placeholder=placeholder,
        style={"description_width": "100px"},
        layout=w.Layout(width="230px"),
    )


class SweepForm:
    """The form: parameter rows, run options, Run / Stop, code view, output."""

    def __init__(
        self,
        model_cls: type,
        *,
        namespace: dict[str, Any] | None = None,
        model_name: str | None = None,
        options: RunOptions | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.model_cls = model_cls
        self.namespace = _user_namespace() if namespace is None else namespace
        self.model_name = model_name or model_reference(model_cls, self.namespace)
        self.rows = {
            p.name: ParameterRow(describe(p)) for p in form_parameters(model_cls)
        }
        self._build_options(options or RunOptions())
        self._build_controls()
        self.thread: threading.Thread | None = None
        self.cancel: threading.Event | None = None
        self.result: SweepResult | None = None
        self.last_code: str | None = None
        self._pending_seed: int | None = None
        self.request: SweepRequest | None = None
        self._prefill(defaults or {})
        for widget in self._inputs():
            widget.observe(self._refresh, "value")
        self.widget = self._layout()
        self._refresh()

    # -- building -----------------------------------------------------------------
    def _build_options(self, opts: RunOptions) -> None:
        processes = "all" if opts.processes is None else str(opts.processes)
        cores = str(os.cpu_count() or 1)
        self.options = {
            "iterations": _Option(
                _int_text(opts.iterations, "iterations", "Replicates of every point")
            ),
            "max_steps": _Option(
                _int_text(opts.max_steps, "max steps", "Steps per run at most")
            ),
            "data_collection_period": _Option(
                _int_text(
                    opts.data_collection_period,
                    "collect every",
                    "-1: last record only; n: every n-th step and the last",
                )
            ),
            "processes": _Option(
                w.Combobox(
                    value=processes,
                    options=list(dict.fromkeys(["1", cores, "all"])),
                    description="processes",
                    ensure_option=False,
                    style={"description_width": "100px"},
                    layout=w.Layout(width="230px"),
                )
            ),
            "seed": _Option(
                _text(
                    "" if opts.seed is None else str(opts.seed),
                    "seed",
                    "fresh at Run",
                )
            ),
            "output": _Option(_text(opts.output, "output name")),
        }
        for key, option in self.options.items():
            option.widget.add_class(f"mesa-nb-option-{key}")  # for browser tests
            option.error.add_class(f"mesa-nb-error-{key}")

    def _build_controls(self) -> None:
        self.count = w.HTML()
        self.errors = w.HTML()
        self.run_button = w.Button(
            description="Run", button_style="success", icon="play"
        )
        self.stop_button = w.Button(
            description="Stop", button_style="danger", icon="stop", disabled=True
        )
        self.code_button = w.ToggleButton(description="show code", icon="code")
        self.code_view = w.HTML(layout=w.Layout(display="none"))
        self.progress = w.Box()
        self.output = w.Output()
        hooks = {"run": self.run_button, "stop": self.stop_button}
        hooks |= {"code": self.code_button, "code-view": self.code_view}
        hooks |= {"count": self.count, "output": self.output}
        for hook, widget in hooks.items():
            widget.add_class(f"mesa-nb-{hook}")  # for browser tests
        self.run_button.on_click(lambda _: self.run())
        self.stop_button.on_click(lambda _: self.stop())
        self.code_button.observe(self._toggle_code, "value")

    def _inputs(self) -> list[w.Widget]:
        return [
            *(i for row in self.rows.values() for i in row.inputs),
            *(o.widget for o in self.options.values()),
        ]

    def _layout(self) -> w.VBox:
        title = w.HTML(
            f"<b>Sweep {html.escape(self.model_cls.__name__)}</b> "
            f'<span style="{HINT_STYLE}">{html.escape(_first_line(self.model_cls))}'
            "</span>"
        )
        grid = w.GridBox(
            [c for row in self.rows.values() for c in row.cells],
            layout=w.Layout(
                grid_template_columns="max-content max-content max-content "
                "max-content minmax(120px, 1fr)",
                grid_gap="4px 12px",
                align_items="center",
            ),
        )
        options = w.GridBox(
            [w.VBox([o.widget, o.error]) for o in self.options.values()],
            layout=w.Layout(
                grid_template_columns="repeat(3, max-content)",
                grid_gap="0px 24px",
            ),
        )
        buttons = w.HBox(
            [self.run_button, self.stop_button, self.code_button, self.count],
            layout=w.Layout(align_items="center", grid_gap="8px"),
        )
        return w.VBox(
            [
                title,
                grid if self.rows else w.HTML("<i>The model takes no parameters.</i>"),
                w.HTML("<b>Run options</b>"),
                options,
                buttons,
                self.errors,
                self.code_view,
                self.progress,
                self.output,
            ],
            layout=w.Layout(grid_gap="6px"),
        ).add_class("mesa-nb-form")

    def _prefill(self, defaults: dict[str, Any]) -> None:
        for name, value in defaults.items():
            if name in self.rows:
                self.rows[name].prefill(value)
            elif name in self.options:
                option = self.options[name].widget
                option.value = (
                    value if isinstance(option, w.IntText) else _option_text(value)
                )
            else:
                known = [*self.rows, *self.options]
                raise TypeError(
                    f"form() got {name!r}, which is neither a parameter of "
                    f"{self.model_cls.__name__} nor a run option; it takes: "
                    f"{', '.join(known)}."
                )

    # -- validation ---------------------------------------------------------------
    def _read_options(self) -> tuple[RunOptions, dict[str, str]]:
        errors: dict[str, str] = {}
        values = {k: o.widget.value for k, o in self.options.items()}
        processes = values["processes"].strip()
        if processes == "all":
            values["processes"] = None
        elif processes.isdigit() and int(processes) >= 1:
            values["processes"] = int(processes)
        else:
            errors["processes"] = "a number of processes (1 or more) or 'all'."
            values["processes"] = 1
        seed = values["seed"].strip()
        if not seed:
            values["seed"] = None
        elif seed.isdigit():
            values["seed"] = int(seed)
        else:
            errors["seed"] = "a whole number (0 or more), or empty for a fresh seed."
            values["seed"] = None
        output = values["output"].strip()
        if not output.isidentifier() or keyword.iskeyword(output):
            errors["output"] = f"{output!r} is not a Python name."
        values["output"] = output
        return RunOptions(**values), errors

    def validate(self) -> SweepRequest | None:
        """Check every control; show errors inline. None if anything is wrong."""
        errors: dict[str, str] = {}
        parameters: dict[str, Any] = {}
        for name, row in self.rows.items():
            try:
                value = row.values()
            except ParameterError as exc:
                errors[name] = str(exc)
                continue
            if value is not NOT_GIVEN:
                parameters[name] = value
        opts, option_errors = self._read_options()
        errors.update(option_errors)
        general, plan = "", None
        try:  # the core checks the options even while a parameter is wrong
            plan = self._plan(parameters, opts)
        except MesaNbError as exc:
            target = error_target(str(exc), [*self.rows, *self.options])
            if target is None and not errors:
                general = str(exc)
            elif target is not None:
                errors.setdefault(target, str(exc))  # keep the form's own message
        self._show_errors(errors, parameters, general)
        if plan is None or errors:
            return None
        return SweepRequest(parameters, opts, len(plan.space), plan.iterations)

    def _plan(self, parameters: dict[str, Any], opts: RunOptions) -> Any:
        """The core's checks (seed 0 stands in for a fresh one: no entropy)."""
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # "cannot be reproduced": warned at Run
            return plan_sweep(
                self.model_cls,
                parameters,
                iterations=opts.iterations,
                max_steps=opts.max_steps,
                data_collection_period=opts.data_collection_period,
                seed=0 if opts.seed is None else opts.seed,
            )

    def _show_errors(
        self, errors: dict[str, str], parameters: dict[str, Any], general: str
    ) -> None:
        for name, row in self.rows.items():
            value = parameters.get(name)
            swept = row.mode.value == SWEEP and isinstance(value, list)
            hint = f"{_plural(len(value), 'value')}: {_preview(value)}" if swept else ""
            row.show(errors.get(name, ""), hint)
        for name, option in self.options.items():
            option.error.value = _html(errors.get(name, ""), ERROR_STYLE)
        self.errors.value = _html(general, ERROR_STYLE)

    def _refresh(self, _change: Any = None) -> None:
        self.request = self.validate()
        if self.request is None:
            self.count.value = _html("fix the values marked in red", ERROR_STYLE)
        else:
            count = run_count_text(self.request.n_points, self.request.iterations)
            self.count.value = f"<b>{count}</b>"
        self._idle_buttons()
        self._show_code()

    # -- code -----------------------------------------------------------------------
    def _seed_for_run(self, opts: RunOptions) -> RunOptions:
        """Fill an empty seed with a fresh one, kept until a Run uses it."""
        if opts.seed is not None:
            return opts
        if self._pending_seed is None:
            self._pending_seed = secrets.randbelow(FRESH_SEED_BOUND)
        return RunOptions(**{**opts.__dict__, "seed": self._pending_seed})

    def code(self) -> str | None:
        """The ``%%batchrun`` cell of the current form (None while it is invalid).

        With an empty Seed box, the seed the next Run will use is drawn now
        and shown, so the cell reproduces that Run.
        """
        request = self.validate()
        if request is None:
            return None
        opts = self._seed_for_run(request.options)
        return batchrun_code(self.model_name, request.parameters, opts)

    def _show_code(self) -> None:
        if not self.code_button.value:
            return
        request = self.request
        if request is None:
            text = "(fix the values marked in red to see the code)"
        else:
            opts = self._seed_for_run(request.options)
            text = batchrun_code(self.model_name, request.parameters, opts)
        self.code_view.value = (
            '<pre style="background:#f5f5f5;padding:6px;margin:0;'
            f'white-space:pre-wrap">{html.escape(text)}</pre>'
        )

    def _toggle_code(self, change: Any) -> None:
        self.code_view.layout.display = None if change["new"] else "none"
        self._show_code()

    # -- running ----------------------------------------------------------------------
    @property
    def running(self) -> bool:
        """True while a sweep runs."""
        return self.thread is not None and self.thread.is_alive()

    def _idle_buttons(self) -> None:
        if not self.running:
            self.run_button.disabled = self.request is None
            self.stop_button.disabled = True

    def run(self) -> None:
        """Start the sweep of the current form on a background thread."""
        if self.running:
            return
        request = self.validate()
        if request is None:
            return
        opts = self._seed_for_run(request.options)
        drawn = request.options.seed is None
        self._pending_seed = None
        self.last_code = batchrun_code(self.model_name, request.parameters, opts)
        self.cancel = threading.Event()
        self.result = None
        self.output.outputs = ()
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.thread = threading.Thread(
            target=self._run,
            args=(request.parameters, opts, drawn),
            name="mesa_nb-form-sweep",
            daemon=True,
        )
        self.thread.start()

    def stop(self) -> None:
        """Stop the running sweep; finished runs are kept."""
        if self.cancel is not None:
            self.cancel.set()
        self.stop_button.disabled = True

    def wait(self, timeout: float | None = None) -> SweepResult | None:
        """Block until the running sweep ends; return its result."""
        if self.thread is not None:
            self.thread.join(timeout)
            if self.thread.is_alive():
                raise TimeoutError(f"the sweep is still running after {timeout} s.")
        return self.result

    def _progress_bar(self) -> TqdmProgress:
        from tqdm.notebook import tqdm

        form = self

        def embedded(*args: Any, **kwargs: Any) -> Any:
            bar = tqdm(*args, display=False, **kwargs)
            form.progress.children = (bar.container,)
            return bar

        return TqdmProgress(tqdm_cls=embedded)

    def _run(self, parameters: dict[str, Any], opts: RunOptions, drawn: bool) -> None:
        try:
            result = self._sweep(parameters, opts)
        except Exception as exc:  # shown as text: the form never dumps a traceback
            self._print(f"The sweep did not run: {type(exc).__name__}: {exc}")
        else:
            self.result = result
            self.namespace[opts.output] = result
            self._report(result, opts, drawn)
        finally:
            self.stop_button.disabled = True
            self.run_button.disabled = self.request is None

    def _sweep(self, parameters: dict[str, Any], opts: RunOptions) -> SweepResult:
        """Call the core with a progress bar in the form; close the bar after."""
        bar = self._progress_bar()
        try:
            result = sweep(
                self.model_cls,
                parameters,
                iterations=opts.iterations,
                max_steps=opts.max_steps,
                data_collection_period=opts.data_collection_period,
                processes=opts.processes,
                seed=opts.seed,
                on_progress=bar,
                cancel=self.cancel,
            )
            bar.finish(failed=bool(result.n_failed or result.interrupted))
            return result
        finally:
            bar.close()

    # -- output ----------------------------------------------------------------------
    def _print(self, text: str) -> None:
        self.output.append_stdout(text if text.endswith("\n") else text + "\n")

    def _report(self, result: SweepResult, opts: RunOptions, drawn: bool) -> None:
        lines = [f"{opts.output} = {result.summary()}"]
        if result.interrupted:
            lines.append(
                f"Stopped: kept {result.n_ok} finished runs; "
                f"{result.n_cancelled} runs were cancelled."
            )
        if result.n_failed:
            first = result.failures.iloc[0]
            lines.append(
                f"{result.n_failed} runs failed, e.g. RunId {first['RunId']}: "
                f"{first['error']} -- see {opts.output}.failures for tracebacks."
            )
        if drawn:
            lines.append(
                f"The seed box was empty, so seed {opts.seed} was drawn: "
                "enter it there to repeat this sweep."
            )
        self._print("\n".join(lines))
        self._plot(result)

    def _plot(self, result: SweepResult) -> None:
        reporter = first_reporter(result)
        if reporter is None or not result.n_ok:
            return
        swept = result.metadata.get("swept") or [None]
        try:
            png = _lines_png(result, reporter, swept[0])
        except Exception as exc:  # a reporter that is not numeric, for one
            self._print(f"No default plot of {reporter!r}: {exc}")
            return
        item = {
            "output_type": "display_data",
            "data": {
                "image/png": base64.b64encode(png).decode("ascii"),
                "text/plain": f"<plot of {reporter}>",
            },
            "metadata": {},
        }
        self.output.outputs = (*self.output.outputs, item)

    # -- display ---------------------------------------------------------------------
    def _repr_mimebundle_(self, **kwargs: Any) -> Any:
        return self.widget._repr_mimebundle_(**kwargs)

    def __repr__(self) -> str:
        return f"<SweepForm of {self.model_name}: {self.count.value}>"


def _lines_png(result: SweepResult, reporter: str, by: str | None) -> bytes:
    """``result.plot.lines`` drawn on a figure outside pyplot (safe off-thread)."""
    from matplotlib.figure import Figure

    figure = Figure(figsize=(6.4, 3.6), dpi=100)
    result.plot.lines(reporter, by=by, ax=figure.subplots())
    figure.tight_layout()
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png")
    return buffer.getvalue()


def _preview(values: list[Any], limit: int = 6) -> str:
    shown = ", ".join(python_code(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")


def _option_text(value: Any) -> str:
    return "all" if value is None else str(value)


def _first_line(model_cls: type) -> str:
    doc = inspect.getdoc(model_cls) or ""
    return doc.strip().splitlines()[0] if doc.strip() else ""


def _user_namespace() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


def _shell_options() -> RunOptions:
    from IPython import get_ipython

    return config_options(get_ipython())


def form(
    model_cls: type, *, namespace: dict[str, Any] | None = None, **defaults: Any
) -> SweepForm:
    """A widget form to pick and run a sweep of ``model_cls``; shows when returned.

    Args:
        model_cls: the Mesa model class; its ``__init__`` signature gives the
            controls (``rng`` / ``seed`` are left to the Seed option).
        namespace: where the result is bound (default: the notebook's).
        **defaults: prefill parameters (a list sweeps it) and run options
            (``iterations``, ``max_steps``, ``data_collection_period``,
            ``processes``, ``seed``, ``output``); a parameter name wins.
    """
    return SweepForm(
        model_cls, namespace=namespace, options=_shell_options(), defaults=defaults
    )


class _CallableModule(types.ModuleType):
    """Importing this module rebinds ``mesa_nb.form`` from the lazy function to
    the module; calling the module calls :func:`form`, so both keep working."""

    def __call__(self, model_cls: type, **kwargs: Any) -> SweepForm:
        return form(model_cls, **kwargs)


sys.modules[__name__].__class__ = _CallableModule

__all__ = [
    "ParamInfo",
    "RunOptions",
    "SweepForm",
    "SweepRequest",
    "batchrun_code",
    "control_for",
    "describe",
    "form",
    "form_parameters",
    "parse_sweep_text",
    "range_values",
    "run_count_text",
]
