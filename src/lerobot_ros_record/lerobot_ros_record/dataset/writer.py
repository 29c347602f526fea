"""LeRobot v3.0 dataset writer: the files LeRobot 0.4.4 writes, streamed, crash-safe and resumable.

Saving an episode first writes every changed file (data parquet, video files, episodes metadata,
tasks, info, stats) to a staging directory, then moves them into place. The episodes metadata is
moved after the data and video files: it is the commit record. A crash or a full disk therefore
leaves every saved episode intact; `DatasetWriter.resume` drops whatever an unfinished save left
behind and continues the numbering.
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import re
import shutil
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from . import stats as stats_lib
from .depth import DepthQuantizer
from .errors import (
    CorruptDatasetError,
    DatasetError,
    DiskFullError,
    EncoderError,
    EpisodeStateError,
    FeatureSpecError,
)
from .features import (
    DEFAULT_FEATURES,
    DEPTH_FLAG,
    LEGACY_DEPTH_FLAG,
    data_schema,
    is_depth_spec,
    parse_features,
    validate_frame,
)
from .images import PngEncoder, image_cell
from .layout import (
    CODEBASE_VERSION,
    DATA_PATH,
    INFO_PATH,
    STAGING_DIR,
    STATS_PATH,
    TASKS_PATH,
    VIDEO_PATH,
    FileIndex,
    commit,
    data_path,
    disk_full_as_error,
    episodes_path,
    is_disk_full,
    json_bytes,
    size_in_mb,
    video_path,
    write_staged,
)
from .video import ENCODERS, EncodedEpisode, EpisodeEncoder, FrameSampler, VideoSettings, concatenate, probe_info
from .video import count_frames as count_video_frames
from .video import truncate as truncate_video

_log = logging.getLogger(__name__)
_FILE_RE = re.compile(r"chunk-(\d+)/file-(\d+)\.(parquet|mp4)$")
_CODEC_FROM_INFO = {"av1": "libsvtav1", "h264": "h264", "hevc": "hevc"}
# Column layout of meta/tasks.parquet as LeRobot writes it (a pandas frame indexed by task text).
_TASKS_PANDAS_METADATA = {
    "index_columns": ["__index_level_0__"],
    "column_indexes": [
        {
            "name": None,
            "field_name": None,
            "pandas_type": "unicode",
            "numpy_type": "str",
            "metadata": {"encoding": "UTF-8"},
        }
    ],
    "columns": [
        {
            "name": "task_index",
            "field_name": "task_index",
            "pandas_type": "int64",
            "numpy_type": "int64",
            "metadata": None,
        },
        {
            "name": None,
            "field_name": "__index_level_0__",
            "pandas_type": "object",
            "numpy_type": "str",
            "metadata": None,
        },
    ],
    "attributes": {},
    "creator": {"library": "pyarrow", "version": pa.__version__},
    # The pandas release whose layout this reproduces (LeRobot 0.4.4 reference environment).
    "pandas_version": "3.1.1",
}


@dataclass
class WriterConfig:
    """Dataset and encoder settings; defaults are LeRobot 0.4.4's."""

    fps: int
    video_codec: str = "libsvtav1"  # "libsvtav1" | "h264" | "hevc"
    pix_fmt: str = "yuv420p"
    crf: int | None = 30
    preset: int | str | None = None  # None: 12 for libsvtav1 (LeRobot's), the encoder's default otherwise
    gop: int | None = 2
    encoder_threads: int | None = None  # threads per encoder; None lets the codec choose
    encoder_queue_size: int = 60  # frames buffered per camera before frames are dropped
    data_files_size_in_mb: float = 100  # start a new data file past this size
    video_files_size_in_mb: float = 200  # start a new video file past this size
    chunks_size: int = 1000  # files per chunk-XXX directory
    allow_nan: bool = False  # NaN/inf in float features is an error unless allowed
    # Depth quantisation (LeRobot 0.6's DepthEncoderConfig defaults); see depth.py.
    depth_min_m: float = 0.01
    depth_max_m: float = 10.0
    depth_shift_m: float = 3.5
    depth_use_log: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise FeatureSpecError(f"fps must be a positive integer, got {self.fps!r}")
        if self.video_codec not in ENCODERS:
            raise FeatureSpecError(f"video_codec {self.video_codec!r} not supported; use one of {sorted(ENCODERS)}")
        for name in ("data_files_size_in_mb", "video_files_size_in_mb", "chunks_size"):
            if getattr(self, name) <= 0:
                raise FeatureSpecError(f"{name} must be positive, got {getattr(self, name)}")
        try:
            _ = self.depth  # DepthQuantizer checks the depth range
        except ValueError as error:
            raise FeatureSpecError(str(error)) from error

    @property
    def video(self) -> VideoSettings:
        preset = 12 if self.preset is None and self.video_codec == "libsvtav1" else self.preset
        return VideoSettings(self.fps, self.video_codec, self.pix_fmt, self.gop, self.crf, preset, self.encoder_threads)

    @property
    def depth(self) -> DepthQuantizer:
        return DepthQuantizer(self.depth_min_m, self.depth_max_m, self.depth_shift_m, self.depth_use_log)


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


@dataclass
class _VideoFileState:
    index: FileIndex
    frames: int
    to_timestamp: float


@dataclass
class _Episode:
    index: int
    task: str
    length: int = 0
    numeric: dict[str, list[np.ndarray]] = field(default_factory=dict)
    images: dict[str, list[dict[str, object]]] = field(default_factory=dict)
    image_samplers: dict[str, FrameSampler] = field(default_factory=dict)
    encoders: dict[str, EpisodeEncoder] = field(default_factory=dict)


class DatasetWriter:
    """Writes a LeRobot v3.0 dataset episode by episode (see the module docstring for the guarantees).

    Not thread-safe: call it from one thread. Video encoding runs in one thread per camera.
    """

    def __init__(self, root: Path, repo_id: str, info: dict[str, Any], config: WriterConfig) -> None:
        self.root = Path(root)
        self.repo_id = repo_id
        self.config = config
        self._info = info
        _, self._parsed = parse_features({k: v for k, v in info["features"].items() if k not in DEFAULT_FEATURES})
        self._video_keys = [f.key for f in self._parsed if f.kind in ("video", "depth")]
        self._video_settings = config.video if self._video_keys else None  # fails early if an encoder is missing
        self._staging = self.root / STAGING_DIR
        self._tasks: list[str] = []
        self._stats: dict[str, stats_lib.Stats] | None = None
        self._total_frames = 0
        self._num_episodes = 0
        self._data_file: FileIndex | None = None
        self._data_file_frames = 0
        self._videos: dict[str, _VideoFileState] = {}
        self._meta_file: FileIndex | None = None
        self._meta_file_episodes = 0
        self._episode: _Episode | None = None
        self._png: dict[str, PngEncoder] = {}

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
            root.mkdir(parents=True, exist_ok=True)
            writer._staging.mkdir(exist_ok=True)
            tmp, _ = write_staged(writer._staging, "info.json", lambda p: p.write_bytes(json_bytes(info)))
            commit(tmp, root / INFO_PATH)
        return writer

    @classmethod
    def resume(cls, root: Path, config: WriterConfig | None = None, repo_id: str | None = None) -> DatasetWriter:
        """Reopen a dataset to append episodes; drops what an interrupted episode or save left behind."""
        root = Path(root)
        info_file = root / INFO_PATH
        if not info_file.is_file():
            raise DatasetError(f"no dataset to resume in {root}: {INFO_PATH} is missing")
        info = json.loads(info_file.read_text())
        if info.get("codebase_version") != CODEBASE_VERSION:
            raise DatasetError(
                f"{root} is a {info.get('codebase_version')} dataset; only {CODEBASE_VERSION} can be resumed"
            )
        stored = cls._config_from_info(info)
        if config is None:
            config = stored
        elif config.fps != info["fps"]:
            raise DatasetError(
                f"cannot resume {root} at {config.fps} fps: the dataset was recorded at {info['fps']} fps"
            )
        elif config.video_codec != stored.video_codec and cls._has_colour_video(info):
            _log.warning(
                "resuming %s with its own codec %s instead of %s: one video file holds one codec",
                root,
                stored.video_codec,
                config.video_codec,
            )
            config.video_codec = stored.video_codec
        config.depth_min_m, config.depth_max_m = stored.depth_min_m, stored.depth_max_m
        config.depth_shift_m, config.depth_use_log = stored.depth_shift_m, stored.depth_use_log
        config.chunks_size = info["chunks_size"]
        config.data_files_size_in_mb = info["data_files_size_in_mb"]
        config.video_files_size_in_mb = info["video_files_size_in_mb"]
        writer = cls(root, repo_id or root.name, info, config)
        with disk_full_as_error(f"recovering {root}"):
            writer._recover()
        return writer

    @staticmethod
    def _has_colour_video(info: dict[str, Any]) -> bool:
        return any(spec["dtype"] == "video" and not is_depth_spec(spec) for spec in info["features"].values())

    @staticmethod
    def _config_from_info(info: dict[str, Any]) -> WriterConfig:
        codec = "libsvtav1"
        for spec in info["features"].values():
            video_info = spec.get("info") or {}
            if spec["dtype"] == "video" and not is_depth_spec(spec):
                codec = _CODEC_FROM_INFO.get(str(video_info.get("video.codec")), codec)
                break
        depth_info = next((spec["info"] for spec in info["features"].values() if is_depth_spec(spec)), {})
        defaults = DepthQuantizer()
        return WriterConfig(
            fps=info["fps"],
            video_codec=codec,
            data_files_size_in_mb=info["data_files_size_in_mb"],
            video_files_size_in_mb=info["video_files_size_in_mb"],
            chunks_size=info["chunks_size"],
            depth_min_m=depth_info.get("video.depth_min", defaults.min_m),
            depth_max_m=depth_info.get("video.depth_max", defaults.max_m),
            depth_shift_m=depth_info.get("video.shift", defaults.shift_m),
            depth_use_log=depth_info.get("video.use_log", defaults.use_log),
        )

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
        episode = _Episode(self._num_episodes, task)
        self._staging.mkdir(exist_ok=True)
        settings = self._video_settings
        try:
            for feature in self._parsed:
                if feature.kind == "numeric":
                    episode.numeric[feature.key] = []
                elif feature.kind == "image":
                    episode.images[feature.key] = []
                    episode.image_samplers[feature.key] = FrameSampler(
                        self._staging / f"{feature.key}.samples", feature.height, feature.width, 3, np.uint8
                    )
                else:
                    assert settings is not None
                    episode.encoders[feature.key] = EpisodeEncoder(
                        feature.key,
                        self._staging / f"{feature.key}.episode.mp4",
                        settings,
                        feature.height,
                        feature.width,
                        self.config.encoder_queue_size,
                        self.config.depth if feature.kind == "depth" else None,
                    )
        except BaseException:
            self._release(episode)
            raise
        self._episode = episode
        return episode.index

    def add_frame(self, frame: Mapping[str, np.ndarray]) -> None:
        """Append one frame (one numpy array per feature); raises `FrameError` and stores nothing if it is bad."""
        episode = self._require_episode("add_frame")
        validate_frame(frame, self._parsed, self.config.allow_nan)
        index = episode.length
        for feature in self._parsed:
            value = frame[feature.key]
            if feature.kind == "numeric":
                episode.numeric[feature.key].append(value.copy())
            elif feature.kind == "image":
                encoder = self._png.get(feature.key) or self._png.setdefault(
                    feature.key, PngEncoder(feature.height, feature.width)
                )
                episode.images[feature.key].append(image_cell(encoder.encode(value), index))
                episode.image_samplers[feature.key].add(value)
            else:
                self._submit(episode, feature.key, index, value)
        episode.length += 1

    def _submit(self, episode: _Episode, key: str, index: int, image: np.ndarray) -> None:
        """Hand a frame to its encoder; an encoder failure drops the episode (its video is lost)."""
        try:
            episode.encoders[key].submit(index, image)
        except (OSError, EncoderError) as error:
            self.discard_episode()
            dropped = f"episode {episode.index} was dropped, earlier episodes are intact"
            if is_disk_full(error):
                raise DiskFullError(f"no space left on device while encoding '{key}': {error}; {dropped}") from error
            raise EncoderError(f"{error}; {dropped}") from error

    def discard_episode(self) -> None:
        """Drop the open episode; nothing of it reaches the dataset and its index is reused."""
        episode = self._require_episode("discard_episode")
        self._episode = None
        self._release(episode)

    def save_episode(self) -> EpisodeSummary:
        """Encode the rest, write the episode into the dataset files and commit it."""
        episode = self._require_episode("save_episode")
        if episode.length == 0:
            raise EpisodeStateError(f"episode {episode.index} has no frames: add frames or discard it")
        self._episode = None
        try:
            with disk_full_as_error(f"saving episode {episode.index} to {self.root}"):
                encoded = {key: encoder.finish(episode.length) for key, encoder in episode.encoders.items()}
                summary = self._commit_episode(episode, encoded)
        except DiskFullError as error:
            raise DiskFullError(
                f"{error}; episode {episode.index} was not saved, earlier episodes are intact"
            ) from error
        finally:
            self._release(episode)
            self._clear_staging()
        return summary

    def finalize(self) -> None:
        """Close the dataset: drop an unsaved episode, remove staging files. The dataset on disk stays loadable."""
        if self._episode is not None:
            _log.warning("finalize: dropping unsaved episode %d (%d frames)", self._episode.index, self._episode.length)
            self.discard_episode()
        shutil.rmtree(self._staging, ignore_errors=True)

    def write_meta_file(self, name: str, data: bytes) -> None:
        """Store an extra file under meta/ (e.g. the feature contract), atomically."""
        if (
            not name
            or "/" in name
            or name.startswith(".")
            or name in ("info.json", "stats.json", "tasks.parquet", "episodes")
        ):
            raise DatasetError(f"invalid meta file name {name!r}: a plain file name not used by LeRobot is needed")
        with disk_full_as_error(f"writing meta/{name}"):
            self._staging.mkdir(exist_ok=True)
            tmp, _ = write_staged(self._staging, name, lambda p: p.write_bytes(data))
            commit(tmp, self.root / "meta" / name)

    # ----------------------------------------------------------------- saving

    def _require_episode(self, call: str) -> _Episode:
        if self._episode is None:
            raise EpisodeStateError(f"{call}: no episode is open (call start_episode first)")
        return self._episode

    def _release(self, episode: _Episode) -> None:
        for encoder in episode.encoders.values():
            encoder.cancel()
        for sampler in episode.image_samplers.values():
            sampler.close()

    def _clear_staging(self) -> None:
        for path in self._staging.glob("*"):
            if path.is_file():
                path.unlink(missing_ok=True)

    def _commit_episode(self, episode: _Episode, encoded: dict[str, EncodedEpisode]) -> EpisodeSummary:
        length = episode.length
        new_task = episode.task not in self._tasks
        tasks = [*self._tasks, episode.task] if new_task else self._tasks
        task_index = tasks.index(episode.task)
        columns = self._episode_columns(episode, task_index)
        episode_stats = self._episode_stats(episode, encoded, columns)

        staged: list[tuple[Path, Path]] = []
        if new_task:
            tmp, _ = write_staged(self._staging, "tasks.parquet", lambda p: _write_tasks(p, tasks))
            staged.append((tmp, self.root / TASKS_PATH))

        data_file, data_frames, tmp = self._stage_data(columns, length)
        staged.append((tmp, self.root / data_path(data_file)))

        videos: dict[str, _VideoFileState] = {}
        video_files: dict[str, Path] = {}
        row: dict[str, Any] = {
            "episode_index": episode.index,
            "tasks": [episode.task],
            "length": length,
            "data/chunk_index": data_file.chunk,
            "data/file_index": data_file.file,
            "dataset_from_index": self._total_frames,
            "dataset_to_index": self._total_frames + length,
        }
        for key in self._video_keys:
            state, tmp, from_timestamp = self._stage_video(key, encoded[key], length)
            videos[key] = state
            video_files[key] = tmp
            staged.append((tmp, self.root / video_path(key, state.index)))
            row[f"videos/{key}/chunk_index"] = state.index.chunk
            row[f"videos/{key}/file_index"] = state.index.file
            row[f"videos/{key}/from_timestamp"] = from_timestamp
            row[f"videos/{key}/to_timestamp"] = state.to_timestamp
        for key, feature_stats in episode_stats.items():
            for name, value in feature_stats.items():
                row[f"stats/{key}/{name}"] = np.asarray(value).tolist()
        meta_file, meta_episodes, tmp = self._stage_episode_row(row)
        staged.append((tmp, self.root / episodes_path(meta_file)))

        info = json.loads(json.dumps(self._info))
        for key, tmp_video in video_files.items():
            if "video.codec" not in info["features"][key].get("info", {}):
                info["features"][key]["info"] = self._video_info(key, tmp_video)
        info["total_episodes"] = episode.index + 1
        info["total_frames"] = self._total_frames + length
        info["total_tasks"] = len(tasks)
        info["splits"] = {"train": f"0:{episode.index + 1}"}
        running = stats_lib.aggregate_into(self._stats, episode_stats)
        tmp_info, _ = write_staged(self._staging, "info.json", lambda p: p.write_bytes(json_bytes(info)))
        tmp_stats, _ = write_staged(
            self._staging, "stats.json", lambda p: p.write_bytes(json_bytes(stats_lib.to_json(running)))
        )
        # info.json last: when it counts an episode, that episode's stats are in stats.json too
        staged += [(tmp_stats, self.root / STATS_PATH), (tmp_info, self.root / INFO_PATH)]

        for tmp, final in staged:  # the episodes file (commit record) goes after data and videos
            commit(tmp, final)

        self._info = info
        self._tasks = tasks
        self._stats = running
        self._data_file, self._data_file_frames = data_file, data_frames
        self._videos.update(videos)
        self._meta_file, self._meta_file_episodes = meta_file, meta_episodes
        self._total_frames += length
        self._num_episodes += 1
        dropped = {key: encoded[key].dropped for key in self._video_keys}
        if any(dropped.values()):
            _log.warning("episode %d: video frames dropped (encoder behind): %s", episode.index, dropped)
        return EpisodeSummary(episode.index, length, episode.task, length / self.config.fps, dropped)

    def _episode_columns(self, episode: _Episode, task_index: int) -> dict[str, Any]:
        length = episode.length
        frame_index = np.arange(length, dtype=np.int64)
        columns: dict[str, Any] = {}
        for feature in self._parsed:
            if feature.kind == "numeric":
                columns[feature.key] = np.stack(episode.numeric[feature.key])
            elif feature.kind == "image":
                columns[feature.key] = episode.images[feature.key]
        columns["timestamp"] = frame_index / self.config.fps
        columns["frame_index"] = frame_index
        columns["episode_index"] = np.full(length, episode.index, dtype=np.int64)
        columns["index"] = np.arange(self._total_frames, self._total_frames + length, dtype=np.int64)
        columns["task_index"] = np.full(length, task_index, dtype=np.int64)
        return columns

    def _episode_stats(
        self, episode: _Episode, encoded: dict[str, EncodedEpisode], columns: dict[str, Any]
    ) -> dict[str, stats_lib.Stats]:
        samples = stats_lib.stat_sample_indices(episode.length)
        out: dict[str, stats_lib.Stats] = {}
        by_key = {f.key: f for f in self._parsed}
        for key in self._info["features"]:
            feature = by_key.get(key)
            if feature is None or feature.kind == "numeric":
                out[key] = stats_lib.vector_stats(np.asarray(columns[key]))
            elif feature.kind == "image":
                out[key] = stats_lib.image_stats(episode.image_samplers[key].read(samples))
            elif feature.kind == "depth":  # like LeRobot 0.6: the recorded millimetres, not rescaled
                out[key] = stats_lib.image_stats(encoded[key].sampler.read(samples), scale=1.0)
            else:
                out[key] = stats_lib.image_stats(encoded[key].sampler.read(samples))
        return out

    def _fingerprint(self, index: FileIndex) -> str:
        return hashlib.sha256(f"{self.repo_id}/{data_path(index)}".encode()).hexdigest()[:16]

    def _data_table(self, columns: dict[str, Any], schema: pa.Schema) -> pa.Table:
        arrays = []
        for field_ in schema:
            value = columns[field_.name]
            if pa.types.is_fixed_size_list(field_.type):
                dtype = field_.type.value_type.to_pandas_dtype()
                flat = pa.array(np.asarray(value, dtype=dtype).reshape(-1), type=field_.type.value_type)
                arrays.append(pa.FixedSizeListArray.from_arrays(flat, field_.type.list_size))
            elif pa.types.is_struct(field_.type):
                arrays.append(pa.array(value, type=field_.type))
            else:
                dtype = field_.type.to_pandas_dtype()
                arrays.append(pa.array(np.asarray(value, dtype=dtype).reshape(-1), type=field_.type))
        return pa.Table.from_arrays(arrays, schema=schema)

    def _stage_data(self, columns: dict[str, Any], length: int) -> tuple[FileIndex, int, Path]:
        """Stage the data file that holds this episode: the current one plus a row group, or a new one."""
        current = self._data_file
        if current is not None:
            path = self.root / data_path(current)
            size = size_in_mb(path)
            per_frame = size / self._data_file_frames if self._data_file_frames else 0.0
            if size + per_frame * length < self.config.data_files_size_in_mb:
                existing = pq.ParquetFile(path)
                table = self._data_table(columns, existing.schema_arrow)

                def append(tmp: Path) -> None:
                    with pq.ParquetWriter(tmp, existing.schema_arrow, compression="snappy", use_dictionary=True) as out:
                        for group in range(existing.num_row_groups):
                            out.write_table(existing.read_row_group(group))
                        out.write_table(table)

                tmp, _ = write_staged(self._staging, "data.parquet", append)
                return current, self._data_file_frames + length, tmp
        index = FileIndex() if current is None else current.next(self.config.chunks_size)
        schema = data_schema(self._info["features"], self._parsed, self._fingerprint(index))
        table = self._data_table(columns, schema)

        def write_new(tmp: Path) -> None:
            with pq.ParquetWriter(tmp, schema, compression="snappy", use_dictionary=True) as out:
                out.write_table(table)

        tmp, _ = write_staged(self._staging, "data.parquet", write_new)
        return index, length, tmp

    def _stage_video(self, key: str, encoded: EncodedEpisode, length: int) -> tuple[_VideoFileState, Path, float]:
        if encoded.frames != length:
            raise DatasetError(f"video '{key}' has {encoded.frames} frames for an episode of {length}")
        duration = length / self.config.fps
        current = self._videos.get(key)
        if current is not None:
            path = self.root / video_path(key, current.index)
            if size_in_mb(path) + size_in_mb(encoded.path) < self.config.video_files_size_in_mb:
                tmp, _ = write_staged(
                    self._staging,
                    f"{key}.mp4",
                    lambda p: concatenate(path, current.frames, encoded.path, p, self.config.fps),
                )
                state = _VideoFileState(current.index, current.frames + length, current.to_timestamp + duration)
                return state, tmp, current.to_timestamp
        index = FileIndex() if current is None else current.index.next(self.config.chunks_size)
        tmp, _ = write_staged(self._staging, f"{key}.mp4", encoded.path.replace)
        return _VideoFileState(index, length, 0.0 + duration), tmp, 0.0

    def _video_info(self, key: str, path: Path) -> dict[str, Any]:
        video_info = probe_info(path)
        if next(f for f in self._parsed if f.key == key).kind == "depth":  # LeRobot 0.6's depth entries
            del video_info[LEGACY_DEPTH_FLAG]
            video_info.update(self.config.depth.info())
            video_info[DEPTH_FLAG] = True
            video_info["depth_unit"] = "mm"
        return video_info

    def _stage_episode_row(self, row: dict[str, Any]) -> tuple[FileIndex, int, Path]:
        row["meta/episodes/chunk_index"] = 0
        row["meta/episodes/file_index"] = 0
        current = self._meta_file
        if current is not None:
            path = self.root / episodes_path(current)
            size = size_in_mb(path)
            per_episode = size / self._meta_file_episodes if self._meta_file_episodes else 0.0
            if size + per_episode < self.config.data_files_size_in_mb:
                row["meta/episodes/chunk_index"] = current.chunk
                row["meta/episodes/file_index"] = current.file
                existing = pq.read_table(path)
                new = pa.Table.from_pylist([row]).cast(existing.schema)
                tmp, _ = write_staged(
                    self._staging, "episodes.parquet", lambda p: _write_table(p, pa.concat_tables([existing, new]))
                )
                return current, self._meta_file_episodes + 1, tmp
        index = FileIndex() if current is None else current.next(self.config.chunks_size)
        row["meta/episodes/chunk_index"] = index.chunk
        row["meta/episodes/file_index"] = index.file
        table = pa.Table.from_pydict({k: [v] for k, v in row.items()})
        tmp, _ = write_staged(self._staging, "episodes.parquet", lambda p: _write_table(p, table))
        return index, 1, tmp

    # ----------------------------------------------------------------- resume / recovery

    def _recover(self) -> None:
        """Bring the files back to the committed episodes (the episodes metadata) and reload the state."""
        shutil.rmtree(self._staging, ignore_errors=True)
        self._staging.mkdir()
        episode_files = sorted((self.root / "meta" / "episodes").glob("chunk-*/file-*.parquet"))
        rows: list[dict[str, Any]] = []
        for path in episode_files:
            rows.extend(pq.read_table(path).to_pylist())
        for position, row in enumerate(rows):
            if row["episode_index"] != position:
                raise CorruptDatasetError(
                    f"episodes metadata lists episode {row['episode_index']} at position {position}"
                )
        self._recover_data(rows)
        for key in self._video_keys:
            self._recover_videos(key, rows)
        self._recover_meta(rows)

    def _recover_data(self, rows: list[dict[str, Any]]) -> None:
        expected: dict[FileIndex, int] = {}
        for row in rows:
            index = FileIndex(row["data/chunk_index"], row["data/file_index"])
            expected[index] = expected.get(index, 0) + row["length"]
        for path in sorted((self.root / "data").glob("chunk-*/file-*.parquet")):
            index = _file_index(path)
            if index not in expected:
                _log.warning("resume: removing %s (written by an episode that was never committed)", path)
                path.unlink()
                continue
            rows_on_disk = pq.read_metadata(path).num_rows
            if rows_on_disk < expected[index]:
                raise CorruptDatasetError(
                    f"{path} holds {rows_on_disk} frames; the episodes metadata expects {expected[index]}"
                )
            if rows_on_disk > expected[index]:
                _log.warning("resume: dropping %d uncommitted frames from %s", rows_on_disk - expected[index], path)
                self._truncate_data(path, expected[index])
        for index, frames in expected.items():
            if not (self.root / data_path(index)).is_file():
                raise CorruptDatasetError(
                    f"{data_path(index)} is missing; the episodes metadata lists {frames} frames in it"
                )

    def _recover_videos(self, key: str, rows: list[dict[str, Any]]) -> None:
        expected: dict[FileIndex, int] = {}
        for row in rows:
            index = FileIndex(row[f"videos/{key}/chunk_index"], row[f"videos/{key}/file_index"])
            expected[index] = expected.get(index, 0) + row["length"]
        for path in sorted((self.root / "videos" / key).glob("chunk-*/file-*.mp4")):
            index = _file_index(path)
            if index not in expected:
                _log.warning("resume: removing %s (written by an episode that was never committed)", path)
                path.unlink()
                continue
            frames = count_video_frames(path)
            if frames < expected[index]:
                raise CorruptDatasetError(
                    f"{path} holds {frames} frames; the episodes metadata expects {expected[index]}"
                )
            if frames > expected[index]:
                _log.warning("resume: dropping %d uncommitted frames from %s", frames - expected[index], path)
                self._truncate_video(key, path, expected[index])
        if rows:
            last = rows[-1]
            index = FileIndex(last[f"videos/{key}/chunk_index"], last[f"videos/{key}/file_index"])
            if not (self.root / video_path(key, index)).is_file():
                raise CorruptDatasetError(f"{video_path(key, index)} is missing")
            self._videos[key] = _VideoFileState(index, expected[index], last[f"videos/{key}/to_timestamp"])

    def _truncate_data(self, path: Path, frames: int) -> None:
        keep = pq.read_table(path).slice(0, frames)
        source = pq.ParquetFile(path)
        tmp, _ = write_staged(self._staging, "data.parquet", lambda p: _rewrite_row_groups(source, keep, p))
        commit(tmp, path)

    def _truncate_video(self, key: str, path: Path, frames: int) -> None:
        tmp, _ = write_staged(self._staging, f"{key}.mp4", lambda p: truncate_video(path, frames, p, self.config.fps))
        commit(tmp, path)

    def _recover_stats(self, rows: list[dict[str, Any]]) -> dict[str, stats_lib.Stats] | None:
        """stats.json if the last save completed (info.json counts all episodes), else refolded from the episodes."""
        stats_file = self.root / STATS_PATH
        if rows and self._info.get("total_episodes") == len(rows) and stats_file.is_file():
            loaded = json.loads(stats_file.read_text())
            return {key: {name: np.array(v) for name, v in value.items()} for key, value in loaded.items()}
        keys = list(self._info["features"])
        running: dict[str, stats_lib.Stats] | None = None
        for row in rows:
            running = stats_lib.aggregate_into(running, stats_lib.from_columns(row, keys))
        return running

    def _recover_meta(self, rows: list[dict[str, Any]]) -> None:
        tasks_file = self.root / TASKS_PATH
        tasks: list[str] = []
        if tasks_file.is_file():
            table = pq.read_table(tasks_file)
            order = np.argsort(table.column("task_index").to_numpy())
            tasks = [table.column("__index_level_0__").to_pylist()[i] for i in order]
        used = [task for row in rows for task in row["tasks"]]
        missing = sorted(set(used) - set(tasks))
        if missing:
            raise CorruptDatasetError(f"{TASKS_PATH} lacks tasks used by saved episodes: {missing}")
        keep = max((tasks.index(t) for t in used), default=-1) + 1
        if keep != len(tasks):
            tasks = tasks[:keep]
            if tasks:
                tmp, _ = write_staged(self._staging, "tasks.parquet", lambda p: _write_tasks(p, tasks))
                commit(tmp, tasks_file)
            else:
                tasks_file.unlink()
        self._tasks = tasks

        running = self._recover_stats(rows)
        self._stats = running
        self._num_episodes = len(rows)
        self._total_frames = rows[-1]["dataset_to_index"] if rows else 0
        if rows:
            last = rows[-1]
            self._data_file = FileIndex(last["data/chunk_index"], last["data/file_index"])
            self._data_file_frames = sum(
                r["length"] for r in rows if FileIndex(r["data/chunk_index"], r["data/file_index"]) == self._data_file
            )
            self._meta_file = FileIndex(last["meta/episodes/chunk_index"], last["meta/episodes/file_index"])
            self._meta_file_episodes = sum(
                1
                for r in rows
                if FileIndex(r["meta/episodes/chunk_index"], r["meta/episodes/file_index"]) == self._meta_file
            )
        info = self._info
        info["total_episodes"] = len(rows)
        info["total_frames"] = self._total_frames
        info["total_tasks"] = len(tasks)
        info["splits"] = {"train": f"0:{len(rows)}"} if rows else {}
        rewrites = {INFO_PATH: json_bytes(info)}
        if running is not None:
            rewrites[STATS_PATH] = json_bytes(stats_lib.to_json(running))
        for relative, content in rewrites.items():
            final = self.root / relative
            if not final.is_file() or final.read_bytes() != content:
                tmp, _ = write_staged(self._staging, final.name, lambda p, c=content: p.write_bytes(c))
                commit(tmp, final)


def _file_index(path: Path) -> FileIndex:
    match = _FILE_RE.search(path.as_posix())
    if match is None:
        raise CorruptDatasetError(f"unexpected file name {path}")
    return FileIndex(int(match.group(1)), int(match.group(2)))


def _write_table(path: Path, table: pa.Table) -> None:
    pq.write_table(table, path, compression="snappy", use_dictionary=True)


def _rewrite_row_groups(source: pq.ParquetFile, keep: pa.Table, out: Path) -> None:
    """Write `keep` (a prefix of `source`) with the source's schema, one row group per episode."""
    episode = keep.column("episode_index").to_numpy()
    boundaries = [0, *(np.flatnonzero(np.diff(episode)) + 1).tolist(), len(episode)]
    with pq.ParquetWriter(out, source.schema_arrow, compression="snappy", use_dictionary=True) as writer:
        for start, stop in itertools.pairwise(boundaries):
            writer.write_table(keep.slice(start, stop - start))


def _write_tasks(path: Path, tasks: list[str]) -> None:
    schema = pa.schema(
        [("task_index", pa.int64()), ("__index_level_0__", pa.large_string())],
        metadata={"pandas": json.dumps(_TASKS_PANDAS_METADATA)},
    )
    table = pa.Table.from_arrays(
        [pa.array(range(len(tasks)), pa.int64()), pa.array(tasks, pa.large_string())], schema=schema
    )
    pq.write_table(table, path)
