"""Write a RealSense recording from arrays, without a camera (rs.software_device + rs.recorder).

librealsense ≥ 2.58 records to `.db3` (rosbag2/sqlite). The result plays back through the same
`enable_device_from_file` path as a recording made with a real camera, which makes it a fixture
for tests and demos of the RealSense node on machines without the device.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from lerobot_ros_drivers.cameras.calibration import CameraModel
from lerobot_ros_drivers.cameras.capture import CameraError


def write_synthetic_recording(
    path: str | Path,
    color_frames: Sequence[np.ndarray],
    depth_frames_mm: Sequence[np.ndarray] | None = None,
    *,
    fps: int = 30,
    model: CameraModel | None = None,
    serial: str = "000000000001",
    name: str = "Synthetic RealSense",
) -> Path:
    """Record rgb8 colour frames (and uint16 millimetre depth, same size, same pixels) to `path` (.db3).

    Depth and colour share intrinsics and an identity extrinsic, so depth aligned to colour equals
    the depth given. `model` defaults to a 60° pinhole centred on the image.
    """
    import pyrealsense2 as rs

    path = Path(path)
    if path.suffix != ".db3":
        raise CameraError(f"synthetic recordings are written as .db3 (librealsense ≥ 2.58), got {path.name!r}")
    if not color_frames:
        raise CameraError("a recording needs at least one colour frame")
    height, width = color_frames[0].shape[:2]
    if depth_frames_mm is not None and len(depth_frames_mm) != len(color_frames):
        raise CameraError(f"{len(color_frames)} colour frames but {len(depth_frames_mm)} depth frames")
    if model is None:
        focal = width / (2.0 * np.tan(np.radians(30.0)))
        model = CameraModel.pinhole(width, height, fx=focal, fy=focal, cx=width / 2.0, cy=height / 2.0)
    path.unlink(missing_ok=True)

    intrinsics = rs.intrinsics()
    intrinsics.width, intrinsics.height = width, height
    intrinsics.fx, intrinsics.fy, intrinsics.ppx, intrinsics.ppy = model.k[0], model.k[4], model.k[2], model.k[5]
    intrinsics.model = rs.distortion.brown_conrady
    intrinsics.coeffs = [float(x) for x in (list(model.d) + [0.0] * 5)[:5]]

    device = rs.software_device()
    device.register_info(rs.camera_info.serial_number, serial)
    device.register_info(rs.camera_info.name, name)
    streams = [(device.add_sensor("RGB Camera"), rs.stream.color, rs.format.rgb8, 3, color_frames)]
    if depth_frames_mm is not None:
        streams.append((device.add_sensor("Stereo Module"), rs.stream.depth, rs.format.z16, 2, depth_frames_mm))
    profiles = []
    for uid, (sensor, kind, fmt, bpp, _) in enumerate(streams):
        stream = rs.video_stream()
        stream.type, stream.index, stream.uid = kind, 0, uid
        stream.width, stream.height, stream.fps, stream.bpp, stream.fmt = width, height, fps, bpp, fmt
        stream.intrinsics = intrinsics
        profiles.append(sensor.add_video_stream(stream))
    if depth_frames_mm is not None:
        streams[1][0].add_read_only_option(rs.option.depth_units, 0.001)
        identity = rs.extrinsics()
        identity.rotation = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        identity.translation = [0.0, 0.0, 0.0]
        profiles[1].register_extrinsics_to(profiles[0], identity)

    recorder = rs.recorder(str(path), device)
    queues = []
    for (sensor, *_), profile in zip(streams, profiles, strict=True):
        queue = rs.frame_queue(len(color_frames) + 1)
        sensor.open(profile)
        sensor.start(queue)
        queues.append(queue)
    for index in range(len(color_frames)):
        for (sensor, _, _, bpp, frames), profile in zip(streams, profiles, strict=True):
            pixels = np.ascontiguousarray(frames[index])
            expected = (height, width, 3) if bpp == 3 else (height, width)
            if pixels.shape != expected:
                raise CameraError(f"frame {index}: shape {pixels.shape}, expected {expected}")
            frame = rs.software_video_frame()
            frame.pixels = pixels
            frame.bpp, frame.stride = bpp, width * bpp
            frame.timestamp = index * 1000.0 / fps
            frame.domain = rs.timestamp_domain.hardware_clock
            frame.frame_number = index
            frame.profile = profile.as_video_stream_profile()
            if bpp == 2:
                frame.depth_units = 0.001
            sensor.on_video_frame(frame)
        time.sleep(0.03)  # the recorder writes from its own thread; keep frame order per stream
    for sensor, *_ in streams:
        sensor.stop()
        sensor.close()
    del recorder  # flushes and closes the file
    return path
