"""LeRobot v3.0 file layout (paths, chunk/file numbering) and crash-safe file replacement.

Every file of the dataset is written to a staging directory first and moved into place with
`os.replace`, so a reader (or a crash) only ever sees the previous or the new complete file.
"""

from __future__ import annotations

import errno
import json
import os
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from .errors import DiskFullError

CODEBASE_VERSION = "v3.0"
INFO_PATH = "meta/info.json"
STATS_PATH = "meta/stats.json"
TASKS_PATH = "meta/tasks.parquet"
DATA_PATH = "data/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
VIDEO_PATH = "videos/{video_key}/chunk-{chunk_index:03d}/file-{file_index:03d}.mp4"
EPISODES_PATH = "meta/episodes/chunk-{chunk_index:03d}/file-{file_index:03d}.parquet"
# Hidden from LeRobot's loader (it only globs data/, meta/episodes/ and the referenced videos).
STAGING_DIR = ".lerobot_ros_staging"

T = TypeVar("T")


@dataclass(frozen=True, order=True)
class FileIndex:
    """(chunk, file) position of a data, video or episodes-metadata file."""

    chunk: int = 0
    file: int = 0

    def next(self, chunks_size: int) -> FileIndex:
        """The file after this one: a new chunk directory once `chunks_size` files are in this one."""
        if self.file + 1 >= chunks_size:
            return FileIndex(self.chunk + 1, 0)
        return FileIndex(self.chunk, self.file + 1)


def data_path(index: FileIndex) -> str:
    return DATA_PATH.format(chunk_index=index.chunk, file_index=index.file)


def video_path(video_key: str, index: FileIndex) -> str:
    return VIDEO_PATH.format(video_key=video_key, chunk_index=index.chunk, file_index=index.file)


def episodes_path(index: FileIndex) -> str:
    return EPISODES_PATH.format(chunk_index=index.chunk, file_index=index.file)


def size_in_mb(path: Path) -> float:
    return path.stat().st_size / (1024**2)


def is_disk_full(error: BaseException) -> bool:
    return isinstance(error, OSError) and error.errno in (errno.ENOSPC, errno.EDQUOT)


@contextmanager
def disk_full_as_error(what: str) -> Iterator[None]:
    """Turn ENOSPC/EDQUOT raised while doing `what` into a `DiskFullError` that says so."""
    try:
        yield
    except OSError as error:
        if is_disk_full(error):
            raise DiskFullError(f"no space left on device while {what}: {error}") from error
        raise


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_staged(staging: Path, name: str, write: Callable[[Path], T]) -> tuple[Path, T]:
    """Run `write(tmp)` on a fresh staging path and fsync the result; returns (tmp, write's result)."""
    tmp = staging / name
    tmp.unlink(missing_ok=True)
    result = write(tmp)
    with tmp.open("rb") as handle:
        os.fsync(handle.fileno())
    return tmp, result


def commit(tmp: Path, final: Path) -> None:
    """Move a staged file into place atomically (same file system), creating its directory."""
    final.parent.mkdir(parents=True, exist_ok=True)
    tmp.replace(final)
    fsync_dir(final.parent)


def json_bytes(data: Any) -> bytes:
    """JSON as LeRobot writes it (indent 4, UTF-8 kept)."""
    return json.dumps(data, indent=4, ensure_ascii=False).encode("utf-8")
