"""Random-weight SmolVLA checkpoints written without lerobot: LeRobot 0.4.4's format, loaded and run by
both the native runtime and LeRobot itself with the same actions."""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

from lerobot_ros_policy.checkpoint.random_smolvla import create_random_smolvla_checkpoint
from lerobot_ros_policy.runtimes import load_runtime
from lerobot_ros_policy.runtimes.smolvla import SmolVLARuntime

HERE = Path(__file__).resolve().parent
STANDIN = HERE / "data" / "smolvlm2_standin"
TOLERANCE = 1e-4
HEIGHT, WIDTH = 48, 64
SMALL = {"chunk_size": 8, "n_action_steps": 8, "num_vlm_layers": 2, "resize_imgs_with_padding": (32, 32)}
# The stand-in at toy width (2 text layers of width 64, 1 vision layer of width 32).
TOY = {
    "text_config": {
        "hidden_size": 64,
        "intermediate_size": 128,
        "num_attention_heads": 4,
        "num_key_value_heads": 2,
        "head_dim": 16,
        "num_hidden_layers": 2,
    },
    "vision_config": {
        "hidden_size": 32,
        "intermediate_size": 64,
        "num_attention_heads": 2,
        "num_hidden_layers": 1,
        "patch_size": 8,
        "image_size": 32,
    },
    "scale_factor": 2,
}


def write_meta(root: Path) -> Path:
    """The two files the helper reads: `meta/info.json` features and `meta/stats.json` statistics."""
    rng = np.random.default_rng(0)
    joints = [
        "shoulder_pan.pos",
        "shoulder_lift.pos",
        "elbow_flex.pos",
        "wrist_flex.pos",
        "wrist_roll.pos",
        "gripper.pos",
    ]
    vector = {"dtype": "float32", "shape": [6], "names": joints}
    camera = {"dtype": "video", "shape": [HEIGHT, WIDTH, 3], "names": ["height", "width", "channels"]}
    features = {
        "observation.state": vector,
        "action": vector,
        "observation.images.front": camera,
        "observation.images.wrist": camera,
        "timestamp": {"dtype": "float32", "shape": [1], "names": None},
        "index": {"dtype": "int64", "shape": [1], "names": None},
    }
    stats = {}
    for key, spec in features.items():
        shape = [3, 1, 1] if spec["dtype"] == "video" else spec["shape"]
        mean = rng.uniform(0.3, 0.6, shape) if spec["dtype"] == "video" else rng.uniform(-30, 30, shape)
        std = rng.uniform(0.1, 0.3, shape) if spec["dtype"] == "video" else rng.uniform(2, 20, shape)
        stats[key] = {
            "mean": mean.tolist(),
            "std": std.tolist(),
            "min": (mean - 3 * std).tolist(),
            "max": (mean + 3 * std).tolist(),
            "count": [100],
        }
    (root / "meta").mkdir(parents=True)
    (root / "meta" / "info.json").write_text(json.dumps({"codebase_version": "v3.0", "fps": 30, "features": features}))
    (root / "meta" / "stats.json").write_text(json.dumps(stats))
    return root


@pytest.fixture(scope="module")
def toy_backbone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    backbone = tmp_path_factory.mktemp("backbone") / "smolvlm2_toy"
    shutil.copytree(STANDIN, backbone)
    config = json.loads((backbone / "config.json").read_text())
    for key, value in TOY.items():
        config[key] = {**config[key], **value} if isinstance(value, dict) else value
    (backbone / "config.json").write_text(json.dumps(config, indent=2))
    return backbone


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_meta(tmp_path_factory.mktemp("random_smolvla") / "dataset")


@pytest.fixture(scope="module")
def checkpoint(dataset: Path, toy_backbone: Path) -> Path:
    return create_random_smolvla_checkpoint(
        dataset.parent / "checkpoint" / "pretrained_model", dataset, toy_backbone, seed=3, **SMALL
    )


# Runs in the LeRobot 0.4.4 venv: loads the checkpoint as a LeRobot user does and runs it on the inputs
# with their noise; also saves the checkpoint LeRobot itself makes for the dataset with the same settings.
LEROBOT_RUN = """
import json, sys
from pathlib import Path
import numpy as np
import torch
from lerobot.datasets.utils import dataset_to_policy_features, load_stats
from lerobot.configs.types import FeatureType
from lerobot.policies.factory import make_pre_post_processors
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy

torch.set_num_threads(1)
checkpoint, inputs, dataset, own, out, backbone, settings = sys.argv[1:8]
policy = SmolVLAPolicy.from_pretrained(checkpoint).eval()
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
    batch["task"] = "pick up the cube"
    with torch.no_grad():
        actions = policy.predict_action_chunk(preprocessor(batch), noise=torch.from_numpy(data[f"noise{i}"])[None])
        chunks.append(postprocessor(actions)[0].numpy())
np.save(out, np.stack(chunks))

info = json.loads((Path(dataset) / "meta" / "info.json").read_text())
features = dataset_to_policy_features(info["features"])
settings = json.loads(settings)
settings["resize_imgs_with_padding"] = tuple(settings["resize_imgs_with_padding"])
config = SmolVLAConfig(
    input_features={k: f for k, f in features.items() if f.type != FeatureType.ACTION},
    output_features={k: f for k, f in features.items() if f.type == FeatureType.ACTION},
    vlm_model_name=backbone, load_vlm_weights=False, device="cpu", push_to_hub=False, **settings,
)
lerobot_policy = SmolVLAPolicy(config)
pre, post = make_pre_post_processors(config, dataset_stats=load_stats(Path(dataset)))
for part in (lerobot_policy, pre, post):
    part.save_pretrained(Path(own))
print(json.dumps({"type": type(policy).__name__, "chunk_size": policy.config.chunk_size}))
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_random_smolvla_matches_lerobot_format_and_actions(
    checkpoint: Path, dataset: Path, toy_backbone: Path, tmp_path: Path, run_reference
) -> None:
    rng = np.random.default_rng(7)
    inputs = [
        {
            "observation.state": rng.normal(0, 20, 6).astype(np.float32),
            "observation.images.front": rng.integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8),
            "observation.images.wrist": rng.integers(0, 256, (HEIGHT, WIDTH, 3), np.uint8),
        }
        for _ in range(2)
    ]
    noise = [rng.standard_normal((SMALL["chunk_size"], 32)).astype(np.float32) for _ in inputs]
    npz = {"count": np.array(len(inputs))}
    for i, observation in enumerate(inputs):
        npz.update({f"{i}/{key}": value for key, value in observation.items()})
        npz[f"noise{i}"] = noise[i]
    np.savez(tmp_path / "inputs.npz", **npz)
    own = tmp_path / "lerobot_own"
    result = run_reference(
        LEROBOT_RUN,
        str(checkpoint),
        str(tmp_path / "inputs.npz"),
        str(dataset),
        str(own),
        str(tmp_path / "lerobot_chunks.npy"),
        str(toy_backbone.resolve()),
        json.dumps(SMALL),
    )
    assert json.loads(result.stdout.strip().splitlines()[-1]) == {"type": "SmolVLAPolicy", "chunk_size": 8}

    lerobot_chunks = np.load(tmp_path / "lerobot_chunks.npy")
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # toy model: one thread is faster on a loaded machine
    try:
        runtime = load_runtime(checkpoint)
        assert isinstance(runtime, SmolVLARuntime)
        native = np.stack(
            [runtime.predict_chunk(o, task="pick up the cube", noise=n) for o, n in zip(inputs, noise, strict=True)]
        )
    finally:
        torch.set_num_threads(threads)
    assert native.shape == (2, SMALL["chunk_size"], 6)
    np.testing.assert_allclose(native, lerobot_chunks, rtol=0, atol=TOLERANCE)
    assert np.abs(native[0] - native[1]).max() > 1e-3, "actions do not depend on the observation"

    # The files are those LeRobot writes for the dataset with the same settings, byte for byte where the
    # content is deterministic (everything but the random weights).
    assert sorted(p.name for p in checkpoint.iterdir()) == sorted(p.name for p in own.iterdir())
    for name in (
        "config.json",
        "policy_preprocessor.json",
        "policy_postprocessor.json",
        "policy_preprocessor_step_5_normalizer_processor.safetensors",
        "policy_postprocessor_step_0_unnormalizer_processor.safetensors",
    ):
        assert (checkpoint / name).read_bytes() == (own / name).read_bytes(), name
    ours, theirs = load_file(checkpoint / "model.safetensors"), load_file(own / "model.safetensors")
    assert {k: (v.dtype, v.shape) for k, v in ours.items()} == {k: (v.dtype, v.shape) for k, v in theirs.items()}
    assert not [name for name in sys.modules if name.split(".")[0] == "lerobot"]


def test_random_smolvla_seeded(dataset: Path, toy_backbone: Path, checkpoint: Path, tmp_path: Path) -> None:
    state = torch.random.get_rng_state()
    again = create_random_smolvla_checkpoint(tmp_path / "again", dataset, toy_backbone, seed=3, **SMALL)
    assert torch.equal(torch.random.get_rng_state(), state)
    first, second = load_file(checkpoint / "model.safetensors"), load_file(again / "model.safetensors")
    assert all(torch.equal(first[k], second[k]) for k in first)
    other = create_random_smolvla_checkpoint(tmp_path / "other", dataset, toy_backbone, seed=4, **SMALL)
    assert not torch.equal(
        load_file(other / "model.safetensors")["model.state_proj.weight"], first["model.state_proj.weight"]
    )


def test_random_smolvla_refuses_unusable_datasets(dataset: Path, toy_backbone: Path, tmp_path: Path) -> None:
    no_std = tmp_path / "no_std"
    shutil.copytree(dataset, no_std)
    stats = json.loads((no_std / "meta" / "stats.json").read_text())
    del stats["action"]["std"]
    (no_std / "meta" / "stats.json").write_text(json.dumps(stats))
    with pytest.raises(ValueError, match=r"no mean/std for \['action'\]"):
        create_random_smolvla_checkpoint(tmp_path / "a", no_std, toy_backbone, **SMALL)
    no_camera = tmp_path / "no_camera"
    shutil.copytree(dataset, no_camera)
    info = json.loads((no_camera / "meta" / "info.json").read_text())
    info["features"] = {k: v for k, v in info["features"].items() if "images" not in k}
    info["features"]["observation.environment_state"] = {"dtype": "float32", "shape": [3], "names": None}
    (no_camera / "meta" / "info.json").write_text(json.dumps(info))
    with pytest.raises(ValueError, match=r"needs observation\.state and at least one RGB camera"):
        create_random_smolvla_checkpoint(tmp_path / "b", no_camera, toy_backbone, **SMALL)
