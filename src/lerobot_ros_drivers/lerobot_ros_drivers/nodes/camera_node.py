"""OpenCV camera node: a V4L2 device (index or /dev/videoN) or a video file as ROS image topics.

Publishes `cameras/<name>/image_raw` (rgb8), `camera_info` (from `calibration_file`, else the
uncalibrated all-zero K) and, when enabled, `image_raw/compressed` (JPEG), stamped with the
capture time. Frames are captured and published in a capture thread; an unplugged device is
reopened, and rate, drops and reconnects are reported on /diagnostics.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node

from lerobot_ros_core.node.diagnostics import DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_drivers.cameras.calibration import CameraModel, load_calibration
from lerobot_ros_drivers.cameras.capture import CapturedFrame
from lerobot_ros_drivers.cameras.opencv import OpenCVCamera, OpenCVCameraConfig
from lerobot_ros_drivers.cameras.publishing import CameraOutputConfig, CameraTopics, start_capture


@dataclass
class CameraNodeConfig(CameraOutputConfig):
    name: str = param("camera", "camera name: topics are cameras/<name>/...")
    source: str = param("0", "device index, /dev/videoN path, or a video file")
    width: int = param(0, "frame width to request (0: device default)", min=0, max=8192)
    height: int = param(0, "frame height to request (0: device default)", min=0, max=8192)
    fps: float = param(0.0, "frame rate to request (0: device default; files: the file's rate)", min=0.0, max=1000.0)
    fourcc: str = param("", "pixel format to request, e.g. MJPG ('' = device default)")
    loop: bool = param(False, "video files: start again at the end")
    calibration_file: str = param("", "camera calibration YAML (camera_calibration format) for camera_info")
    reconnect_period: float = param(1.0, "seconds between attempts to reopen a lost device", min=0.05, max=60.0)


class CameraNode(Node):
    def __init__(self) -> None:
        super().__init__("camera")
        self.config = cfg = declare_parameters(self, CameraNodeConfig)
        self.camera = OpenCVCamera(OpenCVCameraConfig(cfg.source, cfg.width, cfg.height, cfg.fps, cfg.fourcc))
        self.calibration = load_calibration(cfg.calibration_file) if cfg.calibration_file else None
        self.topics = CameraTopics(self, cfg)
        self.diagnostics = DiagnosticsReporter(self, hardware_id=cfg.source, period_s=cfg.diagnostics_period)
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
        self.get_logger().info(f"camera '{cfg.name}' from {self.camera.describe()} on {self.topics.base}/image_raw")

    def _model(self, frame: CapturedFrame) -> CameraModel:
        height, width = frame.color.shape[:2]
        calibration = self.calibration
        if calibration is not None and (calibration.width, calibration.height) != (width, height):
            self.get_logger().error(
                f"calibration {self.config.calibration_file} is for {calibration.width}x{calibration.height} but "
                f"the camera gives {width}x{height}: publishing an uncalibrated camera_info"
            )
            self.calibration = calibration = None
        return calibration or CameraModel.uncalibrated(width, height)

    def _publish(self, frame: CapturedFrame) -> None:
        if not self.context.ok():  # the capture thread outlives the context for a moment at shutdown
            return
        self.topics.publish(frame, self._model(frame))

    def destroy_node(self) -> None:
        self.capture.stop()
        super().destroy_node()


def main() -> int:
    return run_node(CameraNode)
