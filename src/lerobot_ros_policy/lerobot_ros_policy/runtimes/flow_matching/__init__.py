"""Flow-matching pieces shared by the SmolVLA and Pi0 runtimes: the Euler sampler and Real-Time Chunking."""

from lerobot_ros_policy.runtimes.flow_matching.rtc import (
    PrefixGuide,
    PrefixSchedule,
    guidance_weight,
    guide_from_guidance,
    prefix_guide,
    prefix_weights,
)
from lerobot_ros_policy.runtimes.flow_matching.sampling import Velocity, euler_sample

__all__ = [
    "PrefixGuide",
    "PrefixSchedule",
    "Velocity",
    "euler_sample",
    "guidance_weight",
    "guide_from_guidance",
    "prefix_guide",
    "prefix_weights",
]
