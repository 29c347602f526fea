"""Execution of predicted chunks (no rclpy): action queue, latency compensation, temporal
ensembling, RTC prefixes, safety checks and timed-trajectory planning, and the inference worker thread."""

from lerobot_ros_policy.execution.actions import ActionColumns, ActionMappingError
from lerobot_ros_policy.execution.ensembling import TemporalEnsembler
from lerobot_ros_policy.execution.executor import (
    CHUNK_MERGES,
    ChunkExecutor,
    ExecutionConfig,
    ExecutionState,
    Hold,
    InferenceRequest,
    PlannedChunk,
    TimedTrajectory,
)
from lerobot_ros_policy.execution.latency import LatencyTracker
from lerobot_ros_policy.execution.queue import ActionQueue
from lerobot_ros_policy.execution.rtc import (
    RTC_MODES,
    SCHEDULES,
    RtcConfig,
    RtcSettingsError,
    checkpoint_rtc_config,
    resolve_rtc,
)
from lerobot_ros_policy.execution.safety import (
    JointLimits,
    RejectedChunkError,
    check_finite,
    stale_streams,
)
from lerobot_ros_policy.execution.worker import InferenceResult, InferenceWorker

__all__ = [
    "CHUNK_MERGES",
    "RTC_MODES",
    "SCHEDULES",
    "ActionColumns",
    "ActionMappingError",
    "ActionQueue",
    "ChunkExecutor",
    "ExecutionConfig",
    "ExecutionState",
    "Hold",
    "InferenceRequest",
    "InferenceResult",
    "InferenceWorker",
    "JointLimits",
    "LatencyTracker",
    "PlannedChunk",
    "RejectedChunkError",
    "RtcConfig",
    "RtcSettingsError",
    "TemporalEnsembler",
    "TimedTrajectory",
    "check_finite",
    "checkpoint_rtc_config",
    "resolve_rtc",
    "stale_streams",
]
