"""LeRobot v3.0 dataset writer: the files LeRobot 0.4.4 writes, streamed, crash-safe and resumable.

A save stages every file the episode changes and then moves them into place, the episodes
parquet after the data and video files it references: it is the commit record. A crash or a full
disk therefore leaves every saved episode intact; `DatasetWriter.resume` drops whatever an
unfinished save left behind and continues the numbering.

This module is the API and the order of a save; each part it uses reads on its own:
- `buffer.py`: the open episode's frames (numeric rows, PNG cells, one video encoder per camera);
- `rolling.py`: which data, video and episodes-metadata file an episode goes to;
- `staging.py`: the staging/commit protocol;
- `recovery.py`: what `resume` does to bring the files back to the committed episodes;
- `lock.py`: one writer per dataset root;
- `config.py`: the settings, and those a dataset imposes when it is resumed;
- `layout.py`: every path; `tables.py`, `video.py`, `stats.py`: the content of the files.
"""

from __future__ import annotations

import functools
import hashlib
import json
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_ros_core.dataset_paths import (
    CODEBASE_VERSION,
    DATA_PATH,
    EPISODES_DIR,
    INFO_PATH,
    META_DIR,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
)

from . import stats as stats_lib
from .buffer import EpisodeBuffer
from .config import WriterConfig, config_for_resume
from .errors import CorruptDatasetError, DatasetError, DiskFullError, EncoderError, EpisodeStateError, FeatureSpecError
from .features import DEFAULT_FEATURES, DEPTH_FLAG, LEGACY_DEPTH_FLAG, data_schema, parse_features, validate_frame
from .images import PngEncoder
from .layout import (
    DATA_COLUMNS,
    EPISODES_COLUMNS,
    LOCK_FILE,
    FileIndex,
    data_path,
    disk_full_as_error,
    episodes_path,
    json_bytes,
    location,
    size_in_mb,
    video_columns,
    video_path,
)
from .lock import DatasetLock
from .recovery import read_info, recover, require_dataset
from .rolling import Placement, RollingFile
from .staging import ChangeSet, Staging, make_dirs
from .tables import append_data_file, append_episodes_file, write_data_file, write_episodes_file, write_tasks
from .video import EncodedEpisode, concatenate, probe_info

__all__ = ["DatasetWriter", "EpisodeSummary", "WriterConfig"]

_log = logging.getLogger(__name__)
# meta/ names LeRobot uses itself, which write_meta_file must not overwrite
_RESERVED_META_NAMES = {Path(path).name for path in (INFO_PATH, STATS_PATH, TASKS_PATH, EPISODES_DIR)}


@dataclass
class EpisodeSummary:
    """What `save_episode` stored."""

    index: int
    length: int
    task: str
    duration_s: float
    dropped_video_frames: dict[str, int] = field(default_factory=dict)

    @property
    def total_dropped_frames(self) -> int:
        return sum(self.dropped_video_frames.values())


class DatasetWriter:
    """Writes a LeRobot v3.0 dataset episode by episode (see the module docstring for the guarantees).

    Not thread-safe: call it from one thread. Video encoding runs in one thread per camera.
    `create` and `resume` lock the dataset root against other writers until `finalize`.
    """

    def __init__(self, root: Path, repo_id: str, info: dict[str, Any], config: WriterConfig) -> None:
        self.root = Path(root)
        self.repo_id = repo_id
        self.config = config
        self._info = info
        _, self._parsed = parse_features({k: v for k, v in info["features"].items() if k not in DEFAULT_FEATURES})
        self._video_keys = [f.key for f in self._parsed if f.kind in ("video", "depth")]
        self._video_settings = config.video if self._video_keys else None  # fails early if an encoder is missing
        self._staging = Staging(self.root)
        self._lock: DatasetLock | None = None
        self._tasks: list[str] = []
        self._stats: dict[str, stats_lib.Stats] | None = None
        self._total_frames = 0
        self._num_episodes = 0
        self._data = self._rolling(data_path, config.data_files_size_in_mb)
        self._videos = {
            key: self._rolling(functools.partial(video_path, key), config.video_files_size_in_mb)
            for key in self._video_keys
        }
        self._video_ends: dict[str, float] = {}  # to_timestamp of each camera's last episode in its current file
        self._episode_rows = self._rolling(episodes_path, config.data_files_size_in_mb)
        self._episode: EpisodeBuffer | None = None
        self._png: dict[str, PngEncoder] = {}

    def _rolling(self, path_of: Callable[[FileIndex], str], limit_mb: float) -> RollingFile:
        return RollingFile(self.root, path_of, limit_mb, self.config.chunks_size)

    # ----------------------------------------------------------------- construction

    @classmethod
    def create(
        cls,
        root: Path,
        repo_id: str,
        features: Mapping[str, Mapping[str, Any]],
        config: WriterConfig,
        robot_type: str | None = None,
    ) -> DatasetWriter:
        """Start a new dataset in `root` (which must not exist or be empty)."""
        root = Path(root)
        if root.exists() and any(root.iterdir()):
            raise DatasetError(f"cannot create a dataset in {root}: the directory is not empty (use resume)")
        info_features, _ = parse_features(features)
        has_video = any(spec["dtype"] == "video" for spec in info_features.values())
        info = {
            "codebase_version": CODEBASE_VERSION,
            "robot_type": robot_type,
            "total_episodes": 0,
            "total_frames": 0,
            "total_tasks": 0,
            "chunks_size": config.chunks_size,
            "data_files_size_in_mb": config.data_files_size_in_mb,
            "video_files_size_in_mb": config.video_files_size_in_mb,
            "fps": config.fps,
            "splits": {},
            "data_path": DATA_PATH,
            "video_path": VIDEO_PATH if has_video else None,
            "features": info_features,
        }
        writer = cls(root, repo_id, info, config)
        with disk_full_as_error(f"creating the dataset in {root}"):
            make_dirs(root)
            writer._lock = DatasetLock.acquire(root)
            try:
                if any(path.name != LOCK_FILE for path in root.iterdir()):  # another writer got here first
                    raise DatasetError(f"cannot create a dataset in {root}: the directory is not empty (use resume)")
                writer._staging.ensure()
                writer._staging.replace(root / INFO_PATH, lambda p: p.write_bytes(json_bytes(info)))
            except BaseException:
                writer._lock.release()
                raise
        return writer

    @classmethod
    def resume(cls, root: Path, config: WriterConfig | None = None, repo_id: str | None = None) -> DatasetWriter:
        """Reopen a dataset to append episodes; drops what an interrupted episode or save left behind.

        The dataset's own fps (which `config` must match), codec, depth quantisation and file limits
        win over `config`'s; `config` itself is left as it is (`writer.config` is the one in use)."""
        root = Path(root)
        require_dataset(root)  # before creating a lock file in a directory that holds no dataset
        lock = DatasetLock.acquire(root)
        try:
            info = read_info(root)
            config = config_for_resume(root, info, config)
            try:
                writer = cls(root, repo_id or root.name, info, config)
            except FeatureSpecError as error:
                raise CorruptDatasetError(f"{root / INFO_PATH} is corrupt: {error}") from error
            writer._lock = lock
            with disk_full_as_error(f"recovering {root}"):
                writer._restore()
        except BaseException:
            lock.release()
            raise
        return writer

    def _restore(self) -> None:
        committed = recover(self.root, self._info, self._staging, self._video_keys, self.config.fps)
        self._tasks = committed.tasks
        self._stats = committed.stats
        self._num_episodes = len(committed.rows)
        self._total_frames = committed.total_frames
        self._data.current, self._data.units = committed.last_file(DATA_COLUMNS)
        self._episode_rows.current, self._episode_rows.units = committed.last_file(EPISODES_COLUMNS, unit=None)
        for key, series in self._videos.items():
            series.current, series.units = committed.last_file(video_columns(key))
            if committed.rows:
                self._video_ends[key] = committed.rows[-1][f"{video_columns(key)}/to_timestamp"]

    # ----------------------------------------------------------------- properties

    @property
    def num_episodes(self) -> int:
        return self._num_episodes

    @property
    def total_frames(self) -> int:
        return self._total_frames

    @property
    def features(self) -> dict[str, dict[str, Any]]:
        """All features as in info.json (the user's plus the default columns)."""
        return json.loads(json.dumps(self._info["features"]))

    @property
    def episode_open(self) -> bool:
        return self._episode is not None

    # ----------------------------------------------------------------- episodes

    def start_episode(self, task: str) -> int:
        """Open the next episode for `task`; returns its index."""
        if self._episode is not None:
            raise EpisodeStateError(f"episode {self._episode.index} is still open: save or discard it first")
        if not isinstance(task, str) or not task.strip():
            raise EpisodeStateError(f"task must be a non-empty string, got {task!r}")
        self._staging.ensure()
        self._episode = EpisodeBuffer(
            self._num_episodes,
            task,
            self._parsed,
            self._staging,
            self._video_settings,
            self.config.encoder_queue_size,
            self.config.depth,
            self._png,
        )
        return self._episode.index

    def add_frame(self, frame: Mapping[str, np.ndarray]) -> None:
        """Append one frame (one numpy array per feature); raises `FrameError` and stores nothing if it is bad.

        An encoder failure drops the episode (its video is lost) and raises `DiskFullError` or `EncoderError`."""
        episode = self._require_episode("add_frame")
        validate_frame(frame, self._parsed, self.config.allow_nan)
        try:
            episode.add(frame)
        except (DiskFullError, EncoderError) as error:
            self.discard_episode()
            raise type(error)(f"{error}; episode {episode.index} was dropped, earlier episodes are intact") from error

    def discard_episode(self) -> None:
        """Drop the open episode; nothing of it reaches the dataset and its index is reused."""
        episode = self._require_episode("discard_episode")
        self._episode = None
        episode.release()

    def save_episode(self) -> EpisodeSummary:
        """Encode the rest, write the episode into the dataset files and commit it."""
        episode = self._require_episode("save_episode")
        if episode.length == 0:
            raise EpisodeStateError(f"episode {episode.index} has no frames: add frames or discard it")
        self._episode = None
        try:
            with disk_full_as_error(f"saving episode {episode.index} to {self.root}"):
                summary = self._commit_episode(episode, episode.finish_videos())
        except DiskFullError as error:
            raise DiskFullError(
                f"{error}; episode {episode.index} was not saved, earlier episodes are intact"
            ) from error
        finally:
            episode.release()
            self._staging.clear()
        return summary

    def finalize(self) -> None:
        """Close the dataset: drop an unsaved episode, remove staging files, release the lock.

        The dataset on disk stays loadable."""
        if self._episode is not None:
            _log.warning("finalize: dropping unsaved episode %d (%d frames)", self._episode.index, self._episode.length)
            self.discard_episode()
        self._staging.remove()
        if self._lock is not None:
            self._lock.release()

    def write_meta_file(self, name: str, data: bytes) -> None:
        """Store an extra file under meta/ (e.g. the feature contract), atomically."""
        if not name or "/" in name or name.startswith(".") or name in _RESERVED_META_NAMES:
            raise DatasetError(f"invalid meta file name {name!r}: a plain file name not used by LeRobot is needed")
        with disk_full_as_error(f"writing {META_DIR}/{name}"):
            self._staging.ensure()
            self._staging.replace(self.root / META_DIR / name, lambda p: p.write_bytes(data))

    # ----------------------------------------------------------------- saving

    def _require_episode(self, call: str) -> EpisodeBuffer:
        if self._episode is None:
            raise EpisodeStateError(f"{call}: no episode is open (call start_episode first)")
        return self._episode

    def _commit_episode(self, episode: EpisodeBuffer, encoded: dict[str, EncodedEpisode]) -> EpisodeSummary:
        """Stage every file the episode changes, then move them into place (episodes parquet after data and videos)."""
        length = episode.length
        new_task = episode.task not in self._tasks
        tasks = [*self._tasks, episode.task] if new_task else self._tasks
        columns = episode.columns(tasks.index(episode.task), self._total_frames, self.config.fps)
        episode_stats = episode.stats(list(self._info["features"]), columns, encoded)

        changes = ChangeSet(self._staging)
        if new_task:
            changes.add(Path(TASKS_PATH).name, self.root / TASKS_PATH, lambda p: write_tasks(p, tasks))
        data = self._stage_data(changes, columns, length)
        row: dict[str, Any] = {
            "episode_index": episode.index,
            "tasks": [episode.task],
            "length": length,
            **location(DATA_COLUMNS, data.index),
            "dataset_from_index": self._total_frames,
            "dataset_to_index": self._total_frames + length,
        }
        videos, staged_videos = self._stage_videos(changes, encoded, length, row)
        for key, feature_stats in episode_stats.items():
            for name, value in feature_stats.items():
                row[f"stats/{key}/{name}"] = np.asarray(value).tolist()
        rows = self._stage_episode_row(changes, row)

        info = json.loads(json.dumps(self._info))
        for key, staged in staged_videos.items():
            if "video.codec" not in info["features"][key].get("info", {}):
                info["features"][key]["info"] = self._video_info(key, staged)
        info["total_episodes"] = episode.index + 1
        info["total_frames"] = self._total_frames + length
        info["total_tasks"] = len(tasks)
        info["splits"] = {"train": f"0:{episode.index + 1}"}
        running = stats_lib.aggregate_into(self._stats, episode_stats)
        # info.json last: when it counts an episode, that episode's stats are in stats.json too
        stats_bytes, info_bytes = json_bytes(stats_lib.to_json(running)), json_bytes(info)
        changes.add(Path(STATS_PATH).name, self.root / STATS_PATH, lambda p: p.write_bytes(stats_bytes))
        changes.add(Path(INFO_PATH).name, self.root / INFO_PATH, lambda p: p.write_bytes(info_bytes))
        changes.commit()

        self._info = info
        self._tasks = tasks
        self._stats = running
        self._data.advance(data, length)
        for key, video in videos.items():
            self._videos[key].advance(video, length)
            self._video_ends[key] = row[f"{video_columns(key)}/to_timestamp"]
        self._episode_rows.advance(rows, 1)
        self._total_frames += length
        self._num_episodes += 1
        dropped = {key: encoded[key].dropped for key in self._video_keys}
        if any(dropped.values()):
            _log.warning("episode %d: video frames dropped (encoder behind): %s", episode.index, dropped)
        return EpisodeSummary(episode.index, length, episode.task, length / self.config.fps, dropped)

    def _stage_data(self, changes: ChangeSet, columns: dict[str, Any], length: int) -> Placement:
        """The data file holding the episode: the current one plus a row group, or a new one."""
        data = self._data.place(length)
        if data.append:
            changes.add("data.parquet", data.path, functools.partial(append_data_file, data.path, columns))
        else:
            schema = data_schema(self._info["features"], self._parsed, self._fingerprint(data.index))
            changes.add("data.parquet", data.path, lambda p: write_data_file(p, schema, columns))
        return data

    def _stage_videos(
        self, changes: ChangeSet, encoded: dict[str, EncodedEpisode], length: int, row: dict[str, Any]
    ) -> tuple[dict[str, Placement], dict[str, Path]]:
        """Each camera's video file holding the episode (appended, or the episode's own MP4 as a new file);
        fills the row's video columns. Returns the placements and the staged files."""
        placements: dict[str, Placement] = {}
        staged: dict[str, Path] = {}
        for key in self._video_keys:
            clip = encoded[key]
            if clip.frames != length:
                raise DatasetError(f"video '{key}' has {clip.frames} frames for an episode of {length}")
            video = self._videos[key].place(length, added_mb=size_in_mb(clip.path))
            if video.append:
                start = self._video_ends[key]
                write = functools.partial(concatenate, video.path, video.offset, clip.path, fps=self.config.fps)
            else:
                start, write = 0.0, clip.path.replace
            staged[key] = changes.add(f"{key}.mp4", video.path, write)
            placements[key] = video
            prefix = video_columns(key)
            row |= location(prefix, video.index)
            row[f"{prefix}/from_timestamp"] = start
            row[f"{prefix}/to_timestamp"] = start + length / self.config.fps
        return placements, staged

    def _stage_episode_row(self, changes: ChangeSet, row: dict[str, Any]) -> Placement:
        """The episodes-metadata file holding the row (the commit record): the current one plus a row, or a new one."""
        rows = self._episode_rows.place(1)
        row |= location(EPISODES_COLUMNS, rows.index)
        if rows.append:
            changes.add("episodes.parquet", rows.path, functools.partial(append_episodes_file, rows.path, row))
        else:
            changes.add("episodes.parquet", rows.path, lambda p: write_episodes_file(p, row))
        return rows

    def _fingerprint(self, index: FileIndex) -> str:
        return hashlib.sha256(f"{self.repo_id}/{data_path(index)}".encode()).hexdigest()[:16]

    def _video_info(self, key: str, path: Path) -> dict[str, Any]:
        video_info = probe_info(path)
        if next(f for f in self._parsed if f.key == key).kind == "depth":  # LeRobot 0.6's depth entries
            del video_info[LEGACY_DEPTH_FLAG]
            video_info.update(self.config.depth.info())
            video_info[DEPTH_FLAG] = True
            video_info["depth_unit"] = "mm"
        return video_info
