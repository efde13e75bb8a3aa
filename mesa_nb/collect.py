"""Read a finished model's DataCollector into columns, one table at a time.

Only the collector's public API is used: ``model_vars``,
``get_agent_vars_dataframe``, ``get_agenttype_vars_dataframe`` and
``get_table_dataframe``. The Step of each model record is observed while the
run is driven (see :func:`drive`), since Mesa 3.3 does not store it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from .columns import ChunkBuilder

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
    if collector.agent_reporters:
        agent_tables.append(_agent_columns(collector.get_agent_vars_dataframe()))
    typed = []
    for agent_type in getattr(collector, "agenttype_reporters", {}) or {}:
        name = getattr(agent_type, "__name__", str(agent_type))
        frame = collector.get_agenttype_vars_dataframe(agent_type)
        typed.append(_agent_columns(frame, name))

    agent_steps: set[int] = set()
    for columns in [*agent_tables, *typed]:
        agent_steps.update(np.unique(columns["Step"]).tolist())
    keep = kept_steps(record_steps + sorted(agent_steps), period)

    data = RunData()
    data.model = _model_columns(collector, record_steps, keep)
    if agent_tables:
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

    def items(self) -> list[tuple[str, dict[str, Any] | None]]:
        """``(table, columns)`` pairs, the collector's tables as ``tables/<name>``."""
        pairs = [("model", self.model), ("agents", self.agents)]
        pairs.append(("agenttypes", self.agenttypes))
        pairs += [(f"tables/{name}", cols) for name, cols in self.tables.items()]
        return pairs
