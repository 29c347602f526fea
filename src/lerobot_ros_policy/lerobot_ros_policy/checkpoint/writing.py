"""LeRobot 0.4.4 checkpoint files for a dataset: what `lerobot-train` leaves in `pretrained_model/`.

The random-weight checkpoints (`random_act`, `random_smolvla`) read the same dataset metadata and
write the same files; they differ in their config's policy fields, their weights and the
preprocessor steps between batching and the device move.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from lerobot_ros_core.dataset_paths import INFO_PATH, STATS_PATH
from lerobot_ros_policy.checkpoint.config import ACTION, OBS_ENV_STATE, FeatureType
from lerobot_ros_policy.checkpoint.loader import CONFIG_FILE, POSTPROCESSOR_FILE, PREPROCESSOR_FILE, WEIGHTS_FILE
from lerobot_ros_policy.checkpoint.processors import (
    BATCH_STEP,
    DEVICE_STEP,
    NORMALIZER_STEP,
    RENAME_STEP,
    UNNORMALIZER_STEP,
)

IMAGE_DTYPES = ("image", "video")
CHANNEL_NAMES = ("channel", "channels")
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


def dataset_policy_features(dataset_root: Path) -> tuple[dict[str, Any], dict[str, Any], dict[str, Any]]:
    """The dataset's `input_features`, `output_features` (as `config.json` writes them) and `stats.json`.

    LeRobot's `dataset_to_policy_features` rules: image/video → VISUAL `(C, H, W)`,
    `observation.environment_state` → ENV, other `observation.*` → STATE, `action*` → ACTION; the
    bookkeeping columns (timestamp, indices) are not features. Depth maps are left out: the vision
    backbones take RGB only (LeRobot would accept them here and fail in the backbone).
    """
    where = dataset_root / INFO_PATH
    dataset_features = _read_json(where, "the dataset's info").get("features") or {}
    stats = _read_json(dataset_root / STATS_PATH, "the dataset's statistics")
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
    return inputs, outputs, stats


def has_camera(input_features: dict[str, Any]) -> bool:
    return any(f["type"] == FeatureType.VISUAL.value for f in input_features.values())


def require_mean_std(keys: list[str], stats: dict[str, Any], dataset_root: Path, policy: str) -> None:
    """Every MEAN_STD-normalized feature needs mean and std (LeRobot refuses to run without them)."""
    missing = [key for key in keys if not {"mean", "std"} <= set(stats.get(key) or {})]
    if missing:
        raise ValueError(
            f"{dataset_root / STATS_PATH}: no mean/std for {missing}; {policy} normalizes them with MEAN_STD"
        )


def require_chunking(chunk_size: int, n_action_steps: int) -> None:
    if chunk_size < 1 or not 1 <= n_action_steps <= chunk_size:
        raise ValueError(f"need 1 ≤ n_action_steps ({n_action_steps}) ≤ chunk_size ({chunk_size})")


def base_config(
    policy_type: str,
    input_features: dict[str, Any],
    output_features: dict[str, Any],
    *,
    chunk_size: int,
    n_action_steps: int,
    normalization_mapping: dict[str, str],
) -> dict[str, Any]:
    """The first fields of every policy's `config.json`, in LeRobot 0.4.4's order (PreTrainedConfig's,
    then the chunking and normalization ones): CPU, not pushed to the Hub."""
    return {
        "type": policy_type,
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
        "normalization_mapping": dict(normalization_mapping),
    }


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


def _write_json(path: Path, data: dict[str, Any], indent: int) -> None:
    path.write_text(json.dumps(data, indent=indent))


def write_checkpoint(
    output_dir: Path,
    dataset_root: Path,
    config: dict[str, Any],
    weights: dict[str, torch.Tensor],
    stats: dict[str, Any],
    *,
    policy_steps: tuple[dict[str, Any], ...] = (),
) -> Path:
    """Write `config.json`, `model.safetensors` and the pre/post-processor pipelines with their
    normalizer states into `output_dir` (created if needed; its checkpoint files are overwritten).

    The preprocessor is rename → batch → `policy_steps` → device → normalizer, the postprocessor
    unnormalizer → device, as LeRobot 0.4.4 saves them (the normalizer's state file is named by its
    step index). Returns `output_dir`.
    """
    state = stats_state(stats, dataset_root / STATS_PATH)
    output_dir.mkdir(parents=True, exist_ok=True)
    _write_json(output_dir / CONFIG_FILE, config, indent=4)
    save_file(weights, str(output_dir / WEIGHTS_FILE))
    device = {"device": "cpu", "float_dtype": None}
    normalizer_config = {
        "eps": NORMALIZER_EPS,
        "features": {**config["input_features"], **config["output_features"]},
        "norm_map": dict(config["normalization_mapping"]),
    }
    steps: list[dict[str, Any]] = [
        {"registry_name": RENAME_STEP, "config": {"rename_map": {}}},
        {"registry_name": BATCH_STEP, "config": {}},
        *policy_steps,
        {"registry_name": DEVICE_STEP, "config": device},
    ]
    normalizer_file = f"{PREPROCESSOR_NAME}_step_{len(steps)}_{NORMALIZER_STEP}.safetensors"
    unnormalizer_file = f"{POSTPROCESSOR_NAME}_step_0_{UNNORMALIZER_STEP}.safetensors"
    save_file(state, str(output_dir / normalizer_file))
    save_file(state, str(output_dir / unnormalizer_file))
    steps.append({"registry_name": NORMALIZER_STEP, "config": normalizer_config, "state_file": normalizer_file})
    postprocessor_steps = [
        {
            "registry_name": UNNORMALIZER_STEP,
            "config": {**normalizer_config, "features": dict(config["output_features"])},
            "state_file": unnormalizer_file,
        },
        {"registry_name": DEVICE_STEP, "config": device},
    ]
    _write_json(output_dir / PREPROCESSOR_FILE, {"name": PREPROCESSOR_NAME, "steps": steps}, indent=2)
    _write_json(output_dir / POSTPROCESSOR_FILE, {"name": POSTPROCESSOR_NAME, "steps": postprocessor_steps}, indent=2)
    return output_dir
