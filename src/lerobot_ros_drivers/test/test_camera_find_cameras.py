"""`lerobot-ros find-cameras`: lists what there is and saves a frame per camera; says so when there is none."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import av
import cv2
import numpy as np


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    executable = shutil.which("lerobot-ros")
    assert executable, "lerobot-ros is not on PATH (source scripts/env.sh)"
    return subprocess.run([executable, "find-cameras", *args], capture_output=True, text=True, timeout=120, check=False)


def test_find_cameras_saves_a_frame_from_a_given_source(tmp_path: Path) -> None:
    frame = np.zeros((48, 64, 3), np.uint8)
    frame[:, :, 0] = np.arange(64, dtype=np.uint8) * 4
    frame[10:20, 30:40] = (0, 200, 100)
    video = tmp_path / "clip.mkv"
    with av.open(str(video), "w") as container:
        stream = container.add_stream("ffv1", rate=30)
        stream.width, stream.height, stream.pix_fmt = 64, 48, "bgr0"
        container.mux(stream.encode(av.VideoFrame.from_ndarray(frame, format="rgb24")))
        container.mux(stream.encode())
    result = run_cli("opencv", "--source", str(video), "--output-dir", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    saved = tmp_path / "out" / "opencv_clip.mkv.png"
    assert f"64x48 frame saved to {saved}" in result.stdout
    np.testing.assert_array_equal(cv2.imread(str(saved))[:, :, ::-1], frame)


def test_find_cameras_without_cameras_says_so(tmp_path: Path) -> None:
    result = run_cli("realsense", "--output-dir", str(tmp_path))
    assert result.returncode == 1
    assert "RealSense: no devices" in result.stdout
    assert "no cameras found" in result.stderr
