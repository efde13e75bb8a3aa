"""Read a finished model's DataCollector into columns, one table at a time.

The collector's public API is used (``model_vars``,
``get_agent_vars_dataframe``, ``get_agenttype_vars_dataframe``,
``get_table_dataframe``), except for agent records, which are read from the
collector's own store where :mod:`.mesa_adapter` knows its layout (it falls
back to the public API elsewhere). The Step of each model record is observed
while the run is driven (see :func:`drive`), since Mesa 3.3 does not store it.
"""

from __future__ import annotations

import itertools
import math
import time
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any

import numpy as np
import pandas as pd

from . import mesa_adapter
from .columns import ChunkBuilder
from .records import (
    AGENTS,
    AGENTTYPES,
    DATASETS,
    FRAMES,
    MODEL,
    TABLES,
    RunTimedOut,
)

COLLECTOR_HINT = (
    "Create one in __init__, e.g. self.datacollector = mesa.DataCollector("
    "model_reporters={...}, agent_reporters={...}), and call "
    "self.datacollector.collect(self) in step() (or, on Mesa 3.5, keep a "
    "DataRecorder in an attribute: self.recorder = DataRecorder(self))."
)


def model_record_count(collector: Any) -> int:
    """How many times the collector has recorded its model reporters."""
    if collector is None:
        return 0
    for values in collector.model_vars.values():
        return len(values)
    return 0


class CollectsNothing(Exception):
    """The model has neither a DataCollector nor a DataRecorder after its
    first step (see :func:`drive`): no run of it can give data."""


@dataclass
class Driven:
    """When a run's model records were taken: its Step and model time each.

    ``times`` is None for a model without event time (Mesa 3.3).
    """

    steps: list[int]
    times: list[float] | None
    final_step: int
    final_time: float | None


def _time(model: Any) -> float | None:
    value = getattr(model, "time", None)
    if value is None or type(value) is float:  # no time (Mesa 3.3), or a float
        return value
    return float(value) if isinstance(value, int | float | np.number) else None


def _advance(model: Any, until: float | None) -> Any:
    """One slice of a run: a step, or (with ``until``) one unit of model time."""
    if until is not None:
        if mesa_adapter.RUN_UNTIL_ENDS_RUN:  # Mesa 4: a run_until ends the run
            return lambda: _unit_by_step(model, until)
        return lambda: model.run_until(min(until, math.floor(model.time) + 1))
    if mesa_adapter.HAS_MODEL_TIME:
        return model.step
    simulator = mesa_adapter.simulator_of(model)
    if simulator is not None:
        return lambda: simulator.run_for(1)  # Mesa 3.3: events live there
    return model.step


def _unit_by_step(model: Any, until: float) -> None:
    """Mesa 4's slice of ``until``: a whole unit with ``model.step()`` (which
    sends no RUN_ENDED), ``run_until`` only for what is left below one unit."""
    if model.time == math.floor(model.time) and model.time + 1 <= until:
        model.step()
    else:
        model.run_until(min(until, math.floor(model.time) + 1))


def drive(
    model: Any,
    max_steps: int,
    stop: Any = None,
    until: float | None = None,
    deadline: float | None = None,
    pulse: Any = None,
    require_data: bool = False,
) -> Driven:
    """Run ``model`` until it stops, has run ``max_steps`` steps or reached ``until``.

    Without ``until`` the model is stepped (through its simulator on Mesa 3.3
    when it keeps one); with ``until`` it runs with ``model.run_until`` one
    unit of model time at a time. Between two slices ``model.running`` is
    checked, and ``stop`` (a ``threading.Event``) set from another thread
    ends the run with ``KeyboardInterrupt``; past ``deadline`` (a
    ``time.monotonic()`` value) the run ends with the worker's
    ``RunTimedOut``. ``pulse(step)`` is told the step after each slice (it
    reports at most once a second). With ``require_data``, a model that has
    no collector (nor a DataRecorder) after its first slice raises
    :class:`CollectsNothing` at once, before the rest of the run is wasted
    (a collector made in the first step, as ``mesa.batch_run`` allows, is
    found). Returns when each model record was taken.
    """
    steps_of = mesa_adapter.steps_of
    step = steps_of(model)
    collector = getattr(model, "datacollector", None)
    seen = model_record_count(collector)
    steps = [step] * seen
    times = [_time(model)] * seen
    advance = _advance(model, until)
    first = True
    # Per step only what is needed (the checks, the step count, the Step and
    # model time of a new model record): in a tiny model this loop is a good
    # part of the run.
    while model.running and (step < max_steps if until is None else model.time < until):
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt("sweep stopped")
        if deadline is not None and time.monotonic() > deadline:
            raise RunTimedOut
        advance()
        step = steps_of(model)
        if pulse is not None:
            pulse(step)
        if collector is None:  # a collector made in a step, not in __init__
            collector = getattr(model, "datacollector", None)
            empty = first and require_data and collector is None
            if empty and not mesa_adapter.has_data_recorder(model):
                raise CollectsNothing
        first = False
        count = model_record_count(collector)
        if count == seen + 1:  # the usual case: one record per step
            steps.append(step)
            times.append(_time(model))
            seen = count
        elif count != seen:
            steps.extend([step] * (count - seen))
            times.extend([_time(model)] * (count - seen))
            seen = count
    final_time = _time(model)
    has_time = final_time is not None
    return Driven(steps, times if has_time else None, steps_of(model), final_time)


def kept_steps(collected: list[int], period: int) -> set[int]:
    """Steps kept by ``data_collection_period``: multiples of it, and the last."""
    if not collected:
        return set()
    last = max(collected)
    if period == -1:
        return {last}
    return {s for s in collected if s % period == 0} | {last}


def _agent_columns(
    frame: pd.DataFrame, agent_type: str | None = None
) -> dict[str, np.ndarray]:
    """A collector's agent DataFrame (index Step, AgentID) as plain columns."""
    index = frame.index
    columns = {
        "Step": index.get_level_values(0).to_numpy().astype(np.int64),
        "AgentID": index.get_level_values(1).to_numpy(),
    }
    if agent_type is not None:
        columns["AgentType"] = np.full(len(frame), agent_type, dtype=object)
    for name in frame.columns:
        columns[str(name)] = frame[name].to_numpy()
    return columns


def _recorded_agent_columns(
    collector: Any, steps: dict[int, Any], keep: set[int]
) -> dict[str, Any]:
    """The kept rows of ``_agent_records`` as columns.

    Every record of a step carries that step (or its model time), so the Step
    column is built per step, not read record by record. The other columns
    are taken with ``itemgetter``: transposing with ``zip(*rows)`` made an
    iterator per record, and those allocations alone set off the garbage
    collector's full passes over the whole heap (Python 3.11).
    """
    names = [str(n) for n in collector.agent_reporters]
    store = mesa_adapter.agent_record_store(collector)
    kept = [s for s in sorted(steps) if s in keep]
    records = [store[steps[s]] for s in kept]
    counts = [len(step_records) for step_records in records]
    if not sum(counts):
        return {"Step": [], "AgentID": [], **{n: [] for n in names}}
    columns: dict[str, Any] = {
        "Step": np.repeat(np.array(kept, dtype=np.int64), counts)
    }
    for position, name in enumerate(["AgentID", *names], start=1):
        rows = itertools.chain.from_iterable(records)
        columns[name] = list(map(itemgetter(position), rows))
    return columns


def _keep_rows(columns: dict[str, np.ndarray], keep: set[int]) -> dict[str, np.ndarray]:
    steps = columns["Step"]
    mask = np.isin(steps, np.fromiter(keep, dtype=np.int64, count=len(keep)))
    if mask.all():
        return columns
    return {name: values[mask] for name, values in columns.items()}


def mesa_record_steps(driven: Driven, period: int) -> list[int]:
    """The Steps ``mesa.batch_run`` 3.4+ reports: every ``period``-th record
    (a Step collected twice comes twice), or the last record for -1."""
    if period == -1:
        return driven.steps[-1:]
    return driven.steps[::period]


def _model_columns(
    collector: Any, driven: Driven, keep: set[int] | list[int], with_time: bool
) -> dict[str, list[Any]]:
    """One row per kept Step: the last model record taken at that Step.

    ``keep`` as a list gives those rows in that order, repeats included.
    """
    last_index = {step: i for i, step in enumerate(driven.steps)}
    if isinstance(keep, list):
        steps = keep
    else:
        steps = (
            sorted(s for s in keep if s in last_index) if last_index else sorted(keep)
        )
    columns: dict[str, list[Any]] = {"Step": steps}
    if with_time:
        times = driven.times or []
        columns["Time"] = [
            times[last_index[s]] if s in last_index else driven.final_time
            for s in steps
        ]
    if collector is not None:  # a Step with no record (none at all) gets None
        for name, values in collector.model_vars.items():
            columns[str(name)] = [
                values[last_index[s]] if s in last_index else None for s in steps
            ]
    return columns


def _kept_times(times: np.ndarray, period: int) -> np.ndarray:
    """Rows of a recorder dataset kept by ``data_collection_period``."""
    if not len(times):
        return np.zeros(0, dtype=bool)
    last = times == times.max()
    if period == -1:
        return last
    return last | (np.mod(times, period) == 0)


def read_datasets(model: Any, period: int) -> dict[str, dict[str, np.ndarray]]:
    """The datasets of the model's DataRecorders as columns, ``period`` applied.

    Each recorder is finalised first (its snapshot of the end of the run, as
    Mesa asks of whoever ends a run); its own intervals are kept as recorded.
    A dataset name used by two recorders is prefixed with the attribute name.
    """
    found: list[tuple[str, str, pd.DataFrame]] = []
    recorders = mesa_adapter.data_recorders(model)
    mesa_adapter.finalise_recorders(model, recorders)
    for attribute, recorder in recorders.items():
        for name, frame in recorder.get_all_dataframes().items():
            found.append((attribute, name, frame))
    names = [name for _, name, _ in found]
    datasets = {}
    for attribute, name, frame in found:
        key = name if names.count(name) == 1 else f"{attribute}.{name}"
        if "time" not in frame.columns:  # nothing recorded yet
            continue
        kept = frame[_kept_times(frame["time"].to_numpy(), period)]
        datasets[key] = {str(c): kept[c].to_numpy() for c in kept.columns}
    return datasets


def read_collector(
    model: Any,
    driven: Driven,
    period: int,
    until: float | None = None,
    mesa_records: bool = False,
) -> RunData:
    """The run's kept records as columns: model, agents, agent types, tables,
    and the datasets of its DataRecorders.

    ``mesa_records`` keeps the records ``mesa.batch_run`` 3.4+ keeps (see
    :func:`mesa_record_steps`) instead of mesa_nb's Steps.

    A model with recorders but no DataCollector gets one ``model`` row per
    run, at its last Step.
    """
    collector = getattr(model, "datacollector", None)
    agent_tables = []
    recorded = None
    typed = []
    if collector is not None:
        if collector.agent_reporters:
            recorded = mesa_adapter.agent_record_steps(collector)
            if recorded is None:
                frame = collector.get_agent_vars_dataframe()
                agent_tables.append(_agent_columns(frame))
        for agent_type in getattr(collector, "agenttype_reporters", {}) or {}:
            name = getattr(agent_type, "__name__", str(agent_type))
            frame = collector.get_agenttype_vars_dataframe(agent_type)
            typed.append(_agent_columns(frame, name))

    agent_steps: set[int] = set()
    for columns in [*agent_tables, *typed]:
        agent_steps.update(np.unique(columns["Step"]).tolist())
    if recorded is not None:
        agent_steps.update(recorded)
    collected = driven.steps + sorted(agent_steps)
    keep = kept_steps(collected or [driven.final_step], period)
    rows: set[int] | list[int] = keep
    if mesa_records and collector is not None:  # batch_run on Mesa 3.4+
        rows = mesa_record_steps(driven, period)
        keep = set(rows)

    with_time = until is not None or (
        driven.times is not None
        and any(t != s for s, t in zip(driven.steps, driven.times, strict=True))
    )
    data = RunData()
    data.model = _model_columns(collector, driven, rows, with_time)
    if recorded is not None:
        data.agents = _recorded_agent_columns(collector, recorded, keep)
    elif agent_tables:
        data.agents = _keep_rows(agent_tables[0], keep)
    if typed:
        joined = ChunkBuilder()
        for columns in typed:
            joined.add(columns, len(columns["Step"]))
        data.agenttypes = _keep_rows(joined.finish(), keep)
    if collector is not None:
        for name in getattr(collector, "tables", {}) or {}:
            frame = collector.get_table_dataframe(name)
            data.tables[name] = {str(c): frame[c].to_numpy() for c in frame.columns}
    data.datasets = read_datasets(model, period)
    return data


@dataclass
class RunData:
    """The columns one run contributes to each table."""

    model: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, Any] | None = None
    agenttypes: dict[str, Any] | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)
    datasets: dict[str, dict[str, Any]] = field(default_factory=dict)

    def named_columns(self) -> list[tuple[str, str, dict[str, Any]]]:
        """Every table this run has, as ``(group, name, columns)``."""
        frames = {MODEL: self.model, AGENTS: self.agents, AGENTTYPES: self.agenttypes}
        return [
            *((FRAMES, n, c) for n, c in frames.items() if c is not None),
            *((TABLES, n, c) for n, c in self.tables.items()),
            *((DATASETS, n, c) for n, c in self.datasets.items()),
        ]


# -- does a run repeat? ------------------------------------------------------------
#: Values compared as values; anything else (agents, cells, other objects,
#: compared by identity) is not judged.
_PLAIN = (type(None), bool, int, float, complex, str, bytes, np.generic)


def same_value(a: Any, b: Any) -> bool:
    """Whether two recorded values are equal (NaN equals NaN; containers
    element by element; objects other than plain values are not judged)."""
    if a is b:
        return True
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(map(same_value, a, b))
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same_value(a[k], b[k]) for k in a)
    if isinstance(a, np.ndarray) and isinstance(b, np.ndarray):
        if a.shape != b.shape:
            return False
        return all(map(same_value, a.ravel().tolist(), b.ravel().tolist()))
    if isinstance(a, _PLAIN) and isinstance(b, _PLAIN):
        floats = all(isinstance(v, float | np.floating) for v in (a, b))
        if floats and math.isnan(a) and math.isnan(b):
            return True
        try:
            return bool(a == b)
        except (TypeError, ValueError):
            return True
    return True


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _frame_difference(original: pd.DataFrame, repeat: pd.DataFrame) -> str | None:
    """Where ``repeat``'s rows differ from the first rows of ``original``."""
    head = original.iloc[: len(repeat)]
    for column in repeat.columns:
        if column not in head.columns:
            return f"column {column!r}"
        mine, again = head[column].tolist(), repeat[column].tolist()
        for i, (a, b) in enumerate(zip(mine, again, strict=False)):
            if not same_value(a, b):
                return f"column {column!r}, row {i}: {_shown(a)} then {_shown(b)}"
        if len(mine) < len(again):
            return f"column {column!r}: more rows when repeated"
    return None


def first_difference(original: Any, repeat: Any, steps: list[int]) -> str | None:
    """Where the records of ``repeat`` (the run's model built again and run a
    few steps; ``steps``: the Step of each of its model records) differ from
    the first records of ``original``; None if they agree.

    Model reporters, agent records and DataRecorder datasets are compared.
    """
    mine = getattr(original, "datacollector", None)
    again = getattr(repeat, "datacollector", None)
    if (mine is None) != (again is None):
        return "a DataCollector made in one build and not in the other"
    if mine is not None:
        for name, values in again.model_vars.items():
            kept = mine.model_vars.get(name, [])
            for i, value in enumerate(values):
                step = steps[i] if i < len(steps) else i
                if i >= len(kept):
                    return f"model reporter {name!r}: more records at step {step}"
                if not same_value(kept[i], value):
                    return (
                        f"model reporter {name!r} at step {step}: "
                        f"{_shown(kept[i])} then {_shown(value)}"
                    )
        at_steps = mesa_adapter.agent_record_steps(again)
        kept_steps = mesa_adapter.agent_record_steps(mine)
        if at_steps is not None and kept_steps is not None:
            records = mesa_adapter.agent_record_store(mine)
            repeated = mesa_adapter.agent_record_store(again)
            for step, key in sorted(at_steps.items()):
                if step not in kept_steps or not same_value(
                    records[kept_steps[step]], repeated[key]
                ):
                    return f"agent records at step {step}"
    recorders = mesa_adapter.data_recorders(original)
    for attribute, recorder in mesa_adapter.data_recorders(repeat).items():
        if attribute not in recorders:
            return f"a DataRecorder {attribute!r} made in one build only"
        frames = recorders[attribute].get_all_dataframes()
        for name, frame in recorder.get_all_dataframes().items():
            if name not in frames:
                return f"dataset {name!r} recorded in one build only"
            found = _frame_difference(frames[name], frame)
            if found is not None:
                return f"dataset {name!r}, {found}"
    return None
