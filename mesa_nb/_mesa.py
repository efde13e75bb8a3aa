"""Everything mesa_nb needs to know about the installed Mesa version.

``import mesa`` 3.3.x calls ``multiprocessing.set_start_method("spawn",
force=True)``; we import it here, once, and put the user's start method back.
"""

from __future__ import annotations

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
    """Drop the references Mesa keeps to a finished model.

    Mesa 3.3 keeps a class-level ``Agent._ids`` dict keyed by model, which keeps
    every model (and its collector) of a sweep alive until the process exits.
    """
    ids = getattr(Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
