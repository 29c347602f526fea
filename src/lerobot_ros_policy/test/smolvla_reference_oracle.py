"""Runs inside the LeRobot 0.4.4 reference venv (never imported by the suite).

Builds random-weight SmolVLA policies on a stand-in SmolVLM2 backbone (config + tokenizer, no weights),
saves them with LeRobot's own `save_pretrained` and processor pipelines (non-trivial dataset stats),
reloads them as a LeRobot user would, and runs `predict_action_chunk` on fixed inputs and injected
noise, plain and with Real-Time Chunking (LeRobot's RTCProcessor). Writes inputs and outputs to an .npz.

Usage: python smolvla_reference_oracle.py SPECS_JSON OUT_DIR
SPECS_JSON: {variant: spec}; OUT_DIR/<variant>/{backbone/, checkpoint/, reference.npz}.
Spec keys: backbone (dir with the stand-in's config/tokenizer files), backbone_overrides ({"text_config":
{...}, "vision_config": {...}, top-level keys}), cameras ({name: [h, w]}), state_dim, action_dim,
policy (SmolVLAConfig keyword arguments), normalization_mapping, perturb (std of the noise added to
every weight, so norms and biases are not at their init values), tasks (one per input), rtc
({delay, execution_horizon, schedule, max_guidance_weight}), seed.
"""

import json
import shutil
import sys
from pathlib import Path

import numpy as np
import torch
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature, RTCAttentionSchedule
from lerobot.policies.factory import make_pre_post_processors
from lerobot.policies.rtc.configuration_rtc import RTCConfig
from lerobot.policies.smolvla.configuration_smolvla import SmolVLAConfig
from lerobot.policies.smolvla.modeling_smolvla import SmolVLAPolicy


def feature_stats(shape: tuple[int, ...], rng: np.random.Generator, image: bool) -> dict[str, np.ndarray]:
    stat_shape = (shape[0], 1, 1) if image else shape
    mean = rng.uniform(0.3, 0.6, stat_shape) if image else rng.uniform(-40, 40, stat_shape)
    std = rng.uniform(0.1, 0.3, stat_shape) if image else rng.uniform(2, 30, stat_shape)
    stats = {"mean": mean, "std": std, "min": mean - 2.5 * std, "max": mean + 2.5 * std, "count": np.array([1000])}
    for q, z in (("q01", -2.3), ("q10", -1.3), ("q50", 0.0), ("q90", 1.3), ("q99", 2.3)):
        stats[q] = mean + z * std
    return {k: v.astype(np.float32) if k != "count" else v for k, v in stats.items()}


def make_backbone(spec: dict, out: Path) -> Path:
    """The stand-in backbone folder, with its config reduced as the spec says."""
    backbone = out / "backbone"
    shutil.copytree(spec["backbone"], backbone, dirs_exist_ok=True)
    config = json.loads((backbone / "config.json").read_text())
    for key, value in spec.get("backbone_overrides", {}).items():
        if isinstance(value, dict):
            config[key].update(value)
        else:
            config[key] = value
    (backbone / "config.json").write_text(json.dumps(config, indent=2))
    return backbone


def build_variant(spec: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(spec.get("seed", 0))
    rng = np.random.default_rng(spec.get("seed", 0))
    backbone = make_backbone(spec, out)

    input_features = {
        f"observation.images.{name}": PolicyFeature(type=FeatureType.VISUAL, shape=(3, h, w))
        for name, (h, w) in spec["cameras"].items()
    }
    input_features["observation.state"] = PolicyFeature(type=FeatureType.STATE, shape=(spec["state_dim"],))
    output_features = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(spec["action_dim"],))}
    kwargs = dict(spec.get("policy", {}))
    if "resize_imgs_with_padding" in kwargs:
        kwargs["resize_imgs_with_padding"] = tuple(kwargs["resize_imgs_with_padding"])
    if "normalization_mapping" in spec:
        kwargs["normalization_mapping"] = {k: NormalizationMode(v) for k, v in spec["normalization_mapping"].items()}
    config = SmolVLAConfig(
        input_features=input_features,
        output_features=output_features,
        vlm_model_name=str(backbone),
        load_vlm_weights=False,
        device="cpu",
        **kwargs,
    )
    policy = SmolVLAPolicy(config)
    perturb = spec.get("perturb", 0.0)
    if perturb:
        with torch.no_grad():
            for param in policy.parameters():
                param.add_(torch.randn_like(param) * perturb)
    policy.eval()

    stats = {
        key: feature_stats(feature.shape, rng, feature.type == FeatureType.VISUAL)
        for key, feature in {**input_features, **output_features}.items()
    }
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    checkpoint = out / "checkpoint"
    policy.save_pretrained(checkpoint)
    preprocessor.save_pretrained(checkpoint)
    postprocessor.save_pretrained(checkpoint)

    policy = SmolVLAPolicy.from_pretrained(checkpoint)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=str(checkpoint))
    rtc = spec["rtc"]
    arrays = {}
    plain, guided, prefixes = [], [], []
    for i, task in enumerate(spec["tasks"]):
        observation = {}
        for key, feature in input_features.items():
            if feature.type == FeatureType.VISUAL:
                _, h, w = feature.shape
                observation[key] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            else:
                observation[key] = (stats[key]["mean"] + stats[key]["std"] * rng.standard_normal(feature.shape)).astype(
                    np.float32
                )
        noise = rng.standard_normal((config.chunk_size, config.max_action_dim)).astype(np.float32)
        for key, value in observation.items():
            arrays[f"input{i}/{key}"] = value
        arrays[f"noise{i}"] = noise
        batch = {}
        for key, value in observation.items():
            tensor = torch.from_numpy(value.copy())
            if "image" in key:
                tensor = tensor.float().div(255).permute(2, 0, 1).contiguous()
            batch[key] = tensor.unsqueeze(0)
        batch["task"] = task
        noise_tensor = torch.from_numpy(noise).unsqueeze(0)

        policy.config.rtc_config = None
        policy.init_rtc_processor()
        with torch.no_grad():
            chunk = postprocessor(policy.predict_action_chunk(preprocessor(dict(batch)), noise=noise_tensor.clone()))
        plain.append(chunk[0].numpy())

        # A prefix in LeRobot units: the plain chunk shifted by a few steps and pushed away from it.
        shift = rtc["shift"]
        prefix = (
            chunk[0, shift:] + torch.from_numpy(rng.uniform(-5, 5, (1, spec["action_dim"])).astype(np.float32))
        ).float()
        prefixes.append(prefix.numpy())
        policy.config.rtc_config = RTCConfig(
            enabled=True,
            prefix_attention_schedule=RTCAttentionSchedule(rtc["schedule"].upper()),
            max_guidance_weight=rtc["max_guidance_weight"],
            execution_horizon=rtc["execution_horizon"],
        )
        policy.init_rtc_processor()
        normalized_prefix = postprocessor.steps[0]._normalize_action(prefix.clone(), inverse=False)
        with torch.no_grad():
            chunk = postprocessor(
                policy.predict_action_chunk(
                    preprocessor(dict(batch)),
                    noise=noise_tensor.clone(),
                    inference_delay=rtc["delay"],
                    prev_chunk_left_over=normalized_prefix.unsqueeze(0),
                    execution_horizon=rtc["execution_horizon"],
                )
            )
        guided.append(chunk[0].numpy())
    arrays["chunks"] = np.stack(plain)
    arrays["guided_chunks"] = np.stack(guided)
    arrays["prefixes"] = np.stack(prefixes)
    np.savez(out / "reference.npz", **arrays)


def main() -> None:
    specs = json.loads(sys.argv[1])
    for name, spec in specs.items():
        build_variant(spec, Path(sys.argv[2]) / name)


if __name__ == "__main__":
    main()
