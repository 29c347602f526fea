"""Shared fixtures of the drivers tests: emulated SO-arm servo buses on ptys (real SDK on the other end)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from lerobot_ros_drivers.calibration.files import MotorCalibration, load_calibration, sim_calibration_path
from lerobot_ros_drivers.feetech.emulator import PtyServoBus, ServoBusEmulator, so_arm_servos

TEST_DATA = Path(__file__).resolve().parent / "data"


@pytest.fixture(scope="session")
def test_data() -> Path:
    """Fixed reference data of these tests (FK golden poses, a LeRobot calibration file): see data/README.md."""
    return TEST_DATA


@dataclass
class EmulatedArm:
    emulator: ServoBusEmulator
    pty: PtyServoBus
    calibration: dict[str, MotorCalibration]

    @property
    def port(self) -> str:
        return self.pty.port


@pytest.fixture
def emulated_follower(tmp_path: Path) -> Iterator[EmulatedArm]:
    """An SO-101 follower bus calibrated with the shipped sim calibration, behind a symlink in tmp_path."""
    calibration = load_calibration(sim_calibration_path("follower"))
    emulator = ServoBusEmulator(so_arm_servos(calibration))
    with PtyServoBus(emulator, tmp_path / "follower") as pty:
        yield EmulatedArm(emulator, pty, calibration)
