"""Everything mesa_nb needs to know about the installed Mesa version.

``import mesa`` 3.3.x calls ``multiprocessing.set_start_method("spawn",
force=True)``; we import it here, once, and put the user's start method back.
Every read of Mesa's private state lives here, checked against the layout of
the Mesa versions we know, with the public API as the fallback.
"""

from __future__ import annotations

import contextlib
import gc
import importlib
import inspect
import multiprocessing
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np


def _import_mesa_keeping_start_method() -> Any:
    before = multiprocessing.get_start_method(allow_none=True)
    import mesa

    if multiprocessing.get_start_method(allow_none=True) != before:
        multiprocessing.set_start_method(before, force=True)
    return mesa


mesa = _import_mesa_keeping_start_method()
MESA_VERSION: str = mesa.__version__
Model = mesa.Model
Agent = mesa.Agent
#: Mesa 4 has no step counter (``model.steps``), no ``mesa.batch_run``, and its
#: DataRecorders record the end of a run on the RUN_ENDED signal.
MESA_4 = int(MESA_VERSION.split(".")[0]) >= 4


def steps_of(model: Any) -> int:
    """How many steps the model has taken: Mesa 3's ``model.steps``.

    Mesa 4 has no step counter: its default schedule (the recurring event that
    calls the user's ``step`` once per unit of time) counts its executions
    (after the step returns, so a step that raised is not counted, where Mesa
    3 counted it); without that schedule, the whole units of model time.
    """
    if not MESA_4:
        return int(model.steps)
    schedule = getattr(model, "_default_schedule", None)
    count = getattr(schedule, "execution_count", None)
    if isinstance(count, int):
        return count
    return int(model.time)


def release_model(model: Any) -> None:
    """Free a finished model's agents and records now, not at some later GC.

    Mesa 3.3 keeps a class-level ``Agent._ids`` dict keyed by model, which keeps
    every model (and its collector) of a sweep alive until the process exits.
    And every model is part of a reference cycle (Mesa binds ``model.step`` to
    the instance), so CPython would free it only at a full garbage collection:
    clearing the instance's attributes lets its agents and collector go at once.
    """
    ids = getattr(Agent, "_ids", None)
    if isinstance(ids, dict):
        ids.pop(model, None)
    with contextlib.suppress(TypeError):  # a model with __slots__ keeps its own
        vars(model).clear()
    _clear_cell_caches()


def _clear_cell_caches() -> None:
    """Empty the neighbourhood caches of ``mesa.discrete_space`` cells.

    ``Cell.get_neighborhood`` and ``Cell._neighborhood`` are ``functools.cache``
    on the class: their entries hold every cell (with its agents, and so its
    model) ever asked for neighbours, in this process, until cleared. A cell
    of a live model just computes its neighbours again.
    """
    cell_module = sys.modules.get("mesa.discrete_space.cell")
    cell = getattr(cell_module, "Cell", None)
    for name in ("get_neighborhood", "_neighborhood"):
        clear = getattr(getattr(cell, name, None), "cache_clear", None)
        if callable(clear):
            clear()


#: Read agent records straight from the collector when their layout is known;
#: ``tests/test_collect.py`` checks this path against the public API.
READ_AGENT_RECORDS = True
#: The Mesa lines whose ``DataCollector._agent_records`` layout was checked.
KNOWN_AGENT_RECORD_LAYOUT = ("3.", "4.0.")


def agent_record_steps(collector: Any) -> dict[int, Any] | None:
    """The collector's own per-step agent store as ``{step: key}``, if usable.

    ``get_agent_vars_dataframe()`` turns every record of the run into a
    MultiIndexed DataFrame; with end-only collection most of that is thrown
    away, and for a small run it costs more than the run itself (4x for 10
    agents x 5 steps). Mesa 3.3 and 3.5 both keep ``_agent_records`` as
    ``{step or time: [(step, agent_id, *values), ...]}``; another version or
    layout gives None, and the caller uses the public API.
    """
    if not READ_AGENT_RECORDS or not MESA_VERSION.startswith(KNOWN_AGENT_RECORD_LAYOUT):
        return None
    records = getattr(collector, "_agent_records", None)
    if not isinstance(records, dict):
        return None
    width = 2 + len(collector.agent_reporters)
    for rows in records.values():
        if rows and (not isinstance(rows[0], tuple) or len(rows[0]) != width):
            return None
    return {int(k): k for k in records}


def agent_record_store(collector: Any) -> dict[Any, list[tuple]]:
    """The store :func:`agent_record_steps` indexes (only when it returned one)."""
    return collector._agent_records


def _optional(module: str, name: str) -> Any:
    """``module.name`` if this Mesa has it (experimental parts move between lines)."""
    try:
        return getattr(importlib.import_module(module), name)
    except (ImportError, AttributeError):
        return None


#: Mesa 3.5's parameter bundle, its data recorders and (3.3/3.4) simulators;
#: None where the installed Mesa has no such thing.
Scenario: Any = _optional("mesa.experimental.scenarios", "Scenario")
BaseDataRecorder: Any = _optional(
    "mesa.experimental.data_collection", "BaseDataRecorder"
)
Simulator: Any = _optional("mesa.experimental.devs.simulator", "Simulator")
#: Whether models have event time (``model.time``, ``run_until``): Mesa 3.5+.
HAS_MODEL_TIME = hasattr(Model, "run_until")
#: Whether ``mesa.batch_run`` takes ``rng=`` (Mesa 3.4+): it then fills an
#: ``rng`` key in every row, refuses ``rng`` with ``iterations`` and warns
#: that ``iterations`` is deprecated. Mesa 4 has no ``batch_run``: the drop-in
#: keeps the contract of the last one (3.5), so the flag is True there.
_batch_run = getattr(mesa, "batch_run", None)
BATCH_RUN_TAKES_RNG = (
    _batch_run is None or "rng" in inspect.signature(_batch_run).parameters
)
#: Mesa 4: ``run_until``/``run_for`` send RUN_ENDED, on which every DataRecorder
#: records, so a run is sliced with ``model.step()`` (one unit of time each)
#: and ``run_until`` is used only for a fractional remainder of ``until``.
_ModelSignals: Any = _optional("mesa.experimental.mesa_signals", "ModelSignals")
RUN_UNTIL_ENDS_RUN = MESA_4 and hasattr(_ModelSignals, "RUN_ENDED")


def finalise_recorders(model: Any, recorders: dict[str, Any]) -> None:
    """Record the end of the run in each of the model's DataRecorders, once.

    Mesa 3.5: ``recorder.finalise()``. Mesa 4: the RUN_ENDED signal
    ``run_until`` sends (a recorder overwrites a record already taken at that
    time, so nothing is recorded twice).
    """
    if not recorders:
        return
    if RUN_UNTIL_ENDS_RUN and not hasattr(next(iter(recorders.values())), "finalise"):
        model.notify("model", _ModelSignals.RUN_ENDED)
        return
    for recorder in recorders.values():
        recorder.finalise()


def model_seeded_with(model: Any, seed: Any) -> bool | None:
    """Whether the model's generator was seeded with ``seed`` (None: can't tell).

    Mesa keeps the seed its ``rng`` was made from in the generator's seed
    sequence, on every Mesa line; only whole-number seeds are checked.
    """
    if isinstance(seed, bool) or not isinstance(seed, int | np.integer):
        return None
    rng = getattr(model, "rng", None)
    try:
        entropy = rng.bit_generator.seed_seq.entropy
    except AttributeError:
        return None
    return entropy == int(seed)


def is_scenario_class(obj: Any) -> bool:
    """True for a ``Scenario`` subclass (never on a Mesa without scenarios)."""
    return Scenario is not None and isinstance(obj, type) and issubclass(obj, Scenario)


def is_scenario(obj: Any) -> bool:
    """True for a ``Scenario`` instance."""
    return Scenario is not None and isinstance(obj, Scenario)


def scenario_defaults(scenario_cls: type) -> dict[str, Any]:
    """The fields a Scenario class declares, with their defaults (not ``rng``).

    Mesa caches them as ``_scenario_defaults`` (annotated class attributes with
    a value, not starting with ``_``); the same rule is applied to the class's
    annotations where that cache is missing.
    """
    cached = getattr(scenario_cls, "_scenario_defaults", None)
    if not isinstance(cached, dict):
        cached = {}
        for base in reversed(scenario_cls.__mro__):
            for key in getattr(base, "__annotations__", {}):
                if hasattr(base, key) and not key.startswith("_"):
                    cached[key] = getattr(base, key)
    return {k: v for k, v in cached.items() if k != "rng"}


def scenario_values(scenario: Any) -> dict[str, Any]:
    """The field values of a Scenario instance (its public ``dict(scenario)``)."""
    return {k: v for k, v in dict(scenario).items() if k != "rng"}


def scenario_id_names() -> tuple[str, ...]:
    """The ids a Scenario is built with: ``scenario_id`` and ``replication_id``
    on Mesa 4 (keywords of ``Scenario.__init__``), none on Mesa 3.5 (its
    ``_scenario_id`` is a private counter)."""
    if Scenario is None:
        return ()
    try:
        params = inspect.signature(Scenario.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover - exotic builds
        return ()
    return tuple(n for n in ("scenario_id", "replication_id") if n in params)


def scenario_ids(scenario: Any) -> dict[str, Any]:
    """A scenario's ``scenario_id`` and ``replication_id`` (Mesa 4; else {})."""
    return {name: getattr(scenario, name, None) for name in scenario_id_names()}


def scenario_generator(scenario: Any) -> tuple[Any, Any] | None:
    """Mesa 4: the seed sequence of a scenario's generator and the state it
    started from (``initial_rng_state``), ``(None, state)`` if it has no seed
    sequence. None where ``rng`` is a plain field (Mesa 3.5): a seed or None.
    """
    rng = getattr(scenario, "rng", None)
    state = getattr(scenario, "initial_rng_state", None)
    if not isinstance(rng, np.random.Generator) or not isinstance(state, dict):
        return None
    return getattr(rng.bit_generator, "seed_seq", None), state


def data_recorders(model: Any) -> dict[str, Any]:
    """The model's DataRecorders by attribute name (public attributes only).

    It reads ``vars(model)``: for a model that has run; see
    :func:`has_data_recorder` for one that is still to run.

    A recorder the model does not keep in an attribute is garbage-collected by
    Mesa and records nothing, so the attributes are where they all are.
    """
    if BaseDataRecorder is None:
        return {}
    return {
        name: value
        for name, value in vars(model).items()
        if isinstance(value, BaseDataRecorder)
    }


def attribute_values(obj: Any) -> Iterator[Any]:
    """The objects ``obj`` refers to, its attribute values among them, found
    without asking for ``obj.__dict__``.

    CPython 3.11+ keeps an instance's attributes in a compact array until its
    ``__dict__`` is asked for; after that every attribute read in the model's
    own code is slower (8-10% of a run of the bundled models). A run's model
    is looked at this way until it ends; ``gc.get_referents`` reads the array
    as it is.
    """
    for value in gc.get_referents(obj):
        if type(value) is dict:  # a __dict__ made already, or a dict attribute
            yield from value.values()
        else:
            yield value


def simulator_of(model: Any) -> Any:
    """The discrete-event simulator a model keeps in an attribute, if any."""
    if Simulator is None:
        return None
    for value in attribute_values(model):
        if isinstance(value, Simulator):
            return value
    return None


def has_data_recorder(model: Any) -> bool:
    """Whether the model keeps a DataRecorder (read as :func:`attribute_values`:
    for a model that is still to run)."""
    if BaseDataRecorder is None:
        return False
    return any(isinstance(v, BaseDataRecorder) for v in attribute_values(model))


def is_simulator_class(obj: Any) -> bool:
    """True for a simulator class (e.g. ``ABMSimulator``): built once per run."""
    return (
        Simulator is not None and isinstance(obj, type) and issubclass(obj, Simulator)
    )
