"""numpy ↔ Image / CompressedImage: every encoding round-trips, padding and byte order, errors."""

from __future__ import annotations

import sys
import types

import numpy as np
import pytest
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header

from lerobot_ros_core.messages import images
from lerobot_ros_core.messages.images import (
    ImageConversionError,
    UnsupportedEncodingError,
    compressed_to_numpy,
    image_to_numpy,
    numpy_to_compressed,
    numpy_to_image,
    to_rgb8,
)

RNG = np.random.default_rng(7)
H, W = 6, 10


def random_array(dtype: np.dtype, channels: int) -> np.ndarray:
    shape = (H, W) if channels == 1 else (H, W, channels)
    if np.issubdtype(dtype, np.floating):
        return RNG.standard_normal(shape).astype(dtype)
    info = np.iinfo(dtype)
    return RNG.integers(info.min, info.max, size=shape, endpoint=True, dtype=dtype)


ENCODINGS = [
    ("rgb8", np.uint8, 3),
    ("bgr8", np.uint8, 3),
    ("rgba8", np.uint8, 4),
    ("bgra8", np.uint8, 4),
    ("mono8", np.uint8, 1),
    ("mono16", np.uint16, 1),
    ("8UC1", np.uint8, 1),
    ("8UC3", np.uint8, 3),
    ("16UC1", np.uint16, 1),
    ("16SC1", np.int16, 1),
    ("32SC1", np.int32, 1),
    ("32FC1", np.float32, 1),
    ("32FC3", np.float32, 3),
    ("64FC1", np.float64, 1),
    ("yuv422", np.uint8, 2),
    ("uyvy", np.uint8, 2),
    ("yuv422_yuy2", np.uint8, 2),
    ("yuyv", np.uint8, 2),
]


@pytest.mark.parametrize(("encoding", "dtype", "channels"), ENCODINGS)
def test_every_encoding_round_trips(encoding: str, dtype: type, channels: int) -> None:
    array = random_array(np.dtype(dtype), channels)
    header = Header(frame_id="cam")
    header.stamp.sec = 12
    msg = numpy_to_image(array, encoding, header)
    assert (msg.height, msg.width, msg.encoding) == (H, W, encoding)
    assert msg.step == W * channels * np.dtype(dtype).itemsize
    assert len(msg.data) == msg.step * H
    assert msg.header.frame_id == "cam" and msg.header.stamp.sec == 12
    back = image_to_numpy(msg)
    assert back.dtype == np.dtype(dtype)
    np.testing.assert_array_equal(back, array)


def test_received_data_is_viewed_not_copied() -> None:
    msg = numpy_to_image(random_array(np.dtype(np.uint8), 3), "rgb8")
    view = image_to_numpy(msg)
    view[0, 0, 0] ^= 0xFF
    assert msg.data[0] == view[0, 0, 0]  # same memory as msg.data


def test_row_padding_is_skipped() -> None:
    array = random_array(np.dtype(np.uint16), 1)
    msg = Image(height=H, width=W, encoding="16UC1", is_bigendian=sys.byteorder == "big")
    msg.step = W * 2 + 6
    padded = np.zeros((H, msg.step), dtype=np.uint8)
    padded[:, : W * 2] = array.view(np.uint8).reshape(H, W * 2)
    padded[:, W * 2 :] = 0xAB
    msg.data = padded.tobytes()[: msg.step * (H - 1) + W * 2]  # the last row's padding may be absent
    np.testing.assert_array_equal(image_to_numpy(msg), array)


def test_big_endian_data_is_converted() -> None:
    array = random_array(np.dtype(np.uint16), 1)
    msg = Image(height=H, width=W, encoding="mono16", is_bigendian=True, step=W * 2)
    msg.data = array.astype(">u2").tobytes()
    back = image_to_numpy(msg)
    assert back.dtype == np.uint16 and back.dtype.isnative
    np.testing.assert_array_equal(back, array)
    floats = random_array(np.dtype(np.float32), 1)
    msg = Image(height=H, width=W, encoding="32FC1", is_bigendian=True, step=W * 4)
    msg.data = floats.astype(">f4").tobytes()
    np.testing.assert_array_equal(image_to_numpy(msg), floats)


def test_short_data_and_short_step_are_precise_errors() -> None:
    msg = numpy_to_image(random_array(np.dtype(np.uint8), 3), "rgb8")
    msg.data = bytes(msg.data)[:-1]
    with pytest.raises(ImageConversionError, match=r"10x6 rgb8 \(step 30\): data has 179 bytes, needs 180"):
        image_to_numpy(msg)
    msg = numpy_to_image(random_array(np.dtype(np.uint8), 3), "rgb8")
    msg.step = 29
    with pytest.raises(ImageConversionError, match="step 29 is shorter than one row"):
        image_to_numpy(msg)


def test_unknown_encoding_and_mismatched_arrays_are_precise_errors() -> None:
    msg = Image(height=2, width=2, encoding="bayer_rggb8", step=2, data=bytes(4))
    with pytest.raises(UnsupportedEncodingError, match="'bayer_rggb8' is not supported"):
        image_to_numpy(msg)
    with pytest.raises(UnsupportedEncodingError, match="'rgb9'"):
        numpy_to_image(np.zeros((2, 2, 3), np.uint8), "rgb9")
    with pytest.raises(ImageConversionError, match=r"needs an array of shape \(height, width, 3\), got \(2, 2\)"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "rgb8")
    with pytest.raises(ImageConversionError, match="needs dtype uint16, got uint8"):
        numpy_to_image(np.zeros((2, 2), np.uint8), "16UC1")


def test_to_rgb8_from_every_colour_encoding() -> None:
    rgb = random_array(np.dtype(np.uint8), 3)
    assert to_rgb8(numpy_to_image(rgb, "rgb8")) is not None
    np.testing.assert_array_equal(to_rgb8(numpy_to_image(rgb, "rgb8")), rgb)
    np.testing.assert_array_equal(to_rgb8(numpy_to_image(rgb[:, :, ::-1], "bgr8")), rgb)
    rgba = np.dstack([rgb, np.full((H, W), 7, np.uint8)])
    np.testing.assert_array_equal(to_rgb8(numpy_to_image(rgba, "rgba8")), rgb)
    np.testing.assert_array_equal(to_rgb8(numpy_to_image(rgba[:, :, [2, 1, 0, 3]], "bgra8")), rgb)
    grey = rgb[:, :, 0]
    np.testing.assert_array_equal(to_rgb8(numpy_to_image(grey, "mono8")), np.dstack([grey] * 3))
    grey16 = grey.astype(np.uint16) << 8 | 0x7F
    np.testing.assert_array_equal(to_rgb8(numpy_to_image(grey16, "mono16")), np.dstack([grey] * 3))
    with pytest.raises(UnsupportedEncodingError, match="'16UC1' has no colour conversion"):
        to_rgb8(numpy_to_image(grey16, "16UC1"))


def test_to_rgb8_from_yuv422_variants() -> None:
    """A flat colour packed as UYVY and YUYV decodes to the BT.601 video-range RGB."""
    y, u, v = 120, 90, 180
    uyvy = np.tile(np.array([u, y, v, y], np.uint8), (H, W // 2)).reshape(H, W, 2)
    yuyv = np.tile(np.array([y, u, y, v], np.uint8), (H, W // 2)).reshape(H, W, 2)
    luma = 1.164 * (y - 16)
    expected = np.array(
        [luma + 1.596 * (v - 128), luma - 0.392 * (u - 128) - 0.813 * (v - 128), luma + 2.017 * (u - 128)]
    )
    for encoding, packed in (("yuv422", uyvy), ("uyvy", uyvy), ("yuv422_yuy2", yuyv), ("yuyv", yuyv)):
        rgb = to_rgb8(numpy_to_image(packed, encoding))
        assert rgb.shape == (H, W, 3)
        np.testing.assert_allclose(rgb.reshape(-1, 3), np.tile(expected, (H * W, 1)), atol=2, err_msg=encoding)


def smooth_image(height: int = 48, width: int = 64) -> np.ndarray:
    yy, xx = np.mgrid[0:height, 0:width]
    return np.dstack([xx * 255 // width, yy * 255 // height, (xx + yy) * 255 // (width + height)]).astype(np.uint8)


def test_jpeg_round_trip_within_tolerance() -> None:
    rgb = smooth_image()
    msg = numpy_to_compressed(rgb, "jpeg", quality=95, header=Header(frame_id="cam"))
    assert msg.format == "rgb8; jpeg compressed bgr8" and msg.header.frame_id == "cam"
    assert bytes(msg.data[:2]) == b"\xff\xd8"
    back = compressed_to_numpy(msg)
    assert back.shape == rgb.shape
    error = np.abs(back.astype(int) - rgb.astype(int))
    assert error.mean() < 2.0 and error.max() < 16  # channel order preserved, JPEG noise only
    np.testing.assert_array_equal(to_rgb8(msg), back)


def test_png_is_lossless_for_colour_and_16_bit_depth() -> None:
    rgb = random_array(np.dtype(np.uint8), 3)
    np.testing.assert_array_equal(compressed_to_numpy(numpy_to_compressed(rgb, "png")), rgb)
    bgr = rgb[:, :, ::-1]
    np.testing.assert_array_equal(compressed_to_numpy(numpy_to_compressed(bgr, "png", encoding="bgr8")), rgb)
    depth = random_array(np.dtype(np.uint16), 1)
    msg = numpy_to_compressed(depth, "png", encoding="16UC1")
    assert msg.format == "16UC1; png compressed mono16"
    np.testing.assert_array_equal(compressed_to_numpy(msg), depth)
    grey = rgb[:, :, 1]
    np.testing.assert_array_equal(to_rgb8(numpy_to_compressed(grey, "png", encoding="mono8")), np.dstack([grey] * 3))


def test_compression_errors() -> None:
    with pytest.raises(ImageConversionError, match="JPEG cannot hold '16UC1'"):
        numpy_to_compressed(np.zeros((4, 4), np.uint16), "jpeg", encoding="16UC1")
    with pytest.raises(ImageConversionError, match="'webp' is not supported"):
        numpy_to_compressed(np.zeros((4, 4, 3), np.uint8), "webp")
    with pytest.raises(UnsupportedEncodingError, match="cannot compress encoding '32FC1'"):
        numpy_to_compressed(np.zeros((4, 4), np.float32), "png", encoding="32FC1")
    with pytest.raises(ImageConversionError, match="quality 0"):
        numpy_to_compressed(np.zeros((4, 4, 3), np.uint8), quality=0)
    broken = CompressedImage(format="jpeg", data=b"\xff\xd8not a jpeg")
    with pytest.raises(ImageConversionError, match=r"format 'jpeg'\): 12 bytes of data are not a decodable image"):
        compressed_to_numpy(broken)
    with pytest.raises(ImageConversionError, match="0 bytes"):
        compressed_to_numpy(CompressedImage(format="jpeg"))


def test_cv_bridge_handles_encodings_outside_the_table(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where ROS's cv_bridge is installed (not here: this stands in for it), unknown encodings go through it."""
    calls = []

    class FakeBridge:
        def imgmsg_to_cv2(self, msg: Image, desired_encoding: str) -> np.ndarray:
            calls.append((msg.encoding, desired_encoding))
            return np.zeros((msg.height, msg.width, 3), np.uint8)

    monkeypatch.setitem(sys.modules, "cv_bridge", types.SimpleNamespace(CvBridge=FakeBridge))
    images._cv_bridge.cache_clear()
    try:
        msg = Image(height=2, width=4, encoding="bayer_rggb8", step=4, data=bytes(8))
        assert image_to_numpy(msg).shape == (2, 4, 3)
        assert to_rgb8(msg).shape == (2, 4, 3)
        assert calls == [("bayer_rggb8", "passthrough"), ("bayer_rggb8", "rgb8")]
        np.testing.assert_array_equal(image_to_numpy(numpy_to_image(np.ones((2, 2), np.uint8), "mono8")), 1)
        assert len(calls) == 2  # known encodings stay on the zero-copy numpy path
    finally:
        images._cv_bridge.cache_clear()
