"""Joint trajectories: validation, mapping by joint name, sampling, and splicing on replacement.

Mirrors ros2_controllers' joint_trajectory_controller semantics without ROS types:

- A command carries joint names, points (time_from_start + positions [+ velocities
  [+ accelerations]]) and a start time (0 = on arrival).
- Validation rejects what JTC rejects, with an error naming the point, the joint and the value.
- A `Timeline` holds what the controller executes. A new trajectory replaces the old one from its
  start time on: the old one keeps running until then, points of the new one already in the past
  are dropped, and the new one starts from the state the timeline had at that instant, so the
  commanded motion stays continuous.
- Past its last point a trajectory holds the last positions.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

from lerobot_ros_core.messages.joints import duplicate_joints
from lerobot_ros_drivers.arm.interpolation import JointSample, cubic, linear, quintic

# FollowJointTrajectory result codes (control_msgs), so errors map onto action results directly.
SUCCESSFUL = 0
INVALID_GOAL = -1
INVALID_JOINTS = -2
OLD_HEADER_TIMESTAMP = -3
PATH_TOLERANCE_VIOLATED = -4
GOAL_TOLERANCE_VIOLATED = -5


class TrajectoryError(ValueError):
    """A trajectory the controller refuses; `code` is the matching FollowJointTrajectory error code."""

    def __init__(self, message: str, code: int = INVALID_GOAL) -> None:
        super().__init__(message)
        self.code = code


@dataclass(frozen=True)
class PointCommand:
    """One trajectory point as received, in the sender's joint order."""

    time_from_start: float
    positions: Sequence[float]
    velocities: Sequence[float] = ()
    accelerations: Sequence[float] = ()


@dataclass(frozen=True)
class TrajectoryCommand:
    """A trajectory as received: `start_time` in controller-clock seconds, 0 meaning "on arrival"."""

    joint_names: Sequence[str]
    points: Sequence[PointCommand]
    start_time: float = 0.0


@dataclass(frozen=True)
class Knot:
    """A point in controller joint order at an absolute time; velocities/accelerations may be absent."""

    time: float
    positions: np.ndarray
    velocities: np.ndarray | None = None
    accelerations: np.ndarray | None = None


def _check_vector(values: Sequence[float], what: str, index: int, names: Sequence[str], allow_empty: bool) -> bool:
    """Validate one point field; returns whether it is present."""
    if len(values) == 0:
        if allow_empty:
            return False
        raise TrajectoryError(f"point {index}: {what} is empty (expected {len(names)} values)")
    if len(values) != len(names):
        raise TrajectoryError(f"point {index}: {what} has {len(values)} values for {len(names)} joints")
    for value, name in zip(values, names, strict=True):
        if not math.isfinite(value):
            raise TrajectoryError(f"point {index}: {what} of joint '{name}' is {value} (must be finite)")
    return True


def validate(command: TrajectoryCommand, controller_joints: Sequence[str], allow_partial: bool = False) -> None:
    """Raise TrajectoryError when `command` is malformed for a controller of `controller_joints`."""
    names = list(command.joint_names)
    if not names:
        raise TrajectoryError("trajectory has no joint_names", INVALID_JOINTS)
    duplicates = duplicate_joints(names, "trajectory")
    if duplicates:
        raise TrajectoryError(duplicates, INVALID_JOINTS)
    unknown = [n for n in names if n not in controller_joints]
    if unknown:
        raise TrajectoryError(
            f"unknown joint(s) {', '.join(repr(n) for n in unknown)}; "
            f"this controller has {', '.join(controller_joints)}",
            INVALID_JOINTS,
        )
    missing = [n for n in controller_joints if n not in names]
    if missing and not allow_partial:
        raise TrajectoryError(
            f"missing joint(s) {', '.join(repr(n) for n in missing)} (partial goals are disabled)", INVALID_JOINTS
        )
    if not command.points:
        raise TrajectoryError("trajectory has no points")
    if not math.isfinite(command.start_time) or command.start_time < 0:
        raise TrajectoryError(f"start time {command.start_time} is invalid")
    fields: tuple[bool, bool] | None = None
    previous = -math.inf
    for index, point in enumerate(command.points):
        t = point.time_from_start
        if not math.isfinite(t) or t < 0:
            raise TrajectoryError(f"point {index}: time_from_start {t} s is negative or not finite")
        if t <= previous:
            raise TrajectoryError(
                f"point {index}: time_from_start {t} s is not after the previous point's {previous} s "
                "(times must increase strictly)"
            )
        previous = t
        _check_vector(point.positions, "positions", index, names, allow_empty=False)
        has_velocities = _check_vector(point.velocities, "velocities", index, names, allow_empty=True)
        has_accelerations = _check_vector(point.accelerations, "accelerations", index, names, allow_empty=True)
        if has_accelerations and not has_velocities:
            raise TrajectoryError(f"point {index}: accelerations given without velocities")
        if fields is None:
            fields = (has_velocities, has_accelerations)
        elif fields != (has_velocities, has_accelerations):
            raise TrajectoryError(
                f"point {index}: carries {_describe(has_velocities, has_accelerations)} but point 0 carries "
                f"{_describe(*fields)}; all points must carry the same fields"
            )


def _describe(velocities: bool, accelerations: bool) -> str:
    return "positions" + (", velocities" if velocities else "") + (", accelerations" if accelerations else "")


def to_knots(
    command: TrajectoryCommand, controller_joints: Sequence[str], start: float, fill: np.ndarray
) -> list[Knot]:
    """Points of a validated command in controller joint order at absolute times (start + time_from_start).

    Joints the command leaves out (partial goals) keep the positions in `fill`, at rest.
    """
    index = [list(command.joint_names).index(n) if n in command.joint_names else -1 for n in controller_joints]
    present = np.array([i >= 0 for i in index])
    order = np.array([max(i, 0) for i in index])

    def reorder(values: Sequence[float], default: np.ndarray) -> np.ndarray:
        return np.where(present, np.asarray(values, dtype=float)[order], default)

    zeros = np.zeros(len(controller_joints))
    knots = []
    for point in command.points:
        knots.append(
            Knot(
                time=start + point.time_from_start,
                positions=reorder(point.positions, fill),
                velocities=reorder(point.velocities, zeros) if len(point.velocities) else None,
                accelerations=reorder(point.accelerations, zeros) if len(point.accelerations) else None,
            )
        )
    return knots


class Trajectory:
    """Piecewise spline through knots at absolute times; holds the last knot after the end."""

    def __init__(self, knots: Sequence[Knot]) -> None:
        if not knots:
            raise ValueError("a trajectory needs at least one knot")
        self.knots = list(knots)

    @property
    def start_time(self) -> float:
        return self.knots[0].time

    @property
    def end_time(self) -> float:
        return self.knots[-1].time

    @property
    def final_positions(self) -> np.ndarray:
        return self.knots[-1].positions

    def sample(self, t: float) -> JointSample:
        knots = self.knots
        if t <= knots[0].time:
            first = knots[0]
            if t == first.time and first.velocities is not None:
                return JointSample(
                    first.positions.copy(),
                    first.velocities.copy(),
                    first.accelerations.copy() if first.accelerations is not None else np.zeros_like(first.positions),
                )
            return JointSample.at_rest(first.positions)
        if t >= knots[-1].time:
            return JointSample.at_rest(knots[-1].positions)
        times = [k.time for k in knots]
        i = int(np.searchsorted(times, t, side="right")) - 1
        return _segment(knots[i], knots[i + 1], t - knots[i].time)


def _segment(a: Knot, b: Knot, t: float) -> JointSample:
    """Interpolate between knots; the degree follows the fields the target knot carries."""
    duration = b.time - a.time
    if b.velocities is None:
        return linear(a.positions, b.positions, duration, t)
    zeros = np.zeros_like(a.positions)
    start = JointSample(
        a.positions,
        a.velocities if a.velocities is not None else zeros,
        a.accelerations if a.accelerations is not None else zeros,
    )
    end = JointSample(b.positions, b.velocities, b.accelerations if b.accelerations is not None else zeros)
    if b.accelerations is None:
        return cubic(start, end, duration, t)
    return quintic(start, end, duration, t)


@dataclass
class _Entry:
    switch_time: float
    trajectory: Trajectory


@dataclass
class Timeline:
    """What the controller executes: trajectories, each one in force from its switch time on."""

    entries: list[_Entry] = field(default_factory=list)

    @classmethod
    def holding(cls, positions: np.ndarray, now: float) -> Timeline:
        return cls([_Entry(now, Trajectory([Knot(now, np.asarray(positions, dtype=float).copy())]))])

    def active(self, t: float) -> Trajectory:
        """The trajectory in force at `t`."""
        current = self.entries[0]
        for entry in self.entries:
            if entry.switch_time <= t:
                current = entry
        return current.trajectory

    def sample(self, t: float) -> JointSample:
        return self.active(t).sample(t)

    def hold(self, positions: np.ndarray, now: float) -> None:
        """Drop everything and hold `positions` from now on."""
        self.entries = Timeline.holding(positions, now).entries

    def splice(self, knots: Sequence[Knot], start: float, now: float) -> Trajectory:
        """Let `knots` take over from `max(start, now)` and return the trajectory now scheduled.

        Knots before `now` are dropped; the first kept knot is reached from the timeline's state
        at the switch time (unless it lies exactly at the switch time). Trajectories scheduled to
        begin at or after the switch time are discarded. Raises TrajectoryError when every knot
        lies in the past.
        """
        switch = max(start, now)
        future = [k for k in knots if k.time >= now]
        if not future:
            raise TrajectoryError(
                f"trajectory ends {now - knots[-1].time:.3f} s in the past (stamp too old, or all points expired)",
                OLD_HEADER_TIMESTAMP,
            )
        if future[0].time > switch:
            origin = self.sample(switch)
            future.insert(0, Knot(switch, origin.positions, origin.velocities, origin.accelerations))
        trajectory = Trajectory(future)
        kept = [e for e in self.entries if e.switch_time < switch]
        # Entries that ended before the one in force now are no longer needed.
        in_force = max((i for i, e in enumerate(kept) if e.switch_time <= now), default=0)
        self.entries = [*kept[in_force:], _Entry(switch, trajectory)]
        return trajectory
