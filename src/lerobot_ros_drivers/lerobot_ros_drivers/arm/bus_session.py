"""Keeping an arm's bus usable: calibration lookup, connection, error accounting, reconnection.

Shared by the follower and leader nodes (no rclpy). A vanished port, or too many failed
transactions in a row, marks the link lost; `reconnect` then retries at a fixed period. The
node decides what "safe" means meanwhile (the follower holds; nothing is written while lost).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, TypeVar

from lerobot_ros_core.node.params import param
from lerobot_ros_drivers.calibration.files import (
    CalibrationError,
    MotorCalibration,
    find_calibration,
    load_calibration,
)
from lerobot_ros_drivers.feetech.arm_bus import ArmBus
from lerobot_ros_drivers.feetech.errors import FeetechError, PortError

T = TypeVar("T")


@dataclass
class ArmBusConfig:
    """Where an arm's servo bus is and how it is calibrated: the parameters the follower and leader share."""

    port: str = param("/dev/ttyACM0", "serial port of the servo bus")
    baudrate: int = param(1_000_000, "bus baud rate", min=9600, max=1_000_000)
    calibration_file: str = param("", "LeRobot calibration JSON; empty: look up calibration_id")
    calibration_id: str = param(
        "", "LeRobot id: <calibration_dir>/{robots|teleoperators}/<so101_follower|so101_leader|...>/<id>.json"
    )
    calibration_dir: str = param("", "LeRobot calibration root ('' = $HF_LEROBOT_CALIBRATION or the HF cache)")
    reconnect_period: float = param(1.0, "seconds between reconnection attempts after a bus failure", min=0.05)


def resolve_calibration(
    calibration_file: str,
    calibration_id: str,
    kind: Literal["robots", "teleoperators"],
    names: Sequence[str],
    root: str = "",
) -> tuple[Path, dict[str, MotorCalibration]]:
    """The calibration named by an explicit file, else found by id in LeRobot's directory layout."""
    if calibration_file:
        path = Path(calibration_file).expanduser()
    elif calibration_id:
        found = find_calibration(kind, calibration_id, names, Path(root).expanduser() if root else None)
        if found is None:
            where = root or "the LeRobot calibration directory"
            raise CalibrationError(
                f"no calibration '{calibration_id}.json' for {kind}/{{{','.join(names)}}} under {where}; "
                "run `lerobot-ros calibrate` (or lerobot-calibrate) or set calibration_file"
            )
        path = found
    else:
        raise CalibrationError("no calibration given: set calibration_file or calibration_id")
    return path, load_calibration(path)


@dataclass
class BusCounters:
    transactions: int = 0
    errors: int = 0
    consecutive_errors: int = 0
    reconnects: int = 0
    last_error: str = ""


class BusSession:
    """An ArmBus plus the bookkeeping that keeps a node alive through bus faults."""

    def __init__(
        self,
        bus: ArmBus,
        *,
        reconnect_period: float = 1.0,
        max_consecutive_errors: int = 5,
        configure: bool = True,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.bus = bus
        self.reconnect_period = reconnect_period
        self.max_consecutive_errors = max_consecutive_errors
        self.configure = configure
        self.counters = BusCounters()
        self.connected = False
        self._ever_connected = False
        self._clock = clock
        self._next_attempt = -float("inf")
        self._last_warned = ""

    @classmethod
    def open(
        cls,
        config: ArmBusConfig,
        kind: Literal["robots", "teleoperators"],
        names: Sequence[str],
        joint_names: Sequence[str],
    ) -> tuple[Path, BusSession]:
        """The calibrated bus `config` names (not connected yet) and the calibration file it came from."""
        path, calibration = resolve_calibration(
            config.calibration_file, config.calibration_id, kind, names, config.calibration_dir
        )
        bus = ArmBus(config.port, calibration, baudrate=config.baudrate, joint_names=list(joint_names))
        return path, cls(bus, reconnect_period=config.reconnect_period)

    def connect(self) -> bool:
        """Try to connect now; False (with `counters.last_error` set) when it fails."""
        self._next_attempt = self._clock() + self.reconnect_period
        try:
            self.bus.connect(configure=self.configure)
        except (FeetechError, OSError) as exc:
            self.counters.last_error = f"connect to {self.bus.port} failed: {exc}"
            return False
        if self._ever_connected:
            self.counters.reconnects += 1
        self.connected = self._ever_connected = True
        self.counters.consecutive_errors = 0
        return True

    def reconnect_due(self) -> bool:
        return not self.connected and self._clock() >= self._next_attempt

    def reconnect(self) -> bool:
        """(Re)connect when due: close what is left of the old link, try again (every `reconnect_period`)."""
        if not self.reconnect_due():
            return False
        self.bus.disconnect(torque_off=False)
        return self.connect()

    def retry(self, warn: Callable[[str], None]) -> bool:
        """While disconnected: reconnect when due, warning once per distinct failure. True when the link
        just came back."""
        if not self.reconnect_due():
            return False
        if self.reconnect():
            self._last_warned = ""
            return True
        if self.counters.last_error != self._last_warned:
            self._last_warned = self.counters.last_error
            warn(f"{self._last_warned}; retrying every {self.reconnect_period:.1f} s")
        return False

    def read(self, operation: Callable[[ArmBus], T]) -> T | None:
        """Run one bus transaction returning a value; None when it failed (the error is counted and kept)."""
        ok, result = self._call(operation)
        return result if ok else None

    def do(self, operation: Callable[[ArmBus], object]) -> bool:
        """Run one bus transaction for its effect; False when it failed."""
        return self._call(operation)[0]

    def _call(self, operation: Callable[[ArmBus], T]) -> tuple[bool, T | None]:
        if not self.connected:
            return False, None
        self.counters.transactions += 1
        try:
            result = operation(self.bus)
        except PortError as exc:
            self._fail(f"serial port lost: {exc}", lost=True)
            return False, None
        except (FeetechError, OSError) as exc:
            self._fail(str(exc), lost=False)
            return False, None
        self.counters.consecutive_errors = 0
        return True, result

    def _fail(self, message: str, lost: bool) -> None:
        self.counters.errors += 1
        self.counters.consecutive_errors += 1
        self.counters.last_error = message
        if lost or self.counters.consecutive_errors >= self.max_consecutive_errors:
            if not lost:
                self.counters.last_error = (
                    f"{self.counters.consecutive_errors} failed transactions in a row, last: {message}"
                )
            self.connected = False
            self._next_attempt = self._clock() + self.reconnect_period

    def close(self, torque_off: bool) -> None:
        try:
            self.bus.disconnect(torque_off=torque_off and self.connected)
        except (FeetechError, OSError) as exc:
            self.counters.last_error = f"disconnect failed: {exc}"
        self.connected = False
