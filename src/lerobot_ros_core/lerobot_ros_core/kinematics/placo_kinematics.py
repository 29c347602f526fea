"""Forward and inverse kinematics of a fixed-base arm with placo.

The URDF is loaded with its visual and collision geometry stripped (loading meshes costs seconds
and kinematics does not need them) and the floating base masked, so the solver only moves the
arm's joints. IK is a damped weighted least-squares step iterated a few times from a seed (the
follower's current joints), so consecutive targets give consecutive, smooth solutions.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path

import numpy as np

_GEOMETRY = re.compile(r"<(visual|collision)\b.*?</\1>", re.DOTALL)


def strip_geometry(urdf: str) -> str:
    """The URDF without <visual>/<collision> elements."""
    return _GEOMETRY.sub("", urdf)


class ArmKinematics:
    """FK/IK between joint positions (radians, in `joint_names` order) and a frame's 4×4 pose in the base frame."""

    def __init__(
        self,
        urdf: str | Path,
        joint_names: Sequence[str],
        frame: str = "gripper_frame_link",
        *,
        position_weight: float = 1.0,
        orientation_weight: float = 0.01,
        iterations: int = 6,
    ) -> None:
        import placo

        text = Path(urdf).read_text(encoding="utf-8") if isinstance(urdf, Path) else urdf
        self.robot = placo.RobotWrapper("", placo.Flags.ignore_collisions, strip_geometry(text))
        known = list(self.robot.joint_names())
        unknown = [n for n in joint_names if n not in known]
        if unknown:
            raise ValueError(f"joints {unknown} are not in the robot description (it has {known})")
        if frame not in list(self.robot.frame_names()):
            raise ValueError(f"frame '{frame}' is not in the robot description")
        self.joint_names = list(joint_names)
        self.frame = frame
        self.iterations = iterations
        self.solver = placo.KinematicsSolver(self.robot)
        self.solver.mask_fbase(True)
        self.solver.enable_joint_limits(True)
        self.task = self.solver.add_frame_task(frame, np.eye(4))
        self.task.configure(frame, "soft", position_weight, orientation_weight)
        self.lower = np.array([self.robot.get_joint_limits(n)[0] for n in self.joint_names])
        self.upper = np.array([self.robot.get_joint_limits(n)[1] for n in self.joint_names])
        # Positions of the joints in placo's configuration vector: one indexed write instead of a call per joint.
        self._offsets = np.array([self.robot.get_joint_offset(n) for n in self.joint_names], dtype=np.int64)

    def _set(self, q: np.ndarray) -> None:
        configuration = self.robot.state.q  # a view of the robot's configuration
        configuration[self._offsets] = q
        self.robot.update_kinematics()

    def forward(self, q: Sequence[float]) -> np.ndarray:
        """Pose (4×4) of the frame for joint positions `q`."""
        self._set(np.asarray(q, dtype=float))
        return np.array(self.robot.get_T_world_frame(self.frame))

    def inverse(self, target: np.ndarray, seed: Sequence[float]) -> np.ndarray:
        """Joint positions bringing the frame to `target` (4×4), starting from `seed`, within joint limits."""
        seed = np.clip(np.asarray(seed, dtype=float), self.lower, self.upper)
        self._set(seed)
        self.task.T_world_frame = np.asarray(target, dtype=float)
        for _ in range(self.iterations):
            self.solver.solve(True)
            self.robot.update_kinematics()
        return self.robot.state.q[self._offsets].copy()
