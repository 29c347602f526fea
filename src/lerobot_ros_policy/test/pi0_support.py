"""Tiny random Pi0 checkpoints in LeRobot 0.4.4's format, for tests that do not need LeRobot.

The sizes are test-only variants registered in the runtime's table (LeRobot knows only gemma_300m and
gemma_2b); the files are laid out as LeRobot's `save_pretrained` writes them: `model.*` keys with the
token embedding stored under the tied `paligemma.lm_head.weight` and the expert's unused head, the
processor pipelines of `make_pi0_pre_post_processors` with MEAN_STD statistics.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors.torch import save_file

from lerobot_ros_policy.checkpoint import parse_policy_config
from lerobot_ros_policy.runtimes.pi0 import GemmaSize, SiglipSize, Variant, register_variant
from lerobot_ros_policy.runtimes.pi0.config import Pi0Architecture
from lerobot_ros_policy.runtimes.pi0.model import Pi0FlowModel
from lerobot_ros_policy.runtimes.pi0.runtime import EMBED_TOKENS, TIED_EMBED_TOKENS, UNUSED_WEIGHTS

DATA = Path(__file__).parent / "data"
STANDIN_TOKENIZER = DATA / "paligemma_standin"  # character-level, 100 tokens, <bos> = 2
TINY_PALIGEMMA = "test_tiny_paligemma"
TINY_EXPERT = "test_tiny_expert"
register_variant(
    TINY_PALIGEMMA,
    Variant(
        GemmaSize(width=32, depth=2, mlp_dim=64, num_heads=4, num_kv_heads=1, head_dim=16),
        SiglipSize(hidden_size=24, intermediate_size=48, num_layers=2, num_heads=2, patch_size=14, projection_dim=32),
        vocab_size=128,
    ),
)
register_variant(
    TINY_EXPERT, Variant(GemmaSize(width=24, depth=2, mlp_dim=48, num_heads=4, num_kv_heads=1, head_dim=16))
)

CAMERA = "observation.images.front"
STATE_DIM, ACTION_DIM = 4, 3


def tiny_config(**overrides: Any) -> dict[str, Any]:
    """A Pi0 `config.json` as LeRobot writes it (the fields the runtime reads), tiny variants."""
    config = {
        "type": "pi0",
        "n_obs_steps": 1,
        "input_features": {
            CAMERA: {"type": "VISUAL", "shape": [3, 40, 60]},
            "observation.state": {"type": "STATE", "shape": [STATE_DIM]},
        },
        "output_features": {"action": {"type": "ACTION", "shape": [ACTION_DIM]}},
        "device": "cpu",
        "paligemma_variant": TINY_PALIGEMMA,
        "action_expert_variant": TINY_EXPERT,
        "dtype": "float32",
        "chunk_size": 8,
        "n_action_steps": 8,
        "max_state_dim": 32,
        "max_action_dim": 32,
        "num_inference_steps": 5,
        "min_period": 0.004,
        "max_period": 4.0,
        "image_resolution": [56, 56],
        "empty_cameras": 0,
        "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"},
        "tokenizer_max_length": 12,
    }
    config.update(overrides)
    return config


def lerobot_state_dict(model: Pi0FlowModel, expert_vocab: int) -> dict[str, torch.Tensor]:
    """The native model's weights under the names and tensors LeRobot's `save_pretrained` writes."""
    state = {f"model.{k}": v.detach().clone().contiguous() for k, v in model.state_dict().items()}
    state[TIED_EMBED_TOKENS] = state.pop(EMBED_TOKENS)
    state[UNUSED_WEIGHTS[0]] = torch.randn(expert_vocab, model.arch.expert.width)
    return state


def _pipelines(config: dict[str, Any], seed: int) -> tuple[dict, dict, dict[str, torch.Tensor]]:
    rng = np.random.default_rng(seed)
    stats = {}
    for key, dim in (("observation.state", STATE_DIM), ("action", ACTION_DIM)):
        stats[f"{key}.mean"] = torch.from_numpy(rng.uniform(-30, 30, dim).astype(np.float32))
        stats[f"{key}.std"] = torch.from_numpy(rng.uniform(2, 20, dim).astype(np.float32))
    features = {**config["input_features"], **config["output_features"]}
    norm = {"eps": 1e-8, "norm_map": config["normalization_mapping"]}
    pre = {
        "name": "policy_preprocessor",
        "steps": [
            {"registry_name": "rename_observations_processor", "config": {"rename_map": {}}},
            {"registry_name": "to_batch_processor", "config": {}},
            {"registry_name": "pi0_new_line_processor", "config": {}},
            {
                "registry_name": "tokenizer_processor",
                "config": {
                    "max_length": config["tokenizer_max_length"],
                    "task_key": "task",
                    "padding_side": "right",
                    "padding": "max_length",
                    "truncation": True,
                    "tokenizer_name": "google/paligemma-3b-pt-224",
                },
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
            {
                "registry_name": "normalizer_processor",
                "config": {**norm, "features": features},
                "state_file": "policy_preprocessor_step_5_normalizer_processor.safetensors",
            },
        ],
    }
    post = {
        "name": "policy_postprocessor",
        "steps": [
            {
                "registry_name": "unnormalizer_processor",
                "config": {**norm, "features": config["output_features"]},
                "state_file": "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
            },
            {"registry_name": "device_processor", "config": {"device": "cpu", "float_dtype": None}},
        ],
    }
    return pre, post, stats


def write_tiny_checkpoint(root: Path, *, seed: int = 0, perturb: float = 0.05, **overrides: Any) -> Path:
    """A random-weight tiny Pi0 checkpoint in `root`; `overrides` replace config.json fields."""
    root.mkdir(parents=True, exist_ok=True)
    config = tiny_config(**overrides)
    torch.manual_seed(seed)
    model = Pi0FlowModel(Pi0Architecture.from_config(parse_policy_config(config), "tiny"))
    with torch.no_grad():  # norms and biases off their init values
        for param in model.parameters():
            param.add_(torch.randn_like(param) * perturb)
    save_file(lerobot_state_dict(model, 128), str(root / "model.safetensors"))
    pre, post, stats = _pipelines(config, seed)
    (root / "config.json").write_text(json.dumps(config, indent=4))
    (root / "policy_preprocessor.json").write_text(json.dumps(pre, indent=2))
    (root / "policy_postprocessor.json").write_text(json.dumps(post, indent=2))
    save_file(stats, str(root / "policy_preprocessor_step_5_normalizer_processor.safetensors"))
    save_file(
        {k: v for k, v in stats.items() if k.startswith("action.")},
        str(root / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"),
    )
    return root


def tiny_observation(seed: int = 0, camera: tuple[int, int] = (40, 60)) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    return {
        CAMERA: rng.integers(0, 256, (*camera, 3), dtype=np.uint8),
        "observation.state": rng.normal(0, 20, STATE_DIM).astype(np.float32),
    }
