"""SmolVLA's architecture from a checkpoint's `config.json` and its VLM backbone's config (SmolVLM2).

LeRobot builds SmolVLA from `vlm_model_name` (a Hub id or a local folder with the SmolVLM config and
tokenizer): the first `num_vlm_layers` text layers of the VLM, and an "action expert" that is a
narrower copy of the VLM's text model (width × `expert_width_multiplier`, LLaMA feed-forward size
rule, `num_expert_layers` layers). The numbers here are read once and validated, so a checkpoint
LeRobot could not run either is refused at load time with the reason.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lerobot_ros_policy.checkpoint import CheckpointFormatError, PolicyConfig, UnsupportedPolicyError
from lerobot_ros_policy.runtimes.flow_matching.dims import check_padded_dims


def expert_intermediate_size(hidden_size: int, ffn_dim_multiplier: int = 4, multiple_of: int = 256) -> int:
    """LeRobot's feed-forward width of the action expert: LLaMA's 2/3 · 4 · d, rounded up to 256."""
    size = int(ffn_dim_multiplier * int(2 * hidden_size / 3))
    return multiple_of * ((size + multiple_of - 1) // multiple_of)


@dataclass(frozen=True)
class TextArchitecture:
    """One LLaMA stack (the VLM's text model or the expert)."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    num_kv_heads: int
    head_dim: int
    rms_norm_eps: float
    attention_bias: bool
    mlp_bias: bool
    hidden_act: str


@dataclass(frozen=True)
class VisionArchitecture:
    """SmolVLM's SigLIP-style vision encoder and its pixel-shuffle connector."""

    hidden_size: int
    intermediate_size: int
    num_layers: int
    num_heads: int
    patch_size: int
    image_size: int
    num_channels: int
    layer_norm_eps: float
    hidden_act: str
    scale_factor: int


@dataclass(frozen=True)
class SmolVLAArchitecture:
    vision: VisionArchitecture
    text: TextArchitecture
    expert: TextArchitecture
    vocab_size: int
    max_state_dim: int
    max_action_dim: int
    chunk_size: int
    num_steps: int
    cross_attention: bool
    self_attn_every_n_layers: int
    add_image_special_tokens: bool
    prefix_length: int
    resize_imgs_with_padding: tuple[int, int] | None
    tokenizer_max_length: int
    min_period: float
    max_period: float

    @property
    def vlm_kv_width(self) -> int:
        return self.text.num_kv_heads * self.text.head_dim

    def is_self_attention_layer(self, layer: int) -> bool:
        """Whether the expert attends jointly with the VLM (self-attention) in this layer, rather than
        cross-attending to the VLM's cached keys and values."""
        if not self.cross_attention:
            return True
        return self.self_attn_every_n_layers > 0 and layer % self.self_attn_every_n_layers == 0

    def expert_projects_vlm_kv(self, expert_layer: int) -> bool:
        """Whether this expert layer's key/value projections take the VLM's keys and values (LeRobot
        reshapes them by the expert layer's own index)."""
        return self.cross_attention and not (
            self.self_attn_every_n_layers > 0 and expert_layer % self.self_attn_every_n_layers == 0
        )

    def expert_layer_index(self, layer: int) -> int | None:
        """The expert layer paired with VLM layer `layer` (None: the expert skips it)."""
        every = self.text.num_layers // self.expert.num_layers
        if every > 0 and layer > 0 and layer % every != 0:
            return None
        return layer // every if every > 0 else layer

    @classmethod
    def from_configs(cls, policy: PolicyConfig, vlm: Any, where: str) -> SmolVLAArchitecture:
        """`policy`: the checkpoint's parsed config.json; `vlm`: the backbone's transformers config
        (`SmolVLMConfig`: `text_config`, `vision_config`, `scale_factor`)."""
        raw = policy.raw

        def option(name: str, default: Any) -> Any:
            return raw.get(name, default)

        for name, unsupported in (
            ("adapt_to_pi_aloha", True),
            ("use_delta_joint_actions_aloha", True),
            ("use_cache", False),
        ):
            if option(name, not unsupported) == unsupported:
                raise UnsupportedPolicyError(f"{where}: '{name}: {unsupported}' is not supported by the native SmolVLA")
        if int(option("empty_cameras", 0)) != 0:
            raise UnsupportedPolicyError(f"{where}: 'empty_cameras' > 0 is not supported by the native SmolVLA")
        if policy.n_obs_steps != 1:
            raise UnsupportedPolicyError(f"{where}: n_obs_steps = {policy.n_obs_steps}; SmolVLA runs with 1")
        text_config, vision_config = vlm.text_config, vlm.vision_config
        available = int(text_config.num_hidden_layers)
        num_vlm_layers = int(option("num_vlm_layers", 16))
        num_vlm_layers = min(num_vlm_layers, available) if num_vlm_layers > 0 else available
        num_expert_layers = int(option("num_expert_layers", -1))
        if num_expert_layers <= 0:
            num_expert_layers = num_vlm_layers
        elif num_vlm_layers % num_expert_layers:
            raise CheckpointFormatError(
                f"{where}: num_vlm_layers ({num_vlm_layers}) is not a multiple of num_expert_layers "
                f"({num_expert_layers})"
            )
        text_hidden = int(text_config.hidden_size)
        head_dim = int(getattr(text_config, "head_dim", None) or text_hidden // int(text_config.num_attention_heads))
        text = TextArchitecture(
            hidden_size=text_hidden,
            intermediate_size=int(text_config.intermediate_size),
            num_layers=num_vlm_layers,
            num_heads=int(text_config.num_attention_heads),
            num_kv_heads=int(text_config.num_key_value_heads),
            head_dim=head_dim,
            rms_norm_eps=float(text_config.rms_norm_eps),
            attention_bias=bool(getattr(text_config, "attention_bias", False)),
            mlp_bias=bool(getattr(text_config, "mlp_bias", False)),
            hidden_act=str(text_config.hidden_act),
        )
        expert_hidden = int(text_hidden * float(option("expert_width_multiplier", 0.75)))
        expert = TextArchitecture(
            **{
                **text.__dict__,
                "hidden_size": expert_hidden,
                "intermediate_size": expert_intermediate_size(expert_hidden),
                "num_layers": num_expert_layers,
            }
        )
        vision = VisionArchitecture(
            hidden_size=int(vision_config.hidden_size),
            intermediate_size=int(vision_config.intermediate_size),
            num_layers=int(vision_config.num_hidden_layers),
            num_heads=int(vision_config.num_attention_heads),
            patch_size=int(vision_config.patch_size),
            image_size=int(vision_config.image_size),
            num_channels=int(getattr(vision_config, "num_channels", 3)),
            layer_norm_eps=float(vision_config.layer_norm_eps),
            hidden_act=str(vision_config.hidden_act),
            scale_factor=int(vlm.scale_factor),
        )
        resize = option("resize_imgs_with_padding", (512, 512))
        architecture = cls(
            vision=vision,
            text=text,
            expert=expert,
            vocab_size=int(text_config.vocab_size),
            max_state_dim=int(option("max_state_dim", 32)),
            max_action_dim=int(option("max_action_dim", 32)),
            chunk_size=policy.chunk_size,
            num_steps=int(option("num_steps", 10)),
            cross_attention="cross" in str(option("attention_mode", "cross_attn")),
            self_attn_every_n_layers=int(option("self_attn_every_n_layers", 2)),
            add_image_special_tokens=bool(option("add_image_special_tokens", False)),
            prefix_length=int(option("prefix_length", -1)),
            resize_imgs_with_padding=None if resize is None else (int(resize[0]), int(resize[1])),
            tokenizer_max_length=int(option("tokenizer_max_length", 48)),
            min_period=float(option("min_period", 4e-3)),
            max_period=float(option("max_period", 4.0)),
        )
        architecture.validate(policy, where)
        return architecture

    def validate(self, policy: PolicyConfig, where: str) -> None:
        check_padded_dims(policy, where, "SmolVLA", self.max_state_dim, self.max_action_dim)
        if not policy.image_features:
            raise CheckpointFormatError(f"{where}: SmolVLA needs at least one camera input feature")
        if self.num_steps < 1:
            raise CheckpointFormatError(f"{where}: num_steps must be ≥ 1, got {self.num_steps}")
        layout = (
            f"(num_vlm_layers {self.text.num_layers}, num_expert_layers {self.expert.num_layers}, "
            f"self_attn_every_n_layers {self.self_attn_every_n_layers}): LeRobot cannot sample from it either"
        )
        for layer in range(self.text.num_layers):
            expert = self.expert_layer_index(layer)
            if not self.is_self_attention_layer(layer):
                continue
            # LeRobot 0.4.4 cannot denoise through a self-attention layer without a fitting expert layer.
            if expert is None:
                raise UnsupportedPolicyError(
                    f"{where}: VLM layer {layer} is a self-attention layer without an expert layer {layout}"
                )
            if self.expert_projects_vlm_kv(expert) and self.vlm_kv_width != self.expert.hidden_size:
                raise UnsupportedPolicyError(
                    f"{where}: VLM layer {layer} is a self-attention layer but its expert layer {expert} has "
                    f"cross-attention projections {layout}"
                )
        if self.text.num_heads % self.text.num_kv_heads:
            raise CheckpointFormatError(
                f"{where}: {self.text.num_heads} attention heads are not a multiple of "
                f"{self.text.num_kv_heads} KV heads"
            )
