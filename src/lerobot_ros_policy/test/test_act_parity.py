"""Native ACT runtime vs. LeRobot 0.4.4's ACT on checkpoints LeRobot saved: same actions (≤1e-5)."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from lerobot_ros_policy.checkpoint import FeatureType, ObservationError, load_checkpoint
from lerobot_ros_policy.runtimes import LEROBOT, NATIVE, load_runtime, runtime_class
from lerobot_ros_policy.runtimes.act import ACTRuntime
from lerobot_ros_policy.runtimes.base import PrefixGuidance

ActReference = Any  # conftest.ActReference: checkpoint, inputs, chunks, select_action

TOLERANCE = 1e-5
PACKAGE_ROOT = Path(__file__).resolve().parents[1]


def assert_parity(runtime: ACTRuntime, reference: ActReference) -> None:
    for observation, chunk, first_action in zip(
        reference.inputs, reference.chunks, reference.select_action, strict=True
    ):
        actions = runtime.predict_chunk(observation)
        assert actions.dtype == np.float32
        assert actions.shape == chunk.shape
        np.testing.assert_allclose(actions, chunk, rtol=0, atol=TOLERANCE)
        np.testing.assert_allclose(actions[0], first_action, rtol=0, atol=TOLERANCE)


def test_act_native_matches_lerobot(act_variant_reference: ActReference) -> None:
    reference = act_variant_reference
    runtime = load_runtime(reference.checkpoint)
    assert isinstance(runtime, ACTRuntime)
    assert runtime.chunk_size == reference.chunks.shape[1]
    assert runtime.action_dim == reference.chunks.shape[2]
    assert_parity(runtime, reference)
    assert not [name for name in sys.modules if name.split(".")[0] == "lerobot"], "native runtime imported lerobot"


@pytest.mark.slow
def test_act_full_resnet18_config_matches_lerobot(full_act_reference: ActReference) -> None:
    runtime = load_runtime(full_act_reference.checkpoint)
    assert runtime.chunk_size == 100
    assert runtime.config.raw["dim_model"] == 512
    assert_parity(runtime, full_act_reference)


def test_act_state_dict_matches_lerobot_keys(act_reference: ActReference) -> None:
    checkpoint = load_checkpoint(act_reference.checkpoint)
    runtime = ACTRuntime.from_checkpoint(checkpoint)
    saved = checkpoint.load_state_dict()
    native = {f"model.{k}": v for k, v in runtime.model.state_dict().items()}
    assert sorted(native) == sorted(saved)
    assert all(torch.equal(native[k], saved[k]) for k in saved)
    assert any(k.startswith("model.vae_encoder.") for k in native)  # kept for compatibility, unused
    assert "model.backbone.layer4.1.bn2.running_var" in native


def test_act_accepts_policy_layout_images_and_tensors(act_reference: ActReference) -> None:
    """Float (3, H, W) images in [0, 1] and torch tensors give the same actions as uint8 (H, W, 3)."""
    runtime = load_runtime(act_reference.checkpoint)
    observation = act_reference.inputs[0]
    converted = {
        key: torch.from_numpy(value).permute(2, 0, 1).float() / 255
        if value.dtype == np.uint8
        else torch.from_numpy(value)
        for key, value in observation.items()
    }
    np.testing.assert_allclose(runtime.predict_chunk(converted), act_reference.chunks[0], rtol=0, atol=TOLERANCE)


def test_act_rename_map(act_reference: ActReference) -> None:
    rename = {"observation.images.cam_high": "observation.images.front", "joints": "observation.state"}
    runtime = load_runtime(act_reference.checkpoint, rename_map=rename)
    assert list(runtime.input_features) == ["observation.images.cam_high", "observation.images.wrist", "joints"]
    inverse = {v: k for k, v in rename.items()}
    observation = {inverse.get(k, k): v for k, v in act_reference.inputs[1].items()}
    np.testing.assert_allclose(runtime.predict_chunk(observation), act_reference.chunks[1], rtol=0, atol=TOLERANCE)
    with pytest.raises(ObservationError, match=re.escape("lacks ['joints']")):
        runtime.predict_chunk({k: v for k, v in observation.items() if k != "joints"})


def test_act_ignores_prefix_guidance(act_reference: ActReference) -> None:
    runtime = load_runtime(act_reference.checkpoint)
    assert not runtime.supports_prefix_guidance
    guidance = PrefixGuidance(prefix=np.zeros((4, 6), np.float32), delay=2, execution_horizon=8)
    actions = runtime.predict_chunk(act_reference.inputs[0], task="pick the cube", guidance=guidance)
    np.testing.assert_allclose(actions, act_reference.chunks[0], rtol=0, atol=TOLERANCE)
    runtime.reset()


def test_act_rejects_bad_observations(act_reference: ActReference) -> None:
    runtime = load_runtime(act_reference.checkpoint)
    good = act_reference.inputs[0]
    with pytest.raises(ObservationError, match=re.escape("lacks ['observation.state']")):
        runtime.predict_chunk({k: v for k, v in good.items() if k != "observation.state"})
    with pytest.raises(ObservationError, match=re.escape("'observation.state': shape [5], the checkpoint expects [6]")):
        runtime.predict_chunk({**good, "observation.state": good["observation.state"][:5]})
    with pytest.raises(ObservationError, match=r"uint8 image of shape \[64, 48, 3\].*\[48, 64, 3\]"):
        runtime.predict_chunk({**good, "observation.images.front": np.zeros((64, 48, 3), np.uint8)})
    with pytest.raises(ObservationError, match=r"float image of shape \[48, 64, 3\].*\[3, 48, 64\]"):
        runtime.predict_chunk({**good, "observation.images.front": np.zeros((48, 64, 3), np.float32)})
    state = good["observation.state"].copy()
    state[2] = np.nan
    with pytest.raises(ObservationError, match=re.escape("'observation.state': contains NaN or inf")):
        runtime.predict_chunk({**good, "observation.state": state})


def test_act_input_features_follow_config(act_references: dict[str, ActReference]) -> None:
    runtime = load_runtime(act_references["one_camera_env_state"].checkpoint)
    features = runtime.input_features
    assert list(features) == ["observation.images.top", "observation.state", "observation.environment_state"]
    assert features["observation.images.top"].type == FeatureType.VISUAL
    assert features["observation.images.top"].shape == (3, 64, 80)
    assert runtime.output_features["action"].shape == (4,)


ADAPTER_SCRIPT = """
import json, sys
import numpy as np
sys.path.insert(0, sys.argv[1])
from lerobot_ros_policy.runtimes import load_runtime
runtime = load_runtime(sys.argv[2], backend="lerobot")
data = np.load(sys.argv[3])
n = data["chunks"].shape[0]
chunks = [runtime.predict_chunk({k.split("/", 1)[1]: data[k] for k in data.files if k.startswith(f"input{i}/")})
          for i in range(n)]
print(json.dumps({"type": type(runtime).__name__, "diff": float(np.abs(np.stack(chunks) - data["chunks"]).max())}))
"""


def test_act_lerobot_adapter_matches_lerobot(
    act_reference: ActReference, reference_python: Path, reference_subprocess_env: dict[str, str]
) -> None:
    """The optional `lerobot` backend, run where lerobot is installed, gives LeRobot's actions."""
    result = subprocess.run(
        [
            str(reference_python),
            "-c",
            ADAPTER_SCRIPT,
            str(PACKAGE_ROOT),
            str(act_reference.checkpoint),
            str(act_reference.checkpoint.parent / "reference.npz"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        env=reference_subprocess_env,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout.strip().splitlines()[-1])
    assert report == {"type": "LeRobotRuntime", "diff": pytest.approx(0.0, abs=TOLERANCE)}


def test_act_backends_registered() -> None:
    assert runtime_class("act", NATIVE) is ACTRuntime
    assert runtime_class("smolvla", LEROBOT).backend == LEROBOT
