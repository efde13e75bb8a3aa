"""``batch_run``: Mesa's function, same arguments, same rows, but safe.

Change ``from mesa import batch_run`` to ``from mesa_nb import batch_run``.
"""

from __future__ import annotations

import warnings
from typing import Any

from ..core import mesa_adapter
from ..core.errors import SweepFailedError, SweepOptionError
from ..core.gc_tuning import tuned_gc
from ..core.options import SweepOptions
from ..core.result import SweepResult
from .mesa_rows import mesa_rows
from .progress import progress_bar
from .reports import outcome_notes
from .session import prepare, run, spec_of

#: What Mesa 3.4+ says when ``iterations`` is given (it is deprecated there).
ITERATIONS_DEPRECATED = (
    "The `iterations` keyword argument is deprecated. Use `rng` instead (e.g. "
    "`iterations=5` is equivalent to `rng=[None] * 5`). See "
    "https://mesa.readthedocs.io/latest/migration_guide.html#batch-run"
)


class MesaRows(list):
    """The rows of :func:`batch_run`: a plain list of dicts, as Mesa returns,
    that also carries the :class:`~mesa_nb.SweepResult` (``rows.result``) with
    the seed every run was given."""

    result: SweepResult


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
    executor: Any = None,
) -> MesaRows:
    """Run a sweep and return Mesa's rows (a list of dicts).

    Arguments are those of ``mesa.batch_run``, and the rows hold the keys and
    values the installed Mesa's rows hold: ``RunId``, ``iteration``, ``Step``,
    the parameters, the model reporters (a reporter named like a parameter
    wins), and for collectors with agent reporters ``AgentID`` and the agent
    reporters. Seeds appear as Mesa shows them: on Mesa 3.4+ every row has
    the ``rng`` (or ``seed``) key, ``None`` unless seeds were given; on Mesa
    3.3 only when ``seed=`` or ``rng=`` was given. Mesa's refusals are kept
    (``rng`` with ``iterations``: ValueError), and so is its deprecation of
    ``iterations`` on Mesa 3.4+.

    Differences from Mesa: runs defined in notebook cells work in parallel;
    a run stops after exactly ``max_steps`` steps; every run gets a
    reproducible seed, recorded in ``rows.result.runs`` (``seed=`` master
    seed, or ``rng=[...]`` per iteration; without either a master seed is
    drawn); a failing run does not stop the others.

    Args:
        seed: a master seed (a seed is derived per run); mesa_nb's extension.
        errors: ``"raise"`` (default, as Mesa) raises :class:`SweepFailedError`
            after every other run finished, carrying their rows and the
            result; ``"warn"`` returns the finished rows with a warning.
        executor: run on a Dask ``Client``, ``"dask"``, a scheduler address
            or any ``concurrent.futures.Executor``, as :func:`mesa_nb.sweep`.
    """
    if errors not in ("raise", "warn"):
        raise SweepOptionError(
            f'errors must be "raise" or "warn", got {errors!r}.', field="errors"
        )
    if rng is not None and iterations is not None:
        raise SweepOptionError(  # Mesa's words (a ValueError, as Mesa's)
            "you cannot use both iterations and rng at the same time. Please only "
            "use rng.",
            field="iterations",
        )
    if iterations is not None and mesa_adapter.BATCH_RUN_TAKES_RNG:
        warnings.warn(ITERATIONS_DEPRECATED, DeprecationWarning, stacklevel=2)
    options = SweepOptions.of(
        iterations=iterations,
        max_steps=max_steps,
        data_collection_period=data_collection_period,
        seed=seed,
        rng=rng,
        processes=number_processes,
        executor=executor,
    )
    prepared = prepare(
        spec_of(model_cls, parameters, options),
        exact_values=True,
        mesa_records=mesa_adapter.BATCH_RUN_TAKES_RNG,  # Mesa 3.4+'s records
    )
    the_plan = prepared.plan
    with progress_bar(display_progress) as on_progress:
        result = run(prepared, on_progress=on_progress)
    asked = seed is not None or rng is not None
    seed_key = the_plan.settings.seed_kwarg
    if not mesa_adapter.BATCH_RUN_TAKES_RNG and not asked:
        seed_key = None  # Mesa 3.3 shows no seed it was not given
    with tuned_gc():  # a million small dicts, as Mesa's own rows
        rows = MesaRows(mesa_rows(result, seed_key=seed_key, seeds_shown=asked))
    rows.result = result
    if result.interrupted:
        interrupted = outcome_notes(result, "the returned rows")["interrupted"]
        warnings.warn(interrupted, RuntimeWarning, stacklevel=2)
    if result.n_failed:
        message = (
            outcome_notes(result, "exc")["failed"]
            + " The finished rows are in exc.rows, the result in exc.result; "
            'pass errors="warn" to get the rows back instead.'
        )
        if errors == "raise":
            raise SweepFailedError(message, rows, result.failures, result)
        warnings.warn(message, RuntimeWarning, stacklevel=2)
    return rows
