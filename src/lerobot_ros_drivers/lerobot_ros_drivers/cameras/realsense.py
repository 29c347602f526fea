"""Intel RealSense capture through pyrealsense2: colour + depth aligned to colour, or a recording.

Depth comes out as uint16 millimetres (ROS 16UC1 convention) whatever the device's depth unit.
Recordings (.bag, or .db3 from librealsense ≥ 2.58) play back frame by frame, not in real time,
so every recorded frame is published once at the recorded rate.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lerobot_ros_drivers.cameras.calibration import CameraModel
from lerobot_ros_drivers.cameras.capture import CameraError, Capture, EndOfStream


@dataclass
class RealSenseConfig:
    serial: str = ""
    """Serial number of the device to open ("" with no name: the only/first device)."""
    name: str = ""
    """Part of the device name, e.g. "D435" (used when no serial is given)."""
    file: str = ""
    """Play back this recording instead of a device."""
    width: int = 640
    height: int = 480
    fps: int = 30
    depth: bool = True
    align_depth: bool = True
    """Reproject depth into the colour camera, so both images share pixels and CameraInfo."""
    timeout_s: float = 2.0
    """A device that delivers no frame for this long counts as disconnected."""


def _rs():
    try:
        import pyrealsense2
    except ImportError as error:  # libusb-1.0 missing is the usual cause
        raise CameraError(
            f"pyrealsense2 cannot be imported ({error}); install it (pip install pyrealsense2) and "
            "libusb-1.0-0 (apt install libusb-1.0-0)"
        ) from error
    return pyrealsense2


_DISTORTION_MODELS = {
    "brown_conrady": "plumb_bob",
    "modified_brown_conrady": "plumb_bob",
    "inverse_brown_conrady": "plumb_bob",
    "none": "plumb_bob",
    "kannala_brandt4": "equidistant",
}


def camera_model_from_intrinsics(intrinsics) -> CameraModel:
    """CameraInfo model of a pyrealsense2.intrinsics."""
    model_name = str(intrinsics.model).rsplit(".", 1)[-1]
    coefficients = list(intrinsics.coeffs)
    model = CameraModel.pinhole(
        intrinsics.width, intrinsics.height, fx=intrinsics.fx, fy=intrinsics.fy, cx=intrinsics.ppx, cy=intrinsics.ppy
    )
    model.distortion_model = _DISTORTION_MODELS.get(model_name, "plumb_bob")
    model.d = coefficients[:4] if model.distortion_model == "equidistant" else coefficients
    return model


@dataclass
class RealSenseDeviceInfo:
    name: str
    serial: str
    firmware: str
    usb: str
    modes: list[str]


def list_realsense_devices() -> list[RealSenseDeviceInfo]:
    """Connected RealSense devices with their video stream modes."""
    rs = _rs()
    found = []
    for device in rs.context().query_devices():

        def info(key, device=device) -> str:
            return device.get_info(key) if device.supports(key) else ""

        modes = set()
        for sensor in device.query_sensors():
            for profile in sensor.get_stream_profiles():
                if profile.is_video_stream_profile():
                    video = profile.as_video_stream_profile()
                    kind = profile.stream_type().name
                    modes.add(f"{kind} {video.width()}x{video.height()}@{profile.fps()} {profile.format().name}")
        found.append(
            RealSenseDeviceInfo(
                info(rs.camera_info.name),
                info(rs.camera_info.serial_number),
                info(rs.camera_info.firmware_version),
                info(rs.camera_info.usb_type_descriptor),
                sorted(modes),
            )
        )
    return found


def _select_device(config: RealSenseConfig) -> str:
    """Serial number of the device `config` asks for, or a CameraError naming what is connected."""
    rs = _rs()
    devices = [
        (d.get_info(rs.camera_info.serial_number), d.get_info(rs.camera_info.name))
        for d in rs.context().query_devices()
    ]
    if not devices:
        raise CameraError("no RealSense device found (plugged in? USB 3 cable? udev rules for non-root users?)")
    connected = ", ".join(f"{name} (serial {serial})" for serial, name in devices)
    if config.serial:
        if config.serial not in [serial for serial, _ in devices]:
            raise CameraError(f"no RealSense device with serial {config.serial!r}; connected: {connected}")
        return config.serial
    if config.name:
        matches = [serial for serial, name in devices if config.name.lower() in name.lower()]
        if not matches:
            raise CameraError(f"no RealSense device named like {config.name!r}; connected: {connected}")
        return matches[0]
    return devices[0][0]


class RealSenseCamera:
    """A `FrameSource` over a RealSense pipeline (device or recording)."""

    def __init__(self, config: RealSenseConfig) -> None:
        self.config = config
        self.is_file = bool(config.file)
        if self.is_file and not Path(config.file).expanduser().is_file():
            raise CameraError(f"RealSense recording {config.file!r} does not exist")
        self.paced = not self.is_file
        self.nominal_fps = float(config.fps)
        self.color_model: CameraModel | None = None
        self.depth_model: CameraModel | None = None
        self.serial = ""
        self.device_name = ""
        self._pipeline = None
        self._align = None
        self._has_depth = False

    def describe(self) -> str:
        if self.is_file:
            return f"RealSense recording {self.config.file}"
        return f"RealSense {self.config.serial or self.config.name or '(first device)'}"

    def open(self) -> None:
        rs = _rs()
        self.close()
        config = self.config
        rs_config = rs.config()
        if self.is_file:
            rs_config.enable_device_from_file(str(Path(config.file).expanduser()), repeat_playback=False)
        else:
            rs_config.enable_device(_select_device(config))
            rs_config.enable_stream(rs.stream.color, config.width, config.height, rs.format.rgb8, config.fps)
            if config.depth:
                rs_config.enable_stream(rs.stream.depth, config.width, config.height, rs.format.z16, config.fps)
        pipeline = rs.pipeline()
        try:
            profile = pipeline.start(rs_config)
        except RuntimeError as error:
            if self.is_file:
                raise CameraError(f"cannot play back {config.file!r}: {error}") from error
            raise CameraError(
                f"{self.describe()}: unsupported mode colour{' + depth' if config.depth else ''} "
                f"{config.width}x{config.height}@{config.fps} ({error}); `lerobot-ros find-cameras` lists the modes"
            ) from error
        device = profile.get_device()
        if self.is_file:
            device.as_playback().set_real_time(False)
        self.serial = device.get_info(rs.camera_info.serial_number)
        self.device_name = device.get_info(rs.camera_info.name)
        streams = {s.stream_type(): s.as_video_stream_profile() for s in profile.get_streams()}
        if rs.stream.color not in streams:
            pipeline.stop()
            raise CameraError(f"{self.describe()}: has no colour stream")
        color = streams[rs.stream.color]
        self.nominal_fps = float(color.fps()) or self.nominal_fps
        self.color_model = camera_model_from_intrinsics(color.get_intrinsics())
        self._has_depth = config.depth and rs.stream.depth in streams
        if self._has_depth:
            depth_intrinsics = streams[rs.stream.depth].get_intrinsics()
            self.depth_model = (
                self.color_model if config.align_depth else camera_model_from_intrinsics(depth_intrinsics)
            )
        self._align = rs.align(rs.stream.color) if self._has_depth and config.align_depth else None
        self._pipeline = pipeline

    def read(self) -> Capture:
        if self._pipeline is None:
            raise CameraError(f"{self.describe()} is not open")
        try:
            ok, frames = self._pipeline.try_wait_for_frames(int(self.config.timeout_s * 1000))
        except RuntimeError as error:
            raise CameraError(f"{self.describe()}: {error}") from error
        if not ok:
            if self.is_file:
                raise EndOfStream
            raise CameraError(f"{self.describe()}: no frames for {self.config.timeout_s:g} s (unplugged?)")
        if self._align is not None:
            frames = self._align.process(frames)
        color_frame = frames.get_color_frame()
        if not color_frame:
            raise CameraError(f"{self.describe()}: frameset without a colour frame")
        color = _color_to_rgb8(color_frame)
        depth = None
        if self._has_depth:
            depth_frame = frames.get_depth_frame()
            if depth_frame:
                depth = _depth_to_millimetres(depth_frame)
        return Capture(color, depth, int(color_frame.get_frame_number()))

    def close(self) -> None:
        if self._pipeline is not None:
            with contextlib.suppress(RuntimeError):  # already stopped by an unplug
                self._pipeline.stop()
            self._pipeline = None


def _color_to_rgb8(frame) -> np.ndarray:
    import cv2

    rs = _rs()
    data = np.asanyarray(frame.get_data())
    fmt = frame.get_profile().format()
    conversions = {
        rs.format.bgr8: cv2.COLOR_BGR2RGB,
        rs.format.rgba8: cv2.COLOR_RGBA2RGB,
        rs.format.bgra8: cv2.COLOR_BGRA2RGB,
        rs.format.yuyv: cv2.COLOR_YUV2RGB_YUY2,
        rs.format.uyvy: cv2.COLOR_YUV2RGB_UYVY,
    }
    if fmt == rs.format.rgb8:
        return data.copy()
    if fmt in conversions:
        if data.ndim == 2:  # packed 4:2:2 arrives as (h, w) uint16 or (h, 2w) bytes
            data = data.view(np.uint8).reshape(frame.get_height(), frame.get_width(), 2)
        return cv2.cvtColor(data, conversions[fmt])
    raise CameraError(f"RealSense colour format {fmt.name} is not supported (rgb8, bgr8, rgba8, bgra8, yuyv, uyvy)")


def _depth_to_millimetres(frame) -> np.ndarray:
    raw = np.asanyarray(frame.get_data())
    units_m = frame.as_depth_frame().get_units()
    if abs(units_m - 0.001) < 1e-7:
        return raw.copy()
    return np.clip(np.rint(raw * (units_m * 1000.0)), 0, 65535).astype(np.uint16)
