"""A widget form for picking and running a sweep, built from the model's signature.

``mesa_nb.form(Model)`` or ``%batchrun_form Model`` shows it. As in
``ipywidgets.interact``, small pure functions in :mod:`mesa_nb.form_fields` map
a parameter to its control and text to values; :class:`SweepForm` only
observes values, validates them
with the core (:func:`mesa_nb.plan.plan_sweep`) and calls :func:`mesa_nb.sweep`
on a background thread, so the kernel stays free for the Stop button.

The form calls the core with exactly the parameters its "show code" view
writes as a ``%%batchrun`` cell, so running that cell gives the same runs.
"""

from __future__ import annotations

import base64
import html
import inspect
import io
import keyword
import os
import secrets
import sys
import threading
import warnings
from dataclasses import dataclass, field
from typing import Any

import ipywidgets as w

from .engine import sweep
from .errors import MesaNbError, ParameterError
from .executors import executor_by_name
from .form_fields import (
    BOOL,
    CHOICE,
    ERROR_STYLE,
    FIXED,
    FRESH_SEED_BOUND,
    HINT_STYLE,
    INT,
    LIST,
    NOT_GIVEN,
    NUMBERS,
    RANGE,
    SWEEP,
    ParamInfo,
    RunOptions,
    batchrun_code,
    config_options,
    control_for,
    core_value,
    describe,
    error_target,
    first_reporter,
    form_parameters,
    format_sweep_text,
    is_literal,
    model_reference,
    parse_sweep_text,
    parse_value,
    plural,
    python_code,
    range_values,
    run_count_text,
    uses_text_entry,
)
from .plan import plan_sweep
from .progress import TqdmProgress
from .result import SweepResult


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
            "store": _Option(_text(opts.store or "", "store dir", "none: in memory")),
            "client": _Option(
                _text(opts.client or "", "Dask client", "none: local processes")
            ),
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
        values["store"] = values["store"].strip() or None
        client = values["client"].strip() or None
        if client is not None:
            try:
                executor_by_name(client, self.namespace)
            except MesaNbError as exc:
                errors["client"] = str(exc)
        values["client"] = client
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
            hint = f"{plural(len(value), 'value')}: {_preview(value)}" if swept else ""
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
        """Fill an empty seed with a fresh one, kept until a Run uses it.

        Not with a store: there an empty seed resumes with the stored seeds.
        """
        if opts.seed is not None or opts.store:
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
                store=opts.store,
                executor=executor_by_name(opts.client, self.namespace)
                if opts.client
                else None,
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
        if result.metadata["resumed_runs"]:
            lines.append(
                f"Resumed from {opts.store}: {result.metadata['resumed_runs']} runs "
                "were already stored; only the others ran."
            )
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


__all__ = ["SweepForm", "SweepRequest", "form"]
