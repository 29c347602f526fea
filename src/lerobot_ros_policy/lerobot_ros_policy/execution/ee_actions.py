"""EE-space actions (ee.x … ee.wz, ee.gripper_pos) → joint positions by IK, for checkpoints trained on EE actions.

The contract's `action` feature is an EE feature (`ee:` setting) of a joint-position feature: that
feature names the arm joints, the gripper joint and the gripper's dataset unit. Each chunk is
solved target by target (`EndEffectorSolver.solve_sequence`): up to the step where the chunk is
expected to take over (the node passes the queued joints that far), each target from the queued
command before it, so the splice is bounded like every other step; after it, from the previous
solution, so the chunk follows its own targets. Targets are
clipped to the workspace box and moved at most `max_step` metres (and `max_rotation_step` radians)
per step. One unreachable target rejects the whole chunk (`UnreachableTargetError`): the executor
then holds where the arm is heading.

For Real-Time Chunking the queued joints go back to EE actions by forward kinematics (`to_dataset`):
the prefix is the tool path the arm will execute (after workspace clip, step limit and IK), in the
checkpoint's EE units, as the recorder computes EE features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lerobot_ros_core.contract import Contract
from lerobot_ros_core.kinematics.ee_features import EndEffectorFeature
from lerobot_ros_core.kinematics.end_effector import EndEffectorLimits, EndEffectorSolver, UnreachableTargetError
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics


@dataclass
class IKCounters:
    """What IK did to the actions so far (read by the node's diagnostics)."""

    actions: int = 0
    clipped: int = 0
    step_limited: int = 0
    unreachable_chunks: int = 0
    last_unreachable: str = ""
    max_error_m: float = 0.0

    def as_diagnostics(self) -> dict[str, str | int]:
        return {
            "ee_actions": self.actions,
            "ee_clipped_to_workspace": self.clipped,
            "ee_step_limited": self.step_limited,
            "ee_unreachable_chunks": self.unreachable_chunks,
            "ee_ik_max_error_mm": f"{self.max_error_m * 1e3:.2f}",
            "ee_last_unreachable": self.last_unreachable,
        }


@dataclass
class EndEffectorActions:
    """Chunk columns in EE space → joint radians; `joints` is the published joint order (arm, then gripper)."""

    feature: EndEffectorFeature
    solver: EndEffectorSolver
    counters: IKCounters = field(default_factory=IKCounters)

    @classmethod
    def from_contract(
        cls, contract: Contract, limits: EndEffectorLimits, orientation_weight: float = 0.01
    ) -> EndEffectorActions:
        feature = EndEffectorFeature.of(contract, "action")
        ee = feature.ee
        kinematics = ArmKinematics(Path(ee.urdf), ee.joints, ee.frame, orientation_weight=orientation_weight)
        return cls(feature, EndEffectorSolver(kinematics, limits))

    @property
    def names(self) -> tuple[str, ...]:
        return self.feature.ee.names

    @property
    def joints(self) -> tuple[str, ...]:
        ee = self.feature.ee
        return (*ee.joints, *((ee.gripper,) if ee.gripper else ()))

    @property
    def dim(self) -> int:
        return len(self.names)

    def to_ros(self, chunk: np.ndarray, commanded: np.ndarray | None = None) -> np.ndarray:
        """`[steps, dim]` EE actions → `[steps, len(joints)]` radians.

        `commanded`: radians in `joints` order, the queued commands from the chunk's first step on
        (`[k, len(joints)]`), or one row: where the arm is when nothing is queued.
        """
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[1] != self.dim:
            raise ValueError(f"chunk of shape {list(chunk.shape)}, the EE action feature has {self.dim} columns")
        if commanded is None or len(commanded) == 0:
            raise UnreachableTargetError("no joint positions to seed IK with yet (no joint state received)")
        arm_path = np.atleast_2d(np.asarray(commanded, dtype=np.float64))[:, : len(self.feature.ee.joints)]
        try:
            arm, solved = self.solver.solve_sequence(chunk[:, :6], arm_path)
        except UnreachableTargetError as error:
            self.counters.unreachable_chunks += 1
            self.counters.last_unreachable = str(error)
            raise
        counters = self.counters
        counters.actions += len(solved)
        counters.clipped += sum(s.clipped for s in solved)
        counters.step_limited += sum(s.step_limited for s in solved)
        counters.max_error_m = max(counters.max_error_m, *(s.error for s in solved))
        if self.feature.ee.gripper is None:
            return arm
        gripper = np.array([self.feature.gripper_to_ros(v) for v in chunk[:, 6]])
        return np.column_stack([arm, gripper])

    def to_dataset(self, positions: np.ndarray) -> np.ndarray:
        """Queued joint radians (`joints` order) → EE actions by FK: the RTC prefix of an EE checkpoint."""
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != len(self.joints):
            raise ValueError(f"positions of shape {list(positions.shape)}, the EE action's joints are {self.joints}")
        arm = len(self.feature.ee.joints)
        rows = np.empty((len(positions), self.dim), dtype=np.float64)
        for row, q in zip(rows, positions, strict=True):
            row[:6] = self.solver.forward(q[:arm])
            if self.feature.ee.gripper is not None:
                row[6] = self.feature.gripper_to_dataset(q[arm])
        return rows
