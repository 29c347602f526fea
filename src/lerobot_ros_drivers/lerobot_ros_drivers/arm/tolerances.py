"""Path and goal tolerances of a trajectory goal, evaluated as joint_trajectory_controller does.

Per joint, a tolerance value > 0 is a limit, 0 means "use the controller default" and a negative
value means "not checked" (control_msgs/JointTolerance). A goal succeeds once, at or after the
end of its trajectory, every joint is within its goal tolerance; it fails when a path tolerance
is exceeded before the end, or when the goal tolerance is still not met `goal_time_tolerance`
seconds after the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from enum import Enum

import numpy as np

from lerobot_ros_drivers.arm.interpolation import JointSample
from lerobot_ros_drivers.arm.trajectory import (
    GOAL_TOLERANCE_VIOLATED,
    PATH_TOLERANCE_VIOLATED,
    SUCCESSFUL,
    TrajectoryError,
)


@dataclass(frozen=True)
class JointTolerance:
    """Limits on |desired − actual|; 0 or negative: not checked."""

    position: float = 0.0
    velocity: float = 0.0


@dataclass(frozen=True)
class Tolerances:
    """Tolerances of one goal, in controller joint order."""

    path: tuple[JointTolerance, ...]
    goal: tuple[JointTolerance, ...]
    goal_time: float

    @classmethod
    def uniform(cls, joints: int, path: JointTolerance, goal: JointTolerance, goal_time: float) -> Tolerances:
        return cls((path,) * joints, (goal,) * joints, goal_time)

    def override(
        self,
        joint_names: Sequence[str],
        path: dict[str, tuple[float, float]],
        goal: dict[str, tuple[float, float]],
        goal_time: float,
    ) -> Tolerances:
        """Apply a goal's per-joint (position, velocity) tolerances over these defaults (JTC rules)."""
        for name in [*path, *goal]:
            if name not in joint_names:
                raise TrajectoryError(f"tolerance given for unknown joint '{name}'", -2)
        return Tolerances(
            tuple(_merge(t, path.get(n)) for t, n in zip(self.path, joint_names, strict=True)),
            tuple(_merge(t, goal.get(n)) for t, n in zip(self.goal, joint_names, strict=True)),
            self.goal_time if goal_time == 0 else max(goal_time, 0.0),
        )


def _merge(default: JointTolerance, given: tuple[float, float] | None) -> JointTolerance:
    if given is None:
        return default
    position, velocity = given
    merged = default
    if position != 0:
        merged = replace(merged, position=position)
    if velocity != 0:
        merged = replace(merged, velocity=velocity)
    return merged


def violations(
    tolerances: Sequence[JointTolerance], joint_names: Sequence[str], desired: JointSample, actual: JointSample
) -> list[str]:
    """Human-readable description of each joint outside its tolerance (empty when all are within)."""
    problems = []
    for i, (tol, name) in enumerate(zip(tolerances, joint_names, strict=True)):
        position_error = abs(desired.positions[i] - actual.positions[i])
        if tol.position > 0 and not position_error <= tol.position:
            problems.append(f"'{name}' position error {position_error:.4f} rad > {tol.position:.4f}")
        velocity_error = abs(desired.velocities[i] - actual.velocities[i])
        if tol.velocity > 0 and not velocity_error <= tol.velocity:
            problems.append(f"'{name}' velocity error {velocity_error:.4f} rad/s > {tol.velocity:.4f}")
    return problems


class GoalState(Enum):
    ACTIVE = "active"
    SUCCEEDED = "succeeded"
    ABORTED = "aborted"


@dataclass(frozen=True)
class GoalStatus:
    state: GoalState
    code: int = SUCCESSFUL
    message: str = ""


def evaluate(
    tolerances: Tolerances,
    *,
    joint_names: Sequence[str],
    end_time: float,
    final_positions: np.ndarray,
    now: float,
    desired: JointSample,
    actual: JointSample,
) -> GoalStatus:
    """Status of a goal whose trajectory ends at `end_time`, given the desired and actual state now."""
    if now < end_time:
        problems = violations(tolerances.path, joint_names, desired, actual)
        if problems:
            return GoalStatus(
                GoalState.ABORTED, PATH_TOLERANCE_VIOLATED, "path tolerance violated: " + "; ".join(problems)
            )
        return GoalStatus(GoalState.ACTIVE)
    goal = JointSample.at_rest(final_positions)
    problems = violations(tolerances.goal, joint_names, goal, actual)
    if not problems:
        return GoalStatus(GoalState.SUCCEEDED, SUCCESSFUL, "")
    late = now - end_time
    if late > tolerances.goal_time:
        return GoalStatus(
            GoalState.ABORTED,
            GOAL_TOLERANCE_VIOLATED,
            f"goal tolerance violated {late:.3f} s after the trajectory end "
            f"(goal_time_tolerance {tolerances.goal_time:.3f} s): " + "; ".join(problems),
        )
    return GoalStatus(GoalState.ACTIVE)
