"""Read the body of a ``%%batchrun`` cell into a parameter definition.

The body is ordinary Python run with read access to the user's namespace;
each top-level assignment ``name = value`` becomes one parameter, in order.
Names starting with ``_`` are helpers, not parameters. No IPython here.
"""

from __future__ import annotations

import ast
from collections.abc import Collection, Mapping
from typing import Any

from ..core.errors import ParameterError


class CellError(ParameterError):
    """The cell body cannot be read as parameters."""


def _targets(tree: ast.Module) -> list[str]:
    names: list[str] = []
    for node in tree.body:
        if isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                if not isinstance(target, ast.Name):
                    raise CellError(
                        f"Line {node.lineno}: write one parameter per line as "
                        f"`name = value`, not `{ast.unparse(target)} = ...`."
                    )
                names.append(target.id)
        elif isinstance(node, ast.AugAssign):
            raise CellError(
                f"Line {node.lineno}: `{ast.unparse(node)}` changes a value; "
                "give each parameter once as `name = value`."
            )
    return names


def parse_parameter_cell(
    cell: str, namespace: Mapping[str, Any], parameters: Collection[str] = ()
) -> dict[str, Any]:
    """Run ``cell`` and return ``{name: value}`` for its top-level assignments.

    ``namespace`` (the notebook's) is readable but never modified. Names
    starting with ``_`` are helpers, unless they are among ``parameters``
    (the model's own names, which may start with ``_``).
    """
    try:
        tree = ast.parse(cell, filename="<%%batchrun cell>")
    except SyntaxError as exc:
        raise CellError(
            f"The cell is not valid Python (line {exc.lineno}): {exc.msg}."
        ) from None
    names = _targets(tree)
    scope: dict[str, Any] = dict(namespace)
    try:
        exec(compile(tree, "<%%batchrun cell>", "exec"), scope)
    except Exception as exc:
        line = _line_of(exc)
        where = f" on line {line}" if line else ""
        raise CellError(
            f"The cell raised {type(exc).__name__}{where}: {exc}. Fix that line; "
            "names from earlier cells are available."
        ) from None
    seen: dict[str, Any] = {}
    for name in names:
        if not name.startswith("_") or name in parameters:
            seen[name] = scope[name]
    return seen


def _line_of(exc: BaseException) -> int | None:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == "<%%batchrun cell>":
            line = tb.tb_lineno
        tb = tb.tb_next
    return line
