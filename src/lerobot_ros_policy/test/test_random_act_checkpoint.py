"""Random-weight ACT checkpoints written without lerobot: LeRobot 0.4.4's format, loaded and run by both
the native runtime and LeRobot itself with the same actions."""

from __future__ import annotations

import json
import re
import shutil
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lerobot_ros_policy.checkpoint.random_act import create_random_act_checkpoint
from lerobot_ros_policy.runtimes import load_runtime
from lerobot_ros_policy.runtimes.act import ACTRuntime
from lerobot_ros_record.dataset import DatasetWriter, WriterConfig

TOLERANCE = 1e-5
JOINTS = ["shoulder_pan.pos", "shoulder_lift.pos", "elbow_flex.pos", "wrist_flex.pos", "wrist_roll.pos", "gripper.pos"]
HEIGHT, WIDTH = 48, 64
SMALL = {"dim_model": 32, "n_encoder_layers": 1, "n_decoder_layers": 1, "chunk_size": 8, "n_action_steps": 8}


def write_dataset(root: Path, *, cameras: tuple[str, ...] = ("front", "wrist")) -> Path:
    """Two short episodes with the suite's writer: SO-101 joints in degrees, two small video cameras."""
    vector = {"dtype": "float32", "shape": [6], "names": JOINTS}
    features: dict[str, Any] = {"observation.state": vector, "action": vector}
    for camera in cameras:
        features[f"observation.images.{camera}"] = {
            "dtype": "video",
            "shape": [HEIGHT, WIDTH, 3],
            "names": ["height", "width", "channels"],
        }
    rng = np.random.default_rng(0)
    writer = DatasetWriter.create(root, "local/random_act", features, WriterConfig(fps=30), robot_type="so101_follower")
    for _ in range(2):
        writer.start_episode("move")
        for _ in range(10):
            state = (rng.normal(0, 20, 6) + np.array([0, 0, 0, 0, 0, 30])).astype(np.float32)
            frame = {"observation.state": state, "action": state + rng.normal(0, 2, 6).astype(np.float32)}
            for index, camera in enumerate(cameras):
                frame[f"observation.images.{camera}"] = rng.integers(40 * index, 200, (HEIGHT, WIDTH, 3), np.uint8)
            writer.add_frame(frame)
        writer.save_episode()
    writer.finalize()
    return root


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_dataset(tmp_path_factory.mktemp("random_act") / "dataset")


@pytest.fixture(scope="module")
def checkpoint(dataset: Path) -> Path:
    return create_random_act_checkpoint(dataset.parent / "checkpoint" / "pretrained_model", dataset, seed=3, **SMALL)


def observations(count: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(7)
    return [
        {
            "observation.state": rng.normal(0, 20, 6).astype(np.float32),
            "observation.images.front": rng.integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8),
            "observation.images.wrist": rng.integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8),
        }
        for _ in range(count)
    ]


# Runs in the LeRobot 0.4.4 venv: loads the checkpoint as a LeRobot user does and runs it on the
# observations; also saves the checkpoint LeRobot itself makes for the dataset with the same settings.
LEROBOT_RUN = """
import json, sys
from pathlib import Path
import numpy as np
import torch
from lerobot.datasets.lerobot_dataset import LeRobotDatasetMetadata
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.factory import make_policy, make_pre_post_processors

checkpoint, inputs, dataset, own, out, settings = sys.argv[1:7]
policy = ACTPolicy.from_pretrained(checkpoint)
policy.eval()
preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=checkpoint)
data = np.load(inputs)
chunks = []
for i in range(int(data["count"])):
    batch = {}
    for key in data.files:
        if key.startswith(f"{i}/"):
            tensor = torch.from_numpy(data[key].copy())
            if "images" in key:
                tensor = tensor.float().div(255).permute(2, 0, 1).contiguous()
            batch[key.split("/", 1)[1]] = tensor.unsqueeze(0)
    batch["task"] = ""
    with torch.no_grad():
        chunks.append(postprocessor(policy.predict_action_chunk(preprocessor(batch)))[0].numpy())
np.save(out, np.stack(chunks))

meta = LeRobotDatasetMetadata("local/random_act", root=dataset)
config = ACTConfig(pretrained_backbone_weights=None, device="cpu", push_to_hub=False, **json.loads(settings))
lerobot_policy = make_policy(config, ds_meta=meta)
pre, post = make_pre_post_processors(config, dataset_stats=meta.stats)
for part in (lerobot_policy, pre, post):
    part.save_pretrained(Path(own))
print(json.dumps({"vision_backbone": policy.config.vision_backbone, "type": type(policy).__name__}))
"""


@pytest.mark.slow
def test_random_act_matches_lerobot_format_and_actions(
    checkpoint: Path, dataset: Path, tmp_path: Path, run_reference
) -> None:
    inputs = observations(2)
    npz = {"count": np.array(len(inputs))}
    for i, observation in enumerate(inputs):
        npz.update({f"{i}/{key}": value for key, value in observation.items()})
    np.savez(tmp_path / "inputs.npz", **npz)
    own = tmp_path / "lerobot_own"
    result = run_reference(
        LEROBOT_RUN,
        str(checkpoint),
        str(tmp_path / "inputs.npz"),
        str(dataset),
        str(own),
        str(tmp_path / "lerobot_chunks.npy"),
        json.dumps(SMALL),
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"vision_backbone": "resnet18", "type": "ACTPolicy"}

    # Same actions from LeRobot and from the native runtime.
    lerobot_chunks = np.load(tmp_path / "lerobot_chunks.npy")
    runtime = load_runtime(checkpoint)
    assert isinstance(runtime, ACTRuntime)
    native_chunks = np.stack([runtime.predict_chunk(observation) for observation in inputs])
    assert native_chunks.shape == (2, SMALL["chunk_size"], 6)
    np.testing.assert_allclose(native_chunks, lerobot_chunks, rtol=0, atol=TOLERANCE)
    assert np.abs(native_chunks[0] - native_chunks[1]).max() > 1e-3, "actions do not depend on the observation"

    # The files are those LeRobot writes for the dataset with the same settings, byte for byte where the
    # content is deterministic (everything but the random weights).
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(p.name for p in own.iterdir())
    for name in (
        "config.json",
        "policy_preprocessor.json",
        "policy_postprocessor.json",
        "policy_preprocessor_step_3_normalizer_processor.safetensors",
        "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
    ):
        assert (checkpoint / name).read_bytes() == (own / name).read_bytes(), name
    ours, theirs = load_file(checkpoint / "model.safetensors"), load_file(own / "model.safetensors")
    assert {k: (v.dtype, v.shape) for k, v in ours.items()} == {k: (v.dtype, v.shape) for k, v in theirs.items()}
    assert not [name for name in sys.modules if name.split(".")[0] == "lerobot"]


def test_random_act_config_and_statistics(checkpoint: Path, dataset: Path) -> None:
    config = json.loads((checkpoint / "config.json").read_text())
    assert config["type"] == "act"
    assert config["input_features"] == {
        "observation.state": {"type": "STATE", "shape": [6]},
        "observation.images.front": {"type": "VISUAL", "shape": [3, HEIGHT, WIDTH]},
        "observation.images.wrist": {"type": "VISUAL", "shape": [3, HEIGHT, WIDTH]},
    }
    assert config["output_features"] == {"action": {"type": "ACTION", "shape": [6]}}
    assert config["normalization_mapping"] == {"VISUAL": "MEAN_STD", "STATE": "MEAN_STD", "ACTION": "MEAN_STD"}
    assert config["pretrained_backbone_weights"] is None
    assert (config["dim_model"], config["chunk_size"], config["n_action_steps"]) == (32, 8, 8)
    stats = json.loads((dataset / "meta" / "stats.json").read_text())
    state = load_file(checkpoint / "policy_preprocessor_step_3_normalizer_processor.safetensors")
    for key in ("observation.state", "action", "observation.images.front"):
        for name in ("mean", "std", "min", "max"):
            expected = torch.tensor(np.asarray(stats[key][name]), dtype=torch.float32)
            assert torch.equal(state[f"{key}.{name}"], expected), f"{key}.{name}"
    assert state["observation.images.front.mean"].shape == (3, 1, 1)


def test_random_act_seeded_and_leaves_global_rng_alone(dataset: Path, checkpoint: Path, tmp_path: Path) -> None:
    torch.manual_seed(123)
    expected_next = torch.rand(3)
    torch.manual_seed(123)
    again = create_random_act_checkpoint(tmp_path / "again", dataset, seed=3, **SMALL)
    assert torch.equal(torch.rand(3), expected_next)
    other = create_random_act_checkpoint(tmp_path / "other", dataset, seed=4, **SMALL)
    reference = load_file(checkpoint / "model.safetensors")
    same, different = load_file(again / "model.safetensors"), load_file(other / "model.safetensors")
    assert all(torch.equal(reference[k], same[k]) for k in reference)
    assert not torch.equal(reference["model.action_head.weight"], different["model.action_head.weight"])
    # Frozen batch norms start as identity, as in a fresh LeRobot ACT.
    assert torch.equal(reference["model.backbone.bn1.running_var"], torch.ones(64))


def test_random_act_resnet34_default_size(dataset: Path, tmp_path: Path) -> None:
    path = create_random_act_checkpoint(tmp_path / "r34", dataset, backbone="resnet34")
    runtime = load_runtime(path)
    config = runtime.config.raw
    assert (config["vision_backbone"], config["dim_model"], config["n_encoder_layers"]) == ("resnet34", 256, 2)
    assert (runtime.chunk_size, runtime.n_action_steps) == (30, 30)
    actions = runtime.predict_chunk(observations(1)[0])
    assert actions.shape == (30, 6)
    assert np.isfinite(actions).all()


def test_random_act_refuses_unusable_datasets(dataset: Path, tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match=re.escape("meta/info.json: missing")):
        create_random_act_checkpoint(tmp_path / "a", tmp_path)
    with pytest.raises(ValueError, match="dim_model must be a positive multiple of 8"):
        create_random_act_checkpoint(tmp_path / "b", dataset, dim_model=36)
    with pytest.raises(ValueError, match="n_action_steps"):
        create_random_act_checkpoint(tmp_path / "c", dataset, chunk_size=4, n_action_steps=5)
    with pytest.raises(ValueError, match="not supported"):
        create_random_act_checkpoint(tmp_path / "d", dataset, backbone="resnet50")
    no_camera = tmp_path / "no_camera"
    shutil.copytree(dataset / "meta", no_camera / "meta")
    info = json.loads((no_camera / "meta" / "info.json").read_text())
    info["features"] = {k: v for k, v in info["features"].items() if "images" not in k}
    (no_camera / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(
        ValueError, match=re.escape("ACT needs at least one RGB camera or observation.environment_state")
    ):
        create_random_act_checkpoint(tmp_path / "e", no_camera)
    stats = json.loads((dataset / "meta" / "stats.json").read_text())
    del stats["action"]["std"]
    (no_camera / "meta" / "info.json").write_text((dataset / "meta" / "info.json").read_text())
    (no_camera / "meta" / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match=re.escape("no mean/std for ['action']")):
        create_random_act_checkpoint(tmp_path / "f", no_camera)
    assert not (tmp_path / "f").exists()
