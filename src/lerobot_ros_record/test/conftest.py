"""Fixtures of lerobot_ros_record's recorder/bag tests: synthetic messages, bags written with rosbags."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from geometry_msgs.msg import WrenchStamped
from rclpy.serialization import serialize_message
from rosbags.rosbag2 import StoragePlugin, Writer
from sensor_msgs.msg import Image, JointState

from lerobot_ros_core.node.stamps import time_from_nanoseconds
from lerobot_ros_record.bag import typestore
from lerobot_ros_record.bag.reader import deserialize_lenient

PACKAGE = Path(__file__).resolve().parents[1]
CONTRACTS = PACKAGE / "config" / "contracts"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
TYPES = {
    JointState: "sensor_msgs/msg/JointState",
    Image: "sensor_msgs/msg/Image",
    WrenchStamped: "geometry_msgs/msg/WrenchStamped",
}

SMALL_CONTRACT = """
version: 1
fps: 30
robot_type: so101_follower
task: {default: "default task", topic: task}
features:
  observation.state:
    topic: follower/joint_states
    type: sensor_msgs/msg/JointState
    joints: [shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper]
    units: {default: deg, gripper: percent}
  action:
    topic: leader/joint_states
    type: sensor_msgs/msg/JointState
    joints: [shoulder_pan, shoulder_lift, elbow_flex, wrist_flex, wrist_roll, gripper]
    units: {default: deg, gripper: percent}
  observation.images.front:
    topic: cameras/front/image_raw
    type: sensor_msgs/msg/Image
    image: {height: 48, width: 64}
  observation.force:
    topic: force/wrench
    type: geometry_msgs/msg/WrenchStamped
    required: false
"""


def joint_state(stamp_ns: int, k: int, phase: float = 0.0) -> JointState:
    msg = JointState(name=list(JOINTS), position=[0.3 * np.sin(k / 20 + i + phase) for i in range(6)])
    msg.header.stamp = time_from_nanoseconds(stamp_ns)
    return msg


def camera_image(stamp_ns: int, k: int, height: int = 48, width: int = 64, encoding: str = "rgb8") -> Image:
    pixels = np.zeros((height, width, 3), dtype=np.uint8)
    pixels[..., 0] = (k * 8) % 256
    pixels[:, (2 * k) % width, :] = 255
    msg = Image(height=height, width=width, encoding=encoding, step=width * 3)
    msg.data = pixels.tobytes()
    msg.header.stamp = time_from_nanoseconds(stamp_ns)
    return msg


def wrench(stamp_ns: int, k: int) -> WrenchStamped:
    msg = WrenchStamped()
    msg.header.stamp = time_from_nanoseconds(stamp_ns)
    msg.wrench.force.z = float(k)
    return msg


def synthetic_stream(start_ns: int, seconds: float, with_wrench: bool = False) -> list[tuple[str, int, Any]]:
    """(topic, stamp, message) of an SO-101 setup: joints at 100 Hz, one camera at 30 Hz, wrench at 100 Hz."""
    records = []
    for k in range(int(seconds * 100)):
        stamp = start_ns + k * 10_000_000
        records.append(("/follower/joint_states", stamp, joint_state(stamp, k)))
        records.append(("/leader/joint_states", stamp + 2_000_000, joint_state(stamp + 2_000_000, k, 0.5)))
        if with_wrench:
            records.append(("/force/wrench", stamp + 1_000_000, wrench(stamp + 1_000_000, k)))
    for k in range(int(seconds * 30)):
        stamp = start_ns + k * 33_333_333 + 5_000_000
        records.append(("/cameras/front/image_raw", stamp, camera_image(stamp, k)))
    return sorted(records, key=lambda r: r[1])


def write_bag(
    path: Path,
    records: Iterable[tuple[str, int, Any]],
    storage: str = "mcap",
    custom_data: dict[str, str] | None = None,
    types: dict[str, str] | None = None,
) -> Path:
    """Write (topic, log time, rclpy message or CDR bytes) records as a rosbag2 bag."""
    plugin = StoragePlugin.MCAP if storage == "mcap" else StoragePlugin.SQLITE3
    store = typestore()
    connections: dict[str, Any] = {}
    with Writer(path, version=9, storage_plugin=plugin) as writer:
        for key, value in (custom_data or {}).items():
            writer.set_custom_data(key, value)
        for topic, log_time, msg in records:
            if topic not in connections:
                msgtype = (types or {}).get(topic) or _type_name(msg)
                connections[topic] = writer.add_connection(topic, msgtype, typestore=store)
            if isinstance(msg, bytes):  # raw CDR, written as given (damaged messages)
                writer.write(connections[topic], log_time, msg)
            else:
                cdr = exact_cdr(store, serialize_message(msg), connections[topic].msgtype)
                writer.write(connections[topic], log_time, cdr)
    return path


def exact_cdr(store: Any, data: bytes, msgtype: str) -> bytes:
    """CDR without the trailing bytes rclpy's serializer may append (rosbags rejects those)."""
    return bytes(store.serialize_cdr(deserialize_lenient(store, data, msgtype), msgtype))


def _type_name(msg: Any) -> str:
    module = type(msg).__module__.split(".")[0]
    return f"{module}/msg/{type(msg).__name__}"


@pytest.fixture
def small_contract_path(tmp_path: Path) -> Path:
    path = tmp_path / "contract.yaml"
    path.write_text(SMALL_CONTRACT)
    return path


LOAD_DATASET = """
import json, sys
from lerobot.datasets.lerobot_dataset import LeRobotDataset
root = sys.argv[1]
ds = LeRobotDataset("local/test", root=root, video_backend="pyav")
out = {"episodes": ds.meta.total_episodes, "frames": ds.meta.total_frames, "lengths": [], "samples": []}
for ep in range(ds.meta.total_episodes):
    out["lengths"].append(int(ds.meta.episodes[ep]["length"]))
for i in range(len(ds)):
    item = ds[i]
    sample = {"episode_index": int(item["episode_index"]), "frame_index": int(item["frame_index"]),
              "task": item["task"], "timestamp": float(item["timestamp"])}
    for key in ds.meta.features:
        if key.startswith("observation.images."):
            sample[key] = float(item[key].float().mean())
        elif ds.meta.features[key]["dtype"] == "float32":
            sample[key] = item[key].tolist()
    out["samples"].append(sample)
print(json.dumps(out))
"""


@pytest.fixture
def load_with_lerobot(run_reference):
    """Load a dataset with LeRobot 0.4.4; returns episodes, frames, lengths and per-frame samples."""
    import json

    def load(root: Path) -> dict:
        result = run_reference(LOAD_DATASET, str(root), timeout=600)
        return json.loads(result.stdout.strip().splitlines()[-1])

    return load


@pytest.fixture
def tools() -> SimpleNamespace:
    """Message and bag helpers (test modules cannot import conftest under import-mode=importlib)."""
    return SimpleNamespace(
        JOINTS=JOINTS,
        CONTRACTS=CONTRACTS,
        SMALL_CONTRACT=SMALL_CONTRACT,
        joint_state=joint_state,
        camera_image=camera_image,
        wrench=wrench,
        synthetic_stream=synthetic_stream,
        write_bag=write_bag,
    )
