"""Adapter runtime over an installed `lerobot` package (imported only when this runtime is loaded).

For users who prefer LeRobot's own implementation, and the oracle of the parity tests: LeRobot's
policy class, `make_pre_post_processors` and `predict_action_chunk`, behind the same
`PolicyRuntime` interface. The suite never needs lerobot otherwise.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from typing import Any

import numpy as np
import torch

from lerobot_ros_policy.checkpoint import (
    PolicyCheckpoint,
    Preprocessor,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.runtimes.base import Observation, PolicyRuntime, PrefixGuidance
from lerobot_ros_policy.runtimes.registry import ANY_POLICY, LEROBOT, register_runtime


def _import_lerobot(module: str) -> Any:
    try:
        return importlib.import_module(module)
    except ImportError as err:
        raise UnsupportedPolicyError(
            f"the 'lerobot' runtime backend needs the lerobot package ({module}: {err}); install lerobot in this "
            "environment or use the 'native' backend"
        ) from err


@register_runtime
class LeRobotRuntime(PolicyRuntime):
    """Runs any policy type the installed lerobot knows, through LeRobot's own code."""

    policy_type = ANY_POLICY
    backend = LEROBOT

    def __init__(
        self,
        checkpoint: PolicyCheckpoint,
        device: str = "cpu",
        *,
        rename_map: Mapping[str, str] | None = None,
    ) -> None:
        factory = _import_lerobot("lerobot.policies.factory")
        super().__init__(checkpoint, device)
        self.checkpoint = checkpoint
        # Validation and image conversion as the native runtimes do, so both backends accept the same input.
        self._validator = Preprocessor(
            checkpoint.preprocessor,
            checkpoint.config.input_features,
            self._device,
            rename_map=rename_map,
            handled_by_runtime={step.registry_name for step in checkpoint.preprocessor.steps},
            normalize=False,
        )
        try:
            policy_class = factory.get_policy_class(checkpoint.config.type)
        except (NotImplementedError, ValueError) as err:
            raise UnsupportedPolicyError(
                f"{checkpoint.root}: lerobot cannot run policy type '{checkpoint.config.type}': {err}"
            ) from err
        self.policy = policy_class.from_pretrained(str(checkpoint.root))
        self.policy.to(self._device).eval()
        self.preprocessor, self.postprocessor = factory.make_pre_post_processors(
            self.policy.config,
            pretrained_path=str(checkpoint.root),
            preprocessor_overrides={
                "device_processor": {"device": str(self._device)},
                "rename_observations_processor": {"rename_map": self._validator.rename_map},
            },
        )

    @property
    def rename_map(self) -> dict[str, str]:
        return dict(self._validator.rename_map)

    def reset(self) -> None:
        self.policy.reset()

    @torch.no_grad()
    def predict_chunk(
        self,
        observation: Observation,
        task: str | None = None,
        guidance: PrefixGuidance | None = None,
    ) -> np.ndarray:
        if guidance is not None and self._config.type != "act":
            raise UnsupportedPolicyError(
                f"prefix guidance (RTC) through the lerobot backend is not supported for '{self._config.type}'; "
                "use the native backend"
            )
        validated = self._validator(observation)  # validated, converted, batched
        inverse = {target: source for source, target in self._validator.rename_map.items()}
        batch: dict[str, Any] = {inverse.get(key, key): tensor for key, tensor in validated.items()}
        batch["task"] = task or ""
        processed = self.preprocessor(batch)
        actions = self.postprocessor(self.policy.predict_action_chunk(processed))
        return actions[0].to(torch.float32).cpu().numpy()
