"""Runs inside the LeRobot 0.4.4 reference venv (never imported by the suite).

Builds a random-weight ACT policy, saves it with LeRobot's own `save_pretrained` and processor pipelines
(non-trivial dataset stats), runs `predict_action_chunk`/`select_action` on fixed inputs and writes the
inputs and outputs to an .npz, so the suite's runtime can be compared against it.

Usage: python act_reference_oracle.py SPECS_JSON OUT_DIR
SPECS_JSON: {variant_name: spec}; each variant is written to OUT_DIR/<variant_name>/{checkpoint/,reference.npz}
(one process for all variants: importing lerobot is the slow part).
Spec keys: cameras ({name: [h, w]}), state_dim, action_dim, env_state_dim (0 = none), chunk_size,
n_action_steps, dim_model, n_heads, dim_feedforward, n_encoder_layers, n_decoder_layers, latent_dim,
n_vae_encoder_layers, pre_norm, use_vae, normalization_mapping, seed, n_inputs,
replace_final_stride_with_dilation, temporal_ensemble_coeff.
"""

import json
import sys
from pathlib import Path

import numpy as np
import torch
from lerobot.configs.types import FeatureType, NormalizationMode, PolicyFeature
from lerobot.policies.act.configuration_act import ACTConfig
from lerobot.policies.act.modeling_act import ACTPolicy
from lerobot.policies.factory import make_pre_post_processors


def feature_stats(shape: tuple[int, ...], rng: np.random.Generator, image: bool) -> dict[str, np.ndarray]:
    stat_shape = (shape[0], 1, 1) if image else shape
    mean = rng.uniform(0.3, 0.6, stat_shape) if image else rng.uniform(-40, 40, stat_shape)
    std = rng.uniform(0.1, 0.3, stat_shape) if image else rng.uniform(2, 30, stat_shape)
    low, high = mean - 2.5 * std, mean + 2.5 * std
    stats = {"mean": mean, "std": std, "min": low, "max": high, "count": np.array([1000])}
    for q, z in (("q01", -2.3), ("q10", -1.3), ("q50", 0.0), ("q90", 1.3), ("q99", 2.3)):
        stats[q] = mean + z * std
    return {k: v.astype(np.float32) if k != "count" else v for k, v in stats.items()}


def main() -> None:
    specs = json.loads(sys.argv[1])
    for name, spec in specs.items():
        build_variant(spec, Path(sys.argv[2]) / name)


def build_variant(spec: dict, out: Path) -> None:
    out.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(spec.get("seed", 0))
    rng = np.random.default_rng(spec.get("seed", 0))

    input_features = {}
    for name, (h, w) in spec["cameras"].items():
        input_features[f"observation.images.{name}"] = PolicyFeature(type=FeatureType.VISUAL, shape=(3, h, w))
    if spec.get("state_dim", 0):
        input_features["observation.state"] = PolicyFeature(type=FeatureType.STATE, shape=(spec["state_dim"],))
    if spec.get("env_state_dim", 0):
        input_features["observation.environment_state"] = PolicyFeature(
            type=FeatureType.ENV, shape=(spec["env_state_dim"],)
        )
    output_features = {"action": PolicyFeature(type=FeatureType.ACTION, shape=(spec["action_dim"],))}
    arch_keys = [
        "chunk_size",
        "n_action_steps",
        "dim_model",
        "n_heads",
        "dim_feedforward",
        "n_encoder_layers",
        "n_decoder_layers",
        "latent_dim",
        "n_vae_encoder_layers",
        "pre_norm",
        "use_vae",
        "replace_final_stride_with_dilation",
        "temporal_ensemble_coeff",
        "feedforward_activation",
    ]
    kwargs = {k: spec[k] for k in arch_keys if k in spec}
    if "normalization_mapping" in spec:
        kwargs["normalization_mapping"] = {k: NormalizationMode(v) for k, v in spec["normalization_mapping"].items()}
    config = ACTConfig(
        input_features=input_features,
        output_features=output_features,
        pretrained_backbone_weights=None,
        device="cpu",
        **kwargs,
    )
    policy = ACTPolicy(config)
    # Random weights everywhere, including the frozen batch norm statistics of the backbone.
    with torch.no_grad():
        for name, buffer in policy.named_buffers():
            if name.endswith("running_var"):
                buffer.copy_(torch.rand_like(buffer) * 0.5 + 0.75)
            elif name.endswith("running_mean"):
                buffer.copy_(torch.randn_like(buffer) * 0.1)
        for name, param in policy.named_parameters():
            if "bn" in name or "downsample.1" in name:
                param.copy_(torch.randn_like(param) * 0.1 + (1.0 if name.endswith("weight") else 0.0))
    policy.eval()

    stats = {}
    for key, feature in {**input_features, **output_features}.items():
        stats[key] = feature_stats(feature.shape, rng, feature.type == FeatureType.VISUAL)
    preprocessor, postprocessor = make_pre_post_processors(config, dataset_stats=stats)
    checkpoint = out / "checkpoint"
    policy.save_pretrained(checkpoint)
    preprocessor.save_pretrained(checkpoint)
    postprocessor.save_pretrained(checkpoint)

    # Reload exactly as a user of LeRobot would, then run it on fixed inputs.
    policy = ACTPolicy.from_pretrained(checkpoint)
    policy.eval()
    preprocessor, postprocessor = make_pre_post_processors(policy.config, pretrained_path=str(checkpoint))
    arrays = {}
    chunks, selected = [], []
    for i in range(spec.get("n_inputs", 2)):
        observation = {}
        for key, feature in input_features.items():
            if feature.type == FeatureType.VISUAL:
                _, h, w = feature.shape
                observation[key] = rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
            else:
                observation[key] = (stats[key]["mean"] + stats[key]["std"] * rng.standard_normal(feature.shape)).astype(
                    np.float32
                )
        for key, value in observation.items():
            arrays[f"input{i}/{key}"] = value
        batch = {}
        for key, value in observation.items():
            tensor = torch.from_numpy(value.copy())
            if "image" in key:
                tensor = tensor.float().div(255).permute(2, 0, 1).contiguous()
            batch[key] = tensor.unsqueeze(0)
        batch["task"] = ""
        with torch.no_grad():
            processed = preprocessor(batch)
            chunk = postprocessor(policy.predict_action_chunk(processed))
            policy.reset()
            action = postprocessor(policy.select_action(processed))
        chunks.append(chunk[0].numpy())
        selected.append(action[0].numpy())
    arrays["chunks"] = np.stack(chunks)
    arrays["select_action"] = np.stack(selected)

    np.savez(out / "reference.npz", **arrays)


if __name__ == "__main__":
    main()
