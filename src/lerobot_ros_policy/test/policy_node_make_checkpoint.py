"""Runs inside the LeRobot 0.4.4 reference venv (never imported by the suite).

Saves a small random-weight ACT checkpoint the way lerobot-train does (`save_pretrained` of the
policy and of both processor pipelines, with dataset stats in SO-101 LeRobot units), for the
policy node tests and benchmarks.

Usage: python policy_node_make_checkpoint.py OUT_DIR CAMERAS_JSON
       [CHUNK_SIZE] [STATE_DIM] [ACTION_DIM] [ACTION_STD] [small|default]
(default: LeRobot's default ACT architecture; small: a tiny transformer for fast tests)
CAMERAS_JSON: {"front": [height, width], ...}
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.factory import make_pre_post_processors


def joint_stats(dim: int, std: float = 10.0) -> dict[str, np.ndarray]:
    """Body joints around 0 ± std degrees, gripper (last column) 30 ± std percent."""
    mean = np.zeros(dim, dtype=np.float32)
    mean[-1] = 30.0
    std = np.full(dim, std, dtype=np.float32)
    return {"mean": mean, "std": std, "min": mean - 30, "max": mean + 30, "count": np.array([1000])}


def main() -> None:
    out = Path(sys.argv[1])
    cameras = json.loads(sys.argv[2])
    chunk_size = int(sys.argv[3]) if len(sys.argv) > 3 else 30
    state_dim = int(sys.argv[4]) if len(sys.argv) > 4 else 6
    action_dim = int(sys.argv[5]) if len(sys.argv) > 5 else 6
    action_std = float(sys.argv[6]) if len(sys.argv) > 6 else 10.0
    architecture = sys.argv[7] if len(sys.argv) > 7 else "small"
    small = {
        "dim_model": 64,
        "n_heads": 2,
        "dim_feedforward": 128,
        "n_encoder_layers": 1,
        "n_decoder_layers": 1,
        "use_vae": False,
    }
    torch.manual_seed(0)
    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(state_dim,))}
    for name, (height, width) in cameras.items():
        inputs[f"observation.images.{name}"] = PolicyFeature(type=FeatureType.VISUAL, shape=(3, height, width))
    outputs = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(action_dim,))}
    config = ACTConfig(
        input_features=inputs,
        output_features=outputs,
        chunk_size=chunk_size,
        n_action_steps=chunk_size,
        pretrained_backbone_weights=None,
        device="cpu",
        **(small if architecture == "small" else {}),
    )
    policy = ACTPolicy(config).eval()
    stats = {"observation.state": joint_stats(state_dim), "action": joint_stats(action_dim, action_std)}
    for key in inputs:
        if "images" in key:
            stats[key] = {
                "mean": np.full((3, 1, 1), 0.45, np.float32),
                "std": np.full((3, 1, 1), 0.25, np.float32),
                "min": np.zeros((3, 1, 1), np.float32),
                "max": np.ones((3, 1, 1), np.float32),
                "count": np.array([1000]),
            }
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    policy.save_pretrained(out)
    preprocessor.save_pretrained(out)
    postprocessor.save_pretrained(out)


if __name__ == "__main__":
    main()
