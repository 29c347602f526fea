"""The policy's observation, built from the latest message of each contract stream.

The values come from the contract converters (`lerobot_ros_core.features`), so units, joint
order and image size are exactly those of the training data. Before a model is loaded onto a
robot, `match_checkpoint` compares the checkpoint's features with the contract's and says
precisely what differs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from lerobot_ros_core.contract import Contract
from lerobot_ros_core.features import FeatureConverter
from lerobot_ros_policy.checkpoint import FeatureMismatchError, FeatureType, PolicyFeature, policy_shape
from lerobot_ros_policy.execution.actions import ActionColumns, ActionMappingError
from lerobot_ros_policy.execution.safety import stale_streams


class StaleObservationError(RuntimeError):
    """A stream the policy needs is silent or too old; the message names each one."""


def _feature_type(kind: str, key: str) -> FeatureType:
    if kind in ("image", "depth"):
        return FeatureType.VISUAL
    return FeatureType.ENV if key == "observation.environment_state" else FeatureType.STATE


def match_checkpoint(
    contract: Contract, input_features: Mapping[str, PolicyFeature], action_feature: PolicyFeature
) -> ActionColumns:
    """The action columns if the checkpoint runs on this contract, else `FeatureMismatchError` listing
    every difference (missing or unknown features, shapes, action width). Contract features the
    checkpoint does not use are fine (the node leaves them alone)."""
    provided = {spec.key: spec for spec in contract.features_spec if spec.key != "action"}
    differences = []
    for key, feature in input_features.items():
        spec = provided.get(key)
        if spec is None:
            differences.append(f"checkpoint input '{key}' {list(feature.shape)} is not in the contract")
            continue
        shape = policy_shape(_feature_type(spec.kind, key), spec.lerobot_feature()["shape"])
        if shape != tuple(feature.shape):
            differences.append(f"'{key}': checkpoint shape {list(feature.shape)}, contract shape {list(shape)}")
    try:
        columns = ActionColumns.from_feature(contract.action, contract.source)
    except ActionMappingError as error:
        differences.append(str(error))
        columns = None
    if columns is not None and (action_feature.shape[0],) != (columns.dim,):
        differences.append(
            f"'action': checkpoint has {action_feature.shape[0]} columns, the contract's action feature "
            f"{columns.dim} ({list(columns.names)})"
        )
    if differences:
        unused = sorted(set(provided) - set(input_features))
        hint = f" (contract features the checkpoint does not use: {unused})" if unused else ""
        raise FeatureMismatchError(
            f"checkpoint and contract {contract.source} do not match: " + "; ".join(differences) + hint
        )
    assert columns is not None
    return columns


@dataclass
class _Latest:
    message: Any
    stamp_ns: int


class ObservationAssembler:
    """Keeps the latest message per needed feature and converts them on demand."""

    def __init__(self, contract: Contract, keys: Sequence[str]) -> None:
        self.converters = {key: FeatureConverter(contract.feature(key)) for key in keys}
        self._latest: dict[str, _Latest] = {}

    @property
    def topics(self) -> dict[str, str]:
        return {key: converter.spec.topic for key, converter in self.converters.items()}

    def update(self, key: str, message: Any, receive_ns: int) -> None:
        """Remember `message`; the sample time is its header stamp or receive time (per contract)."""
        self._latest[key] = _Latest(message, self.converters[key].stamp_ns(message, receive_ns))

    def ages(self, now_ns: int) -> dict[str, float | None]:
        return {
            key: None if key not in self._latest else (now_ns - self._latest[key].stamp_ns) * 1e-9
            for key in self.converters
        }

    def assemble(self, now_ns: int, max_age_s: float) -> dict[str, np.ndarray]:
        """The observation in LeRobot units; `StaleObservationError` or `FeatureValueError` when it cannot be built.

        Vectors are float32, as the dataset stored them for training; images uint8 (H, W, 3).
        """
        problems = stale_streams(self.ages(now_ns), max_age_s)
        if problems:
            raise StaleObservationError("stale observation: " + "; ".join(problems))
        observation = {}
        for key, converter in self.converters.items():
            value = converter.convert(self._latest[key].message)
            observation[key] = value.astype(np.float32) if value.dtype == np.float64 else value
        return observation

    def clear(self) -> None:
        self._latest.clear()
