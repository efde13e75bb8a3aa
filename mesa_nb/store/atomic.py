"""Files written atomically and durably: all of a file or none of it.

Each file is written into a uniquely named temporary file beside it, flushed,
fsynced and renamed into place, and its directory is fsynced after; a writer
killed mid-write leaves only a temporary behind, which the next writer of the
store removes (under the store's lock).
"""

from __future__ import annotations

import contextlib
import os
import shutil
import uuid
from collections.abc import Callable
from pathlib import Path


def fsync_dir(path: Path) -> None:
    """Make the entries of directory ``path`` durable (where that can be done)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # pragma: no cover - e.g. Windows
        return
    try:
        os.fsync(fd)
    except OSError:  # pragma: no cover - filesystems without directory fsync
        pass
    finally:
        os.close(fd)


def temporary_for(path: Path) -> Path:
    """A unique temporary file beside ``path`` (see :func:`is_temporary`)."""
    return path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")


def is_temporary(name: str) -> bool:
    """Whether a file name is that of a temporary file of a writer."""
    return name.startswith(".") and name.endswith(".tmp")


def remove_temporaries(folders: list[Path]) -> None:
    """Remove what writers killed mid-write left in ``folders``."""
    for folder in folders:
        if folder.is_dir():
            for entry in os.scandir(folder):
                if is_temporary(entry.name):
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


def remove_file(path: Path) -> None:
    """Remove the file ``path`` if it is there: the one way the store removes
    a file."""
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def remove_tree(folder: Path) -> None:
    """Remove ``folder`` and everything in it, if it is there."""
    if folder.is_dir() and not folder.is_symlink():
        for entry in os.scandir(folder):
            if entry.is_dir(follow_symlinks=False):
                remove_tree(Path(entry.path))
            else:
                remove_file(Path(entry.path))
        with contextlib.suppress(FileNotFoundError):
            os.rmdir(folder)
    elif folder.is_symlink():
        remove_file(folder)


def replace_quickly(path: Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically but not durably (not fsynced):
    for a note that only has to outlive its process."""
    tmp = temporary_for(path)
    tmp.write_text(text)
    os.replace(tmp, path)


class AtomicFiles:
    """Writes files atomically and durably, making (and fsyncing) the folders
    they go into; remembers the folders it made sure of."""

    def __init__(self) -> None:
        self._dirs: set[Path] = set()

    def ensure_dir(self, folder: Path) -> None:
        """Make ``folder`` (and its parents), fsyncing each new entry."""
        if folder in self._dirs:
            return
        missing = []
        at = folder
        while not at.exists():
            missing.append(at)
            at = at.parent
        folder.mkdir(parents=True, exist_ok=True)
        for created in reversed(missing):
            fsync_dir(created.parent)
        self._dirs.add(folder)

    def _place(self, path: Path, fill: Callable[[Path], None]) -> None:
        """``fill(tmp)`` makes a unique temporary file, which is then renamed
        to ``path`` and the directory fsynced; on any error it is removed."""
        self.ensure_dir(path.parent)
        tmp = temporary_for(path)
        try:
            fill(tmp)
            os.replace(tmp, path)
        except BaseException:
            with contextlib.suppress(OSError):
                tmp.unlink()
            raise
        fsync_dir(path.parent)

    def write(self, path: Path, data: bytes) -> None:
        """Write ``data`` to ``path`` atomically and durably: a unique
        temporary file, flushed and fsynced, renamed, the directory fsynced."""

        def fill(tmp: Path) -> None:
            with open(tmp, "wb") as file:
                file.write(data)
                file.flush()
                os.fsync(file.fileno())

        self._place(path, fill)

    def link(self, source: Path, path: Path) -> None:
        """Make ``path`` hold the file ``source`` holds, atomically and
        durably: a hard link (a copy where links cannot be made) under a
        temporary name, renamed, the directory fsynced."""

        def fill(tmp: Path) -> None:
            try:
                os.link(source, tmp)
            except OSError:  # a filesystem without hard links
                shutil.copyfile(source, tmp)
                with open(tmp, "rb") as file:
                    os.fsync(file.fileno())

        self._place(path, fill)
