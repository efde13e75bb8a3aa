"""Turn a sweep definition into the list of parameter points to run.

A definition is one of:

* a mapping ``{name: spec}`` as in ``mesa.batch_run``: scalars and strings are
  constants; lists, tuples, ranges, sets, numpy arrays, pandas Series and
  generators are swept (full factorial, in the order given); callables taking
  no argument or a single ``rng`` argument are sampled once per run;
  :class:`Fixed` holds any value (a list, a function) constant;
* a sequence of mappings, each one point;
* a pandas DataFrame, each row one point (e.g. a Latin hypercube sample);
* a :class:`~mesa_nb.core.designs.Design` (``lhs``, ``sobol``, ``morris``...),
  its points, remembered for the analysis.
"""

from __future__ import annotations

import inspect
import io
import itertools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence, Sized
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from . import mesa_adapter
from .designs import Design
from .errors import ParameterError
from .limits import MAX_RUNS


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
    """The expanded definition: parameter names and one dict per point.

    ``points`` is a sequence: for a full-factorial grid a :class:`Grid`, which
    makes each point when asked for it, so a grid of any size is counted and
    checked without being laid out.
    """

    names: tuple[str, ...]
    points: Sequence[dict[str, Any]]
    swept: tuple[str, ...]
    sampled: tuple[str, ...]
    design: Any = None  # the Design the points come from, if any

    def __len__(self) -> int:
        return len(self.points)

    def with_constants(self, constants: dict[str, Any]) -> ParameterSpace:
        """This space with more parameters, the same in every point."""
        names = self.names + tuple(n for n in constants if n not in self.names)
        if isinstance(self.points, Grid):
            axes = {**self.points.axes, **{n: [v] for n, v in constants.items()}}
            points: Sequence[dict[str, Any]] = Grid(names, [axes[n] for n in names])
        else:
            points = tuple({**point, **constants} for point in self.points)
        sampled = self.sampled + tuple(
            n for n, v in constants.items() if isinstance(v, Sampler)
        )
        return ParameterSpace(names, points, self.swept, sampled, self.design)


class Grid(Sequence):
    """The points of a full-factorial sweep, made one at a time on demand.

    Point ``i`` is the ``i``-th item of ``itertools.product(*axes)`` (the last
    parameter varies fastest), as a ``{name: value}`` dict.
    """

    def __init__(self, names: Sequence[str], axes: Sequence[Sequence[Any]]) -> None:
        self.names = tuple(names)
        self.axes = dict(zip(self.names, (list(a) for a in axes), strict=True))
        self._sizes = [len(a) for a in self.axes.values()]
        self._len = math.prod(self._sizes)

    def __len__(self) -> int:
        return self._len

    def __getitem__(self, index: Any) -> Any:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._len))]
        if index < 0:
            index += self._len
        if not 0 <= index < self._len:
            raise IndexError(f"point {index} of a grid of {self._len}")
        values = []
        for size in reversed(self._sizes):
            index, position = divmod(index, size)
            values.append(position)
        values.reverse()
        return {
            name: axis[position]
            for (name, axis), position in zip(self.axes.items(), values, strict=True)
        }

    def __iter__(self) -> Iterator[dict[str, Any]]:
        for combo in itertools.product(*self.axes.values()):
            yield dict(zip(self.names, combo, strict=True))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Sequence) and list(self) == list(other)

    __hash__ = None  # type: ignore[assignment]


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
    elif isinstance(spec, io.IOBase):
        raise ParameterError(
            f"Parameter {name!r} is an open file: give the values it holds as a "
            "list (e.g. f.read().split()), or mesa_nb.Fixed(f) to pass the file "
            "itself to every run.",
            field=name,
        )
    elif isinstance(spec, Iterable):
        try:
            values = read_at_most(spec, f"Parameter {name!r}", name)
        except ParameterError:
            raise
        except Exception as exc:
            raise ParameterError(
                f"Parameter {name!r} could not be read as values to sweep "
                f"({type(exc).__name__}: {exc}): give a list, or "
                "mesa_nb.Fixed(value) to hold it constant.",
                field=name,
            ) from None
    else:
        return None
    if values is not None and not values:
        raise ParameterError(
            f"Parameter {name!r} has no values to sweep. Give at least one value, "
            f"or remove {name!r} to use the model's default.",
            field=name,
        )
    return values


def read_at_most(
    values: Iterable[Any], what: str, field: str | None = None
) -> list[Any]:
    """The items of ``values`` as a list, read once (a generator is used up),
    but never more than :data:`~.limits.MAX_RUNS`: past that (an endless
    generator, ``range(10**12)``) reading stops with a :class:`ParameterError`
    about ``what``, before memory runs out."""
    try:
        too_many = isinstance(values, Sized) and len(values) > MAX_RUNS
    except OverflowError:  # a range longer than sys.maxsize
        too_many = True
    read = [] if too_many else list(itertools.islice(values, MAX_RUNS + 1))
    if too_many or len(read) > MAX_RUNS:
        raise ParameterError(
            f"{what} gives more than {MAX_RUNS:,} values, more than the runs one "
            "sweep may hold (reading stopped there): give fewer values, e.g. "
            "itertools.islice(values, 1000), or sample a range with a design "
            "(design='lhs').",
            field=field,
        )
    return read


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
    sampled = tuple(
        n
        for n, axis in zip(names, axes, strict=True)
        if any(isinstance(v, Sampler) for v in axis)
    )
    return ParameterSpace(names, Grid(names, axes), tuple(swept), sampled)


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
    if isinstance(parameters, Design):
        space = points_space(parameters.records(), "design")
        swept = tuple(dict.fromkeys((*parameters.names, *space.swept)))
        return ParameterSpace(
            space.names, space.points, swept, space.sampled, parameters
        )
    if isinstance(parameters, pd.DataFrame):
        records = [
            {str(k): v for k, v in row.items()}
            for row in parameters.astype(object).to_dict("records")
        ]
        return points_space(records, "DataFrame of points")
    if isinstance(parameters, Mapping):
        return _from_mapping(parameters)
    if isinstance(parameters, Iterator):
        parameters = read_at_most(parameters, "The iterator of points")
    if isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        parameters = list(parameters)
        if parameters and all(mesa_adapter.is_scenario(p) for p in parameters):
            return _from_mapping({"scenario": parameters})  # Mesa's experiments
        return points_space(parameters, "list of points")
    raise ParameterError(
        f"parameters must be a dict of name -> value(s), a list of dicts or a "
        f"pandas DataFrame, not {type(parameters).__name__}."
    )
