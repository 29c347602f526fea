"""A Feetech servo bus on top of `scservo_sdk`: ping/scan, read, write, sync read/write, retries.

Every failure becomes a `FeetechError` subclass naming the motor, the register and the cause; a
serial port that vanished (unplugged adapter) becomes `PortError`. Transient faults (no status
packet, corrupted status packet) are retried `retries` times before raising.
"""

from __future__ import annotations

import logging
import select
import termios
import threading
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import TypeVar

import scservo_sdk as scs
import serial

from .errors import ChecksumError, FeetechError, MissingMotorError, MotorTimeoutError, PortError, WrongModelError
from .protocol import BROADCAST_ID, MAX_ID, Instruction, PacketParser, build_packet
from .registers import MODEL_NAMES, STS3215, Register, describe_status_error

log = logging.getLogger(__name__)

DEFAULT_TIMEOUT_MS = 50.0
T = TypeVar("T")
_PORT_FAILURES = (serial.SerialException, termios.error, OSError)


class _Port(scs.PortHandler):
    """The SDK's port with a fixed reply timeout, blocking waits instead of busy polling, and stale
    input discarded before each instruction (a late reply must not answer the next request)."""

    def __init__(self, port_name: str, timeout_ms: float) -> None:
        super().__init__(port_name)
        self.timeout_ms = timeout_ms

    def setPacketTimeout(self, packet_length: int) -> None:  # noqa: N802 (SDK API)
        self.packet_start_time = self.getCurrentTime()
        self.packet_timeout = self.tx_time_per_byte * packet_length + self.timeout_ms

    def clearPort(self) -> None:  # noqa: N802 (SDK API)
        self.ser.reset_input_buffer()
        self.ser.flush()

    def readPort(self, length: int) -> bytes:  # noqa: N802 (SDK API)
        if self.ser.in_waiting < length:
            remaining_ms = self.packet_timeout - self.getTimeSinceStart()
            if remaining_ms > 0:
                select.select([self.ser.fileno()], [], [], remaining_ms / 1000.0)
        return self.ser.read(length)


def _label(names: Mapping[int, str], ident: int) -> dict[str, object]:
    return {"motor": names.get(ident), "motor_id": ident}


class FeetechBus:
    """One serial bus of Feetech protocol-0 servos (STS3215).

    `names` maps IDs to motor names used in error messages. All methods are thread-safe.
    """

    def __init__(
        self,
        port: str,
        *,
        baudrate: int = 1_000_000,
        retries: int = 2,
        timeout_ms: float = DEFAULT_TIMEOUT_MS,
        names: Mapping[int, str] | None = None,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.retries = retries
        self.names = dict(names or {})
        self._port = _Port(port, timeout_ms)
        self._packets = scs.PacketHandler(0)
        self._lock = threading.RLock()
        self.is_open = False
        self.transient_errors = 0  # retried faults since open, for diagnostics

    # --- port ----------------------------------------------------------------------------------------
    def open(self) -> None:
        with self._lock:
            if not Path(self.port).exists():
                raise PortError(f"cannot open serial port {self.port}: no such device (unplugged?)")
            try:
                if not self._port.setBaudRate(self.baudrate):
                    raise PortError(f"cannot open serial port {self.port}: unsupported baud rate {self.baudrate}")
            except _PORT_FAILURES as exc:
                raise PortError(f"cannot open serial port {self.port}: {exc}") from exc
            self.is_open = True

    def close(self) -> None:
        with self._lock:
            if self._port.ser is not None:
                try:
                    self._port.closePort()
                except _PORT_FAILURES as exc:
                    log.debug("closing %s: %s", self.port, exc)
            self._port.is_using = False
            self.is_open = False

    def set_baudrate(self, baudrate: int) -> None:
        with self._lock:
            self.baudrate = baudrate
            if self.is_open:
                self.close()
                self.open()

    def _transact(self, what: str, call: Callable[[], T]) -> T:
        if not self.is_open:
            raise PortError(f"serial port {self.port} is not open ({what})")
        try:
            return call()
        except _PORT_FAILURES as exc:
            self._port.is_using = False
            self.is_open = False
            gone = "vanished (unplugged?)" if not Path(self.port).exists() else "failed"
            raise PortError(f"serial port {self.port} {gone} while {what}: {exc}") from exc

    def _fail(self, result: int, what: str, tries: int, **where: object) -> FeetechError:
        if result == scs.COMM_RX_TIMEOUT:
            return MotorTimeoutError(f"no status packet (timeout) {what} after {tries} tries", **where)
        if result == scs.COMM_RX_CORRUPT:
            return ChecksumError(f"corrupted status packet (checksum) {what} after {tries} tries", **where)
        return FeetechError(f"{self._packets.getTxRxResult(result)} {what} after {tries} tries", **where)

    def _retrying(self, what: str, attempt: Callable[[], tuple[T, int]], **where: object) -> T:
        """Run `attempt` (returns value, comm result) until it succeeds or the retries are used up."""
        tries = self.retries + 1
        for n in range(tries):
            value, result = self._transact(what, attempt)
            if result == scs.COMM_SUCCESS:
                return value
            if result not in (scs.COMM_RX_TIMEOUT, scs.COMM_RX_CORRUPT):
                break
            self.transient_errors += 1
            log.debug("%s: %s (try %d/%d)", what, self._packets.getTxRxResult(result), n + 1, tries)
        raise self._fail(result, what, n + 1, **where)

    # --- single motors -------------------------------------------------------------------------------
    def ping(self, ident: int) -> int | None:
        """Model number of motor `ident`, or None when it does not answer."""
        with self._lock:
            model, result, _ = self._transact(f"pinging id {ident}", lambda: self._packets.ping(self._port, ident))
            return model if result == scs.COMM_SUCCESS else None

    def scan(self, ids: Iterable[int] = range(MAX_ID + 1)) -> dict[int, int]:
        """IDs that answer a ping → model number."""
        found = {}
        for ident in ids:
            model = self.ping(ident)
            if model is not None:
                found[ident] = model
        return found

    def broadcast_ping(self, window_ms: float | None = None) -> dict[int, int]:
        """Every motor on the bus at the current baud rate (one broadcast PING): id → model number."""
        window_ms = window_ms if window_ms is not None else self._port.timeout_ms + 3.0 * MAX_ID * 0.01
        request = build_packet(BROADCAST_ID, Instruction.PING)

        def exchange() -> list[int]:
            self._port.clearPort()
            self._port.writePort(request)
            self._port.setPacketTimeoutMillis(window_ms)
            parser = PacketParser()
            packets = []
            while not self._port.isPacketTimeout():
                packets += parser.feed(self._port.readPort(64))
            return sorted({p.ident for p in packets})

        with self._lock:
            found = self._transact("broadcast pinging", exchange)
            return {ident: model for ident in found if (model := self.ping(ident)) is not None}

    def check_model(self, ident: int, expected: int) -> None:
        """Raise MissingMotorError / WrongModelError unless `ident` answers with model `expected`."""
        model = None
        for _ in range(self.retries + 1):
            model = self.ping(ident)
            if model is not None:
                break
        where = _label(self.names, ident)
        if model is None:
            raise MissingMotorError(
                f"does not answer a ping on {self.port} at {self.baudrate} baud (not connected, wrong id or baud rate)",
                **where,
            )
        if model != expected:
            found = MODEL_NAMES.get(model, "unknown")
            want = MODEL_NAMES.get(expected, "unknown")
            raise WrongModelError(f"model number {model} ({found}), expected {expected} ({want})", **where)

    def read(self, name: str, ident: int) -> int:
        reg = STS3215[name]
        where = {**_label(self.names, ident), "register": reg.name, "address": reg.address}

        def attempt() -> tuple[int, int]:
            data, result, error = self._packets.readTxRx(self._port, ident, reg.address, reg.size)
            self._warn_status(error, ident, reg)
            return (int.from_bytes(bytes(data[: reg.size]), "little") if result == scs.COMM_SUCCESS else 0), result

        with self._lock:
            return reg.decode(self._retrying(f"reading {reg.label()}", attempt, **where))

    def write(self, name: str, ident: int, value: int) -> None:
        """Write and wait for the status packet (reliable; used for configuration)."""
        reg = STS3215[name]
        where = {**_label(self.names, ident), "register": reg.name, "address": reg.address}
        data = list(reg.encode(int(value)).to_bytes(reg.size, "little"))

        def attempt() -> tuple[None, int]:
            result, error = self._packets.writeTxRx(self._port, ident, reg.address, reg.size, data)
            self._warn_status(error, ident, reg)
            return None, result

        with self._lock:
            self._retrying(f"writing {value} to {reg.label()}", attempt, **where)

    # --- groups ----------------------------------------------------------------------------------------
    def sync_read(self, names: str | Iterable[str], ids: Iterable[int]) -> dict[int, dict[str, int]]:
        """One SYNC_READ of contiguous registers `names` from every motor in `ids`: id → name → value."""
        regs = [STS3215[n] for n in ([names] if isinstance(names, str) else names)]
        start = min(r.address for r in regs)
        length = max(r.address + r.size for r in regs) - start
        ids = list(ids)
        label = ", ".join(r.label() for r in regs)
        with self._lock:
            group = scs.GroupSyncRead(self._port, self._packets, start, length)
            for ident in ids:
                group.addParam(ident)
            failed: list[int] = []

            def attempt() -> tuple[None, int]:
                result = group.txRxPacket()
                failed[:] = [i for i in ids if len(group.data_dict.get(i) or []) < length]
                return None, result

            first = ids[0] if ids else None
            try:
                self._retrying(f"sync reading {label}", attempt)
            except (MotorTimeoutError, ChecksumError) as exc:
                culprit = failed[0] if failed else first
                raise type(exc)(
                    exc.cause, **_label(self.names, culprit), register=regs[0].name, address=regs[0].address
                ) from None
            values: dict[int, dict[str, int]] = {}
            for ident in ids:
                data = bytes(group.data_dict[ident][:length])
                values[ident] = {
                    r.name: r.decode(int.from_bytes(data[r.address - start : r.address - start + r.size], "little"))
                    for r in regs
                }
            return values

    def sync_write(self, name: str, values: Mapping[int, int]) -> None:
        """One broadcast SYNC_WRITE of register `name` (no status packets, so nothing to retry)."""
        reg = STS3215[name]
        with self._lock:
            group = scs.GroupSyncWrite(self._port, self._packets, reg.address, reg.size)
            for ident, value in values.items():
                group.addParam(ident, list(reg.encode(int(value)).to_bytes(reg.size, "little")))
            result = self._transact(f"sync writing {reg.label()}", group.txPacket)
            if result != scs.COMM_SUCCESS:
                raise FeetechError(
                    f"{self._packets.getTxRxResult(result)} sync writing", register=reg.name, address=reg.address
                )

    def _warn_status(self, error: int, ident: int, reg: Register) -> None:
        if error:
            log.warning(
                "motor %s (id %d) reports %s while accessing %s",
                self.names.get(ident, "?"),
                ident,
                describe_status_error(error),
                reg.label(),
            )
