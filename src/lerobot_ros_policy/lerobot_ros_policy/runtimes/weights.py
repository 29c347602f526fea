"""Strict loading of LeRobot `model.safetensors` weights into a native module."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from pathlib import Path

import torch
from torch import nn

from lerobot_ros_policy.checkpoint import CheckpointFormatError


def load_strict(
    module: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    source: Path,
    *,
    what: str,
    prefix: str = "model.",
    unused: Collection[str] = (),
    assign: bool = False,
) -> None:
    """Load `prefix`-ed weights into `module`, refusing with every missing, unexpected or misshaped
    key. `unused`: keys (without prefix) the checkpoint carries but inference never reads (skipped).
    `assign`: the checkpoint's tensors become the parameters (for a module built on the meta device,
    so the weights are in memory once)."""
    expected = module.state_dict()
    provided = {k.removeprefix(prefix): v for k, v in state_dict.items() if k.startswith(prefix)}
    provided = {k: v for k, v in provided.items() if k not in unused}
    foreign = sorted(k for k in state_dict if not k.startswith(prefix))
    missing = sorted(set(expected) - set(provided))
    unexpected = sorted(set(provided) - set(expected))
    misshaped = [
        f"{prefix}{k}: checkpoint {list(provided[k].shape)}, config.json implies {list(expected[k].shape)}"
        for k in expected
        if k in provided and provided[k].shape != expected[k].shape
    ]
    problems = []
    if misshaped:
        problems.append(f"shape mismatches: {'; '.join(misshaped[:8])}")
    if missing:
        problems.append(f"missing {len(missing)} keys, e.g. {[prefix + k for k in missing[:8]]}")
    if unexpected or foreign:
        extra = [prefix + k for k in unexpected] + foreign
        problems.append(f"unexpected {len(extra)} keys, e.g. {extra[:8]}")
    if problems:
        raise CheckpointFormatError(f"{source}: weights do not fit the {what}: {' | '.join(problems)}")
    module.load_state_dict(provided, strict=True, assign=assign)
