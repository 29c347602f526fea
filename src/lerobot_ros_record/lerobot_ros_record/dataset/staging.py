"""The staging/commit protocol: how a change reaches the dataset without a reader or a crash seeing half of it.

Every file is written (and fsynced) in `<root>/.lerobot_ros_staging/` first, then moved into place
with `os.replace` and its directory fsynced, so a reader only ever sees the previous or the new
complete file. A save moves its files in a fixed order (`ChangeSet`); the episodes parquet goes after
the data and video files it references, so it is the commit record.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable
from pathlib import Path

from .layout import STAGING_DIR


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def make_dirs(path: Path) -> None:
    """Create `path` and its missing parents; each new directory's entry is fsynced in its parent,
    so a crash cannot lose a directory (a new `chunk-NNN/`) that committed files are in."""
    missing = []
    while not path.is_dir():
        missing.append(path)
        path = path.parent
    for directory in reversed(missing):
        directory.mkdir(exist_ok=True)
        fsync_dir(directory.parent)


def commit(tmp: Path, final: Path) -> None:
    """Move a staged file into place atomically (same file system), creating its directory."""
    make_dirs(final.parent)
    tmp.replace(final)
    fsync_dir(final.parent)


class Staging:
    """The staging directory of one dataset (hidden from LeRobot's loader)."""

    def __init__(self, root: Path) -> None:
        self.dir = root / STAGING_DIR

    def path(self, name: str) -> Path:
        """A scratch path in staging (encoder output, sample spill files)."""
        return self.dir / name

    def ensure(self) -> None:
        self.dir.mkdir(exist_ok=True)

    def clear(self) -> None:
        """Delete the files of a finished or failed save."""
        for path in self.dir.glob("*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def remove(self) -> None:
        shutil.rmtree(self.dir, ignore_errors=True)

    def write(self, name: str, write: Callable[[Path], object]) -> Path:
        """Run `write(tmp)` on a fresh staging path and fsync the result; returns the path."""
        tmp = self.dir / name
        tmp.unlink(missing_ok=True)
        write(tmp)
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        return tmp

    def replace(self, final: Path, write: Callable[[Path], object]) -> None:
        """Rewrite one file of the dataset atomically, on its own (recovery, extra meta files)."""
        commit(self.write(final.name, write), final)


class ChangeSet:
    """The files one save changes: staged as they are added, moved into place in that order by `commit`."""

    def __init__(self, staging: Staging) -> None:
        self._staging = staging
        self._moves: list[tuple[Path, Path]] = []

    def add(self, name: str, final: Path, write: Callable[[Path], object]) -> Path:
        """Stage `final`'s new content under `name`; returns the staged path (readable until the commit)."""
        tmp = self._staging.write(name, write)
        self._moves.append((tmp, final))
        return tmp

    def commit(self) -> None:
        for tmp, final in self._moves:
            commit(tmp, final)
