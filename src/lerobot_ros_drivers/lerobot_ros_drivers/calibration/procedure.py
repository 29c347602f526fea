"""LeRobot's calibration procedure for SO-100/SO-101 arms, on a `FeetechBus` (no rclpy).

Same steps as ``lerobot-calibrate``: torque off, position mode; the user puts the arm in the middle
of its range → Homing_Offset written so that pose reads half a turn (2047); the user sweeps every joint
but wrist_roll through its range → min/max recorded (wrist_roll gets the full turn 0–4095); limits
written to the motors; file saved in LeRobot's layout. A file that already matches what the motors
store is reused without asking; a file that does not match is, on ENTER, written to the motors ('c'
recalibrates), as LeRobot does.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..feetech.bus import FeetechBus
from ..feetech.registers import MAX_POSITION
from .files import MotorCalibration, load_calibration, save_calibration
from .units import SO_ARM_JOINTS

FULL_TURN_JOINT = "wrist_roll"
HALF_TURN = MAX_POSITION // 2  # 2047


@dataclass
class Prompter:
    """How the procedure talks to the user. `ask` shows a prompt and returns the answer (input());
    `wait_stop` blocks until the user ends the sweep; `show` prints progress."""

    ask: Callable[[str], str] = input
    show: Callable[[str], None] = print
    wait_stop: Callable[[], None] | None = None  # default: ask("") (ENTER)
    live: Callable[[dict[str, tuple[int, int, int]]], None] | None = None  # motor → (min, position, max)


class SweepRecorder:
    """Records min/max Present_Position of motors while a stop condition is not met."""

    def __init__(self, bus: FeetechBus, ids: Mapping[str, int]) -> None:
        self.bus = bus
        self.ids = dict(ids)

    def read(self) -> dict[str, int]:
        values = self.bus.sync_read("Present_Position", self.ids.values())
        return {motor: values[ident]["Present_Position"] for motor, ident in self.ids.items()}

    def record(
        self, stop: threading.Event, show: Callable[[dict[str, tuple[int, int, int]]], None] | None = None
    ) -> tuple[dict[str, int], dict[str, int]]:
        start = self.read()
        mins, maxes = dict(start), dict(start)
        while not stop.is_set():
            positions = self.read()
            for motor, position in positions.items():
                mins[motor] = min(mins[motor], position)
                maxes[motor] = max(maxes[motor], position)
            if show is not None:
                show({m: (mins[m], positions[m], maxes[m]) for m in positions})
            stop.wait(0.02)
        same = [m for m in mins if mins[m] == maxes[m]]
        if same:
            raise ValueError(f"joint(s) {', '.join(same)} did not move during the sweep (min = max): calibrate again")
        return mins, maxes


def stored_calibration(bus: FeetechBus, ids: Mapping[str, int]) -> dict[str, tuple[int, int, int]]:
    """Homing_Offset, Min_Position_Limit, Max_Position_Limit stored in each motor."""
    return {
        motor: (
            bus.read("Homing_Offset", ident),
            bus.read("Min_Position_Limit", ident),
            bus.read("Max_Position_Limit", ident),
        )
        for motor, ident in ids.items()
    }


def matches_motors(calibration: Mapping[str, MotorCalibration], stored: Mapping[str, tuple[int, int, int]]) -> bool:
    return set(calibration) == set(stored) and all(
        (c.homing_offset, c.range_min, c.range_max) == stored[m] for m, c in calibration.items()
    )


def write_calibration(bus: FeetechBus, calibration: Mapping[str, MotorCalibration]) -> None:
    for cal in calibration.values():
        bus.write("Homing_Offset", cal.id, cal.homing_offset)
        bus.write("Min_Position_Limit", cal.id, cal.range_min)
        bus.write("Max_Position_Limit", cal.id, cal.range_max)


def disable_torque(bus: FeetechBus, ids: Sequence[int]) -> None:
    """Torque off and EEPROM unlocked (so calibration writes persist)."""
    for ident in ids:
        bus.write("Torque_Enable", ident, 0)
        bus.write("Lock", ident, 0)


@dataclass
class CalibrationResult:
    calibration: dict[str, MotorCalibration]
    path: Path
    reused: bool  # an existing file was used (written to the motors when they differed)


def calibrate_arm(
    bus: FeetechBus,
    path: Path,
    *,
    label: str,
    joint_names: Sequence[str] = SO_ARM_JOINTS,
    ids: Mapping[str, int] | None = None,
    prompter: Prompter | None = None,
    force: bool = False,
) -> CalibrationResult:
    """Run LeRobot's calibration on an open bus and save the file at `path` (see module docstring)."""
    prompter = prompter or Prompter()
    ids = dict(ids) if ids is not None else {joint: index + 1 for index, joint in enumerate(joint_names)}
    if path.is_file() and not force:
        existing = load_calibration(path)
        if matches_motors(existing, stored_calibration(bus, ids)):
            prompter.show(f"{label}: motors already hold the calibration in {path}; using it.")
            return CalibrationResult(existing, path, reused=True)
        answer = prompter.ask(
            f"Press ENTER to use the calibration file {path} (written to the motors), "
            "or type 'c' and press ENTER to run calibration: "
        )
        if answer.strip().lower() != "c":
            disable_torque(bus, list(ids.values()))
            write_calibration(bus, existing)
            prompter.show(f"{label}: wrote {path} to the motors.")
            return CalibrationResult(existing, path, reused=True)

    prompter.show(f"Running calibration of {label}")
    disable_torque(bus, list(ids.values()))
    for ident in ids.values():
        bus.write("Operating_Mode", ident, 0)
    prompter.ask(f"Move {label} to the middle of its range of motion and press ENTER....")
    for ident in ids.values():  # LeRobot resets offset and limits before reading the middle pose
        bus.write("Homing_Offset", ident, 0)
        bus.write("Min_Position_Limit", ident, 0)
        bus.write("Max_Position_Limit", ident, MAX_POSITION)
    middle = SweepRecorder(bus, ids).read()
    offsets = {motor: position - HALF_TURN for motor, position in middle.items()}
    for motor, offset in offsets.items():
        bus.write("Homing_Offset", ids[motor], offset)

    swept = {motor: ident for motor, ident in ids.items() if motor != FULL_TURN_JOINT}
    prompter.show(
        f"Move all joints except '{FULL_TURN_JOINT}' sequentially through their entire ranges of motion.\n"
        "Recording positions. Press ENTER to stop..."
    )
    stop = threading.Event()

    def wait_then_stop() -> None:
        (prompter.wait_stop or (lambda: prompter.ask("")))()
        stop.set()

    threading.Thread(target=wait_then_stop, name="calibration sweep stop", daemon=True).start()
    mins, maxes = SweepRecorder(bus, swept).record(stop, prompter.live)
    if FULL_TURN_JOINT in ids:
        mins[FULL_TURN_JOINT], maxes[FULL_TURN_JOINT] = 0, MAX_POSITION

    calibration = {
        motor: MotorCalibration(
            id=ident, drive_mode=0, homing_offset=offsets[motor], range_min=mins[motor], range_max=maxes[motor]
        )
        for motor, ident in ids.items()
    }
    write_calibration(bus, calibration)
    save_calibration(path, calibration)
    prompter.show(f"Calibration saved to {path}")
    return CalibrationResult(calibration, path, reused=False)


def timed_stop(seconds: float) -> Callable[[], None]:
    """A `wait_stop` that ends the sweep after `seconds` (non-interactive runs)."""
    return lambda: time.sleep(seconds)
