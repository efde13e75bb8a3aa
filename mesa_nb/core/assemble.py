"""Assemble a :class:`SweepResult` from the records and data of finished runs.

Records and chunks arrive in any order; the result is built once, sorted by
RunId, so it never depends on that order.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

from .columns import chunks_to_frame, keep_types
from .parameters import PerRun
from .plan import SweepPlan
from .records import (
    AGENTS,
    AGENTTYPES,
    DATASETS,
    FRAMES,
    MODEL,
    TABLE_KEYS,
    TABLES,
    Batch,
    RunRecord,
    Status,
    run_parameters,
    sort_keys,
)
from .result import SweepResult

_INT64 = np.iinfo(np.int64)


def runs_table(
    plan: SweepPlan, records: dict[int, RunRecord], missing_status: str
) -> tuple[pd.DataFrame, dict[int, dict[str, Any]]]:
    """One row per run of ``plan`` (``missing_status`` for runs without a
    record), and the parameter values of every finished run by RunId.

    A swept ``seed`` parameter is the runs' seed: it is the ``seed`` column
    (one column, never two of one name). ``reproducible`` is each record's
    (:attr:`RunRecord.reproducible`); if a run differed when repeated, the
    model draws from a generator other than its own and no run of it is
    reproducible from its seed: every True becomes False.
    """
    rows, kwargs = [], {}
    names = [n for n in plan.space.names if n != "seed"]
    differed = any(r.reproduced is False for r in records.values())
    for spec in plan.runs:
        record = records.get(spec.run_id) or RunRecord(spec.run_id, missing_status)
        params = run_parameters(spec.params, record.drawn)
        shown = {n: repr(v) if isinstance(v, PerRun) else v for n, v in params.items()}
        reproducible = record.reproducible
        rows.append(
            {
                "RunId": spec.run_id,
                "iteration": spec.iteration,
                "seed": spec.seed,
                **shown,
                "status": str(record.status),
                "steps": record.steps,
                "reproducible": False if differed and reproducible else reproducible,
                "wall_time": record.wall_time,
                "error": record.error,
                "traceback": record.traceback,
            }
        )
        if record.status == Status.OK:
            kwargs[spec.run_id] = params
    columns = ["RunId", "iteration", "seed", *names, "status", "steps"]
    columns += ["reproducible", "wall_time", "error", "traceback"]
    runs = pd.DataFrame(rows, columns=columns)
    runs["steps"] = runs["steps"].astype("Int64")
    for name in names:
        values = [row[name] for row in rows]
        if _whole_beside_none(values):
            runs[name] = pd.array(values, dtype="Int64")
    return runs, kwargs


def _whole_beside_none(values: list[Any]) -> bool:
    """Whether ``values`` are whole numbers (within int64) and some None: a
    column pandas would make floats with NaN (5 shown as 5.0, a whole
    number past 2**53 no longer the one the model was given), kept as a
    nullable ``Int64`` column instead. Booleans beside None stay objects,
    as pandas keeps them.
    """
    present = [v for v in values if v is not None]
    if len(present) == len(values) or not present:
        return False
    return all(
        isinstance(v, int | np.integer)
        and not isinstance(v, bool | np.bool_)
        and _INT64.min <= v <= _INT64.max
        for v in present
    )


def assemble_result(
    plan: SweepPlan,
    records: dict[int, RunRecord],
    data: Batch,
    missing_status: Status,
) -> SweepResult:
    """The :class:`SweepResult` of ``records`` and ``data`` (consumes the
    chunks); its metadata describes the plan, the caller adds how it ran."""
    runs, kwargs = runs_table(plan, records, missing_status)

    def table(group: str, name: str, chunks: list) -> pd.DataFrame:
        keys = sort_keys(group, name)
        if plan.settings.exact_values:  # each value keeps its type (batch_run)
            chunks = keep_types(chunks, keys)
        return chunks_to_frame(chunks, keys)

    model = table(FRAMES, MODEL, data.of(FRAMES, MODEL))
    reporters = [c for c in model.columns if c not in (*TABLE_KEYS[MODEL], "Time")]
    keys = ["iteration", *(n for n in plan.space.names if n not in reporters)]
    by_run = runs.set_index("RunId")[keys]
    model = model.join(by_run, on="RunId")
    order = ["RunId", *keys, "Step"]
    model = model[order + [c for c in model.columns if c not in order]]

    def frames(group: str, named: dict[str, list]) -> dict[str, pd.DataFrame]:
        return {n: table(group, n, c) for n, c in named.items()}

    cls = plan.settings.model_cls
    return SweepResult(
        runs,
        model,
        table(FRAMES, AGENTS, data.of(FRAMES, AGENTS)),
        table(FRAMES, AGENTTYPES, data.of(FRAMES, AGENTTYPES)),
        frames(TABLES, data.tables),
        plan.describe(),
        parameter_names=plan.space.names,
        model_reporters=tuple(reporters),
        datasets=frames(DATASETS, data.datasets),
        settings=plan.settings,
        design=plan.space.design,
        grid=getattr(plan.space.points, "axes", None),
        model_cls=cls if isinstance(cls, type) else None,
        run_kwargs=kwargs,
    )
