"""Native SmolVLA runtime: LeRobot's SmolVLA checkpoints with torch and transformers (tokenizer and
backbone config only), with Real-Time Chunking in the denoising loop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812

from lerobot_ros_policy.checkpoint import (
    OBS_STATE,
    CheckpointNotFoundError,
    PolicyCheckpoint,
    Postprocessor,
    Preprocessor,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.runtimes.base import Observation, PrefixGuidance
from lerobot_ros_policy.runtimes.flow_matching.runtime import Dtype, FlowMatchingRuntime
from lerobot_ros_policy.runtimes.registry import NATIVE, register_runtime
from lerobot_ros_policy.runtimes.smolvla.config import SmolVLAArchitecture
from lerobot_ros_policy.runtimes.smolvla.model import SmolVLAFlowModel
from lerobot_ros_policy.runtimes.weights import load_strict

DEFAULT_VLM = "HuggingFaceTB/SmolVLM2-500M-Video-Instruct"
# Saved by LeRobot but never read at inference (the VLM's language-model head).
UNUSED_WEIGHTS = ("vlm_with_expert.vlm.lm_head.weight",)


def resize_with_pad(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """LeRobot's SmolVLA image resize: keep the aspect ratio (bilinear), pad left and top with 0."""
    current_height, current_width = image.shape[2:]
    ratio = max(current_width / width, current_height / height)
    resized_height, resized_width = int(current_height / ratio), int(current_width / ratio)
    resized = F.interpolate(image, size=(resized_height, resized_width), mode="bilinear", align_corners=False)
    return F.pad(resized, (max(0, int(width - resized_width)), 0, max(0, int(height - resized_height)), 0), value=0)


def pad_last_dim(vector: torch.Tensor, size: int) -> torch.Tensor:
    """Zero-pad the last dimension to `size` (state and actions to the model's max dims)."""
    if vector.shape[-1] == size:
        return vector
    padded = torch.zeros(*vector.shape[:-1], size, dtype=vector.dtype, device=vector.device)
    padded[..., : vector.shape[-1]] = vector
    return padded


def load_backbone_parts(source: str, tokenizer_source: str) -> tuple[Any, Any]:
    """The backbone's transformers config and the tokenizer, from local folders or the Hub cache
    (never downloaded here)."""
    from transformers import AutoConfig, AutoTokenizer

    try:
        vlm_config = AutoConfig.from_pretrained(source, local_files_only=True)
        tokenizer = AutoTokenizer.from_pretrained(tokenizer_source, local_files_only=True)
    except (OSError, ValueError) as err:
        reason = " ".join(str(err).split())
        raise CheckpointNotFoundError(
            f"SmolVLA backbone '{source}' / tokenizer '{tokenizer_source}': config or tokenizer not found locally "
            f"({reason}). Pass vlm_path= a folder holding the SmolVLM config.json and tokenizer files, or fetch "
            f"them once with `hf download {source} --include '*.json' '*.txt'`"
        ) from err
    for part in ("text_config", "vision_config", "scale_factor"):
        if not hasattr(vlm_config, part):
            raise UnsupportedPolicyError(f"SmolVLA backbone '{source}': config has no '{part}' (not a SmolVLM config)")
    return vlm_config, tokenizer


@register_runtime
class SmolVLARuntime(FlowMatchingRuntime):
    """SmolVLA (SmolVLM2 backbone + flow-matching action expert); actions equal LeRobot 0.4.4's for the
    same checkpoint, inputs and noise. `vlm_path`: folder with the backbone's config and tokenizer
    (default: the checkpoint's `vlm_model_name`, a folder or a Hub id in the local cache). `dtype`:
    "auto" = bfloat16 backbone on CUDA, float32 elsewhere."""

    policy_type = "smolvla"
    backend = NATIVE
    display_name = "SmolVLA"
    newline_step = "smolvla_new_line_processor"

    def __init__(
        self,
        checkpoint: PolicyCheckpoint,
        device: str = "cpu",
        *,
        rename_map: Mapping[str, str] | None = None,
        vlm_path: str | Path | None = None,
        dtype: Dtype = "auto",
    ) -> None:
        super().__init__(checkpoint, device, dtype)
        config = checkpoint.config
        where = str(checkpoint.root / "config.json")
        vlm_source = str(vlm_path or config.raw.get("vlm_model_name") or DEFAULT_VLM)
        tokenizer_source = str(vlm_path or self.tokenizer_options.get("tokenizer_name") or vlm_source)
        vlm_config, self.tokenizer = load_backbone_parts(vlm_source, tokenizer_source)
        self.architecture = SmolVLAArchitecture.from_configs(config, vlm_config, where)
        self.preprocessor = Preprocessor(
            checkpoint.preprocessor,
            config.input_features,
            self._device,
            rename_map=rename_map,
            handled_by_runtime=self.language_steps,
            reuse_image_buffers=True,
        )
        self.postprocessor = Postprocessor(checkpoint.postprocessor)
        self.model = SmolVLAFlowModel(self.architecture)
        load_strict(
            self.model,
            checkpoint.load_state_dict(),
            checkpoint.weights_path,
            what=f"SmolVLA described by config.json and backbone '{vlm_source}'",
            unused=UNUSED_WEIGHTS,
        )
        self.model.to(self._device).eval().requires_grad_(False)
        if self.dtype == "bfloat16":  # as LeRobot with a pretrained backbone: VLM and expert in bf16, heads float32
            self.model.vlm_with_expert.to(torch.bfloat16)
        self._image_special_tokens = self._special_tokens() if self.architecture.add_image_special_tokens else None

    def _special_tokens(self) -> tuple[torch.Tensor, torch.Tensor]:
        """`<fake_token_around_image><global-img>` before and `<fake_token_around_image>` after each image."""
        fake = self.tokenizer.convert_tokens_to_ids(
            getattr(self.tokenizer, "fake_image_token", "<fake_token_around_image>")
        )
        global_image = self.tokenizer.convert_tokens_to_ids(
            getattr(self.tokenizer, "global_image_token", "<global-img>")
        )
        start = torch.tensor([fake, global_image], dtype=torch.long, device=self._device)
        return start, torch.tensor([fake], dtype=torch.long, device=self._device)

    @torch.inference_mode()
    def predict_chunk(
        self,
        observation: Observation,
        task: str | None = None,
        guidance: PrefixGuidance | None = None,
        *,
        noise: np.ndarray | torch.Tensor | None = None,
    ) -> np.ndarray:
        """One chunk; `noise` `(chunk_size, max_action_dim)` (or batched) replaces the sampled start
        noise (for reproducible chunks and parity checks)."""
        arch = self.architecture
        batch = self.preprocessor(observation)
        tokens, token_mask = self.tokenize(task)
        images = []
        for key in self.config.image_features:
            image = batch[key]
            if arch.resize_imgs_with_padding is not None:
                image = resize_with_pad(image, *arch.resize_imgs_with_padding)
            images.append(image * 2.0 - 1.0)
        state = pad_last_dim(batch[OBS_STATE], arch.max_state_dim)
        velocity = self.model.prepare(images, tokens, token_mask, state, self._image_special_tokens)
        return self._sample(velocity, noise, guidance)
