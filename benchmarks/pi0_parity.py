"""Pi0 parity and CPU latency: the native runtime against LeRobot 0.4.4's PI0Policy (run by hand).

Same random-weight checkpoint (built and saved by LeRobot itself), same observation, same task, same
injected noise, plain and with Real-Time Chunking guidance; prints the max abs difference of the
actions (LeRobot units) and the per-chunk latency of both, measured in the same run, one after the
other (never two big processes at once).

LeRobot 0.4.4's Pi0 needs transformers from its `fix/lerobot_openpi` branch (not installable here):
it imports `transformers.models.siglip.check` and relies on openpi's changes to Gemma. Build an
equivalent overlay of stock 4.57.6 outside the shared venvs once:

    python benchmarks/pi0_parity.py build-transformers /work/pi0-transformers

(`pip install --no-deps --target DIR transformers==4.57.6`, then `patch_transformers` below: the
`siglip/check.py` probe; GemmaRMSNorm takes `cond` and returns `(x, None)`; decoder layers unpack it
and `_gated_residual` exists; GemmaModel no longer scales its inputs by √width (LeRobot scales the
language embeddings itself) and runs bf16 layers on bf16 activations; attention with a prefix cache
and `use_cache=False` attends to the cache without appending to it; PaliGemma's image features are
not divided by √width; SigLIP runs bf16 layers on bf16 activations. These are the semantics of
openpi's `transformers_replace` files, which the branch carries; adaRMS (Pi0.5) is not patched in.)

Then, from the suite's venv:

    python benchmarks/pi0_parity.py run [--work DIR] [--transformers /work/pi0-transformers]

The config: LeRobot's default variants at their real widths (PaliGemma `gemma_2b`, expert
`gemma_300m`, SigLIP so400m, the full 257k vocabulary) but only `--depth` (default `DEPTH`) Gemma
and SigLIP layers, one 240×320 camera (resized with padding to 224), chunk 50, 10 denoising steps, on
CPU in float32 (`--dtype bfloat16`: LeRobot's GPU precision). `--depth 0` runs the full-depth
defaults (18 Gemma layers, 27 SigLIP layers), which need ≈ 15 GB per process (the two run one after
the other); every layer runs the same code, so a smaller depth checks the same code paths in less
memory and time. LeRobot accepts a `gemma_300m` PaliGemma in its config but cannot run it (its
2048-wide image projection meets a 1024-wide language model: a size mismatch in the first chunk).
The reduced reference builds LeRobot's model
with `get_gemma_config` and PaliGemma's vision config reduced to `DEPTH` layers; its saved config
names the variants `gemma_2b_depth{DEPTH}` / `gemma_300m_depth{DEPTH}`, which the native side
registers with the same sizes (`register_variant`). Peak memory: ≈ 9 GB in the reference process
(LeRobot builds and randomly initialises the whole model, embeddings of 257k tokens included), one
copy of the weights (≈ 4.3 GB) in the native one (built on the meta device, weights copied in from
the file). The tokenizer is the suite's character-level stand-in (`test/data/paligemma_standin`),
installed under PaliGemma's name for LeRobot's pipeline and passed as `tokenizer_path` to the native
runtime.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
STANDIN_TOKENIZER = REPO / "src/lerobot_ros_policy/test/data/paligemma_standin"
KEYS_FILE = REPO / "src/lerobot_ros_policy/test/data/pi0_default_keys.json"
REFERENCE_PYTHON = REPO / ".venv-lerobot/bin/python"
PALIGEMMA_TOKENIZER = "google/paligemma-3b-pt-224"

DEPTH = 2
"""Gemma and SigLIP layers by default; `--depth 0` runs LeRobot's full-depth default variants."""
DTYPES = ("float32", "bfloat16")
SPEC = {
    "camera": [240, 320],
    "state_dim": 6,
    "action_dim": 6,
    "chunk_size": 50,
    "num_inference_steps": 10,
    "task": "pick up the red cube",
    "perturb": 0.02,
    "repeats": 2,
    "rtc": {"delay": 4, "execution_horizon": 20, "schedule": "linear", "max_guidance_weight": 10.0, "shift": 6},
    "seed": 0,
}

# (file under transformers/, text to replace, replacement): openpi's Gemma/PaliGemma/SigLIP semantics.
PATCHES = [
    (
        "models/gemma/modeling_gemma.py",
        """    def forward(self, x):
        output = self._norm(x.float())
        # Llama does x.to(float16) * w whilst Gemma is (x * w).to(float16)
        # See https://github.com/huggingface/transformers/pull/29402
        output = output * (1.0 + self.weight.float())
        return output.type_as(x)
""",
        """    def forward(self, x, cond=None):
        if cond is not None:
            raise NotImplementedError("adaRMS is not part of this overlay")
        output = self._norm(x.float())
        output = output * (1.0 + self.weight.float())
        return output.type_as(x), None


def _gated_residual(x, y, gate):
    return x + y if gate is None else x + y * gate
""",
    ),
    (
        "models/gemma/modeling_gemma.py",
        "        hidden_states = self.input_layernorm(hidden_states)\n",
        "        hidden_states, _ = self.input_layernorm(hidden_states)\n",
    ),
    (
        "models/gemma/modeling_gemma.py",
        "        hidden_states = self.post_attention_layernorm(hidden_states)\n",
        "        hidden_states, _ = self.post_attention_layernorm(hidden_states)\n",
    ),
    (
        "models/gemma/modeling_gemma.py",
        """        if past_key_values is not None:
            # sin and cos are specific to RoPE models; cache_position needed for the static cache
            cache_kwargs = {"sin": sin, "cos": cos, "cache_position": cache_position}
            key_states, value_states = past_key_values.update(key_states, value_states, self.layer_idx, cache_kwargs)
""",
        """        if past_key_values is not None and kwargs.get("use_cache", True):
            cache_kwargs = {"sin": sin, "cos": cos, "cache_position": cache_position}
            key_states, value_states = past_key_values.update(key_states, value_states, self.layer_idx, cache_kwargs)
        elif past_key_values is not None:
            key_states = torch.cat([past_key_values[self.layer_idx][0], key_states], dim=2)
            value_states = torch.cat([past_key_values[self.layer_idx][1], value_states], dim=2)
""",
    ),
    (
        "models/gemma/modeling_gemma.py",
        """        cache_position: Optional[torch.LongTensor] = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPast:
        if (input_ids is None) ^ (inputs_embeds is not None):""",
        """        cache_position: Optional[torch.LongTensor] = None,
        adarms_cond: Optional[torch.Tensor] = None,
        **kwargs: Unpack[TransformersKwargs],
    ) -> BaseModelOutputWithPast:
        if adarms_cond is not None:
            raise NotImplementedError("adaRMS is not part of this overlay")
        if (input_ids is None) ^ (inputs_embeds is not None):""",
    ),
    (
        "models/gemma/modeling_gemma.py",
        """        hidden_states = inputs_embeds

        # create position embeddings to be shared across the decoder layers""",
        """        hidden_states = inputs_embeds
        if len(self.layers) > 0 and self.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16:
            hidden_states = hidden_states.to(torch.bfloat16)

        # create position embeddings to be shared across the decoder layers""",
    ),
    (
        "models/gemma/modeling_gemma.py",
        "        hidden_states = hidden_states * normalizer\n",
        "",
    ),
    (
        "models/gemma/modeling_gemma.py",
        "        hidden_states = self.norm(hidden_states)\n        return BaseModelOutputWithPast(",
        "        hidden_states, _ = self.norm(hidden_states)\n        return BaseModelOutputWithPast(",
    ),
    (
        "models/paligemma/modeling_paligemma.py",
        "        image_features = image_features / (self.config.text_config.hidden_size**0.5)\n",
        "",
    ),
    (
        "models/siglip/modeling_siglip.py",
        """        hidden_states = self.embeddings(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)

        encoder_outputs: BaseModelOutput = self.encoder(""",
        """        hidden_states = self.embeddings(pixel_values, interpolate_pos_encoding=interpolate_pos_encoding)
        if len(self.encoder.layers) > 0 and self.encoder.layers[0].self_attn.q_proj.weight.dtype == torch.bfloat16:
            hidden_states = hidden_states.to(torch.bfloat16)

        encoder_outputs: BaseModelOutput = self.encoder(""",
    ),
]
CHECK_MODULE = '''"""Probe LeRobot's Pi0 imports: this transformers carries openpi's Gemma changes."""


def check_whether_transformers_replace_is_installed_correctly():
    return True
'''


def patch_transformers(root: Path) -> None:
    """Apply `PATCHES` to the transformers package at `root` (refuses if any target text is absent)."""
    for relative, old, new in PATCHES:
        path = root / relative
        text = path.read_text()
        if old not in text:
            raise SystemExit(f"{path}: patch target not found (not transformers 4.57.6?):\n{old}")
        path.write_text(text.replace(old, new))
    (root / "models/siglip/check.py").write_text(CHECK_MODULE)


def build_transformers(target: Path) -> None:
    subprocess.run(
        [str(REFERENCE_PYTHON), "-m", "pip", "install", "--no-deps", "--target", str(target), "transformers==4.57.6"],
        check=True,
    )
    patch_transformers(target / "transformers")
    print(f"patched transformers 4.57.6 in {target}: run the reference with PYTHONPATH={target}")


def make_inputs(spec: dict) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(spec["seed"])
    height, width = spec["camera"]
    return {
        "observation.images.front": rng.integers(0, 256, (height, width, 3), dtype=np.uint8),
        "observation.state": rng.normal(0, 20, spec["state_dim"]).astype(np.float32),
        "noise": rng.standard_normal((1, spec["chunk_size"], 32)).astype(np.float32),
        "prefix_offset": rng.uniform(-5, 5, (1, spec["action_dim"])).astype(np.float32),
    }


def dataset_stats(spec: dict) -> dict[str, dict[str, np.ndarray]]:
    rng = np.random.default_rng(spec["seed"] + 1)
    stats = {}
    for key, dim in (("observation.state", spec["state_dim"]), ("action", spec["action_dim"])):
        mean = rng.uniform(-40, 40, dim).astype(np.float32)
        std = rng.uniform(2, 30, dim).astype(np.float32)
        stats[key] = {"mean": mean, "std": std, "min": mean - 3 * std, "max": mean + 3 * std}
    stats["observation.images.front"] = {
        "mean": np.full((3, 1, 1), 0.5, np.float32),
        "std": np.full((3, 1, 1), 0.2, np.float32),
    }
    return stats


def write_keys(target: Path) -> None:
    """(reference venv) The `model.safetensors` keys and shapes LeRobot saves for its default Pi0
    (gemma_2b + gemma_300m), built on the meta device: the state dict without the token embedding,
    whose tensor `save_pretrained` stores under the tied `paligemma.lm_head.weight` only (checked on
    a real save of a gemma_300m pair). Test data for the suite's key compatibility test."""
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature
    from lerobot.policies.pi0.configuration_pi0 import PI0Config
    from lerobot.policies.pi0.modeling_pi0 import PI0Policy

    config = PI0Config(
        input_features={
            "observation.images.front": PolicyFeature(type=FeatureType.VISUAL, shape=(3, 224, 224)),
            "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(6,)),
        },
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(6,))},
        device="cpu",
    )
    torch.nn.Module.to = lambda self, *args, **kwargs: self  # keep everything on the meta device
    with torch.device("meta"):
        policy = PI0Policy(config)
    tied = "model.paligemma_with_expert.paligemma.model.language_model.embed_tokens.weight"
    keys = {key: list(value.shape) for key, value in sorted(policy.state_dict().items()) if key != tied}
    target.write_text(json.dumps(keys, indent=0))


def reduce_depth(modeling_pi0, depth: int) -> None:
    """LeRobot's Pi0 with `depth` Gemma layers (PaliGemma and expert) and `depth` SigLIP layers."""
    gemma_config = modeling_pi0.get_gemma_config
    configs = modeling_pi0.CONFIG_MAPPING

    def reduced_gemma(variant: str):
        config = gemma_config(variant)
        config.depth = depth
        return config

    class ReducedConfigs:
        def __getitem__(self, name: str):
            if name != "paligemma":
                return configs[name]

            def paligemma_config(**kwargs):
                config = configs["paligemma"](**kwargs)
                config.vision_config.num_hidden_layers = depth
                return config

            return paligemma_config

    modeling_pi0.get_gemma_config = reduced_gemma
    modeling_pi0.CONFIG_MAPPING = ReducedConfigs()


def register_reduced_variants(depth: int) -> None:
    """The native side of `reduce_depth`: the same sizes under the names the saved config uses."""
    from dataclasses import replace

    from lerobot_ros_policy.runtimes.pi0 import register_variant
    from lerobot_ros_policy.runtimes.pi0.config import VARIANTS

    for name in ("gemma_2b", "gemma_300m"):
        variant = VARIANTS[name]
        register_variant(
            f"{name}_depth{depth}",
            replace(
                variant, gemma=replace(variant.gemma, depth=depth), vision=replace(variant.vision, num_layers=depth)
            ),
        )


def reference(work: Path, dtype: str, depth: int) -> None:
    """Inside the LeRobot venv with the patched transformers: build, save and run LeRobot's Pi0."""
    import torch
    from lerobot.configs.types import FeatureType, PolicyFeature, RTCAttentionSchedule
    from lerobot.policies.pi0 import modeling_pi0, processor_pi0
    from lerobot.policies.pi0.configuration_pi0 import PI0Config
    from lerobot.policies.pi0.modeling_pi0 import PI0Policy
    from lerobot.policies.rtc.configuration_rtc import RTCConfig
    from lerobot.processor import tokenizer_processor
    from transformers import AutoTokenizer

    class StandinTokenizer:  # LeRobot's pipeline asks for PaliGemma's tokenizer by name
        @staticmethod
        def from_pretrained(name: str, **kwargs):
            assert name == PALIGEMMA_TOKENIZER, name
            return AutoTokenizer.from_pretrained(str(STANDIN_TOKENIZER), local_files_only=True)

    tokenizer_processor.AutoTokenizer = StandinTokenizer
    if depth:
        reduce_depth(modeling_pi0, depth)
    spec = SPEC
    torch.manual_seed(spec["seed"])
    height, width = spec["camera"]
    config = PI0Config(
        paligemma_variant="gemma_2b",
        action_expert_variant="gemma_300m",
        input_features={
            "observation.images.front": PolicyFeature(type=FeatureType.VISUAL, shape=(3, height, width)),
            "observation.state": PolicyFeature(type=FeatureType.STATE, shape=(spec["state_dim"],)),
        },
        output_features={"action": PolicyFeature(type=FeatureType.ACTION, shape=(spec["action_dim"],))},
        chunk_size=spec["chunk_size"],
        n_action_steps=spec["chunk_size"],
        num_inference_steps=spec["num_inference_steps"],
        device="cpu",
        dtype=dtype,
    )
    policy = PI0Policy(config)
    with torch.no_grad():  # move norms and biases off their init values
        for param in policy.parameters():
            param.add_(torch.randn_like(param) * spec["perturb"])
    policy.eval()
    stats = {k: {s: torch.from_numpy(v) for s, v in d.items()} for k, d in dataset_stats(spec).items()}
    preprocessor, postprocessor = processor_pi0.make_pi0_pre_post_processors(config, dataset_stats=stats)
    checkpoint = work / "checkpoint"
    policy.save_pretrained(checkpoint)
    preprocessor.save_pretrained(checkpoint)
    postprocessor.save_pretrained(checkpoint)
    if depth:
        saved = json.loads((checkpoint / "config.json").read_text())
        for option in ("paligemma_variant", "action_expert_variant"):
            saved[option] = f"{saved[option]}_depth{depth}"
        (checkpoint / "config.json").write_text(json.dumps(saved, indent=4))

    inputs = make_inputs(spec)
    image = torch.from_numpy(inputs["observation.images.front"]).float().div(255).permute(2, 0, 1)
    batch = {
        "observation.images.front": image.unsqueeze(0),
        "observation.state": torch.from_numpy(inputs["observation.state"]).unsqueeze(0),
        "task": spec["task"],
    }
    noise = torch.from_numpy(inputs["noise"])

    def chunk(**kwargs) -> tuple[np.ndarray, float]:
        start = time.perf_counter()
        with torch.no_grad():
            actions = postprocessor(
                policy.predict_action_chunk(preprocessor(dict(batch)), noise=noise.clone(), **kwargs)
            )
        return actions[0].numpy(), time.perf_counter() - start

    plain, latencies = None, []
    for _ in range(spec["repeats"] + 1):  # the first call warms up
        plain, seconds = chunk()
        latencies.append(seconds)
    rtc = spec["rtc"]
    prefix = torch.from_numpy(plain[rtc["shift"] :] + inputs["prefix_offset"])
    policy.config.rtc_config = RTCConfig(
        enabled=True,
        prefix_attention_schedule=RTCAttentionSchedule(rtc["schedule"].upper()),
        max_guidance_weight=rtc["max_guidance_weight"],
        execution_horizon=rtc["execution_horizon"],
    )
    policy.init_rtc_processor()
    normalized_prefix = postprocessor.steps[0]._normalize_action(prefix.clone(), inverse=False)
    guided, guided_seconds = chunk(
        inference_delay=rtc["delay"],
        prev_chunk_left_over=normalized_prefix.unsqueeze(0),
        execution_horizon=rtc["execution_horizon"],
    )
    np.savez(
        work / "reference.npz",
        plain=plain,
        guided=guided,
        prefix=prefix.numpy(),
        latencies=np.array(latencies[1:]),
        guided_seconds=np.array(guided_seconds),
    )


def native(work: Path, dtype: str, depth: int) -> dict[str, float]:
    import torch

    from lerobot_ros_policy.runtimes import PrefixGuidance, load_runtime

    if depth:
        register_reduced_variants(depth)
    spec = SPEC
    inputs = make_inputs(spec)
    ref = np.load(work / "reference.npz")
    runtime = load_runtime(work / "checkpoint", "cpu", tokenizer_path=STANDIN_TOKENIZER, dtype=dtype)
    observation = {key: inputs[key] for key in ("observation.images.front", "observation.state")}
    latencies = []
    plain = None
    for _ in range(spec["repeats"] + 1):
        start = time.perf_counter()
        plain = runtime.predict_chunk(observation, spec["task"], noise=inputs["noise"])
        latencies.append(time.perf_counter() - start)
    rtc = spec["rtc"]
    guidance = PrefixGuidance(
        prefix=ref["prefix"],
        delay=rtc["delay"],
        execution_horizon=rtc["execution_horizon"],
        schedule=rtc["schedule"],
        max_guidance_weight=rtc["max_guidance_weight"],
    )
    start = time.perf_counter()
    guided = runtime.predict_chunk(observation, spec["task"], guidance, noise=inputs["noise"])
    guided_seconds = time.perf_counter() - start
    del runtime
    torch.cuda.empty_cache() if torch.cuda.is_available() else None
    return {
        "plain_max_abs_diff": float(np.abs(plain - ref["plain"]).max()),
        "guided_max_abs_diff": float(np.abs(guided - ref["guided"]).max()),
        "guided_prefix_max_abs_diff": float(np.abs(guided[: rtc["delay"]] - ref["prefix"][: rtc["delay"]]).max()),
        "action_scale": float(np.abs(ref["plain"]).max()),
        "lerobot_seconds_per_chunk": float(np.median(ref["latencies"])),
        "native_seconds_per_chunk": float(np.median(latencies[1:])),
        "lerobot_guided_seconds": float(ref["guided_seconds"]),
        "native_guided_seconds": guided_seconds,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("build-transformers", help="install transformers 4.57.6 into DIR and patch it")
    build.add_argument("target", type=Path)
    keys = sub.add_parser("keys", help="(reference venv) write LeRobot's Pi0 state-dict keys as test data")
    keys.add_argument("target", type=Path, nargs="?", default=KEYS_FILE)
    ref = sub.add_parser("reference", help="(internal) the LeRobot side, in the reference venv")
    ref.add_argument("work", type=Path)
    ref.add_argument("dtype", choices=DTYPES)
    ref.add_argument("depth", type=int)
    run = sub.add_parser("run", help="reference then native; print the figures")
    run.add_argument("--work", type=Path, default=Path("/tmp/pi0_parity"))
    run.add_argument("--transformers", type=Path, default=Path("/work/pi0-transformers"))
    run.add_argument(
        "--dtype", choices=DTYPES, default="float32", help="LeRobot's `dtype` (bfloat16: its GPU precision, on CPU)"
    )
    run.add_argument(
        "--depth", type=int, default=DEPTH, help="Gemma and SigLIP layers; 0 = the full-depth defaults (≈ 15 GB RAM)"
    )
    run.add_argument("--keep-reference", action="store_true", help="reuse an existing reference run in --work")
    args = parser.parse_args()
    if args.command == "build-transformers":
        build_transformers(args.target)
    elif args.command == "keys":
        write_keys(args.target)
    elif args.command == "reference":
        reference(args.work, args.dtype, args.depth)
    else:
        args.work.mkdir(parents=True, exist_ok=True)
        if not (args.keep_reference and (args.work / "reference.npz").is_file()):
            env = {**os.environ, "PYTHONPATH": str(args.transformers), "OMP_NUM_THREADS": "2"}
            subprocess.run(
                [str(REFERENCE_PYTHON), __file__, "reference", str(args.work), args.dtype, str(args.depth)],
                check=True,
                env=env,
            )
        figures = native(args.work, args.dtype, args.depth)
        print(json.dumps({"spec": SPEC, "dtype": args.dtype, "depth": args.depth or "full", **figures}, indent=2))


if __name__ == "__main__":
    sys.exit(main())
