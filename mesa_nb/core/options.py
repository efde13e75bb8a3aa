"""The sweep options, declared once.

Every option of a sweep is one :class:`Option` in :data:`OPTIONS`: its name
(the keyword of :func:`mesa_nb.sweep`), kind, default, help, the stage that
uses it, and how each front end spells it. The ``%%batchrun`` flags and
``%config BatchRun`` traits, the form's option controls, the experiment-file
keys (and ``mesa-nb run --set``), the cell code the form writes, the
signature of :func:`mesa_nb.sweep` and the options tables in the docs are
all derived from this table; a front end that does not offer an option says
why in :attr:`Option.absent`.

Values are read from text (a flag, a form box) and checked by the same two
functions, :meth:`Option.from_text` and :meth:`Option.check`, whose errors
name the option (``field``) and the fix.
"""

from __future__ import annotations

import builtins
import difflib
import inspect
import keyword
import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, ClassVar, Self

import numpy as np

from .designs import DESIGNS
from .errors import SweepOptionError
from .precision import AUTO, DEFAULT_MAX_ITERATIONS, FIRST_ROUND

#: The front ends, by the name the declaration uses for them.
CODE, CELL, CONFIG, FILE, FORM = "code", "cell", "config", "file", "form"
FRONT_ENDS = {
    CODE: "mesa_nb.sweep() keyword",
    CELL: "%%batchrun flag",
    CONFIG: "%config BatchRun trait",
    FILE: "experiment-file key (mesa-nb run --set)",
    FORM: "form control",
}

#: Stages: ``spec`` options say what the sweep is (they are recorded with it
#: and decide its runs); ``run`` options say how and where it runs; ``show``
#: options say how a front end shows it.
SPEC, RUN, SHOW = "spec", "run", "show"

#: Kinds of value, and what each accepts.
KINDS = {
    "count": "a whole number",
    "iterations": "a whole number, 1 or more, or 'auto'",
    "precision": "reporter=half-width pairs, e.g. Gini=0.01, half-widths above 0",
    "period": "-1 or a whole number of steps, 1 or more",
    "seed": "a whole number, 0 or more",
    "seeds": "whole numbers, 0 or more, one per iteration",
    "processes": "a whole number of processes, 1 or more, or 'all'",
    "seconds": "a number of seconds above 0",
    "number": "a number, 0 or more",
    "fraction": "a number between 0 and 1 (both excluded)",
    "time": "a model time (a number) above 0",
    "text": "text",
    "flag": "True or False",
    "name": "a Python name",
    "choice": "one of the choices",
    "object": "a Python object",
}

_ABSENT_CALLBACK = "a Python function or object: only code can pass it"
_NOT_CONFIG = "belongs to one sweep, not to every sweep of the session"


@dataclass(frozen=True)
class Option:
    """One sweep option and how every front end spells it.

    Attributes:
        name: the keyword of :func:`mesa_nb.sweep` (and the spec's key).
        kind: a key of :data:`KINDS`.
        default: the value when not given (None: not set).
        help: one line for help texts, tooltips and the docs.
        stage: ``spec``, ``run`` or ``show`` (see :data:`SPEC`).
        flag: the long ``%%batchrun`` flag (default ``--`` + name with dashes).
        short: the short flag, if any.
        label: the form control's label (default: the name with spaces).
        file_key: the experiment-file key (default: the name); dotted keys
            live in a table (``design.samples``).
        minimum: the smallest number accepted (counts).
        choices: the accepted values (``choice``).
        inverted: a flag that sets the option to False (``--no-memory``).
        absent: ``{front end: why it is not offered there}``.
    """

    name: str
    kind: str
    default: Any
    help: str
    stage: str
    flag: str | None = None
    short: str | None = None
    label: str | None = None
    file_key: str | None = None
    minimum: float | None = None
    choices: tuple[Any, ...] = ()
    inverted: bool = False
    absent: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        derived = {
            "flag": "--" + self.name.replace("_", "-"),
            "label": self.name.replace("_", " "),
            "file_key": self.name,
        }
        for key, value in derived.items():
            if getattr(self, key) is None:
                object.__setattr__(self, key, value)
        object.__setattr__(self, "absent", MappingProxyType(dict(self.absent)))

    def offered(self, front_end: str) -> bool:
        """Whether ``front_end`` offers this option."""
        return front_end not in self.absent

    # -- values ---------------------------------------------------------------
    def check(self, value: Any) -> Any:
        """``value`` checked and normalised, or a :class:`SweepOptionError`
        naming this option and what it takes."""
        if value is None:  # not given; for processes: every core
            return None if self.kind == "processes" else self.default
        return _CHECKS[self.kind](self, value)

    def from_text(self, text: str) -> Any:
        """The value of ``text`` as typed in a flag or a form box (empty text:
        the default)."""
        text = str(text).strip()
        if not text:
            return self.default
        if self.kind in ("count", "period", "seed"):
            return self.check(_whole(self, text))
        if self.kind == "iterations":
            if text.lower() == AUTO:
                return AUTO
            return self.check(_whole(self, text))
        if self.kind == "seeds":
            parts = [p.strip() for p in text.replace(";", ",").split(",")]
            return self.check([_whole(self, p) for p in parts if p])
        if self.kind == "processes":
            return None if text == "all" else self.check(_whole(self, text))
        if self.kind in ("seconds", "time", "number", "fraction"):
            try:
                number = float(text)
            except ValueError:
                raise self.error(text) from None
            return self.check(number)
        if self.kind == "flag":
            lowered = text.lower()
            if lowered in ("true", "yes", "1", "on"):
                return True
            if lowered in ("false", "no", "0", "off"):
                return False
            raise self.error(text)
        return self.check(text)

    def to_text(self, value: Any) -> str:
        """``value`` as :meth:`from_text` reads it back (None: empty)."""
        if value is None:
            return "all" if self.kind == "processes" else ""
        if self.kind == "seeds":
            return ",".join(str(v) for v in value)
        if self.kind == "precision":
            return ",".join(f"{k}={_number_text(float(v))}" for k, v in value.items())
        return _number_text(value)

    def error(self, value: Any, wanted: str = "") -> SweepOptionError:
        """The refusal of ``value``: ``NAME must be WANTED, got VALUE.``
        (``wanted``: what the option takes, by default its kind's text)."""
        if not wanted:
            wanted = KINDS[self.kind]
            if self.kind == "choice":
                wanted = "one of " + ", ".join(map(str, self.choices))
            if self.default is None and self.kind not in ("flag", "object"):
                wanted += " (or nothing)"
        shown = value if isinstance(value, str) else repr(value)
        return SweepOptionError(
            f"{self.name} must be {wanted}, got {shown}.", field=self.name
        )


def _number_text(value: Any) -> str:
    """``value`` as text; a float with every digit (it reads back the same)."""
    if isinstance(value, float) and value.is_integer():
        return str(int(value)) if abs(value) < 1e16 else repr(value)
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _whole(option: Option, text: str) -> int:
    """A whole number written in ASCII digits (``int`` also reads other
    scripts' digits, which a cell or a file would not show as typed)."""
    try:
        if not text.isascii():
            raise ValueError(text)
        return int(text.strip())
    except ValueError:
        raise option.error(text) from None


def _is_whole(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def _check_count(option: Option, value: Any) -> int:
    if not _is_whole(value):
        raise option.error(value)
    if option.minimum is not None and value < option.minimum:
        wanted = f"at least {option.minimum:g}"
        raise option.error(value, "0 or more" if option.minimum == 0 else wanted)
    return int(value)


def _check_iterations(option: Option, value: Any) -> Any:
    if value == AUTO:
        return AUTO
    if isinstance(value, str) or not _is_whole(value):
        raise option.error(value)
    if value < 1:
        raise option.error(value, "at least 1 (or 'auto': replicates until precise)")
    return int(value)


def _check_precision(option: Option, value: Any) -> dict[str, float]:
    example = "{reporter: half-width above 0}, e.g. Gini=0.01 ({'Gini': 0.01})"
    if isinstance(value, str):
        value = _precision_text(option, value, example)
    if not isinstance(value, Mapping) or not value:
        shown = value if isinstance(value, str) else repr(value)
        raise option.error(shown, example)
    checked = {}
    for name, width in value.items():
        if not isinstance(name, str) or not name.strip() or "," in name:
            raise option.error(repr(name), "named by reporters, e.g. Gini=0.01")
        if (
            isinstance(width, bool)
            or not isinstance(width, int | float | np.number)
            or not math.isfinite(width)
            or not width > 0
        ):
            raise option.error(
                f"{name}={width!r}",
                f"a half-width above 0 for each reporter (the ± of the 95% interval "
                f"of its final value), e.g. {name}=0.01",
            )
        checked[name.strip()] = float(width)
    return checked


def _precision_text(option: Option, text: str, example: str) -> dict[str, Any]:
    """``Gini=0.01, Wealth=0.5`` as ``{"Gini": 0.01, "Wealth": 0.5}``."""
    read: dict[str, Any] = {}
    for part in text.replace(";", ",").split(","):
        if not part.strip():
            continue
        name, sep, number = part.rpartition("=")
        try:
            if not sep or not name.strip():
                raise ValueError(part)
            read[name.strip()] = float(number)
        except ValueError:
            raise option.error(text, example) from None
    return read


def _check_period(option: Option, value: Any) -> int:
    if not _is_whole(value) or value == 0 or value < -1:
        raise option.error(value, "-1 (end of run only) or a positive number of steps")
    return int(value)


def _check_seed(option: Option, value: Any) -> Any:
    if isinstance(value, np.random.Generator | np.random.SeedSequence):
        return value
    if isinstance(value, np.random.BitGenerator):
        return value
    if not _is_whole(value):
        raise option.error(value)
    if value < 0:
        raise option.error(value, "0 or more (numpy refuses negative seeds)")
    return int(value)


def _check_seeds(option: Option, value: Any) -> Any:
    if isinstance(value, str | bytes) or not isinstance(value, Iterable):
        value = [value]
    seeds = tuple(None if v is None else _check_seed(option, v) for v in value)
    if not seeds:
        raise option.error("[]", "at least one seed (one per iteration)")
    return seeds


def _check_processes(option: Option, value: Any) -> int | None:
    if value == "all":
        return None
    if not _is_whole(value) or value < 1:
        raise option.error(value)
    return int(value)


def _check_positive(option: Option, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not value > 0
        or not math.isfinite(value)
    ):
        raise option.error(value)
    return value


def _check_number(option: Option, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not value >= 0
        or not math.isfinite(value)
    ):
        raise option.error(value)
    return float(value)


def _check_fraction(option: Option, value: Any) -> float:
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float | np.number)
        or not 0 < value < 1
    ):
        raise option.error(value)
    return float(value)


def _check_text(option: Option, value: Any) -> Any:
    if not isinstance(value, str) and option.name in ("store", "scenario", "executor"):
        return value  # a path object, a class, a client: checked where used
    if not isinstance(value, str):
        raise option.error(value)
    if "\n" in value or "\r" in value:
        raise option.error(repr(value), "one line of text")
    return value


def _check_flag(option: Option, value: Any) -> bool:
    if not isinstance(value, bool | np.bool_):
        raise option.error(value)
    return bool(value)


def _check_name(option: Option, value: Any) -> str:
    if (
        not isinstance(value, str)
        or not value.isidentifier()
        or keyword.iskeyword(value)
    ):
        raise option.error(repr(value), "a Python name, e.g. results")
    if hasattr(builtins, value):
        raise option.error(
            repr(value), f"a name that does not hide Python's built-in {value!r}"
        )
    return value


def _check_choice(option: Option, value: Any) -> Any:
    if value not in option.choices:
        close = difflib.get_close_matches(str(value), map(str, option.choices), n=1)
        listed = "one of " + ", ".join(map(str, option.choices))
        raise option.error(
            value, f"{close[0]} (did you mean it?) or {listed}" if close else listed
        )
    return value


_CHECKS = {
    "count": _check_count,
    "iterations": _check_iterations,
    "precision": _check_precision,
    "period": _check_period,
    "seed": _check_seed,
    "seeds": _check_seeds,
    "processes": _check_processes,
    "seconds": _check_positive,
    "time": _check_positive,
    "number": _check_number,
    "fraction": _check_fraction,
    "text": _check_text,
    "flag": _check_flag,
    "name": _check_name,
    "choice": _check_choice,
    "object": lambda option, value: value,
}


# -- the declaration ---------------------------------------------------------------
OPTIONS: tuple[Option, ...] = (
    Option(
        "iterations",
        "iterations",
        1,
        "Replicates of every parameter point; 'auto': add replicates in rounds "
        "until every point is as precise as precision says.",
        SPEC,
        short="-i",
        minimum=1,
    ),
    Option(
        "precision",
        "precision",
        None,
        "With iterations='auto': the half-width wanted of the 95% interval of "
        "each reporter's final value, at every point (Gini=0.01).",
        SPEC,
        absent={CONFIG: "a precision names the reporters of one model"},
    ),
    Option(
        "max_iterations",
        "count",
        None,
        f"With iterations='auto': the most replicates a point gets (none: "
        f"{DEFAULT_MAX_ITERATIONS}; {FIRST_ROUND} or more, the first round).",
        SPEC,
        minimum=FIRST_ROUND,
        label="max iterations",
        absent={CONFIG: "a cap goes with the precision of one sweep"},
    ),
    Option(
        "max_steps",
        "count",
        1000,
        "Steps per run at most (a run also ends when model.running is False).",
        SPEC,
        short="-s",
        minimum=0,
        label="max steps",
    ),
    Option(
        "data_collection_period",
        "period",
        -1,
        "-1: keep the last record of each run; n: every n-th step and the last.",
        SPEC,
        flag="--collect-every",
        short="-c",
        label="collect every",
    ),
    Option(
        "seed",
        "seed",
        None,
        "Master seed: one independent seed is derived per run (none: a fresh "
        "one is drawn and recorded).",
        SPEC,
        absent={CONFIG: _NOT_CONFIG + ": every sweep would repeat the same runs"},
    ),
    Option(
        "rng",
        "seeds",
        None,
        "One seed per iteration, as mesa.batch_run(rng=[...]) takes them "
        "(instead of seed).",
        SPEC,
        absent={
            CONFIG: _NOT_CONFIG,
            FORM: "the form seeds every run from its seed box; write --rng in "
            "the cell it shows",
        },
    ),
    Option(
        "until",
        "time",
        None,
        "End each run at this model time (Mesa 3.5+ event time, "
        "model.run_until) instead of after max_steps steps.",
        SPEC,
        absent={CONFIG: "a model time belongs to one model"},
    ),
    Option(
        "timeout",
        "seconds",
        None,
        "Seconds a run may take; a longer run is stopped and recorded with "
        "status 'timeout'.",
        SPEC,
        label="timeout (s)",
    ),
    Option(
        "scenario",
        "text",
        None,
        "The Scenario class of a model that takes scenario= (Mesa 3.5+), where "
        "it cannot be found from the model; parameters may then set its fields.",
        SPEC,
        label="scenario class",
        absent={CONFIG: "a scenario class belongs to one model"},
    ),
    Option(
        "design",
        "choice",
        None,
        "Sample the ranges (between, integers, one_of) with this design instead "
        "of a full grid.",
        SPEC,
        choices=tuple(DESIGNS),
        file_key="design.method",
        absent={CONFIG: _NOT_CONFIG},
    ),
    Option(
        "samples",
        "count",
        None,
        "Size of the design: points (lhs, halton, sobol_sequence), base samples "
        "(sobol) or trajectories (morris); none: the design's own default.",
        SPEC,
        minimum=1,
        file_key="design.samples",
        absent={CONFIG: _NOT_CONFIG},
    ),
    Option(
        "check_reproducible",
        "flag",
        True,
        "Run each sweep's first run again for a few steps with its seed and warn "
        "if it gives other values (the model draws from a generator other than "
        "its own).",
        SPEC,
        flag="--no-check-reproducible",
        inverted=True,
        label="check reproducibility",
    ),
    Option(
        "processes",
        "processes",
        1,
        "Worker processes (1: in this process; 'all': every core).",
        RUN,
        short="-p",
    ),
    Option(
        "executor",
        "text",
        None,
        "Run on Dask or another executor: a distributed.Client (or any "
        "concurrent.futures executor; in a cell or the form, its name), a "
        "scheduler address such as tcp://host:8786, or 'dask' for a local "
        "cluster.",
        RUN,
        flag="--client",
        label="Dask client",
        file_key="client",
        absent={CONFIG: "a client is an object of the session"},
    ),
    Option(
        "store",
        "text",
        None,
        "A directory the finished runs are written to (Parquet) as they finish; "
        "the same sweep with the same store resumes.",
        RUN,
        label="store dir",
        absent={CONFIG: "a store holds one sweep"},
    ),
    Option(
        "in_memory",
        "flag",
        True,
        "Keep the tables in memory; off (with a store): workers write them into "
        "the store and the result reads them when asked, for sweeps bigger than "
        "memory.",
        RUN,
        flag="--no-memory",
        inverted=True,
        label="keep data in memory",
        absent={CONFIG: "depends on the store of one sweep"},
    ),
    Option(
        "retry_failed",
        "flag",
        False,
        "When resuming a store, run its failed and crashed runs again.",
        RUN,
        label="retry failed runs",
        absent={CONFIG: _NOT_CONFIG},
    ),
    Option(
        "force",
        "flag",
        False,
        "Resume a store even though the model's code changed since it was written.",
        RUN,
        label="resume despite code changes",
        absent={CONFIG: "forcing a resume must be asked for each time"},
    ),
    Option(
        "background",
        "flag",
        False,
        "Return at once and run the sweep on a thread: the result holds the "
        "runs finished so far; .wait() gives the final result.",
        RUN,
        absent={
            FILE: "a headless run has no notebook to return to",
            FORM: "the form always runs its sweep on a thread",
        },
    ),
    Option(
        "on_progress",
        "object",
        None,
        "Called with a mesa_nb.Progress at the start and as each run finishes.",
        RUN,
        absent={
            CELL: _ABSENT_CALLBACK,
            CONFIG: _ABSENT_CALLBACK,
            FILE: _ABSENT_CALLBACK,
            FORM: _ABSENT_CALLBACK,
        },
    ),
    Option(
        "cancel",
        "object",
        None,
        "A threading.Event; setting it stops the sweep as Ctrl-C does (finished "
        "runs are kept).",
        RUN,
        absent={
            CELL: "Ctrl-C or the stop button stops a cell",
            CONFIG: _ABSENT_CALLBACK,
            FILE: "Ctrl-C stops mesa-nb run",
            FORM: "the form has a Stop button",
        },
    ),
    Option(
        "output",
        "name",
        "results",
        "The name the result is bound to in the notebook.",
        SHOW,
        flag="--out",
        short="-o",
        label="output name",
        absent={
            CODE: "sweep() returns the result",
            FILE: "a headless run keeps its result in the store",
        },
    ),
    Option(
        "quiet",
        "flag",
        False,
        "No progress bar.",
        SHOW,
        short="-q",
        absent={
            CODE: "sweep() shows no bar of its own; pass on_progress",
            FILE: "a switch of the command: mesa-nb run -q",
            FORM: "the form shows its bar in place",
        },
    ),
)

BY_NAME: Mapping[str, Option] = MappingProxyType({o.name: o for o in OPTIONS})


def offered(front_end: str) -> tuple[Option, ...]:
    """The options ``front_end`` offers, in declaration order."""
    return tuple(o for o in OPTIONS if o.offered(front_end))


def option(name: str) -> Option:
    """The option called ``name``, or a :class:`SweepOptionError` with the
    closest names."""
    try:
        return BY_NAME[name]
    except KeyError:
        close = difflib.get_close_matches(name, BY_NAME, n=1)
        hint = f" Did you mean {close[0]!r}?" if close else ""
        raise SweepOptionError(
            f"There is no sweep option {name!r}.{hint} Options: {', '.join(BY_NAME)}.",
            field=name,
        ) from None


# -- the options of one sweep ----------------------------------------------------------
@dataclass(frozen=True)
class SweepOptions:
    """The options of one sweep: every option of :data:`OPTIONS`, checked.

    Build it with :meth:`of` (unknown names are refused with the closest
    one); :meth:`stage` gives the options one stage takes. A subclass with
    another ``declaration`` and ``find`` holds another declaration's options
    (a calibration's).
    """

    values: Mapping[str, Any] = field(default_factory=dict)
    #: The options held, and how one is found by name (with a hint if not).
    declaration: ClassVar[tuple[Option, ...]] = OPTIONS
    find: ClassVar[Callable[[str], Option]] = staticmethod(option)

    @classmethod
    def of(cls, **given: Any) -> Self:
        """The declared defaults with ``given`` (checked) on top."""
        values = {o.name: o.default for o in cls.declaration}
        for name, value in given.items():
            values[name] = cls.find(name).check(value)
        return cls(MappingProxyType(values))

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name == "values":
            raise AttributeError(name)
        try:
            return self.values[name]
        except KeyError:
            raise AttributeError(name) from None

    def replace(self, **changes: Any) -> Self:
        """These options with ``changes`` (checked)."""
        return self.of(**{**self.values, **changes})

    def stage(self, stage: str) -> dict[str, Any]:
        """``{name: value}`` of the options of ``stage``."""
        return {
            o.name: self.values[o.name] for o in self.declaration if o.stage == stage
        }

    def given(self) -> dict[str, Any]:
        """The options that differ from their defaults."""
        return {
            o.name: self.values[o.name]
            for o in self.declaration
            if not _same(self.values[o.name], o.default)
        }

    def __repr__(self) -> str:
        shown = ", ".join(f"{k}={v!r}" for k, v in self.given().items())
        return f"SweepOptions({shown})"


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(a == b) and type(a) is type(b)
    except Exception:  # arrays and other odd objects
        return a is b


def keyword_signature(
    front_end: str = CODE, *, before: Iterable[inspect.Parameter] = ()
) -> inspect.Signature:
    """The signature of a function taking ``before`` and then every option
    ``front_end`` offers as a keyword (for :func:`mesa_nb.sweep`)."""
    parameters = list(before) + [
        inspect.Parameter(o.name, inspect.Parameter.KEYWORD_ONLY, default=o.default)
        for o in offered(front_end)
    ]
    return inspect.Signature(parameters)


def options_doc(front_end: str = CODE, indent: str = "        ") -> str:
    """A docstring ``Args`` block of the options ``front_end`` offers."""
    return "\n".join(f"{indent}{o.name}: {o.help}" for o in offered(front_end))


def spelling(opt: Option, front_end: str) -> str:
    """How ``front_end`` spells ``opt`` (or why it does not offer it)."""
    if not opt.offered(front_end):
        return f"— ({opt.absent[front_end]})"
    return {
        CODE: f"`{opt.name}=`",
        CELL: f"`{opt.flag}`" + (f" / `{opt.short}`" if opt.short else ""),
        CONFIG: f"`BatchRun.{opt.name}`",
        FILE: f"`{opt.file_key}`",
        FORM: f"{opt.label}",
    }[front_end]


def markdown_table(front_ends: Iterable[str] = (CELL, CONFIG, FILE, FORM)) -> str:
    """The options as a Markdown table: default, help, and each front end's
    spelling. docs/magic.md holds this table (a test keeps them equal)."""
    front_ends = list(front_ends)
    head = ["option", "default", "what it does", *(FRONT_ENDS[f] for f in front_ends)]
    rows = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for opt in OPTIONS:
        default = "—" if opt.default is None else f"`{opt.default!r}`"
        cells = [f"`{opt.name}`", default, opt.help.replace("|", "\\|")]
        cells += [spelling(opt, f) for f in front_ends]
        rows.append("| " + " | ".join(cells) + " |")
    return "\n".join(rows)


__all__ = [
    "BY_NAME",
    "OPTIONS",
    "Option",
    "SweepOptions",
    "keyword_signature",
    "markdown_table",
    "offered",
    "option",
    "options_doc",
]
