"""The vocabulary every stage of a sweep shares: runs, their records, progress.

The planner makes :class:`RunSpec` objects, a worker turns each into a
:class:`RunRecord` (and columns of data, packed per batch in a
:class:`BatchOutcome`), the parent gathers them and reports
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
    model's generator was found seeded with the run's seed (None: not known).
    """

    run_id: int
    status: Status
    steps: int | None = None
    wall_time: float = 0.0
    drawn: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    traceback: str | None = None
    seeded: bool | None = None


def run_parameters(params: dict[str, Any], drawn: dict[str, Any]) -> dict[str, Any]:
    """A run's parameter values: ``params`` with drawn values put in."""
    return {name: drawn.get(name, value) for name, value in params.items()}


@dataclass
class BatchOutcome:
    """The records of a batch of runs, and their data as one chunk per table.

    ``frames`` holds the collector's data tables (:data:`DATA_TABLES`),
    ``tables`` its user tables by name, ``datasets`` the datasets of the
    model's DataRecorders by name.
    """

    records: list[RunRecord]
    frames: dict[str, Chunk] = field(default_factory=dict)
    tables: dict[str, Chunk] = field(default_factory=dict)
    datasets: dict[str, Chunk] = field(default_factory=dict)
    interrupted: bool = False
    #: set when a worker wrote the batch's data into the store itself: the
    #: part name and files to commit (the tables above are then empty)
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
