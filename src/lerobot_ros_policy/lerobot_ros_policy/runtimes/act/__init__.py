"""Native ACT: ResNet backbone, transformer, runtime."""

from lerobot_ros_policy.runtimes.act.runtime import ACTRuntime

__all__ = ["ACTRuntime"]
