"""A simulated camera: renders the arm from its URDF and joint positions, so sim datasets hold real video.

The URDF's joint chain gives each link's pose (forward kinematics in numpy); each link's visual
boxes and cylinders are projected through a pinhole camera and painted far-to-near with simple
shading, over a floor grid and a ball that rolls around the table with time. The images change
exactly when the arm (or time) does, which is what a policy trained on sim data needs to see.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from lerobot_ros_drivers.cameras.calibration import CameraModel

DEFAULT_URDF = Path(__file__).resolve().parent.parent / "description" / "so101.urdf"


def _rotation_rpy(roll: float, pitch: float, yaw: float) -> np.ndarray:
    cr, sr, cp, sp, cy, sy = (
        math.cos(roll),
        math.sin(roll),
        math.cos(pitch),
        math.sin(pitch),
        math.cos(yaw),
        math.sin(yaw),
    )
    return np.array(
        [
            [cy * cp, cy * sp * sr - sy * cr, cy * sp * cr + sy * sr],
            [sy * cp, sy * sp * sr + cy * cr, sy * sp * cr - cy * sr],
            [-sp, cp * sr, cp * cr],
        ]
    )


def _transform(xyz: np.ndarray, rotation: np.ndarray) -> np.ndarray:
    matrix = np.eye(4)
    matrix[:3, :3], matrix[:3, 3] = rotation, xyz
    return matrix


def _origin(element: ET.Element | None) -> np.ndarray:
    if element is None:
        return np.eye(4)
    xyz = np.array([float(v) for v in element.get("xyz", "0 0 0").split()])
    rpy = [float(v) for v in element.get("rpy", "0 0 0").split()]
    return _transform(xyz, _rotation_rpy(*rpy))


def _axis_rotation(axis: np.ndarray, angle: float) -> np.ndarray:
    x, y, z = axis / np.linalg.norm(axis)
    c, s = math.cos(angle), math.sin(angle)
    return np.array(
        [
            [c + x * x * (1 - c), x * y * (1 - c) - z * s, x * z * (1 - c) + y * s],
            [y * x * (1 - c) + z * s, c + y * y * (1 - c), y * z * (1 - c) - x * s],
            [z * x * (1 - c) - y * s, z * y * (1 - c) + x * s, c + z * z * (1 - c)],
        ]
    )


@dataclass
class Joint:
    name: str
    kind: str
    parent: str
    child: str
    origin: np.ndarray
    axis: np.ndarray


@dataclass
class Box:
    link: str
    origin: np.ndarray
    size: np.ndarray
    color: tuple[int, int, int]


@dataclass
class RobotModel:
    """Kinematic chain and visual boxes of a URDF (cylinders drawn as their bounding boxes)."""

    root: str
    joints: list[Joint]
    boxes: list[Box]

    @classmethod
    def from_urdf(cls, path: str | Path = DEFAULT_URDF) -> RobotModel:
        root_element = ET.parse(path).getroot()
        materials = {
            m.get("name"): m.find("color") for m in root_element.findall("material") if m.find("color") is not None
        }
        joints = []
        for element in root_element.findall("joint"):
            axis = element.find("axis")
            joints.append(
                Joint(
                    element.get("name"),
                    element.get("type"),
                    element.find("parent").get("link"),
                    element.find("child").get("link"),
                    _origin(element.find("origin")),
                    np.array([float(v) for v in (axis.get("xyz") if axis is not None else "1 0 0").split()]),
                )
            )
        boxes = []
        for link in root_element.findall("link"):
            for visual in link.findall("visual"):
                geometry = visual.find("geometry")
                if geometry is None:
                    continue
                box, cylinder = geometry.find("box"), geometry.find("cylinder")
                if box is not None:
                    size = np.array([float(v) for v in box.get("size").split()])
                elif cylinder is not None:
                    radius, length = float(cylinder.get("radius")), float(cylinder.get("length"))
                    size = np.array([2 * radius, 2 * radius, length])
                else:
                    continue
                material = visual.find("material")
                color_element = None
                if material is not None:
                    color_element = material.find("color")
                    if color_element is None:
                        color_element = materials.get(material.get("name"))
                rgba = [float(v) for v in color_element.get("rgba").split()] if color_element is not None else [0.7] * 3
                color = tuple(int(255 * c) for c in rgba[:3])
                boxes.append(Box(link.get("name"), _origin(visual.find("origin")), size, color))
        children = {j.child for j in joints}
        roots = [link.get("name") for link in root_element.findall("link") if link.get("name") not in children]
        if len(roots) != 1:
            raise ValueError(f"URDF {path}: expected one root link, found {roots}")
        return cls(roots[0], joints, boxes)

    def link_poses(self, positions: dict[str, float]) -> dict[str, np.ndarray]:
        """World (root) pose of every link for the given joint positions (missing joints at 0)."""
        poses = {self.root: np.eye(4)}
        pending = list(self.joints)
        while pending:
            progressed = False
            for joint in list(pending):
                if joint.parent not in poses:
                    continue
                q = positions.get(joint.name, 0.0)
                motion = np.eye(4)
                if joint.kind in ("revolute", "continuous"):
                    motion[:3, :3] = _axis_rotation(joint.axis, q)
                elif joint.kind == "prismatic":
                    motion[:3, 3] = joint.axis * q
                poses[joint.child] = poses[joint.parent] @ joint.origin @ motion
                pending.remove(joint)
                progressed = True
            if not progressed:
                raise ValueError(f"joints not connected to {self.root}: {[j.name for j in pending]}")
        return poses


_BOX_CORNERS = np.array([[x, y, z] for x in (-0.5, 0.5) for y in (-0.5, 0.5) for z in (-0.5, 0.5)])
_SHIFT = 4  # OpenCV sub-pixel drawing: coordinates in 1/16 pixel
_SUBPIXEL = 1 << _SHIFT
_BOX_FACES = ((0, 1, 3, 2), (4, 6, 7, 5), (0, 4, 5, 1), (2, 3, 7, 6), (0, 2, 6, 4), (1, 5, 7, 3))


@dataclass
class SimCameraConfig:
    width: int = 640
    height: int = 480
    horizontal_fov_deg: float = 60.0
    eye: list[float] = field(default_factory=lambda: [0.55, -0.50, 0.42])
    """Camera position in the robot's base frame (metres)."""
    target: list[float] = field(default_factory=lambda: [0.15, 0.0, 0.12])
    """Point the camera looks at."""


class SimCameraRenderer:
    """Renders rgb8 frames of a URDF robot from joint positions and time."""

    def __init__(self, config: SimCameraConfig, model: RobotModel) -> None:
        self.config = config
        self.model = model
        focal = config.width / (2.0 * math.tan(math.radians(config.horizontal_fov_deg) / 2.0))
        self.camera_model = CameraModel.pinhole(
            config.width, config.height, fx=focal, fy=focal, cx=(config.width - 1) / 2.0, cy=(config.height - 1) / 2.0
        )
        eye, target = np.array(config.eye, float), np.array(config.target, float)
        forward = (target - eye) / np.linalg.norm(target - eye)
        right = np.cross(forward, [0.0, 0.0, 1.0])
        right /= np.linalg.norm(right)
        down = np.cross(forward, right)
        self._world_to_camera = np.vstack([right, down, forward])  # rows: optical frame axes
        self._eye = eye
        self._background = self._draw_background()

    def project(self, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Pixel coordinates (N, 2) and depths (N,) of world points (N, 3)."""
        camera = (points - self._eye) @ self._world_to_camera.T
        depth = camera[:, 2]
        k = self.camera_model.k
        safe = np.maximum(depth, 1e-3)
        pixels = np.stack([k[0] * camera[:, 0] / safe + k[2], k[4] * camera[:, 1] / safe + k[5]], axis=1)
        return pixels, depth

    def _draw_background(self) -> np.ndarray:
        import cv2

        width, height = self.config.width, self.config.height
        shade = np.linspace(200, 150, height, dtype=np.float32)[:, None, None]
        image = np.ascontiguousarray(
            np.broadcast_to(shade * np.array([0.85, 0.9, 1.0], np.float32), (height, width, 3)), np.uint8
        )
        lines = [([x, -0.4, 0.0], [x, 0.4, 0.0]) for x in np.arange(-0.3, 0.61, 0.05)]
        lines += [([-0.3, y, 0.0], [0.6, y, 0.0]) for y in np.arange(-0.4, 0.41, 0.05)]
        for start, end in lines:
            pixels, depth = self.project(np.linspace(start, end, 40))
            visible = pixels[depth > 0.05]
            if len(visible) > 1:
                polyline = np.round(visible * _SUBPIXEL).astype(np.int32)
                cv2.polylines(image, [polyline], False, (120, 120, 130), 1, cv2.LINE_AA, _SHIFT)
        return image

    def render(self, positions: dict[str, float], time_s: float) -> np.ndarray:
        import cv2

        image = self._background.copy()
        ball_angle = 2.0 * math.pi * time_s / 6.0
        ball = np.array([[0.25 + 0.08 * math.cos(ball_angle), 0.12 * math.sin(ball_angle), 0.02]])
        ball_pixel, ball_depth = self.project(ball)
        radius = self.camera_model.k[0] * 0.02 / max(float(ball_depth[0]), 1e-3)
        faces = []
        poses = self.model.link_poses(positions)
        light = np.array([0.3, -0.5, 0.8]) / np.linalg.norm([0.3, -0.5, 0.8])
        for box in self.model.boxes:
            pose = poses[box.link] @ box.origin
            corners = (_BOX_CORNERS * box.size) @ pose[:3, :3].T + pose[:3, 3]
            pixels, depth = self.project(corners)
            if np.any(depth < 0.05):
                continue
            for face in _BOX_FACES:
                normal = np.cross(corners[face[1]] - corners[face[0]], corners[face[3]] - corners[face[0]])
                normal /= np.linalg.norm(normal) + 1e-12
                center = corners[list(face)].mean(axis=0)
                if np.dot(normal, self._eye - center) <= 0:
                    continue  # facing away
                brightness = 0.45 + 0.55 * max(0.0, float(np.dot(normal, light)))
                color = tuple(int(c * brightness) for c in box.color)
                faces.append((float(depth[list(face)].mean()), pixels[list(face)], color))
        faces.append((float(ball_depth[0]), None, (200, 40, 40)))
        for _, polygon, color in sorted(faces, key=lambda f: -f[0]):
            if polygon is None:
                center = tuple(int(v) for v in np.round(ball_pixel[0] * _SUBPIXEL))
                cv2.circle(image, center, int(radius * _SUBPIXEL), color, -1, cv2.LINE_AA, _SHIFT)
                continue
            points = np.round(polygon * _SUBPIXEL).astype(np.int32)
            cv2.fillConvexPoly(image, points, color, cv2.LINE_AA, _SHIFT)
            cv2.polylines(image, [points], True, tuple(c // 2 for c in color), 1, cv2.LINE_AA, _SHIFT)
        return image
