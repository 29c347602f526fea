"""Joint units: raw servo steps ↔ LeRobot units (degrees, gripper 0–100) ↔ ROS radians.

LeRobot (0.4.4, `FeetechMotorsBus._normalize/_unnormalize`):
- body joints, DEGREES: ``deg = (raw − mid) · 360 / 4095`` with ``mid = (range_min + range_max) / 2``
  (unclamped; drive_mode not applied, as LeRobot does); back: ``int(deg · 4095 / 360 + mid)``;
- gripper, RANGE_0_100: ``(clip(raw) − min) / (max − min) · 100``, ``100 − x`` when drive_mode is 1;
  back: ``int(clip(x, 0, 100) / 100 · (max − min) + min)``.

ROS (SO-ARM100 ``so101_new_calib``): body ``rad = deg2rad(deg)`` (zero at the middle of the
calibrated range); gripper: the 0–100 value mapped linearly onto the URDF limits −0.1745…1.7453 rad.
Radians → raw rounds to the nearest step and clamps to [range_min, range_max].
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np

from lerobot_ros_core.description import SO101_GRIPPER_LIMITS_RAD

from .files import MotorCalibration

SO_ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper")
STEPS_PER_DEGREE = 4095 / 360  # LeRobot's factor (resolution − 1)


class JointCodec:
    """Unit conversions of one arm, vectorised over its joints (in `joint_names` order)."""

    def __init__(
        self,
        calibration: Mapping[str, MotorCalibration],
        joint_names: Sequence[str] = SO_ARM_JOINTS,
        *,
        range_joints: Sequence[str] = ("gripper",),
        gripper_limits_rad: tuple[float, float] = SO101_GRIPPER_LIMITS_RAD,
    ) -> None:
        missing = [j for j in joint_names if j not in calibration]
        if missing:
            raise ValueError(f"calibration has no entry for joint(s) {', '.join(missing)}")
        self.joint_names = list(joint_names)
        cal = [calibration[j] for j in self.joint_names]
        self.range_min = np.array([c.range_min for c in cal], dtype=np.float64)
        self.range_max = np.array([c.range_max for c in cal], dtype=np.float64)
        if np.any(self.range_min >= self.range_max):
            bad = [j for j, c in zip(self.joint_names, cal, strict=True) if c.range_min >= c.range_max]
            raise ValueError(f"calibration range_min >= range_max for {', '.join(bad)}")
        self.middle = (self.range_min + self.range_max) / 2
        self.inverted = np.array([bool(c.drive_mode) for c in cal])
        self.is_range = np.array([j in range_joints for j in self.joint_names])
        low, high = gripper_limits_rad
        self._range_low = np.where(self.is_range, low, 0.0)
        self._range_span = np.where(self.is_range, high - low, 1.0)
        body_low = np.deg2rad((self.range_min - self.middle) / STEPS_PER_DEGREE)
        body_high = np.deg2rad((self.range_max - self.middle) / STEPS_PER_DEGREE)
        self.lower_limits_rad = np.where(self.is_range, low, body_low)
        self.upper_limits_rad = np.where(self.is_range, high, body_high)

    def _vector(self, values: object, what: str) -> np.ndarray:
        array = np.asarray(values, dtype=np.float64)
        if array.shape != (len(self.joint_names),):
            raise ValueError(f"{what}: expected {len(self.joint_names)} values, got shape {array.shape}")
        return array

    def _finite(self, array: np.ndarray, what: str) -> np.ndarray:
        bad = ~np.isfinite(array)
        if bad.any():
            names = [j for j, b in zip(self.joint_names, bad, strict=True) if b]
            raise ValueError(f"{what}: non-finite value for {', '.join(names)}")
        return array

    # --- raw ↔ LeRobot --------------------------------------------------------------------------------
    def raw_to_lerobot(self, raw: object) -> np.ndarray:
        raw = self._vector(raw, "raw positions")
        degrees = (raw - self.middle) / STEPS_PER_DEGREE
        percent = (np.clip(raw, self.range_min, self.range_max) - self.range_min) / (self.range_max - self.range_min)
        percent = np.where(self.inverted, 100.0 - percent * 100.0, percent * 100.0)
        return np.where(self.is_range, percent, degrees)

    def lerobot_to_raw(self, values: object) -> np.ndarray:
        values = self._finite(self._vector(values, "LeRobot values"), "LeRobot values")
        body = np.trunc(values * STEPS_PER_DEGREE + self.middle)
        percent = np.clip(np.where(self.inverted, 100.0 - values, values), 0.0, 100.0)
        ranged = np.trunc(percent / 100.0 * (self.range_max - self.range_min) + self.range_min)
        return np.where(self.is_range, ranged, body).astype(np.int64)

    # --- LeRobot ↔ radians ------------------------------------------------------------------------------
    def lerobot_to_radians(self, values: object) -> np.ndarray:
        values = self._vector(values, "LeRobot values")
        return np.where(self.is_range, self._range_low + values / 100.0 * self._range_span, np.deg2rad(values))

    def radians_to_lerobot(self, rad: object) -> np.ndarray:
        rad = self._vector(rad, "radians")
        return np.where(self.is_range, (rad - self._range_low) / self._range_span * 100.0, np.rad2deg(rad))

    # --- raw ↔ radians ------------------------------------------------------------------------------------
    def raw_to_radians(self, raw: object) -> np.ndarray:
        return self.lerobot_to_radians(self.raw_to_lerobot(raw))

    def radians_to_raw(self, rad: object) -> np.ndarray:
        """Nearest step, clamped to the calibrated range. Raises ValueError on NaN/inf."""
        values = self.radians_to_lerobot(self._finite(self._vector(rad, "radians"), "radians"))
        body = values * STEPS_PER_DEGREE + self.middle
        percent = np.where(self.inverted, 100.0 - values, values)
        ranged = percent / 100.0 * (self.range_max - self.range_min) + self.range_min
        raw = np.rint(np.where(self.is_range, ranged, body))
        return np.clip(raw, self.range_min, self.range_max).astype(np.int64)

    def radians_per_step(self) -> np.ndarray:
        """Radians per encoder step of each joint (signed: negative for an inverted gripper); for velocities."""
        ranged = self._range_span / (self.range_max - self.range_min) * np.where(self.inverted, -1.0, 1.0)
        return np.where(self.is_range, ranged, np.deg2rad(1.0 / STEPS_PER_DEGREE))
