"""Force/torque sensor wire protocols: bytes in, wrenches (SI units) out, bad input counted.

A protocol is fed whatever the serial port returned (any split of the stream) and returns the
complete samples it found, as float64 arrays [fx, fy, fz, tx, ty, tz] in N and N·m. Anything it
cannot use is counted by kind in `errors` (and described in `last_error`) and skipped: a sensor
that sends a bad line never stops the stream.

`LineProtocol` covers the many sensors that print text lines (configurable delimiter, field
order, scale, units, prefix, checksum). Binary protocols subclass `Protocol` and register a name
with `@register_protocol("name")`; `RobotiqFT300Protocol` is one (the FT 300's data stream).
"""

from __future__ import annotations

import math
import struct
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

AXES = ("fx", "fy", "fz", "tx", "ty", "tz")
FORCE_UNITS = {"N": 1.0, "mN": 1e-3, "kN": 1e3, "kgf": 9.80665, "lbf": 4.4482216152605}
TORQUE_UNITS = {"Nm": 1.0, "Nmm": 1e-3, "mNm": 1e-3, "kgfcm": 0.0980665, "lbfin": 0.1129848290276167}


class ProtocolConfigError(ValueError):
    """A protocol configuration that cannot work (unknown field, unit, checksum, ...)."""


class Protocol:
    """Base of all wire protocols: parse bytes into SI wrenches, count what could not be parsed."""

    def __init__(self) -> None:
        self.errors: Counter[str] = Counter()
        self.last_error = ""

    def feed(self, data: bytes) -> list[np.ndarray]:
        """Complete samples found in `data` (plus what earlier calls left incomplete)."""
        raise NotImplementedError

    def reset(self) -> None:
        """Forget a partial sample (after a reconnect: the rest of it will never come)."""

    def start_command(self) -> bytes:
        """Bytes to write after opening the port to make the sensor stream (none for most)."""
        return b""

    def encode(self, wrench: np.ndarray) -> bytes:
        """The bytes a sensor would send for `wrench` (emulators and tests)."""
        raise NotImplementedError

    def _reject(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        self.last_error = message


PROTOCOLS: dict[str, Callable[..., Protocol]] = {}


def register_protocol(name: str) -> Callable[[type[Protocol]], type[Protocol]]:
    """Class decorator: make a Protocol subclass selectable by name (the node's `protocol` parameter)."""

    def register(cls: type[Protocol]) -> type[Protocol]:
        PROTOCOLS[name] = cls
        return cls

    return register


@dataclass
class LineProtocolConfig:
    delimiter: str = "\n"
    """End of a line; a trailing carriage return is always ignored."""
    separator: str = ","
    """Between fields; " " splits on any whitespace."""
    fields: list[str] = field(default_factory=lambda: list(AXES))
    """Field order: fx fy fz tx ty tz, "_" for a field to ignore (counter, status); absent axes read 0."""
    scale: list[float] = field(default_factory=lambda: [1.0])
    """Multiplier per axis (6 values, fx..tz) or one for all, applied before the unit conversion."""
    force_unit: str = "N"
    torque_unit: str = "Nm"
    prefix: str = ""
    """Text each data line starts with (other lines are rejected)."""
    checksum: str = "none"
    """none | xor | sum8: "*HH" after the data, hex of the XOR / 8-bit sum of the bytes before '*'."""
    max_line_length: int = 256


@register_protocol("line")
class LineProtocol(Protocol):
    def __init__(self, config: LineProtocolConfig | None = None) -> None:
        super().__init__()
        self.config = config = config or LineProtocolConfig()
        unknown = [f for f in config.fields if f not in AXES and f != "_"]
        if unknown or not config.fields:
            raise ProtocolConfigError(f"line protocol fields {config.fields}: use {', '.join(AXES)} or '_'")
        if len(set(f for f in config.fields if f != "_")) != len([f for f in config.fields if f != "_"]):
            raise ProtocolConfigError(f"line protocol fields {config.fields}: an axis appears twice")
        if config.force_unit not in FORCE_UNITS:
            raise ProtocolConfigError(f"force unit {config.force_unit!r} unknown ({', '.join(FORCE_UNITS)})")
        if config.torque_unit not in TORQUE_UNITS:
            raise ProtocolConfigError(f"torque unit {config.torque_unit!r} unknown ({', '.join(TORQUE_UNITS)})")
        if config.checksum not in ("none", "xor", "sum8"):
            raise ProtocolConfigError(f"checksum {config.checksum!r} unknown (none, xor, sum8)")
        if len(config.scale) not in (1, 6):
            raise ProtocolConfigError(f"scale needs 1 or 6 values, got {len(config.scale)}")
        if not config.delimiter:
            raise ProtocolConfigError("line delimiter must not be empty")
        scale = np.broadcast_to(np.asarray(config.scale, float), (6,))
        units = np.array([FORCE_UNITS[config.force_unit]] * 3 + [TORQUE_UNITS[config.torque_unit]] * 3)
        self._factors = scale * units
        self._columns = [(i, AXES.index(name)) for i, name in enumerate(config.fields) if name != "_"]
        self._delimiter = config.delimiter.encode()
        self._buffer = bytearray()
        self._overflowing = False

    def reset(self) -> None:
        self._buffer.clear()
        self._overflowing = False

    def feed(self, data: bytes) -> list[np.ndarray]:
        self._buffer += data
        samples = []
        while True:
            end = self._buffer.find(self._delimiter)
            if end < 0:
                break
            line = bytes(self._buffer[:end])
            del self._buffer[: end + len(self._delimiter)]
            if self._overflowing:  # the tail of an over-long line
                self._overflowing = False
                continue
            sample = self._parse(line)
            if sample is not None:
                samples.append(sample)
        if len(self._buffer) > self.config.max_line_length:
            self._reject("overflow", f"no delimiter in {len(self._buffer)} bytes (max_line_length)")
            self._buffer.clear()
            self._overflowing = True
        return samples

    def _parse(self, raw: bytes) -> np.ndarray | None:
        config = self.config
        raw = raw.rstrip(b"\r")
        if not raw.strip():
            return None
        if len(raw) > config.max_line_length:
            self._reject("overflow", f"line of {len(raw)} bytes exceeds max_line_length {config.max_line_length}")
            return None
        try:
            line = raw.decode("ascii")
        except UnicodeDecodeError:
            self._reject("garbage", f"non-ASCII bytes in line {raw[:40]!r}")
            return None
        if not line.isprintable():
            self._reject("garbage", f"control characters in line {raw[:40]!r}")
            return None
        if config.prefix:
            if not line.startswith(config.prefix):
                self._reject("prefix", f"line {line[:40]!r} does not start with {config.prefix!r}")
                return None
            line = line[len(config.prefix) :]
        if config.checksum != "none":
            line = self._check(line)
            if line is None:
                return None
        parts = line.split() if config.separator.strip() == "" else line.split(config.separator)
        if len(parts) != len(config.fields):
            self._reject("field_count", f"line {line[:60]!r} has {len(parts)} fields, expected {len(config.fields)}")
            return None
        wrench = np.zeros(6)
        for column, axis in self._columns:
            try:
                value = float(parts[column])
            except ValueError:
                self._reject("number", f"field {config.fields[column]} = {parts[column][:20]!r} is not a number")
                return None
            if not math.isfinite(value):
                self._reject("non_finite", f"field {config.fields[column]} = {parts[column]!r} is not finite")
                return None
            wrench[axis] = value
        return wrench * self._factors

    def _check(self, line: str) -> str | None:
        body, star, digits = line.rpartition("*")
        if not star or len(digits) != 2:
            self._reject("checksum", f"line {line[:60]!r} has no '*HH' checksum")
            return None
        try:
            expected = int(digits, 16)
        except ValueError:
            self._reject("checksum", f"checksum {digits!r} is not hex")
            return None
        actual = _checksum(self.config.checksum, (self.config.prefix + body).encode())
        if actual != expected:
            self._reject("checksum", f"checksum {expected:02X} does not match the line ({actual:02X})")
            return None
        return body

    def encode(self, wrench: np.ndarray) -> bytes:
        config = self.config
        raw = np.asarray(wrench, float) / self._factors
        parts = ["0" if name == "_" else f"{raw[AXES.index(name)]:.6g}" for name in config.fields]
        separator = " " if config.separator.strip() == "" else config.separator
        line = config.prefix + separator.join(parts)
        if config.checksum != "none":
            line += f"*{_checksum(config.checksum, line.encode()):02X}"
        return line.encode() + self._delimiter


def _checksum(kind: str, data: bytes) -> int:
    if kind == "xor":
        value = 0
        for byte in data:
            value ^= byte
        return value
    return sum(data) & 0xFF


def crc16_modbus(data: bytes) -> int:
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


@register_protocol("robotiq_ft300")
class RobotiqFT300Protocol(Protocol):
    """Robotiq FT 300 data stream: frames 0x20 0x4E, six int16 LE (N/100, N·m/1000), CRC-16/Modbus.

    Streaming starts when register 410 is written with 0x0200 (Modbus RTU, slave 9).
    """

    HEADER = b"\x20\x4e"
    FRAME = 16
    SCALE = np.array([1 / 100] * 3 + [1 / 1000] * 3)

    def __init__(self) -> None:
        super().__init__()
        self._buffer = bytearray()

    def reset(self) -> None:
        self._buffer.clear()

    def start_command(self) -> bytes:
        request = bytes([9, 0x10, 0x01, 0x9A, 0x00, 0x01, 0x02, 0x02, 0x00])
        return request + struct.pack("<H", crc16_modbus(request))

    def feed(self, data: bytes) -> list[np.ndarray]:
        self._buffer += data
        samples = []
        while len(self._buffer) >= self.FRAME:
            start = self._buffer.find(self.HEADER)
            if start != 0:
                skipped = len(self._buffer) - 1 if start < 0 else start
                self._reject("garbage", f"{skipped} bytes before a frame header")
                del self._buffer[:skipped]
                continue
            frame = bytes(self._buffer[: self.FRAME])
            if struct.unpack("<H", frame[14:])[0] != crc16_modbus(frame[:14]):
                self._reject("checksum", "frame CRC mismatch")
                del self._buffer[:1]  # resynchronise on the next header
                continue
            del self._buffer[: self.FRAME]
            samples.append(np.array(struct.unpack("<6h", frame[2:14]), float) * self.SCALE)
        return samples

    def encode(self, wrench: np.ndarray) -> bytes:
        counts = np.clip(np.rint(np.asarray(wrench, float) / self.SCALE), -32768, 32767).astype(int)
        body = self.HEADER + struct.pack("<6h", *counts)
        return body + struct.pack("<H", crc16_modbus(body))


def create_protocol(name: str, line_config: LineProtocolConfig | None = None) -> Protocol:
    """The registered protocol `name`; the line protocol takes `line_config`."""
    if name not in PROTOCOLS:
        raise ProtocolConfigError(f"force sensor protocol {name!r} unknown (registered: {', '.join(PROTOCOLS)})")
    return PROTOCOLS[name](line_config) if name == "line" else PROTOCOLS[name]()
