"""Validate a sweep and lay out its runs, before any of them starts."""

from __future__ import annotations

import difflib
import inspect
import os
import warnings
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import Any

import numpy as np

from . import mesa_adapter
from .errors import ModelClassError, ParameterError, SweepOptionError
from .parameters import ParameterSpace, expand_parameters
from .records import RunSpec, run_parameters
from .seeding import derive_seed, fresh_master_seed

SEED_NAMES = ("rng", "seed")


@dataclass(frozen=True)
class RunSettings:
    """What every run of a sweep shares; shipped to workers with each task."""

    model_cls: type
    max_steps: int
    data_collection_period: int
    seed_kwarg: str | None


@dataclass(frozen=True)
class Seeding:
    """Where the runs' seeds come from.

    ``source`` is ``"seed"`` (a master seed was given), ``"entropy"`` (one was
    drawn, or taken from a store being resumed), ``"rng"`` (one seed per
    iteration) or ``"parameter"`` (the parameters set ``rng``/``seed``).
    """

    source: str
    master_seed: int | None = None
    per_iteration: tuple[Any, ...] = ()
    parameter: str | None = None

    def seed_of(self, run_id: int, iteration: int, point: dict[str, Any]) -> Any:
        """The seed of one run."""
        if self.source == "rng":
            return self.per_iteration[iteration]
        if self.source == "parameter":
            return point[self.parameter]
        return derive_seed(self.master_seed, run_id)


def number_runs(
    points: Sequence[dict[str, Any]], iterations: int, seeding: Seeding
) -> list[RunSpec]:
    """RunIds as Mesa numbers them: iteration-major, then the points in order."""
    runs: list[RunSpec] = []
    for iteration in range(iterations):
        for point in points:
            run_id = len(runs)
            runs.append(
                RunSpec(
                    run_id, iteration, point, seeding.seed_of(run_id, iteration, point)
                )
            )
    return runs


@dataclass
class SweepPlan:
    """A validated sweep: its settings, parameter points, iterations and seeds.

    The run list is laid out on first use, so checking a sweep (as the form
    does on every change) costs no more than expanding its points.
    """

    settings: RunSettings
    space: ParameterSpace
    iterations: int
    seeding: Seeding

    @cached_property
    def runs(self) -> list[RunSpec]:
        """Every run, by RunId."""
        return number_runs(self.space.points, self.iterations, self.seeding)

    @property
    def n_runs(self) -> int:
        """Points x iterations."""
        return len(self.space) * self.iterations

    @property
    def master_seed(self) -> int | None:
        return self.seeding.master_seed

    @property
    def seed_source(self) -> str:
        return self.seeding.source

    def describe(self) -> dict[str, Any]:
        """The plan as plain data, as results and stores record it."""
        cls = self.settings.model_cls
        return {
            "model": cls.__qualname__,
            "model_module": cls.__module__,
            "parameters": list(self.space.names),
            "swept": list(self.space.swept),
            "sampled": list(self.space.sampled),
            "n_points": len(self.space),
            "iterations": self.iterations,
            "n_runs": self.n_runs,
            "max_steps": self.settings.max_steps,
            "data_collection_period": self.settings.data_collection_period,
            "seed_source": self.seed_source,
            "master_seed": self.master_seed,
            "seed_kwarg": self.settings.seed_kwarg,
        }


def _model_signature(model_cls: type) -> inspect.Signature:
    try:
        return inspect.signature(model_cls)
    except (TypeError, ValueError) as exc:  # pragma: no cover - exotic classes
        raise ModelClassError(
            f"Cannot read the parameters of {model_cls.__name__}.__init__: {exc}"
        ) from exc


def check_model_class(model_cls: Any) -> None:
    """Raise :class:`ModelClassError` unless ``model_cls`` is a Mesa Model class."""
    if not isinstance(model_cls, type):
        raise ModelClassError(
            f"model_cls must be a Mesa Model class, got {model_cls!r} "
            f"({type(model_cls).__name__}). Pass the class itself, e.g. "
            "batch_run(MyModel, ...), not an instance or a string."
        )
    if not issubclass(model_cls, mesa_adapter.Model):
        raise ModelClassError(
            f"{model_cls.__name__} is not a Mesa model: subclass mesa.Model "
            f"(class {model_cls.__name__}(mesa.Model): ...) and call "
            "super().__init__() in its __init__."
        )


def check_parameter_names(model_cls: type, space: ParameterSpace) -> None:
    """Unknown and missing parameter names, with the closest known name."""
    signature = _model_signature(model_cls)
    params = signature.parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    known = [n for n, p in params.items() if p.kind is not p.VAR_POSITIONAL]
    if not accepts_any:
        for name in space.names:
            if name not in params:
                close = difflib.get_close_matches(name, known, n=1)
                hint = f" Did you mean {close[0]!r}?" if close else ""
                raise ParameterError(
                    f"{model_cls.__name__} has no parameter {name!r}.{hint} "
                    f"It accepts: {', '.join(known) or '(no parameters)'}.",
                    field=name,
                )
    missing = [
        n
        for n, p in params.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in space.names
    ]
    if missing:
        raise ParameterError(
            f"{model_cls.__name__} requires {', '.join(map(repr, missing))} but the "
            "sweep does not give it: add it to the parameters.",
            field=missing[0],
        )


def seed_keyword(model_cls: type, space: ParameterSpace) -> str | None:
    """The keyword that takes the run's seed: ``rng``, ``seed``, or None."""
    params = _model_signature(model_cls).parameters
    for name in SEED_NAMES:
        if name in space.names:
            return None  # the user seeds the runs through a parameter
    for name in SEED_NAMES:
        if name in params:
            return name
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return "rng"
    return None


def _check_int(name: str, value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int | np.integer):
        raise SweepOptionError(
            f"{name} must be a whole number, got {value!r}.", field=name
        )
    return int(value)


def resolve_processes(number_processes: int | None) -> int:
    """``None`` means every core; anything else must be a positive int."""
    if number_processes is None:
        return os.cpu_count() or 1
    n = _check_int("number_processes", number_processes)
    if n < 1:
        raise SweepOptionError(
            f"number_processes must be at least 1 (or None for all cores), got {n}.",
            field="processes",
        )
    return n


def _seeds_per_iteration(rng: Any, iterations: int | None) -> list[Any]:
    values = (
        list(rng) if isinstance(rng, Iterable) and not isinstance(rng, str) else [rng]
    )
    if not values:
        raise SweepOptionError(
            "rng=[] gives no iterations: pass at least one seed.", field="rng"
        )
    if iterations is not None and iterations not in (1, len(values)):
        raise SweepOptionError(
            f"rng gives {len(values)} seeds (one per iteration) but iterations="
            f"{iterations}: drop iterations, or give {iterations} seeds.",
            field="iterations",
        )
    return values


def plan_sweep(
    model_cls: Any,
    parameters: Any,
    *,
    iterations: int | None = None,
    max_steps: int = 1000,
    data_collection_period: int = -1,
    seed: int | None = None,
    rng: Any = None,
    resume_seed: int | None = None,
    warn: bool = True,
) -> SweepPlan:
    """Check everything that can be checked before any run starts.

    Args:
        resume_seed: the master seed to use when neither ``seed`` nor ``rng``
            is given (a store's, when resuming); else a fresh one is drawn.
        warn: warn when the model cannot take a seed (off while a form
            checks every keystroke).
    """
    check_model_class(model_cls)
    max_steps = _check_int("max_steps", max_steps)
    if max_steps < 0:
        raise SweepOptionError(
            f"max_steps must be 0 or more, got {max_steps}.", field="max_steps"
        )
    period = _check_int("data_collection_period", data_collection_period)
    if period == 0 or period < -1:
        raise SweepOptionError(
            f"data_collection_period must be -1 (end of run only) or a positive "
            f"number of steps, got {period}.",
            field="data_collection_period",
        )
    if iterations is not None:
        iterations = _check_int("iterations", iterations)
        if iterations < 1:
            raise SweepOptionError(
                f"iterations must be at least 1, got {iterations}.", field="iterations"
            )
    if seed is not None and rng is not None:
        raise SweepOptionError(
            "Give either seed= (one master seed, a seed is derived per run) or rng= "
            "(one seed per iteration), not both.",
            field="seed",
        )

    space = expand_parameters(parameters)
    check_parameter_names(model_cls, space)
    seed_kwarg = seed_keyword(model_cls, space)
    user_seeds = next((n for n in SEED_NAMES if n in space.names), None)
    if user_seeds is not None and (seed is not None or rng is not None):
        raise SweepOptionError(
            f"The parameters already set {user_seeds!r}: drop it from the parameters "
            "or drop the seed=/rng= option.",
            field=user_seeds,
        )

    if rng is not None:
        per_iteration = tuple(_seeds_per_iteration(rng, iterations))
        seeding = Seeding("rng", per_iteration=per_iteration)
        iterations = len(per_iteration)
    else:
        iterations = iterations or 1
        if user_seeds is not None:
            seeding = Seeding("parameter", parameter=user_seeds)
        elif seed is not None:
            seeding = Seeding("seed", master_seed=_check_int("seed", seed))
        else:
            master = fresh_master_seed() if resume_seed is None else resume_seed
            seeding = Seeding("entropy", master_seed=master)

    if warn and seed_kwarg is None and user_seeds is None:
        warnings.warn(
            f"{model_cls.__name__}.__init__ takes neither rng nor seed, so its runs "
            "cannot be reproduced. Add `rng=None` to its parameters and call "
            "super().__init__(rng=rng).",
            UserWarning,
            stacklevel=3,
        )
    settings = RunSettings(model_cls, max_steps, period, seed_kwarg)
    return SweepPlan(settings, space, iterations, seeding)


def model_kwargs(spec: RunSpec, settings: RunSettings, drawn: dict[str, Any]) -> dict:
    """The keyword arguments the model of ``spec`` is built with."""
    kwargs = run_parameters(spec.params, drawn)
    if settings.seed_kwarg is not None:
        kwargs[settings.seed_kwarg] = spec.seed
    return kwargs
