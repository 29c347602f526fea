"""End-effector kinematics and features: rotation vectors, FK/IK round trips on the SO-101 description,
bounded EE targets, unreachable targets, EE features in the contract."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from lerobot_ros_core.contract import EE_POSE_NAMES, ContractError, parse_contract
from lerobot_ros_core.features import converters
from lerobot_ros_core.kinematics.ee_features import DerivedFeatures, EndEffectorFeature
from lerobot_ros_core.kinematics.end_effector import (
    EndEffectorLimits,
    EndEffectorSolver,
    UnreachableTargetError,
    matrix_from_rotvec,
    pose_to_vector,
    rotvec_from_matrix,
    vector_to_pose,
)
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics

# The robot description is data of the drivers package; read as a file, not imported.
SO101_URDF = Path(__file__).resolve().parents[2] / "lerobot_ros_drivers/lerobot_ros_drivers/description/so101.urdf"
ARM = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll"]
JOINTS = [*ARM, "gripper"]


def contract_with_ee(**extra) -> dict:
    joint = {"type": "sensor_msgs/msg/JointState", "joints": JOINTS, "units": {"default": "deg", "gripper": "percent"}}
    features = {
        "observation.state": {"topic": "follower/joint_states", **joint},
        "action": {"topic": "leader/joint_states", **joint},
        "observation.ee_state": {"ee": {"from": "observation.state", "urdf": str(SO101_URDF)}},
    }
    features.update(extra)
    return {"fps": 30, "features": features}


@pytest.fixture(scope="module")
def solver() -> EndEffectorSolver:
    return EndEffectorSolver(ArmKinematics(SO101_URDF, ARM), EndEffectorLimits(max_step=0.05))


def test_rotation_vector_round_trip_including_zero_and_pi():
    rng = np.random.default_rng(1)
    vectors = [rng.normal(size=3) for _ in range(50)]
    vectors = [v / np.linalg.norm(v) * rng.uniform(0, np.pi) for v in vectors]
    vectors += [np.zeros(3), np.array([1e-9, 0, 0]), np.array([0, 0, np.pi]), np.array([np.pi, 0, 0]) * (1 - 1e-7)]
    for vector in vectors:
        rotation = matrix_from_rotvec(vector)
        np.testing.assert_allclose(rotation @ rotation.T, np.eye(3), atol=1e-12)
        back = rotvec_from_matrix(rotation)
        np.testing.assert_allclose(matrix_from_rotvec(back), rotation, atol=1e-9)
        if np.linalg.norm(vector) < np.pi - 1e-3:
            np.testing.assert_allclose(back, vector, atol=1e-9)
    pose = vector_to_pose([0.1, 0.2, 0.3, 0.4, -0.5, 0.6])
    np.testing.assert_allclose(pose_to_vector(pose), [0.1, 0.2, 0.3, 0.4, -0.5, 0.6], atol=1e-12)


def test_fk_ik_round_trip_on_the_robot_description(solver):
    rng = np.random.default_rng(0)
    lower, upper = solver.kinematics.lower, solver.kinematics.upper
    for _ in range(20):
        q = rng.uniform(lower * 0.6, upper * 0.6)
        target = solver.forward(q)
        result = solver.solve(target, seed=q + rng.normal(0, 0.03, size=5))
        assert result.error <= 1e-3
        reached = solver.forward(result.joints)
        np.testing.assert_allclose(reached[:3], target[:3], atol=1e-3)
        assert np.all(result.joints >= lower - 1e-6) and np.all(result.joints <= upper + 1e-6)


def test_targets_are_clipped_to_the_workspace_and_step_limited():
    # A 5-joint arm cannot hold the start orientation along the way: orientation counts little.
    kinematics = ArmKinematics(SO101_URDF, ARM, orientation_weight=0.001)
    limits = EndEffectorLimits(lower=(0.1, -0.2, 0.05), upper=(0.3, 0.2, 0.35), max_step=0.01)
    solver = EndEffectorSolver(kinematics, limits)
    seed = np.zeros(5)
    start = solver.forward(seed)  # x = 0.39 m: outside the box
    far = start.copy()
    far[:3] = [0.2, 0.1, 0.2]
    joints, solved = solver.solve_sequence(np.repeat(far[None], 40, axis=0), seed)
    previous = start[:3]
    for result in solved:
        assert np.linalg.norm(result.target[:3] - previous) <= 0.01 + 1e-12
        previous = result.target[:3]
    assert solved[0].step_limited and not solved[-1].step_limited
    np.testing.assert_allclose(solver.forward(joints[-1])[:3], [0.2, 0.1, 0.2], atol=limits.tolerance)
    outside = far.copy()
    outside[:3] = [0.9, 0.0, 0.2]
    clipped = solver.solve(outside, joints[-1], previous=np.concatenate([[0.3, 0.0, 0.2], far[3:]]))
    assert clipped.clipped
    np.testing.assert_allclose(clipped.target[:3], [0.3, 0.0, 0.2])


def test_a_sequence_over_a_commanded_path_takes_over_from_it_in_one_bounded_step(solver):
    """Wherever an executor splices the new solution into the commanded path, the tool moves at most
    one `max_step` there; where the targets are the path's own tool poses, IK gives the path back."""
    t = np.linspace(0.0, 1.0, 12)[:, None]
    path = np.array([0.3, -0.4, 0.5, 0.3, 0.4]) * t + np.array([0.0, 0.1, -0.1, 0.2, 0.0])
    tool = np.array([solver.forward(q) for q in path])
    again, _ = solver.solve_sequence(tool, path)
    np.testing.assert_allclose(again, path, atol=2e-3)  # radians: an RTC-guided chunk continues the joints too
    far = tool.copy()
    far[:, :3] += [0.0, 0.12, 0.0]  # a chunk that disagrees with the path by 12 cm
    joints, solved = solver.solve_sequence(far, path)
    for splice in range(1, len(path)):
        step = np.linalg.norm(solver.forward(joints[splice])[:3] - tool[splice - 1, :3])
        assert step <= solver.limits.max_step + solver.limits.tolerance, (splice, step)
        assert solved[splice].step_limited
    beyond, _ = solver.solve_sequence(np.repeat(far[-1:], 20, axis=0), path[:1])  # one row: chained from the arm
    reached = np.array([solver.forward(q)[:3] for q in [path[0], *beyond]])
    assert np.linalg.norm(np.diff(reached, axis=0), axis=1).max() <= solver.limits.max_step + solver.limits.tolerance
    np.testing.assert_allclose(reached[-1], far[-1, :3], atol=solver.limits.tolerance)


def test_unreachable_target_is_an_error_naming_it():
    solver = EndEffectorSolver(ArmKinematics(SO101_URDF, ARM), EndEffectorLimits(max_step=1.0))
    seed = np.zeros(5)
    target = solver.forward(seed)
    target[:3] = [0.0, 0.0, 0.02]  # inside the base: no joint configuration reaches it
    with pytest.raises(UnreachableTargetError, match=r"action 2 of 3: EE target \[0.0, 0.0, 0.02\] m .* out of reach"):
        solver.solve_sequence(np.stack([solver.forward(seed)] * 2 + [target]), seed)
    with pytest.raises(UnreachableTargetError, match="6 finite values"):
        solver.solve([np.nan] * 6, seed)


def test_contract_derived_ee_feature_and_its_values():
    contract = parse_contract(contract_with_ee())
    assert contract.keys == ("observation.state", "action", "observation.ee_state")
    assert contract.features()["observation.ee_state"] == {
        "dtype": "float32",
        "shape": [7],
        "names": [*EE_POSE_NAMES, "ee.gripper_pos"],
    }
    ee = contract.end_effector("observation.ee_state")
    assert ee.joints == tuple(ARM) and ee.gripper == "gripper" and ee.frame == "gripper_frame_link"
    msg = JointState(name=JOINTS, position=[0.1, -0.2, 0.3, 0.4, 0.5, 0.6])
    state = converters(contract)["observation.state"].convert(msg).astype(np.float32)
    values = DerivedFeatures(contract).compute({"observation.state": state})["observation.ee_state"]
    assert values.dtype == np.float32
    expected = pose_to_vector(ArmKinematics(SO101_URDF, ARM).forward(np.radians(state[:5].astype(np.float64))))
    np.testing.assert_allclose(values[:6], expected, atol=1e-6)
    assert values[6] == state[5]  # the gripper in the joint feature's unit (percent)
    feature = EndEffectorFeature.of(contract, "observation.ee_state")
    assert feature.gripper_to_ros(values[6]) == pytest.approx(0.6, abs=1e-5)


def test_contract_ee_stream_feature_renames_and_unrecorded_sources():
    contract = parse_contract(
        contract_with_ee(
            ee_action={
                "topic": "teleop/ee_action",
                "type": "sensor_msgs/msg/JointState",
                "ee": {"from": "action", "urdf": str(SO101_URDF)},
            }
        )
    )
    spec = contract.feature("ee_action")
    assert spec.selection == (*EE_POSE_NAMES, "ee.gripper_pos") and not spec.is_joint_positions
    assert [u.name for u in spec.units] == ["raw"] * 6 + ["percent"]
    swapped = contract.renamed({"action": "joint_action", "ee_action": "action"})
    assert swapped.end_effector("action").source == "joint_action"
    assert swapped.feature("joint_action").is_joint_positions
    kept_for_ee = contract.unrecorded({"observation.state"})
    assert "observation.state" not in kept_for_ee.keys
    assert kept_for_ee.feature("observation.state").record is False
    assert "observation.ee_state" in kept_for_ee.keys
    without = contract.without({"observation.state"}, check_required=False)
    assert "observation.ee_state" not in without.keys  # an EE feature goes with its joints
    assert parse_contract(swapped.to_yaml()).keys == swapped.keys


@pytest.mark.parametrize(
    ("ee", "match"),
    [
        ({"from": "observation.images", "urdf": str(SO101_URDF)}, "not a joint-position feature"),
        ({"from": "observation.state"}, "robot description .* is required"),
        ({"from": "observation.state", "urdf": "missing.urdf"}, "cannot read the robot description"),
        (
            {"from": "observation.state", "urdf": "package://no_such_robot_description/urdf/arm.urdf"},
            "package 'no_such_robot_description' is not installed in a sourced workspace",
        ),
        ({"from": "observation.state", "urdf": str(SO101_URDF), "frame": "tool0"}, "'tool0' is not a link"),
        ({"from": "observation.state", "urdf": str(SO101_URDF), "joints": ["elbow"]}, "must be joints of feature"),
        ({"from": "observation.state", "urdf": str(SO101_URDF), "mass": 1}, "unknown setting"),
    ],
)
def test_contract_ee_errors_name_the_setting(ee, match):
    with pytest.raises(ContractError, match=match):
        parse_contract(contract_with_ee(**{"observation.ee_state": {"ee": ee}}))


def test_contract_finds_the_robot_description_in_a_ros_package(tmp_path, monkeypatch):
    """`package://<package>/<path>` is looked up in the sourced workspaces' share directories, as ROS
    tools resolve robot descriptions; the stored contract keeps the URI, so it works on another machine."""
    share = tmp_path / "prefix/share"
    (share / "ament_index/resource_index/packages").mkdir(parents=True)
    (share / "ament_index/resource_index/packages/my_arm_description").write_text("")
    (share / "my_arm_description/urdf").mkdir(parents=True)
    (share / "my_arm_description/urdf/arm.urdf").write_text(SO101_URDF.read_text())
    monkeypatch.setenv("AMENT_PREFIX_PATH", f"{tmp_path / 'prefix'}:{os.environ.get('AMENT_PREFIX_PATH', '')}")
    uri = "package://my_arm_description/urdf/arm.urdf"
    contract = parse_contract(
        contract_with_ee(**{"observation.ee_state": {"ee": {"from": "observation.state", "urdf": uri}}})
    )
    ee = contract.end_effector("observation.ee_state")
    assert Path(ee.urdf) == (share / "my_arm_description/urdf/arm.urdf").resolve()
    assert f"urdf: {uri}" in contract.to_yaml()
    file_uri = {"from": "observation.state", "urdf": f"file://{SO101_URDF}"}
    by_file = parse_contract(contract_with_ee(**{"observation.ee_state": {"ee": file_uri}}))
    assert Path(by_file.end_effector("observation.ee_state").urdf) == SO101_URDF.resolve()


def test_orientation_turns_at_most_the_max_rotation_step(solver):
    seed = np.zeros(5)
    start = solver.forward(seed)
    turned = start.copy()
    turned[3:] = rotvec_from_matrix(matrix_from_rotvec(start[3:]) @ matrix_from_rotvec([0.0, 0.0, 1.0]))
    result = solver.solve(turned, seed)
    relative = matrix_from_rotvec(start[3:]).T @ matrix_from_rotvec(result.target[3:])
    assert np.linalg.norm(rotvec_from_matrix(relative)) == pytest.approx(solver.limits.max_rotation_step)
    assert result.step_limited
