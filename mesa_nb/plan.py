"""Validate a sweep and lay out its runs, before any of them starts."""

from __future__ import annotations

import difflib
import inspect
import os
import warnings
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import _mesa
from .errors import ModelClassError, ParameterError, SweepOptionError
from .parameters import ParameterSpace, Sampler, expand_parameters
from .seeding import derive_seed, fresh_master_seed

SEED_NAMES = ("rng", "seed")


@dataclass(frozen=True)
class RunSpec:
    """One run: its id, iteration, parameter values and seed."""

    run_id: int
    iteration: int
    params: dict[str, Any]
    seed: Any


@dataclass(frozen=True)
class RunSettings:
    """What every run of a sweep shares; shipped to workers with each task."""

    model_cls: type
    max_steps: int
    data_collection_period: int
    seed_kwarg: str | None


@dataclass
class SweepPlan:
    """A validated sweep: its settings, runs and the facts recorded about it."""

    settings: RunSettings
    space: ParameterSpace
    runs: list[RunSpec]
    iterations: int
    master_seed: int | None
    seed_source: str


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
    if not issubclass(model_cls, _mesa.Model):
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
                    f"It accepts: {', '.join(known) or '(no parameters)'}."
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
            "sweep does not give it: add it to the parameters."
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
        raise SweepOptionError(f"{name} must be a whole number, got {value!r}.")
    return int(value)


def resolve_processes(number_processes: int | None) -> int:
    """``None`` means every core; anything else must be a positive int."""
    if number_processes is None:
        return os.cpu_count() or 1
    n = _check_int("number_processes", number_processes)
    if n < 1:
        raise SweepOptionError(
            f"number_processes must be at least 1 (or None for all cores), got {n}."
        )
    return n


def _seeds_per_iteration(rng: Any, iterations: int | None) -> list[Any]:
    values = (
        list(rng) if isinstance(rng, Iterable) and not isinstance(rng, str) else [rng]
    )
    if not values:
        raise SweepOptionError("rng=[] gives no iterations: pass at least one seed.")
    if iterations is not None and iterations not in (1, len(values)):
        raise SweepOptionError(
            f"rng gives {len(values)} seeds (one per iteration) but iterations="
            f"{iterations}: drop iterations, or give {iterations} seeds."
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
) -> SweepPlan:
    """Check everything that can be checked, then number the runs as Mesa does.

    RunIds are iteration-major, then the parameter points in the given order.
    """
    check_model_class(model_cls)
    max_steps = _check_int("max_steps", max_steps)
    if max_steps < 0:
        raise SweepOptionError(f"max_steps must be 0 or more, got {max_steps}.")
    period = _check_int("data_collection_period", data_collection_period)
    if period == 0 or period < -1:
        raise SweepOptionError(
            f"data_collection_period must be -1 (end of run only) or a positive "
            f"number of steps, got {period}."
        )
    if iterations is not None:
        iterations = _check_int("iterations", iterations)
        if iterations < 1:
            raise SweepOptionError(f"iterations must be at least 1, got {iterations}.")
    if seed is not None and rng is not None:
        raise SweepOptionError(
            "Give either seed= (one master seed, a seed is derived per run) or rng= "
            "(one seed per iteration), not both."
        )

    space = expand_parameters(parameters)
    check_parameter_names(model_cls, space)
    seed_kwarg = seed_keyword(model_cls, space)
    user_seeds = next((n for n in SEED_NAMES if n in space.names), None)
    if user_seeds is not None and (seed is not None or rng is not None):
        raise SweepOptionError(
            f"The parameters already set {user_seeds!r}: drop it from the parameters "
            "or drop the seed=/rng= option."
        )

    master_seed: int | None = None
    if rng is not None:
        per_iteration = _seeds_per_iteration(rng, iterations)
        iterations = len(per_iteration)
        seed_source = "rng"
    else:
        iterations = iterations or 1
        per_iteration = []
        if user_seeds is not None:
            seed_source = "parameter"
        else:
            if seed is not None:
                master_seed = _check_int("seed", seed)
                seed_source = "seed"
            else:
                master_seed = fresh_master_seed()
                seed_source = "entropy"

    runs: list[RunSpec] = []
    for iteration in range(iterations):
        for point in space.points:
            run_id = len(runs)
            if seed_source == "rng":
                run_seed = per_iteration[iteration]
            elif seed_source == "parameter":
                run_seed = point[user_seeds]
            else:
                run_seed = derive_seed(master_seed, run_id)
            runs.append(RunSpec(run_id, iteration, point, run_seed))

    if seed_kwarg is None and user_seeds is None:
        warnings.warn(
            f"{model_cls.__name__}.__init__ takes neither rng nor seed, so its runs "
            "cannot be reproduced. Add `rng=None` to its parameters and call "
            "super().__init__(rng=rng).",
            UserWarning,
            stacklevel=3,
        )
    settings = RunSettings(model_cls, max_steps, period, seed_kwarg)
    return SweepPlan(settings, space, runs, iterations, master_seed, seed_source)


def model_kwargs(spec: RunSpec, settings: RunSettings, drawn: dict[str, Any]) -> dict:
    """The keyword arguments the model of ``spec`` is built with."""
    kwargs = {
        name: drawn[name] if isinstance(value, Sampler) else value
        for name, value in spec.params.items()
    }
    if settings.seed_kwarg is not None:
        kwargs[settings.seed_kwarg] = spec.seed
    return kwargs
