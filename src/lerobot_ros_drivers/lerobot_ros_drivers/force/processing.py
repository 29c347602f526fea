"""What happens to a wrench between the wire and the topic: tare (zero offset), then a low-pass filter."""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class LowPassFilter:
    """First-order low-pass with a cutoff in Hz, exact for irregular sample times (alpha from each dt)."""

    def __init__(self, cutoff_hz: float) -> None:
        if cutoff_hz <= 0:
            raise ValueError(f"low-pass cutoff must be positive, got {cutoff_hz} Hz")
        self.time_constant_s = 1.0 / (2.0 * math.pi * cutoff_hz)
        self._state: np.ndarray | None = None
        self._last_s: float | None = None

    def reset(self) -> None:
        self._state = self._last_s = None

    def __call__(self, value: np.ndarray, time_s: float) -> np.ndarray:
        if self._state is None or self._last_s is None or time_s <= self._last_s:
            self._state = np.array(value, float)
        else:
            alpha = 1.0 - math.exp(-(time_s - self._last_s) / self.time_constant_s)
            self._state = self._state + alpha * (value - self._state)
        self._last_s = time_s
        return self._state.copy()


class WrenchProcessor:
    """Keeps recent raw samples for taring, subtracts the tare offset and filters."""

    def __init__(self, tare_samples: int = 50, cutoff_hz: float = 0.0) -> None:
        if tare_samples < 1:
            raise ValueError(f"tare needs at least one sample, got {tare_samples}")
        self.tare_samples = tare_samples
        self.offset = np.zeros(6)
        self.filter = LowPassFilter(cutoff_hz) if cutoff_hz > 0 else None
        self._recent: deque[np.ndarray] = deque(maxlen=tare_samples)

    def __call__(self, raw: np.ndarray, time_s: float) -> np.ndarray:
        self._recent.append(raw)
        zeroed = raw - self.offset
        return self.filter(zeroed, time_s) if self.filter else zeroed

    def ready_to_tare(self) -> bool:
        return len(self._recent) == self.tare_samples

    def tare(self) -> np.ndarray:
        """Make the mean of the last `tare_samples` raw samples the new zero; returns the offset."""
        if not self._recent:
            raise RuntimeError("cannot tare: no samples received from the sensor yet")
        self.offset = np.mean(self._recent, axis=0)
        if self.filter:
            self.filter.reset()
        return self.offset.copy()
