"""A capture thread over any frame source: stamps at capture, paces files, reconnects, counts drops.

Sources (OpenCV devices and files, RealSense devices and recordings) implement `FrameSource`;
the thread owns the loop that is the same for all of them, so every camera node reports the same
statistics and survives an unplugged device the same way.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np


class CameraError(RuntimeError):
    """A camera cannot be opened or read (no device, wrong serial, unsupported mode, unplugged)."""


class EndOfStream(Exception):  # noqa: N818 - a signal, like StopIteration, not an error
    """A file or recording has no more frames."""


@dataclass
class Capture:
    """What a source returns for one frame; `frame_number` (when the device counts) finds drops exactly."""

    color: np.ndarray
    depth: np.ndarray | None = None
    frame_number: int | None = None


@dataclass
class CapturedFrame:
    """A captured frame with its capture time on the node's clock."""

    color: np.ndarray
    stamp_ns: int
    sequence: int
    depth: np.ndarray | None = None


class FrameSource(Protocol):
    nominal_fps: float
    """Frames per second the source delivers (drop estimates and file pacing)."""
    paced: bool
    """True when `read` returns at the source's own rate (devices); False for files read as fast as asked."""

    def open(self) -> None: ...

    def read(self) -> Capture: ...

    def close(self) -> None: ...

    def describe(self) -> str: ...


@dataclass
class CaptureStats:
    """Counters and rates of one capture thread, read by the node's diagnostics."""

    frames: int = 0
    dropped: int = 0
    reconnects: int = 0
    read_errors: int = 0
    connected: bool = False
    finished: bool = False
    last_error: str = ""
    last_stamp_ns: int = 0
    _intervals: deque = field(default_factory=lambda: deque(maxlen=60))

    def fps(self) -> float:
        """Frames per second over the last (up to) 60 frames."""
        if not self._intervals:
            return 0.0
        return len(self._intervals) / max(sum(self._intervals), 1e-9)


class CaptureThread:
    """Reads `source` in a thread and hands each stamped CapturedFrame to `on_frame`.

    `clock` returns the current time in nanoseconds on the node's clock (so `use_sim_time`
    holds); it is read right after `read` returns, i.e. at capture. A failing device is closed
    and reopened every `reconnect_period_s`; a file that ends either loops or finishes.
    """

    def __init__(
        self,
        source: FrameSource,
        on_frame: Callable[[CapturedFrame], None],
        clock: Callable[[], int] = time.time_ns,
        *,
        loop: bool = False,
        reconnect_period_s: float = 1.0,
        on_error: Callable[[str], None] | None = None,
    ) -> None:
        self.source = source
        self.stats = CaptureStats()
        self._on_frame = on_frame
        self._clock = clock
        self._loop = loop
        self._reconnect_period_s = reconnect_period_s
        self._on_error = on_error or (lambda message: None)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name=f"capture {source.describe()}", daemon=True)
        self._lock = threading.Lock()

    def start(self) -> None:
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self._thread.join(timeout)

    def _fail(self, message: str) -> None:
        with self._lock:
            self.stats.connected = False
            self.stats.last_error = message
        self._on_error(message)

    def _run(self) -> None:
        previous_number: int | None = None
        previous_monotonic: float | None = None
        next_due = time.monotonic()
        sequence = 0
        recovering = False
        while not self._stop.is_set():
            if not self.stats.connected:
                try:
                    self.source.open()
                except CameraError as error:
                    recovering = True
                    self._fail(str(error))
                    self._stop.wait(self._reconnect_period_s)
                    continue
                with self._lock:
                    self.stats.reconnects += int(recovering)
                    self.stats.connected = True
                    self.stats.last_error = ""
                recovering = False
                previous_number = previous_monotonic = None
                next_due = time.monotonic()
            if not self.source.paced:
                self._stop.wait(max(0.0, next_due - time.monotonic()))
                next_due = max(next_due + 1.0 / self.source.nominal_fps, time.monotonic() - 0.5)
            try:
                capture = self.source.read()
            except EndOfStream:
                self.source.close()
                with self._lock:
                    self.stats.connected = False
                    self.stats.finished = not self._loop
                if self._loop:
                    continue
                return
            except CameraError as error:
                with self._lock:
                    self.stats.read_errors += 1
                recovering = True
                self.source.close()
                self._fail(f"{error}; reopening every {self._reconnect_period_s:g} s")
                self._stop.wait(self._reconnect_period_s)
                continue
            stamp_ns = self._clock()
            now = time.monotonic()
            with self._lock:
                self.stats.dropped += self._missed(capture.frame_number, previous_number, now, previous_monotonic)
                if previous_monotonic is not None:
                    self.stats._intervals.append(now - previous_monotonic)
                self.stats.frames += 1
                self.stats.last_stamp_ns = stamp_ns
            previous_number, previous_monotonic = capture.frame_number, now
            self._on_frame(CapturedFrame(capture.color, stamp_ns, sequence, capture.depth))
            sequence += 1
        self.source.close()

    def _missed(self, number: int | None, previous: int | None, now: float, previous_time: float | None) -> int:
        """Frames lost between two reads: from frame numbers when the source counts, else from the gap."""
        if number is not None and previous is not None:
            return max(0, number - previous - 1)
        if previous_time is None or not self.source.paced:
            return 0
        period = 1.0 / self.source.nominal_fps
        return max(0, round((now - previous_time) / period) - 1)

    def snapshot(self) -> CaptureStats:
        with self._lock:
            return CaptureStats(
                self.stats.frames,
                self.stats.dropped,
                self.stats.reconnects,
                self.stats.read_errors,
                self.stats.connected,
                self.stats.finished,
                self.stats.last_error,
                self.stats.last_stamp_ns,
                deque(self.stats._intervals, maxlen=60),
            )
