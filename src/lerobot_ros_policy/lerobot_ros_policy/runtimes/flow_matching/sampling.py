"""The Euler integration of a flow-matching policy (SmolVLA, Pi0), with optional RTC guidance.

LeRobot 0.4.4's `sample_actions` loop: `num_steps` steps of `dt = −1/num_steps` from t = 1 (noise)
to t = 0 (actions), `x ← x + dt · v(x, t)`, the step's time a Python float `1 + step·dt` and a
float32 tensor of it per batch element for the model.
"""

from __future__ import annotations

from collections.abc import Callable

import torch

from lerobot_ros_policy.runtimes.flow_matching.rtc import PrefixGuide

Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]
"""`(x_t (B, chunk, dim), time (B,) float32) → v_t`, the model's velocity at one denoising step."""


def euler_sample(
    velocity: Velocity, noise: torch.Tensor, num_steps: int, guide: PrefixGuide | None = None
) -> torch.Tensor:
    """Integrate from `noise` `(B, chunk, dim)` to the action chunk in model space; with `guide`,
    every step's velocity is corrected towards the guide's prefix (RTC)."""
    if num_steps < 1:
        raise ValueError(f"num_steps must be ≥ 1, got {num_steps}")
    dt = -1.0 / num_steps
    batch = noise.shape[0]
    x_t = noise
    for step in range(num_steps):
        time = 1.0 + step * dt
        v_t = velocity(x_t, torch.tensor(time, dtype=torch.float32, device=noise.device).expand(batch))
        if guide is not None:
            v_t = guide.velocity(x_t, v_t, time)
        x_t = x_t + dt * v_t
    return x_t
