"""Turn a sweep definition into the list of parameter points to run.

A definition is one of:

* a mapping ``{name: spec}`` as in ``mesa.batch_run``: scalars and strings are
  constants; lists, tuples, ranges, sets, numpy arrays, pandas Series and
  generators are swept (full factorial, in the order given); callables taking
  no argument or a single ``rng`` argument are sampled once per run;
  :class:`Fixed` holds any value (a list, a function) constant;
* a sequence of mappings, each one point;
* a pandas DataFrame, each row one point (e.g. a Latin hypercube sample).
"""

from __future__ import annotations

import inspect
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import mesa_adapter
from .errors import ParameterError


@dataclass(frozen=True)
class Fixed:
    """Hold ``value`` constant, even if it is a list or a callable."""

    value: Any


@dataclass(frozen=True)
class PerRun:
    """A value each run builds for itself (a simulator class, for one).

    Such values hold per-model state and cannot be shared or shipped back, so
    the run builds one and the tables record ``label``.
    """

    factory: Any
    label: str

    def build(self) -> Any:
        """A new value for one run."""
        return self.factory()

    def __repr__(self) -> str:
        return self.label


@dataclass(frozen=True)
class Sampler:
    """A callable parameter, drawn once per run from that run's RNG."""

    function: Any
    takes_rng: bool

    def draw(self, rng: np.random.Generator) -> Any:
        """Return one value; pass ``rng`` if the function asks for it."""
        return self.function(rng) if self.takes_rng else self.function()


@dataclass(frozen=True)
class ParameterSpace:
    """The expanded definition: parameter names and one dict per point."""

    names: tuple[str, ...]
    points: tuple[dict[str, Any], ...]
    swept: tuple[str, ...]
    sampled: tuple[str, ...]

    def __len__(self) -> int:
        return len(self.points)


def as_sampler(value: Any) -> Sampler | None:
    """Return a :class:`Sampler` if ``value`` is a callable to draw from."""
    if isinstance(value, type) or not callable(value):
        return None
    try:
        signature = inspect.signature(value)
    except (TypeError, ValueError):
        return None
    required = [
        p
        for p in signature.parameters.values()
        if p.default is p.empty and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    if not required:
        return Sampler(value, takes_rng=False)
    if len(required) == 1 and required[0].name == "rng":
        return Sampler(value, takes_rng=True)
    return None


def _sweep_values(name: str, spec: Any) -> list[Any] | None:
    """The values to sweep for ``spec``, or None if it is a constant."""
    if isinstance(spec, str | bytes | Mapping | Fixed) or callable(spec):
        return None
    if isinstance(spec, np.ndarray):
        values = spec.tolist() if spec.ndim else None
    elif isinstance(spec, pd.Series | pd.Index):
        values = spec.tolist()
    elif isinstance(spec, set | frozenset):
        try:
            values = sorted(spec)
        except TypeError:
            raise ParameterError(
                f"Parameter {name!r} is a set of values that cannot be sorted, so "
                "the run order would change between sessions. Pass a list instead.",
                field=name,
            ) from None
    elif isinstance(spec, Iterable):
        values = list(spec)  # materialises generators exactly once
    else:
        return None
    if values is not None and not values:
        raise ParameterError(
            f"Parameter {name!r} has no values to sweep. Give at least one value, "
            f"or remove {name!r} to use the model's default.",
            field=name,
        )
    return values


def _constant(spec: Any) -> Any:
    if isinstance(spec, Fixed):
        return spec.value
    if mesa_adapter.is_simulator_class(spec):
        return PerRun(spec, spec.__name__)
    sampler = as_sampler(spec)
    return sampler if sampler is not None else spec


def _from_mapping(parameters: Mapping[str, Any]) -> ParameterSpace:
    names = tuple(parameters)
    axes: list[list[Any]] = []
    swept = []
    for name, spec in parameters.items():
        if not isinstance(name, str):
            raise ParameterError(
                f"Parameter names must be strings, got {name!r}; "
                "use the model's keyword argument names as keys."
            )
        values = _sweep_values(name, spec)
        if values is None:
            axes.append([_constant(spec)])
        else:
            axes.append([_constant(v) for v in values])
            if len(values) > 1:
                swept.append(name)
    points = tuple(
        dict(zip(names, combo, strict=True)) for combo in itertools.product(*axes)
    )
    return _space(names, points, tuple(swept))


def points_space(points: Sequence[Mapping[str, Any]], source: str) -> ParameterSpace:
    """The space of a list of points (``source`` names it in errors)."""
    if not points:
        raise ParameterError(f"The {source} is empty: give at least one point.")
    names = tuple(points[0])
    for index, point in enumerate(points):
        if not isinstance(point, Mapping):
            raise ParameterError(
                f"Point {index} of the {source} is {type(point).__name__}, not a "
                "dict: give one {name: value} dict per point."
            )
        if set(point) != set(names):
            raise ParameterError(
                f"Point {index} of the {source} has parameters {sorted(point)}, "
                f"but point 0 has {sorted(names)}: give every point the same names."
            )
    expanded = tuple({n: _constant(point[n]) for n in names} for point in points)
    swept = tuple(n for n in names if len({repr(p[n]) for p in expanded}) > 1)
    return _space(names, expanded, swept)


def _space(
    names: tuple[str, ...], points: tuple[dict[str, Any], ...], swept: tuple[str, ...]
) -> ParameterSpace:
    sampled = tuple(n for n in names if any(isinstance(p[n], Sampler) for p in points))
    return ParameterSpace(names, points, swept, sampled)


def expand_parameters(parameters: Any) -> ParameterSpace:
    """Expand a sweep definition into its points (see the module docstring)."""
    if isinstance(parameters, pd.DataFrame):
        records = [
            {str(k): v for k, v in row.items()}
            for row in parameters.astype(object).to_dict("records")
        ]
        return points_space(records, "DataFrame of points")
    if isinstance(parameters, Mapping):
        return _from_mapping(parameters)
    if isinstance(parameters, Iterator):
        parameters = list(parameters)
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        return points_space(list(parameters), "list of points")
    raise ParameterError(
        f"parameters must be a dict of name -> value(s), a list of dicts or a "
        f"pandas DataFrame, not {type(parameters).__name__}."
    )
