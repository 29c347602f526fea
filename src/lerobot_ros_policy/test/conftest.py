"""Fixtures of the policy package: random-weight ACT checkpoints saved by LeRobot 0.4.4 itself, with
LeRobot's actions on fixed inputs (built once per test session, all variants in one reference run)."""

from __future__ import annotations

import json
import os
import subprocess
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest

ORACLE = Path(__file__).with_name("act_reference_oracle.py")

SMALL_ACT = {
    "cameras": {"front": [48, 64], "wrist": [48, 64]},
    "state_dim": 6,
    "action_dim": 6,
    "chunk_size": 12,
    "n_action_steps": 12,
    "dim_model": 64,
    "n_heads": 4,
    "dim_feedforward": 128,
    "n_encoder_layers": 2,
    "n_decoder_layers": 1,
    "latent_dim": 8,
    "n_vae_encoder_layers": 1,
    "n_inputs": 3,
}

# Variants exercising every normalization mode, the optional inputs and the architecture switches.
ACT_VARIANTS = {
    "mean_std": {**SMALL_ACT, "seed": 1},
    "min_max": {
        **SMALL_ACT,
        "seed": 2,
        "normalization_mapping": {"VISUAL": "IDENTITY", "STATE": "MIN_MAX", "ACTION": "MIN_MAX"},
    },
    "quantiles": {
        **SMALL_ACT,
        "seed": 3,
        "normalization_mapping": {"VISUAL": "MEAN_STD", "STATE": "QUANTILES", "ACTION": "QUANTILE10"},
    },
    "one_camera_env_state": {
        **SMALL_ACT,
        "seed": 4,
        "cameras": {"top": [64, 80]},
        "env_state_dim": 5,
        "state_dim": 3,
        "action_dim": 4,
        "pre_norm": True,
        "feedforward_activation": "gelu",
        "n_decoder_layers": 2,
    },
    # LeRobot 0.4.4's ACT needs observation.state at inference (it takes the latent's device from it).
    "env_state_only_no_vae": {**SMALL_ACT, "seed": 5, "cameras": {}, "env_state_dim": 7, "use_vae": False},
}

# LeRobot's default ACT (ResNet-18, dim 512, 4+1 layers, chunk 100) with small images.
FULL_ACT = {
    "full": {
        "cameras": {"front": [96, 128], "wrist": [96, 128]},
        "state_dim": 6,
        "action_dim": 6,
        "seed": 6,
        "n_inputs": 2,
    }
}


@dataclass(frozen=True)
class ActReference:
    """A checkpoint saved by LeRobot and LeRobot's outputs on fixed inputs."""

    checkpoint: Path
    inputs: list[dict[str, np.ndarray]]
    chunks: np.ndarray  # (n_inputs, chunk_size, action_dim): preprocessor → predict_action_chunk → postprocessor
    select_action: np.ndarray  # (n_inputs, action_dim): first action of select_action after reset


def reference_env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTHON", "AMENT", "COLCON"))}
    env.pop("VIRTUAL_ENV", None)
    env["HF_HUB_OFFLINE"] = "1"
    return env


def build_references(reference_python: Path, specs: dict, out: Path) -> dict[str, ActReference]:
    result = subprocess.run(
        [str(reference_python), str(ORACLE), json.dumps(specs), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=reference_env(),
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"LeRobot reference run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    references = {}
    for name in specs:
        data = np.load(out / name / "reference.npz")
        n_inputs = data["chunks"].shape[0]
        inputs = [
            {key.split("/", 1)[1]: data[key] for key in data.files if key.startswith(f"input{i}/")}
            for i in range(n_inputs)
        ]
        references[name] = ActReference(out / name / "checkpoint", inputs, data["chunks"], data["select_action"])
    return references


@pytest.fixture(scope="session")
def act_references(tmp_path_factory: pytest.TempPathFactory, reference_python: Path) -> dict[str, ActReference]:
    """Small random-weight ACT variants (see ACT_VARIANTS) saved and run by LeRobot 0.4.4."""
    return build_references(reference_python, ACT_VARIANTS, tmp_path_factory.mktemp("act_references"))


@pytest.fixture(params=sorted(ACT_VARIANTS))
def act_variant_reference(request: pytest.FixtureRequest, act_references: dict[str, ActReference]) -> ActReference:
    """Each variant of ACT_VARIANTS in turn."""
    return act_references[request.param]


@pytest.fixture(scope="session")
def reference_subprocess_env() -> dict[str, str]:
    """Environment for running the reference venv's Python (offline Hub, no ROS/venv leakage)."""
    return reference_env()


@pytest.fixture(scope="session")
def act_reference(act_references: dict[str, ActReference]) -> ActReference:
    """The basic variant: two 48×64 cameras, state 6, action 6, chunk 12, MEAN_STD everywhere."""
    return act_references["mean_std"]


@pytest.fixture(scope="session")
def full_act_reference(tmp_path_factory: pytest.TempPathFactory, reference_python: Path) -> ActReference:
    """LeRobot's default ACT architecture (ResNet-18, random weights) with two 96×128 cameras."""
    return build_references(reference_python, FULL_ACT, tmp_path_factory.mktemp("act_full_reference"))["full"]
