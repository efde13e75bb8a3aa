"""One sweep writes a store at a time: an exclusive lock that names its holder.

The lock is a ``flock`` on ``lock.json``, which says who holds it (pid, host,
since). Closing the lock releases it, as does the death of the process
holding it; a forked child drops its copies of the parent's locks, so a lock
never outlives its process because a child lives on.
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import socket
import sys
import time
import warnings
import weakref
from typing import Any

from ..core.errors import StoreError
from .atomic import AtomicFiles
from .names import StoreLayout


class StoreLock:
    """The exclusive lock of the store at ``layout`` (not taken until
    :meth:`acquire`)."""

    def __init__(self, layout: StoreLayout, files: AtomicFiles) -> None:
        self.layout = layout
        self.files = files
        self.fd: int | None = None
        self._release: Any = None

    @property
    def held(self) -> bool:
        """Whether this lock is held (taken and not released)."""
        return self.fd is not None

    def acquire(self) -> None:
        """Take the lock (if not held yet); refuse a store another sweep
        writes, naming it. Warns (stacklevel for the caller's caller) and goes
        on unlocked where the filesystem cannot lock."""
        if self.fd is not None:
            return
        root = self.layout.root
        try:
            self.files.ensure_dir(root)
            fd = os.open(self.layout.lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(
                f"Cannot write to {root} ({type(exc).__name__}: {exc}): give "
                "a directory you can write to for store=."
            ) from None
        try:
            locked = _try_lock(fd)
        except OSError as exc:  # a filesystem without locks: go on unlocked
            warnings.warn(
                f"{root} cannot be locked ({exc}); make sure no other sweep "
                "writes this store at the same time.",
                RuntimeWarning,
                stacklevel=3,
            )
            locked = True
        if not locked:
            holder = _holder(self.layout)
            os.close(fd)
            raise StoreError(
                f"{root} is being written by another sweep ({holder}): wait "
                "for it to finish, or use another store directory."
            )
        info = {
            "pid": os.getpid(),
            "host": socket.gethostname(),
            "since": time.strftime("%Y-%m-%d %H:%M:%S"),
            "python": sys.executable,
        }
        os.ftruncate(fd, 0)
        os.lseek(fd, 0, os.SEEK_SET)
        os.write(fd, json.dumps(info).encode())
        self.fd = fd
        self._release = weakref.finalize(self, os.close, fd)
        _HELD.add(self)

    def release(self) -> None:
        """Release the lock (does nothing if it is not held)."""
        release, self._release, self.fd = self._release, None, None
        _HELD.discard(self)
        if release is not None:
            release()

    def forget(self) -> None:
        """In a forked child: drop this copy of the parent's lock descriptor
        (closing a copy leaves the parent's lock held)."""
        fd, release = self.fd, self._release
        self.fd = self._release = None
        if release is not None:
            release.detach()
        if fd is not None:
            with contextlib.suppress(OSError):
                os.close(fd)


#: Locks this process holds (see :func:`_forget_inherited_locks`).
_HELD: weakref.WeakSet[StoreLock] = weakref.WeakSet()


def _forget_inherited_locks() -> None:
    """In a forked child: drop the copies of the parent's lock descriptors,
    so that the lock never outlives the parent because a child lives on."""
    for lock in list(_HELD):
        lock.forget()
    _HELD.clear()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_inherited_locks)


def _try_lock(fd: int) -> bool:
    """Lock ``fd`` exclusively without waiting: False if another holds it.

    Raises OSError where the filesystem cannot lock.
    """
    try:
        import fcntl
    except ImportError:  # pragma: no cover - Windows
        import msvcrt

        try:
            msvcrt.locking(fd, msvcrt.LK_NBLCK, 1)
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.EDEADLK):
                return False
            raise
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


def _holder(layout: StoreLayout, tries: int = 50) -> str:
    """Who holds a store's lock, as ``lock.json`` says. A holder that has
    just taken the lock writes its name a moment later: read again, a few
    times, until it is there."""
    for attempt in range(tries):
        try:
            info = json.loads(layout.lock.read_text())
            host = info.get("host")
            where = f" on {host}" if host != socket.gethostname() else ""
            mine = " (this process)" if info["pid"] == os.getpid() else ""
            return f"pid {info['pid']}{mine}{where}, since {info['since']}"
        except (OSError, ValueError, KeyError, TypeError):
            if attempt + 1 < tries:
                time.sleep(0.01)
    return "pid unknown"
