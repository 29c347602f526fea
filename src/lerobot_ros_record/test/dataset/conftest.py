"""Fixtures of the dataset-writer tests: the reference dataset's frames, writing them, loading with LeRobot 0.4.4."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

DEFAULT_COLUMNS = ("timestamp", "frame_index", "episode_index", "index", "task_index")

# Runs in the LeRobot 0.4.4 venv: loads a dataset, saves every item's arrays and the metadata it sees.
LOAD_WITH_LEROBOT = """
import json, sys
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root, out = sys.argv[1], sys.argv[2]
ds = LeRobotDataset("lerobot_ros/test", root=root, video_backend="pyav")
arrays, tasks = {}, []
for i in range(len(ds)):
    item = ds[i]
    tasks.append(item["task"])
    for key, value in item.items():
        if hasattr(value, "numpy"):
            arrays.setdefault(key, []).append(value.numpy())
np.savez(out, **{k: np.stack(v) for k, v in arrays.items()})
episodes = [
    {k: ep[k] for k in ("episode_index", "dataset_from_index", "dataset_to_index", "length", "tasks")}
    for ep in ds.meta.episodes
]
stats = {k: {s: np.asarray(v).tolist() for s, v in d.items()} for k, d in ds.meta.stats.items()}
print(json.dumps({"len": len(ds), "num_episodes": ds.num_episodes, "fps": ds.fps, "tasks": tasks,
                  "episodes": episodes, "stats": stats, "features": list(ds.features)}))
"""


# Runs in the LeRobot 0.4.4 venv: writes `lerobot_v30_so101_tiny`, the format reference, with LeRobot itself
# (LeRobotDataset.create -> add_frame -> save_episode -> finalize): robot_type so101_follower, 30 fps,
# 3 episodes (20, 31, 15 frames), 2 tasks, observation.state/action float32[6] (state_j = offset_j +
# 5 sin(t + j) in degrees, action = state + 1), two 48x64 video cameras (libsvtav1): front (see
# `reference_front`) and wrist = 255 - front.
WRITE_REFERENCE_DATASET = """
import sys
import numpy as np
from lerobot.datasets.lerobot_dataset import LeRobotDataset
names = [f"{j}.pos" for j in ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")]
camera = {"dtype": "video", "shape": (48, 64, 3), "names": ["height", "width", "channels"]}
features = {
    "observation.state": {"dtype": "float32", "shape": (6,), "names": names},
    "action": {"dtype": "float32", "shape": (6,), "names": names},
    "observation.images.front": camera,
    "observation.images.wrist": dict(camera),
}
ds = LeRobotDataset.create("lerobot_ros/reference", fps=30, features=features, root=sys.argv[1],
                           robot_type="so101_follower")
offsets = np.array([10.0, -20.0, 30.0, 40.0, 0.0, 25.0])
episodes = [(20, "pick the cube"), (31, "place the cube in the box"), (15, "pick the cube")]
for episode, (length, task) in enumerate(episodes):
    for k in range(length):
        state = (offsets + 5 * np.sin(k / 30 + np.arange(6))).astype(np.float32)
        front = np.zeros((48, 64, 3), np.uint8)
        front[..., 0] = (k * 8) % 256
        front[..., 1] = 60 * episode
        front[:, (2 * k) % 64, :] = 255
        ds.add_frame({"observation.state": state, "action": state + 1, "observation.images.front": front,
                      "observation.images.wrist": 255 - front, "task": task})
    ds.save_episode()
ds.finalize()
"""


@dataclass
class Loaded:
    """What LeRobot 0.4.4 returned for a dataset: per-item arrays and the metadata it read."""

    arrays: dict[str, np.ndarray]
    meta: dict


@dataclass
class ReferenceEpisodes:
    """The frames of `lerobot_v30_so101_tiny` (written by LeRobot 0.4.4), to write them again."""

    features: dict
    tasks: list[str]
    states: list[np.ndarray]
    actions: list[np.ndarray]

    def frame(self, episode: int, frame_index: int) -> dict[str, np.ndarray]:
        return {
            "observation.state": self.states[episode][frame_index],
            "action": self.actions[episode][frame_index],
            "observation.images.front": (front := reference_front(episode, frame_index)),
            "observation.images.wrist": 255 - front,
        }

    def write(self, root: Path, config: WriterConfig | None = None, episodes: range | None = None) -> DatasetWriter:
        """Write these frames with the suite's writer (all episodes, or a range of them to a resumed writer)."""
        if episodes is None or episodes.start == 0:
            writer = DatasetWriter.create(
                root, "lerobot_ros/test", self.features, config or WriterConfig(fps=30), robot_type="so101_follower"
            )
        else:
            writer = DatasetWriter.resume(root, config)
        for episode in episodes or range(len(self.tasks)):
            writer.start_episode(self.tasks[episode])
            for frame_index in range(len(self.states[episode])):
                writer.add_frame(self.frame(episode, frame_index))
            writer.save_episode()
        writer.finalize()
        return writer


def reference_front(episode: int, frame_index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """The front camera of the reference dataset (`WRITE_REFERENCE_DATASET`)."""
    image = np.zeros((height, width, 3), np.uint8)
    image[..., 0] = (frame_index * 8) % 256
    image[..., 1] = 60 * episode
    image[:, (2 * frame_index) % width, :] = 255
    return image


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Tests of the generated reference dataset need the LeRobot venv: mark them `reference`."""
    for item in items:
        if "reference_dataset" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.reference)


@pytest.fixture(scope="session")
def reference_dataset(run_reference: Callable, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """`lerobot_v30_so101_tiny`, written by LeRobot 0.4.4 once per test run."""
    root = tmp_path_factory.mktemp("reference") / "lerobot_v30_so101_tiny"
    run_reference(WRITE_REFERENCE_DATASET, str(root))
    return root


@pytest.fixture(scope="session")
def reference_episodes(reference_dataset: Path) -> ReferenceEpisodes:
    info = json.loads((reference_dataset / "meta" / "info.json").read_text())
    features = {
        key: {k: v for k, v in spec.items() if k != "info"}
        for key, spec in info["features"].items()
        if key not in DEFAULT_COLUMNS
    }
    data = pq.read_table(reference_dataset / "data" / "chunk-000" / "file-000.parquet").to_pydict()
    episodes = pq.read_table(reference_dataset / "meta" / "episodes" / "chunk-000" / "file-000.parquet").to_pylist()
    states, actions, tasks = [], [], []
    for ep in episodes:
        rows = slice(ep["dataset_from_index"], ep["dataset_to_index"])
        states.append(np.array(data["observation.state"][rows], np.float32))
        actions.append(np.array(data["action"][rows], np.float32))
        tasks.append(ep["tasks"][0])
    return ReferenceEpisodes(features, tasks, states, actions)


@pytest.fixture
def load_with_lerobot(run_reference: Callable, tmp_path: Path) -> Iterator[Callable[[Path], Loaded]]:
    """Load a dataset with LeRobot 0.4.4 (`LeRobotDataset(..., video_backend="pyav")`) in the reference venv."""

    def load(root: Path) -> Loaded:
        out = tmp_path / f"loaded_{root.name}.npz"
        result = run_reference(LOAD_WITH_LEROBOT, str(root), str(out))
        meta = json.loads(result.stdout.strip().splitlines()[-1])
        with np.load(out) as arrays:
            return Loaded({k: arrays[k] for k in arrays.files}, meta)

    yield load
