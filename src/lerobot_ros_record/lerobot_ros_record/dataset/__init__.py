"""LeRobot v3.0 dataset writer (pyarrow + PyAV, no rclpy): the files LeRobot 0.4.4 writes, streamed and crash-safe."""

from .depth import DepthQuantizer
from .errors import (
    CorruptDatasetError,
    DatasetError,
    DatasetLockedError,
    DiskFullError,
    EncoderError,
    EpisodeStateError,
    FeatureSpecError,
    FrameError,
)
from .writer import DatasetWriter, EpisodeSummary, WriterConfig

__all__ = [
    "CorruptDatasetError",
    "DatasetError",
    "DatasetLockedError",
    "DatasetWriter",
    "DepthQuantizer",
    "DiskFullError",
    "EncoderError",
    "EpisodeStateError",
    "EpisodeSummary",
    "FeatureSpecError",
    "FrameError",
    "WriterConfig",
]
