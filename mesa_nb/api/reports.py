"""What front ends show: the cell of a sweep, its dry run, its outcome.

One renderer each, used by the magic, the form, ``mesa-nb`` and
``batch_run``: :func:`cell_code` writes a spec as the ``%%batchrun`` cell
that runs it (the magic reads it back into the same spec), :func:`dry_run`
describes a prepared sweep without running it, :func:`outcome_notes` and
:func:`outcome_report` say what a user should know after a sweep.
"""

from __future__ import annotations

import enum
import math
import shlex
from collections.abc import Mapping
from typing import Any

import pandas as pd

from ..core.designs import Range
from ..core.errors import SweepOptionError
from ..core.options import CELL, CONFIG, offered
from ..core.parameters import Sampler
from ..core.result import SweepResult
from ..core.spec import SweepSpec


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


def _flag_words(spec: SweepSpec, output: str) -> list[str]:
    """The flags of the cell: every option that differs from its default, and
    every configurable one (so ``%config`` cannot change what the cell runs)."""
    options = spec.options
    given = options.given()
    words = []
    for opt in offered(CELL):
        value = output if opt.name == "output" else options.values[opt.name]
        if opt.name not in given and not opt.offered(CONFIG) and opt.name != "output":
            continue
        if opt.kind == "flag":
            if value != opt.default:  # --no-memory sets in_memory to False
                words.append(opt.flag)
            continue
        if value is None and opt.kind != "processes":
            continue
        if opt.name == "scenario" and isinstance(value, type):
            value = value.__name__
        if (
            not isinstance(value, str | int | float | tuple | list | Mapping)
            and value is not None
        ):
            raise SweepOptionError(
                f"{opt.name}={value!r} cannot be written in a cell: give its name "
                "in the notebook instead.",
                field=opt.name,
            )
        words += [opt.flag, shlex.quote(opt.to_text(value))]
    return words


def cell_code(spec: SweepSpec, model_name: str, output: str = "results") -> str:
    """The ``%%batchrun`` cell that runs ``spec``: the options as flags, one
    line per parameter (``name = value``, ranges as ``between(...)``)."""
    if not isinstance(spec.parameters, Mapping):
        raise SweepOptionError(
            "A list or a DataFrame of points cannot be written as a %%batchrun "
            "cell: give the parameters as values, lists or ranges."
        )
    head = " ".join(["%%batchrun", model_name, *_flag_words(spec, output)])
    body = [f"{name} = {python_code(v)}" for name, v in spec.parameters.items()]
    return "\n".join([head, *body])


def dry_run(plan: Any, shown: int = 20) -> tuple[str, pd.DataFrame]:
    """What a sweep would run: one line, and its first ``shown`` points."""
    points = pd.DataFrame(
        [
            {
                k: "<drawn per run>" if isinstance(v, Sampler) else v
                for k, v in point.items()
            }
            for point in plan.space.points[:shown]
        ],
        columns=list(plan.space.names),
    )
    more = len(plan.space) - len(points)
    settings = plan.settings
    length = (
        f"to model time {settings.until:g}"
        if settings.until is not None
        else f"up to {settings.max_steps} steps"
    )
    runs = f"{len(plan.space):,} parameter points x {plan.iterations} iterations"
    if plan.rule is not None:
        runs = f"{runs} in a first round, {auto_text(plan)}"
    text = (
        f"Dry run: {plan.n_runs:,} runs of {settings.model_cls.__name__} = "
        f"{runs}, {length} each. Nothing was run."
        + (f" The first {len(points)} points:" if more > 0 else "")
    )
    return text, points


def auto_text(plan: Any) -> str:
    """What an auto sweep does after its first round, in words."""
    rule = plan.rule
    cap = rule.max_iterations
    return (
        f"then more replicates in rounds until the 95% interval of each point's "
        f"final {rule.text()} (at most {cap:,} replicates a point, "
        f"{len(plan.space) * cap:,} runs)"
    )


def _plural(n: int, word: str) -> str:
    return f"{n} {word}{'' if n == 1 else 's'}"


def outcome_notes(result: SweepResult, name: str = "results") -> dict[str, str]:
    """What a user should know after a sweep, by topic (``resumed``,
    ``interrupted``, ``failed``); empty when every run ran and is ok.

    ``name`` is what the result is called where the user reads it.
    """
    notes = {}
    resumed = result.metadata.get("resumed_runs", 0)
    if resumed:
        notes["resumed"] = (
            f"Resumed from {result.metadata.get('store')}: "
            f"{_plural(resumed, 'run')} loaded from the store; only the others ran."
        )
    if result.interrupted:
        notes["interrupted"] = (
            f"Interrupted: kept {_plural(result.n_ok, 'finished run')} in {name}; "
            f"{_plural(result.n_cancelled, 'run')} cancelled."
        )
    if result.metadata.get("store_error"):
        notes["store_error"] = (
            f"Writing to the store {result.metadata.get('store')} failed during the "
            f"sweep ({result.metadata['store_error']}): the runs that finished after "
            "that are kept in memory only, not in the store. Fix the store and run "
            "the same sweep again to resume it, or save this result."
        )
    cancelled_alone = result.n_cancelled and not result.interrupted
    if cancelled_alone:
        notes["cancelled"] = (
            f"{_plural(result.n_cancelled, 'run')} could not be kept and will run "
            "again on resume, e.g. RunId "
            f"{_first_cancelled(result)}"
        )
    precision = result.metadata.get("precision")
    if precision is not None:
        notes["precision"] = precision_note(precision, name)
    if result.n_failed:
        first = result.failures.iloc[0]
        total = _plural(len(result.runs), "run")
        notes["failed"] = (
            f"{result.n_failed} of {total} failed, e.g. RunId {first['RunId']}: "
            f"{first['error']} -- see {name}.failures for their tracebacks."
        )
    return notes


#: Points named in the note of an auto sweep, at most.
SHOWN_POINTS = 5


def precision_note(precision: Mapping[str, Any], name: str = "results") -> str:
    """What an auto sweep reached: every point precise, or which were not
    (capped at max_iterations, failing, or stopped) and how wide they are."""
    wanted = ", ".join(f"{k} ±{v:g}" for k, v in precision["precision"].items())
    where = f"{name}.metadata['precision']"
    if "error" in precision:
        return f"Precision ({wanted}) not assessed: {precision['error']}"
    points = precision["points"]
    counts = [p["replicates"] for p in points]
    spread = f"{min(counts)} to {max(counts)}" if counts else "0"
    rounds = _plural(precision["rounds"], "round")
    if precision["reached"]:
        return (
            f"Precise: every point's 95% interval is within {wanted} after {rounds} "
            f"({spread} replicates a point; see {where})."
        )
    missed = precision["not_reached"]
    why = {
        "capped": f"capped at max_iterations={precision['max_iterations']}",
        "failing": "its runs of a round gave no value (failed or NaN)",
        "stopped": "the sweep stopped first",
        "more": "not finished",
    }
    shown = []
    for point in missed[:SHOWN_POINTS]:
        values = ", ".join(
            f"{k}={v!r}"
            for k, v in point.items()
            if k not in ("point", "replicates", "values", "half_width", "status")
        )
        widths = ", ".join(
            f"{k} ±{w:.3g}" for k, w in point["half_width"].items() if w == w
        )
        shown.append(
            f"point {point['point']}"
            + (f" ({values})" if values else "")
            + f": {point['replicates']} replicates, {widths or 'no interval'}, "
            + why.get(point["status"], point["status"])
        )
    more = len(missed) - len(shown)
    return (
        f"Not precise: {_plural(len(missed), 'point')} of {len(points)} did not "
        f"reach {wanted} after {rounds}: "
        + "; ".join(shown)
        + (f"; and {more} more" if more > 0 else "")
        + f". See {where}."
    )


def _first_cancelled(result: SweepResult) -> str:
    runs = result.runs
    row = runs[runs["status"] == "cancelled"].iloc[0]
    error = row.get("error") if "error" in runs else None
    return f"{row['RunId']}: {error}" if error else str(row["RunId"])


def outcome_report(
    result: SweepResult,
    name: str = "results",
    *,
    summary: bool = True,
    drawn_seed: int | None = None,
) -> str:
    """The text after a sweep: its summary (``name = ...``), the notes, and
    the seed drawn for an empty seed box."""
    lines = [f"{name} = {result.summary()}"] if summary else []
    lines += outcome_notes(result, name).values()
    if drawn_seed is not None:
        lines.append(
            f"No seed was given, so seed {drawn_seed} was drawn: give it to "
            "repeat this sweep."
        )
    return "\n".join(lines)


__all__ = [
    "auto_text",
    "cell_code",
    "dry_run",
    "outcome_notes",
    "outcome_report",
    "precision_note",
    "python_code",
]
