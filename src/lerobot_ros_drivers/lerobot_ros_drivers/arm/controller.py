"""The follower's control core: trajectories, streamed position commands, goals and safety.

`ArmController` is called once per control tick with the measured joint positions and returns
the command to write. Sources of motion:

- trajectories (`submit_trajectory`), spliced into a `Timeline` with joint_trajectory_controller
  semantics, optionally tracked as a goal with path/goal tolerances;
- streamed positions by joint name (`submit_positions`, the low-latency teleop path), guarded by
  a watchdog: when the stream stops, the arm holds where it is.

Every command goes through the `SafetyLimiter`. A new trajectory or stream preempts the goal in
progress; an aborted goal (tolerance violated) or a cancelled one leaves the arm holding where
it is. No ROS types here: the node converts messages.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from lerobot_ros_core.messages.joints import duplicate_joints
from lerobot_ros_drivers.arm.interpolation import JointSample
from lerobot_ros_drivers.arm.safety import LimitResult, SafetyLimiter, Watchdog
from lerobot_ros_drivers.arm.tolerances import GoalState, GoalStatus, JointTolerance, Tolerances, evaluate
from lerobot_ros_drivers.arm.trajectory import (
    INVALID_JOINTS,
    Timeline,
    Trajectory,
    TrajectoryCommand,
    TrajectoryError,
    to_knots,
    validate,
)


class Mode(Enum):
    HOLD = "hold"
    TRAJECTORY = "trajectory"
    STREAM = "stream"


@dataclass(frozen=True)
class ControllerConfig:
    joint_names: tuple[str, ...]
    lower_limits: np.ndarray
    upper_limits: np.ndarray
    max_step: np.ndarray | float
    command_timeout: float = 0.5
    path_tolerance: JointTolerance = field(default_factory=JointTolerance)
    goal_tolerance: JointTolerance = field(default_factory=lambda: JointTolerance(position=0.05))
    goal_time_tolerance: float = 1.0
    allow_partial_joints_goal: bool = False


@dataclass
class Goal:
    """A trajectory tracked against tolerances; `token` identifies it to the caller (an action goal)."""

    token: object
    trajectory: Trajectory
    tolerances: Tolerances


@dataclass(frozen=True)
class ControlOutput:
    command: np.ndarray
    desired: JointSample
    actual: JointSample
    limit: LimitResult
    mode: Mode
    finished_goal: tuple[object, GoalStatus] | None = None
    event: str = ""


class VelocityEstimator:
    """Joint velocities from positions over a short window (quantised positions make 1-tick differences noisy)."""

    def __init__(self, window: float = 0.05) -> None:
        self.window = window
        self._history: deque[tuple[float, np.ndarray]] = deque()

    def update(self, now: float, positions: np.ndarray) -> np.ndarray:
        self._history.append((now, positions.copy()))
        while len(self._history) > 2 and now - self._history[1][0] >= self.window:
            self._history.popleft()
        t0, p0 = self._history[0]
        if now - t0 <= 0:
            return np.zeros_like(positions)
        return (positions - p0) / (now - t0)

    def reset(self) -> None:
        self._history.clear()


class ArmController:
    def __init__(self, config: ControllerConfig, measured: np.ndarray, now: float) -> None:
        self.config = config
        self.joint_names = tuple(config.joint_names)
        self.limiter = SafetyLimiter(config.lower_limits, config.upper_limits, config.max_step)
        self.watchdog = Watchdog(config.command_timeout)
        self.default_tolerances = Tolerances.uniform(
            len(self.joint_names), config.path_tolerance, config.goal_tolerance, config.goal_time_tolerance
        )
        self.velocities = VelocityEstimator()
        self.mode = Mode.HOLD
        self.goal: Goal | None = None
        self._last_measured = np.asarray(measured, dtype=float).copy()
        self.timeline = Timeline.holding(self._clamp(self._last_measured), now)

    def _clamp(self, positions: np.ndarray) -> np.ndarray:
        return np.clip(positions, self.limiter.lower, self.limiter.upper)

    # --- commands -----------------------------------------------------------------------------

    def submit_trajectory(
        self,
        command: TrajectoryCommand,
        now: float,
        token: object = None,
        tolerances: Tolerances | None = None,
    ) -> object:
        """Validate and splice in a trajectory; returns the token of the goal it preempts (or None).

        Raises TrajectoryError (with a FollowJointTrajectory error code) when it is rejected; the
        motion in progress then continues unchanged.
        """
        validate(command, self.joint_names, self.config.allow_partial_joints_goal)
        start = command.start_time if command.start_time > 0 else now
        fill = self.timeline.sample(max(start, now)).positions
        knots = to_knots(command, self.joint_names, start, fill)
        trajectory = self.timeline.splice(knots, start, now)
        preempted = self.goal.token if self.goal is not None else None
        self.goal = Goal(token, trajectory, tolerances or self.default_tolerances) if token is not None else None
        self.mode = Mode.TRAJECTORY
        self.watchdog.disarm()
        return preempted

    def submit_positions(self, names: Sequence[str], positions: Sequence[float], now: float) -> object:
        """Stream a position target by joint name (joints not named keep their target).

        Returns the token of the goal it preempts. Raises TrajectoryError on unknown joints,
        mismatched sizes or non-finite values.
        """
        if len(names) != len(positions):
            raise TrajectoryError(f"{len(names)} joint names but {len(positions)} positions", INVALID_JOINTS)
        duplicates = duplicate_joints(names, "joint command")
        if duplicates:
            raise TrajectoryError(duplicates, INVALID_JOINTS)
        unknown = [n for n in names if n not in self.joint_names]
        if unknown:
            raise TrajectoryError(
                f"unknown joint(s) {', '.join(repr(n) for n in unknown)}; this controller has "
                f"{', '.join(self.joint_names)}",
                INVALID_JOINTS,
            )
        for name, value in zip(names, positions, strict=True):
            if not math.isfinite(value):
                raise TrajectoryError(f"position of joint '{name}' is {value} (must be finite)")
        target = self.timeline.sample(now).positions.copy()
        for name, value in zip(names, positions, strict=True):
            target[self.joint_names.index(name)] = value
        self.timeline.hold(self._clamp(target), now)
        preempted = self.goal.token if self.goal is not None else None
        self.goal = None
        self.mode = Mode.STREAM
        self.watchdog.feed(now)
        return preempted

    def cancel(self, token: object, now: float) -> bool:
        """Cancel the goal `token` if it is the one in progress: the arm holds where it is."""
        if self.goal is None or self.goal.token is not token:
            return False
        self.goal = None
        self.hold(now)
        return True

    def hold(self, now: float, positions: np.ndarray | None = None) -> None:
        """Stop any motion: hold `positions` (default: the last measured positions)."""
        target = self._last_measured if positions is None else np.asarray(positions, dtype=float)
        self.timeline.hold(self._clamp(target), now)
        self.mode = Mode.HOLD
        self.watchdog.disarm()

    def reset(self, measured: np.ndarray, now: float) -> object:
        """Forget all motion and hold `measured` (torque enabled, bus reconnected); returns the dropped goal."""
        dropped = self.goal.token if self.goal is not None else None
        self.goal = None
        self._last_measured = np.asarray(measured, dtype=float).copy()
        self.velocities.reset()
        self.hold(now)
        return dropped

    # --- control tick -------------------------------------------------------------------------

    def update(self, now: float, measured: np.ndarray) -> ControlOutput:
        measured = np.asarray(measured, dtype=float)
        self._last_measured = measured.copy()
        actual = JointSample(measured, self.velocities.update(now, measured), np.zeros_like(measured))
        event = ""
        if self.mode is Mode.STREAM and self.watchdog.expired(now):
            event = f"command watchdog: no joint command for more than {self.watchdog.timeout:.3f} s; holding"
            self.hold(now)
        desired = self.timeline.sample(now)
        finished = None
        if self.goal is not None and now >= self.goal.trajectory.start_time:
            goal = self.goal
            status = evaluate(
                goal.tolerances,
                joint_names=self.joint_names,
                end_time=goal.trajectory.end_time,
                final_positions=goal.trajectory.final_positions,
                now=now,
                desired=desired,
                actual=actual,
            )
            if status.state is not GoalState.ACTIVE:
                finished = (goal.token, status)
                self.goal = None
                if status.state is GoalState.ABORTED:
                    self.hold(now)
                    desired = self.timeline.sample(now)
                    event = status.message
        limit = self.limiter.limit(desired.positions, measured)
        return ControlOutput(limit.positions, desired, actual, limit, self.mode, finished, event)
