"""A random-weight ACT checkpoint for a LeRobot v3.0 dataset, in LeRobot 0.4.4's checkpoint format.

It stands in for a trained checkpoint where none exists (the demo, tests, trying a robot setup end to
end): the files are those `lerobot-train --policy.type=act` leaves in `pretrained_model/` for the
dataset (features from `meta/info.json`, normalization statistics from `meta/stats.json`, ACT's
default normalization modes), with freshly initialised weights. LeRobot loads it with
`ACTPolicy.from_pretrained` and `make_pre_post_processors(config, pretrained_path=...)`; no lerobot
is needed to write it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from lerobot_ros_policy.checkpoint.config import (
    ACTION,
    OBS_ENV_STATE,
    FeatureType,
    NormalizationMode,
    parse_policy_config,
)
from lerobot_ros_policy.checkpoint.loader import CONFIG_FILE, POSTPROCESSOR_FILE, PREPROCESSOR_FILE, WEIGHTS_FILE
from lerobot_ros_policy.checkpoint.processors import (
    BATCH_STEP,
    DEVICE_STEP,
    NORMALIZER_STEP,
    RENAME_STEP,
    UNNORMALIZER_STEP,
)
from lerobot_ros_policy.runtimes.act.model import ACTArchitecture, ACTModel
from lerobot_ros_policy.runtimes.act.resnet import BASIC_BLOCK_LAYERS

INFO_FILE = Path("meta/info.json")
STATS_FILE = Path("meta/stats.json")
IMAGE_DTYPES = ("image", "video")
CHANNEL_NAMES = ("channel", "channels")
N_HEADS = 8  # ACTConfig's default; dim_model must be a multiple of it
# ACTConfig's default normalization_mapping.
NORMALIZATION_MAPPING = {
    FeatureType.VISUAL.value: NormalizationMode.MEAN_STD.value,
    FeatureType.STATE.value: NormalizationMode.MEAN_STD.value,
    FeatureType.ACTION.value: NormalizationMode.MEAN_STD.value,
}
NORMALIZER_EPS = 1e-8  # LeRobot's normalizer steps' default
PREPROCESSOR_NAME = "policy_preprocessor"
POSTPROCESSOR_NAME = "policy_postprocessor"


def _read_json(path: Path, what: str) -> dict[str, Any]:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: missing ({what}); is this a LeRobot v3.0 dataset root?")
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON: {err}") from err
    if not isinstance(data, dict):
        raise ValueError(f"{path}: expected a JSON object, got {type(data).__name__}")
    return data


def _is_depth(spec: dict[str, Any]) -> bool:
    info = spec.get("info") or {}
    return bool(info.get("is_depth_map") or info.get("video.is_depth_map"))


def policy_features(dataset_features: dict[str, Any], where: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """Dataset features → ACT's `input_features` and `output_features` (as `config.json` writes them).

    LeRobot's `dataset_to_policy_features` rules: image/video → VISUAL `(C, H, W)`,
    `observation.environment_state` → ENV, other `observation.*` → STATE, `action*` → ACTION; the
    bookkeeping columns (timestamp, indices) are not features. Depth maps are left out: ACT's ResNet
    takes RGB only (LeRobot would accept them here and fail in the backbone).
    """
    inputs: dict[str, Any] = {}
    outputs: dict[str, Any] = {}
    for key, spec in dataset_features.items():
        shape = [int(d) for d in spec.get("shape", [])]
        if spec.get("dtype") in IMAGE_DTYPES:
            if _is_depth(spec):
                continue
            names = spec.get("names") or []
            if len(shape) != 3 or len(names) != 3 or names[2] not in CHANNEL_NAMES or shape[2] != 3:
                raise ValueError(
                    f"{where}: image feature '{key}' must be (height, width, 3) RGB, got shape {shape} names {names}"
                )
            inputs[key] = {"type": FeatureType.VISUAL.value, "shape": [shape[2], shape[0], shape[1]]}
        elif key == OBS_ENV_STATE:
            inputs[key] = {"type": FeatureType.ENV.value, "shape": shape}
        elif key.startswith("observation"):
            inputs[key] = {"type": FeatureType.STATE.value, "shape": shape}
        elif key.startswith(ACTION):
            outputs[key] = {"type": FeatureType.ACTION.value, "shape": shape}
    if ACTION not in outputs or len(outputs[ACTION]["shape"]) != 1:
        raise ValueError(f"{where}: the dataset needs a vector 'action' feature (features: {list(dataset_features)})")
    if OBS_ENV_STATE not in inputs and not any(f["type"] == FeatureType.VISUAL.value for f in inputs.values()):
        raise ValueError(
            f"{where}: ACT needs at least one RGB camera or observation.environment_state among the features "
            f"(features: {list(dataset_features)})"
        )
    return inputs, outputs


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
        "type": "act",
        "n_obs_steps": 1,
        "input_features": input_features,
        "output_features": output_features,
        "device": "cpu",
        "use_amp": False,
        "use_peft": False,
        "push_to_hub": False,
        "repo_id": None,
        "private": None,
        "tags": None,
        "license": None,
        "pretrained_path": None,
        "chunk_size": chunk_size,
        "n_action_steps": n_action_steps,
        "normalization_mapping": dict(NORMALIZATION_MAPPING),
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


def stats_state(stats: dict[str, Any], where: Path) -> dict[str, torch.Tensor]:
    """`stats.json` → the (un)normalizer steps' state: `<feature>.<statistic>` float32 tensors of every
    feature the dataset has statistics for, as LeRobot's normalizer stores the dataset's stats."""
    state = {}
    for key, feature_stats in stats.items():
        if not isinstance(feature_stats, dict):
            raise ValueError(f"{where}: statistics of '{key}' are not an object")
        for name, value in feature_stats.items():
            try:
                array = np.asarray(value, dtype=np.float64)
            except (TypeError, ValueError) as err:
                raise ValueError(f"{where}: statistic '{key}.{name}' is not numeric: {err}") from err
            state[f"{key}.{name}"] = torch.from_numpy(array).to(torch.float32)
    return state


def _check_normalization_stats(input_features: dict[str, Any], output_features: dict[str, Any], stats: dict) -> None:
    """Every MEAN_STD-normalized feature needs mean and std (LeRobot refuses to run without them)."""
    missing = [key for key in (*input_features, *output_features) if not {"mean", "std"} <= set(stats.get(key) or {})]
    if missing:
        raise ValueError(f"{STATS_FILE}: no mean/std for {missing}; the checkpoint normalizes them with MEAN_STD")


def _write_json(path: Path, data: dict[str, Any], indent: int) -> None:
    path.write_text(json.dumps(data, indent=indent))


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
    if chunk_size < 1 or not 1 <= n_action_steps <= chunk_size:
        raise ValueError(f"need 1 ≤ n_action_steps ({n_action_steps}) ≤ chunk_size ({chunk_size})")
    info = _read_json(dataset_root / INFO_FILE, "the dataset's info")
    stats = _read_json(dataset_root / STATS_FILE, "the dataset's statistics")
    input_features, output_features = policy_features(info.get("features") or {}, dataset_root / INFO_FILE)
    _check_normalization_stats(input_features, output_features, stats)
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
    weights = random_act_weights(config, seed)
    state = stats_state(stats, dataset_root / STATS_FILE)

    output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(output_dir / CONFIG_FILE, config, indent=4)
    save_file(weights, str(output_dir / WEIGHTS_FILE))
    normalizer_file = f"{PREPROCESSOR_NAME}_step_3_{NORMALIZER_STEP}.safetensors"
    unnormalizer_file = f"{POSTPROCESSOR_NAME}_step_0_{UNNORMALIZER_STEP}.safetensors"
    save_file(state, str(output_dir / normalizer_file))
    save_file(state, str(output_dir / unnormalizer_file))
    device = {"device": "cpu", "float_dtype": None}
    normalizer_config = {
        "eps": NORMALIZER_EPS,
        "features": {**input_features, **output_features},
        "norm_map": dict(NORMALIZATION_MAPPING),
    }
    preprocessor = {
        "name": PREPROCESSOR_NAME,
        "steps": [
            {"registry_name": RENAME_STEP, "config": {"rename_map": {}}},
            {"registry_name": BATCH_STEP, "config": {}},
            {"registry_name": DEVICE_STEP, "config": device},
            {"registry_name": NORMALIZER_STEP, "config": normalizer_config, "state_file": normalizer_file},
        ],
    }
    postprocessor = {
        "name": POSTPROCESSOR_NAME,
        "steps": [
            {
                "registry_name": UNNORMALIZER_STEP,
                "config": {**normalizer_config, "features": dict(output_features)},
                "state_file": unnormalizer_file,
            },
            {"registry_name": DEVICE_STEP, "config": device},
        ],
    }
    _write_json(output_dir / PREPROCESSOR_FILE, preprocessor, indent=2)
    _write_json(output_dir / POSTPROCESSOR_FILE, postprocessor, indent=2)
    return output_dir
