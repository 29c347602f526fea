"""`config.json` of a LeRobot policy checkpoint, parsed without lerobot (format of LeRobot 0.4.x)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from lerobot_ros_policy.checkpoint.errors import CheckpointFormatError

ACTION = "action"
OBS_STATE = "observation.state"
OBS_ENV_STATE = "observation.environment_state"
OBS_IMAGE_PREFIX = "observation.image"


class FeatureType(StrEnum):
    """LeRobot's feature types, as written in `config.json`."""

    STATE = "STATE"
    VISUAL = "VISUAL"
    ENV = "ENV"
    ACTION = "ACTION"
    REWARD = "REWARD"
    LANGUAGE = "LANGUAGE"


class NormalizationMode(StrEnum):
    """LeRobot's normalization modes, as written in `normalization_mapping` / `norm_map`."""

    IDENTITY = "IDENTITY"
    MEAN_STD = "MEAN_STD"
    MIN_MAX = "MIN_MAX"
    QUANTILES = "QUANTILES"
    QUANTILE10 = "QUANTILE10"


@dataclass(frozen=True)
class PolicyFeature:
    """One input or output of a policy: its type and shape (images are `(3, H, W)`)."""

    type: FeatureType
    shape: tuple[int, ...]


@dataclass(frozen=True)
class PolicyConfig:
    """The fields of `config.json` every runtime needs; `raw` keeps the whole file for the
    architecture-specific ones (read by each runtime, which validates them)."""

    type: str
    input_features: dict[str, PolicyFeature]
    output_features: dict[str, PolicyFeature]
    normalization_mapping: dict[FeatureType, NormalizationMode]
    chunk_size: int
    n_action_steps: int
    n_obs_steps: int = 1
    raw: dict[str, Any] = field(default_factory=dict, compare=False, repr=False)

    @property
    def image_features(self) -> dict[str, PolicyFeature]:
        """Camera inputs in `config.json` order (the order LeRobot feeds them to the model)."""
        return {k: f for k, f in self.input_features.items() if f.type == FeatureType.VISUAL}

    @property
    def robot_state_feature(self) -> PolicyFeature | None:
        return self.input_features.get(OBS_STATE)

    @property
    def env_state_feature(self) -> PolicyFeature | None:
        return self.input_features.get(OBS_ENV_STATE)

    @property
    def action_feature(self) -> PolicyFeature:
        return self.output_features[ACTION]


def parse_features(raw: Any, where: str) -> dict[str, PolicyFeature]:
    """`{"name": {"type": "STATE", "shape": [6]}, ...}` → PolicyFeature per name, order kept."""
    if not isinstance(raw, dict):
        raise CheckpointFormatError(f"{where}: expected an object of features, got {type(raw).__name__}")
    features = {}
    for name, spec in raw.items():
        try:
            feature_type = FeatureType(spec["type"])
            shape = tuple(int(d) for d in spec["shape"])
        except (KeyError, TypeError, ValueError) as err:
            raise CheckpointFormatError(f"{where}: feature '{name}' is malformed ({spec!r}): {err}") from err
        features[name] = PolicyFeature(feature_type, shape)
    return features


def parse_normalization_mapping(raw: Any, where: str) -> dict[FeatureType, NormalizationMode]:
    if not isinstance(raw, dict):
        raise CheckpointFormatError(f"{where}: expected an object, got {type(raw).__name__}")
    mapping = {}
    for type_name, mode_name in raw.items():
        try:
            mapping[FeatureType(type_name)] = NormalizationMode(mode_name)
        except ValueError as err:
            raise CheckpointFormatError(
                f"{where}: unknown feature type or normalization mode {type_name!r}: {mode_name!r}"
            ) from err
    return mapping


def parse_policy_config(raw: dict[str, Any], where: str = "config.json") -> PolicyConfig:
    """Validate and parse a policy `config.json` (already decoded from JSON)."""
    if not isinstance(raw, dict):
        raise CheckpointFormatError(f"{where}: expected a JSON object, got {type(raw).__name__}")
    if "type" not in raw:
        raise CheckpointFormatError(
            f"{where}: no 'type' field: not a LeRobot policy config (is this a train_config.json or a "
            "transformers config?)"
        )
    input_features = parse_features(raw.get("input_features", {}), f"{where} input_features")
    output_features = parse_features(raw.get("output_features", {}), f"{where} output_features")
    if ACTION not in output_features:
        raise CheckpointFormatError(f"{where}: output_features has no 'action' feature (has {sorted(output_features)})")
    if len(output_features[ACTION].shape) != 1:
        raise CheckpointFormatError(
            f"{where}: 'action' must be a vector, got shape {list(output_features[ACTION].shape)}"
        )
    chunk_size = int(raw.get("chunk_size", 1))
    n_action_steps = int(raw.get("n_action_steps", chunk_size))
    if chunk_size < 1 or not 1 <= n_action_steps <= chunk_size:
        raise CheckpointFormatError(f"{where}: need 1 ≤ n_action_steps ({n_action_steps}) ≤ chunk_size ({chunk_size})")
    return PolicyConfig(
        type=str(raw["type"]),
        input_features=input_features,
        output_features=output_features,
        normalization_mapping=parse_normalization_mapping(
            raw.get("normalization_mapping", {}), f"{where} normalization_mapping"
        ),
        chunk_size=chunk_size,
        n_action_steps=n_action_steps,
        n_obs_steps=int(raw.get("n_obs_steps", 1)),
        raw=raw,
    )
