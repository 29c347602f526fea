"""Safety applied to every command the driver writes, whatever its source.

- Joint limits: targets are clamped into [lower, upper] (from the calibration, intersected with
  the robot description's limits).
- Max change per control tick: like LeRobot's `max_relative_target`, a target further than
  `max_step` from the measured position is pulled back to that distance, so a wild command
  moves the arm at a bounded speed and a blocked joint never accumulates a large error.
- Non-finite targets never reach the bus: the joint keeps its measured position.
- Command watchdog: a command stream that stops for longer than its timeout makes the controller
  hold where the arm is.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class LimitResult:
    positions: np.ndarray
    clamped_to_limits: np.ndarray  # bool per joint
    step_limited: np.ndarray  # bool per joint


class SafetyLimiter:
    """Clamp targets to joint limits and to a maximum step from the measured positions."""

    def __init__(self, lower: np.ndarray, upper: np.ndarray, max_step: np.ndarray | float) -> None:
        self.lower = np.asarray(lower, dtype=float)
        self.upper = np.asarray(upper, dtype=float)
        if self.lower.shape != self.upper.shape or np.any(self.lower > self.upper):
            raise ValueError(f"invalid joint limits: lower {self.lower} upper {self.upper}")
        self.max_step = np.broadcast_to(np.asarray(max_step, dtype=float), self.lower.shape).copy()
        if np.any(self.max_step <= 0):
            raise ValueError(f"max_step must be positive, got {self.max_step}")

    def limit(self, target: np.ndarray, measured: np.ndarray) -> LimitResult:
        target = np.asarray(target, dtype=float)
        measured = np.asarray(measured, dtype=float)
        # Where the measurement is unusable, step from the clamped target itself (no reference).
        reference = np.where(np.isfinite(measured), measured, np.clip(target, self.lower, self.upper))
        safe = np.where(np.isfinite(target), target, reference)
        clamped = np.clip(safe, self.lower, self.upper)
        clamped_to_limits = clamped != safe
        step = np.clip(clamped - reference, -self.max_step, self.max_step)
        limited = np.clip(reference + step, self.lower, self.upper)
        step_limited = np.abs(clamped - reference) > self.max_step
        limited = np.where(np.isfinite(limited), limited, reference)
        return LimitResult(limited, clamped_to_limits, step_limited)


class Watchdog:
    """Tracks the age of the last command; `expired` once it is older than `timeout` seconds."""

    def __init__(self, timeout: float) -> None:
        if timeout <= 0:
            raise ValueError(f"watchdog timeout must be positive, got {timeout}")
        self.timeout = timeout
        self._last: float | None = None

    def feed(self, now: float) -> None:
        self._last = now

    def disarm(self) -> None:
        self._last = None

    @property
    def armed(self) -> bool:
        return self._last is not None

    def expired(self, now: float) -> bool:
        return self._last is not None and now - self._last > self.timeout
