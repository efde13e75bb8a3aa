"""``%batchrun MODEL``: the model's parameters and the sweep options, short."""

from __future__ import annotations

from typing import Any

from ..api.reports import python_code
from ..core.options import CELL, offered
from ..core.scenarios import scenario_spec
from .form_state import describe, form_parameters


def _table(rows: list[tuple[str, ...]]) -> list[str]:
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    return [
        "  " + "  ".join(c.ljust(w) for c, w in zip(row, widths, strict=True))
        for row in rows
    ]


def _first_sentence(text: str, width: int = 72) -> str:
    head = text.split(". ")[0].split("; ")[0].rstrip(".")
    return head if len(head) <= width else head[: width - 3].rstrip() + "..."


def options_help(settings: Any = None) -> list[str]:
    """The options of a cell, one line each, with their current defaults
    (``settings``: the magic, for ``%config`` values)."""
    options = [("option", "default", "")]
    for opt in offered(CELL):
        current = getattr(settings, opt.name, opt.default) if settings else opt.default
        flag = f"{opt.short} {opt.flag}" if opt.short else opt.flag
        shown = "" if current is None or opt.kind == "flag" else python_code(current)
        options.append((flag, shown, _first_sentence(opt.help)))
    return ["Options (%%batchrun? for the full help):", *_table(options)]


def model_help(model_cls: type, name: str, settings: Any = None) -> str:
    """What ``%batchrun MODEL`` prints: MODEL's parameters (and scenario
    fields) with types and defaults, then the options with their current
    defaults (``settings``: the magic, for ``%config`` values)."""
    spec = scenario_spec(model_cls)
    fields = set(spec.defaults) if spec is not None else set()
    rows = [("parameter", "type", "default")]
    for parameter in form_parameters(model_cls):
        info = describe(parameter)
        default = "(required)" if info.required else python_code(info.default)
        kind = info.kind + (" (scenario field)" if info.name in fields else "")
        rows.append((info.name, kind, default))
    lines = [f"{name}: the parameters a %%batchrun cell can set"]
    lines += _table(rows) if len(rows) > 1 else ["  (it takes no parameters)"]
    lines += ["", *options_help(settings)]
    lines += [
        "",
        f"Example:\n  %%batchrun {name} --iterations 5 --max-steps 100\n"
        + "".join(f"  {r[0]} = {r[2]}\n" for r in rows[1:3] if r[2] != "(required)"),
    ]
    return "\n".join(line.rstrip() for line in lines).rstrip()
