"""RealSense: a synthetic recording (software device + recorder) played back by the camera and the node."""

from __future__ import annotations

import subprocess
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import CameraInfo, Image

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_core.messages.images import image_to_numpy
from lerobot_ros_drivers.cameras.calibration import CameraModel
from lerobot_ros_drivers.cameras.capture import CameraError, EndOfStream
from lerobot_ros_drivers.cameras.realsense import RealSenseCamera, RealSenseConfig
from lerobot_ros_drivers.cameras.realsense_recording import write_synthetic_recording

WIDTH, HEIGHT, FRAMES = 64, 48, 12
MODEL = CameraModel.pinhole(WIDTH, HEIGHT, fx=58.0, fy=59.0, cx=31.5, cy=23.5)
INSTALL_LIB = Path(__file__).resolve().parents[3] / "install" / "lerobot_ros_drivers" / "lib" / "lerobot_ros_drivers"


def recorded_frames() -> tuple[list[np.ndarray], list[np.ndarray]]:
    rng = np.random.default_rng(11)
    colors, depths = [], []
    for index in range(FRAMES):
        color = rng.integers(0, 256, (HEIGHT, WIDTH, 3), dtype=np.uint8)
        color[0, 0] = (index, 255 - index, 7)
        depth = np.full((HEIGHT, WIDTH), 400 + 50 * index, np.uint16)
        depth[12:30, 20:44] = 1500 + index  # a nearer box
        colors.append(color)
        depths.append(depth)
    return colors, depths


@pytest.fixture(scope="module")
def recording(tmp_path_factory: pytest.TempPathFactory):
    colors, depths = recorded_frames()
    path = write_synthetic_recording(
        tmp_path_factory.mktemp("realsense") / "synthetic.db3", colors, depths, fps=30, model=MODEL, serial="424242"
    )
    return path, colors, depths


def read_all(camera: RealSenseCamera):
    camera.open()
    captures = []
    try:
        while True:
            captures.append(camera.read())
    except EndOfStream:
        pass
    finally:
        camera.close()
    return captures


def test_playback_without_alignment_gives_the_recorded_values(recording) -> None:
    path, colors, depths = recording
    camera = RealSenseCamera(RealSenseConfig(file=str(path), align_depth=False))
    captures = read_all(camera)
    assert camera.serial == "424242" and camera.nominal_fps == 30.0
    assert camera.color_model.k == pytest.approx(MODEL.k)
    # Playback may skip framesets on a loaded machine (librealsense drops what its queue cannot hold);
    # the frame numbers say which, and what arrives is exact.
    numbers = [c.frame_number for c in captures]
    assert numbers == sorted(set(numbers)) and len(numbers) >= FRAMES // 2
    for capture in captures:
        np.testing.assert_array_equal(capture.color, colors[capture.frame_number])
        np.testing.assert_array_equal(capture.depth, depths[capture.frame_number])
        assert capture.depth.dtype == np.uint16


def test_depth_aligned_to_colour_keeps_the_recorded_millimetres(recording) -> None:
    """Same intrinsics, identity extrinsics: aligned depth equals the recording except alignment holes (0)."""
    path, colors, depths = recording
    captures = read_all(RealSenseCamera(RealSenseConfig(file=str(path), align_depth=True)))
    assert len(captures) >= FRAMES // 2
    for capture in captures:
        expected = depths[capture.frame_number]
        valid = capture.depth != 0
        assert valid.mean() > 0.85
        np.testing.assert_array_equal(capture.depth[valid], expected[valid])
        np.testing.assert_array_equal(capture.color, colors[capture.frame_number])


def test_clear_errors_without_a_device_or_recording(tmp_path: Path) -> None:
    with pytest.raises(CameraError, match=r"recording .*missing.db3' does not exist"):
        RealSenseCamera(RealSenseConfig(file=str(tmp_path / "missing.db3")))
    with pytest.raises(CameraError, match="no RealSense device found"):
        RealSenseCamera(RealSenseConfig(serial="123")).open()
    with pytest.raises(CameraError, match=r"written as \.db3"):
        write_synthetic_recording(tmp_path / "x.bag", [np.zeros((4, 4, 3), np.uint8)])
    broken = tmp_path / "broken.db3"
    broken.write_bytes(b"not a recording")
    with pytest.raises(CameraError, match="cannot play back"):
        RealSenseCamera(RealSenseConfig(file=str(broken))).open()


def test_realsense_node_without_a_device_exits_with_the_reason(tmp_path: Path) -> None:
    result = subprocess.run(
        [str(INSTALL_LIB / "realsense_node"), "--ros-args", "-p", f"file:={tmp_path / 'missing.db3'}"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 1
    assert "missing.db3' does not exist" in result.stderr


def test_realsense_node_publishes_recorded_colour_and_depth(recording, ros_graph, ros_probe) -> None:
    path, colors, depths = recording
    node = NodeSpec(
        "lerobot_ros_drivers",
        "realsense_node",
        "wrist_realsense",
        parameters=[{"name": "wrist", "file": str(path), "loop": True, "align_depth": False}],
    )
    ros_graph([node], topics=["/cameras/wrist/image_raw", "/cameras/wrist/depth/image_raw"])
    images = ros_probe.collect("/cameras/wrist/image_raw", Image)
    depth_images = ros_probe.collect("/cameras/wrist/depth/image_raw", Image)
    infos = ros_probe.collect("/cameras/wrist/camera_info", CameraInfo)
    depth_infos = ros_probe.collect("/cameras/wrist/depth/camera_info", CameraInfo)
    ros_probe.wait_until(lambda: len(images) >= 15 and len(depth_images) >= 15 and depth_infos, timeout=90)

    by_stamp = {}
    for msg in list(images):
        color = image_to_numpy(msg)
        (index,) = [i for i, c in enumerate(colors) if np.array_equal(c, color)]
        by_stamp[(msg.header.stamp.sec, msg.header.stamp.nanosec)] = index
    matched = 0
    for msg in list(depth_images):
        assert msg.encoding == "16UC1"
        key = (msg.header.stamp.sec, msg.header.stamp.nanosec)
        if key in by_stamp:  # colour and depth of one frameset share the capture stamp
            np.testing.assert_array_equal(image_to_numpy(msg), depths[by_stamp[key]])
            matched += 1
    assert matched >= 10
    assert list(infos[-1].k) == pytest.approx(MODEL.k)
    assert depth_infos[-1].header.frame_id == "wrist_depth_optical_frame"
    assert infos[-1].header.frame_id == "wrist_optical_frame"
