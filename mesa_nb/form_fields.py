"""The pure half of the sweep form: a parameter's kind and control, text to
values, and the ``%%batchrun`` cell a form state stands for.

As ``ipywidgets.interact`` does, small functions map a signature to controls;
:mod:`mesa_nb.sweep_form` only wires them together.
"""

from __future__ import annotations

import ast
import enum
import inspect
import math
import types
import typing
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import ipywidgets as w

from .errors import ParameterError
from .plan import SEED_NAMES
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
    if opts.store:
        flags.append(f"--store {opts.store}")
    if opts.client:
        flags.append(f"--client {opts.client}")
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
