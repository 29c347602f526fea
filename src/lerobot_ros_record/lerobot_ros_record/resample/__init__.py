"""Resampling of ROS streams onto the dataset clock and the per-episode sync report (no rclpy)."""

from lerobot_ros_record.resample.report import ClockJump, StreamStats, SyncReport
from lerobot_ros_record.resample.resampler import Frame, PastLimit, Resampler, SegmentEnd, StreamConfig
from lerobot_ros_record.resample.streams import resampler_for

__all__ = [
    "ClockJump",
    "Frame",
    "PastLimit",
    "Resampler",
    "SegmentEnd",
    "StreamConfig",
    "StreamStats",
    "SyncReport",
    "resampler_for",
]
