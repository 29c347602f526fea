"""Video features: codecs, exact timestamps, depth quantisation, frames dropped when the encoder is behind."""

from __future__ import annotations

import json
from pathlib import Path

import av
import numpy as np
import pyarrow.parquet as pq
import pytest

from lerobot_ros_record.dataset import DatasetWriter, DepthQuantizer, FeatureSpecError, WriterConfig

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
            "info": {"is_depth_map": True},
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


def lerobot_codes(depth_mm: np.ndarray) -> np.ndarray:
    """LeRobot 0.6 depth codes with its defaults, in float64: rint(4095 ln((d + 3500) / 3510) / ln(13500 / 3510))."""
    ratio = np.log((depth_mm.astype(np.float64) + 3500) / 3510) / np.log(13500 / 3510)
    return np.clip(ratio * 4095, 0, 4095)


def lerobot_metres(codes: np.ndarray) -> np.ndarray:
    """LeRobot 0.6's dequantisation with its defaults: 3.51 (13.5 / 3.51) ** (c / 4095) - 3.5, clipped to 0.01..10."""
    return np.clip(3.51 * (13.5 / 3.51) ** (codes.astype(np.float64) / 4095) - 3.5, 0.01, 10.0)


def test_depth_is_lossless_12_bit_with_lerobot_06_quantisation(tmp_path: Path) -> None:
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

    features = json.loads((root / "meta/info.json").read_text())["features"]
    assert features[DEPTH]["shape"] == [48, 64, 1]
    info = features[DEPTH]["info"]
    assert info["is_depth_map"] is True
    assert "video.is_depth_map" not in info  # LeRobot 0.6 migrates the old flag away
    assert info["depth_unit"] == "mm"
    assert info["video.codec"] == "hevc"
    assert info["video.pix_fmt"] == "gray12le"
    assert info["video.channels"] == 1
    quantisation = [info["video.depth_min"], info["video.depth_max"], info["video.shift"], info["video.use_log"]]
    assert quantisation == [0.01, 10.0, 3.5, True]
    assert features[CAMERA]["info"]["video.is_depth_map"] is False  # colour videos stay as LeRobot 0.4.4 writes them

    times, codes = decode(root / f"videos/{DEPTH}/chunk-000/file-000.mp4")
    np.testing.assert_allclose(times, [k / 30 for k in range(11)], atol=1e-6)
    originals = [depth_map(i) for n in (6, 5) for i in range(n)]
    for original, decoded_codes in zip(originals, codes, strict=True):
        exact = lerobot_codes(original)
        clear = np.abs(exact - np.floor(exact) - 0.5) > 0.01  # float32 may round the other way right at .5
        np.testing.assert_array_equal(decoded_codes[clear], np.rint(exact[clear]))  # lossless
        assert np.abs(decoded_codes.astype(float) - exact).max() < 0.51
        truth_m = np.clip(original / 1000.0, 0.01, 10.0)  # holes (0 mm) decode as 10 mm: LeRobot has no "no depth"
        half_step_m = (truth_m + 3.5) * np.log(13.5 / 3.51) / 4095 / 2
        assert np.all(np.abs(lerobot_metres(decoded_codes) - truth_m) <= half_step_m * 1.02)
    stats = json.loads((root / "meta/stats.json").read_text())[DEPTH]
    recorded = np.stack(originals).astype(np.float64)  # 11 frames < 100: every frame is sampled, 64 px: full size
    assert np.asarray(stats["mean"]).shape == (1, 1, 1)
    assert stats["count"] == [11]
    assert np.asarray(stats["min"]).item() == 0  # holes, in recorded millimetres
    assert np.asarray(stats["max"]).item() == recorded.max() > 10_000  # millimetres, not clamped
    assert np.asarray(stats["mean"]).item() == pytest.approx(recorded.mean(), rel=1e-9)


def test_depth_codes_match_lerobot_06_by_hand() -> None:
    """Codes and depths worked out by hand from LeRobot 0.6.1's formula, e.g. 1000 mm:
    4095 ln(4500 / 3510) / ln(13500 / 3510) = 755.30 -> 755, and back 3.51 (13.5 / 3.51) ** (755 / 4095) - 3.5."""
    quantizer = DepthQuantizer()
    mm = np.array([0, 10, 11, 100, 500, 1000, 2000, 5000, 10000, 12000, 65535], np.uint16)
    expected = [0, 0, 1, 77, 397, 755, 1365, 2689, 4095, 4095, 4095]
    assert quantizer.encode(mm).dtype == np.uint16
    assert quantizer.encode(mm).tolist() == expected
    np.testing.assert_array_equal(quantizer.encode(mm.reshape(1, -1)), [expected])  # any shape
    codes = np.array([0, 1, 77, 755, 4095], np.uint16)
    metres = quantizer.decode(codes)
    assert metres.dtype == np.float32
    np.testing.assert_allclose(metres, [0.01, 0.0111548, 0.1000424, 0.9995509, 10.0], atol=1e-6)  # float32, 1 µm
    linear = DepthQuantizer(use_log=False)  # 4095 (1000 - 10) / 9990 = 405.81 -> 406; 0.01 + 406 * 9.99 / 4095
    assert linear.encode(np.array([0, 1000, 10000], np.uint16)).tolist() == [0, 406, 4095]
    np.testing.assert_allclose(linear.decode(np.array([406], np.uint16)), [1.0004615], rtol=2e-6)
    assert quantizer.info() == {
        "video.depth_min": 0.01,
        "video.depth_max": 10.0,
        "video.shift": 3.5,
        "video.use_log": True,
    }
    with pytest.raises(ValueError, match="depth range"):
        DepthQuantizer(1.0, 0.5)
    with pytest.raises(ValueError, match="min \\+ shift > 0"):
        DepthQuantizer(0.01, 10.0, shift_m=-0.5)
    with pytest.raises(FeatureSpecError, match="depth range"):
        WriterConfig(fps=30, depth_min_m=2.0, depth_max_m=1.0)


def test_resume_keeps_the_datasets_depth_quantisation(tmp_path: Path) -> None:
    root = tmp_path / "ds"
    one_metre = np.full((48, 64), 1000, np.uint16)
    custom = WriterConfig(fps=15, depth_max_m=4.0, depth_shift_m=1.0)
    for config in (custom, WriterConfig(fps=15)):
        if root.exists():
            writer = DatasetWriter.resume(root, config)
        else:
            writer = DatasetWriter.create(root, "t/d", camera_features(depth=True), config)
        writer.start_episode("reach")
        for i in range(3):
            writer.add_frame({"observation.state": np.array([i, 0], np.float32), CAMERA: gradient(i), DEPTH: one_metre})
        writer.save_episode()
        writer.finalize()
    assert writer.config.depth == DepthQuantizer(0.01, 4.0, 1.0, True)
    info = json.loads((root / "meta/info.json").read_text())["features"][DEPTH]["info"]
    assert (info["video.depth_max"], info["video.shift"]) == (4.0, 1.0)
    _, codes = decode(root / f"videos/{DEPTH}/chunk-000/file-000.mp4")
    # 1 m with min 0.01 m, max 4 m, shift 1 m: 4095 ln(2 / 1.01) / ln(5 / 1.01) = 1749.12 -> 1749, in both episodes
    assert len(codes) == 6
    assert all(np.all(c == 1749) for c in codes)


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
