"""Teleop graph on emulated hardware (hardware:=sim): the follower tracks the scripted leader, joint and EE mode.

Real processes over real DDS: two servo-bus emulators on ptys, leader and follower drivers on the
real SDK, the teleop node, started from the `teleop` graph description.
"""

from __future__ import annotations

import time

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from lerobot_ros_bringup.graph import get_graph
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics
from lerobot_ros_drivers.description import urdf_path

ARM = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll"]
WORKSPACE = (np.array([0.0, -0.4, 0.0]), np.array([0.45, 0.4, 0.45]))  # teleop_node defaults


def stamp(msg) -> float:
    return msg.header.stamp.sec + msg.header.stamp.nanosec * 1e-9


def start(tmp_path, ros_graph, ros_probe, mode):
    arguments = {
        "hardware": "sim",
        "mode": mode,
        "follower_port": str(tmp_path / "follower"),
        "leader_port": str(tmp_path / "leader"),
        "leader_motion": "wave",
        "cameras": "",
    }
    ros_graph(get_graph("teleop"), arguments, topics=["/leader/joint_states", "/follower/joint_states"])
    leader = ros_probe.collect("/leader/joint_states", JointState)
    follower = ros_probe.collect("/follower/joint_states", JointState)
    ros_probe.wait_until(lambda: len(follower) > 400 and len(leader) > 400, 60, "teleop did not run")
    return leader, follower


def tracking_errors(leader, follower, measure, lag: float = 0.3) -> list[float]:
    """Per recent follower sample: the best match against leader samples of the preceding `lag` seconds."""
    leader_times = np.array([stamp(m) for m in leader])
    errors = []
    for msg in follower[-200:]:
        t = stamp(msg)
        window = [leader[i] for i in np.nonzero((leader_times <= t) & (leader_times >= t - lag))[0]]
        if window:
            errors.append(min(measure(m, msg) for m in window))
    return errors


def test_joint_mode_follower_tracks_the_leader(tmp_path, ros_graph, ros_probe):
    leader, follower = start(tmp_path, ros_graph, ros_probe, "joint")
    positions = np.array([m.position for m in follower[-200:]])
    assert np.ptp(positions[:, :5], axis=0).max() > 0.2, "the follower did not move"
    errors = tracking_errors(leader, follower, lambda a, b: np.abs(np.subtract(a.position, b.position)).max())
    assert len(errors) > 100
    assert np.median(errors) < 0.03, f"median tracking error {np.median(errors):.3f} rad"


@pytest.mark.slow
def test_ee_mode_follower_tool_tracks_the_leader_tool(tmp_path, ros_graph, ros_probe):
    leader, follower = start(tmp_path, ros_graph, ros_probe, "ee")
    kinematics = ArmKinematics(urdf_path("so101"), ARM)

    def tool_distance(lead, follow) -> float:
        target = np.clip(kinematics.forward(lead.position[:5])[:3, 3], *WORKSPACE)
        return float(np.linalg.norm(kinematics.forward(follow.position[:5])[:3, 3] - target))

    time.sleep(2.0)
    errors = tracking_errors(leader, follower, tool_distance)
    assert len(errors) > 100
    assert np.median(errors) < 0.02, f"median tool distance {np.median(errors):.3f} m"
    gripper = tracking_errors(leader, follower, lambda a, b: abs(a.position[5] - b.position[5]))
    assert np.median(gripper) < 0.03, "the gripper does not pass through"
