"""Token-level pieces SmolVLA and Pi0 share: the flow-time embedding and the prefix/suffix attention mask."""

from __future__ import annotations

import math

import torch


def sinusoidal_embedding(time: torch.Tensor, dimension: int, min_period: float, max_period: float) -> torch.Tensor:
    """Sine-cosine embedding of scalar times `(B,)` → `(B, dimension)`, in float64 as LeRobot computes it."""
    dtype = torch.float32 if time.device.type == "mps" else torch.float64
    fraction = torch.linspace(0.0, 1.0, dimension // 2, dtype=dtype, device=time.device)
    period = min_period * (max_period / min_period) ** fraction
    angle = (1.0 / period * 2 * math.pi)[None, :] * time[:, None]
    return torch.cat([torch.sin(angle), torch.cos(angle)], dim=1)


def block_causal_mask(pad_masks: torch.Tensor, att_masks: torch.Tensor) -> torch.Tensor:
    """big_vision's mask: token i sees token j when j is valid and cumsum(att)[j] ≤ cumsum(att)[i]."""
    cumsum = torch.cumsum(att_masks, dim=1)
    return (cumsum[:, None, :] <= cumsum[:, :, None]) & (pad_masks[:, None, :] * pad_masks[:, :, None])
