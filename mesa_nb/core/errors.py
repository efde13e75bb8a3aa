"""The exceptions mesa_nb raises. Every one of them names the fix.

Each carries ``field``: the parameter or option it is about (or None), so a
form can mark the right control without reading the message.
"""

from __future__ import annotations

import os
import sys
import warnings
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


_PACKAGE = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def warn_user(message: str, category: type[Warning] = UserWarning) -> None:
    """Warn, pointing at the first line outside mesa_nb that led here (the
    user's cell or script), never at mesa_nb's own source."""
    level, frame = 2, sys._getframe(1)
    while frame is not None and frame.f_code.co_filename.startswith(_PACKAGE):
        frame, level = frame.f_back, level + 1
    warnings.warn(message, category, stacklevel=level)


class MesaNbError(Exception):
    """Base class of every error mesa_nb raises on purpose.

    Attributes:
        field: the parameter or option the error is about, if any.
    """

    def __init__(self, message: str = "", *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class ParameterError(MesaNbError, ValueError):
    """A sweep parameter is unknown, empty or malformed."""


class ModelClassError(MesaNbError, TypeError):
    """The model class cannot be swept (not a Mesa Model, no datacollector...)."""


class SweepOptionError(MesaNbError, ValueError):
    """An option of the sweep (iterations, max_steps, seeds...) is invalid."""


class StoreError(MesaNbError, ValueError):
    """The results directory cannot be used for this sweep."""


class SweepFailedError(MesaNbError, RuntimeError):
    """Raised by :func:`mesa_nb.batch_run` when some runs failed.

    Every other run finished first; their rows are kept on the exception.

    Attributes:
        rows: Mesa-format rows of the runs that finished.
        failures: one row per failed run (RunId, parameters, error, traceback).
        result: the full :class:`~mesa_nb.SweepResult`.
    """

    def __init__(
        self,
        message: str,
        rows: list[dict[str, Any]],
        failures: pd.DataFrame,
        result: Any,
    ) -> None:
        super().__init__(message)
        self.rows = rows
        self.failures = failures
        self.result = result
