"""LeRobot-compatible calibration files and joint unit conversions. No rclpy."""

from .files import (
    FOLLOWER_NAMES,
    LEADER_NAMES,
    CalibrationError,
    MotorCalibration,
    calibration_dir,
    find_calibration,
    load_calibration,
    save_calibration,
    sim_calibration_path,
)
from .units import SO_ARM_JOINTS, JointCodec

__all__ = [
    "FOLLOWER_NAMES",
    "LEADER_NAMES",
    "SO_ARM_JOINTS",
    "CalibrationError",
    "JointCodec",
    "MotorCalibration",
    "calibration_dir",
    "find_calibration",
    "load_calibration",
    "save_calibration",
    "sim_calibration_path",
]
