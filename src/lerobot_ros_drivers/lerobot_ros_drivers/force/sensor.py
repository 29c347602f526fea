"""Reading a force/torque sensor on a serial port in a thread: protocol parsing, stamps, reconnects."""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np

from lerobot_ros_drivers.force.protocols import Protocol


@dataclass
class SensorStats:
    samples: int = 0
    reconnects: int = 0
    connected: bool = False
    last_error: str = ""
    errors: dict[str, int] = field(default_factory=dict)
    rate_hz: float = 0.0


class SerialForceSensor:
    """Reads `port` in a thread and calls `on_sample(wrench_si, stamp_ns)` for each parsed sample.

    The stamp is `clock()` when the bytes completing the sample were read. A vanished or failing
    port is closed and reopened every `reconnect_period_s`; the partial sample it left is dropped.
    """

    def __init__(
        self,
        port: str,
        baudrate: int,
        protocol: Protocol,
        on_sample: Callable[[np.ndarray, int], None],
        *,
        clock: Callable[[], int] = time.time_ns,
        reconnect_period_s: float = 1.0,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.protocol = protocol
        self._on_sample = on_sample
        self._clock = clock
        self._reconnect_period_s = reconnect_period_s
        self._lock = threading.Lock()
        self._stats = SensorStats()
        self._arrivals: deque[float] = deque(maxlen=200)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"force sensor {port}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(3.0)

    def stats(self) -> SensorStats:
        with self._lock:
            arrivals = list(self._arrivals)
            stats = SensorStats(
                self._stats.samples,
                self._stats.reconnects,
                self._stats.connected,
                self.protocol.last_error or self._stats.last_error,
                dict(self.protocol.errors),
            )
        recent = [t for t in arrivals if t > time.monotonic() - 2.0]
        if len(recent) > 1:
            stats.rate_hz = (len(recent) - 1) / max(recent[-1] - recent[0], 1e-9)
        return stats

    def _run(self) -> None:
        import serial

        connection = None
        opened_before = False
        while not self._stop.is_set():
            if connection is None:
                try:
                    connection = serial.Serial(self.port, self.baudrate, timeout=0.1)
                    command = self.protocol.start_command()
                    if command:
                        connection.write(command)
                except (serial.SerialException, OSError) as error:
                    connection = None
                    self._set_disconnected(f"cannot open {self.port}: {error}")
                    self._stop.wait(self._reconnect_period_s)
                    continue
                with self._lock:
                    self._stats.connected = True
                    self._stats.reconnects += int(opened_before)
                    self._stats.last_error = ""
                opened_before = True
            try:
                data = connection.read(max(1, connection.in_waiting))
            except (serial.SerialException, OSError) as error:
                connection.close()
                connection = None
                self.protocol.reset()
                self._set_disconnected(f"{self.port}: {error}; reopening every {self._reconnect_period_s:g} s")
                continue
            if not data:
                continue
            stamp_ns = self._clock()
            for wrench in self.protocol.feed(data):
                with self._lock:
                    self._stats.samples += 1
                    self._arrivals.append(time.monotonic())
                self._on_sample(wrench, stamp_ns)
        if connection is not None:
            connection.close()

    def _set_disconnected(self, message: str) -> None:
        with self._lock:
            self._stats.connected = False
            self._stats.last_error = message
