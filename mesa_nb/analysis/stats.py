"""Statistics over the replicates of a sweep: mean, spread and t-intervals.

:func:`replicate_stats` groups the ``model`` table of a sweep by parameters
(and Step) and summarises one model reporter over the runs in each group.
Only finished runs count: a :class:`~mesa_nb.SweepResult`'s ``model`` table
holds no rows of failed, crashed or cancelled runs, and rows of runs that are
not ``ok`` are dropped again here in case a table was edited by hand.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError
from ..core.records import Status
from ..core.result import SweepResult

OK, CANCELLED = Status.OK, Status.CANCELLED

__all__ = ["STAT_COLUMNS", "replicate_stats"]

#: The statistic columns of :func:`replicate_stats`, in order.
STAT_COLUMNS = ["count", "mean", "std", "sem", "ci_low", "ci_high", "min", "max"]

#: Columns of the ``model`` table that identify a record, never a parameter.
KEY_COLUMNS = ("RunId", "iteration", "Step")


@dataclass(frozen=True)
class ModelTable:
    """A ``model``-shaped table with its columns sorted into kinds.

    ``parameters`` are the columns between ``iteration`` and ``Step`` (the
    layout of ``SweepResult.model``), ``reporters`` the columns after ``Step``.
    ``loose`` is True for a bare DataFrame, whose other columns are accepted
    as ``by`` or reporter names too. ``runs`` is the ``runs`` table of a
    SweepResult (every run, failed ones included).
    """

    frame: pd.DataFrame
    parameters: tuple[str, ...]
    reporters: tuple[str, ...]
    swept: tuple[str, ...]
    n_failed: int = 0
    n_cancelled: int = 0
    loose: bool = False
    runs: pd.DataFrame | None = None

    @property
    def other_columns(self) -> tuple[str, ...]:
        """Every column that is not RunId, iteration or Step."""
        return tuple(c for c in self.frame.columns if c not in KEY_COLUMNS)

    def excluded_note(self) -> str:
        """``" (2 failed runs excluded)"`` or ``""`` when every run finished."""
        parts = []
        if self.n_failed:
            parts.append(f"{self.n_failed} failed")
        if self.n_cancelled:
            parts.append(f"{self.n_cancelled} cancelled")
        if not parts:
            return ""
        total = self.n_failed + self.n_cancelled
        return f" ({' and '.join(parts)} run{'s' if total > 1 else ''} excluded)"


def model_table(data: SweepResult | pd.DataFrame | ModelTable) -> ModelTable:
    """Sort the columns of ``result.model`` (or a DataFrame like it) into kinds."""
    if isinstance(data, ModelTable):
        return data
    if isinstance(data, SweepResult):
        ok_runs = data.runs.loc[data.runs["status"] == OK, "RunId"]
        frame = data.model
        if not frame["RunId"].isin(ok_runs).all():
            frame = frame[frame["RunId"].isin(ok_runs)]
        parameters, reporters = _split_columns(frame)
        swept = tuple(p for p in data.metadata.get("swept", ()) if p in parameters)
        return ModelTable(
            frame,
            parameters,
            reporters,
            swept,
            n_failed=data.n_failed,
            n_cancelled=int((data.runs["status"] == CANCELLED).sum()),
            runs=data.runs,
        )
    if isinstance(data, pd.DataFrame):
        parameters, reporters = _split_columns(data)
        swept = tuple(p for p in parameters if _n_values(data[p]) > 1)
        return ModelTable(data, parameters, reporters, swept, loose=True)
    raise TypeError(
        "Expected a SweepResult or a DataFrame like result.model, "
        f"got {type(data).__name__}."
    )


def _split_columns(frame: pd.DataFrame) -> tuple[tuple[str, ...], tuple[str, ...]]:
    columns = list(frame.columns)
    missing = [c for c in ("RunId", "Step") if c not in columns]
    if missing:
        raise ParameterError(
            f"The table has no {' or '.join(missing)} column; pass a SweepResult "
            "or its model table (RunId, iteration, parameters, Step, reporters)."
        )
    step = columns.index("Step")
    parameters = tuple(c for c in columns[:step] if c not in KEY_COLUMNS)
    reporters = tuple(c for c in columns[step + 1 :] if c not in KEY_COLUMNS)
    return parameters, reporters


def _n_values(column: pd.Series) -> int:
    try:
        return int(column.nunique(dropna=False))
    except TypeError:  # unhashable values (dicts, lists)
        return len({repr(v) for v in column})


def _listing(names: Iterable[str]) -> str:
    names = list(names)
    return ", ".join(names) if names else "(none)"


def _suggest(name: str, names: Sequence[str]) -> str:
    close = difflib.get_close_matches(str(name), list(names), n=1)
    return f" Did you mean {close[0]!r}?" if close else ""


def unknown_name(kind: str, name: Any, available: Sequence[str]) -> ParameterError:
    """``No <kind> 'x'. Available: a, b.`` with the closest name suggested."""
    return ParameterError(
        f"No {kind} {name!r}. Available: {_listing(available)}."
        + _suggest(name, available)
    )


def check_reporter(table: ModelTable, reporter: str, by: Sequence[str] = ()) -> str:
    """Return ``reporter`` if it is a model reporter of ``table``, else raise."""
    allowed = table.other_columns if table.loose else table.reporters
    if reporter not in allowed or reporter in by:
        raise unknown_name("model reporter", reporter, table.reporters)
    return reporter


def check_by(table: ModelTable, by: str | Sequence[str] | None) -> list[str]:
    """Normalise ``by`` to a list of parameter names; None means the swept ones."""
    if by is None:
        return list(table.swept)
    names = [by] if isinstance(by, str) else list(by)
    if len(set(names)) != len(names):
        raise ParameterError(f"by names a parameter twice: {names!r}.")
    if table.loose:
        allowed = table.other_columns
        listed = table.parameters or allowed
    else:
        allowed = listed = table.parameters
    for name in names:
        if name not in allowed:
            raise unknown_name("parameter", name, listed)
    return names


def check_level(level: float) -> float:
    """Return ``level`` if it is a confidence level strictly between 0 and 1."""
    if not 0 < level < 1:
        raise ValueError(f"level must be between 0 and 1 (e.g. 0.95), got {level!r}.")
    return float(level)


def numeric_values(frame: pd.DataFrame, column: str, kind: str) -> pd.Series:
    """``frame[column]`` as floats, or a ParameterError if it is not numeric."""
    values = frame[column]
    if pd.api.types.is_bool_dtype(values) or not pd.api.types.is_numeric_dtype(values):
        try:
            values = pd.to_numeric(values)
        except (TypeError, ValueError) as exc:
            raise ParameterError(
                f"The {kind} {column!r} is not numeric (dtype {frame[column].dtype}); "
                "statistics and plots need numbers."
            ) from exc
    return values.astype(float)


def carried_forward(
    frame: pd.DataFrame, values: pd.Series, by: Sequence[str]
) -> tuple[pd.DataFrame, pd.Series]:
    """Each run at every Step of its group (from its first record on), its
    most recent value carried forward where it has no record."""
    work = frame[["RunId", *by, "Step"]].copy()
    work["__value"] = values.to_numpy()
    groups = work.groupby(list(by), sort=False, dropna=False) if by else [((), work)]
    pieces = []
    for key, group in groups:
        wide = group.pivot_table(
            index="Step", columns="RunId", values="__value", aggfunc="last"
        )
        started = wide.notna().cummax()  # from each run's first record on
        long = wide.ffill().where(started).stack().rename("__value").reset_index()
        for name, value in zip(by, key, strict=True):
            long[name] = value
        pieces.append(long)
    long = pd.concat(pieces, ignore_index=True)
    return long, long["__value"]


def last_rows(frame: pd.DataFrame) -> pd.DataFrame:
    """Each run's row with its highest Step (its final state)."""
    ordered = frame.sort_values(["RunId", "Step"], kind="stable")
    return ordered.drop_duplicates("RunId", keep="last")


def replicate_stats(
    data: SweepResult | pd.DataFrame,
    reporter: str,
    by: str | Sequence[str] | None = None,
    *,
    level: float = 0.95,
    final: bool = False,
) -> pd.DataFrame:
    """Summarise a model reporter over the replicate runs of each parameter point.

    Args:
        data: a :class:`~mesa_nb.SweepResult` (its ``model`` table is used) or a
            DataFrame shaped like ``result.model``: RunId, iteration, parameter
            columns, Step, reporter columns.
        reporter: the model reporter to summarise (numeric).
        by: parameter name(s) to group by. Default: the swept parameters
            (``result.metadata["swept"]``; for a DataFrame, the parameter
            columns that take more than one value). ``[]`` pools every run.
        level: confidence level of the interval of the mean.
        final: use only each run's last record (one value per run); the
            output then has no Step column.

    Returns:
        One row per ``by`` combination (and Step, unless ``final``), sorted,
        with columns ``*by, Step, count, mean, std, sem, ci_low, ci_high,
        min, max``. ``count`` is the number of runs with a non-missing value;
        ``std`` has ddof=1; the interval is Student's t interval of the mean,
        ``mean -+ t((1 + level) / 2, count - 1) * sem``. With a single run
        ``std``, ``sem`` and the interval are NaN. Every run counts at every
        Step of its group from its first record on, with its most recent
        record carried forward (a run that stopped early, or a record taken at
        a Step another run skipped), so a mean never mixes different sets of
        runs.

    Raises:
        ParameterError: unknown reporter or parameter; the message lists the
            available names.
    """
    table = model_table(data)
    by = check_by(table, by)
    check_reporter(table, reporter, by)
    level = check_level(level)
    frame = last_rows(table.frame) if final else table.frame
    keys = by if final else [*by, "Step"]
    values = numeric_values(frame, reporter, "model reporter")
    if not final and len(frame):
        frame, values = carried_forward(frame, values, by)
    if keys:
        work = frame[keys].copy()
        work["__value"] = values.to_numpy()
        grouped = work.groupby(keys, sort=True, dropna=False)["__value"]
        out = grouped.agg(["count", "mean", "std", "min", "max"]).reset_index()
    else:
        out = pd.DataFrame(
            {
                "count": [values.count()],
                "mean": [values.mean()],
                "std": [values.std()],
                "min": [values.min()],
                "max": [values.max()],
            }
        )
    count = out["count"].to_numpy()
    many = count > 1
    sem = np.full(len(out), np.nan)
    sem[many] = out["std"].to_numpy()[many] / np.sqrt(count[many])
    from scipy import stats as scipy_stats  # scipy loads on first use

    quantile = np.full(len(out), np.nan)
    quantile[many] = scipy_stats.t.ppf((1 + level) / 2, count[many] - 1)
    out["count"] = out["count"].astype("int64")
    out["sem"] = sem
    out["ci_low"] = out["mean"] - quantile * sem
    out["ci_high"] = out["mean"] + quantile * sem

    return out[[*keys, *STAT_COLUMNS]].reset_index(drop=True)
