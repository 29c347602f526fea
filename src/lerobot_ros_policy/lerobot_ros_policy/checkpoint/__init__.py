"""LeRobot policy checkpoints without lerobot: config, weights, processor pipelines, feature checks."""

from lerobot_ros_policy.checkpoint.config import (
    ACTION,
    OBS_ENV_STATE,
    OBS_STATE,
    FeatureType,
    NormalizationMode,
    PolicyConfig,
    PolicyFeature,
    parse_policy_config,
)
from lerobot_ros_policy.checkpoint.errors import (
    CheckpointError,
    CheckpointFormatError,
    CheckpointNotFoundError,
    FeatureMismatchError,
    MissingCheckpointFileError,
    ObservationError,
    UnsupportedPolicyError,
)
from lerobot_ros_policy.checkpoint.features import check_features, check_names, feature_differences, policy_shape
from lerobot_ros_policy.checkpoint.loader import PolicyCheckpoint, load_checkpoint, resolve_checkpoint_dir
from lerobot_ros_policy.checkpoint.processors import Postprocessor, Preprocessor

__all__ = [
    "ACTION",
    "OBS_ENV_STATE",
    "OBS_STATE",
    "CheckpointError",
    "CheckpointFormatError",
    "CheckpointNotFoundError",
    "FeatureMismatchError",
    "FeatureType",
    "MissingCheckpointFileError",
    "NormalizationMode",
    "ObservationError",
    "PolicyCheckpoint",
    "PolicyConfig",
    "PolicyFeature",
    "Postprocessor",
    "Preprocessor",
    "UnsupportedPolicyError",
    "check_features",
    "check_names",
    "feature_differences",
    "load_checkpoint",
    "parse_policy_config",
    "policy_shape",
    "resolve_checkpoint_dir",
]
