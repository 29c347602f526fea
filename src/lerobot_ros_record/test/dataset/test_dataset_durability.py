"""File rotation, resume, SIGKILL mid-episode, a save interrupted before its commit, a full disk."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import DatasetWriter, DiskFullError, WriterConfig

TINY_FILES = {"data_files_size_in_mb": 1e-6, "video_files_size_in_mb": 1e-6, "chunks_size": 2}
CAMERAS = ("observation.images.front", "observation.images.wrist")


def episodes_rows(root: Path) -> list[dict]:
    rows = []
    for path in sorted((root / "meta/episodes").glob("chunk-*/file-*.parquet")):
        rows.extend(pq.read_table(path).to_pylist())
    return rows


def relative_files(root: Path, under: str) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in (root / under).rglob("*") if p.is_file())


def video_times(path: Path) -> list[float]:
    with av.open(str(path)) as container:
        return [frame.time for frame in container.decode(video=0)]


def assert_consistent(root: Path, fps: int = 30) -> list[dict]:
    """Every episode's rows and video frames are where its metadata says, at exact timestamps."""
    rows = episodes_rows(root)
    info = json.loads((root / "meta/info.json").read_text())
    assert info["total_episodes"] == len(rows)
    assert info["total_frames"] == (rows[-1]["dataset_to_index"] if rows else 0)
    for position, row in enumerate(rows):
        assert row["episode_index"] == position
        data = pq.read_table(
            root / f"data/chunk-{row['data/chunk_index']:03d}/file-{row['data/file_index']:03d}.parquet"
        )
        mine = data.filter(np.asarray(data.column("episode_index")) == position)
        assert mine.column("index").to_pylist() == list(range(row["dataset_from_index"], row["dataset_to_index"]))
        for camera in CAMERAS:
            chunk, file = row[f"videos/{camera}/chunk_index"], row[f"videos/{camera}/file_index"]
            times = np.array(video_times(root / f"videos/{camera}/chunk-{chunk:03d}/file-{file:03d}.mp4"))
            start = row[f"videos/{camera}/from_timestamp"]
            expected = start + np.arange(row["length"]) / fps
            inside = times[(times > start - 1e-6) & (times < row[f"videos/{camera}/to_timestamp"] - 1e-6)]
            np.testing.assert_allclose(inside, expected, atol=1e-6)
    return rows


def test_rotation_by_size_and_chunk(tmp_path: Path, reference_episodes, load_with_lerobot) -> None:
    root = tmp_path / "rotated"
    reference_episodes.write(root, WriterConfig(fps=30, **TINY_FILES))
    assert relative_files(root, "data") == [
        "data/chunk-000/file-000.parquet",
        "data/chunk-000/file-001.parquet",
        "data/chunk-001/file-000.parquet",
    ]
    assert relative_files(root, "meta/episodes") == [
        "meta/episodes/chunk-000/file-000.parquet",
        "meta/episodes/chunk-000/file-001.parquet",
        "meta/episodes/chunk-001/file-000.parquet",
    ]
    assert len(relative_files(root, f"videos/{CAMERAS[0]}")) == 3
    rows = assert_consistent(root)
    assert all(row[f"videos/{CAMERAS[0]}/from_timestamp"] == 0 for row in rows)
    info = json.loads((root / "meta/info.json").read_text())
    assert (info["chunks_size"], info["data_files_size_in_mb"]) == (2, 1e-6)
    for path in (root / "data").rglob("*.parquet"):  # one row group per episode
        assert pq.ParquetFile(path).metadata.num_row_groups == 1

    loaded = load_with_lerobot(root)
    np.testing.assert_array_equal(loaded.arrays["observation.state"], np.concatenate(reference_episodes.states))
    lengths = [len(s) for s in reference_episodes.states]
    np.testing.assert_array_equal(loaded.arrays["episode_index"], np.repeat(np.arange(3), lengths))
    front = np.rint(loaded.arrays["observation.images.front"] * 255).transpose(0, 2, 3, 1)
    expected = np.stack(
        [reference_episodes.frame(e, i)["observation.images.front"] for e, n in enumerate(lengths) for i in range(n)]
    )
    assert np.abs(front - expected).mean() < 6


def test_resume_appends_as_if_never_stopped(tmp_path: Path, reference_episodes) -> None:
    straight, resumed = tmp_path / "straight", tmp_path / "resumed"
    reference_episodes.write(straight)
    reference_episodes.write(resumed, episodes=range(2))
    reference_episodes.write(resumed, episodes=range(2, 3))
    assert pq.read_table(resumed / "data/chunk-000/file-000.parquet").equals(
        pq.read_table(straight / "data/chunk-000/file-000.parquet")
    )
    assert json.loads((resumed / "meta/info.json").read_text()) == json.loads((straight / "meta/info.json").read_text())
    mine, theirs = episodes_rows(resumed), episodes_rows(straight)
    assert mine == theirs
    stats, straight_stats = (json.loads((r / "meta/stats.json").read_text()) for r in (resumed, straight))
    for feature in straight_stats:
        for name in straight_stats[feature]:
            # float32 episode stats fold with float32 rounding in one run, float64 after reloading them
            np.testing.assert_allclose(stats[feature][name], straight_stats[feature][name], rtol=1e-6)
    for camera in CAMERAS:
        path = f"videos/{camera}/chunk-000/file-000.mp4"
        assert video_times(resumed / path) == video_times(straight / path)
    assert not (resumed / ".lerobot_ros_staging").exists()


CRASHING_RECORDER = textwrap.dedent(
    """
    import sys, time
    import numpy as np
    from pathlib import Path
    from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

    root = Path(sys.argv[1])
    features = {
        "observation.state": {"dtype": "float32", "shape": [2], "names": ["a", "b"]},
        "observation.images.front": {"dtype": "video", "shape": [48, 64, 3], "names": None},
        "observation.images.wrist": {"dtype": "video", "shape": [48, 64, 3], "names": None},
    }
    writer = DatasetWriter.create(root, "t/crash", features, WriterConfig(fps=30))

    def frame(episode, i):
        image = np.full((48, 64, 3), (episode * 50 + i) % 256, np.uint8)
        return {"observation.state": np.array([episode, i], np.float32),
                "observation.images.front": image, "observation.images.wrist": 255 - image}

    for episode in range(2):
        writer.start_episode(f"task {episode}")
        for i in range(10 + episode):
            writer.add_frame(frame(episode, i))
        writer.save_episode()
    writer.start_episode("never saved")
    for i in range(100000):
        writer.add_frame(frame(2, i))
        if i == 20:
            print("MID-EPISODE", flush=True)
        time.sleep(0.005)
    """
)


@pytest.mark.slow
@pytest.mark.reference
def test_sigkill_mid_episode_keeps_earlier_episodes_and_resume_continues(tmp_path: Path, load_with_lerobot) -> None:
    root = tmp_path / "crash"
    process = subprocess.Popen(
        [sys.executable, "-c", CRASHING_RECORDER, str(root)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "MID-EPISODE"
        os.kill(process.pid, signal.SIGKILL)
    finally:
        process.kill()
        process.wait(timeout=60)
    assert process.returncode == -signal.SIGKILL
    assert any((root / ".lerobot_ros_staging").iterdir())  # the partial episode's encoder files

    loaded = load_with_lerobot(root)  # loadable as left by the crash, without any repair
    assert loaded.meta["num_episodes"] == 2
    np.testing.assert_array_equal(loaded.arrays["episode_index"], [0] * 10 + [1] * 11)

    writer = DatasetWriter.resume(root)
    assert writer.num_episodes == 2
    assert not any((root / ".lerobot_ros_staging").iterdir())
    assert writer.start_episode("after the crash") == 2
    for i in range(5):
        image = np.full((48, 64, 3), 200, np.uint8)
        writer.add_frame(
            {
                "observation.state": np.array([9, i], np.float32),
                "observation.images.front": image,
                "observation.images.wrist": image,
            }
        )
    assert writer.save_episode().index == 2
    writer.finalize()
    rows = assert_consistent(root)
    assert [r["tasks"] for r in rows] == [["task 0"], ["task 1"], ["after the crash"]]
    assert pq.read_table(root / "meta/tasks.parquet").column("task_index").to_pylist() == [0, 1, 2]
    loaded = load_with_lerobot(root)
    assert loaded.meta["tasks"][-1] == "after the crash"
    np.testing.assert_array_equal(loaded.arrays["index"], np.arange(26))
    assert np.abs(loaded.arrays["observation.images.front"][-1] * 255 - 200).mean() < 3


@pytest.mark.parametrize("limits", [{}, TINY_FILES], ids=["append", "rotate"])
def test_save_interrupted_before_its_commit_is_rolled_back(tmp_path: Path, reference_episodes, limits: dict) -> None:
    """Data and video files already hold episode 2 but its metadata never landed: resume drops it."""
    root = tmp_path / "ds"
    config = WriterConfig(fps=30, **limits)
    reference_episodes.write(root, config, episodes=range(2))
    committed = {p: p.read_bytes() for p in (root / "meta").rglob("*") if p.is_file()}
    reference_episodes.write(root, WriterConfig(fps=30, **limits), episodes=range(2, 3))
    for path in (root / "meta").rglob("*"):  # the crash: none of episode 2's metadata was moved into place
        if path.is_file() and path not in committed:
            path.unlink()
    for path, content in committed.items():
        path.write_bytes(content)

    writer = DatasetWriter.resume(root, WriterConfig(fps=30))
    assert writer.num_episodes == 2
    assert writer.total_frames == 51
    rows = assert_consistent(root)
    data_files = sorted((root / "data").rglob("*.parquet"))
    assert sum(pq.read_metadata(p).num_rows for p in data_files) == 51
    assert len(data_files) == len({(r["data/chunk_index"], r["data/file_index"]) for r in rows})
    writer.start_episode("a new task")
    for i in range(4):
        frame = reference_episodes.frame(0, i)
        writer.add_frame(frame)
    assert writer.save_episode().index == 2
    writer.finalize()
    rows = assert_consistent(root)
    assert rows[-1]["dataset_from_index"] == 51 and rows[-1]["length"] == 4
    tasks = pq.read_table(root / "meta/tasks.parquet").column("__index_level_0__").to_pylist()
    assert tasks == [*reference_episodes.tasks[:2], "a new task"]


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 3 MiB tmpfs (needs root, as in the development container)."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=3m", "tmpfs", str(mount_point)],
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs to fill up here (needs root): {result.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", "-l", str(mount_point)], check=False)


def test_disk_full_raises_clearly_and_keeps_earlier_episodes(small_disk: Path, reference_episodes) -> None:
    root = small_disk / "ds"
    writer = reference_episodes.write(root, episodes=range(2))
    filler = small_disk / "filler"
    free = shutil.disk_usage(small_disk).free
    filler.write_bytes(b"\0" * (free - 4096))
    snapshot = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".lerobot_ros_staging" not in p.parts}

    assert DatasetWriter.resume(root).num_episodes == 2  # resuming a clean dataset writes nothing
    writer.start_episode("no room")
    with pytest.raises(DiskFullError, match=r"no space left on device.*episode 2 was (not saved|dropped)"):
        for i in range(30):
            writer.add_frame(reference_episodes.frame(2, i % 15))
        writer.save_episode()
    assert not writer.episode_open
    after = {p: p.read_bytes() for p in root.rglob("*") if p.is_file() and ".lerobot_ros_staging" not in p.parts}
    assert after == snapshot  # nothing committed, nothing damaged

    filler.unlink()  # space freed: the same writer carries on
    writer.start_episode(reference_episodes.tasks[2])
    for i in range(15):
        writer.add_frame(reference_episodes.frame(2, i))
    assert writer.save_episode().index == 2
    writer.finalize()
    assert_consistent(root)


def test_save_interrupted_after_its_commit_is_completed(tmp_path: Path, reference_episodes) -> None:
    """Episode 2's metadata landed but stats.json and info.json did not: resume rebuilds them from the episodes."""
    straight, root = tmp_path / "straight", tmp_path / "ds"
    reference_episodes.write(straight)
    reference_episodes.write(root, episodes=range(2))
    stale = {name: (root / "meta" / name).read_bytes() for name in ("info.json", "stats.json")}
    reference_episodes.write(root, episodes=range(2, 3))
    for name, content in stale.items():
        (root / "meta" / name).write_bytes(content)

    assert DatasetWriter.resume(root).num_episodes == 3
    assert json.loads((root / "meta/info.json").read_text()) == json.loads((straight / "meta/info.json").read_text())
    stats, expected = (json.loads((r / "meta/stats.json").read_text()) for r in (root, straight))
    for feature in expected:
        for name in expected[feature]:
            np.testing.assert_allclose(stats[feature][name], expected[feature][name], rtol=1e-6)
