"""Native ACT runtime: LeRobot's ACT checkpoints run with torch alone."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from lerobot_ros_policy.checkpoint import (
    CheckpointFormatError,
    PolicyCheckpoint,
    Postprocessor,
    Preprocessor,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.runtimes.act.model import ACTArchitecture, ACTModel
from lerobot_ros_policy.runtimes.base import Observation, PolicyRuntime, PrefixGuidance
from lerobot_ros_policy.runtimes.registry import NATIVE, register_runtime

STATE_DICT_PREFIX = "model."


def load_weights(model: ACTModel, state_dict: Mapping[str, torch.Tensor], source: Path) -> None:
    """Load LeRobot's `model.*` weights strictly, reporting every missing, unexpected or misshaped key."""
    expected = model.state_dict()
    provided = {k.removeprefix(STATE_DICT_PREFIX): v for k, v in state_dict.items() if k.startswith(STATE_DICT_PREFIX)}
    foreign = sorted(k for k in state_dict if not k.startswith(STATE_DICT_PREFIX))
    missing = sorted(set(expected) - set(provided))
    unexpected = sorted(set(provided) - set(expected))
    misshaped = [
        f"{STATE_DICT_PREFIX}{k}: checkpoint {list(provided[k].shape)}, config.json implies {list(expected[k].shape)}"
        for k in expected
        if k in provided and provided[k].shape != expected[k].shape
    ]
    problems = []
    if misshaped:
        problems.append(f"shape mismatches: {'; '.join(misshaped[:8])}")
    if missing:
        problems.append(f"missing {len(missing)} keys, e.g. {[STATE_DICT_PREFIX + k for k in missing[:8]]}")
    if unexpected or foreign:
        extra = [STATE_DICT_PREFIX + k for k in unexpected] + foreign
        problems.append(f"unexpected {len(extra)} keys, e.g. {extra[:8]}")
    if problems:
        raise CheckpointFormatError(
            f"{source}: weights do not fit the ACT described by config.json: {' | '.join(problems)}"
        )
    model.load_state_dict(provided, strict=True)


@register_runtime
class ACTRuntime(PolicyRuntime):
    """ACT (Action Chunking Transformer) in plain torch; actions equal LeRobot 0.4.4's on the same checkpoint."""

    policy_type = "act"
    backend = NATIVE

    def __init__(
        self,
        checkpoint: PolicyCheckpoint,
        device: str = "cpu",
        *,
        rename_map: Mapping[str, str] | None = None,
    ) -> None:
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
        load_weights(self.model, checkpoint.load_state_dict(), checkpoint.weights_path)
        self.model.to(self._device).eval().requires_grad_(False)

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
        actions = self.postprocessor(self.model(batch))
        return actions[0].to(torch.float32).numpy()
