"""Native SmolVLA runtime vs. LeRobot 0.4.4's SmolVLA on random-weight checkpoints LeRobot saved (tiny
stand-in backbones built from `data/smolvlm2_standin`): same actions for the same inputs and noise,
plain and RTC-guided; RTC prefix adherence; precise errors for wrong or incomplete checkpoints."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file, save_file

from lerobot_ros_policy.checkpoint import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    MissingCheckpointFileError,
    ObservationError,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.runtimes import NATIVE, load_runtime, runtime_class
from lerobot_ros_policy.runtimes.base import PrefixGuidance
from lerobot_ros_policy.runtimes.smolvla import SmolVLARuntime

HERE = Path(__file__).resolve().parent
ORACLE = HERE / "smolvla_reference_oracle.py"
STANDIN = HERE / "data" / "smolvlm2_standin"
TOLERANCE = 1e-4  # LeRobot units (degrees); measured: 0.0
# The LeRobot reference build (≈30 s of CPU) took 170 s on a loaded 2-core machine: more than the
# default 300 s once the first test's own work is added.
pytestmark = pytest.mark.timeout(900)

# SmolVLM2's layout at toy width: 4 text layers (hidden 64, 4 heads, 2 KV heads), 2 vision layers
# (hidden 32, 8-pixel patches, 32-pixel images), pixel shuffle ×2 → 4 tokens per image.
TINY_BACKBONE = {
    "text_config": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "num_hidden_layers": 4,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_hidden_layers": 2,
        "patch_size": 8,
        "image_size": 32,
    },
    "scale_factor": 2,
}
SMALL_POLICY = {"chunk_size": 10, "n_action_steps": 10, "num_vlm_layers": 4, "resize_imgs_with_padding": [32, 32]}

VARIANTS = {
    # LeRobot's defaults at toy size: cross-attention every other layer, landscape cameras padded on top.
    "base": {
        "cameras": {"front": [48, 64], "wrist": [48, 64]},
        "state_dim": 6,
        "action_dim": 6,
        "policy": SMALL_POLICY,
        "tasks": ["pick up the cube", "stack the blocks\n"],
        "rtc": {"shift": 3, "delay": 2, "execution_horizon": 6, "schedule": "linear", "max_guidance_weight": 10.0},
    },
    # Half as many expert layers (cross-attention everywhere: LeRobot cannot pair fewer expert layers with
    # interleaved self-attention), image special tokens, fixed prefix length, max-length language padding
    # with truncation, other normalization modes, a portrait camera padded on the left, 5 steps.
    "expert_skip_special_tokens": {
        "cameras": {"top": [64, 48]},
        "state_dim": 5,
        "action_dim": 4,
        "normalization_mapping": {"VISUAL": "MEAN_STD", "STATE": "MIN_MAX", "ACTION": "QUANTILES"},
        "policy": {
            **SMALL_POLICY,
            "chunk_size": 12,
            "n_action_steps": 8,
            "num_expert_layers": 2,
            "self_attn_every_n_layers": 0,
            "add_image_special_tokens": True,
            "prefix_length": 40,
            "pad_language_to": "max_length",
            "tokenizer_max_length": 12,
            "max_state_dim": 8,
            "max_action_dim": 8,
            "num_steps": 5,
        },
        "tasks": ["put the red block into the blue bowl next to the green one, then wave", ""],
        "rtc": {"shift": 2, "delay": 3, "execution_horizon": 8, "schedule": "exp", "max_guidance_weight": 5.0},
    },
    # Joint self-attention in every layer, a camera at the encoder's size (resizing is the identity).
    "self_attention": {
        "cameras": {"side": [32, 32]},
        "state_dim": 6,
        "action_dim": 6,
        "policy": {**SMALL_POLICY, "attention_mode": "self_attn"},
        "tasks": ["open the drawer", "close it"],
        "rtc": {"shift": 4, "delay": 1, "execution_horizon": 5, "schedule": "ones", "max_guidance_weight": 10.0},
    },
}


@dataclass(frozen=True)
class SmolVLAReference:
    checkpoint: Path
    backbone: Path
    spec: dict
    inputs: list[dict[str, np.ndarray]]
    noise: list[np.ndarray]
    chunks: np.ndarray
    guided_chunks: np.ndarray
    prefixes: np.ndarray

    def guidance(self, index: int) -> PrefixGuidance:
        rtc = self.spec["rtc"]
        return PrefixGuidance(
            prefix=self.prefixes[index],
            delay=rtc["delay"],
            execution_horizon=rtc["execution_horizon"],
            schedule=rtc["schedule"],
            max_guidance_weight=rtc["max_guidance_weight"],
        )


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread() -> Iterator[None]:
    """Toy models run faster on one thread; on a loaded machine, two threads' fork/join per operation
    costs tens of milliseconds each (30× slower chunks measured)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def smolvla_references(
    tmp_path_factory: pytest.TempPathFactory, reference_python: Path, reference_subprocess_env: dict[str, str]
) -> dict[str, SmolVLAReference]:
    """Every variant built, saved and run by LeRobot 0.4.4 (one reference process)."""
    out = tmp_path_factory.mktemp("smolvla_references")
    specs = {
        name: {
            "backbone": str(STANDIN),
            "backbone_overrides": TINY_BACKBONE,
            "perturb": 0.02,
            "seed": i + 1,
            "threads": 1,
            **spec,
        }
        for i, (name, spec) in enumerate(VARIANTS.items())
    }
    result = subprocess.run(
        [str(reference_python), str(ORACLE), json.dumps(specs), str(out)],
        capture_output=True,
        text=True,
        timeout=900,
        env=reference_subprocess_env,
        check=False,
    )
    if result.returncode != 0:
        pytest.fail(f"LeRobot reference run failed ({result.returncode}):\n{result.stdout}\n{result.stderr}")
    references = {}
    for name, spec in specs.items():
        data = np.load(out / name / "reference.npz")
        count = len(spec["tasks"])
        inputs = [
            {key.split("/", 1)[1]: data[key] for key in data.files if key.startswith(f"input{i}/")}
            for i in range(count)
        ]
        references[name] = SmolVLAReference(
            checkpoint=out / name / "checkpoint",
            backbone=out / name / "backbone",
            spec=spec,
            inputs=inputs,
            noise=[data[f"noise{i}"] for i in range(count)],
            chunks=data["chunks"],
            guided_chunks=data["guided_chunks"],
            prefixes=data["prefixes"],
        )
    return references


@pytest.fixture(params=sorted(VARIANTS))
def smolvla_reference(request: pytest.FixtureRequest, smolvla_references: dict[str, SmolVLAReference]):
    return smolvla_references[request.param]


@pytest.fixture(scope="module")
def base_runtime(smolvla_references: dict[str, SmolVLAReference]) -> SmolVLARuntime:
    return load_runtime(smolvla_references["base"].checkpoint)


def test_smolvla_native_matches_lerobot(smolvla_reference: SmolVLAReference) -> None:
    """Plain and RTC-guided chunks from the same checkpoint, observation, task and noise."""
    reference = smolvla_reference
    runtime = load_runtime(reference.checkpoint)
    assert isinstance(runtime, SmolVLARuntime)
    assert runtime.supports_prefix_guidance
    assert runtime.chunk_size == reference.chunks.shape[1]
    for i, task in enumerate(reference.spec["tasks"]):
        plain = runtime.predict_chunk(reference.inputs[i], task=task, noise=reference.noise[i])
        assert plain.dtype == np.float32 and plain.shape == reference.chunks[i].shape
        np.testing.assert_allclose(plain, reference.chunks[i], rtol=0, atol=TOLERANCE)
        guided = runtime.predict_chunk(
            reference.inputs[i], task=task, noise=reference.noise[i], guidance=reference.guidance(i)
        )
        np.testing.assert_allclose(guided, reference.guided_chunks[i], rtol=0, atol=TOLERANCE)
        assert np.abs(guided - plain).max() > 1.0  # the guidance changed the chunk
    assert not [name for name in sys.modules if name.split(".")[0] == "lerobot"], "native runtime imported lerobot"


def test_smolvla_guided_chunk_follows_prefix(smolvla_references: dict[str, SmolVLAReference]) -> None:
    """The first `delay` actions of a guided chunk follow the prefix (LeRobot units), however far the
    unguided chunk is from it; beyond the execution horizon the guidance lets go."""
    reference = smolvla_references["base"]
    runtime = load_runtime(reference.checkpoint)
    delay, horizon = 3, 6
    for i, task in enumerate(reference.spec["tasks"]):
        prefix = reference.prefixes[i]
        guidance = PrefixGuidance(prefix=prefix, delay=delay, execution_horizon=horizon, schedule="linear")
        guided = runtime.predict_chunk(reference.inputs[i], task=task, noise=reference.noise[i], guidance=guidance)
        plain = reference.chunks[i]
        span = np.abs(prefix[:delay] - plain[:delay]).max()
        assert span > 2.0  # the prefix is far from the unguided chunk
        assert np.abs(guided[:delay] - prefix[:delay]).max() < 0.1 * span


def test_smolvla_noise_is_sampled_when_not_given(base_runtime: SmolVLARuntime, smolvla_references) -> None:
    reference = smolvla_references["base"]
    first = base_runtime.predict_chunk(reference.inputs[0], task="pick up the cube")
    second = base_runtime.predict_chunk(reference.inputs[0], task="pick up the cube")
    assert first.shape == reference.chunks[0].shape and np.isfinite(first).all()
    assert not np.array_equal(first, second)
    with pytest.raises(ValueError, match=r"noise of shape \[10, 6\].*\(10, 32\)"):
        base_runtime.predict_chunk(reference.inputs[0], task="x", noise=np.zeros((10, 6), np.float32))


def test_smolvla_tokenizes_like_lerobot(base_runtime: SmolVLARuntime) -> None:
    """A newline is added once (LeRobot's smolvla_new_line_processor); no task is an empty one."""
    tokens, mask = base_runtime.tokenize("pick up the cube")
    again, _ = base_runtime.tokenize("pick up the cube\n")
    assert tokens.shape == mask.shape and mask.dtype.is_floating_point is False and bool(mask.all())
    assert tokens.tolist() == again.tolist()
    assert base_runtime.tokenize(None)[0].tolist() == base_runtime.tokenize("")[0].tolist()


def test_smolvla_backbone_from_vlm_path(smolvla_references, tmp_path: Path) -> None:
    """A checkpoint naming a Hub backbone that is not cached: precise error; `vlm_path` serves it."""
    reference = smolvla_references["base"]
    checkpoint = tmp_path / "checkpoint"
    shutil.copytree(reference.checkpoint, checkpoint)
    config = json.loads((checkpoint / "config.json").read_text())
    config["vlm_model_name"] = "nobody/not-a-cached-smolvlm"
    (checkpoint / "config.json").write_text(json.dumps(config))
    pipeline = json.loads((checkpoint / "policy_preprocessor.json").read_text())
    for step in pipeline["steps"]:
        if step["registry_name"] == "tokenizer_processor":
            step["config"]["tokenizer_name"] = "nobody/not-a-cached-smolvlm"
    (checkpoint / "policy_preprocessor.json").write_text(json.dumps(pipeline))
    with pytest.raises(CheckpointNotFoundError, match=r"backbone 'nobody/not-a-cached-smolvlm'.*vlm_path="):
        load_runtime(checkpoint)
    runtime = load_runtime(checkpoint, vlm_path=reference.backbone)
    actions = runtime.predict_chunk(reference.inputs[1], task="stack the blocks", noise=reference.noise[1])
    np.testing.assert_allclose(actions, reference.chunks[1], rtol=0, atol=TOLERANCE)


def _edited_checkpoint(source: Path, destination: Path) -> Path:
    shutil.copytree(source, destination)
    return destination


def test_smolvla_wrong_weights_are_refused(smolvla_references, tmp_path: Path) -> None:
    reference = smolvla_references["base"]
    checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / "missing_key")
    weights = load_file(str(checkpoint / "model.safetensors"))
    del weights["model.action_out_proj.bias"]
    save_file(weights, str(checkpoint / "model.safetensors"))
    with pytest.raises(CheckpointFormatError, match=re.escape("missing 1 keys, e.g. ['model.action_out_proj.bias']")):
        load_runtime(checkpoint)

    checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / "other_width")
    config = json.loads((checkpoint / "config.json").read_text())
    config["expert_width_multiplier"] = 0.5
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(CheckpointFormatError, match=r"shape mismatches: model\.vlm_with_expert\.lm_expert\..*\[48, "):
        load_runtime(checkpoint)


def test_smolvla_incomplete_or_unsupported_checkpoints(smolvla_references, tmp_path: Path) -> None:
    reference = smolvla_references["base"]
    checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / "no_weights")
    (checkpoint / "model.safetensors").unlink()
    with pytest.raises(MissingCheckpointFileError, match=r"model\.safetensors: missing"):
        load_runtime(checkpoint)

    checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / "no_tokenizer")
    pipeline = json.loads((checkpoint / "policy_preprocessor.json").read_text())
    pipeline["steps"] = [s for s in pipeline["steps"] if s["registry_name"] != "tokenizer_processor"]
    (checkpoint / "policy_preprocessor.json").write_text(json.dumps(pipeline))
    with pytest.raises(MissingCheckpointFileError, match="no 'tokenizer_processor' step"):
        load_runtime(checkpoint)

    for option, value in (("use_delta_joint_actions_aloha", True), ("adapt_to_pi_aloha", True), ("use_cache", False)):
        checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / option)
        config = json.loads((checkpoint / "config.json").read_text())
        config[option] = value
        (checkpoint / "config.json").write_text(json.dumps(config))
        with pytest.raises(UnsupportedPolicyError, match=f"'{option}: {value}' is not supported"):
            load_runtime(checkpoint)

    checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / "expert_missing")
    config = json.loads((checkpoint / "config.json").read_text())
    config.update(num_expert_layers=2, attention_mode="self_attn")
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedPolicyError, match="VLM layer 1 is a self-attention layer without an expert layer"):
        load_runtime(checkpoint)
    config.update(attention_mode="cross_attn", self_attn_every_n_layers=2)  # LeRobot fails on a matmul
    (checkpoint / "config.json").write_text(json.dumps(config))
    with pytest.raises(UnsupportedPolicyError, match=r"VLM layer 2 .* expert layer 1 has cross-attention projections"):
        load_runtime(checkpoint)

    with pytest.raises(UnsupportedPolicyError, match="policy type 'act' is not SmolVLA"):
        checkpoint = _edited_checkpoint(reference.checkpoint, tmp_path / "act")
        config = json.loads((checkpoint / "config.json").read_text())
        config["type"] = "act"
        (checkpoint / "config.json").write_text(json.dumps(config))
        SmolVLARuntime.from_checkpoint(checkpoint)


def test_smolvla_rejects_bad_inputs(base_runtime: SmolVLARuntime, smolvla_references) -> None:
    reference = smolvla_references["base"]
    good = reference.inputs[0]
    with pytest.raises(ObservationError, match=re.escape("lacks ['observation.images.wrist']")):
        base_runtime.predict_chunk({k: v for k, v in good.items() if k != "observation.images.wrist"}, task="x")
    with pytest.raises(ValueError, match=r"RTC prefix of shape \[4, 5\]: expected \(k, 6\)"):
        guidance = PrefixGuidance(prefix=np.zeros((4, 5), np.float32), delay=1, execution_horizon=4)
        base_runtime.predict_chunk(good, task="x", guidance=guidance)
    with pytest.raises(ValueError, match=r"RTC prefix of shape \[11, 6\]"):
        guidance = PrefixGuidance(prefix=np.zeros((11, 6), np.float32), delay=1, execution_horizon=4)
        base_runtime.predict_chunk(good, task="x", guidance=guidance)


def test_smolvla_registered() -> None:
    assert runtime_class("smolvla", NATIVE) is SmolVLARuntime
