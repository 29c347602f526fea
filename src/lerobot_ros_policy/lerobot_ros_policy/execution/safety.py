"""Checks between the model and the motors: finite values, joint limits, data age."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np


class RejectedChunkError(ValueError):
    """A chunk that must not reach the motors; the message says which values and why."""


def check_finite(chunk: np.ndarray, names: Sequence[str]) -> None:
    """Reject a chunk holding NaN or ±inf, naming the first offending row and column."""
    bad = ~np.isfinite(chunk)
    if bad.any():
        row, column = (int(i) for i in np.argwhere(bad)[0])
        raise RejectedChunkError(
            f"chunk holds {int(bad.sum())} non-finite value(s); first at step {row}, "
            f"'{names[column]}' = {chunk[row, column]}"
        )


@dataclass(frozen=True)
class JointLimits:
    """Position limits per action column (in the units of the executed actions); ±inf = none."""

    lower: np.ndarray
    upper: np.ndarray

    @classmethod
    def unlimited(cls, dim: int) -> JointLimits:
        return cls(np.full(dim, -np.inf), np.full(dim, np.inf))

    @classmethod
    def from_mapping(cls, names: Sequence[str], limits: Mapping[str, tuple[float, float]]) -> JointLimits:
        """Limits by joint name; joints without an entry are unlimited."""
        lower = np.array([limits.get(name, (-np.inf, np.inf))[0] for name in names], dtype=float)
        upper = np.array([limits.get(name, (-np.inf, np.inf))[1] for name in names], dtype=float)
        if (lower > upper).any():
            bad = [name for name, lo, hi in zip(names, lower, upper, strict=True) if lo > hi]
            raise ValueError(f"joint limits with lower > upper for: {', '.join(bad)}")
        return cls(lower, upper)

    def clamp(self, chunk: np.ndarray) -> tuple[np.ndarray, int]:
        """The chunk clamped into the limits and the number of values that were outside."""
        clamped = np.clip(chunk, self.lower, self.upper)
        return clamped, int(np.count_nonzero(clamped != chunk))


def stale_streams(ages_s: Mapping[str, float | None], max_age_s: float) -> list[str]:
    """Descriptions of the streams whose latest message is missing or older than `max_age_s`."""
    problems = []
    for name, age in ages_s.items():
        if age is None:
            problems.append(f"{name}: no message yet")
        elif age > max_age_s:
            problems.append(f"{name}: last message {age * 1e3:.0f} ms old (limit {max_age_s * 1e3:.0f} ms)")
    return problems
