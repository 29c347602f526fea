"""Inference latency over a sliding window: the figures the delay compensation and the status use."""

from __future__ import annotations

import math
from collections import deque

import numpy as np


class LatencyTracker:
    """Keeps the last `window` inference latencies (seconds) and reports p50 / p95 / max.

    The maximum drives the latency compensation (`delay_steps`): planning with the worst recent
    latency keeps the queue from running dry when one inference is slower than usual.
    """

    def __init__(self, window: int = 50) -> None:
        if window < 1:
            raise ValueError(f"latency window must hold at least one sample, got {window}")
        self._samples: deque[float] = deque(maxlen=window)

    def add(self, latency_s: float) -> None:
        if not math.isfinite(latency_s) or latency_s < 0.0:
            raise ValueError(f"inference latency must be a finite, non-negative number of seconds, got {latency_s}")
        self._samples.append(latency_s)

    def reset(self) -> None:
        self._samples.clear()

    @property
    def count(self) -> int:
        return len(self._samples)

    def percentile(self, q: float) -> float:
        """The q-th percentile (0–100) of the window; 0.0 before the first sample."""
        if not self._samples:
            return 0.0
        return float(np.percentile(np.fromiter(self._samples, dtype=float), q))

    @property
    def p50(self) -> float:
        return self.percentile(50.0)

    @property
    def p95(self) -> float:
        return self.percentile(95.0)

    @property
    def max(self) -> float:
        return max(self._samples, default=0.0)

    def delay_steps(self, dt: float) -> int:
        """Control steps that elapse during the worst recent inference: `ceil(max_latency / dt)`."""
        # A tiny tolerance keeps a latency of exactly k periods (up to float noise) at k steps.
        return math.ceil(self.max / dt - 1e-9)
