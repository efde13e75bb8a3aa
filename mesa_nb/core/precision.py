"""Replicates until precise: the stopping rule of ``iterations="auto"``.

A sweep with ``iterations="auto"`` and ``precision={reporter: h}`` runs its
replicates in rounds. Every point first gets :data:`FIRST_ROUND` replicates;
after each round, each point's final values (the last record of each run)
give, per reporter, the half-width of the t-interval of their mean at
``level`` (95%): ``t(n-1) * s / sqrt(n)``. A point is *precise* when every
reporter's half-width is at most its ``h``. A point that is not gets more
replicates in the next round: as many as the sample sd says it needs,
``(t * s / h)**2`` values (more if some of its runs gave no value), but at
most :data:`GROWTH` times what it has (a noisy early sd does not overshoot)
and at most ``max_iterations``. The sweep ends when every point is precise,
capped at ``max_iterations`` (reported, not precise), or failing (a round of
its runs gave no value: reported, not run again).

Replicate ``k`` of a point is the run a fixed-iterations sweep with the same
master seed makes for it (its seed comes from the point and ``k``), so the
runs of an auto sweep are a prefix, point by point, of that sweep.

Everything here is a pure function of what the runs gave and of the plan's
layout (which replicates of which point each round added; see
:meth:`~mesa_nb.core.plan.SweepPlan.replicates`), so a sweep stopped and
resumed from its store decides exactly as one that ran through.
"""

from __future__ import annotations

import functools
import json
import math
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, fields
from typing import Any

import numpy as np

from .errors import SweepOptionError
from .records import Chunk, Progress

#: The ``iterations`` that asks for replicates until precise.
AUTO = "auto"
#: Replicates every point gets in the first round (and the least
#: ``max_iterations`` may be).
FIRST_ROUND = 10
#: ``max_iterations`` when not given.
DEFAULT_MAX_ITERATIONS = 1000
#: A round gives a point at most this many times the replicates it has.
GROWTH = 2
#: The confidence level of the intervals.
LEVEL = 0.95

PRECISE, MORE, CAPPED, FAILING = "precise", "more", "capped", "failing"
#: A point's status when the sweep stopped before the rule did.
STOPPED = "stopped"


@functools.lru_cache(maxsize=4096)
def t_quantile(df: int, level: float = LEVEL) -> float:
    """The two-sided ``level`` quantile of Student's t with ``df`` degrees
    of freedom (``t(0.975, df)`` for 95%)."""
    from scipy import stats

    return float(stats.t.ppf((1 + level) / 2, df))


def half_width(values: np.ndarray, level: float = LEVEL) -> np.ndarray:
    """The half-width of the t-interval of the mean of each column of
    ``values`` (n x reporters); NaN with fewer than 2 values."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n < 2:
        return np.full(values.shape[1:], np.nan)
    sd = values.std(axis=0, ddof=1)
    return t_quantile(n - 1, level) * sd / math.sqrt(n)


def values_needed(values: np.ndarray, wanted: np.ndarray, level: float) -> int:
    """How many values the sample sd says give half-widths of at most
    ``wanted``: ``ceil((t(n-1) * s / h)**2)``, the most over reporters."""
    n = len(values)
    sd = np.asarray(values, dtype=float).std(axis=0, ddof=1)
    need = (t_quantile(n - 1, level) * sd / wanted) ** 2
    return math.ceil(float(np.max(need)) - 1e-9)


# -- the rule -------------------------------------------------------------------------
@dataclass(frozen=True)
class PrecisionRule:
    """How precise an ``iterations="auto"`` sweep makes each point.

    Attributes:
        wanted: ``((reporter, half-width), ...)``, in the order given.
        max_iterations: the most replicates a point gets.
        first: the replicates of the first round.
        level: the confidence level of the intervals.
    """

    wanted: tuple[tuple[str, float], ...]
    max_iterations: int = DEFAULT_MAX_ITERATIONS
    first: int = FIRST_ROUND
    level: float = LEVEL

    @classmethod
    def of(
        cls, precision: Mapping[str, float], max_iterations: int | None = None
    ) -> PrecisionRule:
        cap = DEFAULT_MAX_ITERATIONS if max_iterations is None else max_iterations
        return cls(tuple((str(k), float(v)) for k, v in precision.items()), cap)

    @property
    def reporters(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.wanted)

    @property
    def half_widths(self) -> np.ndarray:
        return np.array([h for _, h in self.wanted], dtype=float)

    def text(self) -> str:
        """``Gini ±0.01, Wealth ±0.5``."""
        return ", ".join(f"{name} ±{h:g}" for name, h in self.wanted)

    def definition(self) -> dict[str, Any]:
        """The rule as a store records it (and :meth:`from_definition` reads)."""
        return {
            "precision": dict(self.wanted),
            "max_iterations": self.max_iterations,
            "first_round": self.first,
            "level": self.level,
            "growth": GROWTH,
        }

    @classmethod
    def from_definition(cls, written: Mapping[str, Any]) -> PrecisionRule:
        return cls(
            tuple((str(k), float(v)) for k, v in written["precision"].items()),
            int(written["max_iterations"]),
            int(written.get("first_round", FIRST_ROUND)),
            float(written.get("level", LEVEL)),
        )


# -- the final values of runs ------------------------------------------------------
class NotNumber(ValueError):
    """A reporter's final value is not a number."""


def _number(value: Any) -> float:
    if value is None:
        return math.nan
    if isinstance(value, bool | int | float | np.number | np.bool_):
        return float(value)
    if isinstance(value, str):  # a store's tagged JSON text, or a plain string
        try:
            return float(value)
        except ValueError:
            pass
        try:
            decoded = json.loads(value)
        except ValueError:
            raise NotNumber(value) from None
        if decoded is None:
            return math.nan
        if isinstance(decoded, dict) and "$float" in decoded:
            return float(decoded["$float"])
        if isinstance(decoded, int | float) and not isinstance(decoded, bool):
            return float(decoded)
    raise NotNumber(value)


def numbers(values: np.ndarray) -> np.ndarray:
    """``values`` as floats (None: NaN); :class:`NotNumber` for a value that
    is not a number."""
    values = np.asarray(values)
    if values.dtype.kind in "biuf":
        return values.astype(float)
    return np.array([_number(v) for v in values.ravel()], dtype=float)


class FinalValues:
    """The final value of every precision reporter, run by run, taken from
    the ``model`` table's chunks as they come (the last Step of each run)."""

    def __init__(self, reporters: Sequence[str]) -> None:
        self.reporters = tuple(reporters)
        self.rows: dict[int, np.ndarray] = {}
        self.columns: set[str] = set()

    def take(self, chunks: Iterable[Chunk], wanted: Collection[int]) -> None:
        """Read the final rows of the runs in ``wanted`` from ``chunks``
        (later chunks win); raises :class:`SweepOptionError` for a reporter
        whose values are not numbers."""
        for chunk in chunks:
            self.columns.update(chunk)
            if "RunId" not in chunk or not len(chunk["RunId"]):
                continue
            run_ids = np.asarray(chunk["RunId"]).astype(np.int64)
            steps = chunk.get("Step")
            steps = np.zeros(len(run_ids)) if steps is None else np.asarray(steps)
            order = np.lexsort((steps, run_ids))
            ordered = run_ids[order]
            last = order[np.r_[ordered[1:] != ordered[:-1], True]]
            keep = last[np.isin(run_ids[last], np.fromiter(wanted, np.int64))]
            if not len(keep):
                continue
            columns = []
            for name in self.reporters:
                if name not in chunk:
                    columns.append(np.full(len(keep), np.nan))
                    continue
                try:
                    columns.append(numbers(np.asarray(chunk[name])[keep]))
                except NotNumber as exc:
                    raise SweepOptionError(
                        f"precision: the final values of {name!r} must be numbers "
                        f"to have an interval, got {exc.args[0]!r}: give a reporter "
                        "whose values are numbers.",
                        field="precision",
                    ) from None
            table = np.column_stack(columns)
            for run_id, row in zip(run_ids[keep].tolist(), table, strict=True):
                self.rows[run_id] = row

    def missing(self) -> list[str]:
        """The precision reporters the model table lacks (none while no data
        was seen)."""
        if not self.columns:
            return []
        return [name for name in self.reporters if name not in self.columns]

    def by_point(
        self, locate: Callable[[int], tuple[int, int]], ok: Collection[int]
    ) -> dict[int, tuple[np.ndarray, np.ndarray]]:
        """``{point: (iterations, values)}`` of the runs in ``ok`` whose every
        reporter has a finite final value (``locate``: RunId -> (point,
        iteration))."""
        found: dict[int, tuple[list[int], list[np.ndarray]]] = {}
        for run_id in ok:
            row = self.rows.get(run_id)
            if row is None or not np.all(np.isfinite(row)):
                continue
            point, iteration = locate(run_id)
            iterations, rows = found.setdefault(point, ([], []))
            iterations.append(iteration)
            rows.append(row)
        return {
            p: (np.array(i, dtype=np.int64), np.vstack(r))
            for p, (i, r) in found.items()
        }


def unknown_reporters(missing: Sequence[str], columns: Iterable[str], ran: int) -> str:
    """The refusal of precision reporters the model does not report."""
    reported = sorted(c for c in columns if c not in ("RunId", "Step", "Time"))
    return (
        f"precision names {', '.join(map(repr, missing))}, which the model does not "
        f"report (its model reporters: {', '.join(reported) or 'none'}). Reporters "
        f"are known only once runs ran, so this was found after the first round "
        f"({ran} runs, kept in the store if the sweep has one): fix the name in "
        "precision= (--precision NAME=HALF_WIDTH) and run the sweep again."
    )


# -- where each point stands -----------------------------------------------------------
@dataclass(frozen=True)
class PointStanding:
    """Where one point stands after a round.

    ``replicates``: planned (and run) so far; ``values``: runs that gave a
    finite final value of every reporter; ``half_widths``: by reporter (NaN
    with fewer than 2 values); ``status``: precise, more, capped (at
    ``max_iterations``) or failing (a round of its runs gave no value);
    ``target``: its replicates after the next round.
    """

    point: int
    replicates: int
    values: int
    half_widths: tuple[float, ...]
    status: str
    target: int

    def ratio(self, wanted: np.ndarray) -> float:
        """The widest half-width over the wanted one (inf: not known)."""
        widths = np.asarray(self.half_widths, dtype=float)
        if not len(widths) or np.any(np.isnan(widths)):
            return math.inf
        return float(np.max(widths / wanted))


def assess(
    rule: PrecisionRule,
    layout: Sequence[tuple[int, int]],
    values: Mapping[int, tuple[np.ndarray, np.ndarray]],
) -> list[PointStanding]:
    """Where each point stands, and how many replicates it gets next.

    ``layout``: per point, its planned replicates and the first replicate of
    its last round; ``values``: per point, the iterations and final values
    (n x reporters) of its runs that gave one (see :meth:`FinalValues.by_point`).
    """
    wanted = rule.half_widths
    empty = (np.zeros(0, np.int64), np.zeros((0, len(wanted))))
    standings = []
    for point, (planned, last_start) in enumerate(layout):
        iterations, rows = values.get(point, empty)
        n = len(rows)
        widths = half_width(rows, rule.level) if n else np.full(len(wanted), np.nan)
        fresh = int(np.sum(iterations >= last_start))
        ran_last = planned - last_start
        target = planned
        if n >= 2 and np.all(widths <= wanted):
            status = PRECISE
        elif fresh == 0 and (n < 2 or ran_last >= rule.first):
            status = FAILING
        elif planned >= rule.max_iterations:
            status = CAPPED
        else:
            status = MORE
            if n >= 2:
                need = values_needed(rows, wanted, rule.level)
                target = math.ceil(need * planned / n)  # runs without a value too
            else:
                target = GROWTH * planned
            target = min(max(target, planned + 1), GROWTH * planned)
            target = min(target, rule.max_iterations)
        standings.append(
            PointStanding(point, planned, n, tuple(widths.tolist()), status, target)
        )
    return standings


def next_round(standings: Iterable[PointStanding]) -> dict[int, int]:
    """``{point: replicates}`` of the points that get more (empty: done)."""
    return {s.point: s.target for s in standings if s.status == MORE}


@dataclass(frozen=True)
class Standing:
    """How far an auto sweep got, for a progress display: after which
    round, how many points are precise / need more / are capped / failing,
    and the widest half-width left (reporter, half-width, wanted)."""

    round: int
    precise: int
    more: int
    capped: int
    failing: int
    widest: tuple[str, float, float] | None = None

    def text(self) -> str:
        """``round 3: 4/6 points precise, widest Gini ±0.023 (want ±0.01)``."""
        points = self.precise + self.more + self.capped + self.failing
        parts = [f"round {self.round}: {self.precise}/{points} points precise"]
        if self.widest is not None:
            name, width, wanted = self.widest
            shown = "?" if math.isnan(width) else f"{width:.3g}"
            parts.append(f"widest {name} ±{shown} (want ±{wanted:g})")
        if self.capped:
            parts.append(f"{self.capped} capped")
        if self.failing:
            parts.append(f"{self.failing} failing")
        return ", ".join(parts)


def widest(
    rule: PrecisionRule, standings: Iterable[PointStanding], statuses=(MORE, CAPPED)
) -> tuple[PointStanding, str, float, float] | None:
    """The point whose interval is widest against the wanted one, among
    ``statuses``: (standing, reporter, half-width, wanted)."""
    wanted = rule.half_widths
    candidates = [s for s in standings if s.status in statuses]
    if not candidates:
        return None
    worst = max(candidates, key=lambda s: s.ratio(wanted))
    widths = np.asarray(worst.half_widths, dtype=float)
    ratios = np.where(np.isnan(widths), np.inf, widths / wanted)
    at = int(np.argmax(ratios))
    return worst, rule.reporters[at], float(widths[at]), float(wanted[at])


def standing(
    rule: PrecisionRule, standings: Sequence[PointStanding], rounds: int
) -> Standing:
    """The :class:`Standing` of ``standings`` after ``rounds`` rounds."""
    counts = {s: 0 for s in (PRECISE, MORE, CAPPED, FAILING)}
    for each in standings:
        counts[each.status] += 1
    found = widest(rule, standings)
    return Standing(
        rounds,
        counts[PRECISE],
        counts[MORE],
        counts[CAPPED],
        counts[FAILING],
        None if found is None else found[1:],
    )


def outcome(
    rule: PrecisionRule,
    standings: Sequence[PointStanding],
    rounds: int,
    labels: Callable[[int], dict[str, Any]],
    finished: bool = True,
) -> dict[str, Any]:
    """What a result's ``metadata["precision"]`` holds: the rule, the rounds,
    whether every point reached the precision, and each point (its swept
    values from ``labels``, replicates, values, half-widths, status).
    ``finished``: False when the sweep stopped before the rule did (every
    point not precise is then ``stopped``)."""
    points = [
        {
            "point": s.point,
            **labels(s.point),
            "replicates": s.replicates,
            "values": s.values,
            "half_width": dict(zip(rule.reporters, s.half_widths, strict=True)),
            "status": s.status if finished or s.status == PRECISE else STOPPED,
        }
        for s in standings
    ]
    found = widest(rule, standings, (MORE, CAPPED, PRECISE))
    return {
        **rule.definition(),
        "rounds": rounds,
        "finished": finished,
        "reached": finished and all(s.status == PRECISE for s in standings),
        "not_reached": [p for p in points if p["status"] != PRECISE],
        "widest": None
        if found is None
        else {
            "point": found[0].point,
            "reporter": found[1],
            "half_width": found[2],
            "wanted": found[3],
        },
        "points": points,
    }


# -- progress -----------------------------------------------------------------------
@dataclass(frozen=True)
class PrecisionProgress(Progress):
    """A :class:`~.records.Progress` event of an auto sweep, with where its
    points stand (``precision``: None until the first round ended)."""

    precision: Standing | None = None

    @classmethod
    def of(cls, event: Progress, precision: Standing | None) -> PrecisionProgress:
        given = {f.name: getattr(event, f.name) for f in fields(Progress)}
        return cls(**given, precision=precision)


__all__ = [
    "AUTO",
    "CAPPED",
    "DEFAULT_MAX_ITERATIONS",
    "FAILING",
    "FIRST_ROUND",
    "GROWTH",
    "LEVEL",
    "MORE",
    "PRECISE",
    "STOPPED",
    "FinalValues",
    "PointStanding",
    "PrecisionProgress",
    "PrecisionRule",
    "Standing",
    "assess",
    "half_width",
    "next_round",
    "outcome",
    "standing",
    "t_quantile",
    "unknown_reporters",
]
