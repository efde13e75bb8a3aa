"""Everything mesa_nb needs to know about the installed Mesa version.

``import mesa`` 3.3.x calls ``multiprocessing.set_start_method("spawn",
force=True)``; we import it here, once, and put the user's start method back.
"""

from __future__ import annotations

import contextlib
import multiprocessing
from typing import Any


def _import_mesa_keeping_start_method() -> Any:
    before = multiprocessing.get_start_method(allow_none=True)
    import mesa

    if multiprocessing.get_start_method(allow_none=True) != before:
        multiprocessing.set_start_method(before, force=True)
    return mesa


mesa = _import_mesa_keeping_start_method()
MESA_VERSION: str = mesa.__version__
Model = mesa.Model
Agent = mesa.Agent


def release_model(model: Any) -> None:
    """Free a finished model's agents and records now, not at some later GC.

    Mesa 3.3 keeps a class-level ``Agent._ids`` dict keyed by model, which keeps
    every model (and its collector) of a sweep alive until the process exits.
    And every model is part of a reference cycle (Mesa binds ``model.step`` to
    the instance), so CPython would free it only at a full garbage collection:
    clearing the instance's attributes lets its agents and collector go at once.
    """
    ids = getattr(Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
    with contextlib.suppress(TypeError):  # a model with __slots__ keeps its own
        vars(model).clear()
