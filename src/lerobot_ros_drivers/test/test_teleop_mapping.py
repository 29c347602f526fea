"""Teleop mappings: joint pick by name, EE mode bounds and step limit, IK follows the leader."""

from __future__ import annotations

import numpy as np
import pytest

from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics
from lerobot_ros_drivers.description import urdf_path
from lerobot_ros_drivers.teleop.mapping import EndEffectorTeleop, MappingError, Workspace, pick

ARM = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll"]


def test_pick_by_name_and_missing_joint_error():
    state = {"b": 2.0, "a": 1.0}
    np.testing.assert_allclose(pick(state, ["a", "b"]), [1.0, 2.0])
    with pytest.raises(MappingError, match="no joint\\(s\\) 'gripper'"):
        pick(state, ["a", "gripper"])


def make_teleop(lower=(-1, -1, -1), upper=(1, 1, 1), max_step=0.01):
    kinematics = ArmKinematics(urdf_path("so101"), ARM)
    return EndEffectorTeleop(kinematics, kinematics, Workspace(np.array(lower), np.array(upper)), max_step), kinematics


def test_ee_target_is_clipped_to_the_workspace():
    teleop, _ = make_teleop(lower=(0.1, -0.1, 0.05), upper=(0.3, 0.1, 0.3), max_step=10.0)
    pose = teleop.target_pose(np.zeros(5))  # leader tool at x=0.39 m: outside the box
    np.testing.assert_allclose(pose[:3, 3], [0.3, 0.0, 0.2264697], atol=1e-4)


def test_ee_step_is_limited_and_follower_converges():
    teleop, kinematics = make_teleop(max_step=0.01)
    leader = np.array([0.4, 0.3, -0.3, 0.2, 0.0])
    follower = np.zeros(5)
    goal = kinematics.forward(leader)[:3, 3]
    previous = kinematics.forward(follower)[:3, 3]
    for _ in range(100):
        follower = teleop.follower_joints(leader, follower)
        target = teleop._last_position
        assert np.linalg.norm(target - previous) <= 0.01 + 1e-9
        previous = target
    np.testing.assert_allclose(kinematics.forward(follower)[:3, 3], goal, atol=2e-3)


def test_invalid_configuration_rejected():
    with pytest.raises(ValueError, match="exceeds upper bound"):
        Workspace(np.array([1.0, 0, 0]), np.array([0.0, 1, 1]))
    with pytest.raises(ValueError, match="max EE step must be positive"):
        make_teleop(max_step=0.0)
