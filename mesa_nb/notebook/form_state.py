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
import enum
import inspect
import math
import secrets
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from ..api import session
from ..api.reports import cell_code, python_code
from ..api.session import Prepared, spec_of
from ..core.designs import Range, between, integers, one_of
from ..core.errors import MesaNbError, ParameterError
from ..core.options import CONFIG, FORM, Option, SweepOptions, offered
from ..core.plan import SEED_NAMES
from ..core.result import SweepResult
from ..core.scenarios import scenario_spec
from .names import executor_by_name, resolve_name

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


#: What a number field takes, as the form's messages show it.
EXPECTED = {
    INT: ("a whole number", "write e.g. 5", "10, 20"),
    FLOAT: ("a number", "write e.g. 0.5", "0.02, 0.05"),
    BOOL: ("True or False", "write True or False", "False, True"),
}


def not_a_value(item: str, kind: str, quoted: bool = False) -> ParameterError:
    """``item`` is not a value of ``kind``: the error says what the field
    takes and how to write it (one value, or several separated by commas).
    ``quoted``: show ``item`` in quotes (it is not a Python value at all)."""
    what, example, several = EXPECTED[kind]
    if len(split_items(item)) > 1:  # only a fixed value's box gets commas
        return ParameterError(
            f"{item} is several values; a fixed value is one, {what}: "
            f"{example}, or sweep the field to run each of them."
        )
    shown = repr(item) if quoted else item
    return ParameterError(
        f"{shown} is not {what}: {example}, or several values separated by "
        f"commas: {several}."
    )


def _literal(item: str, kind: str = ANY) -> Any:
    """The Python value written as ``item``; a field of ``kind`` (a number,
    a bool) says what it takes when ``item`` is not one."""
    try:
        return ast.literal_eval(item)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        pass
    if ";" in item:
        together = ", ".join(part.strip() for part in item.split(";"))
        raise ParameterError(
            f"{item!r}: separate values with commas, not semicolons: {together}."
        )
    if kind in EXPECTED:
        raise not_a_value(item, kind, quoted=True)
    raise ParameterError(
        f"{item!r} is not a Python value; write strings in quotes, e.g. 'torus'."
    )


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
    value = _literal(item, kind)
    if kind == INT and (isinstance(value, bool) or not isinstance(value, int)):
        raise not_a_value(item, kind)
    if kind == FLOAT:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise not_a_value(item, kind)
        return float(value)
    if kind == BOOL and not isinstance(value, bool):
        raise not_a_value(item, kind)
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


def plan_count_text(plan: Any) -> str:
    """The runs of a plan: ``"12 runs = 6 points x 2 iterations"``, or for
    iterations='auto' its first round and its most:
    ``"20 runs = 2 points x 10 iterations first, then until precise (at most
    2,000 runs)"``."""
    text = run_count_text(len(plan.space), plan.iterations)
    if plan.rule is None:
        return text
    most = len(plan.space) * plan.rule.max_iterations
    return f"{text} first, then until precise (at most {most:,} runs)"


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


#: How the form's design dropdown shows "no design": a full grid.
GRID = "grid"


def model_reference(model_cls: type, namespace: dict[str, Any]) -> str:
    """How the cell names the model: its name in the notebook, or an import path."""
    name = model_cls.__name__
    if namespace.get(name) is model_cls or model_cls.__module__ == "__main__":
        return name
    if "<locals>" in model_cls.__qualname__:
        return name
    return f"{model_cls.__module__}.{model_cls.__qualname__}"


def config_options(shell: Any) -> SweepOptions:
    """The ``%config BatchRun.*`` defaults when the magic is loaded (else the
    declared ones)."""
    for configurable in getattr(shell, "configurables", []):
        if type(configurable).__name__ == "BatchRun":
            return SweepOptions.of(
                **{o.name: getattr(configurable, o.name) for o in offered(CONFIG)}
            )
    return SweepOptions.of()


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
def uses_number_box(opt: Option) -> bool:
    """Whether the option's control is a whole-number box (else text)."""
    return opt.kind in ("count", "period") and opt.default is not None


def option_values(options: SweepOptions) -> dict[str, Any]:
    """The option controls' values for ``options``: numbers, flags, the
    design's choice (None: a grid), or text."""
    values: dict[str, Any] = {}
    for opt in offered(FORM):
        value = options.values[opt.name]
        if opt.kind == "choice":  # a dropdown: None (a grid) is shown as "grid"
            values[opt.name] = GRID if value is None else value
        elif opt.kind == "flag" or uses_number_box(opt):
            values[opt.name] = value
        elif opt.name == "scenario" and isinstance(value, type):
            values[opt.name] = value.__name__
        elif opt.name == "executor" and not isinstance(value, str | None):
            values[opt.name] = ""
        else:
            values[opt.name] = opt.to_text(value)
    return values


def read_options(
    values: dict[str, Any], namespace: dict[str, Any]
) -> tuple[SweepOptions, dict[str, str]]:
    """The :class:`SweepOptions` of the option controls, and errors by option
    (a wrong option keeps its default, so the rest is still checked)."""
    errors: dict[str, str] = {}
    read: dict[str, Any] = {}
    for opt in offered(FORM):
        value = values.get(opt.name, opt.default)
        if opt.kind == "choice" and value in (GRID, ""):
            value = None  # the design dropdown's "grid": no design
        try:
            value = opt.from_text(value) if isinstance(value, str) else opt.check(value)
            if opt.name == "scenario" and isinstance(value, str):
                value = resolve_name(value, namespace, what="scenario class")
            elif opt.name == "executor" and isinstance(value, str):
                value = executor_by_name(value, namespace)
        except MesaNbError as exc:
            errors[opt.name] = str(exc)
            continue
        read[opt.name] = value
    return SweepOptions.of(**read), errors


# -- the whole form -------------------------------------------------------------------
#: A valid form: the checked sweep (its spec and plan), as Run runs it.
SweepRequest = Prepared


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
        options: the options to start from (``%config BatchRun`` defaults).
        defaults: prefill parameters (a list sweeps it) and options.
    """

    def __init__(
        self,
        model_cls: type,
        *,
        namespace: dict[str, Any],
        options: SweepOptions | None = None,
        defaults: dict[str, Any] | None = None,
    ) -> None:
        self.model_cls = model_cls
        self.namespace = namespace
        self.fields = {
            p.name: FieldState.initial(describe(p)) for p in form_parameters(model_cls)
        }
        self.options = option_values(options or SweepOptions.of())
        self.pending_seed: int | None = None
        for name, value in (defaults or {}).items():
            if name in self.fields:
                self.fields[name].prefill(value)
            elif name in self.options:
                self.options[name] = option_values(SweepOptions.of(**{name: value}))[
                    name
                ]
            else:
                known = [*self.fields, *self.options]
                raise TypeError(
                    f"form() got {name!r}, which is neither a parameter of "
                    f"{model_cls.__name__} nor a run option; it takes: "
                    f"{', '.join(known)}."
                )

    def validate(self) -> Validation:
        """Check every field and option with the session's own checks; a
        valid form holds the prepared sweep that Run runs.

        Every wrong field gets its own message; the core's message goes to the
        field it names (``error.field``), else to ``general``.
        """
        errors: dict[str, str] = {}
        hints: dict[str, str] = {}
        parameters: dict[str, Any] = {}
        opts, option_errors = read_options(self.options, self.namespace)
        errors.update(option_errors)
        for name, field_state in self.fields.items():
            try:
                value = field_state.value(design=opts.design is not None)
            except ParameterError as exc:
                errors[name] = str(exc)
                continue
            if value is not NOT_GIVEN:
                parameters[name] = value
            if field_state.mode == SWEEP and isinstance(value, list):
                hints[name] = f"{plural(len(value), 'value')}: {preview(value)}"
        spec = spec_of(self.model_cls, parameters, self.options_for_run(opts))
        checked = session.check(spec)  # the core checks even while a value is wrong
        if isinstance(checked, dict):
            ((target, message),) = checked.items()
            target = "executor" if target == "client" else target
            if target in (*self.fields, *self.options):
                errors.setdefault(target, message)  # keep the form's own message
            elif not errors:
                return Validation(errors, hints, message)
            return Validation(errors, hints)
        if errors:
            return Validation(errors, hints)
        return Validation(errors, hints, "", checked)

    def options_for_run(self, opts: SweepOptions) -> SweepOptions:
        """``opts`` with an empty seed filled by a fresh one, kept until a Run.

        Not with a store: there an empty seed resumes with the stored seeds.
        """
        if opts.seed is not None or opts.store:
            return opts
        if self.pending_seed is None:
            self.pending_seed = secrets.randbelow(FRESH_SEED_BOUND)
        return opts.replace(seed=self.pending_seed)

    def code(self, model_name: str, request: SweepRequest | None = None) -> str | None:
        """The ``%%batchrun`` cell of the form (None while it is invalid).

        With an empty seed, the seed the next Run will use is drawn now and
        shown, so the cell reproduces that Run.
        """
        request = request or self.validate().request
        if request is None:
            return None
        return cell_code(request.spec, model_name, request.options.output)


def preview(values: list[Any], limit: int = 6) -> str:
    """The first values of a list, as Python."""
    shown = ", ".join(python_code(v) for v in values[:limit])
    return shown + (", ..." if len(values) > limit else "")
