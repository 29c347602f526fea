"""A random-weight ACT checkpoint for a LeRobot v3.0 dataset, in LeRobot 0.4.4's checkpoint format.

It stands in for a trained checkpoint where none exists (the demo, tests, trying a robot setup end to
end): the files are those `lerobot-train --policy.type=act` leaves in `pretrained_model/` for the
dataset (features from `meta/info.json`, normalization statistics from `meta/stats.json`, ACT's
default normalization modes), with freshly initialised weights. LeRobot loads it with
`ACTPolicy.from_pretrained` and `make_pre_post_processors(config, pretrained_path=...)`; no lerobot
is needed to write it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from torch import nn

from lerobot_ros_core.dataset_paths import INFO_PATH
from lerobot_ros_policy.checkpoint.config import OBS_ENV_STATE, FeatureType, NormalizationMode, parse_policy_config
from lerobot_ros_policy.checkpoint.writing import (
    base_config,
    dataset_policy_features,
    has_camera,
    require_chunking,
    require_mean_std,
    write_checkpoint,
)
from lerobot_ros_policy.runtimes.act.model import ACTArchitecture, ACTModel
from lerobot_ros_policy.runtimes.act.resnet import BASIC_BLOCK_LAYERS

N_HEADS = 8  # ACTConfig's default; dim_model must be a multiple of it
# ACTConfig's default normalization_mapping.
NORMALIZATION_MAPPING = {
    FeatureType.VISUAL.value: NormalizationMode.MEAN_STD.value,
    FeatureType.STATE.value: NormalizationMode.MEAN_STD.value,
    FeatureType.ACTION.value: NormalizationMode.MEAN_STD.value,
}


def act_config(
    input_features: dict[str, Any],
    output_features: dict[str, Any],
    *,
    dim_model: int,
    n_encoder_layers: int,
    n_decoder_layers: int,
    chunk_size: int,
    n_action_steps: int,
    backbone: str,
) -> dict[str, Any]:
    """`config.json` of an ACT policy: every field LeRobot 0.4.4's ACTConfig writes, in its order,
    ACTConfig's defaults except the given ones (no pretrained backbone weights, not pushed to the Hub)."""
    return {
        **base_config(
            "act",
            input_features,
            output_features,
            chunk_size=chunk_size,
            n_action_steps=n_action_steps,
            normalization_mapping=NORMALIZATION_MAPPING,
        ),
        "vision_backbone": backbone,
        "pretrained_backbone_weights": None,
        "replace_final_stride_with_dilation": False,
        "pre_norm": False,
        "dim_model": dim_model,
        "n_heads": N_HEADS,
        "dim_feedforward": 3200,
        "feedforward_activation": "relu",
        "n_encoder_layers": n_encoder_layers,
        "n_decoder_layers": n_decoder_layers,
        "use_vae": True,
        "latent_dim": 32,
        "n_vae_encoder_layers": 4,
        "temporal_ensemble_coeff": None,
        "dropout": 0.1,
        "kl_weight": 10.0,
        "optimizer_lr": 1e-05,
        "optimizer_weight_decay": 0.0001,
        "optimizer_lr_backbone": 1e-05,
    }


def _initialise(model: nn.Module) -> None:
    """A fresh LeRobot ACT's initialisation: torchvision's ResNet init for the backbone convolutions
    (Kaiming normal, fan-out), Xavier uniform for the transformer's matrices, torch defaults elsewhere."""
    backbone = getattr(model, "backbone", None)
    if backbone is not None:
        for module in backbone.modules():
            if isinstance(module, nn.Conv2d):
                nn.init.kaiming_normal_(module.weight, mode="fan_out", nonlinearity="relu")
    for parameter in [*model.encoder.parameters(), *model.decoder.parameters()]:
        if parameter.dim() > 1:
            nn.init.xavier_uniform_(parameter)


def random_act_weights(config: dict[str, Any], seed: int) -> dict[str, torch.Tensor]:
    """`model.safetensors` content for `config`: the native ACT module's state dict under `model.`
    (LeRobot's key names), freshly initialised from `seed` (the global RNG is left untouched)."""
    parsed = parse_policy_config(config)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = ACTModel(parsed, ACTArchitecture.from_config(parsed))
        _initialise(model)
    return {f"model.{key}": tensor.detach().contiguous() for key, tensor in model.state_dict().items()}


def create_random_act_checkpoint(
    output_dir: Path,
    dataset_root: Path,
    *,
    seed: int = 0,
    dim_model: int = 256,
    n_encoder_layers: int = 2,
    n_decoder_layers: int = 1,
    chunk_size: int = 30,
    n_action_steps: int = 30,
    backbone: str = "resnet18",
) -> Path:
    """Write a random-weight ACT checkpoint for the dataset at `dataset_root` into `output_dir`
    (created if needed; its checkpoint files are overwritten) and return `output_dir`.

    Files: `config.json`, `model.safetensors`, `policy_preprocessor.json` +
    `policy_preprocessor_step_3_normalizer_processor.safetensors`, `policy_postprocessor.json` +
    `policy_postprocessor_step_0_unnormalizer_processor.safetensors`, as LeRobot 0.4.4 saves them.
    """
    output_dir, dataset_root = Path(output_dir), Path(dataset_root)
    if dim_model < N_HEADS or dim_model % N_HEADS:
        raise ValueError(f"dim_model must be a positive multiple of {N_HEADS} (ACT's n_heads), got {dim_model}")
    if backbone not in BASIC_BLOCK_LAYERS:
        raise ValueError(f"backbone '{backbone}' not supported (supported: {sorted(BASIC_BLOCK_LAYERS)})")
    if n_encoder_layers < 1 or n_decoder_layers < 1:
        raise ValueError(f"need at least one encoder and one decoder layer, got {n_encoder_layers}/{n_decoder_layers}")
    require_chunking(chunk_size, n_action_steps)
    input_features, output_features, stats = dataset_policy_features(dataset_root)
    if OBS_ENV_STATE not in input_features and not has_camera(input_features):
        raise ValueError(
            f"{dataset_root / INFO_PATH}: ACT needs at least one RGB camera or observation.environment_state "
            f"among the features (inputs: {list(input_features)})"
        )
    require_mean_std([*input_features, *output_features], stats, dataset_root, "the checkpoint")
    config = act_config(
        input_features,
        output_features,
        dim_model=dim_model,
        n_encoder_layers=n_encoder_layers,
        n_decoder_layers=n_decoder_layers,
        chunk_size=chunk_size,
        n_action_steps=n_action_steps,
        backbone=backbone,
    )
    return write_checkpoint(output_dir, dataset_root, config, random_act_weights(config, seed), stats)
