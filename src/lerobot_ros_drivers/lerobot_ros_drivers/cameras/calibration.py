"""Camera models for CameraInfo: from ROS calibration YAML files or device intrinsics.

The YAML format is the one `camera_calibration` writes and `camera_info_manager` reads
(image_width, image_height, camera_name, camera_matrix, distortion_model,
distortion_coefficients, rectification_matrix, projection_matrix; matrices as rows/cols/data).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import yaml
from sensor_msgs.msg import CameraInfo
from std_msgs.msg import Header

IDENTITY_3X3 = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]


class CameraCalibrationError(ValueError):
    """A calibration file is missing, malformed or does not match the camera."""


@dataclass
class CameraModel:
    width: int
    height: int
    k: list[float]
    """3×3 intrinsic matrix, row-major."""
    d: list[float] = field(default_factory=list)
    distortion_model: str = "plumb_bob"
    r: list[float] = field(default_factory=lambda: list(IDENTITY_3X3))
    p: list[float] | None = None
    """3×4 projection matrix; defaults to [K | 0]."""

    @classmethod
    def pinhole(
        cls, width: int, height: int, *, fx: float, fy: float, cx: float, cy: float, d: list[float] | None = None
    ) -> CameraModel:
        return cls(width, height, [fx, 0.0, cx, 0.0, fy, cy, 0.0, 0.0, 1.0], list(d or [0.0] * 5))

    @classmethod
    def uncalibrated(cls, width: int, height: int) -> CameraModel:
        """ROS's convention for a camera without calibration: all-zero K (consumers check K[0])."""
        return cls(width, height, [0.0] * 9, [], "", list(IDENTITY_3X3), [0.0] * 12)

    def to_camera_info(self, header: Header | None = None) -> CameraInfo:
        info = CameraInfo()
        if header is not None:
            info.header = header
        info.width, info.height = self.width, self.height
        info.distortion_model = self.distortion_model
        info.d = [float(x) for x in self.d]
        info.k = [float(x) for x in self.k]
        info.r = [float(x) for x in self.r]
        k = self.k
        info.p = [float(x) for x in (self.p or [k[0], k[1], k[2], 0.0, k[3], k[4], k[5], 0.0, 0.0, 0.0, 1.0, 0.0])]
        return info


def _matrix(data: dict, key: str, rows: int, cols: int, path: Path) -> list[float]:
    entry = data.get(key)
    if not isinstance(entry, dict) or "data" not in entry:
        raise CameraCalibrationError(f"calibration {path}: '{key}' is missing or has no 'data'")
    values = [float(x) for x in entry["data"]]
    if len(values) != rows * cols:
        raise CameraCalibrationError(f"calibration {path}: '{key}' has {len(values)} values, expected {rows}×{cols}")
    return values


def load_calibration(path: str | Path) -> CameraModel:
    """Read a ROS camera calibration YAML file."""
    path = Path(path).expanduser()
    try:
        data = yaml.safe_load(path.read_text())
    except OSError as error:
        raise CameraCalibrationError(f"calibration {path}: cannot read ({error.strerror})") from error
    except yaml.YAMLError as error:
        raise CameraCalibrationError(f"calibration {path}: not valid YAML ({error})") from error
    if not isinstance(data, dict) or "image_width" not in data or "image_height" not in data:
        raise CameraCalibrationError(f"calibration {path}: needs image_width and image_height")
    distortion = data.get("distortion_coefficients", {}) or {}
    return CameraModel(
        width=int(data["image_width"]),
        height=int(data["image_height"]),
        k=_matrix(data, "camera_matrix", 3, 3, path),
        d=[float(x) for x in distortion.get("data", [])],
        distortion_model=str(data.get("distortion_model", "plumb_bob")),
        r=_matrix(data, "rectification_matrix", 3, 3, path) if "rectification_matrix" in data else list(IDENTITY_3X3),
        p=_matrix(data, "projection_matrix", 3, 4, path) if "projection_matrix" in data else None,
    )
