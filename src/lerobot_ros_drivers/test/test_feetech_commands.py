"""calibrate, setup-motors and find-port against emulated buses on ptys (the user's hands scripted)."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest

from lerobot_ros_bringup.cli import build_parser
from lerobot_ros_drivers.calibration.files import MotorCalibration, load_calibration
from lerobot_ros_drivers.calibration.procedure import Prompter, calibrate_arm
from lerobot_ros_drivers.calibration.units import SO_ARM_JOINTS
from lerobot_ros_drivers.commands import calibrate, find_port, setup_motors
from lerobot_ros_drivers.feetech.bus import FeetechBus
from lerobot_ros_drivers.feetech.emulator import (
    EmulatedServo,
    PtyServoBus,
    ServoBusEmulator,
    scripted_motion,
    so_arm_servos,
)
from lerobot_ros_drivers.feetech.errors import FeetechError, MissingMotorError

MIDDLE = {1: 2100, 2: 1900, 3: 2300, 4: 1700, 5: 3000, 6: 2500}  # encoder readings in the middle pose
SWEEP = {1: (900, 3300), 2: (1000, 3100), 3: (700, 3000), 4: (1200, 2900), 6: (2000, 3350)}  # present positions


def stored(emulator: ServoBusEmulator, ident: int) -> tuple[int, int, int]:
    servo = emulator.servo(ident)
    return servo.value("Homing_Offset"), servo.value("Min_Position_Limit"), servo.value("Max_Position_Limit")


class ScriptedUser:
    """Puts the arm in the middle pose when asked, then sweeps each joint to its two extremes."""

    def __init__(self, emulator: ServoBusEmulator) -> None:
        self.emulator = emulator
        self.prompts: list[str] = []

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if "middle" in prompt:
            for ident, position in MIDDLE.items():
                self.emulator.servo(ident).actual = float(position)
        return ""

    def sweep(self) -> None:
        start = time.monotonic()
        for ident, (low, high) in SWEEP.items():
            self.emulator.servo(ident).hand = lambda now, lo=low, hi=high: lo if now - start < 0.4 else hi
        time.sleep(1.0)
        while any(abs(self.emulator.servo(i).present - hi) > 0 for i, (_, hi) in SWEEP.items()):
            time.sleep(0.05)
        time.sleep(0.2)  # a few more reads at the extremes

    def prompter(self) -> Prompter:
        return Prompter(ask=self.ask, show=lambda _: None, wait_stop=self.sweep)


@pytest.fixture
def factory_arm(tmp_path: Path):
    emulator = ServoBusEmulator(so_arm_servos())
    with PtyServoBus(emulator, tmp_path / "arm") as pty:
        bus = FeetechBus(pty.port)
        bus.open()
        yield emulator, bus
        bus.close()


def test_calibration_procedure_reproduces_lerobot(tmp_path: Path, factory_arm) -> None:
    emulator, bus = factory_arm
    user = ScriptedUser(emulator)
    path = tmp_path / "calibration" / "robots" / "so101_follower" / "arm.json"
    result = calibrate_arm(bus, path, label="so101_follower 'arm'", prompter=user.prompter())
    assert not result.reused
    expected = {}
    for ident, joint in enumerate(SO_ARM_JOINTS, 1):
        low, high = SWEEP.get(ident, (0, 4095))  # wrist_roll: full turn
        expected[joint] = MotorCalibration(ident, 0, MIDDLE[ident] - 2047, low, high)
    assert load_calibration(path) == expected == result.calibration
    for cal in expected.values():
        assert stored(emulator, cal.id) == (cal.homing_offset, cal.range_min, cal.range_max)
        emulator.servo(cal.id).power_cycle()  # written unlocked: persisted in EEPROM
        assert stored(emulator, cal.id) == (cal.homing_offset, cal.range_min, cal.range_max)
    assert json.loads(path.read_text())["gripper"] == {
        "id": 6,
        "drive_mode": 0,
        "homing_offset": 453,
        "range_min": 2000,
        "range_max": 3350,
    }

    def must_not_ask(prompt: str) -> str:
        raise AssertionError(f"asked {prompt!r} although the motors match the file")

    again = calibrate_arm(bus, path, label="arm", prompter=Prompter(ask=must_not_ask, show=lambda _: None))
    assert again.reused and again.calibration == expected

    # Motors that disagree with the file: ENTER writes the file to them (LeRobot's default answer).
    bus.write("Lock", 3, 0)
    bus.write("Homing_Offset", 3, 0)
    asked = []
    restored = calibrate_arm(bus, path, label="arm", prompter=Prompter(ask=lambda p: asked.append(p) or "", show=print))
    assert restored.reused and len(asked) == 1 and "type 'c'" in asked[0]
    assert stored(emulator, 3) == (MIDDLE[3] - 2047, *SWEEP[3])

    # 'c' recalibrates.
    bus.write("Homing_Offset", 3, 0)
    user = ScriptedUser(emulator)
    answers = iter(["c"])
    prompter = user.prompter()
    prompter.ask = lambda p: next(answers, None) or user.ask(p)
    assert not calibrate_arm(bus, path, label="arm", prompter=prompter).reused
    assert any("middle" in p for p in user.prompts)


def test_a_joint_that_does_not_move_fails_the_calibration(tmp_path: Path, factory_arm) -> None:
    _, bus = factory_arm
    prompter = Prompter(ask=lambda _: "", show=lambda _: None, wait_stop=lambda: time.sleep(0.2))
    with pytest.raises(ValueError, match="did not move during the sweep"):
        calibrate_arm(bus, tmp_path / "x.json", label="arm", prompter=prompter)
    assert not (tmp_path / "x.json").exists()


def run_cli(command, argv: list[str]) -> int:
    args = build_parser({"cmd": command}).parse_args(["cmd", *argv])
    return args._command.run(args)


def test_calibrate_command_non_interactive_then_reuses_the_file(tmp_path: Path, capsys) -> None:
    servos = so_arm_servos()
    for index, servo in enumerate(servos):
        servo.hand = scripted_motion("wave", servo, index, period_s=1.0)  # a leader moved by hand
    with PtyServoBus(ServoBusEmulator(servos), tmp_path / "leader") as pty:
        argv = ["--type", "so101_leader", "--port", pty.port, "--id", "cli", "--calibration-dir", str(tmp_path)]
        assert run_cli(calibrate.COMMAND, [*argv, "--yes", "--sweep-seconds", "1.5"]) == 0
        path = tmp_path / "teleoperators" / "so101_leader" / "cli.json"
        calibration = load_calibration(path)
        assert list(calibration) == list(SO_ARM_JOINTS)
        assert (calibration["wrist_roll"].range_min, calibration["wrist_roll"].range_max) == (0, 4095)
        assert all(c.range_max - c.range_min > 1000 for c in calibration.values())
        assert f"saved {path}" in capsys.readouterr().out
        assert run_cli(calibrate.COMMAND, argv) == 0  # interactive, but nothing to ask: reused
        assert f"reused {path}" in capsys.readouterr().out
        # A LeRobot 0.4.4 file under the newer name is found for the older type name too.
        newer = tmp_path / "teleoperators" / "so_leader" / "cli.json"
        newer.parent.mkdir(parents=True)
        path.rename(newer)
        assert run_cli(calibrate.COMMAND, argv) == 0
        assert f"reused {newer}" in capsys.readouterr().out


def test_calibrate_command_reports_a_missing_port(tmp_path: Path, capsys) -> None:
    argv = ["--type", "so101_follower", "--port", str(tmp_path / "none"), "--id", "x", "--yes"]
    assert run_cli(calibrate.COMMAND, [*argv, "--calibration-dir", str(tmp_path)]) == 1
    assert "calibration failed: cannot open serial port" in capsys.readouterr().err


def test_setup_motors_one_at_a_time(tmp_path: Path) -> None:
    emulator = ServoBusEmulator([])
    configured: list[EmulatedServo] = []
    with PtyServoBus(emulator, tmp_path / "bus") as pty:
        bus = FeetechBus(pty.port, retries=0)
        bus.open()
        prompts = []

        def plug_next_motor(prompt: str) -> str:
            prompts.append(prompt)
            # a new motor: id 1 (one of them left at another id and baud rate by a previous owner)
            fresh = EmulatedServo(7, baudrate=115_200) if len(prompts) == 3 else EmulatedServo(1)
            configured.append(fresh)
            with emulator.lock:
                emulator.servos = [fresh]
            return ""

        motors = {joint: ident for ident, joint in enumerate(SO_ARM_JOINTS, 1)}
        setup_motors.setup_motors(bus, motors, ask=plug_next_motor, show=lambda _: None)
        assert [p.split("'")[1] for p in prompts] == list(reversed(SO_ARM_JOINTS))
        for servo in configured:
            servo.power_cycle()  # ID and baud rate were written unlocked: persisted
        with emulator.lock:
            emulator.servos = configured
        bus.set_baudrate(1_000_000)
        assert bus.scan(range(0, 10)) == {i: 777 for i in range(1, 7)}

        # two motors connected at once: refused with a clear error
        with emulator.lock:
            emulator.servos = [EmulatedServo(1), EmulatedServo(2)]
        with pytest.raises(FeetechError, match=r"more than one motor answers .*\(ids \[1, 2\]\)"):
            setup_motors.setup_motors(bus, {"gripper": 6}, ask=lambda _: "", show=lambda _: None)
        with emulator.lock:
            emulator.servos = []
        with pytest.raises(MissingMotorError, match="motor 'gripper': no motor answers"):
            setup_motors.setup_motors(bus, {"gripper": 6}, ask=lambda _: "", show=lambda _: None)
        bus.close()


def test_find_port_reports_the_port_that_disappeared(tmp_path: Path) -> None:
    with (
        PtyServoBus(ServoBusEmulator([]), tmp_path / "ttyACM0") as first,
        PtyServoBus(ServoBusEmulator([]), tmp_path / "ttyACM1") as second,
    ):
        ports = lambda: find_port.list_ports([str(tmp_path / "ttyACM*")])  # noqa: E731
        assert {first.port, second.port} <= ports()
        found = find_port.find_port(ports, ask=lambda _: second.unplug() or "", show=lambda _: None, settle_s=0)
        assert found == str(tmp_path / "ttyACM1")
        with pytest.raises(OSError, match="no port disappeared"):
            find_port.find_port(ports, ask=lambda _: "", show=lambda _: None, settle_s=0)
