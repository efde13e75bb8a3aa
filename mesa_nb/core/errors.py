"""The exceptions mesa_nb raises. Every one of them names the fix.

Each carries ``field``: the parameter or option it is about (or None), so a
form can mark the right control without reading the message.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pandas as pd


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
