"""EE features of a frame: the tool pose computed from a joint-position feature's dataset values.

The recorder, the dataset tools and the policy node all call `DerivedFeatures.compute` on the
float32 values the dataset stores for the joint feature, so an EE feature recorded live, one added
to an existing dataset later, and the one a policy sees at run time are the same numbers.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np

from lerobot_ros_core.contract import Contract, EndEffectorSpec, FeatureSpec
from lerobot_ros_core.kinematics.end_effector import rotvec_from_matrix
from lerobot_ros_core.kinematics.placo_kinematics import ArmKinematics


class EndEffectorFeature:
    """Joint feature values (dataset units) → [ee.x … ee.wz, ee.gripper_pos], and the gripper back to radians."""

    def __init__(self, ee: EndEffectorSpec, source: FeatureSpec) -> None:
        self.ee = ee
        self.source = source
        self.kinematics = ArmKinematics(Path(ee.urdf), ee.joints, ee.frame)
        self._joints = np.array([source.selection.index(j) for j in ee.joints], dtype=np.int64)
        units = [source.units[i] for i in self._joints]
        self._scale = np.array([u.scale for u in units])
        self._offset = np.array([u.offset for u in units])
        self._gripper = None if ee.gripper is None else source.selection.index(ee.gripper)

    @classmethod
    def of(cls, contract: Contract, key: str) -> EndEffectorFeature:
        ee = contract.end_effector(key)
        if ee is None:
            raise KeyError(f"{contract.source}: feature {key!r} is not an end-effector feature")
        return cls(ee, contract.feature(ee.source))

    def arm_radians(self, values: np.ndarray) -> np.ndarray:
        """The arm joints (radians, `ee.joints` order) of the joint feature's float32 dataset values."""
        stored = np.asarray(values, dtype=np.float32).astype(np.float64)
        return (stored[self._joints] - self._offset) / self._scale

    def compute(self, values: np.ndarray) -> np.ndarray:
        """The EE feature (float32) of one frame's joint feature values."""
        pose = self.kinematics.forward(self.arm_radians(values))
        out = np.empty(len(self.ee.names), dtype=np.float32)
        out[:3] = pose[:3, 3]
        out[3:6] = rotvec_from_matrix(pose[:3, :3])
        if self._gripper is not None:
            out[6] = values[self._gripper]
        return out

    def compute_many(self, values: np.ndarray) -> np.ndarray:
        """`compute` per row of a (frames, dims) table."""
        table = np.asarray(values, dtype=np.float32)
        return np.stack([self.compute(row) for row in table]) if len(table) else np.zeros((0, len(self.ee.names)))

    def gripper_to_ros(self, value: float) -> float:
        """An ee.gripper_pos value (the joint feature's unit) → gripper radians."""
        assert self._gripper is not None
        return self.source.units[self._gripper].to_ros(float(value))

    def gripper_to_dataset(self, radians: float) -> float:
        """Gripper radians → an ee.gripper_pos value (the joint feature's unit)."""
        assert self._gripper is not None
        return self.source.units[self._gripper].to_dataset(float(radians))


class DerivedFeatures:
    """Every derived (EE) feature of a contract, computed from the frame's other feature values."""

    def __init__(self, contract: Contract, keys: list[str] | None = None) -> None:
        wanted = contract.derived_keys if keys is None else [k for k in keys if k in contract.derived_keys]
        self.features = {key: EndEffectorFeature.of(contract, key) for key in wanted}

    @property
    def sources(self) -> set[str]:
        """Keys of the features the derived ones are computed from."""
        return {feature.ee.source for feature in self.features.values()}

    def compute(self, values: Mapping[str, np.ndarray]) -> dict[str, np.ndarray]:
        return {key: feature.compute(values[feature.ee.source]) for key, feature in self.features.items()}
