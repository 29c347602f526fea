"""Simulated camera: renders the arm from its URDF and `joint_states`, publishes it like a real camera.

Sim datasets then hold video that moves with the arm (plus a ball rolling on the table with time),
on the same topics (`cameras/<name>/image_raw`, `camera_info`, optional `image_raw/compressed`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from rclpy.node import Node
from sensor_msgs.msg import JointState

from lerobot_ros_core.node.diagnostics import OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_core.node.qos import subscriber_qos
from lerobot_ros_drivers.cameras.capture import CapturedFrame
from lerobot_ros_drivers.cameras.publishing import CameraOutputConfig, CameraTopics
from lerobot_ros_drivers.cameras.sim import DEFAULT_URDF, RobotModel, SimCameraConfig, SimCameraRenderer


@dataclass
class SimCameraNodeConfig(CameraOutputConfig):
    name: str = param("sim", "camera name: topics are cameras/<name>/...")
    joint_states_topic: str = param("follower/joint_states", "joint states of the arm to render")
    urdf: str = param("", f"robot description to render ('' = {DEFAULT_URDF.name} of this package)")
    width: int = param(640, "image width", min=16, max=4096)
    height: int = param(480, "image height", min=16, max=4096)
    fps: float = param(30.0, "frame rate", min=0.1, max=240.0)
    horizontal_fov: float = param(60.0, "horizontal field of view (degrees)", min=5.0, max=170.0)
    eye: list[float] = param([0.55, -0.50, 0.42], "camera position in the robot base frame (m)")
    target: list[float] = param([0.15, 0.0, 0.12], "point the camera looks at, base frame (m)")


class SimCameraNode(Node):
    def __init__(self) -> None:
        super().__init__("sim_camera")
        self.config = cfg = declare_parameters(self, SimCameraNodeConfig)
        if len(cfg.eye) != 3 or len(cfg.target) != 3:
            raise ValueError(f"eye {cfg.eye} and target {cfg.target} must be 3 values (x, y, z)")
        model = RobotModel.from_urdf(cfg.urdf or DEFAULT_URDF)
        self.renderer = SimCameraRenderer(
            SimCameraConfig(cfg.width, cfg.height, cfg.horizontal_fov, list(cfg.eye), list(cfg.target)), model
        )
        self.topics = CameraTopics(self, cfg)
        self.diagnostics = DiagnosticsReporter(self, hardware_id=f"sim:{cfg.name}", period_s=cfg.diagnostics_period)
        self.positions: dict[str, float] = {}
        self.joint_states_received = 0
        self.last_joint_state = 0.0
        self.create_subscription(JointState, cfg.joint_states_topic, self._on_joint_state, subscriber_qos(10))
        self.sequence = 0
        self.create_timer(1.0 / cfg.fps, self._render)
        self.create_timer(cfg.diagnostics_period, self._report)
        self.get_logger().info(f"rendering {cfg.joint_states_topic} on {self.topics.base}/image_raw")

    def _on_joint_state(self, msg: JointState) -> None:
        if len(msg.position) != len(msg.name):
            return
        self.positions.update((n, p) for n, p in zip(msg.name, msg.position, strict=True) if math.isfinite(p))
        self.joint_states_received += 1
        self.last_joint_state = time.monotonic()

    def _render(self) -> None:
        stamp = self.get_clock().now()
        image = self.renderer.render(self.positions, stamp.nanoseconds * 1e-9)
        self.topics.publish(CapturedFrame(image, stamp.nanoseconds, self.sequence), self.renderer.camera_model)
        self.sequence += 1

    def _report(self) -> None:
        age = time.monotonic() - self.last_joint_state if self.joint_states_received else float("inf")
        level, message = (OK, "rendering joint states") if age < 1.0 else (WARN, "no recent joint states: arm static")
        self.diagnostics.update(
            "sim camera",
            level,
            message,
            frames=self.sequence,
            joint_states=self.joint_states_received,
            topic=self.config.joint_states_topic,
        )


def main() -> int:
    return run_node(SimCameraNode)
