"""Robot descriptions: the SO-101 reproduces the golden forward kinematics; IK round trips; SO-100 is consistent."""

from __future__ import annotations

import json
import xml.etree.ElementTree as ET

import numpy as np
import pytest

from lerobot_ros_core.description import resolve_description_path
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics, strip_geometry
from lerobot_ros_drivers.description import urdf_path, urdf_text

ARM = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll"]
ALL = [*ARM, "gripper"]


def rotation_angle(a: np.ndarray, b: np.ndarray) -> float:
    """Angle of the rotation between two rotation matrices (robust near zero)."""
    r = a.T @ b
    skew = np.array([r[2, 1] - r[1, 2], r[0, 2] - r[2, 0], r[1, 0] - r[0, 1]]) / 2
    return float(np.arctan2(np.linalg.norm(skew), (np.trace(r) - 1) / 2))


def test_so101_reproduces_golden_forward_kinematics(test_data):
    golden = json.loads((test_data / "so101_fk_golden.json").read_text())
    assert golden["joint_order"] == ARM
    kinematics = ArmKinematics(urdf_path("so101"), ARM)
    assert len(golden["samples"]) == 41
    for sample in golden["samples"]:
        q = [sample["q_rad"][n] for n in ARM]
        pose = kinematics.forward(q)
        expected = np.array(sample["T_base_gripper_frame"])
        np.testing.assert_allclose(pose[:3, 3], expected[:3, 3], atol=1e-4, err_msg=f"q={q}")
        assert rotation_angle(pose[:3, :3], expected[:3, :3]) <= 1e-3, f"q={q}"


@pytest.mark.parametrize("robot", ["so101", "so100"])
def test_description_has_driver_joints_and_tool_frame(robot):
    root = ET.fromstring(urdf_text(robot))
    joints = {j.get("name"): j for j in root.iter("joint")}
    movable = [n for n, j in joints.items() if j.get("type") == "revolute"]
    assert sorted(movable) == sorted(ALL)
    assert {link.get("name") for link in root.iter("link")} >= {"base_link", "gripper_frame_link"}
    for name in ARM:
        limit = joints[name].find("limit")
        lower, upper = float(limit.get("lower")), float(limit.get("upper"))
        # so101_new_calib convention: zero is the middle of the range.
        assert lower == pytest.approx(-upper, abs=0.1), name
    gripper = joints["gripper"].find("limit")
    assert (float(gripper.get("lower")), float(gripper.get("upper"))) == (-0.174533, 1.74533)


@pytest.mark.parametrize("robot", ["so100", "so101"])
def test_installed_description_is_found_by_its_package_uri(robot, tmp_path):
    """Contracts and `dataset add-ee --urdf` can name package://lerobot_ros_drivers/description/<robot>.urdf."""
    path = resolve_description_path(f"package://lerobot_ros_drivers/description/{robot}.urdf", tmp_path)
    assert path.read_text(encoding="utf-8") == urdf_text(robot)


def test_geometry_is_stripped_for_kinematics():
    stripped = strip_geometry(urdf_text("so101"))
    assert "<visual" not in stripped and "<collision" not in stripped
    assert stripped.count("<joint ") == urdf_text("so101").count("<joint ")


@pytest.mark.parametrize("robot", ["so101", "so100"])
def test_inverse_kinematics_round_trip(robot):
    kinematics = ArmKinematics(urdf_path(robot), ARM)
    rng = np.random.default_rng(0)
    for _ in range(10):
        q = rng.uniform(kinematics.lower * 0.6, kinematics.upper * 0.6)
        target = kinematics.forward(q)
        solution = kinematics.inverse(target, seed=q + rng.normal(0, 0.05, size=5))
        reached = kinematics.forward(solution)
        np.testing.assert_allclose(reached[:3, 3], target[:3, 3], atol=2e-3)
        assert np.all(solution >= kinematics.lower - 1e-6) and np.all(solution <= kinematics.upper + 1e-6)


def test_so100_zero_pose_matches_the_so101_middle_pose():
    """Both descriptions share the driver's convention: same pose family at zero, same turning senses."""
    so101 = ArmKinematics(urdf_path("so101"), ARM)
    so100 = ArmKinematics(urdf_path("so100"), ARM)
    for q in ([0, 0, 0, 0, 0], [0.5, 0, 0, 0, 0], [0, 0.5, 0, 0, 0], [0, 0, 0.5, 0, 0], [0, 0, 0, 0.5, 0]):
        a, b = so101.forward(q)[:3, 3], so100.forward(q)[:3, 3]
        assert np.linalg.norm(a - b) < 0.06, (q, a, b)


def test_unknown_joint_or_frame_is_a_clear_error():
    with pytest.raises(ValueError, match="not in the robot description"):
        ArmKinematics(urdf_path("so101"), ["shoulder_pan", "elbow"])
    with pytest.raises(ValueError, match="frame 'tool0'"):
        ArmKinematics(urdf_path("so101"), ARM, frame="tool0")
    with pytest.raises(ValueError, match="unknown robot 'koch'"):
        urdf_path("koch")
