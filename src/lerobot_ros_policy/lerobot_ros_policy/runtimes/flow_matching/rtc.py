"""Real-Time Chunking (RTC) guidance inside a flow-matching denoise loop (SmolVLA, Pi0).

The next chunk is inferred while the robot still executes the previous one. RTC treats the new chunk
as an inpainting problem: its first steps should continue what is left of the previous chunk (the
*prefix*), so the robot does not jump at the chunk boundary. At every Euler step the velocity `v` is
corrected towards the prefix, without a backward pass through the model:

    x̂₀ = x − t·v                                  (the clean chunk the current velocity predicts)
    v' = v − w(t) · (prefix − x̂₀) · weights        (weights per chunk step, w(t) per denoise step)

Conventions and arithmetic are LeRobot 0.4.4's (`lerobot.policies.rtc.modeling_rtc.RTCProcessor`),
operation for operation, so guided chunks match LeRobot's to float rounding:

* time runs from t = 1 (noise) to t = 0 (data); τ = 1 − t;
* guidance weight `min((1−τ)/τ · ((1−τ)² + τ²)/(1−τ)², max_guidance_weight)`, with the division
  by zero at τ = 0 (the first step) giving `max_guidance_weight`;
* the execution horizon is clamped to the prefix length; prefix weights are 1 for the first
  `min(delay, horizon)` steps, then the schedule's ramp down to 0 at the horizon, 0 after;
* the prefix (model space) is zero-padded to the model's chunk length and padded action width.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum

import numpy as np
import torch

from lerobot_ros_policy.runtimes.base import PrefixGuidance


class PrefixSchedule(StrEnum):
    """How prefix weights fall from 1 (executed while inferring) to 0 (free) between `delay` and the
    execution horizon. Values as `PrefixGuidance.schedule` spells them (LeRobot: upper case)."""

    ZEROS = "zeros"  # 1 for the first `delay` steps, 0 after (hard inpainting of the delay only)
    ONES = "ones"  # 1 up to the horizon, 0 after
    LINEAR = "linear"  # 1 for `delay` steps, then linear ramp to 0 at the horizon
    EXP = "exp"  # as LINEAR, ramp shaped r·(eʳ − 1)/(e − 1): leaves the prefix sooner


def prefix_weights(delay: int, execution_horizon: int, chunk_size: int, schedule: PrefixSchedule | str) -> torch.Tensor:
    """Per-step prefix weights, float32 `(chunk_size,)` (LeRobot's `get_prefix_weights(delay,
    horizon, chunk_size)`)."""
    schedule = PrefixSchedule(str(schedule).lower())
    start = min(delay, execution_horizon)
    if schedule == PrefixSchedule.ZEROS:
        weights = torch.zeros(chunk_size)
        weights[:start] = 1.0
        return weights
    if schedule == PrefixSchedule.ONES:
        weights = torch.ones(chunk_size)
        weights[execution_horizon:] = 0.0
        return weights
    ramp_steps = min(execution_horizon, chunk_size) - start
    if execution_horizon <= start or ramp_steps <= 0:
        ramp = torch.zeros(0)
    else:
        ramp = torch.linspace(1, 0, ramp_steps + 2)[1:-1]  # strictly between 1 and 0
    if schedule == PrefixSchedule.EXP:
        ramp = ramp * torch.expm1(ramp).div(math.e - 1)
    parts = [torch.ones(min(start, chunk_size))] if start > 0 else []
    parts.append(ramp)
    if chunk_size > execution_horizon:
        parts.append(torch.zeros(chunk_size - execution_horizon))
    return torch.cat(parts)


def guidance_weight(time: float, max_guidance_weight: float) -> torch.Tensor:
    """The guidance scale at denoising time `time` (t = 1 noise … 0 data), float32 scalar tensor."""
    limit = torch.as_tensor(max_guidance_weight)
    tau = torch.as_tensor(1 - time)
    one_minus_tau_squared = (1 - tau) ** 2
    inv_r2 = (one_minus_tau_squared + tau**2) / one_minus_tau_squared
    c = torch.nan_to_num((1 - tau) / tau, posinf=limit)
    return torch.minimum(torch.nan_to_num(c * inv_r2, posinf=limit), limit)


@dataclass(frozen=True)
class PrefixGuide:
    """RTC guidance for one chunk, in model space: build with `prefix_guide`, then call `velocity`
    at every denoising step."""

    prefix: torch.Tensor
    """`(1, chunk_size, model_action_dim)`: the normalized prefix, zero-padded."""
    weights: torch.Tensor
    """`(1, chunk_size, 1)`: per-step prefix weights."""
    max_guidance_weight: float

    def velocity(self, x_t: torch.Tensor, v_t: torch.Tensor, time: float) -> torch.Tensor:
        """The guided velocity `v − w(t) · (prefix − (x − t·v)) · weights` for `x_t`, `v_t` of shape
        `(B, chunk_size, model_action_dim)`; `time` the Python float of the Euler step (as LeRobot)."""
        predicted_clean = x_t - time * v_t
        correction = (self.prefix - predicted_clean) * self.weights
        return v_t - guidance_weight(time, self.max_guidance_weight).to(v_t.device) * correction


def prefix_guide(
    prefix: torch.Tensor,
    *,
    delay: int,
    execution_horizon: int,
    schedule: PrefixSchedule | str,
    max_guidance_weight: float,
    chunk_size: int,
    model_action_dim: int,
) -> PrefixGuide:
    """A `PrefixGuide` from a model-space prefix `(k, action_dim)` (k ≤ chunk_size, action_dim ≤
    model_action_dim); raises `ValueError` naming the bad argument."""
    if prefix.ndim != 2 or not 0 < prefix.shape[0] <= chunk_size or prefix.shape[1] > model_action_dim:
        raise ValueError(
            f"RTC prefix of shape {list(prefix.shape)}: expected (k, action_dim) with 1 ≤ k ≤ chunk_size "
            f"({chunk_size}) and action_dim ≤ {model_action_dim}"
        )
    if not bool(torch.isfinite(prefix).all()):
        raise ValueError("RTC prefix contains NaN or inf")
    if delay < 0 or execution_horizon < 0:
        raise ValueError(f"RTC delay ({delay}) and execution_horizon ({execution_horizon}) must be ≥ 0")
    if not max_guidance_weight > 0:
        raise ValueError(f"RTC max_guidance_weight must be positive, got {max_guidance_weight}")
    horizon = min(execution_horizon, prefix.shape[0])  # nothing to follow beyond the prefix
    padded = torch.zeros(1, chunk_size, model_action_dim, dtype=torch.float32, device=prefix.device)
    padded[0, : prefix.shape[0], : prefix.shape[1]] = prefix
    weights = prefix_weights(delay, horizon, chunk_size, schedule).to(prefix.device)
    return PrefixGuide(padded, weights[None, :, None], float(max_guidance_weight))


def guide_from_guidance(
    guidance: PrefixGuidance,
    normalize: Callable[[torch.Tensor], torch.Tensor],
    *,
    action_dim: int,
    chunk_size: int,
    model_action_dim: int,
    device: torch.device,
) -> PrefixGuide:
    """The runtime side of `PrefixGuidance`: its prefix (LeRobot units, `(k, action_dim)`) taken into
    model space with `normalize` (the postprocessor's inverse), padded, with its weights."""
    prefix = np.asarray(guidance.prefix, dtype=np.float32)
    if prefix.ndim != 2 or prefix.shape[1] != action_dim:
        raise ValueError(
            f"RTC prefix of shape {list(prefix.shape)}: expected (k, {action_dim}) (the checkpoint's action)"
        )
    return prefix_guide(
        normalize(torch.from_numpy(prefix).to(device)),
        delay=guidance.delay,
        execution_horizon=guidance.execution_horizon,
        schedule=guidance.schedule,
        max_guidance_weight=guidance.max_guidance_weight,
        chunk_size=chunk_size,
        model_action_dim=model_action_dim,
    )
