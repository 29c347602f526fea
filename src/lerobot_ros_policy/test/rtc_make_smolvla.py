"""Runs inside the LeRobot 0.4.4 reference venv (never imported by the suite).

Saves a tiny random-weight SmolVLA checkpoint the way lerobot-train does (`save_pretrained` of the
policy and of both processor pipelines, dataset stats in SO-101 LeRobot units) for the RTC tests and
benchmarks. The backbone is the SmolVLM2 stand-in (config + tokenizer) shrunk to a few layers of
width 64 and 64×64 images, copied next to the checkpoint and named by `vlm_model_name`, so the
runtime finds it without the Hub.

Usage: python rtc_make_smolvla.py OUT_DIR STANDIN_DIR CAMERAS_JSON [CHUNK_SIZE] [ACTION_STD]
CAMERAS_JSON: {"front": [height, width], ...}
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from lerobot.configs.types import FeatureType, PolicyFeature
from lerobot.policies.factory import make_pre_post_processors
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

TEXT = {
    "hidden_size": 64,
    "head_dim": 16,
    "num_attention_heads": 4,
    "num_key_value_heads": 2,
    "intermediate_size": 128,
    "num_hidden_layers": 4,
}
VISION = {
    "hidden_size": 32,
    "intermediate_size": 64,
    "num_attention_heads": 2,
    "num_hidden_layers": 1,
    "image_size": 64,
    "patch_size": 16,
}


def joint_stats(dim: int, std: float) -> dict[str, np.ndarray]:
    """Body joints around 0 ± std degrees, gripper (last column) 30 ± std percent."""
    mean = np.zeros(dim, dtype=np.float32)
    mean[-1] = 30.0
    return {
        "mean": mean,
        "std": np.full(dim, std, dtype=np.float32),
        "min": mean - 30,
        "max": mean + 30,
        "count": np.array([1000]),
    }


def main() -> None:
    out = Path(sys.argv[1])
    standin = Path(sys.argv[2])
    cameras = json.loads(sys.argv[3])
    chunk_size = int(sys.argv[4]) if len(sys.argv) > 4 else 50
    action_std = float(sys.argv[5]) if len(sys.argv) > 5 else 10.0
    vlm = out.parent / "smolvlm_tiny"
    shutil.copytree(standin, vlm, dirs_exist_ok=True)
    vlm_config = json.loads((vlm / "config.json").read_text())
    vlm_config["text_config"].update(TEXT)
    vlm_config["vision_config"].update(VISION)
    vlm_config["scale_factor"] = 2
    (vlm / "config.json").write_text(json.dumps(vlm_config, indent=2))

    torch.manual_seed(0)
    inputs = {"observation.state": PolicyFeature(type=FeatureType.STATE, shape=(6,))}
    for name, (height, width) in cameras.items():
        inputs[f"observation.images.{name}"] = PolicyFeature(type=FeatureType.VISUAL, shape=(3, height, width))
    outputs = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(6,))}
    config = SmolVLAConfig(
        input_features=inputs,
        output_features=outputs,
        vlm_model_name=str(vlm),
        load_vlm_weights=False,
        resize_imgs_with_padding=(VISION["image_size"], VISION["image_size"]),
        num_vlm_layers=TEXT["num_hidden_layers"],
        chunk_size=chunk_size,
        n_action_steps=chunk_size,
        device="cpu",
    )
    policy = SmolVLAPolicy(config).eval()
    stats = {"observation.state": joint_stats(6, 10.0), "action": joint_stats(6, action_std)}
    for key in inputs:
        if "images" in key:
            stats[key] = {
                name: np.full((3, 1, 1), value, np.float32)
                for name, value in (("mean", 0.45), ("std", 0.25), ("min", 0.0), ("max", 1.0))
            }
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    policy.save_pretrained(out)
    preprocessor.save_pretrained(out)
    postprocessor.save_pretrained(out)


if __name__ == "__main__":
    main()
