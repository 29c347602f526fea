"""Fixed-rate resampling of asynchronous streams onto the dataset clock (no rclpy).

Samples are pushed per stream with a stamp in integer nanoseconds. Frames come out on ticks
`t0 + k / fps`, where `t0` is the first instant every stream has data (the warm-up gate). A tick
is decided as soon as every stream has a sample at or after it, so the result is a pure function
of each stream's samples: a live recording and the conversion of a bag holding the same messages
give the same frames (whatever the interleaving of streams, as long as no stream lags the others
by more than `max_backward_jump`). A stream that stalls does not block the others: once any stream is
`deadline` past a tick, the tick is decided with what is there (and dropped if a stream has no
usable sample).

Per stream rule:
- ``interpolate``: linear between the samples around the tick, each within `max_age` of it;
  at the newest sample's edge, the newest one held within `max_age`.
- ``hold``: the latest sample at or before the tick, within `max_age`.
- ``nearest``: the sample closest to the tick (the earlier one on a tie), within `tolerance`.

Clock jumps (a stream going back by more than `max_backward_jump`, e.g. a bag loop or a
simulator reset, or any stream leaping `max_forward_jump` ahead of everything seen) restart the
warm-up on the new clock; frame indices continue, nothing from before the jump is mixed in.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lerobot_ros_record.resample.report import ClockJump, StreamStats, SyncReport

NS = 1_000_000_000


@dataclass(frozen=True)
class StreamConfig:
    """One input stream and its sync rule (seconds)."""

    name: str
    rule: Literal["interpolate", "hold", "nearest"]
    max_age: float = 0.1
    tolerance: float = 0.05
    gap: float = 0.1
    topic: str = ""


@dataclass(frozen=True)
class Frame:
    """Values of every stream at one tick."""

    index: int
    tick_ns: int
    values: dict[str, Any]


@dataclass
class _Stream:
    config: StreamConfig
    stats: StreamStats
    stamps: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    last_stamp: int | None = None  # newest stamp ever accepted (survives resets, for jump detection)

    def clear(self) -> None:
        self.stamps.clear()
        self.values.clear()


class Resampler:
    """Turns pushed samples into frames on the dataset clock; keeps the episode's sync report."""

    def __init__(
        self,
        fps: int,
        streams: Iterable[StreamConfig],
        max_backward_jump: float = 1.0,
        max_forward_jump: float = 10.0,
        deadline: float = 0.5,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self._streams = {s.name: _Stream(s, StreamStats(s.name, s.topic)) for s in streams}
        if not self._streams:
            raise ValueError("a resampler needs at least one stream")
        self._backward_ns = round(max_backward_jump * NS)
        self._forward_ns = round(max_forward_jump * NS)
        self._deadline_ns = round(deadline * NS)
        self._t0: int | None = None
        self._tick = 0  # next tick number since t0
        self._frame_index = 0
        self._newest = None  # newest stamp pushed on the current clock, any stream
        self._previous_clock_end: int | None = None  # newest stamp of the clock before a backward jump
        self.report = SyncReport(fps=fps, streams={name: s.stats for name, s in self._streams.items()})

    @property
    def started(self) -> bool:
        return self._t0 is not None

    @property
    def frames_emitted(self) -> int:
        return self._frame_index

    def push(self, stream: str, stamp_ns: int, value: Any) -> None:
        """Add one sample; out-of-order, duplicate and too-late samples are counted and dropped."""
        s = self._streams.get(stream)
        if s is None:
            raise KeyError(f"unknown stream {stream!r} (streams: {', '.join(self._streams)})")
        stats = s.stats
        stats.messages_received += 1
        if self._is_previous_clock(stamp_ns):
            stats.count_rejected("sample from before a clock jump")
            return
        if s.last_stamp is not None and stamp_ns < s.last_stamp - self._backward_ns:
            self._clock_jump(stream, s.last_stamp, stamp_ns)
        elif self._newest is not None and stamp_ns > self._newest + self._forward_ns:
            self._clock_jump(stream, self._newest, stamp_ns)
        if s.last_stamp is not None and stamp_ns > s.last_stamp:
            interval = (stamp_ns - s.last_stamp) / NS
            if interval > s.config.gap:
                stats.gaps += 1
            stats.max_gap = max(stats.max_gap, interval)
        position = bisect.bisect_left(s.stamps, stamp_ns)
        if position < len(s.stamps) and s.stamps[position] == stamp_ns:
            stats.count_rejected("duplicate stamp")
            return
        if s.last_stamp is not None and stamp_ns <= s.last_stamp:
            if self._t0 is not None and stamp_ns <= self._tick_ns(self._tick - 1):
                stats.count_rejected("late: its frame was already written")
                return
            stats.out_of_order += 1
        s.stamps.insert(position, stamp_ns)
        s.values.insert(position, value)
        s.last_stamp = stamp_ns if s.last_stamp is None else max(s.last_stamp, stamp_ns)
        self._newest = stamp_ns if self._newest is None else max(self._newest, stamp_ns)

    def reject(self, stream: str, reason: str) -> None:
        """Count a message of `stream` that could not be converted (bad encoding, NaN, ...)."""
        stats = self._streams[stream].stats
        stats.messages_received += 1
        stats.count_rejected(reason)

    def pop_frames(self) -> list[Frame]:
        """Frames whose tick is decided: every stream has reached it, or one is `deadline` past it."""
        return self._emit(final=False)

    def flush(self) -> list[Frame]:
        """At the end of an episode: the frames every stream has reached (never one beyond)."""
        return self._emit(final=True)

    def _tick_ns(self, k: int) -> int:
        assert self._t0 is not None
        return self._t0 + k * NS // self.fps

    def _is_previous_clock(self, stamp_ns: int) -> bool:
        """After a backward jump, samples still stamped on the old clock (other streams lag)."""
        if self._previous_clock_end is None or self._newest is None:
            return False
        return self._newest + self._backward_ns < stamp_ns <= self._previous_clock_end + self._backward_ns

    def _clock_jump(self, stream: str, from_ns: int, to_ns: int) -> None:
        direction = "backward" if to_ns < from_ns else "forward"
        self.report.clock_jumps.append(ClockJump(stream, from_ns / NS, to_ns / NS, direction, self._frame_index))
        self._previous_clock_end = self._newest if direction == "backward" else None
        for s in self._streams.values():
            s.clear()
            s.last_stamp = None
        self._t0 = None
        self._tick = 0
        self._newest = None

    def _gate(self) -> bool:
        if self._t0 is None:
            if any(not s.stamps for s in self._streams.values()):
                self._trim_waiting()
                return False
            self._t0 = max(s.stamps[0] for s in self._streams.values())
            self._tick = 0
        return True

    def _emit(self, final: bool) -> list[Frame]:
        frames: list[Frame] = []
        if not self._gate():
            return frames
        while True:
            tick = self._tick_ns(self._tick)
            reached = all(s.stamps and s.stamps[-1] >= tick for s in self._streams.values())
            overdue = not final and self._newest is not None and self._newest >= tick + self._deadline_ns
            if not (reached or overdue):
                break
            frame = self._sample(tick)
            self._tick += 1
            if frame is not None:
                frames.append(frame)
            self._trim(tick)
        return frames

    def _sample(self, tick: int) -> Frame | None:
        values: dict[str, Any] = {}
        ages: dict[str, float] = {}
        missing: list[str] = []
        for name, s in self._streams.items():
            result = _sample_stream(s, tick)
            if result is None:
                missing.append(name)
                continue
            values[name], ages[name] = result
        if missing:
            for name in missing:
                self._streams[name].stats.frames_dropped += 1
            self.report.count_drop(f"no usable sample from {', '.join(missing)}")
            return None
        for name, age in ages.items():
            self._streams[name].stats.staleness.append(age)
        frame = Frame(self._frame_index, tick, values)
        self._frame_index += 1
        self.report.frames += 1
        return frame

    def _trim_waiting(self) -> None:
        """While a stream is still missing, keep only what the first tick could use (bounded memory)."""
        if self._newest is None:
            return
        for s in self._streams.values():
            horizon = self._newest - round(max(s.config.max_age, s.config.tolerance) * NS) - self._backward_ns
            keep_from = min(bisect.bisect_left(s.stamps, horizon), len(s.stamps) - 1)
            if keep_from > 0:
                del s.stamps[:keep_from]
                del s.values[:keep_from]

    def _trim(self, tick: int) -> None:
        """Forget samples no later tick can use (keep the last one at or before `tick`)."""
        for s in self._streams.values():
            keep_from = bisect.bisect_right(s.stamps, tick) - 1
            if keep_from > 0:
                del s.stamps[:keep_from]
                del s.values[:keep_from]


def _sample_stream(s: _Stream, tick: int) -> tuple[Any, float] | None:
    """(value, staleness in s) of one stream at `tick`, or None when no sample is usable."""
    config = s.config
    after = bisect.bisect_left(s.stamps, tick)  # first sample at or after the tick
    before = after - 1 if after == len(s.stamps) or s.stamps[after] != tick else after
    if config.rule == "nearest":
        candidates = [i for i in (before, after) if 0 <= i < len(s.stamps)]
        if not candidates:
            return None
        best = min(candidates, key=lambda i: (abs(s.stamps[i] - tick), s.stamps[i]))
        distance = abs(s.stamps[best] - tick) / NS
        return (s.values[best], distance) if distance <= config.tolerance else None
    if before < 0:
        return None
    age = (tick - s.stamps[before]) / NS
    if age > config.max_age:
        return None
    if config.rule == "hold" or s.stamps[before] == tick or after >= len(s.stamps):
        return s.values[before], age
    ahead = (s.stamps[after] - tick) / NS
    if ahead > config.max_age:
        return s.values[before], age
    t0, t1 = s.stamps[before], s.stamps[after]
    weight = (tick - t0) / (t1 - t0)
    v0, v1 = np.asarray(s.values[before], dtype=np.float64), np.asarray(s.values[after], dtype=np.float64)
    return v0 + (v1 - v0) * weight, age
