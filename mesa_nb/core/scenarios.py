"""Models that take their parameters as a Mesa 3.5 ``Scenario``.

Such a model's ``__init__`` takes ``scenario=`` (and maybe other keywords).
A sweep may name the fields of its Scenario class as parameters; every run
builds its own ``ScenarioClass(rng=<run seed>, **fields)`` in the worker (a
scenario is bound to the one model it is given to, so none is ever shared).
"""

from __future__ import annotations

import inspect
import types
import typing
import warnings
import weakref
from dataclasses import dataclass
from typing import Any

from . import mesa_adapter
from .errors import ModelClassError, ParameterError
from .parameters import ParameterSpace, points_space


@dataclass(frozen=True)
class ScenarioSpec:
    """How runs of a model build their scenario: its class and field defaults."""

    cls: type
    defaults: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.cls.__module__}.{self.cls.__qualname__}"

    def build(self, fields: dict[str, Any], seed: Any) -> Any:
        """A new scenario for one run, seeded with the run's seed."""
        return self.cls(rng=seed, **fields)

    def listing(self) -> str:
        """``n=100, width=10`` (what the fields are and their defaults)."""
        return ", ".join(f"{k}={v!r}" for k, v in self.defaults.items())


def takes_scenario(model_cls: type) -> bool:
    """Whether the model's ``__init__`` has a ``scenario`` parameter."""
    try:
        return "scenario" in inspect.signature(model_cls).parameters
    except (TypeError, ValueError):
        return False


def _annotated_scenario_class(model_cls: type) -> type | None:
    try:
        hints = typing.get_type_hints(model_cls.__init__)
    except Exception:  # an annotation naming something not importable
        return None
    hint = hints.get("scenario")
    candidates = [hint]
    if typing.get_origin(hint) in (typing.Union, types.UnionType):
        candidates = list(typing.get_args(hint))
    for candidate in candidates:
        if mesa_adapter.is_scenario_class(candidate):
            return candidate
    return None


def _default_scenario_class(model_cls: type) -> type | None:
    """The class of the scenario a model builds for itself when given none."""
    params = inspect.signature(model_cls).parameters.values()
    variadic = (inspect.Parameter.VAR_POSITIONAL, inspect.Parameter.VAR_KEYWORD)
    if any(p.default is p.empty and p.kind not in variadic for p in params):
        return None  # cannot build one without the user's values
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model = model_cls()
    except Exception:
        return None
    scenario = getattr(model, "scenario", None)
    mesa_adapter.release_model(model)
    found = type(scenario)
    if found is mesa_adapter.Scenario or not mesa_adapter.is_scenario_class(found):
        return None  # the bare base class: no fields to sweep
    return found


def scenario_spec(model_cls: type, explicit: Any = None) -> ScenarioSpec | None:
    """The Scenario class a model's runs are built with, or None.

    ``explicit`` (a Scenario subclass) wins; else the annotation of the
    model's ``scenario`` parameter; else the class of the scenario a model
    built with its defaults ends up with.
    """
    if explicit is not None:
        if not mesa_adapter.is_scenario_class(explicit):
            raise ParameterError(
                f"scenario= must be a Scenario subclass (class MyScenario(Scenario): "
                f"n: int = 10), got {explicit!r}.",
                field="scenario",
            )
        if not takes_scenario(model_cls):
            raise ModelClassError(
                f"{model_cls.__name__}.__init__ takes no `scenario`, so scenario="
                f"{explicit.__name__} cannot be given to it: drop scenario=.",
                field="scenario",
            )
        cls = explicit
    elif mesa_adapter.Scenario is None or not takes_scenario(model_cls):
        return None
    else:
        cls = _annotated_scenario_class(model_cls) or _cached_default(model_cls)
        if cls is None:
            return None
    return ScenarioSpec(cls, mesa_adapter.scenario_defaults(cls))


_DEFAULT_CLASSES: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def _cached_default(model_cls: type) -> type | None:
    """:func:`_default_scenario_class`, built once per model class."""
    if model_cls not in _DEFAULT_CLASSES:
        _DEFAULT_CLASSES[model_cls] = _default_scenario_class(model_cls)
    return _DEFAULT_CLASSES[model_cls]


def unpack_scenarios(
    space: ParameterSpace,
) -> tuple[ParameterSpace, ScenarioSpec | None]:
    """Sweep points given as ready-made scenarios become points of their fields.

    ``{"scenario": [S(n=10), S(n=20)]}`` sweeps ``n`` over 10 and 20: each run
    builds its own ``S`` (seeded by the run), and the runs table shows the
    fields. Scenarios that carry their own ``rng`` seed their runs with it.
    """
    if "scenario" not in space.names:
        return space, None
    values = [point["scenario"] for point in space.points]
    if not all(mesa_adapter.is_scenario(v) for v in values):
        return space, None
    classes = {type(v) for v in values}
    if len(classes) > 1:
        names = ", ".join(sorted(c.__name__ for c in classes))
        raise ParameterError(
            f"The scenarios swept are of different classes ({names}): sweep the "
            "fields of one Scenario class, or run one sweep per class.",
            field="scenario",
        )
    own_rng = [v.rng is not None for v in values]
    if any(own_rng) and not all(own_rng):
        raise ParameterError(
            "Some scenarios carry their own rng and others do not: give every "
            "scenario an rng, or none (then each run gets a derived seed).",
            field="scenario",
        )
    points = []
    for point in space.points:
        rest = {k: v for k, v in point.items() if k != "scenario"}
        fields = mesa_adapter.scenario_values(point["scenario"])
        both = sorted(set(fields) & set(rest))
        if both:
            raise ParameterError(
                f"{both[0]!r} is set both as a parameter and in the scenarios: "
                "set it in one place.",
                field=both[0],
            )
        if all(own_rng):
            rest["rng"] = point["scenario"].rng
        points.append({**rest, **fields})
    cls = classes.pop()
    spec = ScenarioSpec(cls, mesa_adapter.scenario_defaults(cls))
    return points_space(points, "list of scenarios"), spec
