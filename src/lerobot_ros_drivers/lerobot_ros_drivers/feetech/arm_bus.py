"""An SO-100/SO-101 arm on one Feetech bus: positions in radians, one sync read / sync write per cycle.

This is what the follower and leader nodes drive. It checks every motor (ping, model), makes the
motors' stored calibration (Homing_Offset, position limits) agree with the calibration file, applies
LeRobot's `configure()` settings, and converts units through `JointCodec`.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from ..calibration.files import MotorCalibration
from ..calibration.units import SO_ARM_JOINTS, JointCodec
from .bus import DEFAULT_TIMEOUT_MS, FeetechBus
from .errors import FeetechError, PortError
from .registers import STS3215_MODEL_NUMBER

__all__ = ["SO_ARM_JOINTS", "ArmBus", "Telemetry"]

log = logging.getLogger(__name__)

# LeRobot's SOFollower.configure() / FeetechMotorsBus.configure_motors() settings.
MOTOR_SETTINGS: dict[str, int] = {
    "Return_Delay_Time": 0,
    "Maximum_Acceleration": 254,
    "Acceleration": 254,
    "Operating_Mode": 0,  # position servo
    "P_Coefficient": 16,
    "I_Coefficient": 0,
    "D_Coefficient": 32,
}
GRIPPER_SETTINGS: dict[str, int] = {
    "Max_Torque_Limit": 500,  # 50 % of max torque, against burnout
    "Protection_Current": 250,
    "Overload_Torque": 25,
}
GRIPPER_JOINT = "gripper"


@dataclass
class Telemetry:
    """Slow-rate motor readings in joint order; NaN where a motor could not be read."""

    velocities_rad_s: np.ndarray
    loads_percent: np.ndarray
    voltages_v: np.ndarray
    temperatures_c: np.ndarray


class ArmBus:
    """The motors of one arm. Thread-safe (one lock around every bus transaction)."""

    def __init__(
        self,
        port: str,
        calibration: Mapping[str, MotorCalibration],
        *,
        baudrate: int = 1_000_000,
        joint_names: Sequence[str] = SO_ARM_JOINTS,
        retries: int = 2,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        model_number: int = STS3215_MODEL_NUMBER,
    ) -> None:
        self.joint_names = list(joint_names)
        self.codec = JointCodec(calibration, self.joint_names)
        self.calibration = {joint: calibration[joint] for joint in self.joint_names}
        self.ids = [self.calibration[joint].id for joint in self.joint_names]
        if len(set(self.ids)) != len(self.ids):
            raise ValueError(
                f"calibration assigns duplicate motor ids: {dict(zip(self.joint_names, self.ids, strict=True))}"
            )
        self.model_number = model_number
        self.bus = FeetechBus(
            port,
            baudrate=baudrate,
            retries=retries,
            timeout_ms=timeout_ms,
            names=dict(zip(self.ids, self.joint_names, strict=True)),
        )
        self._lock = threading.RLock()
        self.calibration_written: list[str] = []  # motors whose stored calibration connect() had to rewrite

    @property
    def port(self) -> str:
        return self.bus.port

    @property
    def is_connected(self) -> bool:
        return self.bus.is_open

    # --- lifecycle -----------------------------------------------------------------------------------
    def connect(self, configure: bool = True) -> None:
        """Open the port, ping every motor and check its model, sync the stored calibration, configure.

        Torque is left as the motors had it unless a setting had to be written (then torque is off during
        the write and restored after), so reconnecting to an arm holding a pose does not drop it.
        """
        with self._lock:
            self.bus.open()
            try:
                for ident in self.ids:
                    self.bus.check_model(ident, self.model_number)
                self._sync_calibration()
                if configure:
                    self._configure()
            except BaseException:
                self.bus.close()
                raise

    def disconnect(self, torque_off: bool = True) -> None:
        """Close the port, first turning torque off when asked (errors then are logged, not raised)."""
        with self._lock:
            if torque_off and self.bus.is_open:
                try:
                    self.set_torque(False)
                except FeetechError as exc:
                    log.warning("could not turn torque off on %s before closing: %s", self.port, exc)
            self.bus.close()

    def _stored_calibration(self, ident: int) -> tuple[int, int, int]:
        return (
            self.bus.read("Homing_Offset", ident),
            self.bus.read("Min_Position_Limit", ident),
            self.bus.read("Max_Position_Limit", ident),
        )

    def _sync_calibration(self) -> None:
        """Write the file's Homing_Offset / limits to motors that store other values (as LeRobot does
        when a calibration file exists), so Present_Position means what the codec assumes."""
        self.calibration_written = []
        for joint, ident in zip(self.joint_names, self.ids, strict=True):
            cal = self.calibration[joint]
            wanted = (cal.homing_offset, cal.range_min, cal.range_max)
            stored = self._stored_calibration(ident)
            if stored == wanted:
                continue
            log.warning(
                "motor '%s' (id %d) stores homing_offset/range_min/range_max %s, calibration file says %s: writing",
                joint,
                ident,
                stored,
                wanted,
            )
            with self._torque_off(ident):
                self.bus.write("Homing_Offset", ident, cal.homing_offset)
                self.bus.write("Min_Position_Limit", ident, cal.range_min)
                self.bus.write("Max_Position_Limit", ident, cal.range_max)
            self.calibration_written.append(joint)

    def _configure(self) -> None:
        for joint, ident in zip(self.joint_names, self.ids, strict=True):
            settings = dict(MOTOR_SETTINGS)
            if joint == GRIPPER_JOINT:
                settings.update(GRIPPER_SETTINGS)
            changes = {name: value for name, value in settings.items() if self.bus.read(name, ident) != value}
            if not changes:
                continue
            with self._torque_off(ident):
                for name, value in changes.items():
                    self.bus.write(name, ident, value)

    @contextlib.contextmanager
    def _torque_off(self, ident: int) -> Iterator[None]:
        """Torque off and EEPROM unlocked for writing settings; torque restored (holding the pose) after."""
        was_on = bool(self.bus.read("Torque_Enable", ident))
        self.bus.write("Torque_Enable", ident, 0)
        self.bus.write("Lock", ident, 0)  # EEPROM writes persist only while unlocked
        yield
        self.bus.write("Lock", ident, 1)
        if was_on:
            self.bus.write("Goal_Position", ident, self.bus.read("Present_Position", ident))
            self.bus.write("Torque_Enable", ident, 1)

    # --- cyclic I/O -----------------------------------------------------------------------------------
    def read_raw_positions(self) -> np.ndarray:
        """Present_Position of every joint in steps (one SYNC_READ)."""
        with self._lock:
            values = self.bus.sync_read("Present_Position", self.ids)
        return np.array([values[i]["Present_Position"] for i in self.ids], dtype=np.int64)

    def read_positions(self) -> np.ndarray:
        """Joint positions in radians (one SYNC_READ)."""
        return self.codec.raw_to_radians(self.read_raw_positions())

    def write_raw_positions(self, raw: Sequence[int] | np.ndarray) -> None:
        """Goal_Position in steps, clamped to the calibrated range (one SYNC_WRITE)."""
        raw = np.clip(np.asarray(raw, dtype=np.int64), self.codec.range_min, self.codec.range_max).astype(np.int64)
        with self._lock:
            self.bus.sync_write("Goal_Position", dict(zip(self.ids, raw.tolist(), strict=True)))

    def write_positions(self, radians: Sequence[float] | np.ndarray) -> None:
        """Goal positions in radians, clamped to the calibrated range (one SYNC_WRITE). NaN → ValueError."""
        self.write_raw_positions(self.codec.radians_to_raw(radians))

    def set_torque(self, enabled: bool) -> None:
        """Torque on (holding the present pose: goals are set to the present positions first) or off."""
        with self._lock:
            if enabled:
                self.write_raw_positions(self.read_raw_positions())
                for ident in self.ids:
                    self.bus.write("Torque_Enable", ident, 1)
                    self.bus.write("Lock", ident, 1)
            else:
                for ident in self.ids:
                    self.bus.write("Torque_Enable", ident, 0)
                    self.bus.write("Lock", ident, 0)

    def read_telemetry(self) -> Telemetry:
        """Velocity, load, voltage and temperature (one SYNC_READ of registers 58–63); NaN when unreadable.

        A vanished port still raises PortError.
        """
        n = len(self.ids)
        nan = np.full(n, np.nan)
        telemetry = Telemetry(nan.copy(), nan.copy(), nan.copy(), nan.copy())
        names = ("Present_Velocity", "Present_Load", "Present_Voltage", "Present_Temperature")
        try:
            with self._lock:
                values = self.bus.sync_read(names, self.ids)
        except PortError:
            raise
        except FeetechError as exc:
            log.warning("telemetry read failed: %s", exc)
            return telemetry
        rows = np.array([[values[i][name] for name in names] for i in self.ids], dtype=np.float64)
        telemetry.velocities_rad_s = rows[:, 0] * self.codec.radians_per_step()
        telemetry.loads_percent = rows[:, 1] / 10.0
        telemetry.voltages_v = rows[:, 2] / 10.0
        telemetry.temperatures_c = rows[:, 3]
        return telemetry
