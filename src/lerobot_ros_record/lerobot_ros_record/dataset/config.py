"""Writer settings, and those a dataset imposes on a writer that resumes it (read from its info.json)."""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .depth import DepthQuantizer
from .errors import DatasetError, FeatureSpecError
from .features import is_depth_spec
from .video import ENCODERS, VideoSettings

_log = logging.getLogger(__name__)
_CODEC_FROM_INFO = {"av1": "libsvtav1", "h264": "h264", "hevc": "hevc"}


@dataclass
class WriterConfig:
    """Dataset and encoder settings; defaults are LeRobot 0.4.4's."""

    fps: int
    video_codec: str = "libsvtav1"  # "libsvtav1" | "h264" | "hevc"
    pix_fmt: str = "yuv420p"
    crf: int | None = 30
    preset: int | str | None = None  # None: 12 for libsvtav1 (LeRobot's), the encoder's default otherwise
    gop: int | None = 2
    encoder_threads: int | None = None  # threads per encoder; None lets the codec choose
    encoder_queue_size: int = 60  # frames buffered per camera before frames are dropped
    data_files_size_in_mb: float = 100  # start a new data file past this size
    video_files_size_in_mb: float = 200  # start a new video file past this size
    chunks_size: int = 1000  # files per chunk-XXX directory
    allow_nan: bool = False  # NaN/inf in float features is an error unless allowed
    # Depth quantisation (LeRobot 0.6's DepthEncoderConfig defaults); see depth.py.
    depth_min_m: float = 0.01
    depth_max_m: float = 10.0
    depth_shift_m: float = 3.5
    depth_use_log: bool = True

    def __post_init__(self) -> None:
        if not isinstance(self.fps, int) or self.fps <= 0:
            raise FeatureSpecError(f"fps must be a positive integer, got {self.fps!r}")
        if self.video_codec not in ENCODERS:
            raise FeatureSpecError(f"video_codec {self.video_codec!r} not supported; use one of {sorted(ENCODERS)}")
        for name in ("data_files_size_in_mb", "video_files_size_in_mb", "chunks_size"):
            if getattr(self, name) <= 0:
                raise FeatureSpecError(f"{name} must be positive, got {getattr(self, name)}")
        try:
            _ = self.depth  # DepthQuantizer checks the depth range
        except ValueError as error:
            raise FeatureSpecError(str(error)) from error

    @property
    def video(self) -> VideoSettings:
        preset = 12 if self.preset is None and self.video_codec == "libsvtav1" else self.preset
        return VideoSettings(self.fps, self.video_codec, self.pix_fmt, self.gop, self.crf, preset, self.encoder_threads)

    @property
    def depth(self) -> DepthQuantizer:
        return DepthQuantizer(self.depth_min_m, self.depth_max_m, self.depth_shift_m, self.depth_use_log)


def config_from_info(info: dict[str, Any]) -> WriterConfig:
    """The settings a dataset was written with, as far as info.json records them."""
    codec = "libsvtav1"
    for spec in info["features"].values():
        video_info = spec.get("info") or {}
        if spec["dtype"] == "video" and not is_depth_spec(spec):
            codec = _CODEC_FROM_INFO.get(str(video_info.get("video.codec")), codec)
            break
    depth_info = next((spec["info"] for spec in info["features"].values() if is_depth_spec(spec)), {})
    defaults = DepthQuantizer()
    return WriterConfig(
        fps=info["fps"],
        video_codec=codec,
        data_files_size_in_mb=info["data_files_size_in_mb"],
        video_files_size_in_mb=info["video_files_size_in_mb"],
        chunks_size=info["chunks_size"],
        depth_min_m=depth_info.get("video.depth_min", defaults.min_m),
        depth_max_m=depth_info.get("video.depth_max", defaults.max_m),
        depth_shift_m=depth_info.get("video.shift", defaults.shift_m),
        depth_use_log=depth_info.get("video.use_log", defaults.use_log),
    )


def config_for_resume(root: Path, info: dict[str, Any], requested: WriterConfig | None) -> WriterConfig:
    """The caller's settings (a copy) with what the dataset fixes: fps (must match), codec, depth
    quantisation and file limits. Without a request, the dataset's own settings."""
    stored = config_from_info(info)
    if requested is None:
        return stored
    if requested.fps != stored.fps:
        raise DatasetError(f"cannot resume {root} at {requested.fps} fps: the dataset was recorded at {stored.fps} fps")
    codec = requested.video_codec
    if codec != stored.video_codec and _has_colour_video(info):
        _log.warning(
            "resuming %s with its own codec %s instead of %s: one video file holds one codec",
            root,
            stored.video_codec,
            codec,
        )
        codec = stored.video_codec
    return dataclasses.replace(
        requested,
        video_codec=codec,
        depth_min_m=stored.depth_min_m,
        depth_max_m=stored.depth_max_m,
        depth_shift_m=stored.depth_shift_m,
        depth_use_log=stored.depth_use_log,
        chunks_size=stored.chunks_size,
        data_files_size_in_mb=stored.data_files_size_in_mb,
        video_files_size_in_mb=stored.video_files_size_in_mb,
    )


def _has_colour_video(info: dict[str, Any]) -> bool:
    return any(spec["dtype"] == "video" and not is_depth_spec(spec) for spec in info["features"].values())
