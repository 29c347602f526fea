"""Loading LeRobot checkpoints without lerobot: config, processors, Hub cache, and precise refusals."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from lerobot_ros_policy.checkpoint import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    FeatureMismatchError,
    FeatureType,
    MissingCheckpointFileError,
    NormalizationMode,
    PolicyFeature,
    UnsupportedPolicyError,
    check_features,
    check_names,
    load_checkpoint,
    policy_shape,
)
from lerobot_ros_policy.checkpoint.processors import Normalizer, Postprocessor, ProcessorStepSpec
from lerobot_ros_policy.runtimes import available_runtimes, load_runtime

ActReference = Any  # conftest.ActReference


def copy_checkpoint(source: Path, target: Path) -> Path:
    """A writable copy (the weights linked, not copied: they are only read)."""
    target.mkdir(parents=True)
    for path in source.iterdir():
        if path.name == "model.safetensors":
            (target / path.name).symlink_to(path)
        else:
            shutil.copy(path, target / path.name)
    return target


def edit_json(path: Path, edit) -> None:
    data = json.loads(path.read_text())
    edit(data)
    path.write_text(json.dumps(data))


def test_checkpoint_config_and_processors(act_reference: ActReference) -> None:
    checkpoint = load_checkpoint(act_reference.checkpoint)
    config = checkpoint.config
    assert config.type == "act"
    assert list(config.input_features) == ["observation.images.front", "observation.images.wrist", "observation.state"]
    assert config.input_features["observation.images.front"] == PolicyFeature(FeatureType.VISUAL, (3, 48, 64))
    assert config.action_feature == PolicyFeature(FeatureType.ACTION, (6,))
    assert (config.chunk_size, config.n_action_steps, config.n_obs_steps) == (12, 12, 1)
    assert config.normalization_mapping == dict.fromkeys(
        (FeatureType.VISUAL, FeatureType.STATE, FeatureType.ACTION), NormalizationMode.MEAN_STD
    )
    assert [s.registry_name for s in checkpoint.preprocessor.steps] == [
        "rename_observations_processor",
        "to_batch_processor",
        "device_processor",
        "normalizer_processor",
    ]
    assert [s.registry_name for s in checkpoint.postprocessor.steps] == ["unnormalizer_processor", "device_processor"]
    normalizer_state = checkpoint.preprocessor.find("normalizer_processor").state
    assert normalizer_state["observation.state.mean"].shape == (6,)
    assert normalizer_state["observation.images.front.std"].shape == (3, 1, 1)


def test_checkpoint_resolves_training_output_folder(act_reference: ActReference, tmp_path: Path) -> None:
    """`lerobot-train` writes checkpoints/<step>/pretrained_model/: the parent folder works too."""
    step_dir = tmp_path / "checkpoints" / "last"
    copy_checkpoint(act_reference.checkpoint, step_dir / "pretrained_model")
    assert load_checkpoint(step_dir).root == step_dir / "pretrained_model"


def make_hub_cache(cache: Path, repo_id: str, checkpoint: Path) -> None:
    """Lay out a checkpoint as huggingface_hub's cache does (models--owner--name, refs/main, snapshots/<sha>)."""
    commit = "0123456789abcdef0123456789abcdef01234567"
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    copy_checkpoint(checkpoint, repo / "snapshots" / commit)
    (repo / "refs").mkdir()
    (repo / "refs" / "main").write_text(commit)


def test_checkpoint_from_hub_cache_offline(
    act_reference: ActReference, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    make_hub_cache(tmp_path, "someone/act_so101", act_reference.checkpoint)
    checkpoint = load_checkpoint("someone/act_so101", cache_dir=tmp_path)
    assert checkpoint.config.type == "act"
    runtime = load_runtime(checkpoint)
    np.testing.assert_allclose(
        runtime.predict_chunk(act_reference.inputs[0]), act_reference.chunks[0], rtol=0, atol=1e-5
    )
    with pytest.raises(CheckpointNotFoundError, match=r"'someone/missing'.*not in the local Hugging Face cache"):
        load_checkpoint("someone/missing", cache_dir=tmp_path)


def test_checkpoint_not_found(tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match=r"no such checkpoint directory"):
        load_checkpoint(tmp_path / "nowhere")
    with pytest.raises(MissingCheckpointFileError, match=r"no config.json here or in pretrained_model/"):
        load_checkpoint(tmp_path)


@pytest.mark.parametrize(
    ("removed", "message"),
    [
        ("config.json", "no config.json"),
        ("model.safetensors", "model.safetensors: missing"),
        ("policy_preprocessor.json", "policy_preprocessor.json: missing.*predates the processor pipelines"),
        ("policy_postprocessor.json", "policy_postprocessor.json: missing"),
        (
            "policy_preprocessor_step_3_normalizer_processor.safetensors",
            "normalizer_processor.safetensors: missing \\(state of step 3 'normalizer_processor'",
        ),
    ],
)
def test_checkpoint_missing_file(act_reference: ActReference, tmp_path: Path, removed: str, message: str) -> None:
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt")
    (checkpoint / removed).unlink()
    with pytest.raises((MissingCheckpointFileError, CheckpointNotFoundError), match=message):
        load_checkpoint(checkpoint)


def test_checkpoint_unsupported_policy_type(act_reference: ActReference, tmp_path: Path) -> None:
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt")
    edit_json(checkpoint / "config.json", lambda c: c.update(type="diffusion"))
    assert load_checkpoint(checkpoint).config.type == "diffusion"
    with pytest.raises(UnsupportedPolicyError, match=r"no 'native' runtime for policy type 'diffusion'.*native: act"):
        load_runtime(checkpoint)
    assert "act" in available_runtimes()["native"]


@pytest.mark.parametrize(
    ("edit", "error", "message"),
    [
        (
            lambda c: c["input_features"]["observation.state"].update(shape=[7]),
            CheckpointFormatError,
            re.escape("model.encoder_robot_state_input_proj.weight: checkpoint [64, 6], config.json implies [64, 7]"),
        ),
        (
            lambda c: c.update(dim_model=96),
            CheckpointFormatError,
            "weights do not fit the ACT described by config.json: shape mismatches",
        ),
        (
            lambda c: c.update(n_encoder_layers=3),
            CheckpointFormatError,
            re.escape("missing 12 keys, e.g. ['model.encoder.layers.2.linear1.bias'"),
        ),
        (
            lambda c: c.update(use_vae=False),
            CheckpointFormatError,
            "unexpected .* keys, e.g. \\['model.vae_encoder",
        ),
        (
            lambda c: c.update(vision_backbone="resnet50"),
            UnsupportedPolicyError,
            re.escape("vision_backbone 'resnet50' not supported (supported: ['resnet18', 'resnet34'])"),
        ),
        (
            lambda c: c.update(n_action_steps=50),
            CheckpointFormatError,
            re.escape("need 1 ≤ n_action_steps (50) ≤ chunk_size (12)"),
        ),
        (lambda c: c.pop("type"), CheckpointFormatError, "no 'type' field"),
        (
            lambda c: c["input_features"]["observation.state"].update(type="JOINTS"),
            CheckpointFormatError,
            "feature 'observation.state' is malformed",
        ),
    ],
)
def test_checkpoint_config_mismatch(
    act_reference: ActReference,
    tmp_path: Path,
    edit,
    error: type[Exception],
    message: str,
) -> None:
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt")
    edit_json(checkpoint / "config.json", edit)
    with pytest.raises(error, match=message):
        load_runtime(checkpoint)


def test_checkpoint_unknown_processor_step(act_reference: ActReference, tmp_path: Path) -> None:
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt")
    edit_json(
        checkpoint / "policy_preprocessor.json",
        lambda p: p["steps"].insert(2, {"registry_name": "image_crop_processor", "config": {}}),
    )
    with pytest.raises(UnsupportedPolicyError, match=r"step 2 'image_crop_processor': processor step not supported"):
        load_runtime(checkpoint)


def test_checkpoint_normalizer_state_lacks_stats(act_reference: ActReference, tmp_path: Path) -> None:
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt")
    state_file = checkpoint / "policy_postprocessor_step_0_unnormalizer_processor.safetensors"
    save_file({"action.mean": torch.zeros(6)}, str(state_file))
    with pytest.raises(
        CheckpointFormatError, match=re.escape("'action' is normalized with MEAN_STD but its state lacks ['std']")
    ):
        load_runtime(checkpoint)


def test_checkpoint_corrupt_files(act_reference: ActReference, tmp_path: Path) -> None:
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt")
    (checkpoint / "config.json").write_text("{not json")
    with pytest.raises(CheckpointFormatError, match=r"config.json: not valid JSON"):
        load_checkpoint(checkpoint)
    checkpoint = copy_checkpoint(act_reference.checkpoint, tmp_path / "ckpt2")
    (checkpoint / "model.safetensors").unlink()
    (checkpoint / "model.safetensors").write_bytes(b"\x00" * 64)
    with pytest.raises(CheckpointFormatError, match=r"model.safetensors: unreadable safetensors file"):
        load_runtime(checkpoint)


def normalizer(mode: str, stats: dict[str, list[float]]) -> Normalizer:
    spec = ProcessorStepSpec(
        "normalizer_processor",
        {"eps": 1e-8, "features": {"action": {"type": "ACTION", "shape": [2]}}, "norm_map": {"ACTION": mode}},
        {f"action.{name}": torch.tensor(values) for name, values in stats.items()},
    )
    return Normalizer(spec, "test")


@pytest.mark.parametrize(
    ("mode", "stats", "raw", "normalized"),
    [
        ("MEAN_STD", {"mean": [1.0, -2.0], "std": [2.0, 0.5]}, [3.0, -1.0], [1.0, 2.0]),
        ("MIN_MAX", {"min": [0.0, 5.0], "max": [10.0, 5.0]}, [2.5, 5.0], [-0.5, -1.0]),
        ("QUANTILES", {"q01": [-1.0, 0.0], "q99": [1.0, 4.0]}, [0.0, 4.0], [0.0, 1.0]),
        ("QUANTILE10", {"q10": [0.0, 0.0], "q90": [2.0, 8.0]}, [2.0, 2.0], [1.0, -0.5]),
        ("IDENTITY", {"mean": [9.0, 9.0], "std": [9.0, 9.0]}, [3.0, 4.0], [3.0, 4.0]),
    ],
)
def test_checkpoint_normalization_modes(mode: str, stats: dict, raw: list[float], normalized: list[float]) -> None:
    """LeRobot's formulas, including a zero span (min == max) mapping to -1 rather than dividing by zero."""
    step = normalizer(mode, stats)
    forward = step.apply("action", torch.tensor(raw), inverse=False)
    np.testing.assert_allclose(forward.numpy(), normalized, atol=1e-6)
    if mode != "MIN_MAX":  # a zero span cannot be inverted
        np.testing.assert_allclose(step.apply("action", forward, inverse=True).numpy(), raw, atol=1e-5)


def test_checkpoint_feature_checks_say_what_differs() -> None:
    expected = {
        "observation.state": PolicyFeature(FeatureType.STATE, (6,)),
        "observation.images.front": PolicyFeature(FeatureType.VISUAL, (3, 480, 640)),
    }
    check_features(expected, {"observation.state": (6,), "observation.images.front": (3, 480, 640)}, context="ok")
    assert policy_shape(FeatureType.VISUAL, [480, 640, 3]) == (3, 480, 640)
    with pytest.raises(FeatureMismatchError) as raised:
        check_features(
            expected, {"observation.state": (5,), "observation.images.wrist": (3, 480, 640)}, context="contract"
        )
    text = str(raised.value)
    assert "'observation.images.front' [3, 480, 640] is required by the checkpoint but not provided" in text
    assert "'observation.images.wrist' [3, 480, 640] is provided but the checkpoint has no such feature" in text
    assert "'observation.state': checkpoint shape [6], provided [5]" in text
    joints = ["shoulder_pan.pos", "shoulder_lift.pos", "gripper.pos"]
    check_names(joints, list(joints), what="action")
    with pytest.raises(FeatureMismatchError, match=r"first difference at index 1: expected 'shoulder_lift.pos'"):
        check_names(joints, ["shoulder_pan.pos", "gripper.pos", "shoulder_lift.pos"], what="action")
    with pytest.raises(FeatureMismatchError, match=re.escape("missing ['gripper.pos'], unexpected ['wrist.pos']")):
        check_names(joints, ["shoulder_pan.pos", "shoulder_lift.pos", "wrist.pos"], what="action")


def test_checkpoint_postprocessor_round_trip(act_references: dict[str, ActReference]) -> None:
    """`Postprocessor.normalize` (RTC prefixes into model space) inverts the unnormalizer for every mode."""
    for name in ("mean_std", "min_max", "quantiles"):
        postprocessor = Postprocessor(load_checkpoint(act_references[name].checkpoint).postprocessor)
        actions = torch.from_numpy(act_references[name].chunks[0])
        np.testing.assert_allclose(postprocessor(postprocessor.normalize(actions)).numpy(), actions.numpy(), atol=1e-4)
