"""Pi0 in plain torch: PaliGemma (SigLIP vision tower, projector, Gemma) and the Gemma action expert,
with module names that load LeRobot's `model.*` weights unchanged.

The arithmetic is LeRobot 0.4.4's `PI0Pytorch` running on transformers with openpi's Gemma changes,
operation for operation: SigLIP with SDPA attention and no mask; Gemma RMSNorm `x·(1 + w)` in
float32; rotary embeddings as `GemmaRotaryEmbedding` computes them (cos/sin cast to the activations'
dtype); eager attention with an additive float32 mask of LeRobot's mask value, softmax in float32;
language embeddings scaled by √width, image features not; no input scaling inside Gemma. Inference
runs the prefix (images, language) once through PaliGemma's layers and keeps every layer's keys and
values; each denoising step runs the suffix (state, noisy actions) through the expert's layers,
attending to the cached prefix and to itself: the layer-by-layer joint attention of Pi0 with the
prefix half reused. In bfloat16 (GPU) the same parameters as LeRobot's stay float32 and activations
are cast where LeRobot's are.
"""

from __future__ import annotations

import math
from collections.abc import Callable

import torch
import torch.nn.functional as F  # noqa: N812
from torch import nn

from lerobot_ros_policy.runtimes.flow_matching.tokens import block_causal_mask, sinusoidal_embedding
from lerobot_ros_policy.runtimes.pi0.config import GemmaSize, Pi0Architecture, SiglipSize

# LeRobot's (openpi's) additive mask value for masked attention scores.
ATTENTION_MASK_VALUE = -2.3819763e38
# Parameters LeRobot keeps float32 when it casts the backbone to bfloat16 (substrings of their names
# under `paligemma_with_expert`).
FLOAT32_PARAMETERS = (
    "vision_tower.vision_model.embeddings.patch_embedding.weight",
    "vision_tower.vision_model.embeddings.patch_embedding.bias",
    "vision_tower.vision_model.embeddings.position_embedding.weight",
    "input_layernorm",
    "post_attention_layernorm",
    "model.norm",
)

KVCache = list[tuple[torch.Tensor, torch.Tensor]]
"""Per PaliGemma layer: the prefix's keys (after rotary embedding) and values, `(B, kv_heads, L, head_dim)`."""
Velocity = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def gelu_tanh(x: torch.Tensor) -> torch.Tensor:
    return F.gelu(x, approximate="tanh")


# ---------------------------------------------------------------- SigLIP vision tower


class SiglipEmbeddings(nn.Module):
    def __init__(self, size: SiglipSize, image_size: int) -> None:
        super().__init__()
        self.patch_embedding = nn.Conv2d(3, size.hidden_size, size.patch_size, size.patch_size)
        self.position_embedding = nn.Embedding((image_size // size.patch_size) ** 2, size.hidden_size)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        patches = self.patch_embedding(pixels.to(self.patch_embedding.weight.dtype)).flatten(2).transpose(1, 2)
        return patches + self.position_embedding.weight[None]


class SiglipAttention(nn.Module):
    def __init__(self, size: SiglipSize) -> None:
        super().__init__()
        self.num_heads = size.num_heads
        self.head_dim = size.hidden_size // size.num_heads
        self.k_proj = nn.Linear(size.hidden_size, size.hidden_size)
        self.v_proj = nn.Linear(size.hidden_size, size.hidden_size)
        self.q_proj = nn.Linear(size.hidden_size, size.hidden_size)
        self.out_proj = nn.Linear(size.hidden_size, size.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        batch, length, width = hidden.shape
        q, k, v = (
            proj(hidden).view(batch, length, self.num_heads, self.head_dim).transpose(1, 2)
            for proj in (self.q_proj, self.k_proj, self.v_proj)
        )
        attended = F.scaled_dot_product_attention(q, k, v, attn_mask=None, dropout_p=0.0, scale=self.head_dim**-0.5)
        return self.out_proj(attended.transpose(1, 2).contiguous().reshape(batch, length, width))


class SiglipMLP(nn.Module):
    def __init__(self, size: SiglipSize) -> None:
        super().__init__()
        self.fc1 = nn.Linear(size.hidden_size, size.intermediate_size)
        self.fc2 = nn.Linear(size.intermediate_size, size.hidden_size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.fc2(gelu_tanh(self.fc1(hidden)))


class SiglipLayer(nn.Module):
    def __init__(self, size: SiglipSize) -> None:
        super().__init__()
        self.layer_norm1 = nn.LayerNorm(size.hidden_size, eps=size.layer_norm_eps)
        self.self_attn = SiglipAttention(size)
        self.layer_norm2 = nn.LayerNorm(size.hidden_size, eps=size.layer_norm_eps)
        self.mlp = SiglipMLP(size)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        hidden = hidden + self.self_attn(self.layer_norm1(hidden))
        return hidden + self.mlp(self.layer_norm2(hidden))


class SiglipEncoder(nn.Module):
    def __init__(self, size: SiglipSize) -> None:
        super().__init__()
        self.layers = nn.ModuleList(SiglipLayer(size) for _ in range(size.num_layers))


class SiglipVisionModel(nn.Module):
    def __init__(self, size: SiglipSize, image_size: int) -> None:
        super().__init__()
        self.embeddings = SiglipEmbeddings(size, image_size)
        self.encoder = SiglipEncoder(size)
        self.post_layernorm = nn.LayerNorm(size.hidden_size, eps=size.layer_norm_eps)

    def forward(self, pixels: torch.Tensor) -> torch.Tensor:
        hidden = self.embeddings(pixels).to(self.post_layernorm.weight.dtype)
        for layer in self.encoder.layers:
            hidden = layer(hidden)
        return self.post_layernorm(hidden)


class VisionTower(nn.Module):
    def __init__(self, size: SiglipSize, image_size: int) -> None:
        super().__init__()
        self.vision_model = SiglipVisionModel(size, image_size)


class Projector(nn.Module):
    def __init__(self, size: SiglipSize) -> None:
        super().__init__()
        self.linear = nn.Linear(size.hidden_size, size.projection_dim)


# ---------------------------------------------------------------- Gemma


class GemmaRMSNorm(nn.Module):
    def __init__(self, width: int, eps: float) -> None:
        super().__init__()
        self.weight = nn.Parameter(torch.zeros(width))
        self.eps = eps

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        hidden = x.float()
        hidden = hidden * torch.rsqrt(hidden.pow(2).mean(-1, keepdim=True) + self.eps)
        return (hidden * (1.0 + self.weight.float())).type_as(x)


class GemmaAttention(nn.Module):
    def __init__(self, size: GemmaSize) -> None:
        super().__init__()
        self.q_proj = nn.Linear(size.width, size.num_heads * size.head_dim, bias=False)
        self.k_proj = nn.Linear(size.width, size.num_kv_heads * size.head_dim, bias=False)
        self.v_proj = nn.Linear(size.width, size.num_kv_heads * size.head_dim, bias=False)
        self.o_proj = nn.Linear(size.num_heads * size.head_dim, size.width, bias=False)


class GemmaMLP(nn.Module):
    def __init__(self, size: GemmaSize) -> None:
        super().__init__()
        self.gate_proj = nn.Linear(size.width, size.mlp_dim, bias=False)
        self.up_proj = nn.Linear(size.width, size.mlp_dim, bias=False)
        self.down_proj = nn.Linear(size.mlp_dim, size.width, bias=False)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return self.down_proj(gelu_tanh(self.gate_proj(hidden)) * self.up_proj(hidden))


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat((-x[..., half:], x[..., :half]), dim=-1)


class GemmaLayer(nn.Module):
    def __init__(self, size: GemmaSize) -> None:
        super().__init__()
        self.size = size
        self.self_attn = GemmaAttention(size)
        self.mlp = GemmaMLP(size)
        self.input_layernorm = GemmaRMSNorm(size.width, size.rms_norm_eps)
        self.post_attention_layernorm = GemmaRMSNorm(size.width, size.rms_norm_eps)

    def forward(
        self,
        hidden: torch.Tensor,
        rotary: tuple[torch.Tensor, torch.Tensor],
        mask: torch.Tensor,
        prefix: tuple[torch.Tensor, torch.Tensor] | None = None,
    ) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        """One decoder layer over `hidden (B, L, width)`; with `prefix` (cached keys and values), the
        tokens also attend to it. `mask`: additive `(B, 1, L, prefix + L)`. Returns the output and this
        layer's own (rotated) keys and values."""
        size, attn = self.size, self.self_attn
        batch, length, _ = hidden.shape
        normed = self.input_layernorm(hidden)
        shape = (batch, length, -1, size.head_dim)
        query = attn.q_proj(normed).view(shape).transpose(1, 2)
        key = attn.k_proj(normed).view(shape).transpose(1, 2)
        value = attn.v_proj(normed).view(shape).transpose(1, 2)
        cos, sin = (part.unsqueeze(1) for part in rotary)
        query = query * cos + rotate_half(query) * sin
        key = key * cos + rotate_half(key) * sin
        own = (key, value)
        if prefix is not None:
            key, value = torch.cat([prefix[0], key], dim=2), torch.cat([prefix[1], value], dim=2)
        groups = size.num_heads // size.num_kv_heads
        if groups > 1:
            key = key[:, :, None].expand(batch, size.num_kv_heads, groups, *key.shape[2:]).flatten(1, 2)
            value = value[:, :, None].expand(batch, size.num_kv_heads, groups, *value.shape[2:]).flatten(1, 2)
        scores = torch.matmul(query, key.transpose(2, 3)) * size.head_dim**-0.5
        scores = scores + mask[:, :, :, : key.shape[-2]]
        probs = F.softmax(scores, dim=-1, dtype=torch.float32).to(query.dtype)
        attended = torch.matmul(probs, value).transpose(1, 2).contiguous().reshape(batch, length, -1)
        hidden = hidden + attn.o_proj(attended)
        hidden = hidden + self.mlp(self.post_attention_layernorm(hidden))
        return hidden, own


class GemmaModel(nn.Module):
    def __init__(self, size: GemmaSize, vocab_size: int | None) -> None:
        """`vocab_size` None: no token embedding (the expert reads embeddings only)."""
        super().__init__()
        self.size = size
        if vocab_size is not None:
            self.embed_tokens = nn.Embedding(vocab_size, size.width)
        self.layers = nn.ModuleList(GemmaLayer(size) for _ in range(size.depth))
        self.norm = GemmaRMSNorm(size.width, size.rms_norm_eps)

    def rotary(self, positions: torch.Tensor, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        """`GemmaRotaryEmbedding`: cos and sin `(B, L, head_dim)` for integer `positions (B, L)`. Its
        inverse frequencies are a buffer computed on the CPU, which LeRobot's cast of the backbone to
        bfloat16 rounds too: so do they here when the layers are bfloat16."""
        dim = self.size.head_dim
        exponents = torch.arange(0, dim, 2, dtype=torch.int64).float() / dim
        inv_freq = (1.0 / (self.size.rope_theta**exponents)).to(self.dtype).float().to(positions.device)
        inv_freq = inv_freq[None, :, None].expand(positions.shape[0], -1, 1)
        freqs = (inv_freq @ positions[:, None, :].float()).transpose(1, 2)
        emb = torch.cat((freqs, freqs), dim=-1)
        return emb.cos().to(dtype), emb.sin().to(dtype)

    @property
    def dtype(self) -> torch.dtype:
        return self.layers[0].self_attn.q_proj.weight.dtype


class PaliGemmaModel(nn.Module):
    def __init__(self, arch: Pi0Architecture) -> None:
        super().__init__()
        self.vision_tower = VisionTower(arch.vision, arch.image_size)
        self.multi_modal_projector = Projector(arch.vision)
        self.language_model = GemmaModel(arch.vlm, arch.vocab_size)

    def embed_image(self, image: torch.Tensor) -> torch.Tensor:
        return self.multi_modal_projector.linear(self.vision_tower.vision_model(image))


class PaliGemma(nn.Module):
    """`paligemma` (its `lm_head` is never read at inference and is not built)."""

    def __init__(self, arch: Pi0Architecture) -> None:
        super().__init__()
        self.model = PaliGemmaModel(arch)


class GemmaExpert(nn.Module):
    """`gemma_expert` (no token embedding; its `lm_head` is not built)."""

    def __init__(self, size: GemmaSize) -> None:
        super().__init__()
        self.model = GemmaModel(size, None)


class PaliGemmaWithExpert(nn.Module):
    def __init__(self, arch: Pi0Architecture) -> None:
        super().__init__()
        self.paligemma = PaliGemma(arch)
        self.gemma_expert = GemmaExpert(arch.expert)

    def to_bfloat16(self) -> None:
        """LeRobot's bfloat16 precision: everything bfloat16 but the patch/position embeddings and norms,
        which keep the checkpoint's values (never rounded through bfloat16)."""
        for name, param in self.named_parameters():
            keep = any(selector in name for selector in FLOAT32_PARAMETERS)
            param.data = param.data.to(torch.float32 if keep else torch.bfloat16)


def additive_mask(mask: torch.Tensor) -> torch.Tensor:
    """Boolean `(B, Lq, Lk)` → LeRobot's additive float32 `(B, 1, Lq, Lk)`."""
    return torch.where(mask[:, None, :, :], 0.0, ATTENTION_MASK_VALUE)


class Pi0FlowModel(nn.Module):
    """LeRobot's `PI0Pytorch` (inference): prefix = images, language; suffix = state, noisy actions."""

    def __init__(self, arch: Pi0Architecture) -> None:
        super().__init__()
        self.arch = arch
        self.paligemma_with_expert = PaliGemmaWithExpert(arch)
        width = arch.expert.width
        self.action_in_proj = nn.Linear(arch.max_action_dim, width)
        self.action_out_proj = nn.Linear(width, arch.max_action_dim)
        self.state_proj = nn.Linear(arch.max_state_dim, width)
        self.action_time_mlp_in = nn.Linear(2 * width, width)
        self.action_time_mlp_out = nn.Linear(width, width)

    @property
    def vlm(self) -> PaliGemmaModel:
        return self.paligemma_with_expert.paligemma.model

    @property
    def expert(self) -> GemmaModel:
        return self.paligemma_with_expert.gemma_expert.model

    def embed_prefix(
        self,
        images: list[torch.Tensor],
        image_masks: list[torch.Tensor],
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Embeddings and padding mask of the prefix (all prefix tokens attend to each other)."""
        embeddings, pads = [], []
        for image, image_mask in zip(images, image_masks, strict=True):
            embedded = self.vlm.embed_image(image)
            embeddings.append(embedded)
            pads.append(image_mask[:, None].expand(*embedded.shape[:2]))
        language = self.vlm.language_model.embed_tokens(tokens)
        embeddings.append(language * math.sqrt(language.shape[-1]))
        pads.append(token_mask)
        return torch.cat(embeddings, dim=1), torch.cat(pads, dim=1)

    def fill_cache(self, embeddings: torch.Tensor, pad_mask: torch.Tensor) -> KVCache:
        """Run the prefix through PaliGemma's layers; keep every layer's keys and values."""
        language_model = self.vlm.language_model
        hidden = embeddings.to(language_model.dtype) if language_model.dtype == torch.bfloat16 else embeddings
        positions = torch.cumsum(pad_mask, dim=1) - 1
        rotary = language_model.rotary(positions, hidden.dtype)
        mask = additive_mask(block_causal_mask(pad_mask, torch.zeros_like(pad_mask)))
        cache: KVCache = []
        for layer in language_model.layers:
            hidden, own = layer(hidden, rotary, mask)
            cache.append(own)
        return cache

    def prepare(
        self,
        images: list[torch.Tensor],
        image_masks: list[torch.Tensor],
        tokens: torch.Tensor,
        token_mask: torch.Tensor,
        state: torch.Tensor,
    ) -> Velocity:
        """Encode the prefix once; returns the velocity function of the denoising loop."""
        embeddings, pad_mask = self.embed_prefix(images, image_masks, tokens, token_mask)
        cache = self.fill_cache(embeddings, pad_mask)
        arch, expert = self.arch, self.expert
        batch, prefix_len = pad_mask.shape
        suffix_len = arch.chunk_size + 1  # the state token, then the actions
        suffix_pad = torch.ones(batch, suffix_len, dtype=torch.bool, device=pad_mask.device)
        suffix_blocks = torch.zeros(batch, suffix_len, dtype=torch.float32, device=pad_mask.device)
        suffix_blocks[:, :2] = 1  # state and actions are causal blocks: the state does not see the actions
        mask = additive_mask(
            torch.cat(
                [
                    pad_mask[:, None, :].expand(batch, suffix_len, prefix_len),
                    block_causal_mask(suffix_pad, suffix_blocks),
                ],
                dim=2,
            )
        )
        positions = torch.sum(pad_mask, dim=-1)[:, None] + torch.cumsum(suffix_pad, dim=1) - 1
        bfloat16 = expert.dtype == torch.bfloat16
        rotary = expert.rotary(positions, torch.bfloat16 if bfloat16 else torch.float32)
        if self.state_proj.weight.dtype == torch.float32:
            state = state.to(torch.float32)
        state_embedding = self.state_proj(state)[:, None, :]

        def velocity(x_t: torch.Tensor, time: torch.Tensor) -> torch.Tensor:
            time_embedding = sinusoidal_embedding(time, arch.expert.width, arch.min_period, arch.max_period)
            action = self.action_in_proj(x_t)
            time_embedding = time_embedding.type(time.dtype)[:, None, :].expand_as(action)
            fused = self.action_time_mlp_out(F.silu(self.action_time_mlp_in(torch.cat([action, time_embedding], 2))))
            hidden = torch.cat([state_embedding, fused], dim=1)
            if bfloat16:
                hidden = hidden.to(torch.bfloat16)
            for layer, prefix in zip(expert.layers, cache, strict=True):
                hidden, _ = layer(hidden, rotary, mask, prefix)
            out = expert.norm(hidden)[:, -arch.chunk_size :].to(torch.float32)
            return self.action_out_proj(out)

        return velocity
