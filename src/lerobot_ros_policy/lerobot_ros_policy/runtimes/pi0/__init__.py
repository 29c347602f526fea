"""Native Pi0: PaliGemma (SigLIP + Gemma) and a Gemma action expert, flow matching with RTC."""

from lerobot_ros_policy.runtimes.pi0.config import GemmaSize, SiglipSize, Variant, register_variant
from lerobot_ros_policy.runtimes.pi0.runtime import Pi0Runtime

__all__ = ["GemmaSize", "Pi0Runtime", "SiglipSize", "Variant", "register_variant"]
