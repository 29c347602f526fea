"""One writer per dataset root: an exclusive `flock` on `<root>/.lerobot_ros_lock`.

A second writer would delete the first one's staging files when it resumes and interleave its
episodes with the first one's. The lock file says who holds it (pid, host, start time), so the
refusal can name the holder. The kernel drops the lock when its holder dies, even by SIGKILL; a
stale file left behind is simply taken over.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import weakref
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from .errors import DatasetLockedError
from .layout import LOCK_FILE


class DatasetLock:
    """Held from `acquire` until `release` (or until the holder is garbage-collected or exits)."""

    def __init__(self, path: Path, handle: IO[str]) -> None:
        self.path = path
        self._release = weakref.finalize(self, _release, path, handle)

    @classmethod
    def acquire(cls, root: Path) -> DatasetLock:
        """Lock the dataset in `root` (an existing directory); raises `DatasetLockedError` naming the holder."""
        path = root / LOCK_FILE
        while True:
            handle = path.open("a+")
            try:
                fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                handle.seek(0)
                holder = _describe(handle.read())
                handle.close()
                raise DatasetLockedError(
                    f"{root} is being written by another dataset writer ({holder}); one dataset takes one "
                    f"recorder or converter at a time: stop that one or use another dataset root (lock file {path})"
                ) from None
            except BaseException:
                handle.close()
                raise
            if _same_file(handle, path):
                break
            handle.close()  # the holder released and removed the file between our open and our lock: retry
        handle.seek(0)
        handle.truncate()
        holder = {"pid": os.getpid(), "host": socket.gethostname(), "since": datetime.now(UTC).isoformat()}
        handle.write(json.dumps(holder) + "\n")
        handle.flush()
        return cls(path, handle)

    @property
    def held(self) -> bool:
        return self._release.alive

    def release(self) -> None:
        """Remove the lock file and unlock; a no-op once released."""
        self._release()


def _same_file(handle: IO[str], path: Path) -> bool:
    try:
        return path.stat().st_ino == os.fstat(handle.fileno()).st_ino
    except FileNotFoundError:
        return False


def _release(path: Path, handle: IO[str]) -> None:
    if not handle.closed:
        if _same_file(handle, path):
            path.unlink()  # while still locked, so no one takes over a file about to disappear
        handle.close()


def _describe(content: str) -> str:
    try:
        holder = json.loads(content)
        return f"pid {holder['pid']} on host {holder['host']}, since {holder['since']}"
    except (ValueError, KeyError, TypeError):
        return "its holder is still starting up"
