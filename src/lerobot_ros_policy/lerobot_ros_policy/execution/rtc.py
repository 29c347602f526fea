"""Real-Time Chunking on the execution side: the prefix and delay a flow-matching runtime is guided with.

A request for the observation of step s carries what the queue holds from step s on (`prefix`,
row k for step s + k, the same alignment as the chunk that answers it) and how many of those rows
the delay trim will drop if the inference takes as long as the slowest recent one (`delay`). The
runtime freezes those rows onto the prefix and ramps the guidance down to the execution horizon
(`PrefixGuidance`), so the new chunk continues the motion the arm is already executing; the
executor then drops the rows executed meanwhile and replaces the rest, as without RTC.

The settings come from the node's parameters, each falling back to the checkpoint's own
`rtc_config` (LeRobot stores it in `config.json` when a policy was configured with one), then to
LeRobot's `RTCConfig` defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from lerobot_ros_policy.runtimes.base import PrefixGuidance

SCHEDULES = ("linear", "exp", "ones", "zeros")
"""Prefix weight ramps from the delay to the execution horizon (LeRobot's `RTCAttentionSchedule`)."""
RTC_MODES = ("auto", "on", "off")


class RtcSettingsError(ValueError):
    """The RTC settings contradict each other or the runtime."""


@dataclass(frozen=True)
class RtcConfig:
    """Guidance settings (defaults: LeRobot's `RTCConfig`)."""

    schedule: str = "linear"
    max_guidance_weight: float = 10.0
    execution_horizon: int = 10
    delay_margin: int = 0
    """Rows frozen onto the prefix beyond the latency-driven delay: an inference slower than the
    recent maximum then still lands on rows that continue the executed motion."""

    def __post_init__(self) -> None:
        if self.schedule not in SCHEDULES:
            raise RtcSettingsError(f"RTC schedule {self.schedule!r} is not one of {', '.join(SCHEDULES)}")
        if not self.max_guidance_weight > 0:
            raise RtcSettingsError(f"RTC max_guidance_weight must be positive, got {self.max_guidance_weight}")
        if self.execution_horizon < 1:
            raise RtcSettingsError(f"RTC execution_horizon must be at least 1 step, got {self.execution_horizon}")
        if self.delay_margin < 0:
            raise RtcSettingsError(f"RTC delay_margin must be ≥ 0 steps, got {self.delay_margin}")

    def guidance(
        self,
        prefix: np.ndarray,
        delay: int,
        chunk_size: int,
        to_model_units: Callable[[np.ndarray], np.ndarray] | None = None,
    ) -> PrefixGuidance | None:
        """The runtime's guidance for a request's queued `prefix` (None when nothing is queued).

        `to_model_units` converts the queue's values (e.g. radians by joint) into the checkpoint's
        action columns in LeRobot units, which `PrefixGuidance` carries. The prefix and the
        horizon are cut to the chunk.
        """
        prefix = np.asarray(prefix, dtype=np.float64)[:chunk_size]
        if len(prefix) == 0:
            return None
        if to_model_units is not None:
            prefix = to_model_units(prefix)
        return PrefixGuidance(
            prefix=np.ascontiguousarray(prefix, dtype=np.float32),
            delay=int(min(max(delay, 0) + self.delay_margin, chunk_size)),
            execution_horizon=min(self.execution_horizon, chunk_size),
            schedule=self.schedule,
            max_guidance_weight=float(self.max_guidance_weight),
        )


def checkpoint_rtc_config(raw_config: Mapping[str, Any]) -> tuple[bool | None, dict[str, Any]]:
    """`rtc_config` of a checkpoint's `config.json`: (enabled or None when absent, its settings).

    LeRobot writes `{"enabled": ..., "prefix_attention_schedule": "LINEAR", "max_guidance_weight":
    ..., "execution_horizon": ...}` (or null) for SmolVLA and Pi0 configs.
    """
    section = raw_config.get("rtc_config")
    if not isinstance(section, Mapping):
        return None, {}
    settings: dict[str, Any] = {}
    if section.get("prefix_attention_schedule") is not None:
        settings["schedule"] = str(section["prefix_attention_schedule"]).lower()
    if section.get("max_guidance_weight") is not None:
        settings["max_guidance_weight"] = float(section["max_guidance_weight"])
    if section.get("execution_horizon") is not None:
        settings["execution_horizon"] = int(section["execution_horizon"])
    enabled = section.get("enabled")
    return (None if enabled is None else bool(enabled)), settings


def resolve_rtc(
    mode: str,
    *,
    schedule: str = "",
    max_guidance_weight: float = 0.0,
    execution_horizon: int = 0,
    delay_margin: int = 0,
    raw_config: Mapping[str, Any],
    supports_prefix_guidance: bool,
    chunk_size: int,
    temporal_ensembling: bool = False,
    policy_type: str = "",
) -> RtcConfig | None:
    """The RTC settings a node runs with, or None for RTC off.

    `mode`: "on" (refused for a runtime without prefix guidance or with temporal ensembling),
    "off", or "auto": the checkpoint's `rtc_config.enabled` when it has one, else on for every
    runtime that supports prefix guidance (and off with temporal ensembling). Empty / zero
    settings take the checkpoint's value, then LeRobot's default; the execution horizon then
    defaults to the chunk size, i.e. the whole queued prefix guides (the RTC paper's soft mask
    over the overlap: LeRobot's default of 10 steps leaves RTC without effect once the inference
    delay reaches 10 steps).
    """
    if mode not in RTC_MODES:
        raise RtcSettingsError(f"rtc mode {mode!r} is not one of {', '.join(RTC_MODES)}")
    stored_enabled, stored = checkpoint_rtc_config(raw_config)
    if mode == "on":
        if not supports_prefix_guidance:
            raise RtcSettingsError(
                f"rtc is on but the '{policy_type}' runtime has no prefix guidance (RTC needs a flow-matching "
                "policy: SmolVLA, Pi0); use rtc:=off or rtc:=auto"
            )
        if temporal_ensembling:
            raise RtcSettingsError("rtc and temporal_ensembling exclude each other: choose one")
    enabled = {
        "on": True,
        "off": False,
        "auto": supports_prefix_guidance
        and not temporal_ensembling
        and (stored_enabled if stored_enabled is not None else True),
    }[mode]
    if not enabled:
        return None
    settings = {"execution_horizon": chunk_size, **stored, "delay_margin": delay_margin}
    if schedule:
        settings["schedule"] = schedule
    if max_guidance_weight > 0:
        settings["max_guidance_weight"] = max_guidance_weight
    if execution_horizon > 0:
        settings["execution_horizon"] = execution_horizon
    return RtcConfig(**settings)
