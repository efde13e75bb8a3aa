"""Validate a sweep and lay out its runs, before any of them starts."""

from __future__ import annotations

import bisect
import difflib
import enum
import hashlib
import inspect
import itertools
import os
import re
import typing
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np

from . import mesa_adapter
from .errors import ModelClassError, ParameterError, SweepOptionError, warn_user
from .limits import MAX_RUNS
from .options import SweepOptions, option
from .parameters import ParameterSpace, PerRun, Sampler, expand_parameters
from .precision import AUTO, PrecisionRule
from .records import RunSpec, run_parameters
from .scenarios import (
    ScenarioSpec,
    check_scenario_seeding,
    scenario_spec,
    unpack_scenarios,
)
from .seeding import derive_seed, fresh_master_seed, point_seed

SEED_NAMES = ("rng", "seed")


@dataclass(frozen=True)
class RunSettings:
    """What every run of a sweep shares; shipped to workers with each task.

    ``scenario``: the scenario each run builds (its ``scenario_fields`` are
    taken out of the keyword arguments); ``until``: the model time runs end at;
    ``exact_values``: keep reporter values as they were (see
    :func:`~.columns.infer_array`), and ``mesa_records``: keep the records
    the installed ``mesa.batch_run`` keeps, as ``batch_run`` does.
    """

    model_cls: type
    max_steps: int
    data_collection_period: int
    seed_kwarg: str | None
    scenario: ScenarioSpec | None = None
    scenario_fields: tuple[str, ...] = ()
    until: float | None = None
    exact_values: bool = False
    mesa_records: bool = False
    timeout: float | None = None
    check_reproducible: bool = True


@dataclass(frozen=True)
class Seeding:
    """Where the runs' seeds come from.

    ``source`` is ``"seed"`` (a master seed was given), ``"entropy"`` (one was
    drawn, or taken from a store being resumed), ``"rng"`` (one seed per
    iteration) or ``"parameter"`` (the parameters set ``rng``/``seed``).
    ``scheme`` says how a master seed becomes a run's: ``"point"`` (from what
    the run is: its point and iteration, :func:`~.seeding.point_seed`) or
    ``"run"`` (from its RunId, as stores made before 0.2 did).
    """

    source: str
    master_seed: int | None = None
    per_iteration: tuple[Any, ...] = ()
    parameter: str | None = None
    scheme: str = "point"

    def seed_of(
        self, run_id: int, iteration: int, point: dict[str, Any], key: int
    ) -> Any:
        """The seed of one run (``key``: its point's key)."""
        if self.source == "rng":
            return self.per_iteration[iteration]
        if self.source == "parameter":
            return point[self.parameter]
        if self.scheme == "run":
            return derive_seed(self.master_seed, run_id)
        return point_seed(self.master_seed, key, iteration)


# -- what a run is: its point's key ------------------------------------------------
_ADDRESS = re.compile(r" at 0x[0-9a-fA-F]+")


def canonical(value: Any) -> str:
    """A text that is the same for equal parameter values in any process or
    session (types kept apart: ``1``, ``1.0`` and ``True`` differ)."""
    if isinstance(value, np.generic):
        value = value.item()
    if value is None or isinstance(value, bool | int | float | str | bytes):
        return f"{type(value).__name__}:{value!r}"
    if isinstance(value, list | tuple | set | frozenset):
        items = [canonical(v) for v in value]
        if isinstance(value, set | frozenset):
            items.sort()
        return f"{type(value).__name__}[{','.join(items)}]"
    if isinstance(value, dict):
        items = sorted(f"{canonical(k)}={canonical(v)}" for k, v in value.items())
        return "dict{" + ",".join(items) + "}"
    if isinstance(value, Sampler):
        return "drawn:" + canonical(value.function)
    if isinstance(value, PerRun):
        return f"per-run:{value.label}"
    if isinstance(value, enum.Enum):
        return f"{type(value).__module__}.{type(value).__qualname__}.{value.name}"
    if isinstance(value, type) or callable(value):
        module = getattr(value, "__module__", "")
        return f"{module}.{getattr(value, '__qualname__', repr(value))}"
    kind = type(value)
    return f"{kind.__module__}.{kind.__qualname__}:{_ADDRESS.sub('', repr(value))}"


def _point_text(point: dict[str, Any], names: Sequence[str]) -> str:
    return ";".join(f"{name}={canonical(point[name])}" for name in sorted(names))


def _occurrences(texts: Sequence[str]) -> list[int] | None:
    """How many equal items stand before each one (None: all distinct)."""
    seen: dict[str, int] = {}
    found = []
    for text in texts:
        found.append(seen.get(text, 0))
        seen[text] = found[-1] + 1
    return found if any(found) else None


class PointKeys:
    """The key of each point of a sweep: a hash of the values of its swept
    parameters (``swept``; constants do not tell points apart, so a value
    given at its default or left out, a class or a factory of it, keep the
    runs' seeds) and of how many equal points stand before it (so repeated
    points stay distinct runs). A grid's points are keyed on demand, without
    laying the grid out."""

    def __init__(
        self, points: Sequence[dict[str, Any]], swept: Sequence[str] = ()
    ) -> None:
        self.points, self.swept = points, tuple(swept)
        axes = getattr(points, "axes", None)
        self._axes: list[list[int] | None] | None = None
        self._repeats: list[int] | None = None
        if axes is not None:
            found = [_occurrences([canonical(v) for v in a]) for a in axes.values()]
            self._axes = found if any(f is not None for f in found) else None
            self._sizes = [len(a) for a in axes.values()]
        else:
            self._repeats = _occurrences([_point_text(p, self.swept) for p in points])

    def _repeat(self, index: int) -> Any:
        if self._repeats is not None:
            return self._repeats[index]
        if self._axes is None:
            return 0
        positions = []
        for size in reversed(self._sizes):
            index, position = divmod(index, size)
            positions.append(position)
        positions.reverse()
        return tuple(
            0 if seen is None else seen[p]
            for seen, p in zip(self._axes, positions, strict=True)
        )

    def __call__(self, index: int, point: dict[str, Any]) -> int:
        text = f"{_point_text(point, self.swept)}#{self._repeat(index)}"
        return int.from_bytes(hashlib.sha256(text.encode()).digest()[:8], "little")


@dataclass(frozen=True)
class Block:
    """Runs numbered together: these points (indices) x these iterations,
    iteration-major, as Mesa numbers a sweep's runs."""

    points: range
    iterations: range

    def __len__(self) -> int:
        return len(self.points) * len(self.iterations)


class Runs(Sequence):
    """The runs of a sweep, made (and seeded) one at a time on demand.

    RunIds are numbered as Mesa numbers them: iteration-major, then the
    points in order; a store that grew numbers its new runs after the ones
    it had, block by block (:class:`Block`).
    """

    def __init__(
        self,
        points: Sequence[dict[str, Any]],
        iterations: int,
        seeding: Seeding,
        blocks: Sequence[Block] | None = None,
        swept: Sequence[str] = (),
    ) -> None:
        self.points, self.iterations, self.seeding = points, iterations, seeding
        self.blocks = tuple(blocks or (Block(range(len(points)), range(iterations)),))
        self._starts = list(
            itertools.accumulate((len(b) for b in self.blocks), initial=0)
        )
        self._keys = PointKeys(points, swept) if seeding.scheme == "point" else None

    def __len__(self) -> int:
        return self._starts[-1]

    def locate(self, run_id: int) -> tuple[int, int]:
        """The point (its index) and the iteration of run ``run_id``."""
        if run_id < 0:
            run_id += len(self)
        if not 0 <= run_id < len(self):
            raise IndexError(f"RunId {run_id} of {len(self)} runs")
        number = bisect.bisect_right(self._starts, run_id) - 1
        block = self.blocks[number]
        turn, position = divmod(run_id - self._starts[number], len(block.points))
        return block.points[position], block.iterations[turn]

    def __getitem__(self, run_id: Any) -> Any:
        if isinstance(run_id, slice):
            return [self[i] for i in range(*run_id.indices(len(self)))]
        if run_id < 0:
            run_id += len(self)
        index, iteration = self.locate(run_id)
        point = self.points[index]
        key = self._keys(index, point) if self._keys is not None else 0
        seed = self.seeding.seed_of(run_id, iteration, point, key)
        return RunSpec(run_id, iteration, point, seed)


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
    spec: dict[str, Any] | None = None  # the sweep spec it was made from
    blocks: tuple[Block, ...] | None = None  # None: one block (a fresh sweep)
    #: iterations="auto": how precise each point is made (``iterations`` is
    #: then the most replicates a point has so far, ``blocks`` the rounds)
    rule: PrecisionRule | None = None

    @cached_property
    def runs(self) -> Runs:
        """Every run, by RunId (each made when asked for)."""
        space = self.space
        return Runs(
            space.points, self.iterations, self.seeding, self.blocks, space.swept
        )

    def point_keys(self) -> PointKeys:
        """The keys of this plan's points (what a run is, for its seed)."""
        return PointKeys(self.space.points, self.space.swept)

    def aligned(
        self,
        order: Sequence[int],
        blocks: Sequence[Block],
        iterations: int | None = None,
    ) -> SweepPlan:
        """This plan with its points in ``order`` (indices into them) and its
        runs numbered by ``blocks``: the layout of a store it resumes or
        grows (``iterations``: the most replicates a point has there, for an
        auto sweep). Seeds do not change: they follow what each run is."""
        points = tuple(self.space.points[i] for i in order)
        space = replace(self.space, points=points)
        most = self.iterations if iterations is None else iterations
        return replace(self, space=space, blocks=tuple(blocks), iterations=most)

    @property
    def n_runs(self) -> int:
        """Points x iterations (the runs of every block: those planned so far
        for iterations="auto")."""
        if self.blocks is None:
            return len(self.space) * self.iterations
        return sum(len(block) for block in self.blocks)

    def _layout(self) -> tuple[Block, ...]:
        if self.blocks is None:
            return (Block(range(len(self.space)), range(self.iterations)),)
        return self.blocks

    def replicates(self) -> list[tuple[int, int]]:
        """Per point: its replicates planned so far, and the first replicate of
        the last block that gave it some (its last round, in an auto sweep)."""
        found = [(0, 0)] * len(self.space)
        for block in self._layout():
            for index in block.points:
                if block.iterations.stop > found[index][0]:
                    found[index] = (block.iterations.stop, block.iterations.start)
        return found

    def rounds(self) -> int:
        """The most blocks (rounds of an auto sweep) any point is in."""
        counts = [0] * len(self.space)
        for block in self._layout():
            for index in block.points:
                counts[index] += 1
        return max(counts, default=0)

    def with_replicates(self, targets: dict[int, int]) -> SweepPlan:
        """This plan with more replicates for some points (``{point index:
        replicates}``): a round of an auto sweep. The new runs are numbered
        after the others, in blocks of neighbouring points that get the same
        replicates; seeds follow the point and the iteration, as always."""
        have = self.replicates()
        new: list[Block] = []
        for index in sorted(targets):
            start, stop = have[index][0], targets[index]
            if stop <= start:
                continue
            last = new[-1] if new else None
            if (
                last is not None
                and last.points.stop == index
                and last.iterations == range(start, stop)
            ):
                new[-1] = Block(range(last.points.start, index + 1), last.iterations)
            else:
                new.append(Block(range(index, index + 1), range(start, stop)))
        if not new:
            return self
        most = max(self.iterations, *(b.iterations.stop for b in new))
        return replace(self, blocks=(*self._layout(), *new), iterations=most)

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
            "scenario": self.settings.scenario.name if self.settings.scenario else None,
            "until": self.settings.until,
            "timeout": self.settings.timeout,
            "design": self.space.design.describe() if self.space.design else None,
            "spec": self.spec,
            **({"precision": self.rule.definition()} if self.rule else {}),
        }


def _model_signature(model_cls: type) -> inspect.Signature:
    try:
        return inspect.signature(model_cls)
    except (TypeError, ValueError) as exc:  # pragma: no cover - exotic classes
        raise ModelClassError(
            f"Cannot read the parameters of {model_cls.__name__}.__init__: {exc}"
        ) from exc


def model_parameter_names(model_cls: type) -> tuple[str, ...]:
    """The keyword names of the model's ``__init__`` (an empty tuple if unknown)."""
    try:
        return tuple(inspect.signature(model_cls).parameters)
    except (TypeError, ValueError):
        return ()


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


def check_parameter_names(
    model_cls: type, space: ParameterSpace, scenario: ScenarioSpec | None = None
) -> tuple[str, ...]:
    """Refuse unknown and missing names; return the names that are scenario fields.

    A name is a keyword argument of ``__init__`` if it has one of that name,
    else a field of the model's Scenario class (``scenario``), else unknown.
    """
    params = _model_signature(model_cls).parameters
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in params.values())
    keywords = [
        n for n, p in params.items() if p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)
    ]
    fields = scenario.defaults if scenario is not None else {}
    scenario_fields = []
    for name in space.names:
        if name in params or (scenario is not None and name in SEED_NAMES):
            continue
        if name in fields:
            scenario_fields.append(name)
        elif not accepts_any:
            raise _unknown_name(model_cls, name, keywords, scenario)
    missing = [
        n
        for n, p in params.items()
        if p.default is p.empty
        and p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)
        and n not in space.names
        and not (n == "scenario" and scenario is not None)
    ]
    if missing:
        raise ParameterError(
            f"{model_cls.__name__} requires {', '.join(map(repr, missing))} but the "
            "sweep does not give it: add it to the parameters.",
            field=missing[0],
        )
    return tuple(scenario_fields)


def _values_of(space: ParameterSpace, name: str) -> list[Any]:
    axes = getattr(space.points, "axes", None)
    if axes is not None:
        return list(axes[name])
    return [point[name] for point in space.points]


def check_value_kinds(
    model_cls: type, space: ParameterSpace, scenario: ScenarioSpec | None = None
) -> None:
    """Refuse a string where the model's default is a number or a list (say
    ``n = '5, 10'`` for ``n = [5, 10]``): every run would fail on it."""
    params = _model_signature(model_cls).parameters
    defaults = {n: p.default for n, p in params.items() if p.default is not p.empty}
    if scenario is not None:
        defaults = {**scenario.defaults, **defaults}
    for name in space.names:
        default = defaults.get(name)
        if default is None or isinstance(default, str | bytes):
            continue
        if not isinstance(default, int | float | list | tuple) or isinstance(
            default, bool
        ):
            continue
        strings = [v for v in _values_of(space, name) if isinstance(v, str)]
        if strings:
            kind = {"int": "whole number", "float": "number"}.get(
                type(default).__name__, type(default).__name__
            )
            text = strings[0]
            items = ", ".join(part.strip() for part in text.split(",") if part.strip())
            wanted = f"a list, e.g. {name} = [{items}]" if "," in text else f"a {kind}"
            raise ParameterError(
                f"{name} = {text!r} is a string, but {model_cls.__name__}'s default "
                f"for it is {default!r} (a {kind}): give {wanted}, without quotes.",
                field=name,
            )


def _unknown_name(
    model_cls: type, name: str, keywords: list[str], scenario: ScenarioSpec | None
) -> ParameterError:
    shown = [k for k in keywords if not (scenario is not None and k == "scenario")]
    known = shown + list(scenario.defaults if scenario is not None else ())
    close = difflib.get_close_matches(name, known, n=1)
    hint = f" Did you mean {close[0]!r}?" if close else ""
    if scenario is None:
        accepted = f"It accepts: {', '.join(shown) or '(no parameters)'}."
    else:
        accepted = (
            f"Keyword parameters: {', '.join(shown) or '(none)'}; fields of its "
            f"scenario {scenario.cls.__name__}: {scenario.listing() or '(none)'}."
        )
    return ParameterError(
        f"{model_cls.__name__} has no parameter {name!r}.{hint} {accepted}",
        field=name,
    )


def seed_keyword(
    model_cls: type, space: ParameterSpace, scenario: ScenarioSpec | None = None
) -> str | None:
    """The keyword that takes the run's seed: ``rng``, ``seed``, or None.

    None also when the seed goes into the run's scenario instead.
    """
    params = _model_signature(model_cls).parameters
    if scenario is not None:
        return None
    for name in SEED_NAMES:
        if name in space.names:
            return None  # the user seeds the runs through a parameter
    for name in SEED_NAMES:
        if name in params:
            return name
    if any(p.kind is p.VAR_KEYWORD for p in params.values()):
        return "rng"
    return None


def _supply_simulators(model_cls: type, space: ParameterSpace) -> ParameterSpace:
    """Give a parameter annotated with a simulator class (``simulator:
    ABMSimulator = None``, as Mesa 3.3's WolfSheep has) a new one per run,
    unless the sweep sets it. The runs table shows the class's name."""
    try:
        hints = typing.get_type_hints(model_cls.__init__)
    except Exception:
        return space
    params = _model_signature(model_cls).parameters
    wanted = {
        name: PerRun(hint, hint.__name__)
        for name, hint in hints.items()
        if name in params
        and name not in space.names
        and params[name].default is None
        and mesa_adapter.is_simulator_class(hint)
    }
    if not wanted:
        return space
    return space.with_constants(wanted)


def _scenario_route(
    model_cls: type, space: ParameterSpace, explicit: Any
) -> tuple[ParameterSpace, ScenarioSpec | None]:
    """The space with scenario instances unpacked, and the scenario runs build.

    Runs build their own scenario when the model takes one and either the
    sweep sets a field of it or the model has no ``rng``/``seed`` keyword
    (its scenario is then the only way to seed it).
    """
    space, unpacked = unpack_scenarios(space)
    spec = unpacked or scenario_spec(model_cls, explicit)
    if spec is None or "scenario" in space.names:
        return space, None
    params = _model_signature(model_cls).parameters
    sets_field = any(n in spec.defaults and n not in params for n in space.names)
    seedable = any(n in params for n in SEED_NAMES)
    if sets_field or not seedable or unpacked or explicit is not None:
        return space, spec
    return space, None


#: Columns every result table keeps for its runs: no parameter may take them.
RESERVED_NAMES = (
    "RunId",
    "iteration",
    "Step",
    "AgentID",
    "status",
    "steps",
    "reproducible",
    "wall_time",
    "error",
    "traceback",
)


def _check_reserved(space: ParameterSpace) -> None:
    clash = next((n for n in space.names if n in RESERVED_NAMES), None)
    if clash is not None:
        raise ParameterError(
            f"{clash!r} is a column every result table keeps for its runs, so it "
            "cannot also be a parameter: rename the model's parameter.",
            field=clash,
        )


def resolve_processes(processes: int | str | None) -> int:
    """The number of worker processes: ``None`` or ``"all"`` means every core."""
    number = option("processes").check(processes)
    return os.cpu_count() or 1 if number is None else number


def _check_rng_iterations(seeds: tuple[Any, ...], iterations: int | None) -> None:
    if iterations is not None and iterations not in (1, len(seeds)):
        raise SweepOptionError(
            f"rng gives {len(seeds)} seeds (one per iteration) but iterations="
            f"{iterations}: drop iterations, or give {iterations} seeds.",
            field="iterations",
        )


def plan_sweep(
    model_cls: Any,
    parameters: Any,
    options: SweepOptions | None = None,
    *,
    resume_seed: int | None = None,
    warn: bool = True,
    exact_values: bool = False,
    mesa_records: bool = False,
    **given: Any,
) -> SweepPlan:
    """Check everything that can be checked before any run starts.

    Args:
        options: the sweep's options (:class:`~.options.SweepOptions`; or
            give them as keywords, ``iterations=3``); the ``spec`` stage
            ones are used here.
        resume_seed: the master seed to use when neither ``seed`` nor ``rng``
            is given (a store's, when resuming); else a fresh one is drawn.
        warn: warn when the model cannot take a seed (off while a form
            checks every keystroke).
        exact_values, mesa_records: keep reporter values as they were and the
            records the installed ``mesa.batch_run`` keeps (the drop-in).
    """
    options = options or SweepOptions.of()
    if given:
        options = options.replace(**given)
    check_model_class(model_cls)
    iterations, seed, rng = options.iterations, options.seed, options.rng
    until, timeout = options.until, options.timeout
    explicit_iterations = "iterations" in options.given()
    if seed is not None and rng is not None:
        raise SweepOptionError(
            "Give either seed= (one master seed, a seed is derived per run) or rng= "
            "(one seed per iteration), not both.",
            field="seed",
        )
    rule = precision_rule(options)
    if rule is not None:
        iterations = rule.first
    if until is not None:
        until = _check_until(until)
    space = expand_parameters(parameters)
    space = _supply_simulators(model_cls, space)
    space, scenario_used = _scenario_route(model_cls, space, options.scenario)
    if rule is not None and scenario_used is not None and scenario_used.own_seeds:
        raise SweepOptionError(
            "iterations='auto' adds replicates with seeds of their own, but the "
            "scenarios swept carry their own seeds (a replicate would repeat its "
            "scenario exactly): sweep the scenarios' fields instead, or give fixed "
            "replications (scenario.spawn_replications(n)).",
            field="iterations",
        )
    check_scenario_seeding(scenario_used, iterations, seed, rng)
    fields = check_parameter_names(model_cls, space, scenario_used)
    _check_reserved(space)
    check_value_kinds(model_cls, space, scenario_used)
    seed_kwarg = seed_keyword(model_cls, space, scenario_used)
    user_seeds = next((n for n in SEED_NAMES if n in space.names), None)
    if user_seeds is not None and (seed is not None or rng is not None):
        raise SweepOptionError(
            f"The parameters already set {user_seeds!r}: drop it from the parameters "
            "or drop the seed=/rng= option.",
            field=user_seeds,
        )
    if user_seeds is not None and rule is not None:
        raise SweepOptionError(
            f"The parameters set {user_seeds!r}, so every replicate of a point would "
            "get the same seed and the same values, and iterations='auto' could "
            f"never learn their spread: drop {user_seeds!r} from the parameters (a "
            "seed is then derived per run), or give fixed iterations.",
            field=user_seeds,
        )

    if rng is not None:
        _check_rng_iterations(rng, iterations if explicit_iterations else None)
        seeding = Seeding("rng", per_iteration=tuple(rng))
        iterations = len(rng)
    else:
        if user_seeds is not None:
            seeding = Seeding("parameter", parameter=user_seeds)
        elif seed is not None:
            seeding = Seeding("seed", master_seed=seed)
        else:
            master = fresh_master_seed() if resume_seed is None else resume_seed
            seeding = Seeding("entropy", master_seed=master)

    n_runs = len(space) * iterations
    if rule is not None and len(space) * rule.max_iterations > MAX_RUNS:
        raise SweepOptionError(
            f"iterations='auto' could run {len(space) * rule.max_iterations:,} runs "
            f"({len(space):,} points x max_iterations={rule.max_iterations:,}), more "
            f"than {MAX_RUNS:,}: lower max_iterations, or sweep fewer points.",
            field="max_iterations",
        )
    if n_runs > MAX_RUNS:
        axes = getattr(space.points, "axes", {}).values()
        sizes = " x ".join(str(len(v)) for v in axes if len(v) > 1)
        raise SweepOptionError(
            f"This sweep has {n_runs:,} runs ({sizes or len(space)} points x "
            f"{iterations} iterations), more than {MAX_RUNS:,}: sweep fewer values, "
            "sample the space (a DataFrame of points), or split it into sweeps.",
            field="iterations" if len(space) <= MAX_RUNS else None,
        )
    if warn and seed_kwarg is None and user_seeds is None and scenario_used is None:
        warn_user(
            f"{model_cls.__name__}.__init__ takes neither rng nor seed, so its runs "
            "cannot be reproduced. Add `rng=None` to its parameters and call "
            "super().__init__(rng=rng)."
        )
    settings = RunSettings(
        model_cls,
        options.max_steps,
        options.data_collection_period,
        seed_kwarg,
        scenario_used,
        fields,
        until,
        exact_values=exact_values,
        mesa_records=mesa_records,
        timeout=None if timeout is None else float(timeout),
        check_reproducible=options.check_reproducible,
    )
    return SweepPlan(settings, space, iterations, seeding, rule=rule)


def precision_rule(options: SweepOptions) -> PrecisionRule | None:
    """The rule of ``iterations="auto"`` (None for fixed iterations), or the
    refusal of options that do not go together, naming the fix."""
    precision, cap = options.precision, options.max_iterations
    if options.iterations != AUTO:
        if precision is not None:
            raise SweepOptionError(
                "precision= says how precise iterations='auto' makes each point: "
                "add iterations='auto' (--iterations auto), or drop precision.",
                field="precision",
            )
        if cap is not None:
            raise SweepOptionError(
                "max_iterations= caps the replicates of iterations='auto': add "
                "iterations='auto' and a precision, or drop max_iterations.",
                field="max_iterations",
            )
        return None
    if precision is None:
        raise SweepOptionError(
            "iterations='auto' adds replicates until every point is precise: say "
            "how precise with precision={reporter: half-width}, the half-width of "
            "the 95% interval of its final value, e.g. precision={'Gini': 0.01} "
            "(--precision Gini=0.01).",
            field="precision",
        )
    if options.rng is not None:
        raise SweepOptionError(
            "iterations='auto' derives each replicate's seed from the master seed; "
            "rng= (one seed per iteration) cannot seed replicates not known yet: "
            "give seed= instead, or fixed iterations.",
            field="rng",
        )
    return PrecisionRule.of(precision, cap)


def build_kwargs(settings: RunSettings, params: dict[str, Any], seed: Any) -> dict:
    """The keyword arguments one run's model is built with.

    Builds what each run must have for itself: its scenario (seeded with the
    run's seed) and per-run objects such as a simulator. A run that builds a
    scenario is never given ``rng``/``seed`` beside it (Mesa 4 refuses both):
    its seed is in the scenario. The names set by ready-made scenarios go
    back into the scenario even where the model also takes a keyword of
    that name (the run is then the scenario it was given).
    """
    kwargs = {
        name: value.build() if isinstance(value, PerRun) else value
        for name, value in params.items()
    }
    scenario = settings.scenario
    if scenario is not None:
        names = dict.fromkeys((*settings.scenario_fields, *scenario.given))
        fields = {n: kwargs.pop(n) for n in names if n in kwargs}
        for name in SEED_NAMES:
            kwargs.pop(name, None)  # a seed parameter: it seeds the scenario
        kwargs["scenario"] = scenario.build(fields, seed)
    elif settings.seed_kwarg is not None:
        kwargs[settings.seed_kwarg] = seed
    return kwargs


def model_kwargs(spec: RunSpec, settings: RunSettings, drawn: dict[str, Any]) -> dict:
    """The keyword arguments the model of ``spec`` is built with."""
    return build_kwargs(settings, run_parameters(spec.params, drawn), spec.seed)


def _check_until(until: Any) -> float:
    if isinstance(until, bool) or not isinstance(until, int | float | np.number):
        raise SweepOptionError(
            f"until must be a model time (a number), got {until!r}.", field="until"
        )
    if not until > 0:
        raise SweepOptionError(f"until must be above 0, got {until}.", field="until")
    if not mesa_adapter.HAS_MODEL_TIME:
        raise SweepOptionError(
            f"until= needs model time (model.run_until), which Mesa "
            f"{mesa_adapter.MESA_VERSION} does not have: use max_steps, or "
            "Mesa 3.5 (Python 3.12+).",
            field="until",
        )
    return until
