"""`lerobot-ros dataset`: EE features added to a joint-space dataset equal those recorded live; renames
and removals give valid datasets (LeRobot 0.4.4 loads them) whose videos are the same files."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from sensor_msgs.msg import Image, JointState

from lerobot_ros_core.contract import CONTRACT_META_FILE, load_contract, parse_contract
from lerobot_ros_core.node.stamps import time_from_nanoseconds
from lerobot_ros_record.dataset import DatasetError, WriterConfig
from lerobot_ros_record.dataset.edit import FeatureEdit, edit_dataset
from lerobot_ros_record.dataset.errors import DatasetLockedError
from lerobot_ros_record.dataset.lock import DatasetLock
from lerobot_ros_record.session import DatasetConfig, RecordingSession, open_dataset

SO101_URDF = Path(__file__).resolve().parents[3] / "lerobot_ros_drivers/lerobot_ros_drivers/description/so101.urdf"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
JOINT_CONTRACT = f"""
version: 1
fps: 30
robot_type: so101_follower
features:
  observation.state:
    topic: follower/joint_states
    type: sensor_msgs/msg/JointState
    joints: {JOINTS}
    units: {{default: deg, gripper: percent}}
  action:
    topic: leader/joint_states
    type: sensor_msgs/msg/JointState
    joints: {JOINTS}
    units: {{default: deg, gripper: percent}}
  observation.images.front:
    topic: cameras/front/image_raw
    type: sensor_msgs/msg/Image
    image: {{height: 48, width: 64}}
    sync: {{rule: nearest, tolerance: 0.02}}
"""
EE_FEATURES = {
    "observation.ee_state": {"ee": {"from": "observation.state", "urdf": str(SO101_URDF)}},
    "ee_action": {"ee": {"from": "action", "urdf": str(SO101_URDF)}},
}


def arm_state(stamp_ns: int, k: int, phase: float) -> JointState:
    msg = JointState(name=list(JOINTS), position=[0.4 * np.sin(k / 40 + i + phase) for i in range(6)])
    msg.header.stamp = time_from_nanoseconds(stamp_ns)
    return msg


def image(stamp_ns: int, k: int) -> Image:
    pixels = np.zeros((48, 64, 3), np.uint8)
    pixels[..., 0] = (k * 8) % 256
    pixels[:, (2 * k) % 64, :] = 255
    msg = Image(height=48, width=64, encoding="rgb8", step=64 * 3)
    msg.data = pixels.tobytes()
    msg.header.stamp = time_from_nanoseconds(stamp_ns)
    return msg


def record(root: Path, contract_text: str | dict) -> Path:
    """Two episodes of the same synthetic motion through the recorder's session core."""
    contract = parse_contract(contract_text)
    config = DatasetConfig("lerobot_ros/test", WriterConfig(fps=30, video_codec="h264"), resume=False)
    session = RecordingSession(open_dataset(root, contract, config))
    for episode in range(2):
        session.start(f"task {episode}")
        start = 10**12 + episode * 10**10
        for k in range(200):  # 2 s of joint states at 100 Hz, the camera at 30 Hz
            stamp = start + k * 10_000_000
            session.push(session.convert("follower/joint_states", arm_state(stamp, k, 0.0), stamp))
            session.push(session.convert("leader/joint_states", arm_state(stamp, k, 0.3), stamp))
            if k % 10 in (0, 3, 6):
                session.push(session.convert("cameras/front/image_raw", image(stamp, k), stamp))
            session.tick()
        events = session.save()
        assert [type(event).__name__ for event in events] == ["EpisodeSaved"], events
    session.finalize()
    return root


def with_ee(text: str) -> dict:
    raw = yaml.safe_load(text)
    raw["features"].update(EE_FEATURES)
    return raw


def parquet(path: Path) -> tuple[dict, list, dict]:
    """(columns as Python values, schema fields, schema metadata without the fingerprint)."""
    schema = pq.ParquetFile(path).schema_arrow
    metadata = {k.decode(): json.loads(v) for k, v in (schema.metadata or {}).items()}
    metadata.get("huggingface", {}).pop("fingerprint", None)
    return pq.read_table(path).to_pydict(), [(f.name, str(f.type)) for f in schema], metadata


@pytest.fixture(scope="module")
def datasets(tmp_path_factory) -> dict[str, Path]:
    base = tmp_path_factory.mktemp("edit")
    joint = record(base / "joint", JOINT_CONTRACT)
    live = record(base / "live_ee", with_ee(JOINT_CONTRACT))
    converted = base / "converted"
    edit_dataset(joint, converted, FeatureEdit(add_ee=EE_FEATURES), repo_id="lerobot_ros/test")
    return {"joint": joint, "live": live, "converted": converted}


def test_added_ee_features_equal_the_ones_recorded_live(datasets):
    live, converted = datasets["live"], datasets["converted"]
    assert json.loads((converted / "meta/info.json").read_text()) == json.loads((live / "meta/info.json").read_text())
    assert (converted / "meta/stats.json").read_bytes() == (live / "meta/stats.json").read_bytes()
    for relative in ("data/chunk-000/file-000.parquet", "meta/episodes/chunk-000/file-000.parquet"):
        mine, theirs = parquet(converted / relative), parquet(live / relative)
        assert mine[1] == theirs[1], relative  # same columns, same order, same types
        assert mine[2] == theirs[2], relative
        assert mine[0] == theirs[0], relative  # every value, bit for bit
    assert pq.ParquetFile(converted / "data/chunk-000/file-000.parquet").metadata.num_row_groups == 2
    contract = load_contract(converted / "meta" / CONTRACT_META_FILE)
    assert contract.keys == load_contract(live / "meta" / CONTRACT_META_FILE).keys
    video = "videos/observation.images.front/chunk-000/file-000.mp4"
    assert (converted / video).stat().st_ino == (datasets["joint"] / video).stat().st_ino  # linked, not re-encoded


def test_rename_swaps_action_and_ee_action_and_lerobot_loads_it(datasets, tmp_path, load_with_lerobot):
    swapped = tmp_path / "swapped"
    edit_dataset(
        datasets["converted"],
        swapped,
        FeatureEdit(rename={"action": "joint_action", "ee_action": "action", "observation.images.front": "cam"}),
        repo_id="lerobot_ros/test",
    )
    info = json.loads((swapped / "meta/info.json").read_text())
    assert info["features"]["action"]["names"][0] == "ee.x"
    assert info["features"]["joint_action"]["names"][0] == "shoulder_pan.pos"
    before = json.loads((datasets["converted"] / "meta/stats.json").read_text())
    after = json.loads((swapped / "meta/stats.json").read_text())
    assert after["action"] == before["ee_action"] and after["cam"] == before["observation.images.front"]
    contract = load_contract(swapped / "meta" / CONTRACT_META_FILE)
    assert contract.end_effector("action").source == "joint_action"
    episodes = pq.read_table(swapped / "meta/episodes/chunk-000/file-000.parquet").column_names
    assert "videos/cam/from_timestamp" in episodes and "stats/action/q99" in episodes
    assert (swapped / "videos/cam/chunk-000/file-000.mp4").is_file()
    loaded = load_with_lerobot(swapped)
    frames = info["total_frames"]
    assert frames > 100 and loaded.meta["len"] == frames and loaded.meta["num_episodes"] == 2
    data = pq.read_table(datasets["converted"] / "data/chunk-000/file-000.parquet").to_pydict()
    np.testing.assert_array_equal(loaded.arrays["action"], np.array(data["ee_action"], np.float32))
    assert loaded.arrays["cam"].shape == (frames, 3, 48, 64)


def test_remove_keeps_ee_sources_readable_in_the_contract(datasets, tmp_path, load_with_lerobot):
    smaller = tmp_path / "smaller"
    result = edit_dataset(
        datasets["converted"], smaller, FeatureEdit(remove={"observation.state", "observation.images.front"})
    )
    assert result.linked_videos == 0 and not (smaller / "videos").exists()
    info = json.loads((smaller / "meta/info.json").read_text())
    assert "observation.state" not in info["features"] and info["video_path"] is None
    assert "observation.state" not in json.loads((smaller / "meta/stats.json").read_text())
    contract = load_contract(smaller / "meta" / CONTRACT_META_FILE)
    # observation.ee_state needs the joint states live, so the contract still reads them, unrecorded.
    assert contract.feature("observation.state").record is False
    assert "observation.ee_state" in contract.keys and "observation.state" not in contract.keys
    loaded = load_with_lerobot(smaller)
    assert set(loaded.meta["features"]) >= {"observation.ee_state", "action", "ee_action"}


def test_cli_and_clear_errors(datasets, tmp_path):
    out = tmp_path / "cli"
    command = ["lerobot-ros", "dataset", "add-ee", str(datasets["joint"]), "--output", str(out)]
    command += ["--feature", "observation.ee_state=observation.state", "--urdf", str(SO101_URDF)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    frames = json.loads((datasets["joint"] / "meta/info.json").read_text())["total_frames"]
    assert f"2 episode(s), {frames} frames, 1 video file(s) linked" in done.stdout
    live = json.loads((datasets["live"] / "meta/stats.json").read_text())
    assert json.loads((out / "meta/stats.json").read_text())["observation.ee_state"] == live["observation.ee_state"]
    failed = subprocess.run(command, capture_output=True, text=True, check=False)
    assert failed.returncode == 1 and "not empty" in failed.stderr
    with pytest.raises(DatasetError, match="no feature\\(s\\) \\['gripper'\\]"):
        edit_dataset(datasets["joint"], tmp_path / "x", FeatureEdit(remove={"gripper"}))
    with pytest.raises(DatasetError, match="LeRobot's own columns"):
        edit_dataset(datasets["joint"], tmp_path / "y", FeatureEdit(rename={"timestamp": "t"}))
    with pytest.raises(DatasetError, match="share a name"):
        edit_dataset(datasets["joint"], tmp_path / "z", FeatureEdit(rename={"action": "observation.state"}))
    held = DatasetLock.acquire(datasets["joint"])  # as a recorder still writing it holds it
    with pytest.raises(DatasetLockedError, match="being written by another dataset writer"):
        edit_dataset(datasets["joint"], tmp_path / "v", FeatureEdit(remove={"observation.images.front"}))
    held.release()
    with pytest.raises(DatasetError, match="not a joint-position feature"):
        bad = {"e": {"ee": {"from": "observation.images.front", "urdf": str(SO101_URDF)}}}
        edit_dataset(datasets["joint"], tmp_path / "w", FeatureEdit(add_ee=bad))
