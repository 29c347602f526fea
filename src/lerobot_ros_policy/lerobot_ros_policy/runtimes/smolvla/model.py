"""SmolVLA in plain torch: SmolVLM2's vision encoder and first text layers, the action expert, and the
flow-matching head, with module names that load LeRobot's `model.*` weights unchanged.

The arithmetic follows LeRobot 0.4.4 (`VLAFlowMatching`, `SmolVLMWithExpertModel`) and the
transformers modules it calls, operation for operation: LeRobot's own rotary embedding (wavelength
10 000) and float32 eager attention for both stacks, the image/language scaling by √width, the
block-causal masks, one key/value cache of the prefix per denoising run. Casts happen where
LeRobot's happen, so a bfloat16 backbone behaves as LeRobot's does.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lerobot_ros_policy.runtimes.flow_matching.tokens import block_causal_mask, sinusoidal_embedding
from lerobot_ros_policy.runtimes.smolvla.config import SmolVLAArchitecture, TextArchitecture, VisionArchitecture

_ACTIVATIONS = {
    "silu": F.silu,
    "gelu": F.gelu,
    "gelu_pytorch_tanh": lambda x: F.gelu(x, approximate="tanh"),
    "relu": F.relu,
}

KVCache = list[tuple[torch.Tensor, torch.Tensor]]
"""Per VLM layer: the prefix's keys (after rotary embedding) and values, `(B, L, kv_heads, head_dim)`."""


def _activation(name: str):
    if name not in _ACTIVATIONS:
        raise ValueError(f"activation '{name}' not supported (supported: {sorted(_ACTIVATIONS)})")
    return _ACTIVATIONS[name]


# ---------------------------------------------------------------- vision encoder (SigLIP-style)


class VisionEmbeddings(nn.Module):
    def __init__(self, arch: VisionArchitecture) -> None:
        super().__init__()
        self.patch_size = arch.patch_size
        self.patches_per_side = arch.image_size // arch.patch_size
        self.patch_embedding = nn.Conv2d(arch.num_channels, arch.hidden_size, arch.patch_size, arch.patch_size)
        self.position_embedding = nn.Embedding(self.patches_per_side**2, arch.hidden_size)

    def position_ids(self, rows: int, cols: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
        """Positions of a `rows × cols` patch grid on the encoder's `patches_per_side²` table: each
        patch takes the bucket of its fractional coordinate (the identity for a full-size image),
        computed in the pixels' dtype as transformers 4.57 does."""
        boundaries = torch.arange(1 / self.patches_per_side, 1.0, 1 / self.patches_per_side, device=device)
        coords = []
        for count in (rows, cols):
            fractional = torch.arange(count, device=device, dtype=dtype) / count * (1 - 1e-6)
            coords.append(torch.bucketize(fractional, boundaries, right=True))
        return (coords[0][:, None] * self.patches_per_side + coords[1]).reshape(1, -1)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        embeddings = self.patch_embedding(pixels).flatten(2).transpose(1, 2)
        rows, cols = pixels.shape[2] // self.patch_size, pixels.shape[3] // self.patch_size
        return embeddings + self.position_embedding(self.position_ids(rows, cols, pixels.dtype, pixels.device))


class VisionAttention(nn.Module):
    def __init__(self, arch: VisionArchitecture) -> None:
        super().__init__()
        self.num_heads = arch.num_heads
        self.head_dim = arch.hidden_size // arch.num_heads
        self.k_proj = nn.Linear(arch.hidden_size, arch.hidden_size)
        self.v_proj = nn.Linear(arch.hidden_size, arch.hidden_size)
        self.q_proj = nn.Linear(arch.hidden_size, arch.hidden_size)
        self.out_proj = nn.Linear(arch.hidden_size, arch.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        shape = (*hidden.shape[:-1], -1, self.head_dim)
        query, key, value = (
            proj(hidden).view(shape).transpose(1, 2) for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        # transformers' default (SDPA) attention of the vision tower, with its all-zero additive mask
        # (every patch valid): the same kernel as LeRobot's, hence the same rounding.
        length = hidden.shape[1]
        mask = hidden.new_zeros(hidden.shape[0], 1, length, length)
        attended = F.scaled_dot_product_attention(query, key, value, attn_mask=mask, scale=self.head_dim**-0.5)
        return self.out_proj(attended.transpose(1, 2).reshape(*hidden.shape[:-1], -1))


class VisionMLP(nn.Module):
    def __init__(self, arch: VisionArchitecture) -> None:
        super().__init__()
        self.act = _activation(arch.hidden_act)
        self.fc1 = nn.Linear(arch.hidden_size, arch.intermediate_size)
        self.fc2 = nn.Linear(arch.intermediate_size, arch.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(hidden)))


class VisionLayer(nn.Module):
    def __init__(self, arch: VisionArchitecture) -> None:
        super().__init__()
        self.self_attn = VisionAttention(arch)
        self.layer_norm1 = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)
        self.mlp = VisionMLP(arch)
        self.layer_norm2 = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.self_attn(self.layer_norm1(hidden))
        return hidden + self.mlp(self.layer_norm2(hidden))


class VisionEncoder(nn.Module):
    def __init__(self, arch: VisionArchitecture) -> None:
        super().__init__()
        self.layers = nn.ModuleList(VisionLayer(arch) for _ in range(arch.num_layers))


class VisionModel(nn.Module):
    def __init__(self, arch: VisionArchitecture) -> None:
        super().__init__()
        self.embeddings = VisionEmbeddings(arch)
        self.encoder = VisionEncoder(arch)
        self.post_layernorm = nn.LayerNorm(arch.hidden_size, eps=arch.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = self.embeddings(pixels)
        for layer in self.encoder.layers:
            hidden = layer(hidden)
        return self.post_layernorm(hidden)


class ModalityProjection(nn.Module):
    def __init__(self, in_features: int, out_features: int) -> None:
        super().__init__()
        self.proj = nn.Linear(in_features, out_features, bias=False)


class Connector(nn.Module):
    """Pixel shuffle (each `scale × scale` block of patch features becomes one token) and projection."""

    def __init__(self, vision: VisionArchitecture, text_hidden: int) -> None:
        super().__init__()
        self.scale = vision.scale_factor
        self.modality_projection = ModalityProjection(vision.hidden_size * self.scale**2, text_hidden)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = features.shape
        side, scale = int(tokens**0.5), self.scale
        x = features.view(batch, side, side // scale, width * scale).permute(0, 2, 1, 3)
        x = x.reshape(batch, side // scale, side // scale, width * scale**2).permute(0, 2, 1, 3)
        return self.modality_projection.proj(x.reshape(batch, tokens // scale**2, width * scale**2))


# ---------------------------------------------------------------- LLaMA layers (VLM text model, expert)


class RMSNorm(nn.Module):
    def __init__(self, size: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.ones(size))
        self.eps = eps

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        dtype = hidden.dtype
        hidden = hidden.to(torch.float32)
        hidden = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + self.eps)
        return self.weight * hidden.to(dtype)


class Attention(nn.Module):
    def __init__(self, arch: TextArchitecture, kv_in_features: int | None = None) -> None:
        """`kv_in_features`: width of the keys/values a cross-attention layer projects (the VLM's)."""
        super().__init__()
        self.head_dim = arch.head_dim
        kv_in = arch.hidden_size if kv_in_features is None else kv_in_features
        self.q_proj = nn.Linear(arch.hidden_size, arch.num_heads * arch.head_dim, bias=arch.attention_bias)
        self.k_proj = nn.Linear(kv_in, arch.num_kv_heads * arch.head_dim, bias=arch.attention_bias)
        self.v_proj = nn.Linear(kv_in, arch.num_kv_heads * arch.head_dim, bias=arch.attention_bias)
        self.o_proj = nn.Linear(arch.num_heads * arch.head_dim, arch.hidden_size, bias=arch.attention_bias)


class MLP(nn.Module):
    def __init__(self, arch: TextArchitecture) -> None:
        super().__init__()
        self.act = _activation(arch.hidden_act)
        self.gate_proj = nn.Linear(arch.hidden_size, arch.intermediate_size, bias=arch.mlp_bias)
        self.up_proj = nn.Linear(arch.hidden_size, arch.intermediate_size, bias=arch.mlp_bias)
        self.down_proj = nn.Linear(arch.intermediate_size, arch.hidden_size, bias=arch.mlp_bias)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.down_proj(self.act(self.gate_proj(hidden)) * self.up_proj(hidden))


class DecoderLayer(nn.Module):
    def __init__(self, arch: TextArchitecture, kv_in_features: int | None = None) -> None:
        super().__init__()
        self.self_attn = Attention(arch, kv_in_features)
        self.mlp = MLP(arch)
        self.input_layernorm = RMSNorm(arch.hidden_size, arch.rms_norm_eps)
        self.post_attention_layernorm = RMSNorm(arch.hidden_size, arch.rms_norm_eps)

    def project_qkv(self, hidden: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Normalized input → query, key, value `(B, L, heads, head_dim)`."""
        hidden = self.input_layernorm(hidden).to(self.self_attn.q_proj.weight.dtype)
        shape = (*hidden.shape[:-1], -1, self.head_dim)
        attn = self.self_attn
        return attn.q_proj(hidden).view(shape), attn.k_proj(hidden).view(shape), attn.v_proj(hidden).view(shape)

    @property
    def head_dim(self) -> int:
        return self.self_attn.head_dim

    def finish(self, attended: torch.Tensor, residual: torch.Tensor) -> torch.Tensor:
        """Output projection, residual, feed-forward, residual (LeRobot's order and in-place adds)."""
        out = self.self_attn.o_proj(attended.to(self.self_attn.o_proj.weight.dtype))
        out += residual
        after_attention = out.clone()
        out = self.mlp(self.post_attention_layernorm(out))
        out += after_attention
        return out


class TextModel(nn.Module):
    """The VLM's text model, truncated to `num_layers` (LeRobot keeps the first layers)."""

    def __init__(self, arch: TextArchitecture, vocab_size: int) -> None:
        super().__init__()
        self.embed_tokens = nn.Embedding(vocab_size, arch.hidden_size)
        self.layers = nn.ModuleList(DecoderLayer(arch) for _ in range(arch.num_layers))
        self.norm = RMSNorm(arch.hidden_size, arch.rms_norm_eps)


class ExpertModel(nn.Module):
    """The action expert; its cross-attention layers project the VLM's keys and values."""

    def __init__(self, smolvla: SmolVLAArchitecture) -> None:
        super().__init__()
        arch = smolvla.expert
        self.layers = nn.ModuleList(
            DecoderLayer(arch, smolvla.vlm_kv_width if smolvla.expert_projects_vlm_kv(index) else None)
            for index in range(arch.num_layers)
        )
        self.norm = RMSNorm(arch.hidden_size, arch.rms_norm_eps)


def apply_rope(x: torch.Tensor, positions: torch.Tensor, max_wavelength: float = 10_000) -> torch.Tensor:
    """LeRobot's rotary embedding of `x (B, L, H, D)` at `positions (B, L)`, computed in float32."""
    dtype, half = x.dtype, x.shape[-1] // 2
    x = x.to(torch.float32)
    exponents = (2.0 / x.shape[-1]) * torch.arange(half, dtype=torch.float32, device=x.device)
    radians = (positions[..., None].to(torch.float32) / (max_wavelength**exponents)[None, None, :])[..., None, :]
    sin, cos = torch.sin(radians), torch.cos(radians)
    x1, x2 = x.split(half, dim=-1)
    out = torch.empty_like(x)
    out[..., :half] = x1 * cos - x2 * sin
    out[..., half:] = x2 * cos + x1 * sin
    return out.to(dtype)


def eager_attention(
    mask: torch.Tensor, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, *, num_heads: int, head_dim: int
) -> torch.Tensor:
    """LeRobot's grouped-query attention: float32 scores, boolean `mask (B, Lq, Lk)` → `(B, Lq, H·D)`."""
    batch, length, kv_heads = key.shape[0], key.shape[1], key.shape[2]
    groups = num_heads // kv_heads
    key = key[:, :, :, None, :].expand(batch, length, kv_heads, groups, head_dim).reshape(batch, length, -1, head_dim)
    value = (
        value[:, :, :, None, :].expand(batch, length, kv_heads, groups, head_dim).reshape(batch, length, -1, head_dim)
    )
    scores = torch.matmul(
        query.to(torch.float32).transpose(1, 2), key.to(torch.float32).transpose(1, 2).transpose(2, 3)
    )
    scores *= head_dim**-0.5
    scores = torch.where(mask[:, None, :, :], scores, torch.finfo(torch.float32).min)
    probs = F.softmax(scores, dim=-1).to(value.dtype)
    out = torch.matmul(probs, value.permute(0, 2, 1, 3)).permute(0, 2, 1, 3)
    return out.reshape(batch, -1, num_heads * head_dim)


class SmolVLMBackbone(nn.Module):
    """`vlm.model.{vision_model, connector, text_model}` (the VLM's `lm_head` is unused and not built)."""

    def __init__(self, arch: SmolVLAArchitecture) -> None:
        super().__init__()
        self.vision_model = VisionModel(arch.vision)
        self.connector = Connector(arch.vision, arch.text.hidden_size)
        self.text_model = TextModel(arch.text, arch.vocab_size)


class SmolVLMHolder(nn.Module):
    def __init__(self, arch: SmolVLAArchitecture) -> None:
        super().__init__()
        self.model = SmolVLMBackbone(arch)


class VLMWithExpert(nn.Module):
    def __init__(self, arch: SmolVLAArchitecture) -> None:
        super().__init__()
        self.arch = arch
        self.vlm = SmolVLMHolder(arch)
        self.lm_expert = ExpertModel(arch)

    @property
    def backbone(self) -> SmolVLMBackbone:
        return self.vlm.model

    def expert_layer(self, layer: int) -> DecoderLayer | None:
        index = self.arch.expert_layer_index(layer)
        return None if index is None else self.lm_expert.layers[index]

    def _attend(self, mask: torch.Tensor, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor) -> torch.Tensor:
        return eager_attention(
            mask, query, key, value, num_heads=self.arch.text.num_heads, head_dim=self.arch.text.head_dim
        )

    def fill_cache(self, embeddings: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor) -> KVCache:
        """Run the prefix through the VLM's text layers; keep every layer's keys and values."""
        cache: KVCache = []
        hidden = embeddings
        for layer in self.backbone.text_model.layers:
            query, key, value = layer.project_qkv(hidden)
            query, key = apply_rope(query, positions), apply_rope(key, positions)
            cache.append((key, value))
            hidden = layer.finish(self._attend(mask, query, key, value), hidden)
        return cache

    def denoise(
        self, suffix: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, cache: KVCache
    ) -> torch.Tensor:
        """The expert over the action tokens, attending to the cached prefix; returns normalized output."""
        hidden = suffix
        chunk = suffix.shape[1]
        for index, (prefix_key, prefix_value) in enumerate(cache):
            layer = self.expert_layer(index)
            if layer is None:
                continue  # a cross-attention layer the expert skips: hidden passes through
            if self.arch.is_self_attention_layer(index):
                query, key, value = layer.project_qkv(hidden)
                query, key = apply_rope(query, positions), apply_rope(key, positions)
                key = torch.cat([prefix_key, key], dim=1)
                value = torch.cat([prefix_value, value], dim=1)
                attended = self._attend(mask, query, key, value)
            else:
                normed = layer.input_layernorm(hidden).to(layer.self_attn.q_proj.weight.dtype)
                query = layer.self_attn.q_proj(normed).view(*normed.shape[:-1], -1, layer.head_dim)
                keys_in = prefix_key.to(layer.self_attn.k_proj.weight.dtype).view(*prefix_key.shape[:2], -1)
                values_in = prefix_value.to(layer.self_attn.v_proj.weight.dtype).view(*prefix_value.shape[:2], -1)
                key = layer.self_attn.k_proj(keys_in).view(*keys_in.shape[:-1], -1, layer.head_dim)
                value = layer.self_attn.v_proj(values_in).view(*values_in.shape[:-1], -1, layer.head_dim)
                expert_positions = positions - torch.min(positions, dim=1, keepdim=True).values
                query = apply_rope(query, expert_positions)
                attended = self._attend(mask[:, -chunk:, : key.shape[1]], query, key, value)
            hidden = layer.finish(attended, hidden)
        return self.lm_expert.norm(hidden)


class SmolVLAFlowModel(nn.Module):
    """LeRobot's `VLAFlowMatching` (inference): prefix = images, language, state; suffix = noisy actions."""

    def __init__(self, arch: SmolVLAArchitecture) -> None:
        super().__init__()
        self.arch = arch
        self.vlm_with_expert = VLMWithExpert(arch)
        expert_hidden = arch.expert.hidden_size
        self.state_proj = nn.Linear(arch.max_state_dim, arch.text.hidden_size)
        self.action_in_proj = nn.Linear(arch.max_action_dim, expert_hidden)
        self.action_out_proj = nn.Linear(expert_hidden, arch.max_action_dim)
        self.action_time_mlp_in = nn.Linear(expert_hidden * 2, expert_hidden)
        self.action_time_mlp_out = nn.Linear(expert_hidden, expert_hidden)

    def embed_image(self, image: torch.Tensor) -> torch.Tensor:
        backbone = self.vlm_with_expert.backbone
        features = backbone.vision_model(image.to(backbone.vision_model.post_layernorm.weight.dtype))
        embedded = backbone.connector(features)
        return embedded * torch.tensor(embedded.shape[-1] ** 0.5, dtype=embedded.dtype, device=embedded.device)

    def embed_tokens(self, tokens: torch.Tensor) -> torch.Tensor:
        return self.vlm_with_expert.backbone.text_model.embed_tokens(tokens)

    def embed_prefix(
        self,
        images: list[torch.Tensor],
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        state: torch.Tensor,
        image_special_tokens: tuple[torch.Tensor, torch.Tensor] | None,
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Embeddings, padding mask and attention-block mask of the prefix."""
        batch = state.shape[0]
        embeddings, pad, blocks = [], [], []

        def add(embedding: torch.Tensor, mask: torch.Tensor, block: int) -> None:
            embeddings.append(embedding)
            pad.append(mask)
            blocks.extend([block] * embedding.shape[1])

        def add_tokens(ids: torch.Tensor) -> None:
            embedded = self.embed_tokens(ids.to(tokens.device)).unsqueeze(0).expand(batch, -1, -1)
            add(embedded, torch.ones(embedded.shape[:2], dtype=torch.bool, device=embedded.device), 0)

        for image in images:
            if image_special_tokens is not None:
                add_tokens(image_special_tokens[0])
            embedded = self.embed_image(image)
            add(embedded, torch.ones(embedded.shape[:2], dtype=torch.bool, device=embedded.device), 0)
            if image_special_tokens is not None:
                add_tokens(image_special_tokens[1])
        language = self.embed_tokens(tokens)
        add(language * math.sqrt(language.shape[-1]), token_mask, 0)
        state_embedding = self.state_proj(state)[:, None, :]
        add(state_embedding, torch.ones(batch, 1, dtype=torch.bool, device=state.device), 1)
        embedding = torch.cat(embeddings, dim=1)
        pad_mask = torch.cat(pad, dim=1)
        block_mask = torch.tensor(blocks, dtype=torch.bool, device=pad_mask.device)[None, :]
        missing = self.arch.prefix_length - pad_mask.shape[1]
        if missing > 0:  # pad to a fixed prefix length with invalid tokens
            embedding = torch.cat([embedding, embedding.new_zeros(batch, missing, embedding.shape[2])], dim=1)
            pad_mask = torch.cat([pad_mask, pad_mask.new_zeros(batch, missing)], dim=1)
            block_mask = torch.cat([block_mask, block_mask.new_zeros(1, missing)], dim=1)
        return embedding, pad_mask, block_mask.expand(batch, -1)

    def embed_suffix(self, noisy_actions: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
        action = self.action_in_proj(noisy_actions)
        time_embedding = sinusoidal_embedding(
            time, self.arch.expert.hidden_size, self.arch.min_period, self.arch.max_period
        ).type(action.dtype)
        fused = torch.cat([action, time_embedding[:, None, :].expand_as(action)], dim=2)
        return self.action_time_mlp_out(F.silu(self.action_time_mlp_in(fused)))

    def prepare(
        self,
        images: list[torch.Tensor],
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        state: torch.Tensor,
        image_special_tokens: tuple[torch.Tensor, torch.Tensor] | None = None,
    ):
        """Encode the prefix once; returns the velocity function of the denoising loop."""
        embedding, pad_mask, block_mask = self.embed_prefix(images, tokens, token_mask, state, image_special_tokens)
        positions = torch.cumsum(pad_mask, dim=1) - 1
        cache = self.vlm_with_expert.fill_cache(embedding, block_causal_mask(pad_mask, block_mask), positions)
        chunk = self.arch.chunk_size
        batch, prefix_len = pad_mask.shape
        suffix_pad = torch.ones(batch, chunk, dtype=torch.bool, device=pad_mask.device)
        suffix_blocks = torch.ones(batch, chunk, dtype=torch.float32, device=pad_mask.device)
        mask = torch.cat(
            [pad_mask[:, None, :].expand(batch, chunk, prefix_len), block_causal_mask(suffix_pad, suffix_blocks)],
            dim=2,
        )
        suffix_positions = torch.sum(pad_mask, dim=-1)[:, None] + torch.cumsum(suffix_pad, dim=1) - 1

        def velocity(x_t: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            suffix = self.embed_suffix(x_t, time)
            out = self.vlm_with_expert.denoise(suffix, mask, suffix_positions, cache)
            return self.action_out_proj(out[:, -chunk:].to(torch.float32))

        return velocity
