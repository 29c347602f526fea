"""ROS message → LeRobot feature value, per contract feature (and back for joint actions).

Converters only read message attributes, so they take rclpy messages (live) and rosbags
messages (bag conversion) alike: the same code builds every frame, whatever the source.
Every rejected message raises `FeatureValueError` naming the feature, the topic and the cause.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from lerobot_ros_core.contract import Contract, FeatureSpec
from lerobot_ros_core.messages.images import ImageConversionError, compressed_to_numpy, image_to_numpy, to_rgb8


class FeatureValueError(ValueError):
    """A message cannot become a value of its feature (missing joints, NaN, wrong size or encoding, ...)."""


def stamp_to_ns(stamp: Any) -> int:
    return int(stamp.sec) * 1_000_000_000 + int(stamp.nanosec)


class FeatureConverter:
    """Builds the value of one feature from messages of its topic."""

    def __init__(self, spec: FeatureSpec) -> None:
        self.spec = spec
        self._scale = np.array([u.scale for u in spec.units], dtype=np.float64)
        self._offset = np.array([u.offset for u in spec.units], dtype=np.float64)
        self._names_cache: tuple[tuple[str, ...], np.ndarray] | None = None
        self._indices = (
            np.array([int(i) for i in spec.selection], dtype=np.int64) if spec.message_type.family == "array" else None
        )

    def error(self, message: str) -> FeatureValueError:
        return FeatureValueError(f"feature {self.spec.key!r} ({self.spec.topic}): {message}")

    def stamp_ns(self, msg: Any, receive_ns: int) -> int:
        """The time the sample describes: header stamp or receive time, as the contract says."""
        if self.spec.stamp == "receive":
            return receive_ns
        stamp = stamp_to_ns(msg.header.stamp)
        if stamp == 0:
            raise self.error("header stamp is zero (unset); publish stamped messages or use stamp: receive")
        return stamp

    def convert(self, msg: Any) -> np.ndarray:
        """The feature value: float64 vector in dataset units, HxWx3 uint8 RGB, or HxW uint16 depth (mm)."""
        family = self.spec.message_type.family
        if family in ("image", "compressed_image"):
            return self._image(msg)
        if family == "joint_state":
            raw = self._select_joints(list(msg.name), getattr(msg, self.spec.field), "JointState")
        elif family == "joint_trajectory":
            raw = self._trajectory(msg)
        elif family == "wrench":
            raw = np.array(
                [getattr(getattr(msg.wrench, f.split(".")[0]), f.split(".")[1]) for f in self.spec.selection]
            )
        else:
            raw = self._array(msg)
        raw = np.asarray(raw, dtype=np.float64)
        bad = ~np.isfinite(raw)
        if bad.any():
            names = [self.spec.names[i] for i in np.flatnonzero(bad)]
            raise self.error(f"non-finite value(s) for {names}: {raw[bad].tolist()}")
        return raw * self._scale + self._offset

    def to_joint_positions(self, values: Sequence[float] | np.ndarray) -> dict[str, float]:
        """Inverse of `convert` for joint-position features: dataset values → radians by joint name."""
        if not self.spec.is_joint_positions:
            raise self.error("only joint-position features convert back to joint positions")
        array = np.asarray(values, dtype=np.float64).reshape(-1)
        if array.size != len(self.spec.selection):
            raise self.error(f"expected {len(self.spec.selection)} values ({list(self.spec.names)}), got {array.size}")
        if not np.isfinite(array).all():
            raise self.error(f"non-finite action value(s): {array.tolist()}")
        radians = (array - self._offset) / self._scale
        return dict(zip(self.spec.selection, radians.tolist(), strict=True))

    def _select_joints(self, names: list[str], values: Sequence[float], what: str) -> np.ndarray:
        key = tuple(names)
        if self._names_cache is None or self._names_cache[0] != key:
            position = {name: i for i, name in enumerate(names)}
            missing = [j for j in self.spec.selection if j not in position]
            if missing:
                raise self.error(f"joint(s) {missing} missing from the {what} (it has {names})")
            self._names_cache = (key, np.array([position[j] for j in self.spec.selection], dtype=np.int64))
        indices = self._names_cache[1]
        values = np.asarray(values, dtype=np.float64)
        if values.size != len(names):
            raise self.error(f"{what} has {len(names)} joint names but {values.size} {self.spec.field} values")
        return values[indices]

    def _trajectory(self, msg: Any) -> np.ndarray:
        if not msg.points:
            raise self.error("JointTrajectory has no points")
        point = msg.points[-1] if self.spec.point == "last" else msg.points[0]
        return self._select_joints(list(msg.joint_names), getattr(point, self.spec.field), "JointTrajectory")

    def _array(self, msg: Any) -> np.ndarray:
        data = np.asarray(msg.data, dtype=np.float64)
        assert self._indices is not None
        if self._indices.max() >= data.size:
            raise self.error(f"array has {data.size} values; the contract reads indices {self._indices.tolist()}")
        return data[self._indices]

    def _image(self, msg: Any) -> np.ndarray:
        import cv2

        image = self.spec.image
        assert image is not None
        compressed = self.spec.message_type.family == "compressed_image"
        encoding = msg.format if compressed else msg.encoding
        if image.encoding is not None and not compressed and encoding != image.encoding:
            raise self.error(f"encoding {encoding!r}, the contract expects {image.encoding!r}")
        try:
            if self.spec.kind == "depth":
                array = self._depth(msg)
            elif compressed:
                array = compressed_to_numpy(msg)
                if array.ndim == 2:
                    array = cv2.cvtColor(
                        array if array.dtype == np.uint8 else (array >> 8).astype(np.uint8), cv2.COLOR_GRAY2RGB
                    )
                array = array[:, :, :3]
            else:
                if encoding in ("16UC1", "32FC1"):
                    raise self.error(f"encoding {encoding!r} is depth data; mark the feature depth: true")
                array = to_rgb8(msg)
        except ImageConversionError as error:
            raise self.error(str(error)) from None
        height, width = array.shape[:2]
        if (height, width) != (image.height, image.width):
            if not image.resize:
                raise self.error(
                    f"image is {width}x{height}, the contract expects {image.width}x{image.height} "
                    "(set image.resize: true to resize)"
                )
            interpolation = cv2.INTER_NEAREST if self.spec.kind == "depth" else cv2.INTER_AREA
            array = cv2.resize(np.ascontiguousarray(array), (image.width, image.height), interpolation=interpolation)
        return np.ascontiguousarray(array)  # a view of the message's buffer when no conversion was needed

    def _depth(self, msg: Any) -> np.ndarray:
        if msg.encoding not in ("16UC1", "mono16", "32FC1"):
            raise self.error(f"encoding {msg.encoding!r} is not depth (16UC1 millimetres or 32FC1 metres)")
        array = image_to_numpy(msg)
        if msg.encoding == "32FC1":
            metres = np.nan_to_num(array.astype(np.float64), nan=0.0, posinf=0.0, neginf=0.0)
            return np.clip(np.rint(metres * 1000.0), 0, 65535).astype(np.uint16)
        return array.astype(np.uint16, copy=False)


def converters(contract: Contract) -> dict[str, FeatureConverter]:
    """One converter per feature of the contract, by feature key."""
    return {spec.key: FeatureConverter(spec) for spec in contract.features_spec}


def action_to_joint_positions(contract: Contract, values: Sequence[float] | np.ndarray) -> dict[str, float]:
    """LeRobot `action` values → joint positions in radians by joint name (for the policy node)."""
    spec = contract.action
    if spec is None:
        raise FeatureValueError(f"{contract.source}: the contract has no 'action' feature")
    return FeatureConverter(spec).to_joint_positions(values)
