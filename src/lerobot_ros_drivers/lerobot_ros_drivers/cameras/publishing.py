"""The topics of one camera (image, info, compressed, depth) and turning frames into messages.

Shared by the OpenCV, RealSense and simulated camera nodes so that all publish the same topics
(`cameras/<name>/...`, relative, so a namespace applies), with the sensor QoS, the same frame ids
and the same capture stamps. Encoding work is skipped for topics nobody subscribes to.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sensor_msgs.msg import CameraInfo, CompressedImage, Image
from std_msgs.msg import Header

from lerobot_ros_core.messages.images import numpy_to_compressed, numpy_to_image
from lerobot_ros_core.node.diagnostics import ERROR, OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.params import param
from lerobot_ros_core.node.qos import SENSOR_QOS
from lerobot_ros_core.node.stamps import time_from_nanoseconds
from lerobot_ros_drivers.cameras.calibration import CameraModel
from lerobot_ros_drivers.cameras.capture import CapturedFrame, CaptureThread, FrameSource


@dataclass
class CameraOutputConfig:
    """The parameters every camera node shares (subclassed by each node's config, which may change the
    default name): topic names, frame id, the JPEG stream, diagnostics."""

    name: str = param("camera", "camera name: topics are cameras/<name>/...")
    frame_id: str = param("", "optical frame id of the colour image ('' = <name>_optical_frame)")
    publish_compressed: bool = param(False, "also publish image_raw/compressed (JPEG)")
    jpeg_quality: int = param(90, "JPEG quality of image_raw/compressed", min=1, max=100)
    diagnostics_period: float = param(1.0, "diagnostics publishing period (s)", min=0.1, max=60.0)


class CameraTopics:
    def __init__(self, node, config: CameraOutputConfig, *, depth: bool = False, depth_frame_id: str = "") -> None:
        """`depth_frame_id`: optical frame of the depth image; default the colour frame (depth aligned to colour)."""
        self.config = config
        self.frame_id = config.frame_id or f"{config.name}_optical_frame"
        self.depth_frame_id = depth_frame_id or self.frame_id
        base = f"cameras/{config.name}"
        self.base = base
        self._image = node.create_publisher(Image, f"{base}/image_raw", SENSOR_QOS)
        self._info = node.create_publisher(CameraInfo, f"{base}/camera_info", SENSOR_QOS)
        self._compressed = (
            node.create_publisher(CompressedImage, f"{base}/image_raw/compressed", SENSOR_QOS)
            if config.publish_compressed
            else None
        )
        self._depth = node.create_publisher(Image, f"{base}/depth/image_raw", SENSOR_QOS) if depth else None
        self._depth_info = node.create_publisher(CameraInfo, f"{base}/depth/camera_info", SENSOR_QOS) if depth else None
        self.published = 0

    def publish(self, frame: CapturedFrame, model: CameraModel, depth_model: CameraModel | None = None) -> None:
        header = Header(stamp=time_from_nanoseconds(frame.stamp_ns), frame_id=self.frame_id)
        if self._image.get_subscription_count():
            self._image.publish(numpy_to_image(frame.color, "rgb8", header))
        if self._compressed is not None and self._compressed.get_subscription_count():
            self._compressed.publish(numpy_to_compressed(frame.color, "jpeg", self.config.jpeg_quality, header=header))
        self._info.publish(model.to_camera_info(header))
        if self._depth is not None and frame.depth is not None:
            depth_header = Header(stamp=header.stamp, frame_id=self.depth_frame_id)
            if self._depth.get_subscription_count():
                self._depth.publish(numpy_to_image(frame.depth, "16UC1", depth_header))
            self._depth_info.publish((depth_model or model).to_camera_info(depth_header))
        self.published += 1


def report_capture(reporter: DiagnosticsReporter, capture: CaptureThread, topics: CameraTopics) -> None:
    """Put a capture thread's state on /diagnostics: rate, drops, reconnects, last error."""
    stats = capture.snapshot()
    source = capture.source
    fps = stats.fps()
    values = {
        "source": source.describe(),
        "fps": f"{fps:.1f}",
        "nominal_fps": f"{source.nominal_fps:g}",
        "frames": stats.frames,
        "published": topics.published,
        "dropped": stats.dropped,
        "reconnects": stats.reconnects,
        "read_errors": stats.read_errors,
        "last_error": stats.last_error,
    }
    if stats.finished:
        reporter.update("capture", OK, "end of file reached", **values)
    elif not stats.connected:
        reporter.update("capture", ERROR, stats.last_error or "not connected", **values)
    elif stats.frames < 2:
        reporter.update("capture", WARN, "waiting for frames", **values)
    elif fps < 0.8 * source.nominal_fps:
        reporter.update("capture", WARN, f"low frame rate: {fps:.1f} of {source.nominal_fps:g} fps", **values)
    else:
        reporter.update("capture", OK, f"streaming at {fps:.1f} fps", **values)


def start_capture(
    node: Any,
    source: FrameSource,
    publish: Callable[[CapturedFrame], None],
    topics: CameraTopics,
    diagnostics: DiagnosticsReporter,
    *,
    loop: bool,
    reconnect_period_s: float,
    diagnostics_period: float,
) -> CaptureThread:
    """A device camera node's capture thread: stamps from the node's clock, throttled error logs,
    periodic diagnostics; started."""
    capture = CaptureThread(
        source,
        publish,
        clock=lambda: node.get_clock().now().nanoseconds,
        loop=loop,
        reconnect_period_s=reconnect_period_s,
        on_error=lambda message: node.get_logger().error(message, throttle_duration_sec=10.0),
    )
    node.create_timer(diagnostics_period, lambda: report_capture(diagnostics, capture, topics))
    capture.start()
    return capture
