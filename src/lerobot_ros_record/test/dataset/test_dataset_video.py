"""Video features: codecs, exact timestamps, depth quantisation, frames dropped when the encoder is behind."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import DatasetWriter, DepthQuantizer, WriterConfig

CAMERA = "observation.images.cam"
DEPTH = "observation.images.cam_depth"


def camera_features(height: int = 48, width: int = 64, depth: bool = False) -> dict:
    features = {
        "observation.state": {"dtype": "float32", "shape": [2], "names": ["a", "b"]},
        CAMERA: {"dtype": "video", "shape": [height, width, 3], "names": ["height", "width", "channels"]},
    }
    if depth:
        features[DEPTH] = {
            "dtype": "video",
            "shape": [height, width, 1],
            "names": ["height", "width", "channels"],
            "info": {"video.is_depth_map": True},
        }
    return features


def gradient(frame_index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """A smooth moving pattern (codec friendly, so pixel errors measure the codec, not noise)."""
    y, x = np.mgrid[0:height, 0:width]
    image = np.stack([(x * 4 + frame_index * 3) % 256, (y * 5) % 256, np.full_like(x, 128)], axis=-1)
    return image.astype(np.uint8)


def depth_map(frame_index: int, height: int = 48, width: int = 64) -> np.ndarray:
    """Millimetres from 5 mm (clamped to 10 mm) to 12 m (clamped to 10 m), with holes (0)."""
    depth = np.geomspace(5, 12_000, height * width).reshape(height, width) * (1 + 0.01 * frame_index)
    depth = depth.astype(np.uint16)
    depth[::7, ::5] = 0
    return depth


def decode(path: Path) -> tuple[list[float], list[np.ndarray]]:
    with av.open(str(path)) as container:
        stream = container.streams.video[0]
        frames = list(container.decode(stream))
        fmt = "gray12le" if stream.pix_fmt == "gray12le" else "rgb24"
        return [f.time for f in frames], [f.to_ndarray(format=fmt) for f in frames]


def episodes_of(root: Path) -> list[dict]:
    return pq.read_table(root / "meta/episodes/chunk-000/file-000.parquet").to_pylist()


@pytest.mark.parametrize(("codec", "canonical"), [("libsvtav1", "av1"), ("h264", "h264"), ("hevc", "hevc")])
def test_codecs_keep_exact_timestamps_and_pixels(tmp_path: Path, codec: str, canonical: str) -> None:
    root = tmp_path / "ds"
    writer = DatasetWriter.create(root, "t/v", camera_features(), WriterConfig(fps=15, video_codec=codec))
    lengths = [9, 4, 12]
    for episode, length in enumerate(lengths):
        writer.start_episode("look")
        for i in range(length):
            writer.add_frame({"observation.state": np.array([i, episode], np.float32), CAMERA: gradient(i)})
        writer.save_episode()
    writer.finalize()

    info = json.loads((root / "meta/info.json").read_text())["features"][CAMERA]["info"]
    assert info["video.codec"] == canonical
    assert info["video.pix_fmt"] == "yuv420p"
    assert info["video.fps"] == 15
    times, images = decode(root / f"videos/{CAMERA}/chunk-000/file-000.mp4")
    episodes = episodes_of(root)
    expected_times = [ep[f"videos/{CAMERA}/from_timestamp"] + k / 15 for ep in episodes for k in range(ep["length"])]
    np.testing.assert_allclose(times, expected_times, atol=1e-6)
    expected = np.stack([gradient(i) for n in lengths for i in range(n)]).astype(int)
    error = np.abs(np.stack(images).astype(int) - expected)
    assert error.mean() < 4, f"{codec}: mean abs pixel error {error.mean():.2f}"


def test_depth_is_lossless_12_bit_log_quantised(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    writer = DatasetWriter.create(root, "t/d", camera_features(depth=True), WriterConfig(fps=30))
    for episode, length in enumerate([6, 5]):
        writer.start_episode("reach")
        for i in range(length):
            writer.add_frame(
                {
                    "observation.state": np.array([i, episode], np.float32),
                    CAMERA: gradient(i),
                    DEPTH: depth_map(i) if i % 2 else depth_map(i)[..., None],  # (H, W) or (H, W, 1)
                }
            )
        writer.save_episode()
    writer.finalize()

    info = json.loads((root / "meta/info.json").read_text())["features"][DEPTH]["info"]
    assert info["video.is_depth_map"] is True
    assert info["video.codec"] == "hevc"
    assert info["video.pix_fmt"] == "gray12le"
    assert info["video.channels"] == 1
    assert (info["video.depth_min_m"], info["video.depth_max_m"]) == (0.01, 10.0)
    camera_info = json.loads((root / "meta/info.json").read_text())["features"][CAMERA]["info"]
    assert camera_info["video.is_depth_map"] is False

    times, codes = decode(root / f"videos/{DEPTH}/chunk-000/file-000.mp4")
    np.testing.assert_allclose(times, [k / 30 for k in range(11)], atol=1e-6)
    quantizer = DepthQuantizer(0.01, 10.0)
    originals = [depth_map(i) for n in (6, 5) for i in range(n)]
    for original, decoded_codes in zip(originals, codes, strict=True):
        np.testing.assert_array_equal(decoded_codes, quantizer.encode(original))  # lossless
        metres = quantizer.decode(decoded_codes)
        truth = np.clip(original / 1000.0, 0.01, 10.0)
        valid = original > 0
        assert np.all(metres[~valid] == 0)
        relative = np.abs(metres[valid] - truth[valid]) / truth[valid]
        assert relative.max() < 0.00085  # half a log step: ln(1000) / 4094 / 2
    stats = json.loads((root / "meta/stats.json").read_text())[DEPTH]
    assert np.asarray(stats["mean"]).shape == (1, 1, 1)
    assert np.asarray(stats["min"]).item() == 0  # holes
    assert np.asarray(stats["max"]).item() == pytest.approx(10.0)  # metres, clamped like the stored codes


def test_depth_quantizer_round_trip_and_range() -> None:
    quantizer = DepthQuantizer()
    mm = np.array([0, 1, 10, 11, 100, 1000, 9999, 10000, 65535], np.uint16)
    codes = quantizer.encode(mm)
    assert codes[0] == 0 and codes[1] == 1 and codes[2] == 1 and codes[-1] == 4095 and codes[-2] == 4095
    assert np.all(np.diff(codes[1:].astype(int)) >= 0)
    np.testing.assert_allclose(quantizer.decode(codes)[[4, 5]], [0.1, 1.0], rtol=0.001)
    with pytest.raises(ValueError, match="depth range"):
        DepthQuantizer(1.0, 0.5)


def test_frames_dropped_when_encoder_is_behind_are_counted_and_filled(tmp_path: Path) -> None:
    """A 1-frame queue at 640x480 overflows; the video still has one frame per row at exact timestamps."""
    root = tmp_path / "ds"
    config = WriterConfig(fps=30, encoder_queue_size=1)
    writer = DatasetWriter.create(root, "t/drop", camera_features(480, 640), config)
    writer.start_episode("hurry")
    frames = [gradient(i, 480, 640) for i in range(40)]
    for i, frame in enumerate(frames):
        writer.add_frame({"observation.state": np.array([i, 0], np.float32), CAMERA: frame})
    summary = writer.save_episode()
    writer.finalize()
    assert summary.length == 40
    assert summary.dropped_video_frames[CAMERA] > 0
    assert summary.total_dropped_frames == summary.dropped_video_frames[CAMERA]
    times, images = decode(root / f"videos/{CAMERA}/chunk-000/file-000.mp4")
    np.testing.assert_allclose(times, [k / 30 for k in range(40)], atol=1e-6)
    # each decoded frame is the frame recorded at its index or, if that one was dropped, an earlier one
    errors = np.array([[np.abs(img.astype(int) - f.astype(int)).mean() for f in frames] for img in images])
    best = errors.argmin(axis=1)
    assert best[0] == 0
    assert np.all(best <= np.arange(40))
    assert np.all(np.diff(best) >= 0)
    assert (best != np.arange(40)).sum() >= 1


def test_resume_keeps_the_datasets_codec(tmp_path: Path) -> None:
    """Appending h264 packets to an AV1 file would break it: resume keeps the codec the dataset has."""
    root = tmp_path / "ds"
    for config in (WriterConfig(fps=15, video_codec="h264"), WriterConfig(fps=15)):
        if root.exists():
            writer = DatasetWriter.resume(root, config)
        else:
            writer = DatasetWriter.create(root, "t/v", camera_features(), config)
        writer.start_episode("look")
        for i in range(5):
            writer.add_frame({"observation.state": np.array([i, 0], np.float32), CAMERA: gradient(i)})
        writer.save_episode()
        writer.finalize()
    assert writer.config.video_codec == "h264"
    times, _ = decode(root / f"videos/{CAMERA}/chunk-000/file-000.mp4")
    np.testing.assert_allclose(times, [k / 15 for k in range(10)], atol=1e-6)
    with av.open(str(root / f"videos/{CAMERA}/chunk-000/file-000.mp4")) as container:
        assert container.streams.video[0].codec_context.name == "h264"
