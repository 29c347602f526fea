"""Feetech protocol 0 framing: packets, checksums and the byte counts on the wire.

The bus layer talks through `scservo_sdk`; this module is what the emulator parses and answers with,
and what the benchmark uses to compute the wire-time bound.

Instruction packet: ``FF FF id length instruction params... checksum`` with ``length = len(params) + 2``;
status packet: ``FF FF id length error params... checksum``; ``checksum = ~(id + length + ... ) & 0xFF``.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum

HEADER = b"\xff\xff"
BROADCAST_ID = 0xFE
MAX_ID = 0xFC
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


class Instruction(IntEnum):
    PING = 0x01
    READ = 0x02
    WRITE = 0x03
    REG_WRITE = 0x04
    ACTION = 0x05
    SYNC_READ = 0x82
    SYNC_WRITE = 0x83


def checksum(body: bytes | bytearray) -> int:
    """Checksum over id, length, instruction/error and params."""
    return ~sum(body) & 0xFF


def build_packet(ident: int, code: int, params: bytes | bytearray = b"") -> bytes:
    """An instruction (code = instruction) or status (code = error byte) packet."""
    body = bytes((ident, len(params) + 2, code)) + bytes(params)
    return HEADER + body + bytes((checksum(body),))


@dataclass(frozen=True)
class Packet:
    ident: int
    code: int  # instruction (to servos) or error byte (from servos)
    params: bytes


class PacketParser:
    """Incremental parser: feed bytes as they arrive, get complete packets with a valid checksum.

    Bytes before a header and packets with a bad checksum are dropped (counted in `dropped`),
    as a servo ignores them.
    """

    def __init__(self) -> None:
        self._buffer = bytearray()
        self.dropped = 0

    def feed(self, data: bytes) -> list[Packet]:
        self._buffer.extend(data)
        packets: list[Packet] = []
        while True:
            start = self._buffer.find(HEADER)
            if start < 0:
                # Keep a trailing 0xFF: it may be the first half of a header.
                keep = 1 if self._buffer.endswith(b"\xff") else 0
                self.dropped += len(self._buffer) - keep
                del self._buffer[: len(self._buffer) - keep]
                return packets
            if start:
                self.dropped += start
                del self._buffer[:start]
            if len(self._buffer) < 4:
                return packets
            ident, length = self._buffer[2], self._buffer[3]
            if ident == 0xFF or length < 2:
                # 0xFF 0xFF 0xFF ...: shift by one byte and look for the header again.
                self.dropped += 1
                del self._buffer[0]
                continue
            total = 4 + length
            if len(self._buffer) < total:
                return packets
            body = bytes(self._buffer[2 : total - 1])
            if checksum(body) == self._buffer[total - 1]:
                packets.append(Packet(ident, body[2], body[3:]))
            else:
                self.dropped += total
            del self._buffer[:total]


def instruction_bytes(n_params: int) -> int:
    """Bytes on the wire of an instruction packet with `n_params` parameter bytes."""
    return 6 + n_params


def status_bytes(n_data: int) -> int:
    """Bytes on the wire of a status packet carrying `n_data` data bytes."""
    return 6 + n_data


def sync_read_bytes(n_motors: int, data_length: int) -> int:
    """Request (address, length, ids) plus one status packet per motor."""
    return instruction_bytes(2 + n_motors) + n_motors * status_bytes(data_length)


def sync_write_bytes(n_motors: int, data_length: int) -> int:
    """One broadcast packet (address, length, then id + data per motor); no reply."""
    return instruction_bytes(2 + n_motors * (1 + data_length))


def wire_time_s(n_bytes: int, baudrate: int) -> float:
    return n_bytes * BITS_PER_BYTE / baudrate
