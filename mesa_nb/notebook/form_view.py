"""The sweep form's widgets, bound to a :class:`~.form_state.FormState`.

``mesa_nb.form(Model)`` or ``%batchrun_form Model`` shows it. The view builds
one control per field of the state (as ``ipywidgets.interact`` does, from the
model's signature), copies the controls' values into the state on every
change, shows what the state's validation says, and runs the sweep on a
background thread so the kernel stays free for the Stop button. The sweep is
planned once, at Run, and that plan is what runs.

The form calls the core with exactly the parameters its "show code" view
writes as a ``%%batchrun`` cell, so running that cell gives the same runs.
"""

from __future__ import annotations

import base64
import html
import inspect
import io
import os
import sys
import threading
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w
import traitlets

from ..api import session
from ..api.progress import TqdmProgress
from ..api.reports import outcome_report
from ..core.mesa_adapter import Model
from ..core.options import FORM, Option, SweepOptions, offered
from ..core.precision import AUTO, DEFAULT_MAX_ITERATIONS
from ..core.result import SweepResult
from .form_state import (
    BOOL,
    ERROR_STYLE,
    FIXED,
    FLOAT,
    GRID,
    HINT_STYLE,
    INT,
    LIST,
    NUMBERS,
    RANGE,
    SWEEP,
    FieldState,
    FormState,
    ParamInfo,
    SweepRequest,
    Validation,
    choice_label,
    config_options,
    describe,
    dropdown_choices,
    first_reporter,
    model_reference,
    plan_count_text,
    python_code,
    uses_dropdown,
    uses_number_box,
    uses_text_entry,
)


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


def control_for(parameter: inspect.Parameter | ParamInfo) -> w.Widget:
    """The control of a fixed value, matched to the parameter's kind.

    bool -> Checkbox, int -> IntText, float -> FloatText, str -> Text,
    Enum / Literal -> Dropdown; anything else is a Text holding a Python
    literal. A required parameter starts empty (a Text, or a Dropdown with
    no selection) so the form is invalid until it is given.
    """
    info = parameter if isinstance(parameter, ParamInfo) else describe(parameter)
    value = FieldState.initial(info).fixed
    layout = w.Layout(width="180px")
    if uses_dropdown(info):
        options = [(choice_label(c), c) for c in dropdown_choices(info)]
        return w.Dropdown(options=options, value=value, layout=layout)
    if uses_text_entry(info):
        if info.required:
            placeholder = f"required ({info.kind})"
        else:
            placeholder = "" if value else f"model default: {info.default!r}"
        return w.Text(value=value, placeholder=placeholder, layout=layout)
    if info.kind == BOOL:
        return w.Checkbox(value=value, indent=False)
    if info.kind == INT:
        return w.IntText(value=value, layout=layout)
    if info.kind == FLOAT:
        return w.FloatText(value=value, layout=layout)
    return w.Text(value=value, layout=layout)


class ParameterRow:
    """The controls of one parameter: fixed value, or the values to sweep."""

    def __init__(self, state: FieldState) -> None:
        info = state.info
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
            placeholder="values, comma-separated", layout=w.Layout(width="200px")
        )
        number = w.IntText if info.kind == INT else w.FloatText
        self.start = _small(number(description="from"), "120px")
        self.stop = _small(number(description="to"), "120px")
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
        self.show_state(state)
        for widget in (self.mode, self.sweep_style):
            widget.observe(self._relayout, "value")
        self._relayout()

    def show_state(self, state: FieldState) -> None:
        """Set every control from ``state``."""
        self.mode.value, self.sweep_style.value = state.mode, state.style
        self.fixed.value = state.fixed
        self.list_text.value = state.list_text
        if self.info.kind in NUMBERS:
            self.start.value, self.stop.value = state.start, state.stop
            self.step.value = state.step

    def read_into(self, state: FieldState) -> None:
        """Copy every control's value into ``state``."""
        state.mode, state.style = self.mode.value, self.sweep_style.value
        state.fixed = self.fixed.value
        state.list_text = self.list_text.value
        state.start, state.stop = self.start.value, self.stop.value
        state.step = self.step.value

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

    def show(self, error: str = "", hint: str = "") -> None:
        """An error (red) or a hint (grey) beside the row."""
        self.status.value = _html(error, ERROR_STYLE) or _html(hint, HINT_STYLE)


@dataclass
class _Option:
    """One run-option control with its error label."""

    widget: w.Widget
    error: w.HTML = field(
        default_factory=lambda: w.HTML(layout=w.Layout(width="230px"))
    )


_OPTION_STYLE = {"description_width": "110px"}


class CountOrAuto(w.Combobox):
    """A box for a whole number or 'auto' (offered in its list); a number
    set from code is shown as its text."""

    value = traitlets.CUnicode(help="a whole number, or 'auto'").tag(sync=True)


#: What an empty box of an option means, where its default is None.
_EMPTY_MEANS = {
    "seed": "fresh at Run",
    "samples": "the design's default",
    "precision": "with auto: e.g. Gini=0.01",
    "max_iterations": f"with auto: {DEFAULT_MAX_ITERATIONS}",
}


def option_control(opt: Option, value: Any) -> w.Widget:
    """The control of one option, by its kind: a whole-number box, a
    checkbox, the design's dropdown (a grid or a design), the processes'
    combobox, or a text box (empty: the option's default)."""
    common = {
        "description": opt.label,
        "tooltip": opt.help,
        "style": _OPTION_STYLE,
        "layout": w.Layout(width="240px"),
    }
    if uses_number_box(opt):
        return w.IntText(value=value, **common)
    if opt.kind == "flag":  # the label beside the box, in full
        common["style"] = {"description_width": "initial"}
        return w.Checkbox(value=value, indent=False, **common)
    if opt.kind == "choice":
        choices = [GRID, *(str(c) for c in opt.choices)]
        return w.Dropdown(options=choices, value=value, **common)
    if opt.kind == "iterations":
        return CountOrAuto(value=value, options=[AUTO], ensure_option=False, **common)
    if opt.kind == "processes":
        cores = str(os.cpu_count() or 1)
        return w.Combobox(
            value=value,
            options=list(dict.fromkeys(["1", cores, "all"])),
            ensure_option=False,
            **common,
        )
    placeholder = "" if opt.default is None else f"default {opt.default}"
    if opt.default is None:
        placeholder = _EMPTY_MEANS.get(opt.name, "none")
    return w.Text(value=value, placeholder=placeholder, **common)


def _option_controls(values: dict[str, Any]) -> dict[str, _Option]:
    options = {
        opt.name: _Option(option_control(opt, values[opt.name]))
        for opt in offered(FORM)
    }
    for key, option in options.items():
        option.widget.add_class(f"mesa-nb-option-{key}")  # for browser tests
        option.error.add_class(f"mesa-nb-error-{key}")
    return options


class SweepForm:
    """The form: parameter rows, run options, Run / Stop, code view, output."""

    def __init__(
        self,
        model_cls: type,
        *,
        namespace: dict[str, Any] | None = None,
        model_name: str | None = None,
        options: SweepOptions | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.model_cls = model_cls
        self.namespace = _user_namespace() if namespace is None else namespace
        self.model_name = model_name or model_reference(model_cls, self.namespace)
        self.state = FormState(
            model_cls, namespace=self.namespace, options=options, defaults=defaults
        )
        self.rows = {
            name: ParameterRow(state) for name, state in self.state.fields.items()
        }
        self.options = _option_controls(self.state.options)
        self._build_controls()
        self.thread: threading.Thread | None = None
        self.cancel: threading.Event | None = None
        self.result: SweepResult | None = None
        self.last_code: str | None = None
        self.validation: Validation | None = None
        for widget in self._inputs():
            widget.observe(self._refresh, "value")
        self.widget = self._layout()
        self._refresh()

    @property
    def request(self) -> SweepRequest | None:
        """The sweep the form stands for now (None while a value is wrong)."""
        return self.validation.request if self.validation else None

    # -- building -----------------------------------------------------------------
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

    # -- validation ---------------------------------------------------------------
    def validate(self) -> SweepRequest | None:
        """Read the controls into the state, check it, show errors inline."""
        for name, row in self.rows.items():
            row.read_into(self.state.fields[name])
        for name, option in self.options.items():
            self.state.options[name] = option.widget.value
        self.validation = validation = self.state.validate()
        for name, row in self.rows.items():
            row.show(validation.errors.get(name, ""), validation.hints.get(name, ""))
        for name, option in self.options.items():
            option.error.value = _html(validation.errors.get(name, ""), ERROR_STYLE)
        self.errors.value = _html(validation.general, ERROR_STYLE)
        return validation.request

    def _refresh(self, _change: Any = None) -> None:
        request = self.validate()
        if request is None:
            self.count.value = _html("fix the values marked in red", ERROR_STYLE)
        else:
            count = plan_count_text(request.plan)
            self.count.value = f"<b>{count}</b>"
        self._idle_buttons()
        self._show_code()

    # -- code -----------------------------------------------------------------------
    def code(self) -> str | None:
        """The ``%%batchrun`` cell of the current form (None while it is invalid).

        With an empty Seed box, the seed the next Run will use is drawn now
        and shown, so the cell reproduces that Run.
        """
        return self.state.code(self.model_name, self.validate())

    def _show_code(self) -> None:
        if not self.code_button.value:
            return
        text = self.state.code(self.model_name, self.request) or (
            "(fix the values marked in red to see the code)"
        )
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
        """Start the sweep the form checked on a background thread."""
        if self.running:
            return
        request = self.validate()
        if request is None:
            return
        typed = str(self.state.options.get("seed", "")).strip()
        drawn = None if typed or request.options.store else request.options.seed
        self.state.pending_seed = None
        self.last_code = self.state.code(self.model_name, request)
        self.cancel = threading.Event()
        self.result = None
        self.output.outputs = ()
        self.run_button.disabled = True
        self.stop_button.disabled = False
        self.thread = threading.Thread(
            target=self._run,
            args=(request, drawn),
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

    def _run(self, request: SweepRequest, drawn: int | None) -> None:
        output = request.options.output
        try:
            result = self._sweep(request)
        except Exception as exc:  # shown as text: the form never dumps a traceback
            self._print(f"The sweep did not run: {type(exc).__name__}: {exc}")
        else:
            self.result = result
            self.namespace[output] = result
            self._print(outcome_report(result, output, drawn_seed=drawn))
            self._plot(result)
        finally:
            self.stop_button.disabled = True
            self.run_button.disabled = self.request is None

    def _sweep(self, request: SweepRequest) -> SweepResult:
        """Run the plan the form checked, with a progress bar in the form."""
        bar = self._progress_bar()
        try:
            result = session.run(
                request, on_progress=bar, cancel=self.cancel, background=False
            )
            bar.finish(failed=bool(result.n_failed or result.interrupted))
            return result
        finally:
            bar.close()

    # -- output ----------------------------------------------------------------------
    def _print(self, text: str) -> None:
        self.output.append_stdout(text if text.endswith("\n") else text + "\n")

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


def _first_line(model_cls: type) -> str:
    """The first line of the model's own docstring (not mesa.Model's)."""
    doc = model_cls.__dict__.get("__doc__") or ""
    if model_cls is Model or not doc.strip():
        return ""
    return inspect.cleandoc(doc).splitlines()[0]


def _user_namespace() -> dict[str, Any]:
    from IPython import get_ipython

    shell = get_ipython()
    return shell.user_ns if shell is not None else sys.modules["__main__"].__dict__


def _shell_options() -> SweepOptions:
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


__all__ = ["SweepForm", "control_for", "form"]
