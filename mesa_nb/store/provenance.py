"""Where a store's runs came from: versions, platform, the model's git
commit, the code hash, and when each sweep into the store started and ended.

Kept in ``provenance.json`` beside the manifest, one entry per sweep that
wrote the store (a resumed store has several). The lock holder adds its
sweep's entry when it opens the store and writes the entry's end time when
it closes it (:class:`ProvenanceLog`); earlier entries are never changed.
An entry without an end time is a sweep that is running or was killed.
"""

from __future__ import annotations

import datetime as dt
import inspect
import json
import os
import subprocess
import uuid
import warnings
from pathlib import Path
from typing import Any

from ..core.meta import versions
from .atomic import AtomicFiles
from .encoding import class_path
from .fingerprint import code_versions
from .names import StoreLayout

PROVENANCE_NAME = "provenance.json"
FORMAT = "mesa_nb-provenance/1"
#: How long ``git`` may take to say the commit and whether it is dirty.
GIT_SECONDS = 5.0
_SCRIPT_MODULES = ("__main__", "__mp_main__")


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat()


def model_source_file(cls: type) -> Path | None:
    """The file the model class was read from (None for a notebook cell)."""
    for value in vars(cls).values():
        code = getattr(getattr(value, "__func__", value), "__code__", None)
        if code is not None and os.path.isfile(code.co_filename):
            return Path(code.co_filename).resolve()
    if cls.__module__ in _SCRIPT_MODULES:
        return None
    try:
        file = inspect.getsourcefile(cls)
    except (OSError, TypeError):
        return None
    return Path(file).resolve() if file and os.path.isfile(file) else None


def git_state(path: Path | None) -> dict[str, Any] | None:
    """The commit of the git work tree ``path`` is in and whether tracked
    files differ from it (``dirty``); None outside a work tree, without git,
    or when git does not answer within :data:`GIT_SECONDS`."""
    if path is None:
        return None
    folder = path if path.is_dir() else path.parent
    env = {**os.environ, "GIT_OPTIONAL_LOCKS": "0"}  # status writes no index

    def git(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run(
            ["git", "-C", str(folder), *args],
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=GIT_SECONDS,
            env=env,
            check=False,
        )

    try:
        head = git("rev-parse", "--show-toplevel", "HEAD")
        if head.returncode != 0:
            return None
        root, commit = head.stdout.splitlines()[:2]
        status = git("status", "--porcelain", "--untracked-files=no")
    except (OSError, ValueError, subprocess.SubprocessError):
        return None
    dirty = bool(status.stdout.strip()) if status.returncode == 0 else None
    return {"commit": commit, "dirty": dirty, "root": root}


def sweep_provenance(model_cls: type, fingerprint: dict[str, Any]) -> dict[str, Any]:
    """The provenance of a sweep starting now: versions (mesa, mesa_nb,
    numpy, pandas, Python), platform, the model and its file, the git state
    of the file's work tree, and the code hash (the fingerprint's)."""
    source = model_source_file(model_cls)
    recorded = versions()
    return {
        "id": uuid.uuid4().hex,
        "started_at": _now(),
        "ended_at": None,
        "model": class_path(model_cls),
        "model_file": str(source) if source else None,
        "git": git_state(source),
        "code_sha256": fingerprint.get("sha256"),
        "versions": {
            **code_versions(),
            "pandas": recorded["pandas"],
        },
        "platform": recorded["platform"],
    }


def read_sweeps(layout: StoreLayout) -> list[dict[str, Any]]:
    """The provenance entries of a store's sweeps, oldest first (none for a
    store made before provenance was recorded, or a damaged file)."""
    path = layout.root / PROVENANCE_NAME
    try:
        document = json.loads(path.read_bytes())
    except FileNotFoundError:
        return []
    except (OSError, ValueError) as exc:
        warnings.warn(f"{path} cannot be read ({exc}).", stacklevel=2)
        return []
    sweeps = document.get("sweeps") if isinstance(document, dict) else None
    if not isinstance(sweeps, list) or not all(isinstance(s, dict) for s in sweeps):
        warnings.warn(f"{path} has no list of sweeps.", stacklevel=2)
        return []
    return sweeps


def read_provenance(layout: StoreLayout) -> dict[str, Any] | None:
    """The provenance of the store's last sweep, with ``earlier_sweeps``
    (what ``result.metadata['provenance']`` holds); None if none was kept."""
    sweeps = read_sweeps(layout)
    if not sweeps:
        return None
    return {**sweeps[-1], "earlier_sweeps": sweeps[:-1]}


class ProvenanceLog:
    """The ``provenance.json`` of a store, as the sweep holding its lock
    writes it: :meth:`start` when it opens the store, :meth:`end` when it
    closes it (nothing if it did not start one: a compaction)."""

    def __init__(self, layout: StoreLayout, files: AtomicFiles) -> None:
        self.layout, self._files = layout, files
        self.path = layout.root / PROVENANCE_NAME
        self._current: str | None = None

    def start(self, entry: dict[str, Any]) -> None:
        """Add this sweep's entry (from :func:`sweep_provenance`)."""
        self._write([*self._kept(), entry])
        self._current = entry["id"]

    def end(self) -> None:
        """Write the end time of this sweep's entry; a failure to write it is
        warned about, never raised (the runs are stored already)."""
        current, self._current = self._current, None
        if current is None:
            return
        try:
            sweeps = read_sweeps(self.layout)
            for sweep in sweeps:
                if sweep.get("id") == current:
                    sweep["ended_at"] = _now()
            self._write(sweeps)
        except OSError as exc:
            warnings.warn(
                f"the end of the sweep could not be recorded in {self.path}: {exc}",
                stacklevel=2,
            )

    def _kept(self) -> list[dict[str, Any]]:
        """The entries so far; a damaged file is kept aside, not overwritten."""
        sweeps = read_sweeps(self.layout)
        if not sweeps and self.path.exists():
            aside = self.path.with_name(f"provenance.damaged-{uuid.uuid4().hex}.json")
            os.replace(self.path, aside)
        return sweeps

    def _write(self, sweeps: list[dict[str, Any]]) -> None:
        document = {"format": FORMAT, "sweeps": sweeps}
        self._files.write(self.path, json.dumps(document, indent=2).encode())
