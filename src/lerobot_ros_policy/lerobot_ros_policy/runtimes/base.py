"""The interface every policy runtime implements (native ACT, SmolVLA, Pi0, the LeRobot adapter).

A runtime turns one observation into one chunk of actions, exactly as LeRobot's
`preprocessor → policy.predict_action_chunk → postprocessor` does for the same checkpoint:

* input: one un-batched observation keyed by LeRobot feature names (`observation.state`,
  `observation.images.<camera>`, ...), in LeRobot units (degrees, gripper 0–100), as the recorder's
  frame builder produces it; images either `uint8 (H, W, 3)` RGB (as cameras and datasets deliver
  them) or floating point `(3, H, W)` in [0, 1] (as LeRobot's policies receive them);
* output: `float32 (chunk_size, action_dim)` actions in LeRobot units (un-normalized), column order
  of the checkpoint's `action` feature.

Normalization, renaming, batching and device moves happen inside, from the checkpoint's own
`policy_preprocessor.json` / `policy_postprocessor.json`. Runtimes hold no action queue: executing,
trimming and ensembling chunks is the caller's job (the execution layer), so every backend behaves
the same there.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import torch

from lerobot_ros_policy.checkpoint import PolicyCheckpoint, PolicyConfig, PolicyFeature, load_checkpoint

ObservationValue = np.ndarray | torch.Tensor
Observation = Mapping[str, ObservationValue]


@dataclass(frozen=True)
class PrefixGuidance:
    """Real-Time Chunking guidance for flow-matching runtimes (SmolVLA, Pi0).

    `prefix` is what is left of the previous chunk when the new one starts executing, aligned so that
    `prefix[0]` is the action due at the first step of the new chunk; LeRobot units (un-normalized,
    the runtime normalizes it into model space itself). Shape `(k, action_dim)`, `k ≤ chunk_size`.
    Per-step prefix weights: 1 for the first `delay` steps (actions executed while inferring), then a
    `schedule` ramp to 0 at `execution_horizon`, 0 after. Guidance weight per denoising step:
    `min((1−τ)/τ · ((1−τ)² + τ²)/(1−τ)², max_guidance_weight)`, τ = 1 − t (LeRobot's time runs from
    t = 1 noise to t = 0 data); velocity correction `v − w · (prefix − (x − t·v)) · weights`.

    Runtimes without denoising (ACT) accept and ignore it (`supports_prefix_guidance` is False).
    """

    prefix: np.ndarray
    delay: int
    execution_horizon: int
    schedule: Literal["linear", "exp", "ones", "zeros"] = "linear"
    max_guidance_weight: float = 10.0


class PolicyRuntime(ABC):
    """One loaded policy: observation in, action chunk out, in LeRobot units. Not thread-safe:
    call it from one worker thread at a time."""

    policy_type: ClassVar[str]
    """LeRobot's policy type (`config.json` "type") this runtime runs: "act", "smolvla", "pi0", ..."""
    backend: ClassVar[str]
    """"native" (this suite, torch only) or "lerobot" (adapter to an installed lerobot package)."""
    supports_prefix_guidance: ClassVar[bool] = False

    def __init__(self, checkpoint: PolicyCheckpoint, device: str = "cpu") -> None:
        """Subclasses take `(checkpoint, device, *, rename_map=None)` and call this first."""
        self._config = checkpoint.config
        self._device = torch.device(device)

    @classmethod
    def from_checkpoint(
        cls,
        checkpoint: PolicyCheckpoint | str | Path,
        device: str = "cpu",
        *,
        rename_map: Mapping[str, str] | None = None,
        **options: Any,
    ) -> PolicyRuntime:
        """Load a checkpoint (a `PolicyCheckpoint`, a directory, or a Hub repo id in the local cache).

        `rename_map` maps observation keys the caller supplies to the checkpoint's feature names, on
        top of the rename map saved in the checkpoint's preprocessor (LeRobot's `rename_map`).
        `options`: runtime-specific keyword arguments (e.g. SmolVLA's `vlm_path`, `dtype`).
        Raises `CheckpointError` subclasses with a precise message when the checkpoint cannot run.
        """
        if not isinstance(checkpoint, PolicyCheckpoint):
            checkpoint = load_checkpoint(checkpoint)
        return cls(checkpoint, device, rename_map=rename_map, **options)

    @property
    def config(self) -> PolicyConfig:
        """The checkpoint's parsed `config.json`."""
        return self._config

    @property
    def device(self) -> torch.device:
        """Where the model runs."""
        return self._device

    @property
    def input_features(self) -> dict[str, PolicyFeature]:
        """Observation features the caller must supply, keyed by the names the caller uses (after
        undoing the rename maps); images are `(3, H, W)` as in LeRobot's config."""
        inverse = {target: source for source, target in self.rename_map.items()}
        return {inverse.get(key, key): feature for key, feature in self.config.input_features.items()}

    @property
    def output_features(self) -> dict[str, PolicyFeature]:
        """The checkpoint's output features (`action`)."""
        return dict(self.config.output_features)

    @property
    def rename_map(self) -> dict[str, str]:
        """Caller key → checkpoint feature name, all rename maps combined."""
        return {}

    @property
    def action_dim(self) -> int:
        return self.config.action_feature.shape[0]

    @property
    def chunk_size(self) -> int:
        return self.config.chunk_size

    @property
    def n_action_steps(self) -> int:
        """Actions LeRobot executes per chunk before asking for the next (`n_action_steps`)."""
        return self.config.n_action_steps

    @abstractmethod
    def reset(self) -> None:
        """Forget episode state (call at episode start). Stateless runtimes do nothing."""

    @abstractmethod
    def predict_chunk(
        self,
        observation: Observation,
        task: str | None = None,
        guidance: PrefixGuidance | None = None,
    ) -> np.ndarray:
        """One forward pass: `float32 (chunk_size, action_dim)` actions in LeRobot units.

        `task` is the language instruction (ignored by policies without language input).
        Raises `ObservationError` (missing key, wrong shape, non-finite value) before touching the model.
        """
