"""Depth maps as 12-bit video, quantised with LeRobot 0.6's convention (`lerobot.datasets.depth_utils`).

A depth d is stored as the code rint(4095 * (ln(d + shift) - ln(min + shift)) / (ln(max + shift) - ln(min + shift))),
clipped to 0..4095, with LeRobot's defaults min = 0.01 m, max = 10 m, shift = 3.5 m (use_log=False makes it
linear in d instead). Millimetre input is quantised in millimetres (min, max and shift times 1000) in float32,
as LeRobot does for integer frames. There is no "no depth" code: a sensor hole (0 mm) becomes code 0, which
decodes to `min`. The shift makes the steps nearly even: ≈1.2 mm at 1 cm, ≈1.5 mm at 1 m, ≈4.4 mm at 10 m.
The codes are stored losslessly (HEVC, gray12le), so the only error is this quantisation.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

QMAX = 4095  # the largest 12-bit code
MM_PER_M = 1000.0


@dataclass(frozen=True)
class DepthQuantizer:
    """LeRobot's `DepthEncoderConfig` quantisation parameters (metres) and both directions of the mapping."""

    min_m: float = 0.01
    max_m: float = 10.0
    shift_m: float = 3.5
    use_log: bool = True

    def __post_init__(self) -> None:
        if not self.min_m < self.max_m:
            raise ValueError(f"depth range must satisfy min < max, got {self.min_m}..{self.max_m} m")
        if self.use_log and self.min_m + self.shift_m <= 0:
            raise ValueError(f"log depth quantisation needs min + shift > 0, got {self.min_m} + {self.shift_m} m")

    def encode(self, depth_mm: np.ndarray) -> np.ndarray:
        """uint16 millimetres → uint16 codes 0..4095."""
        depth = depth_mm.astype(np.float32)
        low = np.float32(self.min_m * MM_PER_M)
        high = np.float32(self.max_m * MM_PER_M)
        if self.use_log:
            shift = np.float32(self.shift_m * MM_PER_M)
            log_low = math.log(float(low + shift))
            log_high = math.log(float(high + shift))
            norm = (np.log(depth + shift) - log_low) / (log_high - log_low)
        else:
            norm = (depth - low) / (high - low)
        return np.rint(norm * QMAX).clip(0, QMAX).astype(np.uint16)

    def decode(self, codes: np.ndarray) -> np.ndarray:
        """uint16 codes → float32 metres in [min, max], the way LeRobot's loader dequantises them."""
        if self.use_log:
            log_low = math.log(self.min_m + self.shift_m)
            log_high = math.log(self.max_m + self.shift_m)
            metres = np.exp(codes.astype(np.float32) * np.float32((log_high - log_low) / QMAX) + np.float32(log_low))
            metres -= np.float32(self.shift_m)
        else:
            step = np.float32((self.max_m - self.min_m) / QMAX)
            metres = codes.astype(np.float32) * step + np.float32(self.min_m)
        return np.clip(metres, self.min_m, self.max_m).astype(np.float32)

    def info(self) -> dict[str, object]:
        """The `info` entries LeRobot reads back to dequantise a depth video (besides `is_depth_map`)."""
        return {
            "video.depth_min": self.min_m,
            "video.depth_max": self.max_m,
            "video.shift": self.shift_m,
            "video.use_log": self.use_log,
        }
