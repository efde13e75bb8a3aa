"""Read a finished model's DataCollector into columns, one table at a time.

Only the collector's public API is used: ``model_vars``,
``get_agent_vars_dataframe``, ``get_agenttype_vars_dataframe`` and
``get_table_dataframe``. The Step of each model record is observed while the
run is driven (see :func:`drive`), since Mesa 3.3 does not store it.
"""

from __future__ import annotations

from typing import Any

import pandas as pd

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


def _keyed_frame(frame: pd.DataFrame, keep: set[int]) -> pd.DataFrame:
    frame = frame.reset_index()
    frame["Step"] = frame["Step"].astype("int64")
    return frame[frame["Step"].isin(keep)]


def read_collector(model: Any, record_steps: list[int], period: int) -> dict[str, Any]:
    """The run's records as frames: model, agents, agent types and tables."""
    collector = model.datacollector
    agents = agenttypes = None
    agent_steps: set[int] = set()
    if collector.agent_reporters:
        agents = collector.get_agent_vars_dataframe()
        agent_steps.update(int(s) for s in agents.index.get_level_values("Step"))
    typed = []
    for agent_type in getattr(collector, "agenttype_reporters", {}) or {}:
        frame = collector.get_agenttype_vars_dataframe(agent_type)
        frame["AgentType"] = getattr(agent_type, "__name__", str(agent_type))
        agent_steps.update(int(s) for s in frame.index.get_level_values("Step"))
        typed.append(frame)

    keep = kept_steps(record_steps + sorted(agent_steps), period)
    model_frame = pd.DataFrame(
        {"Step": record_steps, **collector.model_vars}, copy=False
    )
    if len(model_frame.columns) == 1:  # agent reporters only
        model_frame = pd.DataFrame({"Step": sorted(keep)})
    model_frame = model_frame.drop_duplicates("Step", keep="last")
    model_frame = model_frame[model_frame["Step"].isin(keep)]
    if agents is not None:
        agents = _keyed_frame(agents, keep)
    if typed:
        agenttypes = _keyed_frame(pd.concat(typed), keep)
    tables = {
        name: collector.get_table_dataframe(name)
        for name in getattr(collector, "tables", {}) or {}
    }
    return {
        "model": model_frame,
        "agents": agents,
        "agenttypes": agenttypes,
        "tables": tables,
    }
