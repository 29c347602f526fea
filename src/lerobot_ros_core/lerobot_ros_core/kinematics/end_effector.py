"""End-effector vectors: tool pose as position + rotation vector, and bounded EE targets → joints by IK.

LeRobot's EE features are `ee.x, ee.y, ee.z` (metres, robot base frame), `ee.wx, ee.wy, ee.wz` (the
rotation vector of the tool frame: axis × angle in radians, angle in [0, π]) and `ee.gripper_pos`
(the gripper joint in the dataset's unit, passed through). `EndEffectorSolver` turns a target
vector back into joints the way LeRobot's EE action pipeline does: clip the position to a
workspace box, move at most `max_step` metres from the previous target, IK seeded with the
previous joints; a target the arm cannot reach within `tolerance` is reported, never executed.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics


def rotvec_from_matrix(rotation: np.ndarray) -> np.ndarray:
    """Rotation vector (axis · angle, angle in [0, π]) of a 3×3 rotation matrix; exact near 0 and π.

    Scalar math on plain floats: this runs once per recorded frame and per policy action.
    """
    (r00, r01, r02), (r10, r11, r12), (r20, r21, r22) = np.asarray(rotation, dtype=np.float64).tolist()
    sx, sy, sz = 0.5 * (r21 - r12), 0.5 * (r02 - r20), 0.5 * (r10 - r01)
    sin = math.sqrt(sx * sx + sy * sy + sz * sz)
    cos = min(1.0, max(-1.0, 0.5 * (r00 + r11 + r22 - 1.0)))
    angle = math.atan2(sin, cos)
    if angle < 1e-6:
        return np.array([sx, sy, sz])  # sin(θ) ≈ θ: the skew part is the rotation vector
    if math.pi - angle > 1e-4:
        return np.array([sx, sy, sz]) * (angle / sin)
    # Near π the skew part vanishes: the axis is the dominant column of (R + I) / 2 = a aᵀ.
    symmetric = (np.asarray(rotation, dtype=np.float64) + np.eye(3)) / 2.0
    column = int(np.argmax(np.diag(symmetric)))
    axis = symmetric[:, column] / math.sqrt(symmetric[column, column])
    if axis[0] * sx + axis[1] * sy + axis[2] * sz < 0:
        axis = -axis
    return axis * angle


def matrix_from_rotvec(rotvec: Sequence[float]) -> np.ndarray:
    """3×3 rotation matrix of a rotation vector (Rodrigues' formula, scalar math like `rotvec_from_matrix`)."""
    x, y, z = (float(v) for v in rotvec)
    angle = math.sqrt(x * x + y * y + z * z)
    if angle < 1e-8:
        a, b = 1.0, 0.5  # sin(θ)/θ and (1 - cos θ)/θ² at θ → 0
    else:
        a, b = math.sin(angle) / angle, (1.0 - math.cos(angle)) / (angle * angle)
    return np.array(
        [
            [1.0 - b * (y * y + z * z), b * x * y - a * z, b * x * z + a * y],
            [b * x * y + a * z, 1.0 - b * (x * x + z * z), b * y * z - a * x],
            [b * x * z - a * y, b * y * z + a * x, 1.0 - b * (x * x + y * y)],
        ]
    )


def pose_to_vector(pose: np.ndarray) -> np.ndarray:
    """4×4 pose → [x, y, z, wx, wy, wz]."""
    return np.concatenate([pose[:3, 3], rotvec_from_matrix(pose[:3, :3])])


def vector_to_pose(vector: Sequence[float]) -> np.ndarray:
    """[x, y, z, wx, wy, wz] → 4×4 pose."""
    v = np.asarray(vector, dtype=np.float64)
    pose = np.eye(4)
    pose[:3, :3] = matrix_from_rotvec(v[3:6])
    pose[:3, 3] = v[:3]
    return pose


class UnreachableTargetError(ValueError):
    """IK could not bring the tool to a target; the message gives the target and the distance left."""


@dataclass(frozen=True)
class EndEffectorLimits:
    """Workspace box (metres, base frame), max EE displacement per action and the IK acceptance distance."""

    lower: tuple[float, float, float] = (-0.5, -0.5, -0.1)
    upper: tuple[float, float, float] = (0.5, 0.5, 0.6)
    max_step: float = 0.02
    tolerance: float = 0.01
    max_rotation_step: float = 0.1  # rad per action: the tool turns gradually too, so no joint jumps

    def __post_init__(self) -> None:
        if len(self.lower) != 3 or len(self.upper) != 3:
            raise ValueError(f"workspace bounds need 3 values each, got {list(self.lower)} and {list(self.upper)}")
        if any(lo > hi for lo, hi in zip(self.lower, self.upper, strict=True)):
            raise ValueError(f"workspace lower bound {list(self.lower)} exceeds upper bound {list(self.upper)}")
        if self.max_step <= 0 or self.tolerance <= 0 or self.max_rotation_step <= 0:
            raise ValueError(f"max EE step ({self.max_step}) and IK tolerance ({self.tolerance}) must be positive")


@dataclass(frozen=True)
class SolvedTarget:
    """IK result for one EE target: joints, the target actually used (after bounds) and what the bounds did."""

    joints: np.ndarray
    target: np.ndarray
    clipped: bool
    step_limited: bool
    error: float  # distance left between the tool and the bounded target (m)


class EndEffectorSolver:
    """EE target vectors → arm joints: workspace clip, max step from the previous target, seeded IK."""

    def __init__(self, kinematics: ArmKinematics, limits: EndEffectorLimits) -> None:
        self.kinematics = kinematics
        self.limits = limits
        self._lower = np.asarray(limits.lower, dtype=np.float64)
        self._upper = np.asarray(limits.upper, dtype=np.float64)

    def forward(self, joints: Sequence[float]) -> np.ndarray:
        """[x, y, z, wx, wy, wz] of the tool for arm joints (radians)."""
        return pose_to_vector(self.kinematics.forward(joints))

    def solve(self, target: Sequence[float], seed: Sequence[float], previous: np.ndarray | None = None) -> SolvedTarget:
        """Joints for one target; `previous` is the last target vector (None: the seed's tool pose).

        Raises UnreachableTargetError when IK leaves the tool farther than `tolerance` from the bounded target.
        """
        vector = np.asarray(target, dtype=np.float64)
        if vector.shape != (6,) or not np.isfinite(vector).all():
            raise UnreachableTargetError(f"EE target must be 6 finite values, got {vector.tolist()}")
        seed = np.asarray(seed, dtype=np.float64)
        if previous is None:
            previous = pose_to_vector(self.kinematics.forward(seed))
        position = np.clip(vector[:3], self._lower, self._upper)
        clipped = bool(np.any(position != vector[:3]))
        step = position - previous[:3]
        distance = float(np.linalg.norm(step))
        step_limited = distance > self.limits.max_step
        if step_limited:
            position = previous[:3] + step * (self.limits.max_step / distance)
        rotation_before = matrix_from_rotvec(previous[3:6])
        turn = rotvec_from_matrix(rotation_before.T @ matrix_from_rotvec(vector[3:6]))
        angle = float(np.linalg.norm(turn))
        rotation = vector[3:6]
        if angle > self.limits.max_rotation_step:
            step_limited = True
            partial = matrix_from_rotvec(turn * (self.limits.max_rotation_step / angle))
            rotation = rotvec_from_matrix(rotation_before @ partial)
        bounded = np.concatenate([position, rotation])
        joints = self.kinematics.inverse(vector_to_pose(bounded), seed=seed)
        error = float(np.linalg.norm(self.kinematics.forward(joints)[:3, 3] - position))
        if error > self.limits.tolerance:
            raise UnreachableTargetError(
                f"EE target {np.round(vector[:3], 4).tolist()} m (bounded to {np.round(position, 4).tolist()}) "
                f"is out of reach: IK leaves the tool {error * 1e3:.1f} mm away "
                f"(tolerance {self.limits.tolerance * 1e3:.1f} mm)"
            )
        return SolvedTarget(joints, bounded, clipped, step_limited, error)

    def solve_sequence(
        self, targets: np.ndarray, commanded: np.ndarray | Sequence[float]
    ) -> tuple[np.ndarray, list[SolvedTarget]]:
        """Joints for consecutive targets.

        `commanded`: the joints the arm is already commanded to at the targets' first steps
        (`[k, joints]`, k ≥ 1; one row: where the arm is). A target inside that path is solved from
        the command before it, so wherever the sequence takes over from the path, its first command
        is one bounded step (`max_step`, `max_rotation_step`) from the last one executed. Later
        targets are seeded with, and step from, the previous solution.

        Raises UnreachableTargetError naming the first unreachable target: nothing of the sequence is executed.
        """
        path = np.atleast_2d(np.asarray(commanded, dtype=np.float64))
        joints = path[0]
        previous: np.ndarray | None = None
        rows, solved = [], []
        for index, target in enumerate(np.asarray(targets, dtype=np.float64)):
            if 0 < index < len(path):
                joints, previous = path[index - 1], None
            try:
                result = self.solve(target, joints, previous)
            except UnreachableTargetError as error:
                raise UnreachableTargetError(f"action {index} of {len(targets)}: {error}") from None
            joints, previous = result.joints, result.target
            rows.append(joints)
            solved.append(result)
        return np.array(rows).reshape(len(rows), len(joints)), solved
