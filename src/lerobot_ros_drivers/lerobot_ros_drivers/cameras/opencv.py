"""OpenCV capture: V4L2 devices (index or /dev/videoN) and video files, frames as rgb8 arrays."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from lerobot_ros_drivers.cameras.capture import CameraError, Capture, EndOfStream


@dataclass
class OpenCVCameraConfig:
    source: str = "0"
    """Device index ("0"), device path ("/dev/video0") or a video file path."""
    width: int = 0
    """Requested frame width (0: the device's default)."""
    height: int = 0
    fps: float = 0.0
    """Requested rate (0: the device's default; for files, the file's rate)."""
    fourcc: str = ""
    """Pixel format requested from the device, e.g. "MJPG" (needed for 30 fps at high resolutions)."""


_DEVICE_PATH = re.compile(r"^/dev/video(\d+)$")


def is_device(source: str) -> bool:
    """True for a device index or /dev/videoN path, False for a video file."""
    return source.isdigit() or _DEVICE_PATH.match(source) is not None


class OpenCVCamera:
    """A `FrameSource` over cv2.VideoCapture; devices go through V4L2, files through FFmpeg."""

    def __init__(self, config: OpenCVCameraConfig) -> None:
        if config.fourcc and len(config.fourcc) != 4:
            raise CameraError(f"fourcc {config.fourcc!r} must have 4 characters (e.g. 'MJPG', 'YUYV')")
        self.config = config
        self.is_file = not is_device(config.source)
        if self.is_file and not Path(config.source).is_file():
            raise CameraError(f"camera source {config.source!r} is neither a device (index, /dev/videoN) nor a file")
        self.paced = not self.is_file
        self.nominal_fps = config.fps or 30.0
        self.width, self.height = config.width, config.height
        self._capture = None

    def describe(self) -> str:
        return f"{'file' if self.is_file else 'device'} {self.config.source}"

    def open(self) -> None:
        import cv2

        self.close()
        if self.is_file:
            capture = cv2.VideoCapture(self.config.source, cv2.CAP_FFMPEG)
        else:
            target = int(self.config.source) if self.config.source.isdigit() else self.config.source
            capture = cv2.VideoCapture(target, cv2.CAP_V4L2)
        if not capture.isOpened():
            capture.release()
            what = "video file cannot be decoded" if self.is_file else "no such device, or it is busy"
            raise CameraError(f"cannot open camera {self.describe()}: {what}")
        if not self.is_file:
            self._configure_device(capture)
        else:
            self.nominal_fps = self.config.fps or capture.get(cv2.CAP_PROP_FPS) or 30.0
        self.width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        self.height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        self._capture = capture

    def _configure_device(self, capture) -> None:
        import cv2

        config = self.config
        if config.fourcc:
            capture.set(cv2.CAP_PROP_FOURCC, cv2.VideoWriter_fourcc(*config.fourcc))
        if config.width:
            capture.set(cv2.CAP_PROP_FRAME_WIDTH, config.width)
        if config.height:
            capture.set(cv2.CAP_PROP_FRAME_HEIGHT, config.height)
        if config.fps:
            capture.set(cv2.CAP_PROP_FPS, config.fps)
        width = int(capture.get(cv2.CAP_PROP_FRAME_WIDTH))
        height = int(capture.get(cv2.CAP_PROP_FRAME_HEIGHT))
        fps = capture.get(cv2.CAP_PROP_FPS)
        fourcc = fourcc_name(capture.get(cv2.CAP_PROP_FOURCC))
        wrong_size = (config.width and width != config.width) or (config.height and height != config.height)
        wrong_fps = config.fps and abs(fps - config.fps) > 0.5
        wrong_format = config.fourcc and fourcc != config.fourcc
        if wrong_size or wrong_fps or wrong_format:
            capture.release()
            raise CameraError(
                f"camera {self.describe()}: unsupported mode {config.width or '*'}x{config.height or '*'}"
                f"@{config.fps or '*'} {config.fourcc or '*'}; the device gives {width}x{height}@{fps:g} {fourcc}"
                " (`lerobot-ros find-cameras` lists the modes)"
            )
        self.nominal_fps = fps or config.fps or 30.0

    def read(self) -> Capture:
        import cv2

        if self._capture is None:
            raise CameraError(f"camera {self.describe()} is not open")
        if not self._capture.grab():
            if self.is_file:
                raise EndOfStream
            raise CameraError(f"camera {self.describe()}: no frame (unplugged?)")
        ok, bgr = self._capture.retrieve()
        if not ok or bgr is None:
            raise CameraError(f"camera {self.describe()}: frame could not be decoded")
        if bgr.ndim == 2:
            return Capture(cv2.cvtColor(bgr, cv2.COLOR_GRAY2RGB))
        return Capture(cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB))

    def close(self) -> None:
        if self._capture is not None:
            self._capture.release()
            self._capture = None


def fourcc_name(code: float) -> str:
    value = int(code)
    return "".join(chr((value >> (8 * i)) & 0xFF) for i in range(4)).strip("\x00")


@dataclass
class VideoDeviceInfo:
    path: str
    name: str
    modes: list[str]


def list_video_devices(sysfs: Path = Path("/sys/class/video4linux")) -> list[VideoDeviceInfo]:
    """V4L2 capture devices with their names and the modes OpenCV reports; [] where there are none."""
    devices = []
    for entry in sorted(sysfs.glob("video*"), key=lambda p: int(p.name[5:]) if p.name[5:].isdigit() else 0):
        name_file = entry / "name"
        name = name_file.read_text().strip() if name_file.exists() else entry.name
        devices.append(VideoDeviceInfo(f"/dev/{entry.name}", name, probe_modes(f"/dev/{entry.name}")))
    return devices


COMMON_MODES = ((640, 480, 30, "MJPG"), (1280, 720, 30, "MJPG"), (1920, 1080, 30, "MJPG"), (640, 480, 30, "YUYV"))


def probe_modes(device: str) -> list[str]:
    """Which of the common modes the device accepts (OpenCV cannot enumerate them; V4L2 tools can)."""
    modes = []
    for width, height, fps, fourcc in COMMON_MODES:
        camera = OpenCVCamera(OpenCVCameraConfig(device, width, height, fps, fourcc))
        try:
            camera.open()
        except CameraError:
            continue
        finally:
            camera.close()
        modes.append(f"{width}x{height}@{fps} {fourcc}")
    return modes


def first_frame(config: OpenCVCameraConfig, attempts: int = 30) -> np.ndarray:
    """One rgb8 frame (devices often return a few empty frames while they start)."""
    camera = OpenCVCamera(config)
    camera.open()
    try:
        for _ in range(attempts):
            try:
                return camera.read().color
            except CameraError:
                continue
        raise CameraError(f"camera {camera.describe()}: no frame in {attempts} attempts")
    finally:
        camera.close()
