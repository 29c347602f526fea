"""Helpers of the policy node tests and benchmarks: reference checkpoints, contracts, node specs."""

from __future__ import annotations

import itertools
import json
import os
import subprocess
from pathlib import Path

import numpy as np
import yaml

from lerobot_ros_bringup.graph import NodeSpec
from lerobot_ros_drivers.calibration.files import sim_calibration_path

WORKSPACE = Path(__file__).resolve().parents[3]
REFERENCE_PYTHON = WORKSPACE / ".venv-lerobot" / "bin" / "python"
MAKE_CHECKPOINT = Path(__file__).with_name("policy_node_make_checkpoint.py")
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
GRIPPER_RANGE = [-0.17453292519943295, 1.7453292519943295]


def make_checkpoint(
    out: Path,
    cameras: dict[str, tuple[int, int]],
    chunk_size: int = 30,
    action_dim: int = 6,
    action_std: float = 10.0,
    architecture: str = "small",
) -> Path:
    """A random-weight ACT checkpoint saved by LeRobot 0.4.4 itself (reference venv)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON", "VIRTUAL_ENV"))}
    env["HF_HUB_OFFLINE"] = "1"
    result = subprocess.run(
        [
            str(REFERENCE_PYTHON),
            str(MAKE_CHECKPOINT),
            str(out),
            json.dumps(cameras),
            str(chunk_size),
            "6",
            str(action_dim),
            str(action_std),
            architecture,
        ],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"making the reference checkpoint failed:\n{result.stdout}\n{result.stderr}")
    return out


def contract_dict(cameras: dict[str, tuple[int, int]], joints: list[str] = JOINTS, fps: int = 30) -> dict:
    """SO-101 contract: follower state and leader action in LeRobot units, rgb cameras resized to size."""
    units = {"default": "deg", "gripper": {"unit": "percent", "range": GRIPPER_RANGE}}
    features = {
        "observation.state": {
            "topic": "follower/joint_states",
            "type": "sensor_msgs/msg/JointState",
            "joints": JOINTS,
            "units": units,
        },
        "action": {
            "topic": "leader/joint_states",
            "type": "sensor_msgs/msg/JointState",
            "joints": joints,
            "units": units if "gripper" in joints else {"default": "deg"},
        },
    }
    for name, (height, width) in cameras.items():
        features[f"observation.images.{name}"] = {
            "topic": f"cameras/{name}/image_raw",
            "type": "sensor_msgs/msg/Image",
            "image": {"height": height, "width": width, "resize": True},
        }
    return {"version": 1, "fps": fps, "robot_type": "so101_follower", "task": "pick the cube", "features": features}


def write_contract(path: Path, contract: dict) -> Path:
    path.write_text(yaml.safe_dump(contract, sort_keys=False))
    return path


def policy_executable() -> Path:
    return WORKSPACE / "install" / "lerobot_ros_policy" / "lib" / "lerobot_ros_policy" / "policy_node"


def sim_rollout_specs(
    link: Path, checkpoint: Path, contract: Path, follower_parameters: dict | None = None, **policy_parameters
) -> list[NodeSpec]:
    """Emulated follower bus + follower + a 128×96 simulated camera + the policy node."""
    calibration = str(sim_calibration_path("follower"))
    return [
        NodeSpec(
            "lerobot_ros_drivers",
            "servo_bus_emulator_node",
            "follower_bus",
            parameters=[{"link": str(link), "calibration_file": calibration}],
        ),
        NodeSpec(
            "lerobot_ros_drivers",
            "follower_node",
            "follower",
            namespace="follower",
            parameters=[{"port": str(link), "calibration_file": calibration, **(follower_parameters or {})}],
        ),
        NodeSpec(
            "lerobot_ros_drivers",
            "sim_camera_node",
            "sim_camera_front",
            parameters=[{"name": "front", "width": 128, "height": 96, "fps": 30.0}],
        ),
        NodeSpec(
            "lerobot_ros_policy",
            "policy_node",
            "policy_node",
            parameters=[{"checkpoint": str(checkpoint), "contract": str(contract), **policy_parameters}],
        ),
    ]


def stamp_ns(stamp) -> int:
    return stamp.sec * 10**9 + stamp.nanosec


def boundary_points(trajectories) -> list[tuple[np.ndarray, np.ndarray]]:
    """Per replacement of a running chunk trajectory: (where the old one was at the new start, the new
    first point), joint positions.

    Holds (one-point trajectories) and the chunk after them (nothing to continue) are left out.
    """
    pairs = []
    for old, new in itertools.pairwise(trajectories):
        if len(old.points) < 2 or len(new.points) < 2:
            continue
        start = stamp_ns(new.header.stamp)
        times = stamp_ns(old.header.stamp) + np.array([stamp_ns(p.time_from_start) for p in old.points])
        if not times[0] <= start <= times[-1]:
            continue  # the old plan had run out: not a splice
        positions = np.array([p.positions for p in old.points])
        heading = np.array([np.interp(start, times, positions[:, j]) for j in range(positions.shape[1])])
        pairs.append((heading, np.array(new.points[0].positions)))
    return pairs


def boundary_jumps(trajectories) -> list[float]:
    """Per chunk boundary (`boundary_points`): max |new first point − old one at that time| (rad)."""
    return [float(np.abs(first - heading).max()) for heading, first in boundary_points(trajectories)]
