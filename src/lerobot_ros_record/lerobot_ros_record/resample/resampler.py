"""Fixed-rate resampling of asynchronous streams onto the dataset clock (no rclpy).

Samples are pushed per stream with a stamp in integer nanoseconds. Frames come out on ticks
`t0 + k / fps`, where `t0` is the first instant every stream has data (the warm-up gate), and
frame k is always tick k: the dataset clock is never compressed. A tick is decided as soon as
every stream has a sample at or after it, so the result is a pure function of each stream's
samples: a live recording and the conversion of a bag holding the same messages give the same
frames (whatever the interleaving of streams, as long as no stream lags the others by more than
`max_backward_jump`). A stream that stalls does not block the others: once any stream is
`deadline` past a tick, the tick is decided with what is there.

Per stream rule:
- ``interpolate``: linear between the samples around the tick, each within `max_age` of it;
  at the newest sample's edge, the newest one held within `max_age`.
- ``hold``: the latest sample at or before the tick, within `max_age`.
- ``nearest``: the sample closest to the tick (the earlier one on a tie), within `tolerance`.

A frame that repeats the sample the previous frame took (no newer one in time) is counted as held.

A stream without a usable sample at a tick is past its hard limit; its `past_limit` decides:
``split`` ends the segment (the episode) at the tick before, and a new segment starts at the next
instant every stream has data; ``pad`` writes its latest sample (counted); ``fail`` ends the
segment as failed. Clock jumps (a stream going back by more than `max_backward_jump`, e.g. a bag
loop or a simulator reset; its header stamps leaping `max_stamp_leap` further than its receive
times advanced; or leaping `max_forward_jump` ahead of everything seen) end the segment too:
nothing from before the jump is mixed in.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from lerobot_ros_record.resample.report import ClockJump, StreamStats, SyncReport

NS = 1_000_000_000
PastLimit = Literal["split", "pad", "fail"]


@dataclass(frozen=True)
class StreamConfig:
    """One input stream, its sync rule (seconds) and what to do past its hard limit."""

    name: str
    rule: Literal["interpolate", "hold", "nearest"]
    max_age: float = 0.1
    tolerance: float = 0.05
    gap: float = 0.1
    topic: str = ""
    past_limit: PastLimit = "split"


@dataclass(frozen=True)
class Frame:
    """Values of every stream at one tick; `index` counts from 0 in its segment, `tick_ns` = t0 + index/fps."""

    index: int
    tick_ns: int
    values: dict[str, Any]


@dataclass(frozen=True)
class SegmentEnd:
    """The segment's dataset clock stops after the frames before it; frames after it start a new segment.

    `failed`: a stream with `past_limit: fail` had no usable sample; nothing follows.
    """

    reason: str
    report: SyncReport
    failed: bool = False


@dataclass
class _Stream:
    config: StreamConfig
    stats: StreamStats
    stamps: list[int] = field(default_factory=list)
    values: list[Any] = field(default_factory=list)
    last_stamp: int | None = None  # newest stamp accepted on the current clock (backward-jump detection)
    previous: tuple[int, int] | None = None  # (stamp, receive time) of the last sample pushed
    last_used: int | None = None  # stamp of the sample the previous frame took (held frames repeat it)
    old_clock_until: int | None = None  # after another stream leapt: receive time until which this one may follow

    def clear(self) -> None:
        self.stamps.clear()
        self.values.clear()

    def drop_before(self, stamp_ns: int) -> None:
        keep_from = bisect.bisect_left(self.stamps, stamp_ns)
        del self.stamps[:keep_from]
        del self.values[:keep_from]


class Resampler:
    """Turns pushed samples into frames on the dataset clock; keeps each segment's sync report."""

    def __init__(
        self,
        fps: int,
        streams: Iterable[StreamConfig],
        *,
        max_backward_jump: float = 1.0,
        max_forward_jump: float = 10.0,
        deadline: float = 0.5,
        max_stamp_leap: float = 1.0,
    ) -> None:
        if fps <= 0:
            raise ValueError(f"fps must be positive, got {fps}")
        self.fps = fps
        self._streams = {s.name: _Stream(s, StreamStats(s.name, s.topic)) for s in streams}
        if not self._streams:
            raise ValueError("a resampler needs at least one stream")
        self._backward_ns = round(max_backward_jump * NS)
        self._forward_ns = round(max_forward_jump * NS)
        self._leap_ns = round(max_stamp_leap * NS)
        self._deadline_ns = round(deadline * NS)
        self._t0: int | None = None
        self._tick = 0  # next tick number since t0
        self._newest = None  # newest stamp pushed on the current clock, any stream
        self._previous_clock_end: int | None = None  # newest stamp of the clock before a backward jump
        self._out: list[Frame | SegmentEnd] = []  # decided while pushing (at a clock jump)
        self._end_ns: int | None = None  # no tick at or after it (an episode's time limit)
        self._failed = False
        self.report = self._new_report()

    @property
    def started(self) -> bool:
        return self._t0 is not None

    @property
    def clock_start_ns(self) -> int | None:
        """t0 of the current segment: the stamp of its frame 0 (None during the warm-up)."""
        return self._t0

    def end_at(self, end_ns: int) -> None:
        """Emit no tick at or after `end_ns`: the episode's time is up there."""
        self._end_ns = end_ns

    @property
    def reached_end(self) -> bool:
        """Every tick before the `end_at` instant is decided (the streams have all reached it)."""
        if self._end_ns is None or self._t0 is None:
            return False
        return self._tick_ns(self._tick) >= self._end_ns

    @property
    def frames_emitted(self) -> int:
        """Frames of the current segment."""
        return self.report.frames

    def push(self, stream: str, stamp_ns: int, value: Any, receive_ns: int | None = None) -> None:
        """Add one sample; out-of-order, duplicate and too-late samples are counted and dropped.

        `receive_ns` (arrival time, a bag's log time) tells a leap of the stamps' clock from a pause.
        """
        s = self._streams.get(stream)
        if s is None:
            raise KeyError(f"unknown stream {stream!r} (streams: {', '.join(self._streams)})")
        stats = s.stats
        stats.messages_received += 1
        previous, s.previous = s.previous, (stamp_ns, receive_ns) if receive_ns is not None else None
        leap = None
        if previous is not None and receive_ns is not None:
            leap = (stamp_ns - previous[0]) - (receive_ns - previous[1])
        if s.old_clock_until is not None and (leap is None or leap <= self._leap_ns):
            if receive_ns is not None and receive_ns <= s.old_clock_until:
                stats.count_rejected("sample from before a clock jump")
                return
            s.old_clock_until = None  # it never leapt: its clock did not jump
        elif s.old_clock_until is not None:
            s.old_clock_until = None  # it leapt with the others: the same jump
        elif self._is_previous_clock(stamp_ns):
            stats.count_rejected("sample from before a clock jump")
            return
        elif s.last_stamp is not None and stamp_ns < s.last_stamp - self._backward_ns:
            self._clock_jump(stream, s.last_stamp, stamp_ns, "backward")
        elif leap is not None and leap > self._leap_ns:
            self._clock_jump(stream, previous[0], stamp_ns, "forward", receive_ns)
        elif self._newest is not None and stamp_ns > self._newest + self._forward_ns:
            self._clock_jump(stream, self._newest, stamp_ns, "forward")
        stats = s.stats  # a new report after a jump
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

    def pop_frames(self) -> list[Frame | SegmentEnd]:
        """Frames whose tick is decided (every stream has reached it, or one is `deadline` past it)."""
        return self._take(final=False)

    def flush(self) -> list[Frame | SegmentEnd]:
        """At the end of an episode: the frames every stream has reached (never one beyond)."""
        return self._take(final=True)

    def _take(self, final: bool) -> list[Frame | SegmentEnd]:
        out, self._out = self._out, []
        if not self._failed:
            out += self._emit(final)
        return out

    def _new_report(self) -> SyncReport:
        for s in self._streams.values():
            s.stats = StreamStats(s.config.name, s.config.topic)
        return SyncReport(fps=self.fps, streams={name: s.stats for name, s in self._streams.items()})

    def _end_segment(self, reason: str, failed: bool = False) -> SegmentEnd | None:
        """Close the current segment (None if it has no frame: the warm-up just starts again)."""
        self._t0, self._tick = None, 0
        for s in self._streams.values():
            s.last_used = None
        if self.report.frames == 0 and not failed:
            return None
        ended, self.report = self.report, self._new_report()
        ended.ended = reason
        self._failed = failed
        return SegmentEnd(reason, ended, failed)

    def _tick_ns(self, k: int) -> int:
        assert self._t0 is not None
        return self._t0 + k * NS // self.fps

    def _is_previous_clock(self, stamp_ns: int) -> bool:
        """After a backward jump, samples still stamped on the old clock (other streams lag)."""
        if self._previous_clock_end is None or self._newest is None:
            return False
        return self._newest + self._backward_ns < stamp_ns <= self._previous_clock_end + self._backward_ns

    def _clock_jump(self, stream: str, from_ns: int, to_ns: int, direction: str, receive_ns: int | None = None) -> None:
        """Decide what the old clock still can, end the segment there and start over on the new clock.

        `receive_ns`: the stream's stamps leapt while its receive times did not; the other streams'
        samples are taken as still on the old clock until they leap too (within `max_stamp_leap`).
        """
        if not self._failed:
            self._out += self._emit(final=True)
        jump = ClockJump(stream, from_ns / NS, to_ns / NS, direction, self.report.frames)
        self.report.clock_jumps.append(jump)
        reason = f"clock jump {direction} on {stream}: {jump.from_s:.3f} s → {jump.to_s:.3f} s"
        end = self._end_segment(reason)
        if end is not None:
            self._out.append(end)
        self._previous_clock_end = self._newest if direction == "backward" else None
        for name, s in self._streams.items():
            s.clear()
            s.last_stamp = None
            leapt = receive_ns is not None and name != stream and s.previous is not None
            s.old_clock_until = receive_ns + self._leap_ns if leapt else None
        self._newest = None

    def _gate(self) -> bool:
        if self._t0 is None:
            if any(not s.stamps for s in self._streams.values()):
                self._trim_waiting()
                return False
            self._t0 = max(s.stamps[0] for s in self._streams.values())
            self._tick = 0
        return True

    def _emit(self, final: bool) -> list[Frame | SegmentEnd]:
        out: list[Frame | SegmentEnd] = []
        while self._gate():
            tick = self._tick_ns(self._tick)
            if self._end_ns is not None and tick >= self._end_ns:
                break
            reached = all(s.stamps and s.stamps[-1] >= tick for s in self._streams.values())
            overdue = not final and self._newest is not None and self._newest >= tick + self._deadline_ns
            if not (reached or overdue):
                break
            item = self._sample(tick)
            if isinstance(item, Frame):
                self._tick += 1
                self._trim(tick)
            if item is not None:
                out.append(item)
                if isinstance(item, SegmentEnd) and item.failed:
                    break
        return out

    def _sample(self, tick: int) -> Frame | SegmentEnd | None:
        values: dict[str, Any] = {}
        used: dict[str, tuple[float, int | None]] = {}
        missing: list[_Stream] = []
        for name, s in self._streams.items():
            result = _sample_stream(s, tick)
            if result is None:
                missing.append(s)
            else:
                values[name], age, stamp = result
                used[name] = (age, stamp)
        if missing:
            end = self._past_limit(tick, missing, values, used)
            if end is not None or self._t0 is None:
                return end
        for name, (age, stamp) in used.items():
            s = self._streams[name]
            s.stats.staleness.append(age)
            s.stats.held += stamp is not None and stamp == s.last_used
            s.last_used = stamp
        frame = Frame(self.report.frames, tick, values)
        self.report.frames += 1
        return frame

    def _past_limit(
        self, tick: int, missing: list[_Stream], values: dict[str, Any], used: dict[str, tuple[float, int | None]]
    ) -> SegmentEnd | None:
        """Streams without a usable sample at `tick`: pad them, or end the segment (split or fail)."""
        at = (tick - self._t0) / NS if self._t0 is not None else 0.0
        causes = []
        for s in missing:
            s.stats.limit_hits += 1
            causes.append(f"{s.config.name} ({_limit_text(s, tick)})")
        cause = f"no usable sample from {', '.join(causes)} at {at:.3f} s (frame {self.report.frames})"
        policies = {s.config.past_limit for s in missing}
        if "fail" in policies:
            return self._end_segment(f"{cause} (past_limit: fail)", failed=True)
        if "split" in policies:
            end = self._end_segment(f"{cause} (past_limit: split)")
            for s in self._streams.values():  # what the new segment cannot use: older than any rule allows
                horizon = tick - round(max(s.config.max_age, s.config.tolerance) * NS)
                s.drop_before(tick + 1 if s in missing else horizon)
            return end
        for s in missing:  # pad: the latest sample, however old
            before = max(bisect.bisect_right(s.stamps, tick) - 1, 0)
            values[s.config.name] = s.values[before]
            used[s.config.name] = (abs(tick - s.stamps[before]) / NS, None)
            s.stats.padded += 1
        return None

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


def _limit_text(s: _Stream, tick: int) -> str:
    """Why no sample of `s` is usable at `tick`, for the report."""
    config = s.config
    before = bisect.bisect_right(s.stamps, tick) - 1
    age = f"latest {(tick - s.stamps[before]) / NS * 1e3:.0f} ms old" if before >= 0 else "no sample yet"
    limit = (
        f"tolerance {config.tolerance * 1e3:.0f} ms"
        if config.rule == "nearest"
        else f"max_age {config.max_age * 1e3:.0f} ms"
    )
    return f"{age}, {config.rule} {limit}"


def _sample_stream(s: _Stream, tick: int) -> tuple[Any, float, int | None] | None:
    """(value, staleness in s, stamp of the sample taken or None if interpolated) at `tick`; None if none is usable."""
    config = s.config
    after = bisect.bisect_left(s.stamps, tick)  # first sample at or after the tick
    before = after - 1 if after == len(s.stamps) or s.stamps[after] != tick else after
    if config.rule == "nearest":
        candidates = [i for i in (before, after) if 0 <= i < len(s.stamps)]
        if not candidates:
            return None
        best = min(candidates, key=lambda i: (abs(s.stamps[i] - tick), s.stamps[i]))
        distance = abs(s.stamps[best] - tick) / NS
        return (s.values[best], distance, s.stamps[best]) if distance <= config.tolerance else None
    if before < 0:
        return None
    age = (tick - s.stamps[before]) / NS
    if age > config.max_age:
        return None
    if config.rule == "hold" or s.stamps[before] == tick or after >= len(s.stamps):
        return s.values[before], age, s.stamps[before]
    ahead = (s.stamps[after] - tick) / NS
    if ahead > config.max_age:
        return s.values[before], age, s.stamps[before]
    t0, t1 = s.stamps[before], s.stamps[after]
    weight = (tick - t0) / (t1 - t0)
    v0, v1 = np.asarray(s.values[before], dtype=np.float64), np.asarray(s.values[after], dtype=np.float64)
    return v0 + (v1 - v0) * weight, age, None
