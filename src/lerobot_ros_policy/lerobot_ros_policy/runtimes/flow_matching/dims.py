"""The feature checks SmolVLA and Pi0 share: state and action fit the model's padded dimensions."""

from __future__ import annotations

from lerobot_ros_policy.checkpoint import CheckpointFormatError, PolicyConfig


def check_padded_dims(policy: PolicyConfig, where: str, name: str, max_state_dim: int, max_action_dim: int) -> None:
    """`CheckpointFormatError` unless the checkpoint has a state input and state and action fit the padding."""
    state = policy.robot_state_feature
    if state is None:
        raise CheckpointFormatError(f"{where}: {name} needs an 'observation.state' input feature")
    if state.shape[0] > max_state_dim:
        raise CheckpointFormatError(f"{where}: state dim {state.shape[0]} exceeds max_state_dim {max_state_dim}")
    action_dim = policy.action_feature.shape[0]
    if action_dim > max_action_dim:
        raise CheckpointFormatError(f"{where}: action dim {action_dim} exceeds max_action_dim {max_action_dim}")
