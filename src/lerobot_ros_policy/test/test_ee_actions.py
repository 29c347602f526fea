"""EE-space checkpoints: EE chunks → joints by seeded IK within workspace bounds and a max EE step,
unreachable targets → hold without a jump, EE observations built as the recorder builds them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from lerobot_ros_core.contract import parse_contract
from lerobot_ros_core.features import converters
from lerobot_ros_core.kinematics.ee_features import DerivedFeatures, EndEffectorFeature
from lerobot_ros_core.kinematics.end_effector import EndEffectorLimits, UnreachableTargetError
from lerobot_ros_core.node.stamps import time_from_nanoseconds
from lerobot_ros_policy.checkpoint import FeatureMismatchError, FeatureType, PolicyFeature
from lerobot_ros_policy.execution import ChunkExecutor, ExecutionConfig
from lerobot_ros_policy.execution.ee_actions import EndEffectorActions
from lerobot_ros_policy.execution.observation import ObservationAssembler, match_checkpoint

SO101_URDF = Path(__file__).resolve().parents[2] / "lerobot_ros_drivers/lerobot_ros_drivers/description/so101.urdf"
JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]
UNITS = {"default": "deg", "gripper": "percent"}


def ee_contract() -> dict:
    joint = {"type": "sensor_msgs/msg/JointState", "joints": JOINTS, "units": UNITS}
    return {
        "fps": 30,
        "features": {
            "observation.state": {"topic": "follower/joint_states", **joint},
            "joint_action": {"topic": "leader/joint_states", **joint},
            "observation.ee_state": {"ee": {"from": "observation.state", "urdf": str(SO101_URDF)}},
            "action": {"ee": {"from": "joint_action", "urdf": str(SO101_URDF)}},
        },
    }


@pytest.fixture(scope="module")
def contract():
    return parse_contract(ee_contract())


def ee_chunk(contract, joint_rows: np.ndarray) -> np.ndarray:
    """EE actions (dataset units) of joint positions in radians, as a dataset of that motion stores them."""
    feature = EndEffectorFeature.of(contract, "action")
    unit = converters(contract)["joint_action"]
    rows = []
    for q in joint_rows:
        values = unit.convert(JointState(name=JOINTS, position=list(q))).astype(np.float32)
        rows.append(feature.compute(values))
    return np.array(rows)


def test_ee_chunk_round_trips_to_the_joints_it_came_from(contract):
    actions = EndEffectorActions.from_contract(contract, EndEffectorLimits(max_step=0.05))
    assert actions.joints == tuple(JOINTS) and actions.dim == 7
    t = np.linspace(0, 1, 20)[:, None]
    path = np.array([0.1, -0.3, 0.4, 0.2, 0.1, 0.5]) * t + np.array([0.0, 0.1, -0.1, 0.3, 0.0, 0.2])
    joints = actions.to_ros(ee_chunk(contract, path), commanded=path[0])
    reached = np.array([actions.solver.forward(q[:5]) for q in joints])
    target = ee_chunk(contract, path)[:, :6]
    np.testing.assert_allclose(reached[:, :3], target[:, :3], atol=2e-3)
    np.testing.assert_allclose(joints[:, 5], path[:, 5], atol=1e-4)  # gripper percent → radians
    assert actions.counters.actions == 20 and actions.counters.step_limited == 0


def test_rtc_prefix_of_an_ee_checkpoint_is_the_queued_tool_path_in_ee_units(contract):
    """RTC guides an EE checkpoint with the EE actions the queued joints execute (FK of the IK solution)."""
    from lerobot_ros_policy.execution import RtcConfig

    actions = EndEffectorActions.from_contract(contract, EndEffectorLimits(max_step=0.05))
    t = np.linspace(0, 1, 20)[:, None]
    path = np.array([0.1, -0.3, 0.4, 0.2, 0.1, 0.5]) * t + np.array([0.0, 0.1, -0.1, 0.3, 0.0, 0.2])
    chunk = ee_chunk(contract, path)
    queued = actions.to_ros(chunk, commanded=path[0])
    guidance = RtcConfig(execution_horizon=10).guidance(queued[5:], 3, 50, actions.to_dataset)
    assert guidance.prefix.shape == (15, 7) and guidance.delay == 3
    np.testing.assert_allclose(guidance.prefix[:, :3], chunk[5:, :3], atol=2e-3)  # metres: within the IK miss
    np.testing.assert_allclose(guidance.prefix[:, 3:6], chunk[5:, 3:6], atol=0.05)  # rotation vector
    np.testing.assert_allclose(guidance.prefix[:, 6], chunk[5:, 6], atol=1e-4)  # gripper, dataset unit
    with pytest.raises(ValueError, match="EE action's joints"):
        actions.to_dataset(queued[:, :5])


def test_ee_chunk_is_bounded_per_step_and_clipped_to_the_workspace(contract):
    # The clipped goal's orientation does not fit its position (5 arm joints): IK misses it by centimetres.
    limits = EndEffectorLimits(lower=(0.1, -0.3, 0.05), upper=(0.4, 0.3, 0.4), max_step=0.01, tolerance=0.05)
    actions = EndEffectorActions.from_contract(contract, limits, orientation_weight=0.001)
    seed = np.array([0.0, 0.0, 0.0, 0.0, 0.0, 0.3])
    goal = ee_chunk(contract, np.array([[0.0, 0.3, -0.2, 0.4, 0.0, 0.3]]))[0]
    goal[0] += 1.0  # 1 m further out: clipped to x = 0.4
    joints = actions.to_ros(np.repeat(goal[None], 30, axis=0), commanded=seed)
    tool = np.array([actions.solver.forward(q[:5])[:3] for q in [seed, *joints]])
    steps = np.linalg.norm(np.diff(tool, axis=0), axis=1)
    miss = actions.counters.max_error_m
    assert steps.max() <= limits.max_step + 2 * miss + 1e-9, (steps.max(), miss)
    assert np.all(tool[1:] <= np.array(limits.upper) + miss + 1e-9)
    assert actions.counters.clipped == 30 and actions.counters.step_limited > 0


def test_unreachable_target_rejects_the_chunk_and_the_executor_holds_without_a_jump(contract):
    actions = EndEffectorActions.from_contract(contract, EndEffectorLimits(max_step=1.0, tolerance=0.005))
    executor = ChunkExecutor(ExecutionConfig(fps=30.0), actions.joints, origin_ns=0)
    dt = executor.dt_ns
    path = np.linspace([0.0, 0.0, 0.0, 0.0, 0.0, 0.3], [0.2, -0.2, 0.2, 0.1, 0.0, 0.3], 30)
    request = executor.make_request(0)
    planned = executor.accept_chunk(request, actions.to_ros(ee_chunk(contract, path), commanded=path[0]), 0.01, dt // 2)
    assert planned.trajectory.positions.shape == (29, 6)
    bad = ee_chunk(contract, path)
    bad[10, :3] = [0.0, 0.0, 0.01]  # inside the robot's base
    request = executor.make_request(2 * dt + 1)  # two steps later, the next inference
    executor.tick(2 * dt + 1)
    heading = executor.queue.action_at(3).copy()
    with pytest.raises(UnreachableTargetError, match=r"action 10 of 30: EE target .* out of reach") as error:
        actions.to_ros(bad, commanded=executor.queue.action_at(request.step))
    hold = executor.hold(f"inference failed: {error.value}", 2 * dt + 2)
    np.testing.assert_array_equal(hold.trajectory.positions[0], heading)
    assert executor.state == "holding" and "out of reach" in executor.message
    diagnostics = actions.counters.as_diagnostics()
    assert diagnostics["ee_unreachable_chunks"] == 1 and "action 10 of 30" in diagnostics["ee_last_unreachable"]
    with pytest.raises(UnreachableTargetError, match="no joint positions to seed IK"):
        actions.to_ros(bad, commanded=None)


def test_checkpoint_with_ee_actions_and_ee_observations_matches_the_contract(contract):
    inputs = {
        "observation.state": PolicyFeature(FeatureType.STATE, (6,)),
        "observation.ee_state": PolicyFeature(FeatureType.STATE, (7,)),
    }
    columns = match_checkpoint(contract, inputs, PolicyFeature(FeatureType.ACTION, (7,)))
    assert isinstance(columns, EndEffectorActions)
    with pytest.raises(FeatureMismatchError, match="checkpoint has 6 columns, the contract's action feature 7"):
        match_checkpoint(contract, inputs, PolicyFeature(FeatureType.ACTION, (6,)))
    assembler = ObservationAssembler(contract, ["observation.ee_state"])
    assert assembler.topics == {"observation.state": "follower/joint_states"}  # subscribed for the EE feature
    msg = JointState(name=JOINTS, position=[0.1, -0.2, 0.3, 0.4, 0.5, 0.6])
    msg.header.stamp = time_from_nanoseconds(10**9)
    assembler.update("observation.state", msg, 10**9)
    observation = assembler.assemble(10**9, 0.5)
    recorded = converters(contract)["observation.state"].convert(msg).astype(np.float32)
    expected = DerivedFeatures(contract, ["observation.ee_state"]).compute({"observation.state": recorded})
    assert list(observation) == ["observation.ee_state"]
    np.testing.assert_array_equal(observation["observation.ee_state"], expected["observation.ee_state"])
