"""What the SmolVLA and Pi0 runtimes share around their models: the language steps of the
checkpoint's pipeline, the task's tokens, the start noise, RTC guidance, Euler sampling and the
postprocessor. Each subclass prepares its images and state and builds the model's velocity field."""

from __future__ import annotations

from typing import Any, Literal, get_args

import numpy as np
import torch

from lerobot_ros_policy.checkpoint import (
    MissingCheckpointFileError,
    PolicyCheckpoint,
    Postprocessor,
    Preprocessor,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.runtimes.base import PolicyRuntime, PrefixGuidance
from lerobot_ros_policy.runtimes.flow_matching.rtc import guide_from_guidance
from lerobot_ros_policy.runtimes.flow_matching.sampling import Velocity, euler_sample

TOKENIZER_STEP = "tokenizer_processor"
Dtype = Literal["auto", "float32", "bfloat16"]
TOKENIZER_MAX_LENGTH = 48  # SmolVLAConfig's and PI0Config's default, where neither the step nor the config says


class FlowMatchingRuntime(PolicyRuntime):
    """A flow-matching VLA: `tokenizer`, `preprocessor`, `postprocessor` and an `architecture` with
    `chunk_size`, `max_action_dim` and `num_steps` are set by the subclass's constructor, after
    this one's."""

    supports_prefix_guidance = True
    display_name: str  # the policy's name in messages
    newline_step: str  # the policy's "add a trailing newline to the task" step
    tokenizer: Any
    preprocessor: Preprocessor
    postprocessor: Postprocessor
    architecture: Any

    def __init__(self, checkpoint: PolicyCheckpoint, device: str = "cpu", dtype: Dtype = "auto") -> None:
        """Checks the checkpoint's policy type and `dtype` ("auto": bfloat16 backbone on CUDA, as
        LeRobot runs it there, float32 elsewhere) and reads the language steps of its pipeline."""
        if checkpoint.config.type != self.policy_type:
            raise UnsupportedPolicyError(
                f"{checkpoint.root}: policy type '{checkpoint.config.type}' is not {self.display_name}"
            )
        if dtype not in get_args(Dtype):
            raise ValueError(f"dtype must be 'auto', 'float32' or 'bfloat16', got {dtype!r}")
        super().__init__(checkpoint, device)
        self.checkpoint = checkpoint
        self.dtype = ("bfloat16" if self._device.type == "cuda" else "float32") if dtype == "auto" else dtype
        self._read_language_steps(checkpoint)

    def _read_language_steps(self, checkpoint: PolicyCheckpoint) -> None:
        """The tokenizer step's options and whether the task gets a trailing newline (the pipeline's say)."""
        tokenizer_step = checkpoint.preprocessor.find(TOKENIZER_STEP)
        if tokenizer_step is None:
            source = checkpoint.preprocessor.source
            raise MissingCheckpointFileError(
                f"{source}: no '{TOKENIZER_STEP}' step ({self.display_name} needs its language tokens)"
            )
        self.tokenizer_options = dict(tokenizer_step.config)
        default_length = checkpoint.config.raw.get("tokenizer_max_length", TOKENIZER_MAX_LENGTH)
        self.tokenizer_options.setdefault("max_length", int(default_length))
        self.add_newline = checkpoint.preprocessor.find(self.newline_step) is not None

    @property
    def language_steps(self) -> set[str]:
        """Pipeline steps this runtime does itself (not the generic preprocessor)."""
        return {self.newline_step, TOKENIZER_STEP}

    @property
    def rename_map(self) -> dict[str, str]:
        return dict(self.preprocessor.rename_map)

    def reset(self) -> None:
        """Flow-matching VLAs keep no state between chunks."""

    def tokenize(self, task: str | None) -> tuple[torch.Tensor, torch.Tensor]:
        """The task as LeRobot's pipeline tokenizes it: a trailing newline added (when the checkpoint's
        pipeline has the newline step), padded/truncated as its tokenizer step says."""
        text = task or ""
        if self.add_newline and not text.endswith("\n"):
            text += "\n"
        options = self.tokenizer_options
        encoded = self.tokenizer(
            [text],
            max_length=int(options["max_length"]),
            truncation=bool(options.get("truncation", True)),
            padding=options.get("padding", "max_length"),
            padding_side=options.get("padding_side", "right"),
            return_tensors="pt",
        )
        return encoded["input_ids"].to(self._device), encoded["attention_mask"].to(self._device, torch.bool)

    def _sample(
        self, velocity: Velocity, noise: np.ndarray | torch.Tensor | None, guidance: PrefixGuidance | None
    ) -> np.ndarray:
        """Denoise from `noise` (sampled when None; `(chunk_size, max_action_dim)` or batched), guided by
        the RTC prefix when given, and return the chunk in LeRobot units."""
        arch = self.architecture
        shape = (1, arch.chunk_size, arch.max_action_dim)
        if noise is None:
            noise = torch.normal(mean=0.0, std=1.0, size=shape, dtype=torch.float32, device=self._device)
        else:
            noise = torch.as_tensor(noise, dtype=torch.float32)
            if tuple(noise.shape) not in (shape, shape[1:]):
                raise ValueError(
                    f"noise of shape {list(noise.shape)}: expected (chunk_size, max_action_dim) = {shape[1:]}"
                )
            noise = noise.to(self._device).reshape(shape)
        guide = None
        if guidance is not None:
            guide = guide_from_guidance(
                guidance,
                self.postprocessor.normalize,
                action_dim=self.action_dim,
                chunk_size=arch.chunk_size,
                model_action_dim=arch.max_action_dim,
                device=self._device,
            )
        actions = euler_sample(velocity, noise, arch.num_steps, guide)[:, :, : self.action_dim]
        return self.postprocessor(actions)[0].to(torch.float32).numpy()
