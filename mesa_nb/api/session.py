"""The session every front end uses: prepare a sweep, run it, report it.

:func:`prepare` turns a :class:`~mesa_nb.core.spec.SweepSpec` into a checked
plan (or raises an error keyed by the field it is about; :func:`check`
returns those errors as a dict, for a form); :func:`run` runs that same plan
in the foreground or the background. The magic, the form and ``mesa-nb``
only parse their input into a spec and render what comes back (see
:mod:`.reports`); :func:`sweep` is the Python front end.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from ..core.errors import MesaNbError
from ..core.options import RUN, SPEC, SweepOptions, keyword_signature, options_doc
from ..core.plan import SweepPlan, plan_sweep
from ..core.result import SweepResult
from ..core.seeding import fresh_master_seed
from ..core.spec import SweepSpec
from ..store import RunStore
from .engine import run_plan
from .live import LiveSweep


@dataclass(frozen=True)
class Prepared:
    """A checked sweep: its spec and the plan that runs it."""

    spec: SweepSpec
    plan: SweepPlan

    @property
    def options(self) -> SweepOptions:
        return self.spec.options

    @property
    def parameters(self) -> Any:
        """The parameters as given (ranges unsampled)."""
        return self.spec.parameters

    @property
    def n_runs(self) -> int:
        """Points x iterations."""
        return self.plan.n_runs


def _master_seed(options: SweepOptions) -> int | None:
    """The master seed the sweep will use when none is given: a store that
    already holds a sweep gives its own (so the sweep resumes), else a fresh
    one is drawn. None when the seeds come from ``seed`` or ``rng``."""
    if options.seed is not None or options.rng is not None:
        return None
    if options.store is not None:
        store = RunStore(options.store)
        if store.exists():
            stored = store.stored_master_seed()
            if stored is not None:
                return stored
    return fresh_master_seed()


def _read_iterators(spec: SweepSpec, plan: SweepPlan) -> SweepSpec:
    """``spec`` with the values the planner read from generators (which can
    be read once only) written in, so the spec can be written out."""
    parameters = spec.parameters
    if isinstance(parameters, Iterator):
        return replace(spec, parameters=list(plan.space.points))
    if not isinstance(parameters, Mapping) or not any(
        isinstance(v, Iterator) for v in parameters.values()
    ):
        return spec
    axes = getattr(plan.space.points, "axes", None) or {}
    return replace(
        spec,
        parameters={
            n: list(axes.get(n, ())) if isinstance(v, Iterator) else v
            for n, v in parameters.items()
        },
    )


def spec_of(model_cls: Any, parameters: Any, options: SweepOptions) -> SweepSpec:
    """The spec of ``sweep(model_cls, parameters, **options)``."""
    return SweepSpec.of(model_cls, parameters, options)


def prepare(
    spec: SweepSpec,
    *,
    warn: bool = True,
    exact_values: bool = False,
    mesa_records: bool = False,
) -> Prepared:
    """Check ``spec`` and lay out its plan; nothing runs.

    Without ``seed`` and ``rng``, a store that already holds this sweep gives
    its master seed, so running the plan resumes that sweep; a design is
    drawn with the sweep's master seed (unless it has its own).
    """
    options = spec.options
    master = _master_seed(options)
    parameters = spec.planner_parameters(
        options.seed if options.seed is not None else master
    )
    plan = plan_sweep(
        spec.model,
        parameters,
        options,
        resume_seed=master,
        warn=warn,
        exact_values=exact_values,
        mesa_records=mesa_records,
    )
    prepared = Prepared(_read_iterators(spec, plan), plan)
    plan.spec = resolved_spec(prepared).to_dict(stages=(SPEC,))
    return prepared


def resolved_spec(prepared: Prepared) -> SweepSpec:
    """The spec with the master seed the plan drew written in, so that it
    reruns exactly this sweep (the store and ``--save`` record it so)."""
    spec, plan = prepared.spec, prepared.plan
    if plan.seed_source != "entropy":
        return spec
    return replace(spec, options=spec.options.replace(seed=plan.master_seed))


def check(spec: SweepSpec) -> Prepared | dict[str | None, str]:
    """:func:`prepare`, or the error as ``{field: message}`` (``None``: not
    about one field)."""
    try:
        return prepare(spec, warn=False)
    except MesaNbError as exc:
        return {exc.field: str(exc)}


def run(prepared: Prepared, **callbacks: Any) -> SweepResult | LiveSweep:
    """Run a prepared sweep: its result, or with ``background`` a
    :class:`LiveSweep` at once. ``callbacks`` (``on_progress``, ``cancel``)
    override the spec's."""
    options = prepared.options.replace(**callbacks) if callbacks else prepared.options
    go = functools.partial(run_plan, prepared.plan, options)
    if options.background:
        return LiveSweep(prepared.plan, go)
    return go()


def plan(model_cls: Any, parameters: Any, **options: Any) -> SweepPlan:
    """Validate a sweep and lay out its runs; nothing runs (options as
    :func:`sweep` takes them)."""
    spec = spec_of(model_cls, parameters, SweepOptions.of(**options))
    return prepare(spec).plan


def sweep(model_cls: Any, parameters: Any, **options: Any) -> Any:
    """Run a parameter sweep and return its tidy tables."""
    return run(prepare(spec_of(model_cls, parameters, SweepOptions.of(**options))))


_RUN_OPTIONS = ", ".join(f"``{name}``" for name in SweepOptions.of().stage(RUN))
_POSITIONAL = tuple(
    inspect.Parameter(name, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    for name in ("model_cls", "parameters")
)
sweep.__signature__ = keyword_signature(before=_POSITIONAL)  # type: ignore[attr-defined]
plan.__signature__ = keyword_signature(before=_POSITIONAL)  # type: ignore[attr-defined]
sweep.__doc__ = f"""Run a parameter sweep and return its tidy tables.

    Args:
        model_cls: a ``mesa.Model`` subclass (may be defined in a notebook).
        parameters: ``{{name: value or values}}`` (values are swept, full
            factorial; ``between``/``integers``/``one_of`` ranges with
            ``design=``), a list of ``{{name: value}}`` points, a DataFrame of
            points, or a design (``lhs(...)``, ``sobol(...)``). Callables
            ``lambda rng: ...`` are drawn once per run.
{options_doc()}

    Returns:
        A :class:`~mesa_nb.SweepResult` (with ``background``: a
        :class:`~mesa_nb.api.live.LiveSweep`). An interrupted sweep returns
        the finished runs, flagged ``interrupted``. The options are those of
        :data:`mesa_nb.core.options.OPTIONS` ({_RUN_OPTIONS} only say how it
        runs).
    """

__all__ = [
    "Prepared",
    "check",
    "plan",
    "prepare",
    "resolved_spec",
    "run",
    "spec_of",
    "sweep",
]
