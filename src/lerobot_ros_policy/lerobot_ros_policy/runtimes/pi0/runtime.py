"""Native Pi0 runtime: LeRobot's Pi0 checkpoints with torch (transformers for the tokenizer only), with
Real-Time Chunking in the denoising loop."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors import SafetensorError, safe_open

from lerobot_ros_policy.checkpoint import (
    OBS_STATE,
    CheckpointFormatError,
    CheckpointNotFoundError,
    PolicyCheckpoint,
    PolicyFeature,
    Postprocessor,
    Preprocessor,
)
from lerobot_ros_policy.runtimes.base import Observation, PrefixGuidance
from lerobot_ros_policy.runtimes.flow_matching.runtime import Dtype, FlowMatchingRuntime
from lerobot_ros_policy.runtimes.pi0.config import Pi0Architecture
from lerobot_ros_policy.runtimes.pi0.model import Pi0FlowModel
from lerobot_ros_policy.runtimes.registry import NATIVE, register_runtime
from lerobot_ros_policy.runtimes.weights import load_strict

DEFAULT_TOKENIZER = "google/paligemma-3b-pt-224"
EMBED_TOKENS = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
# PaliGemma's output head shares its tensor with the token embedding; LeRobot's save keeps only the
# head's name (safetensors drops one name of a shared tensor), so the embedding loads from it.
TIED_EMBED_TOKENS = "model.paligemma_with_expert.paligemma.lm_head.weight"
# Saved by LeRobot but never read at inference (the expert's language-model head); not loaded.
UNUSED_WEIGHTS = ("model.paligemma_with_expert.gemma_expert.lm_head.weight",)


def resize_with_pad(image: torch.Tensor, size: int) -> torch.Tensor:
    """LeRobot's (openpi's) Pi0 resize of float `(B, C, H, W)`: keep the aspect ratio (bilinear),
    clamp to [-1, 1], centre with padding value -1. As in LeRobot, the resize runs on a channels-last
    view and before the [0, 1] → [-1, 1] scaling (so the padding ends at -3 after it)."""
    height, width = image.shape[2:]
    ratio = max(width / size, height / size)
    resized_height, resized_width = int(height / ratio), int(width / ratio)
    channels_last = image.permute(0, 2, 3, 1).permute(0, 3, 1, 2)
    resized = F.interpolate(channels_last, size=(resized_height, resized_width), mode="bilinear", align_corners=False)
    resized = resized.clamp(-1.0, 1.0)
    pad_top, extra_h = divmod(size - resized_height, 2)
    pad_left, extra_w = divmod(size - resized_width, 2)
    return F.pad(resized, (pad_left, pad_left + extra_w, pad_top, pad_top + extra_h), mode="constant", value=-1.0)


def load_tokenizer(source: str) -> Any:
    """PaliGemma's tokenizer from a local folder or the Hub cache (never downloaded here)."""
    from transformers import AutoTokenizer

    try:
        return AutoTokenizer.from_pretrained(source, local_files_only=True)
    except (OSError, ValueError) as err:
        raise CheckpointNotFoundError(
            f"Pi0 tokenizer '{source}' not found locally ({err}). Pass tokenizer_path= a folder holding PaliGemma's "
            f"tokenizer files, or fetch them once with `hf download {DEFAULT_TOKENIZER} --include '*.json' '*.model'`"
        ) from err


def read_weights(path: Path) -> dict[str, torch.Tensor]:
    """`model.safetensors` as the native model names it: the unused heads never read into memory, the
    token embedding from the tied head when the file names it only so. Each tensor is copied out of
    the file's memory map (one at a time): the parameters must not change if the file is rewritten."""
    try:
        with safe_open(str(path), framework="pt") as weights:
            names = set(weights.keys())
            if EMBED_TOKENS in names or TIED_EMBED_TOKENS not in names:
                names.discard(TIED_EMBED_TOKENS)
            state = {key: weights.get_tensor(key).clone() for key in sorted(names - set(UNUSED_WEIGHTS))}
    except (SafetensorError, OSError) as err:
        raise CheckpointFormatError(f"{path}: unreadable safetensors file: {err}") from err
    if TIED_EMBED_TOKENS in state:
        state[EMBED_TOKENS] = state.pop(TIED_EMBED_TOKENS)
    return state


@register_runtime
class Pi0Runtime(FlowMatchingRuntime):
    """Pi0 (PaliGemma + Gemma action expert, flow matching); actions equal LeRobot 0.4.4's for the same
    checkpoint, inputs and noise. `tokenizer_path`: folder with PaliGemma's tokenizer (default: the
    name the checkpoint's tokenizer step saved, looked up in the Hub cache). `dtype`: "auto" =
    bfloat16 backbone on CUDA (as LeRobot's `dtype: bfloat16`), float32 elsewhere."""

    policy_type = "pi0"
    backend = NATIVE
    display_name = "Pi0"
    newline_step = "pi0_new_line_processor"

    def __init__(
        self,
        checkpoint: PolicyCheckpoint,
        device: str = "cpu",
        *,
        rename_map: Mapping[str, str] | None = None,
        tokenizer_path: str | Path | None = None,
        dtype: Dtype = "auto",
    ) -> None:
        super().__init__(checkpoint, device, dtype)
        config = checkpoint.config
        self.architecture = Pi0Architecture.from_config(config, str(checkpoint.root / "config.json"))
        self.tokenizer = load_tokenizer(
            str(tokenizer_path or self.tokenizer_options.get("tokenizer_name") or DEFAULT_TOKENIZER)
        )
        camera_inputs = {k: f for k, f in config.input_features.items() if k not in self.architecture.empty_cameras}
        self.preprocessor = Preprocessor(
            checkpoint.preprocessor,
            camera_inputs,
            self._device,
            rename_map=rename_map,
            handled_by_runtime=self.language_steps,
            reuse_image_buffers=True,
        )
        self.postprocessor = Postprocessor(checkpoint.postprocessor)
        with torch.device("meta"):  # no memory until the checkpoint's tensors are assigned
            self.model = Pi0FlowModel(self.architecture)
        load_strict(
            self.model,
            read_weights(checkpoint.weights_path),
            checkpoint.weights_path,
            what=f"Pi0 described by config.json ({config.raw.get('paligemma_variant')} + "
            f"{config.raw.get('action_expert_variant')} expert)",
            assign=True,
        )
        # float32 throughout, whatever the file's dtype (LeRobot copies a bfloat16 file into float32
        # parameters); then LeRobot's bfloat16 backbone where asked for.
        self.model.to(self._device, torch.float32).eval().requires_grad_(False)
        if self.dtype == "bfloat16":
            self.model.paligemma_with_expert.to_bfloat16()

    @property
    def input_features(self) -> dict[str, PolicyFeature]:
        """As the base class says, without LeRobot's `empty_camera_*` placeholders (filled in here)."""
        return self.preprocessor.caller_features

    def prepare_images(self, batch: Mapping[str, torch.Tensor]) -> tuple[list[torch.Tensor], list[torch.Tensor]]:
        """Cameras in config order, resized with padding to the model's resolution, scaled to [-1, 1];
        then LeRobot's empty cameras: all -1, masked out."""
        size = self.architecture.image_size
        images, masks = [], []
        for key in self.config.image_features:
            if key in self.architecture.empty_cameras:
                continue
            image = batch[key].to(torch.float32)
            if tuple(image.shape[2:]) != (size, size):
                image = resize_with_pad(image, size)
            images.append(image * 2.0 - 1.0)
            masks.append(torch.ones(image.shape[0], dtype=torch.bool, device=image.device))
        for _ in self.architecture.empty_cameras:
            images.append(torch.ones_like(images[-1]) * -1)
            masks.append(torch.zeros_like(masks[-1]))
        return images, masks

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
        images, image_masks = self.prepare_images(batch)
        state = batch[OBS_STATE]
        state = F.pad(state, (0, arch.max_state_dim - state.shape[-1]))
        velocity = self.model.prepare(images, image_masks, tokens, token_mask, state)
        return self._sample(velocity, noise, guidance)
