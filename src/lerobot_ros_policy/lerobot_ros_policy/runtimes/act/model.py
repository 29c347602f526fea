"""The ACT network (Zhao et al. 2023, "Learning Fine-Grained Bimanual Manipulation with Low-Cost
Hardware") for inference, with the module names of LeRobot's `ACT` so its `model.*` weights load
unchanged. The VAE encoder is built (its weights are part of every checkpoint) but inference never
runs it: the latent is zero, as in LeRobot at evaluation time.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import torch
import torch.nn.functional as F  # noqa: N812
from torch import Tensor, nn

from lerobot_ros_policy.checkpoint import OBS_ENV_STATE, OBS_STATE, PolicyConfig, UnsupportedPolicyError
from lerobot_ros_policy.runtimes.act.resnet import BASIC_BLOCK_LAYERS, ResNetBackbone

ACTIVATIONS: dict[str, Callable[[Tensor], Tensor]] = {"relu": F.relu, "gelu": F.gelu}


@dataclass(frozen=True)
class ACTArchitecture:
    """The architecture fields of an ACT `config.json` (LeRobot's ACTConfig defaults where absent)."""

    dim_model: int = 512
    n_heads: int = 8
    dim_feedforward: int = 3200
    feedforward_activation: str = "relu"
    n_encoder_layers: int = 4
    n_decoder_layers: int = 1
    pre_norm: bool = False
    use_vae: bool = True
    latent_dim: int = 32
    n_vae_encoder_layers: int = 4
    vision_backbone: str = "resnet18"
    replace_final_stride_with_dilation: bool = False

    @classmethod
    def from_config(cls, config: PolicyConfig) -> ACTArchitecture:
        raw = config.raw
        arch = cls(**{name: raw[name] for name in cls.__dataclass_fields__ if raw.get(name) is not None})
        where = "ACT config.json"
        if arch.vision_backbone not in BASIC_BLOCK_LAYERS:
            raise UnsupportedPolicyError(
                f"{where}: vision_backbone '{arch.vision_backbone}' not supported (supported: "
                f"{sorted(BASIC_BLOCK_LAYERS)})"
            )
        if arch.replace_final_stride_with_dilation:
            raise UnsupportedPolicyError(
                f"{where}: replace_final_stride_with_dilation=true is not supported (torchvision's basic-block "
                "ResNets refuse dilation too, so LeRobot cannot run it either)"
            )
        if arch.feedforward_activation not in ACTIVATIONS:
            raise UnsupportedPolicyError(
                f"{where}: feedforward_activation '{arch.feedforward_activation}' not supported "
                f"(supported: {sorted(ACTIVATIONS)})"
            )
        if arch.dim_model % arch.n_heads:
            raise UnsupportedPolicyError(f"{where}: dim_model {arch.dim_model} not divisible by n_heads {arch.n_heads}")
        if config.n_obs_steps != 1:
            raise UnsupportedPolicyError(f"{where}: n_obs_steps={config.n_obs_steps}, ACT supports only 1")
        if not config.image_features and config.env_state_feature is None:
            raise UnsupportedPolicyError(
                f"{where}: ACT needs at least one image or observation.environment_state input"
            )
        return arch


def sinusoidal_table(num_positions: int, dimension: int) -> Tensor:
    """1-D sinusoidal position table (Vaswani et al.): sin on even, cos on odd dimensions (float64 → float32)."""
    position = torch.arange(num_positions, dtype=torch.float64).unsqueeze(1)
    exponent = 2 * (torch.arange(dimension, dtype=torch.float64) // 2) / dimension
    angles = position / torch.pow(torch.tensor(10000.0, dtype=torch.float64), exponent)
    table = torch.empty_like(angles)
    table[:, 0::2] = torch.sin(angles[:, 0::2])
    table[:, 1::2] = torch.cos(angles[:, 1::2])
    return table.float()


def sinusoidal_2d(height: int, width: int, dimension: int, device: torch.device) -> Tensor:
    """ACT's 2-D sinusoidal embedding of an (H, W) feature map: `(1, 2·dimension, H, W)`.

    Positions 1..H and 1..W scaled to (0, 2π] (with DETR's 1e-6 in the denominator); per axis,
    interleaved sin/cos over `dimension` frequencies; y channels first, then x.
    """
    eps, two_pi = 1e-6, 2 * math.pi
    ones = torch.ones(1, height, width, device=device)
    y = ones.cumsum(1, dtype=torch.float32)
    x = ones.cumsum(2, dtype=torch.float32)
    y = y / (y[:, -1:, :] + eps) * two_pi
    x = x / (x[:, :, -1:] + eps) * two_pi
    frequencies = 10000 ** (2 * (torch.arange(dimension, dtype=torch.float32, device=device) // 2) / dimension)
    x = x.unsqueeze(-1) / frequencies
    y = y.unsqueeze(-1) / frequencies
    embed_x = torch.stack((x[..., 0::2].sin(), x[..., 1::2].cos()), dim=-1).flatten(3)
    embed_y = torch.stack((y[..., 0::2].sin(), y[..., 1::2].cos()), dim=-1).flatten(3)
    return torch.cat((embed_y, embed_x), dim=3).permute(0, 3, 1, 2)


def _with_pos(x: Tensor, pos: Tensor | None) -> Tensor:
    return x if pos is None else x + pos


class EncoderLayer(nn.Module):
    """Self-attention + feed-forward, post-norm (DETR/ACT default) or pre-norm."""

    def __init__(self, arch: ACTArchitecture) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(arch.dim_model, arch.n_heads)
        self.linear1 = nn.Linear(arch.dim_model, arch.dim_feedforward)
        self.linear2 = nn.Linear(arch.dim_feedforward, arch.dim_model)
        self.norm1 = nn.LayerNorm(arch.dim_model)
        self.norm2 = nn.LayerNorm(arch.dim_model)
        self.activation = ACTIVATIONS[arch.feedforward_activation]
        self.pre_norm = arch.pre_norm

    def forward(self, x: Tensor, pos: Tensor | None) -> Tensor:
        skip = x
        if self.pre_norm:
            x = self.norm1(x)
        q = k = _with_pos(x, pos)
        x = skip + self.self_attn(q, k, x, need_weights=True)[0]
        if self.pre_norm:
            skip = x
            x = self.norm2(x)
        else:
            x = skip = self.norm1(x)
        x = skip + self.linear2(self.activation(self.linear1(x)))
        return x if self.pre_norm else self.norm2(x)


class DecoderLayer(nn.Module):
    """Self-attention over the action queries, cross-attention to the encoder, feed-forward."""

    def __init__(self, arch: ACTArchitecture) -> None:
        super().__init__()
        self.self_attn = nn.MultiheadAttention(arch.dim_model, arch.n_heads)
        self.multihead_attn = nn.MultiheadAttention(arch.dim_model, arch.n_heads)
        self.linear1 = nn.Linear(arch.dim_model, arch.dim_feedforward)
        self.linear2 = nn.Linear(arch.dim_feedforward, arch.dim_model)
        self.norm1 = nn.LayerNorm(arch.dim_model)
        self.norm2 = nn.LayerNorm(arch.dim_model)
        self.norm3 = nn.LayerNorm(arch.dim_model)
        self.activation = ACTIVATIONS[arch.feedforward_activation]
        self.pre_norm = arch.pre_norm

    def forward(self, x: Tensor, memory: Tensor, pos: Tensor, memory_pos: Tensor) -> Tensor:
        skip = x
        if self.pre_norm:
            x = self.norm1(x)
        q = k = x + pos
        x = skip + self.self_attn(q, k, x, need_weights=True)[0]
        if self.pre_norm:
            skip = x
            x = self.norm2(x)
        else:
            x = skip = self.norm1(x)
        x = skip + self.multihead_attn(x + pos, memory + memory_pos, memory, need_weights=True)[0]
        if self.pre_norm:
            skip = x
            x = self.norm3(x)
        else:
            x = skip = self.norm2(x)
        x = skip + self.linear2(self.activation(self.linear1(x)))
        return x if self.pre_norm else self.norm3(x)


class Encoder(nn.Module):
    def __init__(self, arch: ACTArchitecture, num_layers: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList(EncoderLayer(arch) for _ in range(num_layers))
        self.norm = nn.LayerNorm(arch.dim_model) if arch.pre_norm else nn.Identity()

    def forward(self, x: Tensor, pos: Tensor | None = None) -> Tensor:
        for layer in self.layers:
            x = layer(x, pos)
        return self.norm(x)


class Decoder(nn.Module):
    def __init__(self, arch: ACTArchitecture) -> None:
        super().__init__()
        self.layers = nn.ModuleList(DecoderLayer(arch) for _ in range(arch.n_decoder_layers))
        self.norm = nn.LayerNorm(arch.dim_model)

    def forward(self, x: Tensor, memory: Tensor, pos: Tensor, memory_pos: Tensor) -> Tensor:
        for layer in self.layers:
            x = layer(x, memory, pos, memory_pos)
        return self.norm(x)


class ACTModel(nn.Module):
    """Observation tokens [latent, state?, env_state?, camera pixels...] → transformer → action chunk.

    Inputs are normalized tensors with a batch dimension; cameras in `config.json` order.
    """

    def __init__(self, config: PolicyConfig, arch: ACTArchitecture) -> None:
        super().__init__()
        self.arch = arch
        self.chunk_size = config.chunk_size
        self.image_keys = list(config.image_features)
        state = config.robot_state_feature
        env_state = config.env_state_feature
        action_dim = config.action_feature.shape[0]
        d = arch.dim_model

        if arch.use_vae:  # training-only; present so that checkpoints load strictly
            self.vae_encoder = Encoder(arch, arch.n_vae_encoder_layers)
            self.vae_encoder_cls_embed = nn.Embedding(1, d)
            if state is not None:
                self.vae_encoder_robot_state_input_proj = nn.Linear(state.shape[0], d)
            self.vae_encoder_action_input_proj = nn.Linear(action_dim, d)
            self.vae_encoder_latent_output_proj = nn.Linear(d, arch.latent_dim * 2)
            vae_tokens = 1 + config.chunk_size + (1 if state is not None else 0)
            self.register_buffer("vae_encoder_pos_enc", sinusoidal_table(vae_tokens, d).unsqueeze(0))

        if self.image_keys:
            self.backbone = ResNetBackbone(arch.vision_backbone)
        self.encoder = Encoder(arch, arch.n_encoder_layers)
        self.decoder = Decoder(arch)
        if state is not None:
            self.encoder_robot_state_input_proj = nn.Linear(state.shape[0], d)
        if env_state is not None:
            self.encoder_env_state_input_proj = nn.Linear(env_state.shape[0], d)
        self.encoder_latent_input_proj = nn.Linear(arch.latent_dim, d)
        if self.image_keys:
            self.encoder_img_feat_input_proj = nn.Conv2d(self.backbone.out_channels, d, kernel_size=1)
        self.encoder_1d_feature_pos_embed = nn.Embedding(1 + (state is not None) + (env_state is not None), d)
        self.decoder_pos_embed = nn.Embedding(config.chunk_size, d)
        self.action_head = nn.Linear(d, action_dim)
        self.has_state = state is not None
        self.has_env_state = env_state is not None
        self._camera_pos_cache: dict[tuple[int, int, torch.device], Tensor] = {}

    def _camera_pos(self, height: int, width: int, device: torch.device) -> Tensor:
        """`(H·W, 1, D)` position embedding of a camera's feature map (fixed per size: cached)."""
        key = (height, width, device)
        if key not in self._camera_pos_cache:
            pos = sinusoidal_2d(height, width, self.arch.dim_model // 2, device)
            self._camera_pos_cache[key] = pos.flatten(2).permute(2, 0, 1)
        return self._camera_pos_cache[key]

    def forward(self, batch: dict[str, Tensor]) -> Tensor:
        """`(B, chunk_size, action_dim)` normalized actions."""
        reference = batch[self.image_keys[0]] if self.image_keys else batch[OBS_ENV_STATE]
        batch_size = reference.shape[0]
        latent = torch.zeros(batch_size, self.arch.latent_dim, dtype=torch.float32, device=reference.device)
        tokens = [self.encoder_latent_input_proj(latent)]
        if self.has_state:
            tokens.append(self.encoder_robot_state_input_proj(batch[OBS_STATE]))
        if self.has_env_state:
            tokens.append(self.encoder_env_state_input_proj(batch[OBS_ENV_STATE]))
        tokens_1d = torch.stack(tokens)
        sequence = [tokens_1d]
        positions = [self.encoder_1d_feature_pos_embed.weight.unsqueeze(1)]
        for key in self.image_keys:
            features = self.backbone(batch[key])
            positions.append(self._camera_pos(features.shape[2], features.shape[3], features.device).to(features.dtype))
            features = self.encoder_img_feat_input_proj(features)
            sequence.append(features.flatten(2).permute(2, 0, 1))
        encoder_in = torch.cat(sequence)
        encoder_pos = torch.cat(positions)
        memory = self.encoder(encoder_in, encoder_pos)
        queries = torch.zeros(
            self.chunk_size, batch_size, self.arch.dim_model, dtype=encoder_pos.dtype, device=encoder_pos.device
        )
        decoded = self.decoder(queries, memory, self.decoder_pos_embed.weight.unsqueeze(1), encoder_pos)
        return self.action_head(decoded.transpose(0, 1))
