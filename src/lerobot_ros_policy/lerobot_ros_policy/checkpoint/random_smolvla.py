"""A random-weight SmolVLA checkpoint for a LeRobot v3.0 dataset, in LeRobot 0.4.4's checkpoint format.

For demos and benchmarks where no trained SmolVLA exists (and no SmolVLM2 weights can be fetched): the
files `lerobot-train --policy.type=smolvla` leaves in `pretrained_model/` for the dataset (features from
`meta/info.json`, statistics from `meta/stats.json`, SmolVLA's default normalization), with the
backbone described by a local SmolVLM2 config + tokenizer folder and freshly initialised weights.
LeRobot loads it with `SmolVLAPolicy.from_pretrained` and `make_pre_post_processors(config,
pretrained_path=...)`; no lerobot is needed to write it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lerobot_ros_core.dataset_paths import INFO_PATH
from lerobot_ros_policy.checkpoint.config import OBS_STATE, FeatureType, NormalizationMode, parse_policy_config
from lerobot_ros_policy.checkpoint.writing import (
    base_config,
    dataset_policy_features,
    has_camera,
    require_chunking,
    require_mean_std,
    write_checkpoint,
)
from lerobot_ros_policy.runtimes.flow_matching.runtime import TOKENIZER_STEP
from lerobot_ros_policy.runtimes.smolvla.config import SmolVLAArchitecture
from lerobot_ros_policy.runtimes.smolvla.model import SmolVLAFlowModel
from lerobot_ros_policy.runtimes.smolvla.runtime import SmolVLARuntime, load_backbone_parts

# SmolVLAConfig's default normalization_mapping.
NORMALIZATION_MAPPING = {
    FeatureType.VISUAL.value: NormalizationMode.IDENTITY.value,
    FeatureType.STATE.value: NormalizationMode.MEAN_STD.value,
    FeatureType.ACTION.value: NormalizationMode.MEAN_STD.value,
}
INIT_STD = 0.02  # transformers' initializer_range for the backbone and expert


def smolvla_config(
    input_features: dict[str, Any],
    output_features: dict[str, Any],
    *,
    vlm_model_name: str,
    chunk_size: int,
    n_action_steps: int,
    num_vlm_layers: int,
    resize_imgs_with_padding: tuple[int, int],
) -> dict[str, Any]:
    """`config.json` of a SmolVLA policy: every field LeRobot 0.4.4's SmolVLAConfig writes, in its
    order, its defaults except the given ones (backbone weights not loaded, not pushed to the Hub)."""
    return {
        **base_config(
            "smolvla",
            input_features,
            output_features,
            chunk_size=chunk_size,
            n_action_steps=n_action_steps,
            normalization_mapping=NORMALIZATION_MAPPING,
        ),
        "max_state_dim": 32,
        "max_action_dim": 32,
        "resize_imgs_with_padding": list(resize_imgs_with_padding),
        "empty_cameras": 0,
        "adapt_to_pi_aloha": False,
        "use_delta_joint_actions_aloha": False,
        "tokenizer_max_length": 48,
        "num_steps": 10,
        "use_cache": True,
        "freeze_vision_encoder": True,
        "train_expert_only": True,
        "train_state_proj": True,
        "optimizer_lr": 0.0001,
        "optimizer_betas": [0.9, 0.95],
        "optimizer_eps": 1e-08,
        "optimizer_weight_decay": 1e-10,
        "optimizer_grad_clip_norm": 10,
        "scheduler_warmup_steps": 1000,
        "scheduler_decay_steps": 30000,
        "scheduler_decay_lr": 2.5e-06,
        "vlm_model_name": vlm_model_name,
        "load_vlm_weights": False,
        "add_image_special_tokens": False,
        "attention_mode": "cross_attn",
        "prefix_length": -1,
        "pad_language_to": "longest",
        "num_expert_layers": -1,
        "num_vlm_layers": num_vlm_layers,
        "self_attn_every_n_layers": 2,
        "expert_width_multiplier": 0.75,
        "min_period": 0.004,
        "max_period": 4.0,
        "rtc_config": None,
        "compile_model": False,
        "compile_mode": "max-autotune",
    }


def random_smolvla_weights(config: dict[str, Any], vlm_path: Path, seed: int) -> dict[str, torch.Tensor]:
    """`model.safetensors` content: the native SmolVLA's state dict under `model.` plus the VLM's
    (unused) `lm_head`, as LeRobot saves them; backbone and expert initialised as transformers does
    (normal, std 0.02; zero biases; unit norms), the action heads with torch's defaults; seeded
    without touching the global RNG."""
    vlm_config, _ = load_backbone_parts(str(vlm_path), str(vlm_path))
    architecture = SmolVLAArchitecture.from_configs(parse_policy_config(config), vlm_config, str(vlm_path))
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = SmolVLAFlowModel(architecture)
        for module in model.vlm_with_expert.modules():
            if isinstance(module, nn.Linear | nn.Embedding | nn.Conv2d):
                nn.init.normal_(module.weight, std=INIT_STD)
                if getattr(module, "bias", None) is not None:
                    nn.init.zeros_(module.bias)
        lm_head = torch.empty(architecture.vocab_size, architecture.text.hidden_size).normal_(std=INIT_STD)
    weights = {f"model.{key}": tensor.detach().contiguous() for key, tensor in model.state_dict().items()}
    weights["model.vlm_with_expert.vlm.lm_head.weight"] = lm_head
    return weights


def create_random_smolvla_checkpoint(
    output_dir: Path,
    dataset_root: Path,
    vlm_path: Path,
    *,
    seed: int = 0,
    chunk_size: int = 50,
    n_action_steps: int = 50,
    num_vlm_layers: int = 16,
    resize_imgs_with_padding: tuple[int, int] = (512, 512),
) -> Path:
    """Write a random-weight SmolVLA checkpoint for the dataset at `dataset_root` into `output_dir`
    (created if needed; its checkpoint files are overwritten) and return `output_dir`. `vlm_path`:
    a SmolVLM2 config + tokenizer folder (e.g. the stand-in in the policy tests' data), recorded as
    the checkpoint's `vlm_model_name` and tokenizer.

    Files: `config.json`, `model.safetensors`, `policy_preprocessor.json` +
    `policy_preprocessor_step_5_normalizer_processor.safetensors`, `policy_postprocessor.json` +
    `policy_postprocessor_step_0_unnormalizer_processor.safetensors`, as LeRobot 0.4.4 saves them.
    """
    output_dir, dataset_root, vlm_path = Path(output_dir), Path(dataset_root), Path(vlm_path).resolve()
    require_chunking(chunk_size, n_action_steps)
    input_features, output_features, stats = dataset_policy_features(dataset_root)
    if OBS_STATE not in input_features or not has_camera(input_features):
        raise ValueError(f"{dataset_root / INFO_PATH}: SmolVLA needs observation.state and at least one RGB camera")
    require_mean_std([OBS_STATE, *output_features], stats, dataset_root, "SmolVLA")
    config = smolvla_config(
        input_features,
        output_features,
        vlm_model_name=str(vlm_path),
        chunk_size=chunk_size,
        n_action_steps=n_action_steps,
        num_vlm_layers=num_vlm_layers,
        resize_imgs_with_padding=resize_imgs_with_padding,
    )
    tokenizer_config = {
        "max_length": config["tokenizer_max_length"],
        "task_key": "task",
        "padding_side": "right",
        "padding": config["pad_language_to"],
        "truncation": True,
        "tokenizer_name": str(vlm_path),
    }
    language_steps = (
        {"registry_name": SmolVLARuntime.newline_step, "config": {}},
        {"registry_name": TOKENIZER_STEP, "config": tokenizer_config},
    )
    weights = random_smolvla_weights(config, vlm_path, seed)
    return write_checkpoint(output_dir, dataset_root, config, weights, stats, policy_steps=language_steps)
