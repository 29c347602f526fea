"""camera_node playing a lossless video file, observed over DDS from another process."""

from __future__ import annotations

import itertools
import subprocess
import time
from pathlib import Path

import av
import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import CameraInfo, CompressedImage, Image

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_core.messages.images import compressed_to_numpy, image_to_numpy
from lerobot_ros_core.node.stamps import to_nanoseconds
from lerobot_ros_drivers.cameras.capture import CameraError, Capture, CaptureThread, EndOfStream
from lerobot_ros_drivers.cameras.opencv import OpenCVCamera, OpenCVCameraConfig

WIDTH, HEIGHT, FRAMES = 96, 64, 24
INSTALL_LIB = Path(__file__).resolve().parents[3] / "install" / "lerobot_ros_drivers" / "lib" / "lerobot_ros_drivers"


def make_frames() -> list[np.ndarray]:
    """Smooth gradients (JPEG-friendly) with a per-frame blue level and a noise patch (exactness)."""
    rng = np.random.default_rng(3)
    yy, xx = np.mgrid[0:HEIGHT, 0:WIDTH]
    frames = []
    for index in range(FRAMES):
        frame = np.dstack([xx * 255 // WIDTH, yy * 255 // HEIGHT, np.full_like(xx, index * 10)]).astype(np.uint8)
        frame[:8, :8] = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        frames.append(frame)
    return frames


def write_lossless_video(path: Path, frames: list[np.ndarray], fps: int = 30) -> Path:
    with av.open(str(path), "w") as container:
        stream = container.add_stream("ffv1", rate=fps)
        stream.width, stream.height, stream.pix_fmt = WIDTH, HEIGHT, "bgr0"
        for frame in frames:
            container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    return path


@pytest.fixture(scope="module")
def video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[np.ndarray]]:
    frames = make_frames()
    return write_lossless_video(tmp_path_factory.mktemp("video") / "frames.mkv", frames), frames


def frame_index(image: np.ndarray, frames: list[np.ndarray]) -> int:
    matches = [i for i, frame in enumerate(frames) if np.array_equal(image, frame)]
    assert len(matches) == 1, "a published frame differs from every frame of the file"
    return matches[0]


def test_file_source_reads_every_frame_exactly_then_ends(video) -> None:
    path, frames = video
    camera = OpenCVCamera(OpenCVCameraConfig(str(path)))
    camera.open()
    assert (camera.width, camera.height, camera.nominal_fps, camera.paced) == (WIDTH, HEIGHT, 30.0, False)
    read = []
    with pytest.raises(EndOfStream):
        while True:
            read.append(camera.read().color)
    camera.close()
    assert len(read) == FRAMES
    for image, frame in zip(read, frames, strict=True):
        np.testing.assert_array_equal(image, frame)


def test_capture_thread_paces_a_file_and_stamps_monotonically(video) -> None:
    path, frames = video
    received = []
    ticks = iter(range(10**9, 10**12, 10**6))
    capture = CaptureThread(
        OpenCVCamera(OpenCVCameraConfig(str(path), fps=200.0)), received.append, lambda: next(ticks)
    )
    capture.start()
    capture._thread.join(30)
    stats = capture.snapshot()
    assert stats.finished and stats.frames == FRAMES and stats.dropped == 0
    assert [f.sequence for f in received] == list(range(FRAMES))
    assert all(b.stamp_ns > a.stamp_ns for a, b in itertools.pairwise(received))
    assert [frame_index(f.color, frames) for f in received] == list(range(FRAMES))


def test_missing_sources_are_clear_errors(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r"neither a device .* nor a file"):
        OpenCVCamera(OpenCVCameraConfig(str(tmp_path / "missing.mkv")))
    with pytest.raises(CameraError, match="fourcc 'MJPEG' must have 4 characters"):
        OpenCVCamera(OpenCVCameraConfig("0", fourcc="MJPEG"))
    camera = OpenCVCamera(OpenCVCameraConfig("/dev/video63"))
    with pytest.raises(CameraError, match="cannot open camera device /dev/video63: no such device"):
        camera.open()
    not_a_video = tmp_path / "notes.mkv"
    not_a_video.write_text("not a video")
    with pytest.raises(CameraError, match="video file cannot be decoded"):
        OpenCVCamera(OpenCVCameraConfig(str(not_a_video))).open()


def test_camera_node_exits_with_a_clear_error_for_a_missing_file(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(INSTALL_LIB / "camera_node"), "--ros-args", "-p", f"source:={tmp_path / 'nothing.mkv'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "neither a device (index, /dev/videoN) nor a file" in result.stderr


def test_camera_node_publishes_pixel_exact_frames_with_monotonic_stamps(video, ros_graph, ros_probe) -> None:
    path, frames = video
    node = NodeSpec(
        "lerobot_ros_drivers",
        "camera_node",
        "front_camera",
        parameters=[{"name": "front", "source": str(path), "fps": 15.0, "loop": True, "publish_compressed": True}],
    )
    ros_graph([node], topics=["/cameras/front/image_raw", "/cameras/front/camera_info"])
    images = ros_probe.collect("/cameras/front/image_raw", Image)
    compressed = ros_probe.collect("/cameras/front/image_raw/compressed", CompressedImage)
    infos = ros_probe.collect("/cameras/front/camera_info", CameraInfo)
    diagnostics = ros_probe.collect("/diagnostics", DiagnosticArray)
    ros_probe.wait_until(lambda: len(images) >= 30 and len(compressed) >= 5, timeout=90, message="too few frames")

    received = list(images)
    indices = [frame_index(image_to_numpy(msg), frames) for msg in received]
    steps = [(b - a) % FRAMES for a, b in itertools.pairwise(indices)]
    assert all(step >= 1 for step in steps), f"frames repeated or out of order: {indices}"
    assert sum(steps) < 2 * len(steps), f"too many frames skipped: {indices}"  # best effort may lose a few
    stamps = [to_nanoseconds(msg.header.stamp) for msg in received]
    assert all(b > a for a, b in itertools.pairwise(stamps)), "stamps are not strictly increasing"
    assert {msg.encoding for msg in received} == {"rgb8"}
    assert {msg.header.frame_id for msg in received} == {"front_optical_frame"}

    for msg in list(compressed)[:5]:
        decoded = compressed_to_numpy(msg).astype(int)
        errors = [np.abs(decoded - frame).mean() for frame in frames]
        assert min(errors) < 3.0, "JPEG frame too far from every source frame"
        assert sorted(errors)[1] > 2 * min(errors), "JPEG frame does not identify one source frame"

    info = infos[-1]
    assert (info.width, info.height) == (WIDTH, HEIGHT)
    assert info.k[0] == 0.0  # no calibration file: ROS's "uncalibrated" convention

    def capture_status():
        for array in list(diagnostics):
            for status in array.status:
                if status.name.endswith("front_camera: capture"):
                    values = {kv.key: kv.value for kv in status.values}
                    if int(values["frames"]) > 10:
                        return status, values
        return None

    ros_probe.wait_until(lambda: capture_status() is not None, timeout=30, message="no capture diagnostics")
    _status, values = capture_status()
    assert values["source"] == f"file {path}" and int(values["dropped"]) == 0


def test_camera_info_comes_from_the_calibration_file(video, tmp_path: Path, ros_graph, ros_probe) -> None:
    path, _ = video
    calibration = tmp_path / "front.yaml"
    calibration.write_text(
        f"""image_width: {WIDTH}
image_height: {HEIGHT}
camera_name: front
camera_matrix: {{rows: 3, cols: 3, data: [80.0, 0, 47.5, 0, 81.0, 31.5, 0, 0, 1]}}
distortion_model: plumb_bob
distortion_coefficients: {{rows: 1, cols: 5, data: [-0.1, 0.01, 0.0, 0.0, 0.0]}}
rectification_matrix: {{rows: 3, cols: 3, data: [1, 0, 0, 0, 1, 0, 0, 0, 1]}}
projection_matrix: {{rows: 3, cols: 4, data: [79.0, 0, 47.0, 0, 0, 80.0, 31.0, 0, 0, 0, 1, 0]}}
"""
    )
    node = NodeSpec(
        "lerobot_ros_drivers",
        "camera_node",
        "calibrated_camera",
        parameters=[{"name": "calibrated", "source": str(path), "loop": True, "calibration_file": str(calibration)}],
    )
    ros_graph([node], topics=["/cameras/calibrated/camera_info"])
    info = ros_probe.wait_for_message("/cameras/calibrated/camera_info", CameraInfo, timeout=60)
    assert list(info.k) == [80.0, 0, 47.5, 0, 81.0, 31.5, 0, 0, 1]
    assert list(info.d) == [-0.1, 0.01, 0.0, 0.0, 0.0]
    assert list(info.p)[:3] == [79.0, 0, 47.0]
    assert info.distortion_model == "plumb_bob"


class UnpluggableCamera:
    """A device that is unplugged after 5 frames and comes back after two failed reopen attempts."""

    nominal_fps = 100.0
    paced = True

    def __init__(self) -> None:
        self.reads = self.opens = 0

    def describe(self) -> str:
        return "device test"

    def open(self) -> None:
        self.opens += 1
        if 2 <= self.opens <= 3:
            raise CameraError("cannot open camera device test: no such device")

    def read(self) -> Capture:
        self.reads += 1
        if self.reads == 6:
            raise CameraError("camera device test: no frame (unplugged?)")
        pixels = np.full((2, 2, 3), self.reads % 256, np.uint8)
        return Capture(pixels, frame_number=self.reads + (3 if self.reads > 8 else 0))

    def close(self) -> None:
        pass


def test_capture_thread_reconnects_after_an_unplug_and_counts_drops() -> None:
    received = []
    errors = []
    source = UnpluggableCamera()
    capture = CaptureThread(source, received.append, reconnect_period_s=0.01, on_error=errors.append)
    capture.start()
    try:
        deadline = time.monotonic() + 30
        while len(received) < 12 and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        capture.stop()
    stats = capture.snapshot()
    assert len(received) >= 12 and source.opens == 4
    assert stats.reconnects == 1 and stats.read_errors == 1
    assert stats.dropped == 3  # frame numbers 8 -> 12 after the reconnect
    assert errors[0].startswith("camera device test: no frame (unplugged?); reopening every 0.01 s")
    assert "no such device" in errors[1]
