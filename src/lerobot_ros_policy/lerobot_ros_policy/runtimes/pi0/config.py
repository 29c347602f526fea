"""Pi0's architecture from a checkpoint's `config.json`.

LeRobot's Pi0 (openpi's PI0Pytorch) is PaliGemma (SigLIP so400m/14 vision tower, a linear projector,
a Gemma language model) and a Gemma "action expert" of the same depth whose layers attend jointly
with the language model's. `config.json` names the two Gemma sizes by variant (`paligemma_variant`,
`action_expert_variant`); everything else about the backbone is fixed by LeRobot (SigLIP so400m,
the 257 152-token vocabulary, 2048-wide image projection). The sizes live in `VARIANTS`, a table;
`register_variant` adds sizes under a new name (tests build tiny random Pi0s that way) without
changing the checkpoint format.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from lerobot_ros_policy.checkpoint import CheckpointFormatError, PolicyConfig, UnsupportedPolicyError
from lerobot_ros_policy.runtimes.flow_matching.dims import check_padded_dims

EMPTY_CAMERA_PREFIX = "observation.images.empty_camera_"


@dataclass(frozen=True)
class GemmaSize:
    """openpi's `gemma.Config`: one Gemma stack."""

    width: int
    depth: int
    mlp_dim: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float = 1e-6
    rope_theta: float = 10_000.0


@dataclass(frozen=True)
class SiglipSize:
    """PaliGemma's vision tower and the projection of its patch features into the language model."""

    hidden_size: int = 1152
    intermediate_size: int = 4304
    num_layers: int = 27
    num_heads: int = 16
    patch_size: int = 14
    layer_norm_eps: float = 1e-6
    projection_dim: int = 2048


@dataclass(frozen=True)
class Variant:
    """What a variant name stands for: the Gemma sizes, and (used when it is the PaliGemma side)
    the vision tower and vocabulary."""

    gemma: GemmaSize
    vision: SiglipSize = field(default_factory=SiglipSize)
    vocab_size: int = 257_152


VARIANTS: dict[str, Variant] = {
    "gemma_300m": Variant(GemmaSize(width=1024, depth=18, mlp_dim=4096, num_heads=8, num_kv_heads=1, head_dim=256)),
    "gemma_2b": Variant(GemmaSize(width=2048, depth=18, mlp_dim=16_384, num_heads=8, num_kv_heads=1, head_dim=256)),
}


def register_variant(name: str, variant: Variant) -> None:
    """Make `name` usable as `paligemma_variant` / `action_expert_variant` (LeRobot itself knows only
    `gemma_300m` and `gemma_2b`; a checkpoint with another name runs only here)."""
    if name in VARIANTS and VARIANTS[name] != variant:
        raise ValueError(f"Pi0 variant '{name}' is already registered with other sizes")
    VARIANTS[name] = variant


@dataclass(frozen=True)
class Pi0Architecture:
    vision: SiglipSize
    vlm: GemmaSize
    expert: GemmaSize
    vocab_size: int
    image_size: int
    max_state_dim: int
    max_action_dim: int
    chunk_size: int
    num_steps: int
    min_period: float
    max_period: float
    tokenizer_max_length: int
    empty_cameras: tuple[str, ...]

    @property
    def num_image_tokens(self) -> int:
        return (self.image_size // self.vision.patch_size) ** 2

    @classmethod
    def from_config(cls, policy: PolicyConfig, where: str) -> Pi0Architecture:
        raw = policy.raw

        def variant(option: str) -> Variant:
            name = str(raw.get(option, "gemma_300m" if option == "action_expert_variant" else "gemma_2b"))
            if name not in VARIANTS:
                raise UnsupportedPolicyError(f"{where}: {option} '{name}' is unknown (known: {sorted(VARIANTS)})")
            return VARIANTS[name]

        if raw.get("use_delta_joint_actions_aloha") or raw.get("adapt_to_pi_aloha"):
            raise UnsupportedPolicyError(f"{where}: ALOHA adaptations are not supported by the native Pi0")
        if policy.n_obs_steps != 1:
            raise UnsupportedPolicyError(f"{where}: n_obs_steps = {policy.n_obs_steps}; Pi0 runs with 1")
        resolution = raw.get("image_resolution", (224, 224))
        if len(resolution) != 2 or int(resolution[0]) != int(resolution[1]):
            raise CheckpointFormatError(f"{where}: image_resolution {resolution} is not square (PaliGemma needs it)")
        paligemma, expert = variant("paligemma_variant"), variant("action_expert_variant")
        architecture = cls(
            vision=paligemma.vision,
            vlm=paligemma.gemma,
            expert=expert.gemma,
            vocab_size=paligemma.vocab_size,
            image_size=int(resolution[0]),
            max_state_dim=int(raw.get("max_state_dim", 32)),
            max_action_dim=int(raw.get("max_action_dim", 32)),
            chunk_size=policy.chunk_size,
            num_steps=int(raw.get("num_inference_steps", 10)),
            min_period=float(raw.get("min_period", 4e-3)),
            max_period=float(raw.get("max_period", 4.0)),
            tokenizer_max_length=int(raw.get("tokenizer_max_length", 48)),
            empty_cameras=tuple(k for k in policy.image_features if k.startswith(EMPTY_CAMERA_PREFIX)),
        )
        architecture.validate(policy, where)
        return architecture

    def validate(self, policy: PolicyConfig, where: str) -> None:
        check_padded_dims(policy, where, "Pi0", self.max_state_dim, self.max_action_dim)
        if len(policy.image_features) == len(self.empty_cameras):
            raise CheckpointFormatError(f"{where}: Pi0 needs at least one camera input feature")
        if self.num_steps < 1:
            raise CheckpointFormatError(f"{where}: num_inference_steps must be ≥ 1, got {self.num_steps}")
        if self.vision.projection_dim != self.vlm.width:
            raise UnsupportedPolicyError(
                f"{where}: image features are {self.vision.projection_dim} wide but the PaliGemma variant is "
                f"{self.vlm.width} wide (LeRobot cannot run this combination either)"
            )
        vlm, expert = self.vlm, self.expert
        if (vlm.depth, vlm.num_kv_heads, vlm.head_dim) != (expert.depth, expert.num_kv_heads, expert.head_dim):
            raise UnsupportedPolicyError(
                f"{where}: the action expert must match PaliGemma's depth, KV heads and head size to attend "
                f"jointly (PaliGemma {vlm}, expert {expert})"
            )
        for size in (vlm, expert):
            if size.num_heads % size.num_kv_heads:
                raise CheckpointFormatError(f"{where}: {size.num_heads} heads not a multiple of {size.num_kv_heads}")
