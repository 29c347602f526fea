"""An STS3215 servo bus emulated on a pseudo-terminal, so the real SDK and driver run unchanged.

`ServoBusEmulator` is the pure core: it takes the bytes a host writes and returns the status packets
the servos would send (ping, read, write, reg-write/action, sync read, sync write), keeps each
servo's control table (EEPROM persisted only while Lock is 0, RAM reset at power-on), applies
Homing_Offset to Present_Position as the servo does (``present = actual − offset`` modulo one turn),
moves towards Goal_Position at a speed limit while torque is on, follows a scripted "hand" motion
while torque is off (a simulated leader arm), and injects faults (dropped replies, corrupted
checksums). `PtyServoBus` serves it on a pty (`os.openpty()`) behind a symlink and can unplug it.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import math
import os
import random
import select
import struct
import termios
import threading
import time
import tty
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from ..calibration.files import MotorCalibration
from .protocol import BROADCAST_ID, Instruction, PacketParser, build_packet
from .registers import (
    BAUDRATES_BY_CODE,
    EEPROM_END,
    FACTORY_START,
    RESOLUTION,
    STS3215,
    STS3215_MODEL_NUMBER,
)

log = logging.getLogger(__name__)

# Default speed limit: STS3215 at 12 V, about 0.22 s per 60° (≈ 270°/s).
DEFAULT_SPEED_LIMIT_STEPS_S = 3000.0

_READ_ONLY = [(r.address, r.address + r.size) for r in STS3215.values() if r.read_only]
_FACTORY_DEFAULTS = {
    "Firmware_Major_Version": 3,
    "Firmware_Minor_Version": 10,
    "Model_Number": STS3215_MODEL_NUMBER,
    "ID": 1,
    "Baud_Rate": 0,
    "Return_Delay_Time": 0,
    "Response_Status_Level": 1,
    "Min_Position_Limit": 0,
    "Max_Position_Limit": 4095,
    "Max_Temperature_Limit": 70,
    "Max_Voltage_Limit": 140,
    "Min_Voltage_Limit": 40,
    "Max_Torque_Limit": 1000,
    "P_Coefficient": 32,
    "D_Coefficient": 32,
    "I_Coefficient": 0,
    "Protection_Current": 500,
    "Homing_Offset": 0,
    "Operating_Mode": 0,
    "Protective_Torque": 20,
    "Protection_Time": 200,
    "Overload_Torque": 80,
    "Torque_Limit": 1000,
    "Lock": 1,
    "Maximum_Acceleration": 0,
}
VOLTAGE_DV = 120  # 12.0 V
TEMPERATURE_C = 32


def _is_eeprom(address: int) -> bool:
    return address < EEPROM_END or address >= FACTORY_START


Motion = Callable[[float], float]  # time (s) → present position (steps) while torque is off


class EmulatedServo:
    """One STS3215: control table, encoder position and dynamics."""

    def __init__(self, ident: int = 1, *, position: float = 2048.0, baudrate: int = 1_000_000) -> None:
        self.memory = bytearray(256)
        for name, value in _FACTORY_DEFAULTS.items():
            self._store(name, value)
        self._store("ID", ident)
        self._store("Baud_Rate", {b: c for c, b in BAUDRATES_BY_CODE.items()}[baudrate])
        self.persisted = bytearray(self.memory)  # EEPROM content that survives a power cycle
        self.actual = float(position) % RESOLUTION  # encoder reading, before Homing_Offset
        self.velocity = 0.0  # steps/s, signed
        self.hand: Motion | None = None  # scripted motion while torque is off
        self.pending_write: tuple[int, bytes] | None = None  # REG_WRITE awaiting ACTION
        self._store("Goal_Position", round(self.present))

    # --- control table ---------------------------------------------------------------------------
    def _store(self, name: str, value: int) -> None:
        reg = STS3215[name]
        self.memory[reg.address : reg.address + reg.size] = reg.encode(int(value)).to_bytes(reg.size, "little")

    def value(self, name: str) -> int:
        reg = STS3215[name]
        raw = int.from_bytes(self.memory[reg.address : reg.address + reg.size], "little")
        return reg.decode(raw)

    @property
    def ident(self) -> int:
        return self.memory[STS3215["ID"].address]

    @property
    def baudrate(self) -> int:
        return BAUDRATES_BY_CODE.get(self.memory[STS3215["Baud_Rate"].address], 0)

    @property
    def torque(self) -> bool:
        return bool(self.memory[STS3215["Torque_Enable"].address])

    @property
    def present(self) -> float:
        return (self.actual - self.value("Homing_Offset")) % RESOLUTION

    def set_present(self, position: float) -> None:
        """Move the horn (by hand, or by the controller) to a present-position value."""
        self.actual = (position + self.value("Homing_Offset")) % RESOLUTION

    def read(self, address: int, length: int) -> bytes:
        self._refresh_present_registers()
        return bytes(self.memory[address : address + length])

    def write(self, address: int, data: bytes) -> None:
        torque_before = self.torque
        unlocked = self.memory[STS3215["Lock"].address] == 0
        for offset, byte in enumerate(data):
            addr = address + offset
            if addr >= len(self.memory) or any(lo <= addr < hi for lo, hi in _READ_ONLY):
                continue
            self.memory[addr] = byte
            if unlocked and _is_eeprom(addr):
                self.persisted[addr] = byte
        if self.torque and not torque_before:
            # Enabling torque holds the horn where it is.
            self._store("Goal_Position", round(self.present) % RESOLUTION)

    def power_cycle(self) -> None:
        """Power off and on: EEPROM from what was persisted, RAM to its defaults."""
        for addr in range(len(self.memory)):
            self.memory[addr] = self.persisted[addr] if _is_eeprom(addr) else 0
        for name, value in _FACTORY_DEFAULTS.items():
            if not STS3215[name].eeprom:
                self._store(name, value)
        self.pending_write = None
        self._store("Goal_Position", round(self.present) % RESOLUTION)
        self.velocity = 0.0

    def _refresh_present_registers(self) -> None:
        self._store("Present_Position", round(self.present) % RESOLUTION)
        self._store("Present_Velocity", max(-32767, min(32767, round(self.velocity))))
        load = min(1000, round(abs(self.velocity) / 10.0)) if self.torque else 0
        self._store("Present_Load", int(math.copysign(load, self.velocity)))
        self._store("Present_Voltage", VOLTAGE_DV)
        self._store("Present_Temperature", TEMPERATURE_C)
        self._store("Moving", int(abs(self.velocity) > 0.5))

    # --- dynamics ----------------------------------------------------------------------------------
    def advance(self, now: float, dt: float, speed_limit: float) -> None:
        """Move for `dt` seconds: towards the goal under torque, along the hand motion without."""
        before = self.present
        if self.torque:
            goal = self.value("Goal_Position")
            lo, hi = self.value("Min_Position_Limit"), self.value("Max_Position_Limit")
            if lo < hi:
                goal = min(max(goal, lo), hi)
            goal_velocity = abs(self.value("Goal_Velocity"))
            speed = min(speed_limit, goal_velocity) if goal_velocity else speed_limit
            step = max(-speed * dt, min(speed * dt, goal - before))
            self.set_present(before + step)
            self.velocity = step / dt if dt > 0 else 0.0
        elif self.hand is not None:
            target = self.hand(now)
            self.set_present(target)
            self.velocity = (target - before) / dt if dt > 0 else 0.0
        else:
            self.velocity = 0.0


@dataclass
class Faults:
    """Reply faults. Rates are probabilities per status packet; queued faults hit the next replies."""

    timeout_rate: float = 0.0
    checksum_rate: float = 0.0
    drop_next: dict[int | None, int] = field(default_factory=dict)  # id (None: any) → replies to drop
    corrupt_next: dict[int | None, int] = field(default_factory=dict)
    seed: int | None = None

    def __post_init__(self) -> None:
        self._random = random.Random(self.seed)

    @staticmethod
    def _take(queue: dict[int | None, int], ident: int) -> bool:
        for key in (ident, None):
            if queue.get(key, 0) > 0:
                queue[key] -= 1
                return True
        return False

    def apply(self, ident: int, reply: bytes) -> bytes | None:
        if self._take(self.drop_next, ident) or (self.timeout_rate and self._random.random() < self.timeout_rate):
            return None
        if self._take(self.corrupt_next, ident) or (self.checksum_rate and self._random.random() < self.checksum_rate):
            return reply[:-1] + bytes(((reply[-1] + 1) & 0xFF,))
        return reply


class ServoBusEmulator:
    """Servos on one bus. Thread-safe: the transport thread and tests call it concurrently."""

    def __init__(
        self,
        servos: Iterable[EmulatedServo] = (),
        *,
        speed_limit: float = DEFAULT_SPEED_LIMIT_STEPS_S,
        clock: Callable[[], float] = time.monotonic,
        faults: Faults | None = None,
    ) -> None:
        self.servos: list[EmulatedServo] = list(servos)
        self.speed_limit = speed_limit
        self.faults = faults or Faults()
        self._clock = clock
        self._last = clock()
        self._parser = PacketParser()
        self.lock = threading.RLock()
        self.packets_handled = 0

    def servo(self, ident: int) -> EmulatedServo:
        with self.lock:
            for servo in self.servos:
                if servo.ident == ident:
                    return servo
        raise KeyError(f"no emulated servo with id {ident}")

    def advance(self) -> None:
        with self.lock:
            now = self._clock()
            dt = now - self._last
            self._last = now
            for servo in self.servos:
                servo.advance(now, dt, self.speed_limit)

    def receive(self, data: bytes, baudrate: int | None = None) -> list[bytes]:
        """Bytes from the host → status packets to send back (in order)."""
        with self.lock:
            replies: list[bytes] = []
            for packet in self._parser.feed(data):
                self.advance()
                self.packets_handled += 1
                listening = [s for s in self.servos if baudrate is None or s.baudrate == baudrate]
                replies.extend(self._handle(packet.ident, packet.code, packet.params, listening))
            return replies

    def _reply(self, servo: EmulatedServo, ident: int, data: bytes = b"") -> bytes | None:
        return self.faults.apply(servo.ident, build_packet(ident, 0, data))

    def _handle(self, ident: int, instruction: int, params: bytes, servos: list[EmulatedServo]) -> list[bytes]:
        targets = [s for s in servos if ident in (BROADCAST_ID, s.ident)]
        replies: list[bytes | None] = []
        if instruction == Instruction.PING:
            replies = [self._reply(s, s.ident) for s in sorted(targets, key=lambda s: s.ident)]
        elif instruction == Instruction.READ and len(params) == 2 and ident != BROADCAST_ID:
            replies = [self._reply(s, s.ident, s.read(params[0], params[1])) for s in targets]
        elif instruction in (Instruction.WRITE, Instruction.REG_WRITE) and params:
            for servo in targets:
                # The status packet carries the id the instruction was addressed to.
                if instruction == Instruction.WRITE:
                    servo.write(params[0], params[1:])
                else:
                    servo.pending_write = (params[0], params[1:])
                if ident != BROADCAST_ID:
                    replies.append(self._reply(servo, ident))
        elif instruction == Instruction.ACTION:
            for servo in targets:
                if servo.pending_write is not None:
                    servo.write(*servo.pending_write)
                    servo.pending_write = None
                if ident != BROADCAST_ID:
                    replies.append(self._reply(servo, ident))
        elif instruction == Instruction.SYNC_READ and len(params) >= 2:
            address, length = params[0], params[1]
            by_id = {s.ident: s for s in servos}
            for wanted in params[2:]:
                if wanted in by_id:
                    replies.append(self._reply(by_id[wanted], wanted, by_id[wanted].read(address, length)))
        elif instruction == Instruction.SYNC_WRITE and len(params) >= 2:
            address, length = params[0], params[1]
            by_id = {s.ident: s for s in servos}
            chunk = 1 + length
            for start in range(2, len(params) - chunk + 1, chunk):
                target = params[start]
                if target in by_id:
                    by_id[target].write(address, params[start + 1 : start + chunk])
        return [r for r in replies if r is not None]


def so_arm_servos(
    calibration: Mapping[str, MotorCalibration] | None = None, ids: Iterable[int] = range(1, 7)
) -> list[EmulatedServo]:
    """Servos of an SO-100/SO-101 arm: factory state, or as after a LeRobot calibration.

    With `calibration`, the servos hold its Homing_Offset / limits and start at the middle of their range.
    """
    if calibration is None:
        return [EmulatedServo(ident) for ident in ids]
    wanted = set(ids)
    servos = []
    for cal in calibration.values():
        if cal.id not in wanted:
            continue
        servo = EmulatedServo(cal.id)
        servo.write(STS3215["Lock"].address, b"\x00")
        for name, value in (
            ("Homing_Offset", cal.homing_offset),
            ("Min_Position_Limit", cal.range_min),
            ("Max_Position_Limit", cal.range_max),
        ):
            reg = STS3215[name]
            servo.write(reg.address, reg.encode(value).to_bytes(reg.size, "little"))
        servo.write(STS3215["Lock"].address, b"\x01")
        servo.set_present((cal.range_min + cal.range_max) / 2)
        servo.write(STS3215["Goal_Position"].address, round(servo.present).to_bytes(2, "little"))
        servos.append(servo)
    return servos


def scripted_motion(kind: str, servo: EmulatedServo, index: int, period_s: float = 6.0) -> Motion | None:
    """A leader-arm motion inside the servo's limits: `sine` (all joints in phase) or `wave` (phase-shifted)."""
    if kind == "none":
        return None
    if kind not in ("sine", "wave"):
        raise ValueError(f"unknown motion {kind!r} (none, sine, wave)")
    lo, hi = servo.value("Min_Position_Limit"), servo.value("Max_Position_Limit")
    middle, amplitude = (lo + hi) / 2, 0.35 * (hi - lo)
    phase = index * math.pi / 3 if kind == "wave" else 0.0
    start = time.monotonic()
    return lambda now: middle + amplitude * math.sin(2 * math.pi * (now - start) / period_s + phase)


_TCGETS2 = 0x802C542A  # Linux ioctl: termios2 with the actual speeds
_TERMIOS2 = struct.Struct("4I B 19s 2I")


def line_baudrate(fd: int) -> int | None:
    """The baud rate the host configured on the pty (None when it cannot be read)."""
    try:
        raw = fcntl.ioctl(fd, _TCGETS2, bytes(_TERMIOS2.size))
    except OSError:
        return None
    return _TERMIOS2.unpack(raw)[-2] or None


class PtyServoBus:
    """Serves a `ServoBusEmulator` on a pseudo-terminal; `port` is what a driver opens.

    With `link` set, a symlink at that path points at the pty (created on `plug`, removed on `unplug`),
    like a udev name that appears and vanishes with the adapter. Servos answer only when the host's
    configured baud rate matches their Baud_Rate register, as on a real bus.
    """

    def __init__(self, emulator: ServoBusEmulator, link: str | Path | None = None) -> None:
        self.emulator = emulator
        self.link = Path(link) if link is not None else None
        self._master = self._slave = -1
        self._slave_name = ""
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    @property
    def port(self) -> str:
        return str(self.link) if self.link is not None else self._slave_name

    @property
    def device(self) -> str:
        """The pty's own device path (/dev/pts/N) while plugged."""
        return self._slave_name

    @property
    def plugged(self) -> bool:
        return self._thread is not None

    def plug(self) -> None:
        if self.plugged:
            return
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)  # no echo, no line discipline until the host configures the port
        attrs = termios.tcgetattr(self._slave)
        attrs[4] = attrs[5] = termios.B1000000
        termios.tcsetattr(self._slave, termios.TCSANOW, attrs)
        self._slave_name = os.ttyname(self._slave)
        if self.link is not None:
            self.link.parent.mkdir(parents=True, exist_ok=True)
            tmp = self.link.with_name(self.link.name + ".tmp")
            with contextlib.suppress(FileNotFoundError):
                tmp.unlink()
            tmp.symlink_to(self._slave_name)
            tmp.replace(self.link)
        self._stop.clear()
        self._thread = threading.Thread(target=self._serve, name=f"servo-bus {self.port}", daemon=True)
        self._thread.start()

    def unplug(self) -> None:
        """Remove the port as an unplugged USB adapter does: the link vanishes, open handles fail."""
        if not self.plugged:
            return
        if self.link is not None and self.link.is_symlink() and str(self.link.readlink()) == self._slave_name:
            self.link.unlink()
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout=5.0)
        self._thread = None
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
        self._master = self._slave = -1

    def __enter__(self) -> PtyServoBus:
        self.plug()
        return self

    def __exit__(self, *exc: object) -> None:
        self.unplug()

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                ready, _, _ = select.select([self._master], [], [], 0.05)
                if not ready:
                    continue
                data = os.read(self._master, 4096)
            except OSError as exc:
                if exc.errno in (errno.EIO, errno.EBADF):
                    time.sleep(0.01)
                    continue
                raise
            try:
                replies = self.emulator.receive(data, line_baudrate(self._slave))
            except Exception:  # an emulator bug must not silently kill the bus: log, stay silent as a servo would
                log.exception("servo bus emulator failed on %r", data)
                continue
            for reply in replies:
                delay_us = 2 * self._return_delay(reply[2])
                if delay_us:
                    time.sleep(delay_us * 1e-6)
                try:
                    os.write(self._master, reply)
                except OSError:
                    break

    def _return_delay(self, ident: int) -> int:
        try:
            return self.emulator.servo(ident).value("Return_Delay_Time")
        except KeyError:
            return 0
