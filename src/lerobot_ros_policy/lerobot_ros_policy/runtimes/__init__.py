"""Policy runtimes: one interface (`PolicyRuntime`), native torch implementations, a LeRobot adapter."""

from lerobot_ros_policy.runtimes import act, lerobot_adapter, pi0, smolvla  # noqa: F401  (registers the runtimes)
from lerobot_ros_policy.runtimes.base import Observation, PolicyRuntime, PrefixGuidance
from lerobot_ros_policy.runtimes.registry import (
    LEROBOT,
    NATIVE,
    available_runtimes,
    load_runtime,
    register_runtime,
    runtime_class,
)

__all__ = [
    "LEROBOT",
    "NATIVE",
    "Observation",
    "PolicyRuntime",
    "PrefixGuidance",
    "available_runtimes",
    "load_runtime",
    "register_runtime",
    "runtime_class",
]
