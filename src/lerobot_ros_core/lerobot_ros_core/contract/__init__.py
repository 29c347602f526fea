"""The feature contract: ROS topics → LeRobot features (see contract.py and docs/recorder.md)."""

from lerobot_ros_core.contract.contract import (
    CONTRACT_META_FILE,
    MESSAGE_TYPES,
    Contract,
    ContractError,
    FeatureSpec,
    ImageSpec,
    MessageType,
    SyncRule,
    load_contract,
    parse_contract,
)
from lerobot_ros_core.contract.units import Unit, UnitError, make_unit

__all__ = [
    "CONTRACT_META_FILE",
    "MESSAGE_TYPES",
    "Contract",
    "ContractError",
    "FeatureSpec",
    "ImageSpec",
    "MessageType",
    "SyncRule",
    "Unit",
    "UnitError",
    "load_contract",
    "make_unit",
    "parse_contract",
]
