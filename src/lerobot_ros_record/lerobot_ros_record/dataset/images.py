"""PNG encoding of image (non-video) features, stored in parquet as LeRobot stores `datasets.Image`."""

from __future__ import annotations

from fractions import Fraction

import av
import numpy as np


class PngEncoder:
    """Encodes RGB uint8 frames of one size to PNG files' bytes (FFmpeg's PNG encoder, via PyAV)."""

    def __init__(self, height: int, width: int) -> None:
        self._context = av.CodecContext.create("png", "w")
        self._context.width = width
        self._context.height = height
        self._context.pix_fmt = "rgb24"
        self._context.time_base = Fraction(1, 1)

    def encode(self, rgb: np.ndarray) -> bytes:
        packets = self._context.encode(av.VideoFrame.from_ndarray(rgb, format="rgb24"))
        return b"".join(bytes(packet) for packet in packets)


def image_cell(png: bytes, frame_index: int) -> dict[str, object]:
    """One parquet cell of an image feature: the PNG bytes and the file name LeRobot records."""
    return {"bytes": png, "path": f"frame-{frame_index:06d}.png"}
