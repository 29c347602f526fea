"""The per-episode sync report: how fresh each stream was, its gaps, held and padded frames, why an episode ended."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class StreamStats:
    """Sync quality of one stream over an episode."""

    name: str
    topic: str = ""
    messages_received: int = 0
    out_of_order: int = 0
    gaps: int = 0
    max_gap: float = 0.0
    held: int = 0  # frames repeating the sample the previous frame took (no newer one in time)
    padded: int = 0  # frames padded with the latest sample past the hard limit (past_limit: pad)
    limit_hits: int = 0  # ticks without a usable sample (past the hard limit)
    rejected: dict[str, int] = field(default_factory=dict)
    staleness: list[float] = field(default_factory=list, repr=False)

    def count_rejected(self, reason: str) -> None:
        self.rejected[reason] = self.rejected.get(reason, 0) + 1

    def staleness_percentiles(self) -> tuple[float, float, float]:
        """(p50, p95, max) of the age of the samples used, seconds; zeros before the first frame."""
        if not self.staleness:
            return 0.0, 0.0, 0.0
        ages = np.asarray(self.staleness)
        return float(np.percentile(ages, 50)), float(np.percentile(ages, 95)), float(ages.max())

    @property
    def healthy(self) -> bool:
        return self.limit_hits == 0 and not self.rejected and self.gaps == 0

    def to_dict(self) -> dict[str, Any]:
        p50, p95, worst = self.staleness_percentiles()
        return {
            "topic": self.topic,
            "messages_received": self.messages_received,
            "staleness_p50": p50,
            "staleness_p95": p95,
            "staleness_max": worst,
            "gaps": self.gaps,
            "max_gap": self.max_gap,
            "out_of_order": self.out_of_order,
            "rejected": dict(self.rejected),
            "frames_held": self.held,
            "frames_padded": self.padded,
            "limit_hits": self.limit_hits,
            "healthy": self.healthy,
        }


@dataclass(frozen=True)
class ClockJump:
    stream: str
    from_s: float
    to_s: float
    direction: str
    at_frame: int


@dataclass
class SyncReport:
    fps: int
    streams: dict[str, StreamStats]
    frames: int = 0
    clock_jumps: list[ClockJump] = field(default_factory=list)
    ended: str | None = None  # why the episode ended before it was saved (a stream past its limit, a clock jump)

    @property
    def frames_held(self) -> int:
        return sum(s.held for s in self.streams.values())

    @property
    def frames_padded(self) -> int:
        return sum(s.padded for s in self.streams.values())

    @property
    def healthy(self) -> bool:
        return not self.clock_jumps and self.ended is None and all(s.healthy for s in self.streams.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "fps": self.fps,
            "frames": self.frames,
            "frames_held": self.frames_held,
            "frames_padded": self.frames_padded,
            "ended": self.ended,
            "clock_jumps": [vars(jump) for jump in self.clock_jumps],
            "healthy": self.healthy,
            "streams": {name: stats.to_dict() for name, stats in self.streams.items()},
        }

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), indent=2)

    def summary(self) -> str:
        """A few human-readable lines for logs and the CLI."""
        lines = [
            f"{self.frames} frames, {self.frames_held} held, {self.frames_padded} padded, "
            f"{len(self.clock_jumps)} clock jump(s)"
        ]
        if self.ended:
            lines.append(f"  ended: {self.ended}")
        for jump in self.clock_jumps:
            lines.append(f"  clock jump {jump.direction} on {jump.stream}: {jump.from_s:.3f} s → {jump.to_s:.3f} s")
        for name, stats in self.streams.items():
            p50, p95, worst = stats.staleness_percentiles()
            rejected = f", rejected {stats.rejected}" if stats.rejected else ""
            lines.append(
                f"  {name}: {stats.messages_received} msgs, staleness p50 {p50 * 1e3:.1f} ms p95 {p95 * 1e3:.1f} ms "
                f"max {worst * 1e3:.1f} ms, {stats.gaps} gap(s), {stats.held} held, {stats.padded} padded{rejected}"
            )
        return "\n".join(lines)
