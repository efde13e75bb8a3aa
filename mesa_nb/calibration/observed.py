"""What a calibration fits: the observed data, each run's summaries, the distance.

Observed data is either summary values (``{"AttackRate": 0.42}``: matched
with each run's final value of that reporter) or a time series (a DataFrame
with a ``Step`` column, or index, and one column per reporter: matched with
the run's values at those steps). A user function may compute a run's
summaries from its model table instead. Every summary is one *coordinate*
(``"Infected@12"`` for a series), and the default distance is the Euclidean
distance of the coordinates, each divided by its spread over the first runs
(the median absolute deviation, as pyABC's adaptive distance, Prangle 2017),
over the square root of their number (a root mean square: a series of 50
points and one final value give distances of the same size). The steps of
one reporter of a series share one scale, its spread over all of them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from ..core.errors import ParameterError

#: Median absolute deviation to standard deviation, for normal data.
MAD_TO_SD = 1.4826

SummaryFunction = Callable[[pd.DataFrame], Mapping[str, float]]
DistanceFunction = Callable[[Mapping[str, float], Mapping[str, float]], float]


class ObservedError(ParameterError):
    """The observed data, summaries or distance cannot be used."""


def _number(value: Any, where: str) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float | np.number):
        raise ObservedError(
            f"Observed {where} must be a number, got {value!r}: give the value "
            "as a float (or leave the step out)."
        )
    number = float(value)
    if not math.isfinite(number):
        raise ObservedError(
            f"Observed {where} is {number}: give a finite number, or leave it out."
        )
    return number


@dataclass(frozen=True)
class Observed:
    """The observed data as named coordinates.

    Attributes:
        values: ``{coordinate: observed value}`` in a fixed order.
        reporters: the model reporters the coordinates come from.
        steps: the observed steps of a series (None: final values).
        series: the series as given (Step and reporter columns), or None.
    """

    values: Mapping[str, float]
    reporters: tuple[str, ...]
    steps: tuple[int, ...] | None = None
    series: pd.DataFrame | None = None

    @classmethod
    def of(cls, observed: Any) -> Observed:
        """Read ``observed``: a mapping of values or a DataFrame series."""
        if isinstance(observed, Observed):
            return observed
        if isinstance(observed, pd.DataFrame):
            return cls._of_series(observed)
        if isinstance(observed, Mapping):
            if not observed:
                raise ObservedError(
                    "observed is empty: give {reporter: value} or a DataFrame "
                    "with a Step column and one column per reporter."
                )
            values = {str(k): _number(v, repr(k)) for k, v in observed.items()}
            return cls(values, tuple(values))
        raise ObservedError(
            f"observed must be {{reporter: value}} or a DataFrame with a Step "
            f"column, got {type(observed).__name__}."
        )

    @classmethod
    def _of_series(cls, frame: pd.DataFrame) -> Observed:
        if "Step" not in frame.columns:
            if frame.index.name != "Step":
                raise ObservedError(
                    "An observed series needs a Step column (or an index named "
                    f"Step); its columns are {list(frame.columns)}."
                )
            frame = frame.reset_index()
        reporters = tuple(str(c) for c in frame.columns if c != "Step")
        if not reporters or frame.empty:
            raise ObservedError(
                "The observed series has no values: give a Step column and one "
                "column per reporter, one row per observed step."
            )
        steps = [_step(s) for s in frame["Step"].tolist()]
        if len(set(steps)) != len(steps):
            raise ObservedError("The observed series gives a step twice.")
        order = np.argsort(steps, kind="stable")
        frame = frame.iloc[order].reset_index(drop=True)
        steps = sorted(steps)
        values: dict[str, float] = {}
        for reporter in reporters:
            for step, value in zip(steps, frame[reporter].tolist(), strict=True):
                if _missing(value):
                    continue  # not observed at this step
                values[f"{reporter}@{step}"] = _number(
                    value, f"{reporter} at step {step}"
                )
        series = frame[["Step", *reporters]].copy()
        series["Step"] = steps
        return cls(values, reporters, tuple(steps), series)

    @property
    def coordinates(self) -> tuple[str, ...]:
        return tuple(self.values)

    @property
    def vector(self) -> np.ndarray:
        return np.array(list(self.values.values()), dtype=float)

    @property
    def needs_every_step(self) -> bool:
        """Whether runs must record every step (a series is observed)."""
        return self.steps is not None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able; read back by :meth:`from_dict`."""
        if self.series is None:
            return {"values": dict(self.values)}
        return {
            "series": {
                str(c): [_written(v) for v in self.series[c].tolist()]
                for c in self.series.columns
            }
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Observed:
        if "series" in data:
            return cls.of(pd.DataFrame(data["series"]))
        return cls.of(dict(data["values"]))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Observed) and (
            dict(self.values),
            self.reporters,
            self.steps,
        ) == (dict(other.values), other.reporters, other.steps)

    __hash__ = None  # type: ignore[assignment]


def _written(value: Any) -> Any:
    """A series value as JSON holds it (NaN, not observed: null)."""
    if isinstance(value, float) and math.isnan(value):
        return None
    return value.item() if isinstance(value, np.generic) else value


def _missing(value: Any) -> bool:
    """Not observed: None, NaN or pandas' NA (a nullable column's gap)."""
    if value is None or value is pd.NA:
        return True
    return isinstance(value, float | np.floating) and math.isnan(value)


def _step(value: Any) -> int:
    try:
        whole = not isinstance(value, bool) and float(value).is_integer()
    except (TypeError, ValueError):
        whole = False
    if not whole or value < 0:
        raise ObservedError(f"Observed steps are whole numbers from 0, got {value!r}.")
    return int(value)


class Summaries:
    """Each run's summaries, in the observed coordinates' order.

    Args:
        observed: what was observed.
        function: ``f(model table of one run) -> {coordinate: value}``; None
            reads the observed reporters (final values, or the series' steps;
            a run that ended before an observed step keeps its last value).
    """

    def __init__(self, observed: Observed, function: SummaryFunction | None = None):
        self.observed, self.function = observed, function

    def of_runs(
        self,
        model: pd.DataFrame,
        run_ids: Sequence[int],
        reporters: Sequence[str] | None = None,
    ) -> np.ndarray:
        """``(len(run_ids), coordinates)`` summaries from a model table (rows
        RunId, Step and reporters); a run with no rows gives NaN.
        ``reporters``: the model's reporters (named when one is missing)."""
        if self.function is not None:
            return self._by_function(model, run_ids)
        # Reporters only: the model table also holds the runs' parameters and
        # bookkeeping (iteration), which would compare the data with inputs.
        known = model.columns if reporters is None else reporters
        missing = [r for r in self.observed.reporters if r not in known]
        if missing and not model.empty:
            if reporters is None:
                reporters = [c for c in model.columns if c not in ("RunId", "Step")]
            inputs = [r for r in missing if r in model.columns]
            hint = (
                f" ({', '.join(map(repr, inputs))}: a parameter or a column of "
                "the runs, not something the model reports)"
                if inputs
                else ""
            )
            raise ObservedError(
                f"The runs report no {', '.join(map(repr, missing))}{hint}: "
                "observed names must be model reporters ("
                f"{', '.join(map(repr, reporters)) or 'none'})."
            )
        if self.observed.steps is None:
            return self._finals(model, run_ids)
        return self._series(model, run_ids)

    def _finals(self, model: pd.DataFrame, run_ids: Sequence[int]) -> np.ndarray:
        reporters = list(self.observed.reporters)
        if model.empty:
            return np.full((len(run_ids), len(reporters)), np.nan)
        last = model.sort_values(["RunId", "Step"]).groupby("RunId").last()
        table = last.reindex(list(run_ids))[reporters]
        return _numbers(table.to_numpy(dtype=object))

    def _series(self, model: pd.DataFrame, run_ids: Sequence[int]) -> np.ndarray:
        """Each run's value at each observed step: its row there, else (it
        ended earlier, or did not record that step) its last row before. A
        row whose value is None or NaN gives NaN: the run has no number
        there, and an earlier step's value must not stand in for it."""
        steps = list(self.observed.steps or ())
        columns = []
        for coordinate in self.observed.coordinates:
            reporter, step = coordinate.rsplit("@", 1)
            columns.append((reporter, steps.index(int(step))))
        out = np.full((len(run_ids), len(columns)), np.nan)
        if model.empty:
            return out
        index = list(run_ids)
        for reporter in self.observed.reporters:
            rows = model[["RunId", "Step", reporter]].drop_duplicates(
                ["RunId", "Step"], keep="last"
            )
            every = sorted(set(rows["Step"]) | set(steps))
            wide = rows.pivot(index="RunId", columns="Step", values=reporter)
            wide = wide.reindex(index=index, columns=every)
            values = _numbers(wide.to_numpy(dtype=object))
            has = (
                rows.assign(_row=1)
                .pivot(index="RunId", columns="Step", values="_row")
                .reindex(index=index, columns=every)
                .notna()
                .to_numpy()
            )
            carried = np.full(len(index), np.nan)
            filled = np.empty_like(values)
            for j in range(len(every)):
                carried = np.where(has[:, j], values[:, j], carried)
                filled[:, j] = carried
            at = filled[:, [every.index(s) for s in steps]]
            for j, (name, position) in enumerate(columns):
                if name == reporter:
                    out[:, j] = at[:, position]
        return out

    def _by_function(self, model: pd.DataFrame, run_ids: Sequence[int]) -> np.ndarray:
        coordinates = self.observed.coordinates
        out = np.full((len(run_ids), len(coordinates)), np.nan)
        groups = dict(tuple(model.groupby("RunId"))) if not model.empty else {}
        for i, run_id in enumerate(run_ids):
            rows = groups.get(run_id)
            if rows is None:
                continue
            given = self.function(rows.drop(columns="RunId").reset_index(drop=True))
            missing = [c for c in coordinates if c not in given]
            if missing:
                raise ObservedError(
                    f"summaries() returned {sorted(given)}, without "
                    f"{', '.join(map(repr, missing))}: it must return every "
                    "observed name."
                )
            out[i] = [_as_float(given[c]) for c in coordinates]
        return out


def _as_float(value: Any) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _numbers(values: np.ndarray) -> np.ndarray:
    """An object array as floats; what is not a number becomes NaN."""
    flat = [_as_float(v) for v in values.ravel()]
    return np.array(flat, dtype=float).reshape(values.shape)


class Distance:
    """The distance of runs' summaries from the observed values.

    ``function(simulated, observed) -> float`` (dicts by coordinate) replaces
    the default scaled Euclidean distance. Scales are fitted once, on the
    first runs (:meth:`fit`), and kept, so distances of later generations are
    comparable with earlier ones.
    """

    def __init__(
        self,
        observed: Observed,
        function: DistanceFunction | None = None,
        scales: Sequence[float] | None = None,
    ) -> None:
        self.observed, self.function = observed, function
        self.scales = None if scales is None else np.asarray(scales, dtype=float)

    def fit(self, summaries: np.ndarray) -> None:
        """Scales from the spread of ``summaries`` (rows with NaN skipped):
        1.4826 x MAD, else the standard deviation, else 1; one scale per
        reporter of a series (its values at every observed step pooled), so
        steps where every run is near 0 do not weigh more than the peak."""
        rows = summaries[~np.isnan(summaries).any(axis=1)]
        k = summaries.shape[1]
        self.scales = np.ones(k)
        if len(rows) < 2:
            return
        for columns in self._groups():
            values = rows[:, columns].ravel()
            mad = MAD_TO_SD * np.median(np.abs(values - np.median(values)))
            sd = values.std(ddof=1)
            self.scales[columns] = mad if mad > 0 else sd if sd > 0 else 1.0

    def _groups(self) -> list[list[int]]:
        """Coordinates that share a scale: one reporter's steps (a series),
        else each coordinate alone."""
        if self.observed.steps is None:
            return [[j] for j in range(len(self.observed.coordinates))]
        groups: dict[str, list[int]] = {}
        for j, name in enumerate(self.observed.coordinates):
            groups.setdefault(name.rsplit("@", 1)[0], []).append(j)
        return list(groups.values())

    def __call__(self, summaries: np.ndarray) -> np.ndarray:
        """Distances of ``(n, coordinates)`` summaries; NaN where a run failed."""
        target = self.observed.vector
        if self.function is not None:
            names = self.observed.coordinates
            observed = dict(zip(names, target.tolist(), strict=True))
            found = np.array(
                [
                    math.nan
                    if np.isnan(row).any()
                    else _as_float(
                        self.function(
                            dict(zip(names, row.tolist(), strict=True)), observed
                        )
                    )
                    for row in summaries
                ],
                dtype=float,
            )
            negative = found[found < 0]
            if len(negative):
                raise ObservedError(
                    f"distance() returned {negative[0]:g}: a distance is 0 or "
                    "more (0: the run matches the data); return, e.g., an "
                    "absolute or squared difference."
                )
            return found
        if self.scales is None:
            self.fit(summaries)
        scaled = (summaries - target) / self.scales
        return np.sqrt(np.mean(scaled**2, axis=1))


__all__ = [
    "Distance",
    "DistanceFunction",
    "Observed",
    "ObservedError",
    "Summaries",
    "SummaryFunction",
]
