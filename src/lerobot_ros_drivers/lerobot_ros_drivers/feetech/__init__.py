"""Feetech STS3215 bus layer (on `scservo_sdk`), the SO-arm bus and a pty servo-bus emulator. No rclpy."""

from .arm_bus import SO_ARM_JOINTS, ArmBus, Telemetry
from .bus import FeetechBus
from .errors import ChecksumError, FeetechError, MissingMotorError, MotorTimeoutError, PortError, WrongModelError

__all__ = [
    "SO_ARM_JOINTS",
    "ArmBus",
    "ChecksumError",
    "FeetechBus",
    "FeetechError",
    "MissingMotorError",
    "MotorTimeoutError",
    "PortError",
    "Telemetry",
    "WrongModelError",
]
