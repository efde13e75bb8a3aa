"""mesa_nb: notebook-native parameter sweeps for Mesa agent-based models.

``mesa_nb.batch_run`` is a drop-in for ``mesa.batch_run``; ``mesa_nb.sweep``
returns a :class:`SweepResult` of tidy DataFrames; ``mesa_nb.calibrate`` fits
a model to data (ABC-SMC or optimisation) on the same runner. In IPython / Jupyter,
``%load_ext mesa_nb`` adds the ``%%batchrun`` magic.

The package is layered (see docs/architecture.md): :mod:`mesa_nb.core` plans
and runs sweeps, :mod:`mesa_nb.backends` and :mod:`mesa_nb.store` plug into
it, :mod:`mesa_nb.api` wires them, :mod:`mesa_nb.analysis` adds statistics and
plots, :mod:`mesa_nb.notebook` the magic and the form. Importing ``mesa_nb``
loads no IPython, ipywidgets or matplotlib.
"""

from __future__ import annotations

from typing import Any

from . import analysis  # gives SweepResult its .plot and .stats
from .api import batch_run, compact, load_store, sweep
from .calibration.api import calibrate, load_calibration
from .core.errors import (
    MesaNbError,
    ModelClassError,
    ParameterError,
    StoreError,
    SweepFailedError,
    SweepOptionError,
)
from .core.meta import __version__
from .core.parameters import Fixed, expand_parameters
from .core.records import Progress
from .core.result import SweepResult

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
    "analysis",
    "batch_run",
    "calibrate",
    "compact",
    "expand_parameters",
    "form",
    "load_calibration",
    "load_ipython_extension",
    "load_store",
    "sweep",
    "unload_ipython_extension",
]


def form(model_cls: type, **kwargs: Any) -> Any:
    """A widget form to pick and run a sweep (ipywidgets imported only here).

    See :func:`mesa_nb.notebook.form_view.form`.
    """
    from .notebook.form_view import form as make_form

    return make_form(model_cls, **kwargs)


def load_ipython_extension(ipython: Any) -> None:
    """``%load_ext mesa_nb``: register the magics (IPython imported only here)."""
    from .notebook.magics import load_ipython_extension as load

    load(ipython)


def unload_ipython_extension(ipython: Any) -> None:
    """``%unload_ext mesa_nb``."""
    from .notebook.magics import unload_ipython_extension as unload

    unload(ipython)
