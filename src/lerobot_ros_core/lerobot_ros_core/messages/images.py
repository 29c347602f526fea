"""numpy ↔ sensor_msgs/Image and CompressedImage, without copies where the layout allows.

Received images are viewed in place (`np.frombuffer` over `msg.data`, honouring the row `step`),
so reading a 640×480 frame costs microseconds; outgoing images assign `msg.data` one `bytes`
object, which rclpy copies in C (per-element assignment is orders of magnitude slower).

Supported raw encodings: rgb8, bgr8, rgba8, bgra8, mono8, mono16, the OpenCV-style
`<depth>C<channels>` names (8UC1, 16UC1, 32FC1, ...) and the packed 4:2:2 formats yuv422 / uyvy
(U Y0 V Y1) and yuv422_yuy2 / yuyv (Y0 U Y1 V), viewed as (height, width, 2) uint8. Other
encodings (Bayer patterns, ...) go through cv_bridge where it is installed; without it they raise
`UnsupportedEncodingError` naming what is supported.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np
from sensor_msgs.msg import CompressedImage, Image
from std_msgs.msg import Header


class ImageConversionError(ValueError):
    """An image message and an array do not fit together (size, type, encoding)."""


class UnsupportedEncodingError(ImageConversionError):
    """The encoding is neither in the built-in table nor convertible by cv_bridge."""


@dataclass(frozen=True)
class EncodingLayout:
    dtype: np.dtype
    channels: int


_NAMED = {
    "rgb8": EncodingLayout(np.dtype(np.uint8), 3),
    "bgr8": EncodingLayout(np.dtype(np.uint8), 3),
    "rgba8": EncodingLayout(np.dtype(np.uint8), 4),
    "bgra8": EncodingLayout(np.dtype(np.uint8), 4),
    "mono8": EncodingLayout(np.dtype(np.uint8), 1),
    "mono16": EncodingLayout(np.dtype(np.uint16), 1),
    "yuv422": EncodingLayout(np.dtype(np.uint8), 2),
    "uyvy": EncodingLayout(np.dtype(np.uint8), 2),
    "yuv422_yuy2": EncodingLayout(np.dtype(np.uint8), 2),
    "yuyv": EncodingLayout(np.dtype(np.uint8), 2),
}
_CV_DEPTHS = {
    "8U": np.uint8,
    "8S": np.int8,
    "16U": np.uint16,
    "16S": np.int16,
    "32S": np.int32,
    "32F": np.float32,
    "64F": np.float64,
}
_CV_NAME = re.compile(r"^(8U|8S|16U|16S|32S|32F|64F)C([1-4])$")
_UYVY = ("yuv422", "uyvy")
_YUYV = ("yuv422_yuy2", "yuyv")
_NATIVE_BIG_ENDIAN = sys.byteorder == "big"

SUPPORTED_ENCODINGS = (*_NAMED, "<8U|8S|16U|16S|32S|32F|64F>C<1-4>")


def encoding_layout(encoding: str) -> EncodingLayout:
    """Element type and channel count of a raw encoding; raises UnsupportedEncodingError."""
    layout = _NAMED.get(encoding)
    if layout is not None:
        return layout
    match = _CV_NAME.match(encoding)
    if match:
        return EncodingLayout(np.dtype(_CV_DEPTHS[match.group(1)]), int(match.group(2)))
    raise UnsupportedEncodingError(
        f"image encoding {encoding!r} is not supported (supported: {', '.join(SUPPORTED_ENCODINGS)})"
    )


@cache
def _cv_bridge() -> Any | None:
    """A cv_bridge.CvBridge when the ROS cv_bridge package is installed, else None."""
    try:
        from cv_bridge import CvBridge
    except ImportError:
        return None
    return CvBridge()


def _is_known(encoding: str) -> bool:
    return encoding in _NAMED or _CV_NAME.match(encoding) is not None


def image_to_numpy(msg: Image) -> np.ndarray:
    """View an Image as an array: (height, width) for one channel, else (height, width, channels).

    The array shares memory with `msg.data` (copy it if `msg` is reused), except for
    big-endian multi-byte data on a little-endian host, which is converted.
    """
    if not _is_known(msg.encoding):
        bridge = _cv_bridge()
        if bridge is None:
            encoding_layout(msg.encoding)  # raises the precise error
        return np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="passthrough"))
    layout = encoding_layout(msg.encoding)
    height, width, channels = int(msg.height), int(msg.width), layout.channels
    row_bytes = width * channels * layout.dtype.itemsize
    if msg.step < row_bytes:
        raise ImageConversionError(
            f"image {width}x{height} {msg.encoding}: step {msg.step} is shorter than one row ({row_bytes} bytes)"
        )
    needed = msg.step * (height - 1) + row_bytes if height else 0
    buffer = np.frombuffer(msg.data, dtype=np.uint8)
    if buffer.size < needed:
        raise ImageConversionError(
            f"image {width}x{height} {msg.encoding} (step {msg.step}): data has {buffer.size} bytes, needs {needed}"
        )
    dtype = layout.dtype.newbyteorder(">" if msg.is_bigendian else "<") if layout.dtype.itemsize > 1 else layout.dtype
    array = np.ndarray(
        shape=(height, width, channels),
        dtype=dtype,
        buffer=buffer,
        strides=(msg.step, channels * layout.dtype.itemsize, layout.dtype.itemsize),
    )
    if layout.dtype.itemsize > 1 and bool(msg.is_bigendian) != _NATIVE_BIG_ENDIAN:
        array = array.astype(layout.dtype)
    return array[:, :, 0] if channels == 1 else array


def numpy_to_image(array: np.ndarray, encoding: str, header: Header | None = None) -> Image:
    """An Image holding `array` (native byte order, no row padding)."""
    layout = encoding_layout(encoding)
    array = np.asarray(array)
    height, width = _check_array(array, encoding, layout)
    msg = Image()
    if header is not None:
        msg.header = header
    msg.height, msg.width, msg.encoding = height, width, encoding
    msg.is_bigendian = _NATIVE_BIG_ENDIAN
    msg.step = width * layout.channels * layout.dtype.itemsize
    msg.data = np.ascontiguousarray(array).tobytes()
    return msg


def _check_array(array: np.ndarray, encoding: str, layout: EncodingLayout) -> tuple[int, int]:
    """(height, width) of an array that fits `encoding`; raises ImageConversionError otherwise."""
    if array.ndim == 2 and layout.channels == 1:
        height, width = array.shape
    elif array.ndim == 3 and array.shape[2] == layout.channels:
        height, width = array.shape[:2]
    else:
        expected = "(height, width)" if layout.channels == 1 else f"(height, width, {layout.channels})"
        raise ImageConversionError(f"encoding {encoding!r} needs an array of shape {expected}, got {array.shape}")
    if array.dtype != layout.dtype:
        raise ImageConversionError(f"encoding {encoding!r} needs dtype {layout.dtype}, got {array.dtype}")
    return height, width


def to_rgb8(msg: Image | CompressedImage) -> np.ndarray:
    """The image as (height, width, 3) uint8 RGB, whatever its colour encoding.

    Depth-like encodings (16UC1, 32FC1, ...) have no colour meaning and raise; read them with
    `image_to_numpy`. rgb8 input is returned as a view, other encodings are converted.
    """
    import cv2

    if isinstance(msg, CompressedImage):
        array = compressed_to_numpy(msg)
        if array.ndim == 2:
            return cv2.cvtColor(_to_uint8(array), cv2.COLOR_GRAY2RGB)
        return np.ascontiguousarray(array[:, :, :3])
    encoding = msg.encoding
    if not _is_known(encoding):
        bridge = _cv_bridge()
        if bridge is None:
            encoding_layout(encoding)  # raises the precise error
        return np.asarray(bridge.imgmsg_to_cv2(msg, desired_encoding="rgb8"))
    array = image_to_numpy(msg)
    if encoding == "rgb8":
        return array
    if encoding == "bgr8":
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if encoding == "rgba8":
        return np.ascontiguousarray(array[:, :, :3])
    if encoding == "bgra8":
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGB)
    if encoding in ("mono8", "mono16"):
        return cv2.cvtColor(_to_uint8(array), cv2.COLOR_GRAY2RGB)
    if encoding in _UYVY:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_YUV2RGB_UYVY)
    if encoding in _YUYV:
        return cv2.cvtColor(np.ascontiguousarray(array), cv2.COLOR_YUV2RGB_YUY2)
    raise UnsupportedEncodingError(
        f"image encoding {encoding!r} has no colour conversion to rgb8 (depth or generic data: use image_to_numpy)"
    )


def _to_uint8(array: np.ndarray) -> np.ndarray:
    """8-bit grey from 8- or 16-bit grey (keeps the high byte)."""
    return array if array.dtype == np.uint8 else (array >> 8).astype(np.uint8)


def compressed_to_numpy(msg: CompressedImage) -> np.ndarray:
    """Decode a CompressedImage: (h, w, 3) RGB, (h, w, 4) RGBA, or (h, w) grey (8 or 16 bit)."""
    import cv2

    data = np.frombuffer(msg.data, dtype=np.uint8)
    array = cv2.imdecode(data, cv2.IMREAD_UNCHANGED) if data.size else None
    if array is None:
        raise ImageConversionError(
            f"CompressedImage (format {msg.format!r}): {data.size} bytes of data are not a decodable image"
        )
    if array.ndim == 3 and array.shape[2] == 3:
        return cv2.cvtColor(array, cv2.COLOR_BGR2RGB)
    if array.ndim == 3 and array.shape[2] == 4:
        return cv2.cvtColor(array, cv2.COLOR_BGRA2RGBA)
    return array


_COMPRESSED_INPUTS = ("rgb8", "bgr8", "mono8", "mono16", "16UC1")


def numpy_to_compressed(
    array: np.ndarray,
    format: str = "jpeg",
    quality: int = 90,
    encoding: str = "rgb8",
    header: Header | None = None,
) -> CompressedImage:
    """Compress an image array (in `encoding`) to JPEG or PNG.

    `msg.format` follows compressed_image_transport ("rgb8; jpeg compressed bgr8"), so ROS image
    tools decode it. JPEG takes 8-bit input; PNG also keeps 16-bit grey (depth) exactly.
    """
    import cv2

    if format not in ("jpeg", "png"):
        raise ImageConversionError(f"compressed format {format!r} is not supported (jpeg, png)")
    if encoding not in _COMPRESSED_INPUTS:
        raise UnsupportedEncodingError(
            f"cannot compress encoding {encoding!r} (supported: {', '.join(_COMPRESSED_INPUTS)})"
        )
    if not 1 <= quality <= 100:
        raise ImageConversionError(f"compression quality {quality} is outside 1..100")
    layout = encoding_layout(encoding)
    array = np.asarray(array)
    _check_array(array, encoding, layout)
    if format == "jpeg" and layout.dtype != np.uint8:
        raise ImageConversionError(f"JPEG cannot hold {encoding!r} ({layout.dtype}); use format='png'")
    if encoding == "rgb8":
        array = cv2.cvtColor(array, cv2.COLOR_RGB2BGR)
    if format == "jpeg":
        params = [cv2.IMWRITE_JPEG_QUALITY, int(quality)]
    else:
        params = [cv2.IMWRITE_PNG_COMPRESSION, max(0, min(9, (100 - int(quality)) // 10))]
    ok, encoded = cv2.imencode(f".{'jpg' if format == 'jpeg' else 'png'}", array, params)
    if not ok:
        raise ImageConversionError(f"OpenCV failed to encode a {array.shape} {encoding} image as {format}")
    msg = CompressedImage()
    if header is not None:
        msg.header = header
    stored = "bgr8" if layout.channels == 3 else ("mono8" if layout.dtype == np.uint8 else "mono16")
    msg.format = f"{encoding}; {format} compressed {stored}"
    msg.data = encoded.tobytes()
    return msg
