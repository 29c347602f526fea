"""One writer per dataset, corrupt metadata reported as such, new directories made durable (issue 11 item 4)."""

from __future__ import annotations

import dataclasses
import gc
import json
import os
import re
import socket
import stat
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import CorruptDatasetError, DatasetLockedError, DatasetWriter, WriterConfig

FEATURES = {
    "observation.state": {"dtype": "float32", "shape": [2], "names": ["a", "b"]},
    "observation.images.front": {"dtype": "video", "shape": [32, 32, 3], "names": ["height", "width", "channels"]},
}
CONFIG = WriterConfig(fps=10, video_codec="h264")


def frame(i: int) -> dict[str, np.ndarray]:
    return {
        "observation.state": np.array([i, -i], np.float32),
        "observation.images.front": np.full((32, 32, 3), 8 * i % 256, np.uint8),
    }


def record(writer: DatasetWriter, episodes: int, length: int = 3) -> None:
    for _ in range(episodes):
        writer.start_episode("move")
        for i in range(length):
            writer.add_frame(frame(i))
        writer.save_episode()


HOLDER = textwrap.dedent(
    """
    import json, sys
    from pathlib import Path
    import numpy as np
    from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

    config = WriterConfig(fps=10, video_codec="h264")
    writer = DatasetWriter.create(Path(sys.argv[1]), "t/lock", json.loads(sys.argv[2]), config)
    frame = {"observation.state": np.zeros(2, np.float32), "observation.images.front": np.zeros((32, 32, 3), np.uint8)}
    writer.start_episode("held")
    writer.add_frame(frame)
    print("HOLDING", flush=True)
    sys.stdin.readline()
    writer.add_frame(frame)
    writer.save_episode()
    writer.finalize()
    print("DONE", flush=True)
    """
)


def test_a_second_writer_is_refused_naming_the_holder_and_leaves_its_episode_alone(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, str(root), json.dumps(FEATURES)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdin is not None
        assert holder.stdout.readline().strip() == "HOLDING"
        staging = sorted((root / ".lerobot_ros_staging").iterdir())
        assert staging  # the open episode's encoder files

        holder_pattern = rf"pid {holder.pid} on host {re.escape(socket.gethostname())}, since \d{{4}}-\d\d-\d\dT"
        with pytest.raises(DatasetLockedError, match=holder_pattern):
            DatasetWriter.resume(root, CONFIG)
        assert sorted((root / ".lerobot_ros_staging").iterdir()) == staging

        holder.stdin.write("\n")
        holder.stdin.flush()
        assert holder.stdout.readline().strip() == "DONE"
        assert holder.wait(timeout=60) == 0
    finally:
        holder.kill()
        holder.wait(timeout=60)

    writer = DatasetWriter.resume(root, CONFIG)  # released by finalize
    assert writer.num_episodes == 1
    writer.finalize()
    assert not (root / ".lerobot_ros_lock").exists()


def test_the_lock_is_per_writer_and_dies_with_it(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    first = DatasetWriter.create(root, "t/lock", FEATURES, CONFIG)
    with pytest.raises(DatasetLockedError, match=rf"pid {os.getpid()} on host"):
        DatasetWriter.resume(root)
    record(first, 1)
    del first  # dropped without finalize (a crash of the owner inside a longer-lived process)
    gc.collect()
    second = DatasetWriter.resume(root)
    assert second.num_episodes == 1
    with pytest.raises(DatasetLockedError):
        DatasetWriter.resume(root)
    second.finalize()
    DatasetWriter.resume(root).finalize()


def _truncated(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _without_length_column(path: Path) -> None:
    pq.write_table(pq.read_table(path).drop_columns(["length"]), path)


CORRUPTIONS = {
    "info.json cut short": ("meta/info.json", _truncated, "JSONDecodeError"),
    "info.json not an object": ("meta/info.json", lambda p: p.write_text("[1, 2]"), "a JSON object is expected"),
    "info.json without fps": (
        "meta/info.json",
        lambda p: p.write_text(p.read_text().replace('"fps"', '"fps_"')),
        r"it lacks \['fps'\]",
    ),
    "info.json with a bad feature": (
        "meta/info.json",
        lambda p: p.write_text(p.read_text().replace('"float32"', '"float33"')),
        "dtype 'float33' not supported",
    ),
    "episodes parquet cut short": ("meta/episodes/chunk-000/file-000.parquet", _truncated, "Arrow"),
    "episodes parquet without a column": (
        "meta/episodes/chunk-000/file-000.parquet",
        _without_length_column,
        r"lacks the columns \['length'\]",
    ),
    "stats.json cut short": ("meta/stats.json", _truncated, "JSONDecodeError"),
    "tasks parquet cut short": ("meta/tasks.parquet", _truncated, "Arrow"),
    "data parquet cut short": ("data/chunk-000/file-000.parquet", _truncated, "Arrow"),
}


@pytest.mark.parametrize("case", list(CORRUPTIONS))
def test_corrupt_metadata_is_a_corrupt_dataset_error_naming_the_file(tmp_path: Path, case: str) -> None:
    relative, corrupt, cause = CORRUPTIONS[case]
    root = tmp_path / "ds"
    writer = DatasetWriter.create(root, "t/corrupt", FEATURES, CONFIG)
    record(writer, 2)
    writer.finalize()
    corrupt(root / relative)
    with pytest.raises(CorruptDatasetError, match=rf"{re.escape(str(root / relative))} is corrupt: .*{cause}"):
        DatasetWriter.resume(root, CONFIG)
    assert not (root / ".lerobot_ros_lock").exists()  # a failed resume does not keep the dataset locked


def test_every_new_directory_is_fsynced_in_its_parent(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A crash right after a commit must not lose the directory entry of a new chunk-NNN/ (or data/, videos/...)."""
    synced_dirs: set[tuple[int, int]] = set()
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        info = os.fstat(fd)
        if stat.S_ISDIR(info.st_mode):
            synced_dirs.add((info.st_dev, info.st_ino))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)
    root = tmp_path / "ds"
    tiny = WriterConfig(
        fps=10, video_codec="h264", data_files_size_in_mb=1e-6, video_files_size_in_mb=1e-6, chunks_size=2
    )
    writer = DatasetWriter.create(root, "t/fsync", FEATURES, tiny)
    record(writer, 3)
    writer.finalize()

    directories = [root, *(p for p in root.rglob("*") if p.is_dir())]
    assert {p.relative_to(root).as_posix() for p in directories} >= {
        "data/chunk-001",
        "meta/episodes/chunk-001",
        "videos/observation.images.front/chunk-001",
    }
    for directory in directories:
        parent = directory.parent.stat()
        assert (parent.st_dev, parent.st_ino) in synced_dirs, f"{directory}'s entry in its parent was not fsynced"


def test_resume_applies_the_datasets_settings_to_a_copy_of_the_callers_config(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    stored = WriterConfig(fps=10, video_codec="h264", chunks_size=5, data_files_size_in_mb=1.0)
    writer = DatasetWriter.create(root, "t/config", FEATURES, stored)
    record(writer, 1)  # the codec is known from the first video on
    writer.finalize()
    requested = WriterConfig(fps=10, encoder_queue_size=7)
    before = dataclasses.replace(requested)
    writer = DatasetWriter.resume(root, requested)
    writer.finalize()
    assert requested == before  # a recorder reusing its config for another dataset gets what it asked for
    assert writer.config == dataclasses.replace(requested, video_codec="h264", chunks_size=5, data_files_size_in_mb=1.0)
