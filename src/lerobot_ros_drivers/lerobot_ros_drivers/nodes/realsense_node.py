"""RealSense node: colour (rgb8) + depth aligned to colour (16UC1, mm) + CameraInfo from the device.

Opens the device with `serial` (or whose name contains `device_name`), or plays back `file`
(a .bag/.db3 recording) frame by frame at its recorded rate. Topics: `cameras/<name>/image_raw`,
`camera_info`, `depth/image_raw`, `depth/camera_info`, optionally `image_raw/compressed`.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node

from lerobot_ros_core.node.diagnostics import DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_drivers.cameras.capture import CapturedFrame
from lerobot_ros_drivers.cameras.publishing import CameraOutputConfig, CameraTopics, start_capture
from lerobot_ros_drivers.cameras.realsense import RealSenseCamera, RealSenseConfig


@dataclass
class RealSenseNodeConfig(CameraOutputConfig):
    name: str = param("realsense", "camera name: topics are cameras/<name>/...")
    serial: str = param("", "serial number of the device ('' = by device_name, else the first device)")
    device_name: str = param("", "part of the device name, e.g. D435 (when no serial is given)")
    file: str = param("", "play back this recording (.bag / .db3) instead of a device")
    width: int = param(640, "colour and depth width", min=1, max=4096)
    height: int = param(480, "colour and depth height", min=1, max=4096)
    fps: int = param(30, "frame rate", min=1, max=300)
    depth: bool = param(True, "publish depth (16UC1, millimetres)")
    align_depth: bool = param(True, "align depth to the colour image (same pixels and camera_info)")
    loop: bool = param(False, "recordings: start again at the end")
    reconnect_period: float = param(1.0, "seconds between attempts to reopen a lost device", min=0.05, max=60.0)


class RealSenseNode(Node):
    def __init__(self) -> None:
        super().__init__("realsense")
        self.config = cfg = declare_parameters(self, RealSenseNodeConfig)
        self.camera = RealSenseCamera(
            RealSenseConfig(
                cfg.serial, cfg.device_name, cfg.file, cfg.width, cfg.height, cfg.fps, cfg.depth, cfg.align_depth
            )
        )
        depth_frame_id = "" if cfg.align_depth else f"{cfg.name}_depth_optical_frame"
        self.topics = CameraTopics(
            self,
            cfg,
            depth=cfg.depth,
            depth_frame_id=depth_frame_id,
        )
        self.diagnostics = DiagnosticsReporter(
            self, hardware_id=cfg.file or cfg.serial or cfg.device_name, period_s=cfg.diagnostics_period
        )
        self.capture = start_capture(
            self,
            self.camera,
            self._publish,
            self.topics,
            self.diagnostics,
            loop=cfg.loop,
            reconnect_period_s=cfg.reconnect_period,
            diagnostics_period=cfg.diagnostics_period,
        )
        self.get_logger().info(f"{self.camera.describe()} on {self.topics.base}/image_raw")

    def _publish(self, frame: CapturedFrame) -> None:
        if not self.context.ok():  # the capture thread outlives the context for a moment at shutdown
            return
        self.topics.publish(frame, self.camera.color_model, self.camera.depth_model)

    def destroy_node(self) -> None:
        self.capture.stop()
        super().destroy_node()


def main() -> int:
    return run_node(RealSenseNode)
