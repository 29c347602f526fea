"""Native SmolVLA: SmolVLM2 vision encoder and text layers, action expert, flow matching with RTC."""

from lerobot_ros_policy.runtimes.smolvla.runtime import SmolVLARuntime

__all__ = ["SmolVLARuntime"]
