"""Models that take their parameters as a Mesa ``Scenario`` (3.5 and 4).

Such a model's ``__init__`` takes ``scenario=`` (and maybe other keywords).
A sweep may name the fields of its Scenario class as parameters; every run
builds its own ``ScenarioClass(rng=<run seed>, **fields)`` in the worker (a
scenario is bound to the one model it is given to, so none is ever shared).

A sweep may also be given Mesa's own experiment objects: a list of scenarios
(``Scenario.from_dataframe(df)``, ``s.spawn_replications(n)``, or made one by
one). On Mesa 4 every scenario holds its own generator, and each run gets
exactly that generator: its seed is recovered as an int or a list of uint32
words (:func:`exact_seed`) that ``np.random.default_rng`` turns into the same
generator, checked against the scenario's ``initial_rng_state``.
"""

from __future__ import annotations

import inspect
import types
import typing
import warnings
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from . import mesa_adapter
from .errors import ModelClassError, ParameterError, SweepOptionError
from .parameters import ParameterSpace, points_space


@dataclass(frozen=True)
class ScenarioSpec:
    """How runs of a model build their scenario: its class and field defaults.

    For scenarios given ready-made (:func:`unpack_scenarios`): ``given``, the
    names they set (fields, and on Mesa 4 their ``scenario_id`` and
    ``replication_id``), which always go back into the run's scenario, and
    ``own_seeds``, whether they carry the runs' seeds.
    """

    cls: type
    defaults: dict[str, Any]
    given: tuple[str, ...] = ()
    own_seeds: bool = False

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
    builds its own ``S``, and the runs table shows the fields. Scenarios that
    carry their own seed seed their runs with it (the points' ``rng``): on
    Mesa 4 every scenario does (it holds a generator, whose exact seed is
    recovered, :func:`scenario_seed`), and its ``scenario_id`` and
    ``replication_id`` are kept as parameters too, so each run builds the very
    scenario it was given. On Mesa 3.5 a scenario's ``rng`` is a plain field;
    without one, runs are seeded by the sweep.
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
    seeds = [scenario_seed(v, i) for i, v in enumerate(values)]
    if mesa_adapter.scenario_generator(values[0]) is not None:
        seeds = uniform_seeds(seeds)  # Mesa 4: an int and its words seed alike
    own_rng = [seed is not NO_SEED for seed in seeds]
    if any(own_rng) and not all(own_rng):
        raise ParameterError(
            "Some scenarios carry their own rng and others do not: give every "
            "scenario an rng, or none (then each run gets a derived seed).",
            field="scenario",
        )
    points = []
    given: dict[str, None] = {}
    for point, seed in zip(space.points, seeds, strict=True):
        rest = {k: v for k, v in point.items() if k != "scenario"}
        fields = {
            **mesa_adapter.scenario_values(point["scenario"]),
            **mesa_adapter.scenario_ids(point["scenario"]),
        }
        both = sorted(set(fields) & set(rest))
        if both:
            raise ParameterError(
                f"{both[0]!r} is set both as a parameter and in the scenarios: "
                "set it in one place.",
                field=both[0],
            )
        if seed is not NO_SEED:
            rest["rng"] = seed
        given.update(dict.fromkeys(fields))
        points.append({**rest, **fields})
    cls = classes.pop()
    spec = ScenarioSpec(
        cls, _given_defaults(cls, values), tuple(given), own_seeds=all(own_rng)
    )
    return points_space(points, "list of scenarios"), spec


def _given_defaults(cls: type, scenarios: Sequence[Any]) -> dict[str, Any]:
    """The fields of ``cls`` and of the scenarios given (Mesa 4's
    ``from_dataframe`` makes base ``Scenario`` instances whose fields are
    their own): a field the class does not declare shows its first value."""
    defaults = dict(mesa_adapter.scenario_defaults(cls))
    for scenario in scenarios:
        for name, value in mesa_adapter.scenario_values(scenario).items():
            defaults.setdefault(name, value)
    for name in mesa_adapter.scenario_id_names():
        defaults.setdefault(name, None)
    return defaults


def check_scenario_seeding(
    scenario: ScenarioSpec | None, iterations: int, seed: Any = None, rng: Any = None
) -> None:
    """Refuse to seed again runs whose scenarios carry their own seeds.

    Their runs are the scenarios as given: more iterations would repeat each
    one exactly, and ``seed=`` / ``rng=`` would replace their generators.
    """
    if scenario is None or not scenario.own_seeds:
        return
    if seed is not None or rng is not None:
        name = "seed" if seed is not None else "rng"
        raise SweepOptionError(
            f"The scenarios swept carry their own seeds (each run gets its "
            f"scenario's generator), so {name}= has nothing to seed: drop {name}=, "
            "or sweep the scenarios' fields ({field: [values]}), whose runs the "
            "sweep seeds.",
            field=name,
        )
    if iterations > 1:
        raise SweepOptionError(
            f"iterations={iterations} would run each scenario {iterations} times "
            "with the same generator (the scenarios carry their own seeds): for "
            f"replications give scenario.spawn_replications({iterations}) (or "
            f"Scenario.from_dataframe(df, replications={iterations})), or sweep "
            "the fields with iterations.",
            field="iterations",
        )


# -- the exact seed of a scenario's generator ------------------------------------------
class _NoSeed:
    def __repr__(self) -> str:
        return "NO_SEED"


#: What :func:`scenario_seed` gives for a scenario without its own seed (Mesa
#: 3.5, ``rng=None``).
NO_SEED: Any = _NoSeed()
_WORD = 2**32
_INT_SEED_LIMIT = 2**63  # seeds above are written as words: they fit int64 columns


def _words(value: Any) -> list[int]:
    """The uint32 words numpy makes of an entropy value or a spawn key
    (``SeedSequence``'s own coercion: an int little-endian, a sequence item
    by item)."""
    if isinstance(value, bool):
        raise TypeError("a bool is no seed")
    if isinstance(value, int | np.integer):
        number = int(value)
        if number < 0:
            raise ValueError("a seed is 0 or more")
        words = [number % _WORD]
        while number >= _WORD:
            number //= _WORD
            words.append(number % _WORD)
        return words
    if isinstance(value, np.ndarray | Sequence) and not isinstance(value, str | bytes):
        return [word for item in value for word in _words(item)]
    raise TypeError(f"cannot read {type(value).__name__} as seed words")


def exact_seed(sequence: np.random.SeedSequence) -> int | list[int]:
    """A seed ``s`` with ``SeedSequence(s)`` equal to ``sequence`` (same state).

    numpy assembles a seed sequence's entropy as the words of its entropy,
    padded with zeros to its pool size when it has a spawn key, followed by
    the words of the spawn key; ``SeedSequence(words)`` assembles the same
    words. A plain whole number below 2**63 (no spawn key) stays that number.
    """
    run = _words(sequence.entropy)
    key = _words(tuple(sequence.spawn_key))
    if key and len(run) < sequence.pool_size:
        run += [0] * (sequence.pool_size - len(run))
    words = run + key
    number = sum(word << (32 * i) for i, word in enumerate(words))
    if number < _INT_SEED_LIMIT and _words(number) == words:
        return number
    return words


def seed_rebuilds(seed: Any, state: dict[str, Any]) -> bool:
    """Whether ``np.random.default_rng(seed)`` starts in ``state``."""
    try:
        bits = np.random.PCG64(np.random.SeedSequence(seed))
    except (TypeError, ValueError):
        return False
    return bits.state == state


def scenario_seed(scenario: Any, index: int = 0) -> Any:
    """The seed that rebuilds ``scenario``'s generator exactly, or
    :data:`NO_SEED` (a Mesa 3.5 scenario without ``rng``).

    Mesa 3.5: its ``rng`` field as given. Mesa 4: recovered from its
    generator's seed sequence and checked against its ``initial_rng_state``;
    a generator that no seed gives again (made from a numpy Generator that
    had drawn, from another bit generator, or unpickled, which loses the
    seed sequence) is refused.
    """
    generator = mesa_adapter.scenario_generator(scenario)
    if generator is None:
        rng = getattr(scenario, "rng", None)
        return NO_SEED if rng is None else rng
    sequence, state = generator
    seed = None
    if isinstance(sequence, np.random.SeedSequence):
        try:
            seed = exact_seed(sequence)
        except (TypeError, ValueError):
            seed = None
    if seed is None or not seed_rebuilds(seed, state):
        name = type(scenario).__name__
        ids = mesa_adapter.scenario_ids(scenario)
        named = "".join(f", {k}={v!r}" for k, v in ids.items())
        raise ParameterError(
            f"Scenario {index} of the sweep ({name}{named}) holds a generator no "
            "seed gives again (made from a numpy Generator that had drawn, or "
            "another bit generator, or unpickled, which loses its seed), so its "
            f"runs could not be repeated: build it with rng=<int> ({name}(rng=42, "
            "...)), or take it from spawn_replications(n) of one built so.",
            field="scenario",
        )
    return seed


def uniform_seeds(seeds: list[Any]) -> list[Any]:
    """Whole-number seeds as words too when some seeds are words (one kind
    of value per column). On Mesa 4 an int ``s`` and ``[words of s]`` seed a
    scenario alike (Mesa 3.5 seeds ``model.random`` from an int only)."""
    if not any(isinstance(seed, list) for seed in seeds):
        return seeds
    return [
        _words(seed)
        if isinstance(seed, int | np.integer) and not isinstance(seed, bool)
        else seed
        for seed in seeds
    ]
