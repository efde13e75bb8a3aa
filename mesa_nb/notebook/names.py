"""Names typed in a notebook: the model of a cell, the executor of ``--client``."""

from __future__ import annotations

import difflib
import importlib
from typing import Any

from ..core.errors import ModelClassError, SweepOptionError
from ..core.mesa_adapter import Model


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
        module_name, _, attr = name.rpartition(".")
        try:
            return True, getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError):
            pass
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
            field="client",
        )
    return namespace[name]
