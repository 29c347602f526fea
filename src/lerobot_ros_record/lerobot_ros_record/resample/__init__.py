"""Resampling of ROS streams onto the dataset clock and the per-episode sync report (no rclpy)."""

from lerobot_ros_record.resample.report import ClockJump, StreamStats, SyncReport
from lerobot_ros_record.resample.resampler import Frame, Resampler, StreamConfig
from lerobot_ros_record.resample.streams import resampler_for

__all__ = ["ClockJump", "Frame", "Resampler", "StreamConfig", "StreamStats", "SyncReport", "resampler_for"]
