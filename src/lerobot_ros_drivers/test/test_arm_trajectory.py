"""Trajectory core: validation errors, interpolation degrees, sampling, splice semantics."""

from __future__ import annotations

import math

import numpy as np
import pytest

from lerobot_ros_drivers.arm.trajectory import (
    INVALID_GOAL,
    INVALID_JOINTS,
    OLD_HEADER_TIMESTAMP,
    Knot,
    PointCommand,
    Timeline,
    Trajectory,
    TrajectoryCommand,
    TrajectoryError,
    to_knots,
    validate,
)

JOINTS = ("a", "b", "c")


def command(points, names=JOINTS, start=0.0):
    return TrajectoryCommand(names, [PointCommand(*p) for p in points], start)


@pytest.mark.parametrize(
    ("cmd", "code", "message"),
    [
        (command([(1.0, [0, 0, 0])], names=()), INVALID_JOINTS, "no joint_names"),
        (command([(1.0, [0, 0, 0])], names=("a", "b", "x")), INVALID_JOINTS, "unknown joint(s) 'x'"),
        (command([(1.0, [0, 0])], names=("a", "b")), INVALID_JOINTS, "missing joint(s) 'c'"),
        (
            command([(1.0, [0, 0, 0])], names=("a", "a", "b")),
            INVALID_JOINTS,
            "joint 'a' is named twice in the trajectory",
        ),
        (command([]), INVALID_GOAL, "no points"),
        (command([(1.0, [0, math.nan, 0])]), INVALID_GOAL, "positions of joint 'b' is nan"),
        (command([(1.0, [0, 0, math.inf])]), INVALID_GOAL, "positions of joint 'c' is inf"),
        (command([(1.0, [0, 0, 0], [0, -math.inf, 0])]), INVALID_GOAL, "velocities of joint 'b' is -inf"),
        (command([(1.0, [0, 0])]), INVALID_GOAL, "point 0: positions has 2 values for 3 joints"),
        (command([(1.0, [0, 0, 0], [0, 0])]), INVALID_GOAL, "velocities has 2 values"),
        (command([(1.0, [0, 0, 0]), (1.0, [1, 1, 1])]), INVALID_GOAL, "point 1: time_from_start 1.0 s is not after"),
        (command([(2.0, [0, 0, 0]), (1.0, [1, 1, 1])]), INVALID_GOAL, "times must increase strictly"),
        (command([(-1.0, [0, 0, 0])]), INVALID_GOAL, "negative"),
        (command([(1.0, [0, 0, 0], [], [0, 0, 0])]), INVALID_GOAL, "accelerations given without velocities"),
        (
            command([(1.0, [0, 0, 0], [0, 0, 0]), (2.0, [1, 1, 1])]),
            INVALID_GOAL,
            "point 1: carries positions but point 0 carries positions, velocities",
        ),
    ],
)
def test_validation_rejects_with_precise_error(cmd, code, message):
    with pytest.raises(TrajectoryError) as error:
        validate(cmd, JOINTS)
    assert error.value.code == code
    assert message in str(error.value)


def test_partial_goal_allowed_when_enabled_and_filled_from_current():
    cmd = command([(1.0, [0.5])], names=("b",))
    validate(cmd, JOINTS, allow_partial=True)
    (knot,) = to_knots(cmd, JOINTS, start=10.0, fill=np.array([1.0, 2.0, 3.0]))
    assert knot.time == 11.0
    np.testing.assert_allclose(knot.positions, [1.0, 0.5, 3.0])


def test_joints_mapped_by_name_not_position():
    cmd = command([(1.0, [3.0, 1.0, 2.0], [0.3, 0.1, 0.2])], names=("c", "a", "b"))
    validate(cmd, JOINTS)
    (knot,) = to_knots(cmd, JOINTS, start=0.0, fill=np.zeros(3))
    np.testing.assert_allclose(knot.positions, [1.0, 2.0, 3.0])
    np.testing.assert_allclose(knot.velocities, [0.1, 0.2, 0.3])


def test_linear_interpolation_for_positions_only():
    traj = Trajectory([Knot(0.0, np.zeros(1)), Knot(2.0, np.array([2.0]))])
    sample = traj.sample(0.5)
    np.testing.assert_allclose(sample.positions, [0.5])
    np.testing.assert_allclose(sample.velocities, [1.0])


def test_cubic_interpolation_matches_end_velocities():
    a = Knot(0.0, np.array([0.0]), np.array([0.0]))
    b = Knot(1.0, np.array([1.0]), np.array([0.5]))
    traj = Trajectory([a, b])
    np.testing.assert_allclose(traj.sample(1e-9).velocities, [0.0], atol=1e-6)
    np.testing.assert_allclose(traj.sample(1 - 1e-9).velocities, [0.5], atol=1e-6)
    np.testing.assert_allclose(traj.sample(1 - 1e-9).positions, [1.0], atol=1e-6)
    # Finite differences of the position agree with the reported velocity.
    t, h = 0.37, 1e-6
    numeric = (traj.sample(t + h).positions - traj.sample(t - h).positions) / (2 * h)
    np.testing.assert_allclose(numeric, traj.sample(t).velocities, rtol=1e-5)


def test_quintic_interpolation_matches_end_accelerations():
    a = Knot(0.0, np.array([0.0]), np.array([0.2]), np.array([1.0]))
    b = Knot(2.0, np.array([1.0]), np.array([-0.1]), np.array([-0.5]))
    traj = Trajectory([a, b])
    eps = 1e-9
    start, end = traj.sample(eps), traj.sample(2 - eps)
    np.testing.assert_allclose(start.accelerations, [1.0], atol=1e-6)
    np.testing.assert_allclose(end.accelerations, [-0.5], atol=1e-6)
    np.testing.assert_allclose(end.velocities, [-0.1], atol=1e-6)
    t, h = 1.3, 1e-5
    numeric = (traj.sample(t + h).velocities - traj.sample(t - h).velocities) / (2 * h)
    np.testing.assert_allclose(numeric, traj.sample(t).accelerations, rtol=1e-4)


def test_holds_last_point_after_the_end():
    traj = Trajectory([Knot(0.0, np.zeros(2)), Knot(1.0, np.array([1.0, -1.0]), np.array([0.3, 0.3]))])
    after = traj.sample(5.0)
    np.testing.assert_allclose(after.positions, [1.0, -1.0])
    np.testing.assert_allclose(after.velocities, [0.0, 0.0])


def knots(cmd, start):
    return to_knots(cmd, JOINTS, start, np.zeros(3))


def test_immediate_trajectory_starts_from_the_current_setpoint():
    timeline = Timeline.holding(np.array([1.0, 1.0, 1.0]), now=0.0)
    timeline.splice(knots(command([(2.0, [3.0, 3.0, 3.0])]), start=10.0), start=10.0, now=10.0)
    np.testing.assert_allclose(timeline.sample(10.0).positions, [1.0, 1.0, 1.0])
    np.testing.assert_allclose(timeline.sample(11.0).positions, [2.0, 2.0, 2.0])
    np.testing.assert_allclose(timeline.sample(13.0).positions, [3.0, 3.0, 3.0])


def test_future_trajectory_keeps_the_old_one_until_it_starts():
    timeline = Timeline.holding(np.zeros(3), now=0.0)
    timeline.splice(knots(command([(4.0, [4.0, 4.0, 4.0])]), start=0.0), start=0.0, now=0.0)
    # At t=1 a trajectory stamped to start at t=2 arrives.
    timeline.splice(knots(command([(1.0, [0.0, 0.0, 0.0])]), start=2.0), start=2.0, now=1.0)
    np.testing.assert_allclose(timeline.sample(1.5).positions, [1.5] * 3)  # still the old one
    np.testing.assert_allclose(timeline.sample(2.0).positions, [2.0] * 3)  # switch: from the old state
    np.testing.assert_allclose(timeline.sample(2.5).positions, [1.0] * 3)
    np.testing.assert_allclose(timeline.sample(3.5).positions, [0.0] * 3)


def test_points_already_past_are_dropped():
    timeline = Timeline.holding(np.zeros(3), now=0.0)
    cmd = command([(1.0, [9.0] * 3), (2.0, [9.0] * 3), (4.0, [2.0] * 3)])
    # Stamped at t=0, arriving at t=3: the first two points are in the past.
    trajectory = timeline.splice(knots(cmd, start=0.0), start=0.0, now=3.0)
    assert [k.time for k in trajectory.knots] == [3.0, 4.0]
    np.testing.assert_allclose(timeline.sample(3.5).positions, [1.0] * 3)


def test_trajectory_entirely_in_the_past_is_rejected_and_changes_nothing():
    timeline = Timeline.holding(np.ones(3), now=0.0)
    with pytest.raises(TrajectoryError) as error:
        timeline.splice(knots(command([(1.0, [5.0] * 3)]), start=1.0), start=1.0, now=5.0)
    assert error.value.code == OLD_HEADER_TIMESTAMP
    assert "in the past" in str(error.value)
    np.testing.assert_allclose(timeline.sample(6.0).positions, [1.0] * 3)


def test_newer_trajectory_discards_a_pending_later_one():
    timeline = Timeline.holding(np.zeros(3), now=0.0)
    timeline.splice(knots(command([(1.0, [5.0] * 3)]), start=10.0), start=10.0, now=0.0)
    timeline.splice(knots(command([(1.0, [1.0] * 3)]), start=5.0), start=5.0, now=0.0)
    np.testing.assert_allclose(timeline.sample(20.0).positions, [1.0] * 3)


def test_splice_mid_segment_keeps_velocity_continuity_for_cubic():
    timeline = Timeline.holding(np.zeros(1), now=0.0)
    first = [Knot(2.0, np.array([2.0]), np.array([0.0]))]
    timeline.splice(first, start=0.0, now=0.0)
    before = timeline.sample(1.0 - 1e-9)
    timeline.splice([Knot(3.0, np.array([0.0]), np.array([0.0]))], start=1.0, now=1.0)
    after = timeline.sample(1.0 + 1e-9)
    np.testing.assert_allclose(after.positions, before.positions, atol=1e-6)
    np.testing.assert_allclose(after.velocities, before.velocities, atol=1e-5)
