"""Recovery: bring a dataset's files back to its committed episodes (what `DatasetWriter.resume` does first).

The episodes parquet is the commit record (see staging.py). An interrupted episode or save can leave
staging files, data rows and video frames past the last committed episode, files no committed
episode references, unused tasks, and an info.json or stats.json that lag behind: all of it is
dropped or rebuilt here. Files that hold less than the record says cannot be repaired and raise
`CorruptDatasetError`, as does any file that cannot be parsed.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow.parquet as pq

from lerobot_ros_core.dataset_paths import CODEBASE_VERSION, EPISODES_DIR, INFO_PATH, STATS_PATH, TASKS_PATH

from . import stats as stats_lib
from .errors import CorruptDatasetError, DatasetError
from .layout import (
    DATA_COLUMNS,
    EPISODES_COLUMNS,
    FileIndex,
    corrupt_as_error,
    data_files,
    data_path,
    episodes_files,
    file_index,
    json_bytes,
    located_in,
    video_columns,
    video_files,
    video_path,
)
from .staging import Staging
from .tables import read_tasks, truncate_data_file, write_tasks
from .video import count_frames as count_video_frames
from .video import truncate as truncate_video

_log = logging.getLogger(__name__)
_INFO_KEYS = ("fps", "features", "chunks_size", "data_files_size_in_mb", "video_files_size_in_mb")
_ROW_COLUMNS = ("episode_index", "tasks", "length", "dataset_from_index", "dataset_to_index")


def require_dataset(root: Path) -> None:
    if not (root / INFO_PATH).is_file():
        raise DatasetError(f"no dataset to resume in {root}: {INFO_PATH} is missing")


def read_info(root: Path) -> dict[str, Any]:
    """The dataset's info.json; a v3.0 dataset's, with the fields the writer needs."""
    require_dataset(root)
    path = root / INFO_PATH
    with corrupt_as_error(path):
        info = json.loads(path.read_text())
        if not isinstance(info, dict):
            raise CorruptDatasetError(f"{path} is corrupt: a JSON object is expected, got {type(info).__name__}")
        if info.get("codebase_version") != CODEBASE_VERSION:
            raise DatasetError(
                f"{root} is a {info.get('codebase_version')} dataset; only {CODEBASE_VERSION} can be resumed"
            )
        missing = [key for key in _INFO_KEYS if key not in info]
        if missing:
            raise CorruptDatasetError(f"{path} is corrupt: it lacks {missing}")
        if not isinstance(info["features"], dict) or not all(
            isinstance(spec, dict) and "dtype" in spec for spec in info["features"].values()
        ):
            raise CorruptDatasetError(f"{path} is corrupt: 'features' must map each feature to a spec with a dtype")
    return info


@dataclass
class Committed:
    """The committed episodes (their rows in the episodes parquet), with the tasks and stats they add up to."""

    rows: list[dict[str, Any]]
    tasks: list[str]
    stats: dict[str, stats_lib.Stats] | None

    @property
    def total_frames(self) -> int:
        return self.rows[-1]["dataset_to_index"] if self.rows else 0

    def last_file(self, prefix: str, unit: str | None = "length") -> tuple[FileIndex | None, int]:
        """The last file of a series and how many units it holds: the rows' `unit` summed, or rows if None."""
        if not self.rows:
            return None, 0
        last = located_in(self.rows[-1], prefix)
        units = sum(1 if unit is None else row[unit] for row in self.rows if located_in(row, prefix) == last)
        return last, units


def recover(root: Path, info: dict[str, Any], staging: Staging, video_keys: list[str], fps: int) -> Committed:
    """Drop what no committed episode owns, rebuild stale metadata (updating `info`); returns the committed state."""
    staging.remove()
    staging.ensure()
    rows = _read_rows(root, video_keys)
    _recover_series(
        staging,
        data_files(root),
        _frames_per_file(rows, DATA_COLUMNS),
        lambda index: root / data_path(index),
        lambda path: pq.read_metadata(path).num_rows,
        truncate_data_file,
    )
    for key in video_keys:
        _recover_series(
            staging,
            video_files(root, key),
            _frames_per_file(rows, video_columns(key)),
            lambda index, key=key: root / video_path(key, index),
            count_video_frames,
            lambda source, frames, out: truncate_video(source, frames, out, fps),
        )
    tasks = _recover_tasks(root, staging, rows)
    committed = Committed(rows, tasks, _recover_stats(root, info, rows))
    _rewrite_meta(root, staging, info, committed)
    return committed


def _read_rows(root: Path, video_keys: list[str]) -> list[dict[str, Any]]:
    required = [
        *_ROW_COLUMNS,
        *(f"{prefix}/{name}" for prefix in (DATA_COLUMNS, EPISODES_COLUMNS) for name in ("chunk_index", "file_index")),
        *(
            f"{video_columns(key)}/{name}"
            for key in video_keys
            for name in ("chunk_index", "file_index", "from_timestamp", "to_timestamp")
        ),
    ]
    rows: list[dict[str, Any]] = []
    for path in episodes_files(root):
        with corrupt_as_error(path):
            table = pq.read_table(path)
        missing = [column for column in required if column not in table.column_names]
        if missing:
            raise CorruptDatasetError(f"{path} is corrupt: it lacks the columns {missing}")
        rows.extend(table.to_pylist())
    for position, row in enumerate(rows):
        if row["episode_index"] != position:
            raise CorruptDatasetError(f"episodes metadata lists episode {row['episode_index']} at position {position}")
    return rows


def _frames_per_file(rows: list[dict[str, Any]], prefix: str) -> dict[FileIndex, int]:
    expected: dict[FileIndex, int] = {}
    for row in rows:
        index = located_in(row, prefix)
        expected[index] = expected.get(index, 0) + row["length"]
    return expected


def _recover_series(  # noqa: PLR0917
    staging: Staging,
    files: list[Path],
    expected: dict[FileIndex, int],
    path_of: Callable[[FileIndex], Path],
    count: Callable[[Path], int],
    truncate: Callable[[Path, int, Path], None],
) -> None:
    """One rolling series (data, or one camera's videos): each file cut back to the frames the rows give it."""
    for path in files:
        index = file_index(path)
        if index not in expected:
            _log.warning("resume: removing %s (written by an episode that was never committed)", path)
            path.unlink()
            continue
        with corrupt_as_error(path):
            frames = count(path)
        if frames < expected[index]:
            raise CorruptDatasetError(f"{path} holds {frames} frames; the episodes metadata expects {expected[index]}")
        if frames > expected[index]:
            _log.warning("resume: dropping %d uncommitted frames from %s", frames - expected[index], path)
            staging.replace(path, lambda out, path=path, keep=expected[index]: truncate(path, keep, out))
    for index, frames in expected.items():
        if not path_of(index).is_file():
            raise CorruptDatasetError(f"{path_of(index)} is missing; the episodes metadata lists {frames} frames in it")


def _recover_tasks(root: Path, staging: Staging, rows: list[dict[str, Any]]) -> list[str]:
    """The tasks up to the last one a committed episode uses; tasks.parquet trimmed to them."""
    tasks_file = root / TASKS_PATH
    tasks: list[str] = []
    if tasks_file.is_file():
        with corrupt_as_error(tasks_file):
            tasks = read_tasks(tasks_file)
    used = [task for row in rows for task in row["tasks"]]
    missing = sorted(set(used) - set(tasks))
    if missing:
        raise CorruptDatasetError(f"{TASKS_PATH} lacks tasks used by saved episodes: {missing}")
    keep = max((tasks.index(t) for t in used), default=-1) + 1
    if keep != len(tasks):
        tasks = tasks[:keep]
        if tasks:
            staging.replace(tasks_file, lambda p: write_tasks(p, tasks))
        else:
            tasks_file.unlink()
    return tasks


def _recover_stats(root: Path, info: dict[str, Any], rows: list[dict[str, Any]]) -> dict[str, stats_lib.Stats] | None:
    """stats.json if the last save completed (info.json counts all episodes), else refolded from the episodes."""
    stats_file = root / STATS_PATH
    if rows and info.get("total_episodes") == len(rows) and stats_file.is_file():
        with corrupt_as_error(stats_file):
            loaded = json.loads(stats_file.read_text())
            return {key: {name: np.array(v) for name, v in value.items()} for key, value in loaded.items()}
    keys = list(info["features"])
    running: dict[str, stats_lib.Stats] | None = None
    with corrupt_as_error(root / EPISODES_DIR):
        for row in rows:
            running = stats_lib.aggregate_into(running, stats_lib.from_columns(row, keys))
    return running


def _rewrite_meta(root: Path, staging: Staging, info: dict[str, Any], committed: Committed) -> None:
    """info.json's counts and stats.json as the committed episodes give them; a file already right is left alone."""
    episodes = len(committed.rows)
    info["total_episodes"] = episodes
    info["total_frames"] = committed.total_frames
    info["total_tasks"] = len(committed.tasks)
    info["splits"] = {"train": f"0:{episodes}"} if episodes else {}
    rewrites = {INFO_PATH: json_bytes(info)}
    if committed.stats is not None:
        rewrites[STATS_PATH] = json_bytes(stats_lib.to_json(committed.stats))
    for relative, content in rewrites.items():
        final = root / relative
        if not final.is_file() or final.read_bytes() != content:
            staging.replace(final, lambda p, c=content: p.write_bytes(c))
