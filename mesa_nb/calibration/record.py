"""A calibration's store: its definition, each batch's distances, its sweeps.

Layout of the directory given as ``store=``::

    calibration.json      the definition (model, priors, observed, options, seed)
    calibration.lock      held while a calibration writes here
    told/g001-b000.json   a finished batch: its candidates and their distances
    runs/g001-b000/       that batch's sweep: a mesa_nb run store (resumable)

A calibration is a sequence of batches, each drawn from the calibration's
seed and the batches before it; a batch's file is written (atomically, after
its sweep) before the next batch is drawn. Running the same calibration on
the same store reads the finished batches back instead of running them and
resumes the batch in progress from its run store, so a killed calibration
ends as an uninterrupted one would. Loading reads the same files.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import math
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..core.errors import StoreError
from ..store.atomic import AtomicFiles

FORMAT = "mesa_nb-calibrate/1"
DEFINITION = "calibration.json"
LOCK = "calibration.lock"


def batch_key(generation: int, batch: int) -> str:
    """``g001-b000``: the name of a batch's files."""
    return f"g{generation:03d}-b{batch:03d}"


@dataclass(frozen=True)
class Told:
    """A finished batch: its candidates, their distances and its counts."""

    key: str
    thetas: np.ndarray
    distances: np.ndarray
    runs: int
    failed: int
    scales: list[float] | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "thetas": self.thetas.tolist(),
            "distances": [None if math.isnan(d) else d for d in self.distances],
            "runs": self.runs,
            "failed": self.failed,
            "scales": self.scales,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Told:
        thetas = np.asarray(data["thetas"], dtype=float)
        distances = np.array(
            [math.nan if d is None else float(d) for d in data["distances"]], float
        )
        return cls(
            data["key"],
            thetas.reshape(len(distances), -1),
            distances,
            int(data["runs"]),
            int(data["failed"]),
            data.get("scales"),
        )


class CalibrationStore:
    """The directory of one calibration (see the module docstring)."""

    def __init__(self, path: str | os.PathLike) -> None:
        if not os.fspath(path).strip():
            raise StoreError(
                "store= is empty: give the directory to keep the calibration in "
                "(or no store=).",
                field="store",
            )
        self.root = Path(path).expanduser()
        self.files = AtomicFiles()
        self._lock_fd: int | None = None

    # -- definition ----------------------------------------------------------
    def exists(self) -> bool:
        return (self.root / DEFINITION).is_file()

    def definition(self) -> dict[str, Any]:
        """The stored definition, or a :class:`StoreError` naming the fix."""
        path = self.root / DEFINITION
        try:
            data = json.loads(path.read_text())
        except FileNotFoundError:
            raise StoreError(
                f"{self.root} holds no calibration (no {DEFINITION}): give the "
                "store= directory a calibration wrote to."
            ) from None
        except (OSError, ValueError) as exc:
            raise StoreError(f"Cannot read {path}: {exc}.") from None
        if data.get("format") != FORMAT:
            raise StoreError(
                f"{path} is not a mesa_nb calibration of format {FORMAT!r}."
            )
        return data

    def check_free(self) -> None:
        """Refuse to start a calibration in a directory that holds something
        else (a sweep's store, a project's files): give a new or empty one."""
        own = {LOCK, "refused"}  # what a refused first batch leaves
        other = sorted(
            p.name
            for p in self.root.iterdir()
            if p.name not in own and not p.name.startswith(".")  # .DS_Store
        )
        if other:
            shown = ", ".join(other[:3]) + (", ..." if len(other) > 3 else "")
            raise StoreError(
                f"{self.root} holds no calibration but other files ({shown}): "
                "give store= a new or empty directory.",
                field="store",
            )

    def write_definition(self, definition: Mapping[str, Any]) -> None:
        """Write the definition in its own key order: the order of the priors
        is the order of the columns of every batch's candidates."""
        document = {**definition, "format": FORMAT}
        text = json.dumps(document, indent=2, allow_nan=False)
        self.files.write(self.root / DEFINITION, text.encode())

    # -- batches -------------------------------------------------------------
    def sweep_store(self, key: str) -> Path:
        """Where batch ``key``'s runs are stored."""
        return self.root / "runs" / key

    def set_aside(self, key: str) -> Path | None:
        """Free the store after its first batch was refused (every run failed,
        or none gave a number to compare): the batch's runs move to
        ``refused/<key>-<n>`` (kept, not resumed: the corrected model or
        priors start afresh) and the definition is removed, so the corrected
        call can use this store. Where the runs went (None: nowhere)."""
        source = self.sweep_store(key)
        target = None
        if source.exists():
            n = 0
            while (self.root / "refused" / f"{key}-{n}").exists():
                n += 1
            target = self.root / "refused" / f"{key}-{n}"
            self.files.ensure_dir(target.parent)
            source.rename(target)
            with contextlib.suppress(OSError):  # runs/ when now empty
                source.parent.rmdir()
        with contextlib.suppress(FileNotFoundError):
            (self.root / DEFINITION).unlink()
        return target

    def told(self, key: str) -> Told | None:
        """Batch ``key`` as written when it finished, or None."""
        path = self.root / "told" / f"{key}.json"
        try:
            return Told.from_dict(json.loads(path.read_text()))
        except FileNotFoundError:
            return None
        except (OSError, ValueError, KeyError) as exc:
            raise StoreError(
                f"Cannot read {path} ({exc}): the calibration store is damaged; "
                "delete that file to run the batch again."
            ) from None

    def write_told(self, told: Told) -> None:
        text = json.dumps(told.to_dict(), allow_nan=False)
        self.files.write(self.root / "told" / f"{told.key}.json", text.encode())

    # -- lock ----------------------------------------------------------------
    def lock(self) -> None:
        """Hold the calibration's lock, or refuse: another process writes it."""
        try:
            self.files.ensure_dir(self.root)
            if not self.root.is_dir():
                raise NotADirectoryError(f"{self.root} is a file")
        except OSError as exc:
            raise StoreError(
                f"Cannot keep a calibration in {self.root} ({exc}): give "
                "store= a directory (new, or one a calibration wrote to).",
                field="store",
            ) from None
        fd = os.open(self.root / LOCK, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 64, 0).decode(errors="replace").strip() or "?"
            os.close(fd)
            who = (
                "this process (one in the background?)"
                if holder == str(os.getpid())
                else f"process {holder}"
            )
            raise StoreError(
                f"Another calibration ({who}) is writing {self.root}: "
                "wait for it to end, or give another store=."
            ) from None
        except OSError:  # a filesystem without locks: go on unlocked
            pass
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd is not None:
            with contextlib.suppress(OSError):
                os.ftruncate(self._lock_fd, 0)
            os.close(self._lock_fd)
            self._lock_fd = None


__all__ = ["FORMAT", "CalibrationStore", "Told", "batch_key"]
