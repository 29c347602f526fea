"""ACT temporal ensembling on an absolute step grid.

Every chunk predicts actions for a run of future control steps; the action executed at a step is
the weighted mean of every prediction made for it, with weights `exp(-coeff * i)` where i counts
the predictions for that step in arrival order (i = 0 the oldest). This is LeRobot's
`ACTTemporalEnsembler` (Algorithm 2 of the ACT paper, coefficient 0.01 by default) generalised to
chunks that arrive with a latency: predictions are aligned by the step they are for, not by
their position in the chunk, so with one zero-latency chunk per step it gives LeRobot's actions.
"""

from __future__ import annotations

import numpy as np


class TemporalEnsembler:
    """Online weighted mean of the predictions per step (the counts are kept per step)."""

    def __init__(self, coeff: float = 0.01) -> None:
        self.coeff = float(coeff)

    def _cumulative_weight(self, counts: np.ndarray) -> np.ndarray:
        """Sum of the first `counts` weights exp(-coeff * i), i = 0 .. counts-1."""
        i = np.arange(int(counts.max(initial=0)) + 1)
        cumsum = np.concatenate([[0.0], np.cumsum(np.exp(-self.coeff * i))])
        return cumsum[counts]

    def merge(self, averages: np.ndarray, counts: np.ndarray, predictions: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Fold `predictions` for the same steps into `averages` (per-step counts `counts`).

        `averages` [n, dim] and `counts` [n] cover the first n rows of `predictions` [m, dim], m ≥ n;
        rows past n start new averages. Returns the merged averages [m, dim] and counts [m].
        """
        n = len(averages)
        if n > len(predictions):
            raise ValueError(f"a new chunk covers {len(predictions)} pending steps, the ensemble {n}")
        merged = predictions.astype(float, copy=True)
        merged_counts = np.ones(len(predictions), dtype=np.int64)
        if n:
            previous = self._cumulative_weight(counts)[:, None]
            weight = np.exp(-self.coeff * counts)[:, None]
            merged[:n] = (averages * previous + predictions[:n] * weight) / (previous + weight)
            merged_counts[:n] = counts + 1
        return merged, merged_counts
