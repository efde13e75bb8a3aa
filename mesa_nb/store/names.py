"""Where each file of a results store lives, and how its parts are named.

Layout (Parquet via pyarrow, JSON; never pickle)::

    manifest.json             format, sweep definition, seeds, model fingerprint
    lock.json                 who is writing the store (pid, host, since)
    running.json, deaths.json the run a sweep's own process is running, and how
                              often a process died running each run
    runs/<part>.parquet       one row per finished run: status, steps, errors;
                              its metadata lists the batch's data parts with
                              their sha256 and row counts
    model/<part>.parquet      the data of those runs, one file per table
    agents/<part>.parquet
    agenttypes/<part>.parquet
    tables/<name>/<part>.parquet      <name> percent-encoded into one path
    datasets/<name>/<part>.parquet    component (see :func:`encode_name`)
    compacting/<part>/...     the parts of a compaction, until they are in
                              place (see :mod:`.compaction`)

``<part>`` is ``<time_ns, 20 digits>-<random>``, so parts sort in the order
they were written. A data part is named after its batch: one whose batch has
no ``runs`` part was never committed.
"""

from __future__ import annotations

import hashlib
import os
import re
import time
import uuid
from pathlib import Path
from typing import Any

from ..core.records import DATA_TABLES, DATASETS, FRAMES, TABLES

MANIFEST_NAME = "manifest.json"
LOCK_NAME = "lock.json"
#: Names the run running in the sweep's own process (processes=1).
RUNNING_NAME = "running.json"
#: How many times a sweep's process died while each run ran in it.
DEATHS_NAME = "deaths.json"
#: Files of a store that say nothing about its sweep (a folder holding only
#: them is still empty).
BOOKKEEPING = (LOCK_NAME, RUNNING_NAME, DEATHS_NAME)
RUNS_FOLDER = "runs"
#: Where a compaction stages its merged parts (no ``<table>/*.parquet`` glob
#: reaches them there).
STAGING_FOLDER = "compacting"
_PART = re.compile(r"\d{20}-[0-9a-f]+")
_SAFE = frozenset("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_-")
_MAX_COMPONENT = 150


def encode_name(name: str) -> str:
    """A table or dataset name as one safe path component.

    Letters, digits, ``_`` and ``-`` are kept; every other character (``/``,
    ``.``, ``%``, spaces, anything non-ASCII) becomes ``%XX`` per UTF-8 byte
    (the empty name is ``%``), so the name decodes back (:func:`decode_name`).
    A name with capitals gets ``~`` and a short hash of it appended (``A`` and
    ``a`` are one directory on case-insensitive file systems); a very long
    name is cut and ended with ``~`` and a longer hash. Either way the name
    itself is also kept in the ``runs`` part of each batch.
    """
    if not name:
        return "%"
    encoded = "".join(
        c if c in _SAFE else "".join(f"%{b:02X}" for b in c.encode()) for c in name
    )
    digest = hashlib.sha256(name.encode()).hexdigest()
    if len(encoded) > _MAX_COMPONENT:
        cut = encoded[:100]
        cut = cut[: cut.rfind("%")] if "%" in cut[-2:] else cut
        return f"{cut}~{digest[:16]}"
    if any("A" <= c <= "Z" for c in name):
        return f"{encoded}~{digest[:8]}"
    return encoded


def decode_name(component: str) -> str:
    """The name :func:`encode_name` encoded (a cut long name stays cut)."""
    component = component.partition("~")[0]
    if component == "%":
        return ""
    raw, i = bytearray(), 0
    while i < len(component):
        if component[i] == "%" and _hex(component, i):
            raw.append(int(component[i + 1 : i + 3], 16))
            i += 3
        else:
            raw += component[i].encode()
            i += 1
    return raw.decode("utf-8", errors="replace")


def _hex(text: str, i: int) -> bool:
    return len(text) >= i + 3 and all(
        c in "0123456789abcdefABCDEF" for c in text[i + 1 : i + 3]
    )


def part_order(path: Path) -> tuple[int, str]:
    """Write order: parts of older stores (random names) first, then by time."""
    return (1 if _PART.fullmatch(path.stem) else 0, path.stem)


class PartNames:
    """Names new parts so that they sort after every part named before."""

    def __init__(self) -> None:
        self.last_ns = 0

    def new(self) -> str:
        """A new part name: ``<time_ns, 20 digits>-<random>``."""
        ns = max(time.time_ns(), self.last_ns + 1)
        self.last_ns = ns
        return f"{ns:020d}-{uuid.uuid4().hex[:8]}"

    def follow(self, layout: StoreLayout) -> None:
        """Name new parts after the newest ``runs`` part of ``layout``."""
        names = (p.stem for p in layout.runs.glob("*.parquet"))
        newest = max((int(n[:20]) for n in names if _PART.fullmatch(n)), default=0)
        self.last_ns = max(self.last_ns, newest)


def store_root(path: str | os.PathLike) -> Path:
    """The store directory ``path`` names (``~`` expanded)."""
    return Path(os.fspath(path)).expanduser()


class StoreLayout:
    """Which file of a store lives where (building one touches no file).

    Attributes:
        root: the store's directory.
        manifest: the sweep's definition and metadata.
        lock: the lock file, naming its holder.
        running: the note of the run running in the sweep's own process.
        deaths: how often a sweep's process died running each run.
        runs: the folder of the ``runs`` parts (the commit points).
        staging: where a compaction stages its parts, one folder per batch.
    """

    def __init__(self, root: Path) -> None:
        self.root = root
        self.manifest = root / MANIFEST_NAME
        self.lock = root / LOCK_NAME
        self.running = root / RUNNING_NAME
        self.deaths = root / DEATHS_NAME
        self.runs = root / RUNS_FOLDER
        self.staging = root / STAGING_FOLDER

    def run_part(self, part: str) -> Path:
        """The ``runs`` part of the batch ``part``."""
        return self.runs / f"{part}.parquet"

    def run_parts(self) -> list[Path]:
        """The ``runs`` parts there are, in the order they were written."""
        return sorted(self.runs.glob("*.parquet"), key=part_order)

    def data_part(self, group: str, name: str, part: str) -> str:
        """Where the data of table ``name`` of ``group`` in batch ``part``
        lives, relative to the store (as a batch lists it)."""
        folder = name if group == FRAMES else f"{group}/{encode_name(name)}"
        return f"{folder}/{part}.parquet"

    def folders(self) -> list[Path]:
        """Every folder a file is written into (where temporaries may be)."""
        return [self.root, self.runs, *self.data_folders()]

    def data_folders(self) -> list[Path]:
        """The folders the data parts are in (those of user tables and
        datasets as there are)."""
        folders = [self.root / t for t in DATA_TABLES]
        for group in (TABLES, DATASETS):
            if (self.root / group).is_dir():
                folders += [p for p in (self.root / group).iterdir() if p.is_dir()]
        return folders

    def data_parts(self) -> list[Path]:
        """Every data part in the data folders, committed or not."""
        return [p for f in self.data_folders() for p in sorted(f.glob("*.parquet"))]

    def old_data_parts(self, part: str) -> list[dict[str, Any]]:
        """The data parts of a batch of a store written before checksums."""
        found = []
        for table in DATA_TABLES:
            if (self.root / table / f"{part}.parquet").exists():
                found.append(
                    {"group": FRAMES, "name": table, "path": f"{table}/{part}.parquet"}
                )
        for group in (TABLES, DATASETS):
            for folder in sorted((self.root / group).glob("*")):
                if (folder / f"{part}.parquet").exists():
                    found.append(
                        {
                            "group": group,
                            "name": folder.name,
                            "path": f"{group}/{folder.name}/{part}.parquet",
                        }
                    )
        return found
