"""One sweep spec: what a sweep is, as data every front end writes and reads.

A :class:`SweepSpec` is the model, the parameters as given (values, lists,
ranges for a design, or explicit points) and the options
(:class:`~.options.SweepOptions`). It is rendered as a store's record, an
experiment file, a ``%%batchrun`` cell and a dry run, and each of those is
read back into the same spec (:meth:`SweepSpec.to_dict` /
:meth:`SweepSpec.from_dict`; the cell and the file are written by the api
layer from this dict). Values stay Python values here: each writer encodes
them its own way (JSON with tags, TOML, Python source).
"""

from __future__ import annotations

import os
import reprlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from . import mesa_adapter
from .designs import DESIGNS, Design, Range, between, integers, make_design, one_of
from .errors import ParameterError, SweepOptionError
from .options import RUN, SPEC, SweepOptions
from .options import option as option_named
from .parameters import Fixed
from .scenarios import NO_SEED, scenario_seed

#: The spec's format, written with it; readers refuse other formats.
SPEC_FORMAT = "mesa_nb-sweep/1"

#: How a range is written (experiment files, stores): ``{"between": [0, 1]}``.
RANGE_MAKERS: dict[str, Callable[..., Range]] = {
    "between": between,
    "integers": integers,
    "one_of": one_of,
}


def range_to_dict(value: Range) -> dict[str, list[Any]]:
    """``between(0, 1)`` -> ``{"between": [0.0, 1.0]}`` (read by :func:`range_of`)."""
    if value.kind == "float":
        return {"between": [value.low, value.high]}
    if value.kind == "int":
        return {"integers": [value.low, value.high]}
    return {"one_of": list(value.choices)}


def is_range_dict(value: Any) -> bool:
    """Whether ``value`` is a written range (``{"between": [0, 1]}``)."""
    return (
        isinstance(value, Mapping)
        and len(value) == 1
        and next(iter(value)) in RANGE_MAKERS
        and isinstance(next(iter(value.values())), list | tuple)
    )


def range_of(value: Mapping[str, Any]) -> Range:
    """The :class:`Range` of a written range."""
    ((kind, args),) = value.items()
    return RANGE_MAKERS[kind](*args)


def model_reference(model_cls: Any) -> str:
    """``package.module:Class``: how a spec names a model (or scenario) class."""
    if isinstance(model_cls, str):
        return model_cls
    return f"{model_cls.__module__}:{model_cls.__qualname__}"


def scenario_to_dict(scenario: Any) -> dict[str, Any]:
    """A Mesa ``Scenario`` as data: its class, fields, exact seed and (Mesa 4)
    ids; :func:`scenario_from_dict` builds the same scenario again."""
    written: dict[str, Any] = {"scenario": model_reference(type(scenario))}
    written["fields"] = {
        str(k): _plain(v) for k, v in mesa_adapter.scenario_values(scenario).items()
    }
    seed = scenario_seed(scenario)
    if seed is not NO_SEED:
        written["rng"] = _plain(seed)
    for name, value in mesa_adapter.scenario_ids(scenario).items():
        if value is not None:
            written[name] = value
    return written


def is_scenario_dict(value: Any) -> bool:
    """Whether ``value`` is a written scenario (:func:`scenario_to_dict`)."""
    return isinstance(value, Mapping) and {"scenario", "fields"} <= set(value)


def scenario_from_dict(
    written: Mapping[str, Any], resolve: Callable[[str, str], Any]
) -> Any:
    """The scenario :func:`scenario_to_dict` wrote (``resolve`` turns its class
    reference into the class); the written data itself while the class is
    kept as text."""
    cls = resolve(written["scenario"], "scenario")
    if not isinstance(cls, type):
        return dict(written)
    names = ("rng", *mesa_adapter.scenario_id_names())
    extra = {k: written[k] for k in names if k in written}
    return cls(**extra, **written["fields"])


def _plain(value: Any) -> Any:
    """A parameter value as a spec holds it: ranges, tuples, arrays and Python
    ``range`` objects as lists, numpy scalars as Python numbers, Mesa
    scenarios as :func:`scenario_to_dict` writes them."""
    if mesa_adapter.is_scenario(value):
        return scenario_to_dict(value)
    if isinstance(value, Range):
        return range_to_dict(value)
    if isinstance(value, Fixed):
        return {"fixed": _plain(value.value)}
    if isinstance(value, range | tuple | np.ndarray | pd.Series):
        return [_plain(v) for v in value]
    if isinstance(value, list):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _from_plain(value: Any, resolve: Callable[[str, str], Any]) -> Any:
    if is_range_dict(value):
        return range_of(value)
    if isinstance(value, Mapping) and set(value) == {"fixed"}:
        return Fixed(value["fixed"])
    if isinstance(value, list) and value and all(map(is_scenario_dict, value)):
        return [scenario_from_dict(v, resolve) for v in value]
    return value


#: A parameter value as plain data, and back (for other specs that hold values).
to_plain = _plain
from_plain = _from_plain


@dataclass(frozen=True)
class SweepSpec:
    """What a sweep is: model, parameters and options.

    ``parameters`` is what the planner takes: ``{name: value or values}``
    (values may be ranges when ``options.design`` names a design), a list of
    ``{name: value}`` points, a DataFrame, or a :class:`Design`.
    ``design_seed`` and ``design_options`` record a :class:`Design` made in
    code (its own seed, Morris levels...); a design named by the
    ``design`` option is drawn with the sweep's master seed.
    """

    model: Any
    parameters: Any
    options: SweepOptions = field(default_factory=SweepOptions.of)
    design_seed: int | None = None
    design_options: Mapping[str, Any] = field(default_factory=dict)

    @classmethod
    def of(cls, model: Any, parameters: Any, options: SweepOptions) -> SweepSpec:
        """The spec of ``sweep(model, parameters, **options)``; a :class:`Design`
        in ``parameters`` is unpacked into its ranges, constants and options."""
        if isinstance(parameters, Design):
            described = parameters.describe()
            samples = described["options"].get(
                "n", described["options"].get("trajectories")
            )
            extra = {
                k: v
                for k, v in described["options"].items()
                if k not in ("n", "trajectories")
            }
            return cls(
                model,
                {**parameters.ranges, **_constants(parameters.fixed)},
                options.replace(design=parameters.method, samples=samples),
                design_seed=parameters.seed,
                design_options=extra,
            )
        if (
            isinstance(parameters, list | tuple)
            and parameters
            and all(map(mesa_adapter.is_scenario, parameters))
        ):  # Mesa's experiments (from_dataframe, spawn_replications)
            parameters = {"scenario": list(parameters)}
        return cls(model, parameters, options)

    # -- what the planner takes ---------------------------------------------------
    @property
    def model_name(self) -> str:
        return model_reference(self.model)

    def ranges(self) -> dict[str, Range]:
        """The sampled parameters of a design."""
        if not isinstance(self.parameters, Mapping):
            return {}
        return {n: v for n, v in self.parameters.items() if isinstance(v, Range)}

    def planner_parameters(self, master_seed: int | None) -> Any:
        """The parameters as the planner takes them: with a design, the design
        drawn with its own seed or else ``master_seed``, the other names its
        constants (a one-item list is its item, as a grid reads it).

        Raises :class:`ParameterError` for ranges without a design, a design
        without ranges, or values a grid would sweep (a list, tuple, range,
        array...) given with a design, before any run.
        """
        design = self.options.design
        ranges = self.ranges()
        if design is None:
            if ranges:
                names = ", ".join(ranges)
                raise ParameterError(
                    f"{names}: a range needs a design to sample it: choose one, e.g. "
                    f"design='lhs' (--design lhs), or {', '.join(DESIGNS)}.",
                    field=next(iter(ranges)),
                )
            return self.parameters
        constants = {
            n: _design_constant(n, v)
            for n, v in self.parameters.items()
            if n not in ranges
        }
        if not ranges:
            raise SweepOptionError(
                f"design {design!r}: give the sampled parameters as ranges, e.g. "
                "x = between(0.1, 0.9), k = integers(1, 5), kind = one_of('a', 'b').",
                field="design",
            )
        seed = self.design_seed if self.design_seed is not None else master_seed
        if self.design_options:
            function = DESIGNS[design]
            size = self.options.samples
            if size is None:
                return make_design(design, ranges, None, seed, constants)
            return function(
                ranges, size, seed=seed, fixed=constants, **self.design_options
            )
        return make_design(design, ranges, self.options.samples, seed, constants)

    # -- as data ---------------------------------------------------------------------
    def to_dict(self, stages: tuple[str, ...] = (SPEC, RUN)) -> dict[str, Any]:
        """The spec as plain data (values as Python objects; read back by
        :meth:`from_dict`), with the options of ``stages`` that differ from
        their defaults and can be written (an executor object cannot)."""
        options = {
            name: _written(name, value)
            for name, value in self.options.given().items()
            if option_named(name).stage in stages and _writable(value)
        }
        if isinstance(options.get("rng"), tuple):
            options["rng"] = list(options["rng"])
        document: dict[str, Any] = {"format": SPEC_FORMAT, "model": self.model_name}
        if isinstance(self.parameters, Mapping):
            document["parameters"] = {
                str(n): _plain(v) for n, v in self.parameters.items()
            }
        else:
            document["points"] = _points(self.parameters)
        document["options"] = options
        if self.design_seed is not None:
            document["design_seed"] = self.design_seed
        if self.design_options:
            document["design_options"] = dict(self.design_options)
        return document

    @classmethod
    def from_dict(
        cls,
        document: Mapping[str, Any],
        model: Any = None,
        resolve: Callable[[str, str], Any] | None = None,
    ) -> SweepSpec:
        """The spec of :meth:`to_dict`'s output. ``model`` (the class) wins over
        the written reference; ``resolve(reference, what)`` turns references
        (model, scenario) into classes (default: kept as text)."""
        if document.get("format") != SPEC_FORMAT:
            raise SweepOptionError(
                f"Not a sweep spec of format {SPEC_FORMAT!r}: "
                f"{document.get('format')!r}."
            )
        resolve = resolve or (lambda reference, what: reference)
        if model is None:
            model = resolve(document["model"], "model")
        options = dict(document.get("options", {}))
        if "scenario" in options:
            options["scenario"] = resolve(options["scenario"], "scenario")
        if "parameters" in document:
            parameters: Any = {
                n: _from_plain(v, resolve) for n, v in document["parameters"].items()
            }
        else:
            parameters = [dict(p) for p in document["points"]]
        return cls(
            model,
            parameters,
            SweepOptions.of(**options),
            design_seed=document.get("design_seed"),
            design_options=dict(document.get("design_options", {})),
        )


#: Values a grid sweeps, one axis each (see ``core.parameters``).
_AXES = (list, tuple, range, set, frozenset, np.ndarray, pd.Series, pd.Index)


def _design_constant(name: str, value: Any) -> Any:
    """``value`` as a constant of a design. A grid sweeps a list (tuple,
    range, array...), but a design samples only ranges and would hand the
    list itself to every run: one item is that item (as in a grid, and as
    the form holds a fixed list), more are refused, naming the fix."""
    if isinstance(value, np.ndarray) and value.ndim == 0:
        return value
    if isinstance(value, Iterator) or (isinstance(value, _AXES) and len(value) != 1):
        kind = (
            "an array" if isinstance(value, np.ndarray) else f"a {type(value).__name__}"
        )
        shown = reprlib.repr(value)
        raise ParameterError(
            f"{name} = {shown} is {kind} of values, which a grid sweeps; with a "
            f"design, give a range, e.g. {name} = {_range_hint(value)}, or hold it "
            f"constant with mesa_nb.Fixed({shown}).",
            field=name,
        )
    if isinstance(value, _AXES):
        return next(iter(value))
    return value


def _range_hint(value: Any) -> str:
    """The range that covers the values of ``value`` (Python source)."""
    values = [] if isinstance(value, Iterator) else _plain(list(value))
    numbers = [
        v for v in values if isinstance(v, int | float) and not isinstance(v, bool)
    ]
    if values and len(numbers) == len(values) and min(numbers) < max(numbers):
        maker = "integers" if all(isinstance(v, int) for v in numbers) else "between"
        return f"{maker}({min(numbers)!r}, {max(numbers)!r})"
    if len(values) > 1:
        return "one_of(" + ", ".join(reprlib.repr(v) for v in values[:6]) + ")"
    return "between(0.1, 0.9)"


def _written(name: str, value: Any) -> Any:
    if name == "scenario":
        return model_reference(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return dict(value)
    return value


def _constants(fixed: Mapping[str, Any]) -> dict[str, Any]:
    """A design's constants as parameters: a list held as itself (``Fixed``),
    not swept."""
    return {
        n: Fixed(v) if isinstance(v, list | tuple | range | np.ndarray) else v
        for n, v in fixed.items()
    }


def _writable(value: Any) -> bool:
    if isinstance(value, type | os.PathLike):
        return True  # a class: written as its reference; a path as text
    if isinstance(value, list | tuple):
        return all(_writable(v) for v in value)
    if isinstance(value, Mapping):  # precision: {reporter: half-width}
        return all(isinstance(k, str) and _writable(v) for k, v in value.items())
    return value is None or isinstance(value, str | int | float | bool)


def _points(parameters: Any) -> list[dict[str, Any]]:
    if isinstance(parameters, pd.DataFrame):
        records = parameters.to_dict("records")
    elif isinstance(parameters, Sequence) and not isinstance(parameters, str | bytes):
        records = [dict(p) for p in parameters]
    else:
        records = [dict(p) for p in list(parameters)]
    return [{str(k): _plain(v) for k, v in point.items()} for point in records]


__all__ = [
    "RANGE_MAKERS",
    "SPEC_FORMAT",
    "SweepSpec",
    "from_plain",
    "is_range_dict",
    "is_scenario_dict",
    "model_reference",
    "range_of",
    "range_to_dict",
    "scenario_from_dict",
    "scenario_to_dict",
    "to_plain",
]
