"""Control core: safety limiter, watchdog, tolerances and goal outcomes, preemption, streaming commands."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lerobot_ros_drivers.arm.controller import ArmController, ControllerConfig, Mode
from lerobot_ros_drivers.arm.safety import SafetyLimiter, Watchdog
from lerobot_ros_drivers.arm.tolerances import GoalState, JointTolerance, Tolerances
from lerobot_ros_drivers.arm.trajectory import (
    GOAL_TOLERANCE_VIOLATED,
    INVALID_JOINTS,
    PATH_TOLERANCE_VIOLATED,
    SUCCESSFUL,
    PointCommand,
    TrajectoryCommand,
    TrajectoryError,
)

JOINTS = ("a", "b")


def make_controller(max_step=10.0, timeout=0.5, **kwargs) -> ArmController:
    config = ControllerConfig(
        joint_names=JOINTS,
        lower_limits=np.array([-1.0, -2.0]),
        upper_limits=np.array([1.0, 2.0]),
        max_step=max_step,
        command_timeout=timeout,
        **kwargs,
    )
    return ArmController(config, measured=np.zeros(2), now=0.0)


def trajectory(*points, start=0.0, names=JOINTS):
    return TrajectoryCommand(names, [PointCommand(t, p) for t, p in points], start)


def test_limiter_clamps_to_joint_limits_and_max_step():
    limiter = SafetyLimiter(np.array([-1.0, -1.0]), np.array([1.0, 1.0]), max_step=0.1)
    result = limiter.limit(np.array([5.0, 0.05]), measured=np.array([0.95, 0.0]))
    np.testing.assert_allclose(result.positions, [1.0, 0.05])
    assert result.clamped_to_limits.tolist() == [True, False]
    result = limiter.limit(np.array([-5.0, 0.5]), measured=np.array([0.0, 0.0]))
    np.testing.assert_allclose(result.positions, [-0.1, 0.1])
    assert result.step_limited.tolist() == [True, True]


def test_limiter_never_outputs_non_finite_targets():
    limiter = SafetyLimiter(np.array([-1.0, -1.0]), np.array([1.0, 1.0]), max_step=0.1)
    result = limiter.limit(np.array([math.nan, math.inf]), measured=np.array([0.3, -0.2]))
    np.testing.assert_allclose(result.positions, [0.3, -0.2])


def test_limiter_rejects_bad_configuration():
    with pytest.raises(ValueError, match="invalid joint limits"):
        SafetyLimiter(np.array([1.0]), np.array([-1.0]), 0.1)
    with pytest.raises(ValueError, match="max_step must be positive"):
        SafetyLimiter(np.array([-1.0]), np.array([1.0]), 0.0)


def test_watchdog_expires_after_timeout():
    dog = Watchdog(0.2)
    assert not dog.expired(100.0)  # never fed: not armed
    dog.feed(1.0)
    assert not dog.expired(1.2)
    assert dog.expired(1.21)


def test_trajectory_reaches_goal_and_succeeds():
    ctl = make_controller()
    token = object()
    ctl.submit_trajectory(trajectory((1.0, [0.5, -0.5])), now=0.0, token=token)
    measured = np.zeros(2)
    outcome = None
    for k in range(1, 200):
        out = ctl.update(k * 0.01, measured)
        measured = out.command  # an ideal servo
        if out.finished_goal:
            outcome = out.finished_goal
            break
    assert outcome is not None
    assert outcome[0] is token
    assert outcome[1].state is GoalState.SUCCEEDED and outcome[1].code == SUCCESSFUL
    np.testing.assert_allclose(measured, [0.5, -0.5])


def test_commands_respect_limits_whatever_the_trajectory_says():
    ctl = make_controller(max_step=0.05)
    ctl.submit_trajectory(trajectory((0.1, [50.0, -50.0])), now=0.0)
    measured = np.zeros(2)
    for k in range(1, 300):
        out = ctl.update(k * 0.01, measured)
        assert np.all(np.abs(out.command - measured) <= 0.05 + 1e-12)
        assert np.all(out.command >= [-1.0, -2.0]) and np.all(out.command <= [1.0, 2.0])
        measured = out.command
    np.testing.assert_allclose(measured, [1.0, -2.0])


def test_goal_tolerance_violation_aborts_after_goal_time_and_holds():
    ctl = make_controller(goal_time_tolerance=0.2)
    token = object()
    ctl.submit_trajectory(trajectory((0.5, [0.8, 0.0])), now=0.0, token=token)
    stuck = np.array([0.3, 0.0])  # a joint blocked at 0.3 rad
    outcome = None
    t = 0.0
    while outcome is None and t < 2.0:
        t += 0.01
        out = ctl.update(t, stuck)
        outcome = out.finished_goal
    assert outcome is not None
    status = outcome[1]
    assert status.code == GOAL_TOLERANCE_VIOLATED
    assert "'a' position error 0.5000" in status.message
    assert 0.7 <= t <= 0.75
    assert ctl.mode is Mode.HOLD
    np.testing.assert_allclose(ctl.update(t + 0.01, stuck).desired.positions, stuck)


def test_path_tolerance_violation_aborts_during_motion():
    ctl = make_controller()
    tolerances = Tolerances.uniform(2, JointTolerance(position=0.1), JointTolerance(position=0.01), 1.0)
    token = object()
    ctl.submit_trajectory(trajectory((1.0, [1.0, 0.0])), now=0.0, token=token, tolerances=tolerances)
    outcome = None
    t = 0.0
    while outcome is None and t < 2.0:
        t += 0.01
        outcome = ctl.update(t, np.zeros(2)).finished_goal
    assert outcome[1].code == PATH_TOLERANCE_VIOLATED
    assert "path tolerance violated: 'a' position error" in outcome[1].message
    assert t < 1.0


def test_goal_tolerances_override_defaults_by_name():
    defaults = Tolerances.uniform(2, JointTolerance(), JointTolerance(position=0.05), 1.0)
    merged = defaults.override(JOINTS, path={"b": (0.2, 0.0)}, goal={"a": (-1.0, 0.3)}, goal_time=0.0)
    assert merged.path == (JointTolerance(), JointTolerance(position=0.2))
    assert merged.goal == (JointTolerance(position=-1.0, velocity=0.3), JointTolerance(position=0.05))
    assert merged.goal_time == 1.0
    with pytest.raises(TrajectoryError, match="unknown joint 'z'"):
        defaults.override(JOINTS, path={"z": (0.1, 0.0)}, goal={}, goal_time=0.0)


def test_new_trajectory_preempts_the_goal_in_progress():
    ctl = make_controller()
    first, second = object(), object()
    assert ctl.submit_trajectory(trajectory((1.0, [0.5, 0.5])), now=0.0, token=first) is None
    assert ctl.submit_trajectory(trajectory((1.0, [0.0, 0.0])), now=0.5, token=second) is first
    assert ctl.submit_trajectory(trajectory((1.0, [0.1, 0.0])), now=0.6) is second  # topic trajectory
    assert ctl.goal is None


def test_rejected_trajectory_leaves_motion_unchanged():
    ctl = make_controller()
    token = object()
    ctl.submit_trajectory(trajectory((1.0, [0.5, 0.5])), now=0.0, token=token)
    with pytest.raises(TrajectoryError) as error:
        ctl.submit_trajectory(trajectory((1.0, [math.nan, 0.0])), now=0.5)
    assert "'a' is nan" in str(error.value)
    assert ctl.goal.token is token
    np.testing.assert_allclose(ctl.update(0.5, np.zeros(2)).desired.positions, [0.25, 0.25])


def test_cancel_holds_at_the_measured_position():
    ctl = make_controller()
    token = object()
    ctl.submit_trajectory(trajectory((1.0, [0.8, 0.0])), now=0.0, token=token)
    ctl.update(0.5, np.array([0.35, 0.0]))
    assert ctl.cancel(token, now=0.5)
    np.testing.assert_allclose(ctl.update(0.6, np.array([0.35, 0.0])).desired.positions, [0.35, 0.0])


def test_streamed_positions_by_name_and_watchdog_hold():
    ctl = make_controller(max_step=0.1, timeout=0.3)
    ctl.submit_positions(["b"], [1.0], now=0.0)
    out = ctl.update(0.01, np.zeros(2))
    np.testing.assert_allclose(out.desired.positions, [0.0, 1.0])
    np.testing.assert_allclose(out.command, [0.0, 0.1])  # step-limited from the measured position
    assert out.mode is Mode.STREAM
    # The stream stops while the arm is still on its way: hold where it is.
    out = ctl.update(0.2, np.array([0.0, 0.2]))
    assert not out.event
    out = ctl.update(0.35, np.array([0.0, 0.3]))
    assert "command watchdog" in out.event
    assert out.mode is Mode.HOLD
    np.testing.assert_allclose(out.command, [0.0, 0.3])


def test_streamed_positions_reject_bad_input():
    ctl = make_controller()
    with pytest.raises(TrajectoryError) as error:
        ctl.submit_positions(["a", "elbow"], [0.0, 0.0], now=0.0)
    assert error.value.code == INVALID_JOINTS
    assert "unknown joint(s) 'elbow'" in str(error.value)
    with pytest.raises(TrajectoryError, match="'a' is nan"):
        ctl.submit_positions(["a"], [math.nan], now=0.0)
    with pytest.raises(TrajectoryError, match="2 joint names but 1 positions"):
        ctl.submit_positions(["a", "b"], [0.0], now=0.0)
    with pytest.raises(TrajectoryError, match="joint 'b' is named twice") as error:  # not "the last one wins"
        ctl.submit_positions(["b", "a", "b"], [0.1, 0.0, 0.2], now=0.0)
    assert error.value.code == INVALID_JOINTS


def test_stream_preempts_trajectory_goal():
    ctl = make_controller()
    token = object()
    ctl.submit_trajectory(trajectory((1.0, [0.5, 0.5])), now=0.0, token=token)
    assert ctl.submit_positions(["a"], [0.1], now=0.2) is token
    assert ctl.mode is Mode.STREAM


def test_reset_after_reconnect_holds_measured_and_drops_goal():
    ctl = make_controller()
    token = object()
    ctl.submit_trajectory(trajectory((1.0, [0.5, 0.5])), now=0.0, token=token)
    assert ctl.reset(np.array([0.2, -0.1]), now=3.0) is token
    np.testing.assert_allclose(ctl.update(3.1, np.array([0.2, -0.1])).command, [0.2, -0.1])
