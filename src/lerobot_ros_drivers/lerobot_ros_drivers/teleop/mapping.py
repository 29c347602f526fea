"""Leader → follower mappings.

Joint mode: the follower takes the leader's joint positions by name (both arms report radians in
the same so101_new_calib convention, so no conversion is needed).

End-effector mode, as LeRobot's so100_to_so100_EE pipeline: the leader's joints give a tool pose
through forward kinematics; its position is clipped to a workspace box and moved at most
`max_step` metres from the previous target; the follower's joints come from inverse kinematics
seeded with the follower's current joints. The gripper passes through in both modes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics


class MappingError(ValueError):
    """The leader state lacks a joint the mapping needs."""


def pick(state: Mapping[str, float], names: Sequence[str]) -> np.ndarray:
    """Positions of `names` from a name → position mapping; raises MappingError naming what is missing."""
    missing = [n for n in names if n not in state]
    if missing:
        raise MappingError(f"leader state has no joint(s) {', '.join(repr(n) for n in missing)}")
    return np.array([state[n] for n in names], dtype=float)


@dataclass(frozen=True)
class Workspace:
    """Axis-aligned box (metres, follower base frame) the EE target is kept inside."""

    lower: np.ndarray
    upper: np.ndarray

    def __post_init__(self) -> None:
        if np.any(np.asarray(self.lower) > np.asarray(self.upper)):
            raise ValueError(f"workspace lower bound {self.lower} exceeds upper bound {self.upper}")


class EndEffectorTeleop:
    """Leader joints → bounded, rate-limited EE target → follower joints by IK."""

    def __init__(
        self,
        leader: ArmKinematics,
        follower: ArmKinematics,
        workspace: Workspace,
        max_step: float,
    ) -> None:
        if max_step <= 0:
            raise ValueError(f"max EE step must be positive, got {max_step}")
        self.leader = leader
        self.follower = follower
        self.workspace = workspace
        self.max_step = max_step
        self._last_position: np.ndarray | None = None
        self.last_target: np.ndarray | None = None  # the EE target last sent to IK (4×4), for recording

    def target_pose(self, leader_q: np.ndarray) -> np.ndarray:
        """The EE target for the leader's joints: FK, workspace clip, step limit."""
        pose = self.leader.forward(leader_q)
        position = np.clip(pose[:3, 3], self.workspace.lower, self.workspace.upper)
        if self._last_position is not None:
            step = position - self._last_position
            distance = float(np.linalg.norm(step))
            if distance > self.max_step:
                position = self._last_position + step * (self.max_step / distance)
        self._last_position = position
        pose[:3, 3] = position
        self.last_target = pose
        return pose

    def follower_joints(self, leader_q: np.ndarray, follower_q: np.ndarray) -> np.ndarray:
        """Follower joint targets reaching the EE target, IK seeded with the follower's current joints."""
        if self._last_position is None:
            # Start from where the follower's tool is, so the first target is one bounded step away.
            self._last_position = self.follower.forward(follower_q)[:3, 3]
        return self.follower.inverse(self.target_pose(leader_q), seed=follower_q)

    def reset(self) -> None:
        self._last_position = None
        self.last_target = None
