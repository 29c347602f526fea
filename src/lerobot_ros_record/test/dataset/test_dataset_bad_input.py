"""Bad frames, bad feature descriptions and calls out of order: a precise error, nothing stored, no damage."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import (
    DatasetError,
    DatasetWriter,
    EpisodeStateError,
    FeatureSpecError,
    FrameError,
    WriterConfig,
)

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [3], "names": ["a", "b", "c"]},
    "observation.force": {"dtype": "float64", "shape": [6], "names": None},
    "observation.images.cam": {"dtype": "video", "shape": [16, 24, 3], "names": ["height", "width", "channels"]},
    "observation.images.depth": {
        "dtype": "video",
        "shape": [16, 24, 1],
        "names": ["height", "width", "channels"],
        "info": {"video.is_depth_map": True},
    },
}


def good_frame(i: int = 0) -> dict[str, np.ndarray]:
    return {
        "observation.state": np.array([i, 1, 2], np.float32),
        "observation.force": np.full(6, 0.5 * i),
        "observation.images.cam": np.full((16, 24, 3), 10 * i, np.uint8),
        "observation.images.depth": np.full((16, 24), 500 + i, np.uint16),
    }


def with_(**changes: object) -> dict:
    frame = good_frame(7)
    for key, value in changes.items():
        name = key.replace("__", ".")
        if value is None:
            del frame[name]
        else:
            frame[name] = value
    return frame


BAD_FRAMES = {
    "missing feature": (with_(observation__force=None), r"missing features \['observation.force'\]"),
    "extra feature": ({**good_frame(), "observation.extra": np.zeros(1)}, r"unknown features \['observation.extra'\]"),
    "wrong vector shape": (with_(observation__state=np.zeros(4, np.float32)), r"'observation.state' has shape \(4,\)"),
    "wrong vector dtype": (with_(observation__state=np.zeros(3)), r"'observation.state' has dtype float64"),
    "NaN in state": (
        with_(observation__state=np.array([0, np.nan, 1], np.float32)),
        r"'observation.state' has non-finite values \[nan\] at positions \[1\]",
    ),
    "inf in force": (with_(observation__force=np.array([0, 0, np.inf, 0, 0, 0])), r"non-finite values \[inf\]"),
    "list instead of array": (with_(observation__state=[0.0, 1.0, 2.0]), r"must be a numpy array, got list"),
    "image size changed": (
        with_(observation__images__cam=np.zeros((32, 24, 3), np.uint8)),
        r"'observation.images.cam' has shape \(32, 24, 3\)",
    ),
    "image as float": (
        with_(observation__images__cam=np.zeros((16, 24, 3), np.float32)),
        r"'observation.images.cam' has dtype float32, expected uint8 RGB uint8",
    ),
    "image channel first": (
        with_(observation__images__cam=np.zeros((3, 16, 24), np.uint8)),
        r"has shape \(3, 16, 24\), expected \(16, 24, 3\)",
    ),
    "depth in metres (float)": (
        with_(observation__images__depth=np.zeros((16, 24), np.float32)),
        r"'observation.images.depth' has dtype float32, expected uint16 uint16 millimetres",
    ),
    "depth wrong size": (
        with_(observation__images__depth=np.zeros((8, 24), np.uint16)),
        r"depth feature 'observation.images.depth' has shape \(8, 24\)",
    ),
    "not a dict": ([1, 2, 3], r"a frame must be a dict"),
}


@pytest.fixture
def writer(tmp_path: Path) -> Iterator[DatasetWriter]:
    writer = DatasetWriter.create(tmp_path / "ds", "t/bad", FEATURES, WriterConfig(fps=10))
    yield writer
    writer.finalize()


@pytest.mark.parametrize("case", list(BAD_FRAMES))
def test_bad_frame_is_rejected_and_nothing_of_it_is_stored(writer: DatasetWriter, case: str) -> None:
    frame, message = BAD_FRAMES[case]
    writer.start_episode("task")
    writer.add_frame(good_frame(0))
    with pytest.raises(FrameError, match=message):
        writer.add_frame(frame)
    writer.add_frame(good_frame(1))
    summary = writer.save_episode()
    writer.finalize()
    assert summary.length == 2
    table = pq.read_table(writer.root / "data/chunk-000/file-000.parquet")
    assert table.column("observation.state").to_pylist() == [[0, 1, 2], [1, 1, 2]]
    assert table.column("frame_index").to_pylist() == [0, 1]


def test_nan_allowed_when_configured(tmp_path: Path) -> None:
    writer = DatasetWriter.create(tmp_path / "ds", "t/nan", FEATURES, WriterConfig(fps=10, allow_nan=True))
    writer.start_episode("task")
    writer.add_frame(with_(observation__state=np.array([0, np.nan, 1], np.float32)))
    writer.add_frame(good_frame(1))
    assert writer.save_episode().length == 2


def test_calls_out_of_order(writer: DatasetWriter) -> None:
    with pytest.raises(EpisodeStateError, match="add_frame: no episode is open"):
        writer.add_frame(good_frame())
    with pytest.raises(EpisodeStateError, match="save_episode: no episode is open"):
        writer.save_episode()
    with pytest.raises(EpisodeStateError, match="task must be a non-empty string"):
        writer.start_episode("  ")
    assert writer.start_episode("task") == 0
    with pytest.raises(EpisodeStateError, match="episode 0 is still open"):
        writer.start_episode("other")
    with pytest.raises(EpisodeStateError, match="episode 0 has no frames"):
        writer.save_episode()
    writer.add_frame(good_frame())
    writer.discard_episode()
    assert writer.start_episode("again") == 0  # a discarded episode's index is reused
    writer.add_frame(good_frame())
    writer.add_frame(good_frame(1))
    assert writer.save_episode().index == 0
    assert writer.num_episodes == 1
    writer.finalize()
    assert not (writer.root / ".lerobot_ros_staging").exists()


def test_finalize_drops_an_unsaved_episode(writer: DatasetWriter) -> None:
    writer.start_episode("kept")
    writer.add_frame(good_frame(0))
    writer.add_frame(good_frame(1))
    writer.save_episode()
    writer.start_episode("unsaved")
    writer.add_frame(good_frame(2))
    writer.finalize()
    assert writer.num_episodes == 1
    assert pq.read_table(writer.root / "data/chunk-000/file-000.parquet").num_rows == 2
    assert pq.read_table(writer.root / "meta/tasks.parquet").column("__index_level_0__").to_pylist() == ["kept"]


BAD_FEATURES = {
    "slash in name": ({"a/b": {"dtype": "float32", "shape": [1]}}, "must not contain '/'"),
    "default column": ({"timestamp": {"dtype": "float32", "shape": [1]}}, "column the writer adds itself"),
    "no dtype": ({"x": {"shape": [1]}}, "needs at least 'dtype' and 'shape'"),
    "unknown dtype": ({"x": {"dtype": "float16", "shape": [1]}}, "dtype 'float16' not supported"),
    "string dtype": ({"x": {"dtype": "string", "shape": [1]}}, "dtype 'string' not supported"),
    "matrix": ({"x": {"dtype": "float32", "shape": [2, 2]}}, r"must be vectors \(shape \[n\]\)"),
    "zero size": ({"x": {"dtype": "float32", "shape": [0]}}, "must be non-empty and positive"),
    "video 2-D": ({"v": {"dtype": "video", "shape": [4, 4]}}, r"shape must be \[height, width, 3\]"),
    "odd video": ({"v": {"dtype": "video", "shape": [5, 4, 3]}}, "must be even"),
    "depth with 3 channels": (
        {"v": {"dtype": "video", "shape": [4, 4, 3], "info": {"video.is_depth_map": True}}},
        r"depth shape must be \[height, width, 1\]",
    ),
    "depth as image": (
        {"v": {"dtype": "image", "shape": [4, 4, 1], "info": {"video.is_depth_map": True}}},
        "depth is stored as video only",
    ),
    "empty": ({}, "no features given"),
}


@pytest.mark.parametrize("case", list(BAD_FEATURES))
def test_bad_feature_description(tmp_path: Path, case: str) -> None:
    features, message = BAD_FEATURES[case]
    with pytest.raises(FeatureSpecError, match=message):
        DatasetWriter.create(tmp_path / "ds", "t/f", features, WriterConfig(fps=10))
    assert not (tmp_path / "ds" / "meta" / "info.json").exists()


def test_bad_config_and_non_empty_root(tmp_path: Path) -> None:
    with pytest.raises(FeatureSpecError, match="fps must be a positive integer"):
        WriterConfig(fps=0)
    with pytest.raises(FeatureSpecError, match="video_codec 'vp9' not supported"):
        WriterConfig(fps=30, video_codec="vp9")
    (tmp_path / "busy").mkdir()
    (tmp_path / "busy" / "file").write_text("x")
    with pytest.raises(DatasetError, match="not empty"):
        DatasetWriter.create(tmp_path / "busy", "t/f", FEATURES, WriterConfig(fps=10))
    with pytest.raises(DatasetError, match="no dataset to resume"):
        DatasetWriter.resume(tmp_path / "busy")


def test_meta_file_names(writer: DatasetWriter) -> None:
    writer.write_meta_file("lerobot_ros_contract.yaml", b"features: {}\n")
    assert (writer.root / "meta/lerobot_ros_contract.yaml").read_bytes() == b"features: {}\n"
    for name in ("info.json", "../x", "episodes", ""):
        with pytest.raises(DatasetError, match="invalid meta file name"):
            writer.write_meta_file(name, b"")
