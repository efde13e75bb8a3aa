"""``batch_run``: Mesa's function, same arguments, same rows, but safe.

Change ``from mesa import batch_run`` to ``from mesa_nb import batch_run``.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..core.errors import SweepFailedError, SweepOptionError
from ..core.result import describe_outcome
from .engine import sweep
from .progress import progress_bar


def batch_run(
    model_cls: type,
    parameters: Any,
    number_processes: int | None = 1,
    iterations: int | None = None,
    data_collection_period: int = -1,
    max_steps: int = 1000,
    display_progress: bool = True,
    *,
    rng: Any = None,
    seed: int | None = None,
    errors: str = "raise",
) -> list[dict[str, Any]]:
    """Run a sweep and return Mesa's rows (a list of dicts).

    Arguments are those of ``mesa.batch_run``; the rows have Mesa's keys:
    ``RunId``, ``iteration``, ``Step``, the parameters (and the seed keyword
    when one was passed to the model), the model reporters, and for
    collectors with agent reporters ``AgentID`` and the agent reporters.

    Differences from Mesa: runs defined in notebook cells work in parallel;
    a run stops after exactly ``max_steps`` steps; every run gets a
    reproducible seed (``seed=`` master seed, or ``rng=[...]`` per
    iteration); a failing run does not stop the others.

    Args:
        errors: ``"raise"`` (default, as Mesa) raises :class:`SweepFailedError`
            after every other run finished, carrying their rows; ``"warn"``
            returns the finished rows with a warning.
    """
    if errors not in ("raise", "warn"):
        raise SweepOptionError(f'errors must be "raise" or "warn", got {errors!r}.')
    with progress_bar(display_progress) as on_progress:
        result = sweep(
            model_cls,
            parameters,
            iterations=iterations,
            max_steps=max_steps,
            data_collection_period=data_collection_period,
            processes=number_processes,
            seed=seed,
            rng=rng,
            on_progress=on_progress,
        )
    rows = result.to_mesa_rows()
    if result.interrupted:
        (interrupted,) = describe_outcome(result, "the returned rows")[:1]
        warnings.warn(interrupted, RuntimeWarning, stacklevel=2)
    if result.n_failed:
        message = (
            describe_outcome(result, "exc")[-1]
            + " The finished rows are in exc.rows, the result in exc.result; "
            'pass errors="warn" to get the rows back instead.'
        )
        if errors == "raise":
            raise SweepFailedError(message, rows, result.failures, result)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return rows
