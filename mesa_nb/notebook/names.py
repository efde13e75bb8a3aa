"""Names typed in a notebook: the model of a cell, the executor of ``--client``."""

from __future__ import annotations

import ast
import difflib
import importlib
import importlib.util
from pathlib import Path
from typing import Any

from ..core.errors import ModelClassError, SweepOptionError
from ..core.mesa_adapter import Model


def _defines(spec: Any, attr: str) -> bool | None:
    """Whether a module's source defines ``attr`` at top level, read without
    importing it (None: cannot tell, e.g. a star import or no source)."""
    origin = getattr(spec, "origin", None)
    if not origin or not origin.endswith(".py"):
        return None
    try:
        tree = ast.parse(Path(origin).read_text(encoding="utf-8"))
    except (OSError, SyntaxError, UnicodeDecodeError):
        return None
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            names.add(node.name)
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            names.update(t.id for t in targets if isinstance(t, ast.Name))
        elif isinstance(node, ast.Import | ast.ImportFrom):
            for alias in node.names:
                if alias.name == "*":
                    return None
                names.add(alias.asname or alias.name.split(".")[0])
        elif isinstance(node, ast.If | ast.Try):
            return None if attr not in names else True  # conditional definitions
    if "__getattr__" in names:
        return None
    return attr in names


def _import_attribute(name: str) -> tuple[bool, Any]:
    """``module.attr`` imported, but only once the module is known to exist
    and (where its source tells) to define ``attr``: no side effects for a
    name that cannot be there. Import errors are shown as what they are."""
    module_name, _, attr = name.rpartition(".")
    try:
        spec = importlib.util.find_spec(module_name)
    except (ImportError, ValueError):
        spec = None
    if spec is None or _defines(spec, attr) is False:
        return False, None
    try:
        module = importlib.import_module(module_name)
    except Exception as exc:
        raise ModelClassError(
            f"Importing {module_name!r} for {name!r} failed: "
            f"{type(exc).__name__}: {exc}. Fix that (e.g. install what it needs) "
            "and run the cell again."
        ) from None
    if not hasattr(module, attr):
        return False, None
    return True, getattr(module, attr)


def _lookup(name: str, namespace: dict[str, Any]) -> tuple[bool, Any]:
    """``(found, object)`` for a notebook name, attribute path or module.Class."""
    head, *rest = name.split(".")
    if head in namespace:
        obj = namespace[head]
        try:
            for part in rest:
                obj = getattr(obj, part)
        except AttributeError:
            pass
        else:
            return True, obj
    if rest:
        return _import_attribute(name)
    return False, None


def resolve_name(name: str, namespace: dict[str, Any], what: str) -> Any:
    """Find a class typed in a magic's options (``what`` names it in errors)."""
    found, obj = _lookup(name, namespace)
    if not found:
        raise ModelClassError(
            f"No {what} named {name!r}: define it in a cell above and run that "
            "cell, or give an importable path like package.module.Class."
        )
    return obj


def resolve_model(name: str, namespace: dict[str, Any]) -> type:
    """Find MODEL: a name in the notebook, an attribute path, or module.Class."""
    found, obj = _lookup(name, namespace)
    if found:
        return obj
    models = [
        k
        for k, v in namespace.items()
        if isinstance(v, type) and issubclass(v, Model) and v is not Model
    ]
    close = difflib.get_close_matches(name, models, n=1)
    hint = (
        f" Did you mean {close[0]}?"
        if close
        else (f" Models defined here: {', '.join(sorted(models))}." if models else "")
    )
    raise ModelClassError(
        f"No model named {name!r}: define the class in a cell above and run that "
        f"cell, or give an importable path like package.module.Class.{hint}"
    )


def executor_by_name(name: str, namespace: dict[str, Any]) -> Any:
    """What ``--client NAME`` means: 'dask', an address, or a notebook name."""
    if name == "dask" or "://" in name:
        return name
    if name not in namespace:
        raise SweepOptionError(
            f"client {name!r}: no such name in the notebook. Create it first, e.g. "
            "`from dask.distributed import Client; client = Client()`, or give a "
            "scheduler address (tcp://host:8786) or 'dask' for a local cluster.",
            field="executor",
        )
    return namespace[name]
