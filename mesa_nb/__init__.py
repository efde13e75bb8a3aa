"""mesa_nb: notebook-native parameter sweeps for Mesa agent-based models.

``mesa_nb.batch_run`` is a drop-in for ``mesa.batch_run``; ``mesa_nb.sweep``
returns a :class:`SweepResult` of tidy DataFrames. In IPython / Jupyter,
``%load_ext mesa_nb`` adds the ``%%batchrun`` magic.
"""

from __future__ import annotations

from typing import Any

__version__ = "0.1.0"

from .batchrun import batch_run
from .engine import Progress, load_store, sweep
from .errors import (
    MesaNbError,
    ModelClassError,
    ParameterError,
    SweepFailedError,
    SweepOptionError,
)
from .parameters import Fixed, expand_parameters
from .result import SweepResult
from .store import StoreError

__all__ = [
    "Fixed",
    "MesaNbError",
    "ModelClassError",
    "ParameterError",
    "Progress",
    "StoreError",
    "SweepFailedError",
    "SweepOptionError",
    "SweepResult",
    "__version__",
    "batch_run",
    "expand_parameters",
    "form",
    "load_ipython_extension",
    "load_store",
    "sweep",
    "unload_ipython_extension",
]


def form(model_cls: type, **kwargs: Any) -> Any:
    """A widget form to pick and run a sweep (ipywidgets imported only here).

    See :func:`mesa_nb.sweep_form.form`.
    """
    from .sweep_form import form as make_form

    return make_form(model_cls, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mesa_nb``: register the magics (IPython imported only here)."""
    from .magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext mesa_nb``."""
    from .magics import unload_ipython_extension as unload

    unload(ipython)
