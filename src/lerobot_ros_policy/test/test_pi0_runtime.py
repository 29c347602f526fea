"""Native Pi0 runtime without LeRobot: state-dict compatibility with LeRobot 0.4.4's keys, loading
errors, pre-processing, RTC prefix adherence and precision on tiny random checkpoints.

Parity with LeRobot's own Pi0 needs a patched transformers and is checked by hand with
`benchmarks/pi0_parity.py` (see docs/policy-runtime.md).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F  # noqa: N812
from safetensors.torch import load_file, save_file

from lerobot_ros_policy.checkpoint import (
    CheckpointFormatError,
    CheckpointNotFoundError,
    MissingCheckpointFileError,
    ObservationError,
    UnsupportedPolicyError,
    parse_policy_config,
)
from lerobot_ros_policy.runtimes import PrefixGuidance, load_runtime, runtime_class
from lerobot_ros_policy.runtimes.pi0 import Pi0Runtime
from lerobot_ros_policy.runtimes.pi0.config import Pi0Architecture
from lerobot_ros_policy.runtimes.pi0.model import Pi0FlowModel
from lerobot_ros_policy.runtimes.pi0.runtime import EMBED_TOKENS, TIED_EMBED_TOKENS, UNUSED_WEIGHTS, resize_with_pad

_spec = importlib.util.spec_from_file_location("pi0_support", Path(__file__).with_name("pi0_support.py"))
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

# Generated from LeRobot 0.4.4 by `benchmarks/pi0_parity.py keys` (default Pi0: gemma_2b + gemma_300m).
LEROBOT_KEYS = Path(__file__).parent / "data" / "pi0_default_keys.json"


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return support.write_tiny_checkpoint(tmp_path_factory.mktemp("pi0") / "tiny")


@pytest.fixture(scope="module")
def runtime(checkpoint: Path) -> Pi0Runtime:
    return load_runtime(checkpoint, tokenizer_path=support.STANDIN_TOKENIZER)


def copy_checkpoint(source: Path, target: Path) -> Path:
    shutil.copytree(source, target)
    return target


def edit_config(root: Path, **fields) -> None:
    config = json.loads((root / "config.json").read_text())
    config.update(fields)
    (root / "config.json").write_text(json.dumps(config))


def test_state_dict_matches_lerobot_keys_and_shapes() -> None:
    """The native model for LeRobot's default Pi0 has exactly the tensors LeRobot saves (less the
    expert's unused head; the token embedding under the tied head's name), with the same shapes."""
    lerobot = {k: tuple(v) for k, v in json.loads(LEROBOT_KEYS.read_text()).items()}
    config = parse_policy_config(
        support.tiny_config(
            paligemma_variant="gemma_2b", action_expert_variant="gemma_300m", image_resolution=[224, 224]
        )
    )
    with torch.device("meta"):
        model = Pi0FlowModel(Pi0Architecture.from_config(config, "default"))
    native = {f"model.{k}": tuple(v.shape) for k, v in model.state_dict().items()}
    native[TIED_EMBED_TOKENS] = native.pop(EMBED_TOKENS)
    expected = {k: v for k, v in lerobot.items() if k not in UNUSED_WEIGHTS}
    assert sorted(set(native) ^ set(expected)) == []
    assert {k: v for k, v in native.items() if v != expected[k]} == {}
    assert lerobot[TIED_EMBED_TOKENS] == (257_152, 2048)


def test_registered_for_pi0_with_prefix_guidance(runtime: Pi0Runtime) -> None:
    assert runtime_class("pi0") is Pi0Runtime
    assert runtime.supports_prefix_guidance
    assert runtime.chunk_size == 8 and runtime.action_dim == 3
    assert set(runtime.input_features) == {support.CAMERA, "observation.state"}


def test_chunk_shape_and_noise_reproducibility(runtime: Pi0Runtime) -> None:
    observation = support.tiny_observation()
    noise = np.random.default_rng(1).standard_normal((8, 32)).astype(np.float32)
    first = runtime.predict_chunk(observation, "pick up the cube", noise=noise)
    assert first.shape == (8, 3) and first.dtype == np.float32 and np.isfinite(first).all()
    np.testing.assert_array_equal(runtime.predict_chunk(observation, "pick up the cube", noise=noise), first)
    other_task = runtime.predict_chunk(observation, "put it down", noise=noise)
    other_noise = runtime.predict_chunk(observation, "pick up the cube", noise=noise[::-1].copy())
    assert np.abs(other_task - first).max() > 1e-4
    assert np.abs(other_noise - first).max() > 1e-4


def test_task_tokens_as_lerobot_pipeline(runtime: Pi0Runtime) -> None:
    """Newline appended, <bos> first, right-padded with <pad> to the tokenizer step's max_length."""
    tokens, mask = runtime.tokenize("go")
    vocab = runtime.tokenizer.get_vocab()
    assert tokens.tolist() == [[2, vocab["g"], vocab["o"], vocab["\n"]] + [0] * 8]
    assert mask.tolist() == [[True] * 4 + [False] * 8]
    assert runtime.tokenize("go\n")[0].tolist() == tokens.tolist()
    long_tokens, long_mask = runtime.tokenize("x" * 40)
    assert long_tokens.shape == (1, 12) and bool(long_mask.all())


def test_resize_with_pad_centres_and_pads_with_minus_one() -> None:
    image = torch.rand(1, 3, 40, 60)
    out = resize_with_pad(image, 56)
    assert out.shape == (1, 3, 56, 56)
    # 60 → 56 wide, 40 → 37 high; 19 rows of padding: 9 on top, 10 below.
    expected = F.interpolate(image, size=(37, 56), mode="bilinear", align_corners=False)
    torch.testing.assert_close(out[:, :, 9:46], expected, rtol=0, atol=1e-6)
    assert bool((out[:, :, :9] == -1).all()) and bool((out[:, :, 46:] == -1).all())


def test_images_at_the_model_resolution_are_only_scaled(runtime: Pi0Runtime) -> None:
    batch = {support.CAMERA: torch.rand(1, 3, 56, 56)}
    images, masks = runtime.prepare_images(batch)
    assert len(images) == 1 and images[0].shape == (1, 3, 56, 56) and masks[0].tolist() == [True]
    torch.testing.assert_close(images[0], batch[support.CAMERA] * 2 - 1)
    assert float(images[0].min()) >= -1 and float(images[0].max()) <= 1


def test_empty_cameras_are_filled_and_masked_out(checkpoint: Path, runtime: Pi0Runtime, tmp_path: Path) -> None:
    """LeRobot's `empty_camera_*` features are not asked of the caller; as masked -1 images they leave
    the actions unchanged."""
    root = copy_checkpoint(checkpoint, tmp_path / "empty")
    config = json.loads((root / "config.json").read_text())
    config["input_features"]["observation.images.empty_camera_0"] = {"type": "VISUAL", "shape": [3, 56, 56]}
    edit_config(root, input_features=config["input_features"], empty_cameras=1)
    with_empty = load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)
    assert set(with_empty.input_features) == {support.CAMERA, "observation.state"}
    images, masks = with_empty.prepare_images(with_empty.preprocessor(support.tiny_observation()))
    assert [m.tolist() for m in masks] == [[True], [False]] and bool((images[1] == -1).all())
    noise = np.random.default_rng(2).standard_normal((8, 32)).astype(np.float32)
    observation = support.tiny_observation()
    np.testing.assert_allclose(
        with_empty.predict_chunk(observation, "task", noise=noise),
        runtime.predict_chunk(observation, "task", noise=noise),
        rtol=0,
        atol=1e-4,
    )


def test_missing_camera_is_an_observation_error(runtime: Pi0Runtime) -> None:
    observation = support.tiny_observation()
    del observation[support.CAMERA]
    with pytest.raises(ObservationError, match="front"):
        runtime.predict_chunk(observation, "task")


def test_rtc_guided_chunk_follows_the_prefix(runtime: Pi0Runtime) -> None:
    """The first `delay` actions of a guided chunk stay on the prefix (the leftover of the previous
    chunk), far closer than the unguided chunk does; beyond the horizon the guidance lets go."""
    observation = support.tiny_observation()
    noise = np.random.default_rng(3).standard_normal((8, 32)).astype(np.float32)
    plain = runtime.predict_chunk(observation, "task", noise=noise)
    scale = np.abs(plain).max()
    prefix = plain[2:] + np.array([[8.0, -6.0, 5.0]], np.float32)  # 6 steps, pushed away from the chunk
    delay = 3
    guidance = PrefixGuidance(prefix=prefix, delay=delay, execution_horizon=5, schedule="linear")
    guided = runtime.predict_chunk(observation, "task", guidance, noise=noise)
    guided_error = np.abs(guided[:delay] - prefix[:delay]).max()
    plain_error = np.abs(plain[:delay] - prefix[:delay]).max()
    assert guided_error < 0.05 * plain_error, (guided_error, plain_error, scale)
    zero = runtime.predict_chunk(
        observation, "task", PrefixGuidance(prefix=prefix, delay=0, execution_horizon=0, schedule="zeros"), noise=noise
    )
    np.testing.assert_allclose(zero, plain, rtol=0, atol=1e-5)


def test_bfloat16_backbone_runs_close_to_float32(runtime: Pi0Runtime, checkpoint: Path) -> None:
    """LeRobot's bfloat16 precision (GPU default), here on CPU: norms and embeddings stay float32."""
    bf16 = load_runtime(checkpoint, tokenizer_path=support.STANDIN_TOKENIZER, dtype="bfloat16")
    vlm = bf16.model.paligemma_with_expert.paligemma.model
    assert vlm.language_model.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16
    assert vlm.language_model.layers[0].input_layernorm.weight.dtype == torch.float32
    saved = load_file(str(checkpoint / "model.safetensors"))
    norm = "model.paligemma_with_expert.paligemma.model.language_model.layers.0.input_layernorm.weight"
    assert torch.equal(vlm.language_model.layers[0].input_layernorm.weight, saved[norm])  # not rounded to bf16
    assert vlm.vision_tower.vision_model.embeddings.patch_embedding.weight.dtype == torch.float32
    assert bf16.model.action_out_proj.weight.dtype == torch.float32
    observation = support.tiny_observation()
    noise = np.random.default_rng(4).standard_normal((8, 32)).astype(np.float32)
    exact = runtime.predict_chunk(observation, "task", noise=noise)
    reduced = bf16.predict_chunk(observation, "task", noise=noise)
    assert np.abs(reduced - exact).max() < 0.05 * np.abs(exact).max()


def test_weights_do_not_follow_a_rewritten_file(checkpoint: Path, tmp_path: Path) -> None:
    """The parameters are copies, not views of the file's memory map: rewriting the checkpoint in
    place (a new training save) leaves a running runtime unchanged."""
    root = copy_checkpoint(checkpoint, tmp_path / "rewritten")
    loaded = load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)
    before = loaded.model.state_proj.weight.clone()
    state = load_file(str(root / "model.safetensors"))
    state = {k: v + 1 for k, v in state.items()}
    data = tmp_path / "other.safetensors"
    save_file(state, str(data))
    with (root / "model.safetensors").open("r+b") as file:
        file.write(data.read_bytes())
    assert torch.equal(loaded.model.state_proj.weight, before)


# ---------------------------------------------------------------- loading errors


def test_missing_weight_is_named(checkpoint: Path, tmp_path: Path) -> None:
    root = copy_checkpoint(checkpoint, tmp_path / "missing")
    state = load_file(str(root / "model.safetensors"))
    del state["model.paligemma_with_expert.gemma_expert.model.layers.1.mlp.up_proj.weight"]
    save_file(state, str(root / "model.safetensors"))
    with pytest.raises(CheckpointFormatError, match=r"missing 1 keys.*layers\.1\.mlp\.up_proj"):
        load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)


def test_misshaped_weight_is_named(checkpoint: Path, tmp_path: Path) -> None:
    root = copy_checkpoint(checkpoint, tmp_path / "misshaped")
    state = load_file(str(root / "model.safetensors"))
    state["model.state_proj.weight"] = torch.zeros(24, 16)
    save_file(state, str(root / "model.safetensors"))
    with pytest.raises(
        CheckpointFormatError, match=r"model\.state_proj\.weight: checkpoint \[24, 16\], config.json implies \[24, 32\]"
    ):
        load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)


def test_other_variant_than_the_weights_is_refused(checkpoint: Path, tmp_path: Path) -> None:
    root = copy_checkpoint(checkpoint, tmp_path / "variant")
    edit_config(root, action_expert_variant=support.TINY_PALIGEMMA)
    with pytest.raises(CheckpointFormatError, match="shape mismatches"):
        load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)


def test_unreadable_weights(checkpoint: Path, tmp_path: Path) -> None:
    root = copy_checkpoint(checkpoint, tmp_path / "corrupt")
    (root / "model.safetensors").write_bytes(b"not a safetensors file")
    with pytest.raises(CheckpointFormatError, match="unreadable safetensors"):
        load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)


@pytest.mark.parametrize(
    ("fields", "error", "message"),
    [
        ({"paligemma_variant": "gemma_9b"}, UnsupportedPolicyError, "paligemma_variant 'gemma_9b' is unknown"),
        ({"paligemma_variant": "gemma_300m"}, UnsupportedPolicyError, "2048 wide but the PaliGemma variant is 1024"),
        ({"action_expert_variant": "gemma_300m"}, UnsupportedPolicyError, "must match PaliGemma's depth"),
        ({"image_resolution": [56, 64]}, CheckpointFormatError, "not square"),
        ({"max_action_dim": 2}, CheckpointFormatError, "action dim 3 exceeds max_action_dim 2"),
        ({"num_inference_steps": 0}, CheckpointFormatError, "num_inference_steps must be ≥ 1"),
        ({"n_obs_steps": 2}, UnsupportedPolicyError, "n_obs_steps = 2"),
    ],
)
def test_config_refusals(checkpoint: Path, tmp_path: Path, fields: dict, error: type, message: str) -> None:
    root = copy_checkpoint(checkpoint, tmp_path / "config")
    edit_config(root, **fields)
    with pytest.raises(error, match=message):
        load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)


def test_missing_tokenizer_step_and_tokenizer(checkpoint: Path, tmp_path: Path) -> None:
    with pytest.raises(CheckpointNotFoundError, match="tokenizer_path="):
        load_runtime(checkpoint, tokenizer_path=tmp_path / "nowhere")
    root = copy_checkpoint(checkpoint, tmp_path / "no_tokenizer_step")
    pipeline = json.loads((root / "policy_preprocessor.json").read_text())
    pipeline["steps"] = [s for s in pipeline["steps"] if s["registry_name"] != "tokenizer_processor"]
    (root / "policy_preprocessor.json").write_text(json.dumps(pipeline))
    with pytest.raises(MissingCheckpointFileError, match="tokenizer_processor"):
        load_runtime(root, tokenizer_path=support.STANDIN_TOKENIZER)


def test_not_a_pi0_checkpoint(checkpoint: Path, tmp_path: Path) -> None:
    root = copy_checkpoint(checkpoint, tmp_path / "smolvla")
    edit_config(root, type="smolvla")
    from lerobot_ros_policy.checkpoint import load_checkpoint

    with pytest.raises(UnsupportedPolicyError, match="not Pi0"):
        Pi0Runtime(load_checkpoint(root), tokenizer_path=support.STANDIN_TOKENIZER)
