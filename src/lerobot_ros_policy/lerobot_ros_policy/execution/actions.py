"""Chunk columns (LeRobot units, checkpoint order) → joint positions (radians) by joint name.

The contract's `action` feature says which joint each column drives and in which unit the
dataset stored it; the inverse of those units (the contract's own `Unit.to_ros`) brings a chunk
back to the radians the driver executes. Nothing is matched by position alone: the trajectory
carries the joint names.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from lerobot_ros_core.contract import FeatureSpec, Unit


class ActionMappingError(ValueError):
    """The contract's action feature cannot drive joints, or a chunk does not fit it."""


@dataclass(frozen=True)
class ActionColumns:
    """Column i of a chunk is `names[i]` in the dataset and drives joint `joints[i]` via `units[i]`."""

    names: tuple[str, ...]
    joints: tuple[str, ...]
    units: tuple[Unit, ...]

    @classmethod
    def from_feature(cls, spec: FeatureSpec | None, source: str = "contract") -> ActionColumns:
        if spec is None:
            raise ActionMappingError(f"{source}: no 'action' feature, so the policy's actions drive no joints")
        if not spec.is_joint_positions:
            raise ActionMappingError(
                f"{source}: feature 'action' reads {spec.message_type.name} field '{spec.field}'; the policy node "
                "executes joint positions only (a JointState 'position' or JointTrajectory 'positions' feature)"
            )
        return cls(tuple(spec.names), tuple(spec.selection), tuple(spec.units))

    @property
    def dim(self) -> int:
        return len(self.joints)

    def to_ros(self, chunk: np.ndarray, commanded: np.ndarray | None = None) -> np.ndarray:
        """`[steps, dim]` LeRobot-unit actions → `[steps, dim]` radians, columns in `joints` order.

        `commanded` is for EE actions (`EndEffectorActions`), which IK from the commanded joints; joint actions do not.
        """
        chunk = np.asarray(chunk, dtype=np.float64)
        if chunk.ndim != 2 or chunk.shape[1] != self.dim:
            raise ActionMappingError(f"chunk of shape {list(chunk.shape)}, the action feature has {self.dim} columns")
        return np.column_stack([unit.to_ros(chunk[:, i]) for i, unit in enumerate(self.units)])

    def to_dataset(self, positions: np.ndarray) -> np.ndarray:
        """The inverse of `to_ros`: queued radians back to the checkpoint's columns in LeRobot units
        (the RTC prefix a runtime is guided with)."""
        positions = np.asarray(positions, dtype=np.float64)
        if positions.ndim != 2 or positions.shape[1] != self.dim:
            raise ActionMappingError(
                f"positions of shape {list(positions.shape)}, the action feature has {self.dim} joints"
            )
        return np.column_stack([unit.to_dataset(positions[:, i]) for i, unit in enumerate(self.units)])
