"""Conversions between ROS time messages and float seconds / nanoseconds."""

from __future__ import annotations

from builtin_interfaces.msg import Duration, Time


def to_nanoseconds(stamp: Time | Duration) -> int:
    return stamp.sec * 1_000_000_000 + stamp.nanosec


def to_seconds(stamp: Time | Duration) -> float:
    return stamp.sec + stamp.nanosec * 1e-9


def time_from_nanoseconds(nanoseconds: int) -> Time:
    sec, nanosec = divmod(int(nanoseconds), 1_000_000_000)
    return Time(sec=sec, nanosec=nanosec)


def time_from_seconds(seconds: float) -> Time:
    return time_from_nanoseconds(round(seconds * 1e9))


def duration_from_seconds(seconds: float) -> Duration:
    sec, nanosec = divmod(round(seconds * 1e9), 1_000_000_000)
    return Duration(sec=sec, nanosec=nanosec)
