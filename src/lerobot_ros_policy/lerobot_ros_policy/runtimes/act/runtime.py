"""Native ACT runtime: LeRobot's ACT checkpoints run with torch alone."""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from lerobot_ros_policy.checkpoint import (
    PolicyCheckpoint,
    Postprocessor,
    Preprocessor,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.runtimes.act.accel import (
    ACCELERATORS,
    AcceleratorUnavailableError,
    default_cache_dir,
    load_onnx_act,
)
from lerobot_ros_policy.runtimes.act.model import ACTArchitecture, ACTModel
from lerobot_ros_policy.runtimes.base import Observation, PolicyRuntime, PrefixGuidance
from lerobot_ros_policy.runtimes.registry import NATIVE, register_runtime
from lerobot_ros_policy.runtimes.weights import load_strict

ACCEL_TOLERANCE = 1e-4
"""Largest action deviation from the exact path (LeRobot units) the fast path may show at load time."""
ACCEL_CHECK_SEED = 0

logger = logging.getLogger(__name__)


@register_runtime
class ACTRuntime(PolicyRuntime):
    """ACT (Action Chunking Transformer) in plain torch; actions equal LeRobot 0.4.4's on the same checkpoint.

    `accel="onnx"` runs the model in ONNX Runtime instead (CPU only, see `accel`): faster, actions
    within `ACCEL_TOLERANCE` of the exact path. Where it cannot run (onnxruntime missing, another
    device, export failure, deviation above the tolerance) the runtime logs why and stays exact:
    `accel` is then "none" and `accel_fallback` holds the reason.
    """

    policy_type = "act"
    backend = NATIVE

    def __init__(
        self,
        checkpoint: PolicyCheckpoint,
        device: str = "cpu",
        *,
        rename_map: Mapping[str, str] | None = None,
        accel: str = "none",
        accel_cache_dir: str | Path | None = None,
    ) -> None:
        if accel not in ACCELERATORS:
            raise ValueError(f"ACT accel '{accel}' not supported (supported: {list(ACCELERATORS)})")
        config = checkpoint.config
        if config.type != self.policy_type:
            raise UnsupportedPolicyError(f"{checkpoint.root}: policy type '{config.type}' is not ACT")
        super().__init__(checkpoint, device)
        self.checkpoint = checkpoint
        # The model consumes each batch within predict_chunk: image buffers can be reused.
        self.preprocessor = Preprocessor(
            checkpoint.preprocessor,
            config.input_features,
            self._device,
            rename_map=rename_map,
            reuse_image_buffers=True,
        )
        self.postprocessor = Postprocessor(checkpoint.postprocessor)
        self.model = ACTModel(config, ACTArchitecture.from_config(config))
        load_strict(
            self.model, checkpoint.load_state_dict(), checkpoint.weights_path, what="ACT described by config.json"
        )
        self.model.to(self._device).eval().requires_grad_(False)
        self._forward = self.model
        self.accel = "none"
        self.accel_fallback: str | None = None
        self.accel_deviation: float | None = None
        if accel != "none":
            self._accelerate(Path(accel_cache_dir) if accel_cache_dir is not None else default_cache_dir())

    def _accelerate(self, cache_dir: Path) -> None:
        """Switch to the ONNX Runtime path if it runs here and agrees with the exact one on a random input."""
        example = self._random_batch()
        try:
            if self._device.type != "cpu":
                raise AcceleratorUnavailableError(f"it runs on the CPU only, the model is on '{self._device}'")
            fast = load_onnx_act(self.model, self.checkpoint, example, cache_dir, torch.get_num_threads())
            with torch.inference_mode():
                deviation = float(
                    (self.postprocessor(fast(example)) - self.postprocessor(self.model(example))).abs().max()
                )
            if not deviation <= ACCEL_TOLERANCE:
                raise AcceleratorUnavailableError(
                    f"its actions deviate by {deviation:.2e} from the exact path's (tolerance {ACCEL_TOLERANCE:g})"
                )
        except AcceleratorUnavailableError as err:
            self.accel_fallback = str(err)
            logger.warning("%s: accel 'onnx' unavailable, running the exact torch path: %s", self.checkpoint.root, err)
            return
        self._forward, self.accel, self.accel_deviation = fast, "onnx", deviation
        logger.info("%s: ONNX Runtime path %s (max |Δ| %.1e vs exact)", self.checkpoint.root, fast.path, deviation)

    def _random_batch(self) -> dict[str, torch.Tensor]:
        """A normalized batch of the checkpoint's input shapes (standard normal values, fixed seed)."""
        generator = torch.Generator().manual_seed(ACCEL_CHECK_SEED)
        return {
            key: torch.randn(1, *feature.shape, generator=generator).to(self._device)
            for key, feature in self._config.input_features.items()
        }

    @property
    def rename_map(self) -> dict[str, str]:
        return dict(self.preprocessor.rename_map)

    @property
    def temporal_ensemble_coeff(self) -> float | None:
        """The checkpoint's ACT temporal ensembling coefficient (applied by the execution layer)."""
        value = self._config.raw.get("temporal_ensemble_coeff")
        return None if value is None else float(value)

    def reset(self) -> None:
        """ACT keeps no state between chunks."""

    @torch.inference_mode()
    def predict_chunk(
        self,
        observation: Observation,
        task: str | None = None,
        guidance: PrefixGuidance | None = None,
    ) -> np.ndarray:
        batch = self.preprocessor(observation)
        actions = self.postprocessor(self._forward(batch))
        return actions[0].to(torch.float32).numpy()
