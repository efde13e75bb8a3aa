"""Read a finished model's DataCollector into columns, one table at a time.

The collector's public API is used (``model_vars``,
``get_agent_vars_dataframe``, ``get_agenttype_vars_dataframe``,
``get_table_dataframe``), except for agent records, which are read from the
collector's own store where :mod:`.mesa_adapter` knows its layout (it falls
back to the public API elsewhere). The Step of each model record is observed
while the run is driven (see :func:`drive`), since Mesa 3.3 does not store it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .columns import ChunkBuilder
from . import mesa_adapter
from .records import AGENTS, AGENTTYPES, MODEL

COLLECTOR_HINT = (
    "Create one in __init__, e.g. self.datacollector = mesa.DataCollector("
    "model_reporters={...}, agent_reporters={...}), and call "
    "self.datacollector.collect(self) in step()."
)


def model_record_count(collector: Any) -> int:
    """How many times the collector has recorded its model reporters."""
    for values in collector.model_vars.values():
        return len(values)
    return 0


def drive(model: Any, max_steps: int, stop: Any = None) -> list[int]:
    """Step ``model`` until it stops or has run ``max_steps`` steps.

    Returns the Step (``model.steps``) at which each model record was taken.
    ``stop`` (a ``threading.Event``) set from another thread ends the run with
    ``KeyboardInterrupt`` between two steps.
    """
    collector = model.datacollector
    seen = model_record_count(collector)
    record_steps = [int(model.steps)] * seen
    while model.running and model.steps < max_steps:
        if stop is not None and stop.is_set():
            raise KeyboardInterrupt("sweep stopped")
        model.step()
        count = model_record_count(collector)
        if count != seen:
            record_steps.extend([int(model.steps)] * (count - seen))
            seen = count
    return record_steps


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
) -> dict[str, list[Any]]:
    """The kept rows of ``_agent_records`` as columns."""
    names = [str(n) for n in collector.agent_reporters]
    store = mesa_adapter.agent_record_store(collector)
    rows = [row for s in sorted(steps) if s in keep for row in store[steps[s]]]
    if not rows:
        return {"Step": [], "AgentID": [], **{n: [] for n in names}}
    step_col, ids, *values = (list(column) for column in zip(*rows, strict=True))
    columns = {"Step": [int(s) for s in step_col], "AgentID": ids}
    columns.update(zip(names, values, strict=True))
    return columns


def _keep_rows(columns: dict[str, np.ndarray], keep: set[int]) -> dict[str, np.ndarray]:
    steps = columns["Step"]
    mask = np.isin(steps, np.fromiter(keep, dtype=np.int64, count=len(keep)))
    if mask.all():
        return columns
    return {name: values[mask] for name, values in columns.items()}


def _model_columns(
    collector: Any, record_steps: list[int], keep: set[int]
) -> dict[str, list[Any]]:
    """One row per kept Step: the last model record taken at that Step."""
    last_index = {step: i for i, step in enumerate(record_steps)}
    steps = sorted(s for s in keep if s in last_index) if last_index else sorted(keep)
    columns: dict[str, list[Any]] = {"Step": steps}
    for name, values in collector.model_vars.items():
        columns[str(name)] = [values[last_index[s]] for s in steps]
    return columns


def read_collector(model: Any, record_steps: list[int], period: int) -> RunData:
    """The run's kept records as columns: model, agents, agent types, tables."""
    collector = model.datacollector
    agent_tables = []
    recorded = None
    if collector.agent_reporters:
        recorded = mesa_adapter.agent_record_steps(collector)
        if recorded is None:
            agent_tables.append(_agent_columns(collector.get_agent_vars_dataframe()))
    typed = []
    for agent_type in getattr(collector, "agenttype_reporters", {}) or {}:
        name = getattr(agent_type, "__name__", str(agent_type))
        frame = collector.get_agenttype_vars_dataframe(agent_type)
        typed.append(_agent_columns(frame, name))

    agent_steps: set[int] = set()
    for columns in [*agent_tables, *typed]:
        agent_steps.update(np.unique(columns["Step"]).tolist())
    if recorded is not None:
        agent_steps.update(recorded)
    keep = kept_steps(record_steps + sorted(agent_steps), period)

    data = RunData()
    data.model = _model_columns(collector, record_steps, keep)
    if recorded is not None:
        data.agents = _recorded_agent_columns(collector, recorded, keep)
    elif agent_tables:
        data.agents = _keep_rows(agent_tables[0], keep)
    if typed:
        joined = ChunkBuilder()
        for columns in typed:
            joined.add(columns, len(columns["Step"]))
        data.agenttypes = _keep_rows(joined.finish(), keep)
    for name in getattr(collector, "tables", {}) or {}:
        frame = collector.get_table_dataframe(name)
        data.tables[name] = {str(c): frame[c].to_numpy() for c in frame.columns}
    return data


@dataclass
class RunData:
    """The columns one run contributes to each table."""

    model: dict[str, Any] = field(default_factory=dict)
    agents: dict[str, Any] | None = None
    agenttypes: dict[str, Any] | None = None
    tables: dict[str, dict[str, Any]] = field(default_factory=dict)

    def frames(self) -> dict[str, dict[str, Any]]:
        """The data tables this run has, by name (user tables apart)."""
        pairs = {MODEL: self.model, AGENTS: self.agents, AGENTTYPES: self.agenttypes}
        return {name: columns for name, columns in pairs.items() if columns is not None}
