"""The bus layer and ArmBus through the real scservo_sdk against the emulator on a pty."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from lerobot_ros_drivers.calibration.units import SO_ARM_JOINTS
from lerobot_ros_drivers.feetech import (
    ArmBus,
    ChecksumError,
    FeetechBus,
    MissingMotorError,
    MotorTimeoutError,
    PortError,
    WrongModelError,
)
from lerobot_ros_drivers.feetech.arm_bus import GRIPPER_SETTINGS, MOTOR_SETTINGS
from lerobot_ros_drivers.feetech.emulator import EmulatedServo, PtyServoBus, ServoBusEmulator, so_arm_servos
from lerobot_ros_drivers.feetech.registers import STS3215


def wait_until(condition, timeout: float = 10.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.01)


@pytest.fixture
def arm(emulated_follower):
    bus = ArmBus(emulated_follower.port, emulated_follower.calibration)
    bus.connect()
    yield bus
    bus.disconnect(torque_off=False)


def test_ping_scan_read_write_round_trip(emulated_follower) -> None:
    bus = FeetechBus(emulated_follower.port)
    bus.open()
    try:
        assert bus.ping(1) == 777
        assert bus.ping(42) is None
        assert bus.scan(range(0, 9)) == {i: 777 for i in range(1, 7)}
        assert bus.broadcast_ping() == {i: 777 for i in range(1, 7)}
        bus.write("Homing_Offset", 2, -321)  # sign-magnitude through the wire
        assert bus.read("Homing_Offset", 2) == -321
        assert emulated_follower.emulator.servo(2).value("Homing_Offset") == -321
        bus.write("Max_Torque_Limit", 6, 777)
        assert bus.read("Max_Torque_Limit", 6) == 777
    finally:
        bus.close()


def test_sync_read_and_sync_write(emulated_follower) -> None:
    emulator = emulated_follower.emulator
    bus = FeetechBus(emulated_follower.port)
    bus.open()
    try:
        bus.sync_write("Acceleration", {i: 10 * i for i in range(1, 7)})
        values = bus.sync_read(["Torque_Enable", "Acceleration", "Goal_Position"], range(1, 7))
        assert [values[i]["Acceleration"] for i in range(1, 7)] == [10, 20, 30, 40, 50, 60]
        expected = [round(emulator.servo(i).present) for i in range(1, 7)]
        assert [values[i]["Goal_Position"] for i in range(1, 7)] == expected
    finally:
        bus.close()


def test_connect_applies_lerobot_settings_and_leaves_torque_off(emulated_follower, arm) -> None:
    emulator = emulated_follower.emulator
    for joint, ident in zip(SO_ARM_JOINTS, range(1, 7), strict=True):
        servo = emulator.servo(ident)
        expected = {**MOTOR_SETTINGS, **(GRIPPER_SETTINGS if joint == "gripper" else {})}
        assert {name: servo.value(name) for name in expected} == expected
        assert not servo.torque
    # settings went to EEPROM unlocked, so they survive a power cycle
    emulator.servo(3).power_cycle()
    assert emulator.servo(3).value("P_Coefficient") == 16
    assert arm.calibration_written == []


def test_connect_writes_the_file_calibration_to_uncalibrated_motors(tmp_path: Path, emulated_follower) -> None:
    emulator = ServoBusEmulator(so_arm_servos())  # factory state: offset 0, limits 0..4095
    with PtyServoBus(emulator, tmp_path / "fresh") as pty:
        arm = ArmBus(pty.port, emulated_follower.calibration)
        arm.connect()
        assert arm.calibration_written == list(SO_ARM_JOINTS)
        for cal in emulated_follower.calibration.values():
            servo = emulator.servo(cal.id)
            assert (
                servo.value("Homing_Offset"),
                servo.value("Min_Position_Limit"),
                servo.value("Max_Position_Limit"),
            ) == (
                cal.homing_offset,
                cal.range_min,
                cal.range_max,
            )
        arm.disconnect()


def test_positions_follow_goals_clamped_to_the_calibrated_range(emulated_follower, arm) -> None:
    start = arm.read_positions()
    np.testing.assert_allclose(start[:5], 0.0, atol=0.01)  # the emulator starts mid-range
    arm.set_torque(True)
    np.testing.assert_allclose(arm.read_positions(), start, atol=1e-9)  # torque on holds the pose
    goal = np.array([0.4, -0.3, 0.2, 0.1, -1.0, 1.2])
    arm.write_positions(goal)
    wait_until(lambda: np.allclose(arm.read_positions(), goal, atol=0.01), what="goal reached")
    arm.write_positions(np.array([9.0, 0, 0, 0, 0, -9.0]))  # far outside: clamped
    servo1, servo6 = emulated_follower.emulator.servo(1), emulated_follower.emulator.servo(6)
    limits = emulated_follower.calibration["shoulder_pan"].range_max, emulated_follower.calibration["gripper"].range_min
    # a sync write has no status packet: wait until the emulator thread has handled it
    wait_until(lambda: (servo1.value("Goal_Position"), servo6.value("Goal_Position")) == limits, what="clamped goals")
    with pytest.raises(ValueError, match="non-finite value for elbow_flex"):
        arm.write_positions(np.array([0, 0, np.nan, 0, 0, 0]))
    arm.set_torque(False)
    assert not any(emulated_follower.emulator.servo(i).torque for i in range(1, 7))


def test_telemetry(emulated_follower, arm) -> None:
    telemetry = arm.read_telemetry()
    np.testing.assert_allclose(telemetry.voltages_v, 12.0)
    np.testing.assert_allclose(telemetry.temperatures_c, 32.0)
    np.testing.assert_allclose(telemetry.velocities_rad_s, 0.0)
    arm.set_torque(True)
    arm.write_positions(arm.read_positions() + np.array([1.0, 0, 0, 0, 0, 0]))
    wait_until(lambda: arm.read_telemetry().velocities_rad_s[0] > 1.0, what="velocity reading")
    assert arm.read_telemetry().loads_percent[0] > 0


def test_a_transient_timeout_is_retried(emulated_follower, arm) -> None:
    emulated_follower.emulator.faults.drop_next[3] = 2  # retries=2: the third try succeeds
    arm.read_positions()
    assert arm.bus.transient_errors == 2


def test_a_transient_checksum_error_is_retried(emulated_follower, arm) -> None:
    emulated_follower.emulator.faults.corrupt_next[5] = 1
    arm.read_positions()
    assert arm.bus.transient_errors == 1


def test_persistent_timeout_names_motor_register_and_cause(emulated_follower, arm) -> None:
    emulated_follower.emulator.faults.drop_next[3] = 3
    with pytest.raises(MotorTimeoutError) as caught:
        arm.read_positions()
    error = caught.value
    assert (error.motor, error.motor_id, error.register) == ("elbow_flex", 3, "Present_Position")
    assert "motor 'elbow_flex' (id 3), register Present_Position (56): no status packet (timeout)" in str(error)
    assert "after 3 tries" in str(error)
    arm.read_positions()  # the bus recovers once the motor answers again


def test_persistent_checksum_error(emulated_follower, arm) -> None:
    emulated_follower.emulator.faults.corrupt_next[6] = 3
    with pytest.raises(ChecksumError, match=r"motor 'gripper' \(id 6\).*corrupted status packet"):
        arm.read_positions()


def test_write_timeout_names_the_register(emulated_follower, arm) -> None:
    emulated_follower.emulator.faults.drop_next[2] = 3
    with pytest.raises(MotorTimeoutError, match=r"'shoulder_lift' \(id 2\), register Torque_Enable \(40\)"):
        arm.set_torque(False)


def test_missing_motor(tmp_path: Path, emulated_follower) -> None:
    servos = [s for s in so_arm_servos(emulated_follower.calibration) if s.ident != 4]
    with PtyServoBus(ServoBusEmulator(servos), tmp_path / "bus") as pty:
        arm = ArmBus(pty.port, emulated_follower.calibration)
        with pytest.raises(MissingMotorError, match=r"motor 'wrist_flex' \(id 4\): does not answer a ping"):
            arm.connect()
        assert not arm.is_connected


def test_wrong_model(tmp_path: Path, emulated_follower) -> None:
    servos = so_arm_servos(emulated_follower.calibration)
    model = STS3215["Model_Number"]
    servos[1].memory[model.address : model.address + 2] = (2825).to_bytes(2, "little")
    with PtyServoBus(ServoBusEmulator(servos), tmp_path / "bus") as pty:
        arm = ArmBus(pty.port, emulated_follower.calibration)
        with pytest.raises(
            WrongModelError, match=r"'shoulder_lift' \(id 2\): model number 2825 \(sts3250\), expected 777"
        ):
            arm.connect()


def test_wrong_baud_rate_looks_like_missing_motors(tmp_path: Path) -> None:
    with PtyServoBus(ServoBusEmulator([EmulatedServo(1, baudrate=500_000)]), tmp_path / "bus") as pty:
        bus = FeetechBus(pty.port, baudrate=1_000_000, retries=0)
        bus.open()
        assert bus.ping(1) is None
        bus.set_baudrate(500_000)
        assert bus.ping(1) == 777
        bus.close()


def test_unplug_raises_port_error_and_replug_reconnects(emulated_follower, arm) -> None:
    arm.set_torque(True)
    emulated_follower.pty.unplug()
    with pytest.raises(PortError, match="vanished"):
        arm.read_positions()
    with pytest.raises(PortError):
        arm.write_positions(np.zeros(6))
    arm.disconnect()  # tolerates the dead port
    with pytest.raises(PortError, match="no such device"):
        arm.connect()
    emulated_follower.pty.plug()
    arm.connect()
    # servos kept torque while the adapter was away: reconnecting did not drop the arm
    assert all(emulated_follower.emulator.servo(i).torque for i in range(1, 7))
    np.testing.assert_allclose(arm.read_positions()[:5], 0.0, atol=0.01)


def test_opening_a_missing_port() -> None:
    with pytest.raises(PortError, match="cannot open serial port /nonexistent/tty: no such device"):
        ArmBus("/nonexistent/tty", {j: _cal(i) for i, j in enumerate(SO_ARM_JOINTS, 1)}).connect()


def _cal(ident: int):
    from lerobot_ros_drivers.calibration.files import MotorCalibration

    return MotorCalibration(id=ident, drive_mode=0, homing_offset=0, range_min=100, range_max=4000)
