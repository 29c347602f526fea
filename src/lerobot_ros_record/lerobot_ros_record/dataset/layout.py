"""LeRobot v3.0 file layout: every path of a dataset, the chunk/file numbering, the JSON format.

Every module that names a dataset file takes its path from here; LeRobot's own paths are defined
in `lerobot_ros_core.dataset_paths` (the policy package reads datasets too), the writer's own here.
"""

from __future__ import annotations

import errno
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pyarrow as pa

from lerobot_ros_core.dataset_paths import DATA_DIR, DATA_PATH, EPISODES_DIR, EPISODES_PATH, VIDEO_PATH, VIDEOS_DIR

from .errors import CorruptDatasetError, DiskFullError

# Hidden from LeRobot's loader (it only globs data/, meta/episodes/ and the referenced videos).
STAGING_DIR = ".lerobot_ros_staging"
LOCK_FILE = ".lerobot_ros_lock"  # exists while a writer holds the dataset (see lock.py)
NOT_UPLOADED = (f"{STAGING_DIR}/*", LOCK_FILE)  # the writer's own files: never part of a published dataset

_FILE_RE = re.compile(r"chunk-(\d+)/file-(\d+)\.(parquet|mp4)$")


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


def file_index(path: Path) -> FileIndex:
    """The (chunk, file) position a numbered file's path names."""
    match = _FILE_RE.search(path.as_posix())
    if match is None:
        raise CorruptDatasetError(f"unexpected file name {path}")
    return FileIndex(int(match.group(1)), int(match.group(2)))


def data_path(index: FileIndex) -> str:
    return DATA_PATH.format(chunk_index=index.chunk, file_index=index.file)


def video_path(video_key: str, index: FileIndex) -> str:
    return VIDEO_PATH.format(video_key=video_key, chunk_index=index.chunk, file_index=index.file)


def episodes_path(index: FileIndex) -> str:
    return EPISODES_PATH.format(chunk_index=index.chunk, file_index=index.file)


# Column prefixes of the episodes parquet that locate an episode's files: `<prefix>/chunk_index`, `<prefix>/file_index`.
DATA_COLUMNS = "data"
EPISODES_COLUMNS = "meta/episodes"


def video_columns(video_key: str) -> str:
    return f"videos/{video_key}"


def location(prefix: str, index: FileIndex) -> dict[str, int]:
    """An episode row's columns that point at the file `index` of a series."""
    return {f"{prefix}/chunk_index": index.chunk, f"{prefix}/file_index": index.file}


def located_in(row: dict[str, Any], prefix: str) -> FileIndex:
    """The file of a series an episode row points at."""
    return FileIndex(row[f"{prefix}/chunk_index"], row[f"{prefix}/file_index"])


def data_files(root: Path) -> list[Path]:
    return sorted((root / DATA_DIR).glob("chunk-*/file-*.parquet"))


def video_files(root: Path, video_key: str) -> list[Path]:
    return sorted((root / VIDEOS_DIR / video_key).glob("chunk-*/file-*.mp4"))


def episodes_files(root: Path) -> list[Path]:
    return sorted((root / EPISODES_DIR).glob("chunk-*/file-*.parquet"))


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


@contextmanager
def corrupt_as_error(path: Path) -> Iterator[None]:
    """Turn a file that cannot be parsed (JSON, parquet, MP4; a missing key or column) into a
    `CorruptDatasetError` that names it, instead of the parser's own error."""
    try:
        yield
    except CorruptDatasetError:
        raise
    except (ValueError, KeyError, TypeError, pa.ArrowException) as error:
        raise CorruptDatasetError(f"{path} is corrupt: {type(error).__name__}: {error}") from error


def json_bytes(data: Any) -> bytes:
    """JSON as LeRobot writes it (indent 4, UTF-8 kept)."""
    return json.dumps(data, indent=4, ensure_ascii=False).encode("utf-8")
