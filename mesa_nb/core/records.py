"""The vocabulary every stage of a sweep shares: runs, their records, progress.

The planner makes :class:`RunSpec` objects, a worker turns each into a
:class:`RunRecord` (and columns of data, packed per batch in a :class:`Batch`
of a :class:`BatchOutcome`), the parent gathers them and reports
:class:`Progress`; the store writes and reads the same objects.
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

#: A chunk of one table: ``{column: 1-d numpy array}``, all of one length.
Chunk = dict[str, np.ndarray]

#: The tables read from a DataCollector besides its user ``tables``.
MODEL, AGENTS, AGENTTYPES = "model", "agents", "agenttypes"
DATA_TABLES = (MODEL, AGENTS, AGENTTYPES)
#: Key columns of each data table, in sort order.
TABLE_KEYS = {
    MODEL: ["RunId", "Step"],
    AGENTS: ["RunId", "Step", "AgentID"],
    AGENTTYPES: ["RunId", "Step", "AgentID"],
}

#: The groups a run's tables belong to, each table named within its group:
#: the collector's data tables (:data:`DATA_TABLES`), its user ``tables``, and
#: the datasets of the model's DataRecorders.
FRAMES, TABLES, DATASETS = "frames", "tables", "datasets"
GROUPS = (FRAMES, TABLES, DATASETS)


def sort_keys(group: str, name: str) -> list[str]:
    """The key columns the table ``name`` of ``group`` is sorted by."""
    if group == FRAMES:
        return TABLE_KEYS[name]
    return ["RunId", "time"] if group == DATASETS else ["RunId"]


class Status(enum.StrEnum):
    """What became of a run."""

    OK = "ok"
    FAILED = "failed"  # the model raised
    CRASHED = "crashed"  # its worker process died
    CANCELLED = "cancelled"  # never ran: the sweep was stopped
    PENDING = "pending"  # not run yet (a store loaded mid-sweep)
    TIMEOUT = "timeout"  # went past its time limit


#: Statuses that count as failures.
FAILED_STATUSES = (Status.FAILED.value, Status.CRASHED.value, Status.TIMEOUT.value)


class RunTimedOut(BaseException):
    """A run went past its time limit (raised inside it, caught by the worker)."""


@dataclass(frozen=True)
class RunSpec:
    """One run: its id, iteration, parameter values and seed.

    ``params`` may hold samplers (callable parameters, drawn in the worker).
    """

    run_id: int
    iteration: int
    params: dict[str, Any]
    seed: Any


@dataclass
class RunRecord:
    """What happened to one run.

    ``drawn``: the values of callable parameters; ``seeded``: whether the
    model's generator was found seeded with the run's seed (None: not known);
    ``reproduced``: whether the run gave the same values when run again with
    its seed (None: not checked; see :func:`~.worker.check_repeat`), and
    ``check``: what that check did, in words (None: it was not tried on this
    run). ``refusal``: set (with status failed) when the run found that the
    model class cannot be swept at all (it collects no data): the sweep stops
    and raises it, and the run is not recorded.
    """

    run_id: int
    status: Status
    steps: int | None = None
    wall_time: float = 0.0
    drawn: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    seeded: bool | None = None
    reproduced: bool | None = None
    check: str | None = None
    refusal: str | None = None

    @property
    def reproducible(self) -> bool | None:
        """What the runs table says: False if the model's generator was not
        seeded with the seed or the run differed when repeated, True if
        either was confirmed, None if neither could be told."""
        if self.seeded is False or self.reproduced is False:
            return False
        if self.seeded or self.reproduced:
            return True
        return None


def run_parameters(params: dict[str, Any], drawn: dict[str, Any]) -> dict[str, Any]:
    """A run's parameter values: ``params`` with drawn values put in."""
    return {name: drawn.get(name, value) for name, value in params.items()}


@dataclass
class Batch:
    """The data of some runs: chunks per table, a table named by its group
    (:data:`GROUPS`) and its name in that group."""

    chunks: dict[tuple[str, str], list[Chunk]] = field(default_factory=dict)

    def add(self, group: str, name: str, chunk: Chunk) -> None:
        """Append ``chunk`` to the table ``name`` of ``group``."""
        self.chunks.setdefault((group, name), []).append(chunk)

    def extend(self, other: Batch) -> None:
        """Append every chunk of ``other``."""
        for group, name, chunks in other.items():
            self.chunks.setdefault((group, name), []).extend(chunks)

    def items(self) -> list[tuple[str, str, list[Chunk]]]:
        """Every table as ``(group, name, chunks)``, group by group."""
        return [
            (group, name, chunks)
            for group in GROUPS
            for (g, name), chunks in self.chunks.items()
            if g == group
        ]

    def of(self, group: str, name: str) -> list[Chunk]:
        """The chunks of one table (none if it has none)."""
        return self.chunks.get((group, name), [])

    def group(self, group: str) -> dict[str, list[Chunk]]:
        """The tables of ``group``, by name."""
        return {n: chunks for (g, n), chunks in self.chunks.items() if g == group}

    @property
    def tables(self) -> dict[str, list[Chunk]]:
        """The collector's user tables, by name."""
        return self.group(TABLES)

    @property
    def datasets(self) -> dict[str, list[Chunk]]:
        """The DataRecorders' datasets, by name."""
        return self.group(DATASETS)

    def copy(self) -> Batch:
        """A copy whose chunks can be consumed without emptying these."""
        return Batch({k: [dict(c) for c in cs] for k, cs in self.chunks.items()})


@dataclass
class BatchOutcome:
    """The records of a batch of runs, and their data (one chunk per table)."""

    records: list[RunRecord]
    data: Batch = field(default_factory=Batch)
    interrupted: bool = False
    #: set when a worker wrote the batch's data into the store itself: the
    #: part name and files to commit (``data`` is then empty)
    stored: tuple[str, list[dict[str, Any]]] | None = None


@dataclass(frozen=True)
class Progress:
    """One progress event: sent once at the start, once per finished run, and
    (``running``: ``(RunId, step, seconds running)`` of runs in progress)
    about once a second while runs go on."""

    total: int
    done: int
    failed: int
    record: RunRecord | None = None
    running: tuple[tuple[int, int, float], ...] | None = None


ProgressCallback = Callable[[Progress], None]


class StopToken(Protocol):
    """What runs poll between steps to stop early (a ``threading.Event`` is one)."""

    def is_set(self) -> bool:
        """True once the sweep should stop."""
        ...
