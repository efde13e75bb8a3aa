"""The sweep form without widgets: fields, values, validation, the cell.

:class:`FormState` holds what the user typed or picked, one
:class:`FieldState` per model parameter and the run options as text, and
turns it into the core's arguments (checked by the core's own planner, which
lays out no runs while checking), a run count and the equivalent
``%%batchrun`` cell. Tests drive it directly; :mod:`.form_view` binds
ipywidgets to it. As in ``ipywidgets.interact``, small functions map a
parameter's annotation and default to its kind.
"""

from __future__ import annotations

import ast
import builtins
import enum
import inspect
import keyword
import math
import secrets
import shlex
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..core.designs import (
    DEFAULT_SAMPLES,
    DESIGNS,
    Range,
    between,
    integers,
    make_design,
    one_of,
)
from ..core.errors import MesaNbError, ParameterError
from ..core.plan import SEED_NAMES, SweepPlan, plan_sweep
from ..core.result import SweepResult
from ..core.scenarios import scenario_spec
from .names import executor_by_name

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


# -- parameters -> kinds -------------------------------------------------------
@dataclass(frozen=True)
class ParamInfo:
    """What the form needs to know about one model parameter."""

    name: str
    kind: str
    default: Any = None
    required: bool = False
    choices: tuple[Any, ...] = ()


def form_parameters(model_cls: type) -> list[inspect.Parameter]:
    """The parameters the form shows: all but ``rng``/``seed`` and ``*args``.

    For a model that takes a Mesa 3.5 ``scenario``, the fields of its
    Scenario class stand in for ``scenario`` (``n: int = 100`` gives an int
    field with default 100).
    """
    try:
        signature = inspect.signature(model_cls, eval_str=True)
    except Exception:  # an annotation naming something not importable
        signature = inspect.signature(model_cls)
    spec = scenario_spec(model_cls)
    shown = [
        p
        for p in signature.parameters.values()
        if p.name not in SEED_NAMES
        and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
        and not (spec is not None and p.name == "scenario")
    ]
    if spec is None:
        return shown
    try:
        hints = typing.get_type_hints(spec.cls)
    except Exception:
        hints = {}
    taken = {p.name for p in shown}
    return shown + [
        inspect.Parameter(
            name,
            inspect.Parameter.KEYWORD_ONLY,
            default=default,
            annotation=hints.get(name, inspect.Parameter.empty),
        )
        for name, default in spec.defaults.items()
        if name not in taken
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
    """``value`` as Python source: ``repr``, or ``Color.RED`` for an Enum member,
    ``float('inf')`` for an infinite float (``repr`` gives a bare ``inf``),
    ``between(0.1, 0.9)`` for a design's range."""
    if isinstance(value, Range):
        if value.kind == "choice":
            return "one_of(" + ", ".join(python_code(c) for c in value.choices) + ")"
        maker = "between" if value.kind == "float" else "integers"
        return f"{maker}({value.low!r}, {value.high!r})"
    if isinstance(value, enum.Enum):
        return f"{type(value).__name__}.{value.name}"
    if isinstance(value, float) and not math.isfinite(value):
        return f"float({str(value)!r})"
    if isinstance(value, list):
        return "[" + ", ".join(python_code(v) for v in value) + "]"
    return repr(value)


def is_literal(value: Any) -> bool:
    """Whether ``repr(value)`` reads back as the same value."""
    try:
        return ast.literal_eval(repr(value)) == value
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return False


def choice_label(value: Any) -> str:
    """How a choice is shown: an Enum member by name, anything else by repr."""
    return value.name if isinstance(value, enum.Enum) else repr(value)


def uses_text_entry(info: ParamInfo) -> bool:
    """Whether the fixed control is a Text read as a Python value.

    So it is for values of no known kind, for required parameters (empty
    until given) and for defaults of None, which no typed control can hold.
    """
    if info.kind == CHOICE or (info.kind == BOOL and info.required):
        return False
    return info.kind == ANY or info.required or info.default is None


# -- text -> values -----------------------------------------------------------------
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
    listed = ", ".join(choice_label(c) for c in choices)
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
    return ", ".join(choice_label(v) for v in values)


def plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def run_count_text(n_points: int, iterations: int) -> str:
    """``"12 runs = 6 points x 2 iterations"``."""
    return (
        f"{plural(n_points * iterations, 'run')} = {plural(n_points, 'point')} "
        f"x {plural(iterations, 'iteration')}"
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
    store: str | None = None  # a results directory: resumable
    client: str | None = None  # Dask: a notebook name, an address or 'dask'
    timeout: float | None = None  # seconds a run may take
    design: str | None = None  # None: a full grid; else a sampling design
    samples: int | None = None  # the design's size (its default when None)

    def plan_options(self) -> dict[str, Any]:
        """What the planner takes of these options (``seed`` apart)."""
        return {
            "iterations": self.iterations,
            "max_steps": self.max_steps,
            "data_collection_period": self.data_collection_period,
            "timeout": self.timeout,
        }


#: The form's design choices: a grid, or a sampling design by name.
GRID = "grid"
DESIGN_CHOICES = (GRID, *DESIGNS)


def design_parameters(parameters: dict[str, Any], opts: RunOptions) -> Any:
    """What the core gets: the parameters, or the design they describe
    (ranges sampled, the other values constant)."""
    if opts.design is None:
        return parameters
    ranges = {n: v for n, v in parameters.items() if isinstance(v, Range)}
    constants = {n: v for n, v in parameters.items() if n not in ranges}
    return make_design(opts.design, ranges, opts.samples, opts.seed, constants)


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
    if opts.timeout is not None:
        flags.append(f"--timeout {opts.timeout:g}")
    if opts.design is not None:
        samples = opts.samples or DEFAULT_SAMPLES.get(opts.design, 128)
        flags.append(f"--design {opts.design} --samples {samples}")
    if opts.store:
        flags.append(f"--store {shlex.quote(opts.store)}")
    if opts.client:
        flags.append(f"--client {shlex.quote(opts.client)}")
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


def first_reporter(result: SweepResult) -> str | None:
    """The first model reporter of ``result`` (what the form plots)."""
    return result.model_reporters[0] if result.model_reporters else None


# -- the state of one parameter ------------------------------------------------------
def uses_dropdown(info: ParamInfo) -> bool:
    """Whether the fixed value is picked from a list (choices, a required bool)."""
    return info.kind == CHOICE or (info.kind == BOOL and info.required)


def dropdown_choices(info: ParamInfo) -> tuple[Any, ...]:
    """What the dropdown of ``info`` offers."""
    return info.choices if info.kind == CHOICE else (True, False)


def _initial_fixed(info: ParamInfo) -> Any:
    if uses_dropdown(info):
        return info.default if info.default in dropdown_choices(info) else None
    if uses_text_entry(info):
        if info.required or not is_literal(info.default):
            return ""
        return python_code(info.default)
    if info.kind == BOOL:
        return bool(info.default)
    return info.default


def _initial_list(info: ParamInfo) -> str:
    if info.kind == BOOL:
        return "False, True"
    if info.kind == CHOICE:
        return format_sweep_text(info.choices)
    if info.required or not is_literal(info.default):
        return ""
    return format_sweep_text([info.default])


@dataclass
class FieldState:
    """What the form holds for one parameter: a fixed value or values to sweep.

    ``fixed`` is the fixed control's value: the value itself for typed
    controls, the choice for a dropdown, Python text for a text entry
    (:func:`uses_text_entry`).
    """

    info: ParamInfo
    mode: str = FIXED
    style: str = LIST
    fixed: Any = None
    list_text: str = ""
    start: float = 0
    stop: float = 0
    step: float = 1

    @classmethod
    def initial(cls, info: ParamInfo) -> FieldState:
        """The field as the form first shows it: the model's default, fixed."""
        numeric = info.kind in NUMBERS and info.default is not None
        start = info.default if numeric else 0
        return cls(
            info,
            fixed=_initial_fixed(info),
            list_text=_initial_list(info),
            start=start,
            stop=start,
        )

    def prefill(self, value: Any) -> None:
        """Show ``value``: a list, tuple or range sweeps it, anything else is fixed."""
        if isinstance(value, list | tuple | range):
            self.mode, self.style = SWEEP, LIST
            self.list_text = format_sweep_text(list(value))
        else:
            self.mode = FIXED
            self.fixed = python_code(value) if uses_text_entry(self.info) else value

    def fixed_value(self) -> Any:
        """The fixed value (``NOT_GIVEN``: leave it to the model's default).

        Raises :class:`ParameterError` if it is missing or invalid.
        """
        value, info = self.fixed, self.info
        if uses_dropdown(info):
            if value is None and info.required:
                raise ParameterError("required: pick a value.")
            return NOT_GIVEN if value is None else value
        if not uses_text_entry(info):
            return value
        text = str(value).strip()
        if not text:
            if info.required:
                raise ParameterError(f"required: type a value ({info.kind}).")
            return NOT_GIVEN
        if text == "None" and info.default is None and not info.required:
            return None
        return parse_value(text, info.kind, info.choices)

    def value(self, design: bool = False) -> Any:
        """What the core gets for this parameter (``NOT_GIVEN``: nothing).

        With ``design``, a swept field is a range to sample: numbers from
        their from/to, choices from their list.
        """
        if design and self.mode == SWEEP:
            return self._range()
        if self.mode == FIXED:
            value = self.fixed_value()
            return value if value is NOT_GIVEN else core_value(value, swept=False)
        if self.style == RANGE:
            return range_values(self.start, self.stop, self.step)
        return parse_sweep_text(self.list_text, self.info.kind, self.info.choices)

    def _range(self) -> Range:
        info = self.info
        if info.kind in NUMBERS and self.style == RANGE:
            if info.kind == INT:
                return integers(int(self.start), int(self.stop))
            return between(float(self.start), float(self.stop))
        if info.kind in (CHOICE, BOOL, STR):
            return one_of(*parse_sweep_text(self.list_text, info.kind, info.choices))
        raise ParameterError(
            "with a design, give a range (sweep, range: from/to) to sample."
        )


# -- run options ------------------------------------------------------------------
def option_values(opts: RunOptions) -> dict[str, Any]:
    """The option controls' values for ``opts``: numbers, or text."""
    return {
        "iterations": opts.iterations,
        "max_steps": opts.max_steps,
        "data_collection_period": opts.data_collection_period,
        "processes": "all" if opts.processes is None else str(opts.processes),
        "seed": "" if opts.seed is None else str(opts.seed),
        "output": opts.output,
        "store": opts.store or "",
        "client": opts.client or "",
        "timeout": "" if opts.timeout is None else f"{opts.timeout:g}",
        "design": opts.design or GRID,
        "samples": "" if opts.samples is None else str(opts.samples),
    }


def read_options(
    values: dict[str, Any], namespace: dict[str, Any]
) -> tuple[RunOptions, dict[str, str]]:
    """The :class:`RunOptions` of the option controls, and errors by option."""
    errors: dict[str, str] = {}
    values = dict(values)
    processes = str(values["processes"]).strip()
    if processes == "all":
        values["processes"] = None
    elif processes.isdigit() and int(processes) >= 1:
        values["processes"] = int(processes)
    else:
        errors["processes"] = "a number of processes (1 or more) or 'all'."
        values["processes"] = 1
    seed = str(values["seed"]).strip()
    if not seed:
        values["seed"] = None
    elif seed.isascii() and seed.isdigit():
        values["seed"] = int(seed)
    else:
        errors["seed"] = "a whole number (0 or more), or empty for a fresh seed."
        values["seed"] = None
    output = str(values["output"]).strip()
    if not output.isidentifier() or keyword.iskeyword(output):
        errors["output"] = f"{output!r} is not a Python name."
    elif hasattr(builtins, output):
        errors["output"] = f"{output!r} would hide Python's built-in {output}."
    values["output"] = output
    for key in ("store", "client"):
        if any(char in str(values[key]) for char in "\r\n"):
            errors[key] = "one line only: no line breaks."
    values["store"] = str(values["store"]).strip() or None
    timeout = str(values["timeout"]).strip()
    values["timeout"] = None
    if timeout:
        try:
            values["timeout"] = float(timeout)
        except ValueError:
            errors["timeout"] = "a number of seconds, or empty for no limit."
        else:
            if not values["timeout"] > 0:
                errors["timeout"] = "a number of seconds above 0."
                values["timeout"] = None
    design = str(values["design"]).strip() or GRID
    values["design"] = None if design == GRID else design
    if design not in DESIGN_CHOICES:
        errors["design"] = f"one of {', '.join(DESIGN_CHOICES)}."
        values["design"] = None
    samples = str(values["samples"]).strip()
    values["samples"] = None
    if samples:
        if samples.isascii() and samples.isdigit() and int(samples) >= 1:
            values["samples"] = int(samples)
        else:
            errors["samples"] = "a whole number, 1 or more (empty: the default)."
    client = str(values["client"]).strip() or None
    if client is not None:
        try:
            executor_by_name(client, namespace)
        except MesaNbError as exc:
            errors["client"] = str(exc)
    values["client"] = client
    return RunOptions(**values), errors


# -- the whole form -------------------------------------------------------------------
@dataclass
class SweepRequest:
    """A valid form: the core's arguments and the checked plan."""

    parameters: dict[str, Any]
    options: RunOptions
    plan: SweepPlan

    @property
    def n_points(self) -> int:
        return len(self.plan.space)

    @property
    def iterations(self) -> int:
        return self.plan.iterations

    @property
    def n_runs(self) -> int:
        """Points x iterations."""
        return self.plan.n_runs


@dataclass
class Validation:
    """The outcome of checking a form: errors and hints by field, or a request."""

    errors: dict[str, str]
    hints: dict[str, str]
    general: str = ""
    request: SweepRequest | None = None


class FormState:
    """Everything a sweep form holds, with no widget in sight.

    Args:
        model_cls: the model; its signature gives the fields.
        namespace: the notebook's names (for ``--client`` names).
        options: the run options to start from.
        defaults: prefill parameters (a list sweeps it) and run options.
    """

    def __init__(
        self,
        model_cls: type,
        *,
        namespace: dict[str, Any],
        options: RunOptions | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.model_cls = model_cls
        self.namespace = namespace
        self.fields = {
            p.name: FieldState.initial(describe(p)) for p in form_parameters(model_cls)
        }
        self.options = option_values(options or RunOptions())
        self.pending_seed: int | None = None
        for name, value in (defaults or {}).items():
            if name in self.fields:
                self.fields[name].prefill(value)
            elif name in self.options:
                numeric = isinstance(self.options[name], int)
                self.options[name] = (
                    value
                    if numeric
                    else option_values(RunOptions(**{name: value}))[name]
                )
            else:
                known = [*self.fields, *self.options]
                raise TypeError(
                    f"form() got {name!r}, which is neither a parameter of "
                    f"{model_cls.__name__} nor a run option; it takes: "
                    f"{', '.join(known)}."
                )

    def validate(self) -> Validation:
        """Check every field and option with the core's planner (no runs laid out).

        Every wrong field gets its own message; the core's message goes to the
        field it names (``error.field``), else to ``general``.
        """
        errors: dict[str, str] = {}
        hints: dict[str, str] = {}
        parameters: dict[str, Any] = {}
        designed = str(self.options.get("design", GRID)).strip() not in ("", GRID)
        for name, field_state in self.fields.items():
            try:
                value = field_state.value(design=designed)
            except ParameterError as exc:
                errors[name] = str(exc)
                continue
            if value is not NOT_GIVEN:
                parameters[name] = value
            if field_state.mode == SWEEP and isinstance(value, list):
                hints[name] = f"{plural(len(value), 'value')}: {preview(value)}"
        opts, option_errors = read_options(self.options, self.namespace)
        errors.update(option_errors)
        general, plan = "", None
        try:  # the core checks the options even while a parameter is wrong
            plan = plan_sweep(
                self.model_cls,
                design_parameters(parameters, opts),
                **opts.plan_options(),
                seed=0 if opts.seed is None else opts.seed,  # no entropy per key
                warn=False,  # "cannot be reproduced" is warned at Run
            )
        except MesaNbError as exc:
            target = exc.field if exc.field in (*self.fields, *self.options) else None
            if target is not None:
                errors.setdefault(target, str(exc))  # keep the form's own message
            elif not errors:
                general = str(exc)
        if plan is None or errors:
            return Validation(errors, hints, general)
        return Validation(errors, hints, "", SweepRequest(parameters, opts, plan))

    def options_for_run(self, opts: RunOptions) -> RunOptions:
        """``opts`` with an empty seed filled by a fresh one, kept until a Run.

        Not with a store: there an empty seed resumes with the stored seeds.
        """
        if opts.seed is not None or opts.store:
            return opts
        if self.pending_seed is None:
            self.pending_seed = secrets.randbelow(FRESH_SEED_BOUND)
        return RunOptions(**{**opts.__dict__, "seed": self.pending_seed})

    def code(self, model_name: str, request: SweepRequest | None = None) -> str | None:
        """The ``%%batchrun`` cell of the form (None while it is invalid).

        With an empty seed, the seed the next Run will use is drawn now and
        shown, so the cell reproduces that Run.
        """
        request = request or self.validate().request
        if request is None:
            return None
        opts = self.options_for_run(request.options)
        return batchrun_code(model_name, request.parameters, opts)


def preview(values: list[Any], limit: int = 6) -> str:
    """The first values of a list, as Python."""
    shown = ", ".join(python_code(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")
