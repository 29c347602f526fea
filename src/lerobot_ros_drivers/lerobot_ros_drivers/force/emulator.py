"""A force/torque sensor on a pseudo-terminal: streams a protocol's frames, and bad bytes on request.

The node under test opens the pty's device path as if it were the sensor's serial port, so the
real serial code path (pyserial, partial reads, reconnects) is what the tests exercise.
"""

from __future__ import annotations

import contextlib
import math
import os
import threading
import time
import tty
from collections.abc import Callable

import numpy as np

from lerobot_ros_drivers.force.protocols import Protocol


def constant_wrench(value: np.ndarray) -> Callable[[float], np.ndarray]:
    return lambda t: np.asarray(value, float)


def sine_wrench(amplitude: float = 1.0, frequency_hz: float = 1.0, offset: np.ndarray | None = None):
    base = np.zeros(6) if offset is None else np.asarray(offset, float)
    return lambda t: (
        base + amplitude * math.sin(2 * math.pi * frequency_hz * t) * np.array([1, -1, 0.5, 0.1, -0.1, 0.05])
    )


class ForceSensorEmulator:
    """Writes `protocol.encode(wrench(t))` to a pty at `rate_hz`; `inject` sends raw bytes in between."""

    def __init__(self, protocol: Protocol, wrench: Callable[[float], np.ndarray], rate_hz: float = 100.0) -> None:
        self.protocol = protocol
        self.wrench = wrench
        self.rate_hz = rate_hz
        self.sent = 0
        self.overrun_bytes = 0
        self.received = bytearray()
        self._master, self._slave = os.openpty()
        tty.setraw(self._slave)
        os.set_blocking(self._master, False)  # a full buffer drops bytes, as a UART would
        self.port = os.ttyname(self._slave)
        self._lock = threading.Lock()
        self._pending: list[bytes] = []
        self._stop = threading.Event()
        self._paused = threading.Event()
        self._thread = threading.Thread(target=self._run, name="force emulator", daemon=True)

    def __enter__(self) -> ForceSensorEmulator:
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def start(self) -> None:
        self._thread.start()

    def inject(self, data: bytes) -> None:
        """Send raw bytes before the next frame (malformed input)."""
        with self._lock:
            self._pending.append(data)

    def pause(self, paused: bool = True) -> None:
        """Stop / resume streaming (a sensor that goes quiet)."""
        if paused:
            self._paused.set()
        else:
            self._paused.clear()

    def _run(self) -> None:
        start = time.monotonic()
        next_due = start
        while not self._stop.is_set():
            self._stop.wait(max(0.0, next_due - time.monotonic()))
            next_due += 1.0 / self.rate_hz
            self._drain_input()
            with self._lock:
                pending, self._pending = self._pending, []
            data = b"".join(pending)
            if not self._paused.is_set():
                data += self.protocol.encode(self.wrench(time.monotonic() - start))
                self.sent += 1
            if data:
                try:
                    os.write(self._master, data)
                except BlockingIOError:
                    self.overrun_bytes += len(data)  # nobody reads the port
                except OSError:
                    return  # closed

    def _drain_input(self) -> None:
        import select

        while select.select([self._master], [], [], 0)[0]:
            try:
                chunk = os.read(self._master, 1024)
            except OSError:
                return
            if not chunk:
                return
            self.received += chunk

    def close(self) -> None:
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join(2.0)
        for fd in (self._master, self._slave):
            with contextlib.suppress(OSError):
                os.close(fd)
