"""Mesa's format: a :class:`SweepResult` as the rows ``mesa.batch_run`` returns.

Part of the Mesa drop-in (:mod:`.compat`); it gives every result its
``to_mesa_rows()`` and ``to_mesa_frame()`` (registered on import).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from ..core import mesa_adapter
from ..core.records import Status
from ..core.result import SweepResult, register_extension


def mesa_rows(
    result: SweepResult, seed_key: str | bool | None = True, seeds_shown: bool = True
) -> list[dict[str, Any]]:
    """The list of dicts ``mesa.batch_run`` returns, row for row.

    Keys: RunId, iteration, Step, the parameters (and the seed keyword), the
    model reporters (a reporter named like a parameter wins, as in Mesa), and
    for collectors with agent reporters AgentID and the agent reporters.
    Steps without agent records give one row without agent keys. Values are
    the values themselves (from a ``batch_run`` result, exactly the ones the
    model reported).

    Args:
        seed_key: the key the run's seed is shown under: True for the
            keyword the model was seeded through, None for no key.
        seeds_shown: False shows ``None`` under ``seed_key`` (what
            ``mesa.batch_run`` 3.5 shows when it was given no seeds).
    """
    if seed_key is True:
        seed_key = result.metadata.get("seed_kwarg")
    head = _run_heads(result, seed_key, seeds_shown)
    model = result.model
    reporters = [r for r in result.model_reporters if r != "Time"]
    values = {r: model[r].to_numpy().tolist() for r in reporters}
    with_time = "Time" in model.columns or mesa_adapter.HAS_MODEL_TIME
    steps = (model["Time"] if "Time" in model.columns else model["Step"]).tolist()
    agents = result.agents
    agent_names = [c for c in agents.columns if c not in ("RunId", "Step")]
    agent_columns = [agents[c].to_numpy().tolist() for c in agent_names]
    spans = _spans(agents["RunId"].to_numpy(), agents["Step"].to_numpy())
    typed = _typed_rows(result.agenttypes) if mesa_adapter.BATCH_RUN_TAKES_RNG else {}
    rows: list[dict[str, Any]] = []
    for i, (run_id, step) in enumerate(
        zip(model["RunId"].tolist(), model["Step"].tolist(), strict=True)
    ):
        if run_id not in head:
            continue
        row = dict(head[run_id])
        row["Step"] = float(steps[i]) if with_time else step
        row.update((r, values[r][i]) for r in reporters)
        start, stop = spans.get((run_id, step), (0, 0))
        extra = typed.get((run_id, step), [])
        if start == stop and not extra:
            rows.append(row)
        if stop > start:
            rows += _agent_block(row, agent_names, agent_columns, start, stop)
        rows.extend(row | values for values in extra)
    return rows


def _run_heads(
    result: SweepResult, seed_key: str | None, seeds_shown: bool
) -> dict[int, dict[str, Any]]:
    """The keys every row of a finished run starts with, by RunId."""
    runs = result.runs[result.runs["status"] == Status.OK]
    head: dict[int, dict[str, Any]] = {}
    for run_id, iteration, seed in zip(
        runs["RunId"].tolist(),
        runs["iteration"].tolist(),
        runs["seed"].tolist(),
        strict=True,
    ):
        params = result.run_kwargs.get(run_id)
        if params is None:
            params = {
                n: _native(runs.loc[runs["RunId"] == run_id, n].iloc[0])
                for n in result.parameter_names
            }
        row = {"RunId": run_id, "iteration": iteration, "Step": None, **params}
        if seed_key is not None:
            row[seed_key] = seed if seeds_shown else None
        head[run_id] = row
    return head


def _typed_rows(agenttypes: pd.DataFrame) -> dict[tuple[int, int], list[dict]]:
    """Mesa 3.4+'s rows of ``agenttype_reporters``: per (RunId, Step), one dict
    per agent with its AgentID and its type's reporters, type by type."""
    if agenttypes.empty:
        return {}
    rows: dict[tuple[int, int], list[dict]] = {}
    reporters = [
        c
        for c in agenttypes.columns
        if c not in ("RunId", "Step", "AgentID", "AgentType")
    ]
    for _, frame in agenttypes.groupby("AgentType", sort=False):
        own = [c for c in reporters if frame[c].notna().any()]
        keys = zip(frame["RunId"].tolist(), frame["Step"].tolist(), strict=True)
        values = frame[["AgentID", *own]].to_dict("records")
        for key, value in zip(keys, values, strict=True):
            rows.setdefault(key, []).append(value)
    return rows


def _agent_block(
    row: dict[str, Any],
    names: list[str],
    columns: list[list[Any]],
    start: int,
    stop: int,
) -> list[dict[str, Any]]:
    """One step's agent rows: the step's row with each agent's values.

    Filled column by column from copies of one template (a dict copy is far
    cheaper than building each row key by key, on 500,000 rows).
    """
    template = row | dict.fromkeys(names)
    block = [template.copy() for _ in range(stop - start)]
    for name, column in zip(names, columns, strict=True):
        for target, value in zip(block, column[start:stop], strict=True):
            target[name] = value
    return block


def _spans(run_ids: np.ndarray, steps: np.ndarray) -> dict[tuple[int, int], tuple]:
    """``{(RunId, Step): (first row, row after the last)}`` of a sorted table."""
    if len(run_ids) == 0:
        return {}
    change = (run_ids[1:] != run_ids[:-1]) | (steps[1:] != steps[:-1])
    bounds = [0, *(np.flatnonzero(change) + 1).tolist(), len(run_ids)]
    firsts = zip(
        run_ids[bounds[:-1]].tolist(), steps[bounds[:-1]].tolist(), strict=True
    )
    return {
        key: (start, stop)
        for key, start, stop in zip(firsts, bounds[:-1], bounds[1:], strict=True)
    }


def _native(value: Any) -> Any:
    if value is pd.NA:  # a None beside whole numbers (a nullable column)
        return None
    return value.item() if isinstance(value, np.generic) else value


register_extension("mesa_rows", mesa_rows)
