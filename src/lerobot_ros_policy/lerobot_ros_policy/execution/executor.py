"""Turning predicted chunks into timed commands: the policy node's execution core (no rclpy).

Time is the node's clock in integer nanoseconds, divided into control steps of `dt` from an
origin. A chunk computed from the observation of step s plans steps s, s+1, ...; when it arrives
the steps up to the current one have been executed from the previous chunk, so they are trimmed
and the rest is planned from the next step on. The plan is published as one timed trajectory
whose first point is that next step: the driver keeps executing the previous trajectory until
then and splices the new one in (joint_trajectory_controller semantics), so neither a gap nor
a replay of executed steps reaches the motors.

With RTC (`rtc.py`) each request also carries the queue's actions from its step on and the number
of them the trim will drop, so a flow-matching runtime can continue the executed motion; the chunk
that answers it is trimmed and replaces the queue as above. Without RTC a chunk may instead be
appended whole after the queued steps (`chunk_merge: append`, LeRobot's queue with RTC off).

Anything unsafe makes the executor hold: a stale observation, a stale chunk, NaN/inf in a chunk,
pause. Holding drops the queue and commands the position the arm is heading to at the next step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from enum import StrEnum

import numpy as np

from lerobot_ros_policy.execution.ensembling import TemporalEnsembler
from lerobot_ros_policy.execution.latency import LatencyTracker
from lerobot_ros_policy.execution.queue import ActionQueue
from lerobot_ros_policy.execution.safety import JointLimits, RejectedChunkError, check_finite

CHUNK_MERGES = ("replace", "append")
"""How a chunk joins the queue without ensembling: replace from the next step on, or append."""


class ExecutionState(StrEnum):
    """Values of lerobot_ros_msgs/PolicyStatus.state."""

    STARTING = "starting"
    RUNNING = "running"
    PAUSED = "paused"
    HOLDING = "holding"
    ERROR = "error"


@dataclass(frozen=True)
class ExecutionConfig:
    fps: float = 30.0
    queue_threshold: float = 0.5
    """Request the next chunk once the queue holds at most this fraction of a chunk."""
    temporal_ensembling: bool = False
    ensemble_coeff: float = 0.01
    chunk_merge: str = "replace"
    """Without ensembling: "replace" the queue from the next step on (after the delay trim), or
    "append" the whole chunk after the last queued step (no row dropped, each chunk runs late by
    the queue left when it arrives)."""
    max_chunk_age_s: float = 1.0
    """A chunk whose observation is older than this when it arrives is rejected."""
    latency_window: int = 50

    def __post_init__(self) -> None:
        if self.chunk_merge not in CHUNK_MERGES:
            raise ValueError(f"chunk_merge {self.chunk_merge!r} is not one of {', '.join(CHUNK_MERGES)}")

    @property
    def dt_ns(self) -> int:
        return round(1e9 / self.fps)


@dataclass(frozen=True)
class InferenceRequest:
    """What the executor asks for: a chunk for the observation taken at `step`.

    `prefix` holds the queued actions for steps `step, step + 1, ...` (row k for step + k, as the
    answering chunk's rows); `delay` is how many rows of the answer the trim will drop if the
    inference takes the slowest recent latency. RTC guides the runtime with both.
    """

    step: int
    epoch: int
    stamp_ns: int
    delay: int = 0
    prefix: np.ndarray = field(default_factory=lambda: np.empty((0, 0)), compare=False, repr=False)


@dataclass(frozen=True)
class TimedTrajectory:
    """Positions for consecutive steps; point k is due at `start_ns + k * dt_ns`."""

    joint_names: tuple[str, ...]
    start_ns: int
    dt_ns: int
    positions: np.ndarray

    def times_from_start_ns(self) -> np.ndarray:
        return np.arange(len(self.positions), dtype=np.int64) * self.dt_ns


@dataclass(frozen=True)
class PlannedChunk:
    """The outcome of accepting a chunk: what to publish and how it was obtained."""

    trajectory: TimedTrajectory
    chunk_index: int
    delay_steps: int
    inference_latency_s: float
    clamped_values: int


@dataclass(frozen=True)
class Hold:
    """Stop where the arm is heading: `trajectory` (one point) is None when nothing was planned."""

    reason: str
    trajectory: TimedTrajectory | None


class ChunkExecutor:
    """Action queue, latency compensation, ensembling and safety between a runtime and a driver.

    Not thread-safe: the node calls it from one thread; the inference runs elsewhere and hands
    back its chunk (with the request it answers) to `accept_chunk`.
    """

    def __init__(
        self,
        config: ExecutionConfig,
        joint_names: tuple[str, ...] | list[str],
        origin_ns: int,
        limits: JointLimits | None = None,
    ) -> None:
        self.config = config
        self.joint_names = tuple(joint_names)
        self.dt_ns = config.dt_ns
        self.origin_ns = origin_ns
        self.limits = limits or JointLimits.unlimited(len(self.joint_names))
        ensembler = TemporalEnsembler(config.ensemble_coeff) if config.temporal_ensembling else None
        self.queue = ActionQueue(len(self.joint_names), ensembler)
        self.latency = LatencyTracker(config.latency_window)
        self.state = ExecutionState.STARTING
        self.message = "waiting for the first chunk"
        self.chunks_produced = 0
        self.chunks_rejected = 0
        self.last_chunk_length = 0
        self._epoch = 0
        self._paused = False

    # Time grid ---------------------------------------------------------------------------------

    def step_at(self, now_ns: int) -> int:
        """The step being executed at `now_ns` (its due time is ≤ now)."""
        return (now_ns - self.origin_ns) // self.dt_ns

    def time_of(self, step: int) -> int:
        return self.origin_ns + step * self.dt_ns

    @property
    def delay_steps(self) -> int:
        """Latency compensation: steps that elapse during the slowest recent inference."""
        return self.latency.delay_steps(self.dt_ns * 1e-9)

    def queue_depth(self, now_ns: int) -> int:
        """Planned steps after the current one."""
        return self.queue.depth(self.step_at(now_ns) + 1)

    def threshold_steps(self) -> int:
        """Queue depth at or below which the next chunk is requested.

        At least the latency compensation plus one step, so that the queue does not run dry while
        the next chunk is computed.
        """
        fraction = math.floor(self.config.queue_threshold * self.last_chunk_length)
        return max(fraction, self.delay_steps + 1)

    # Requests ----------------------------------------------------------------------------------

    def wants_chunk(self, now_ns: int) -> bool:
        """Whether to start an inference now (the caller ensures one request in flight)."""
        if self._paused:
            return False
        if self.config.temporal_ensembling:
            return True
        return self.queue_depth(now_ns) <= self.threshold_steps()

    def expected_delay(self, now_ns: int) -> int:
        """Rows of a chunk requested now that the delay trim will drop if it arrives after the slowest
        recent inference: the step being executed plus the `ceil(max_latency / dt)` steps that
        elapse meanwhile, counted from where `now_ns` lies within its step."""
        latency_ns = math.ceil(self.latency.max * 1e9)
        return self.step_at(now_ns + latency_ns) + 1 - self.step_at(now_ns)

    def make_request(self, now_ns: int) -> InferenceRequest:
        """A request for the observation assembled now, stamped with the current step, with the
        queued actions from that step on and the expected delay (for RTC)."""
        step = self.step_at(now_ns)
        return InferenceRequest(
            step=step,
            epoch=self._epoch,
            stamp_ns=now_ns,
            delay=self.expected_delay(now_ns),
            prefix=self.queue.remaining(step).copy(),
        )

    # Chunks ------------------------------------------------------------------------------------

    def accept_chunk(
        self, request: InferenceRequest, chunk: np.ndarray, latency_s: float, now_ns: int
    ) -> PlannedChunk | Hold | None:
        """Plan a chunk (ROS units, columns in `joint_names` order) answering `request`.

        Returns the plan to publish, a Hold when the chunk must not be executed, or None when the
        chunk answers a request from before a pause or reset (dropped silently).
        """
        if request.epoch != self._epoch or self._paused:
            return None
        # What the delay trim sees: request to acceptance, i.e. the inference plus its hand-off.
        self.latency.add(max(latency_s, (now_ns - request.stamp_ns) * 1e-9))
        chunk = np.asarray(chunk, dtype=float)
        if chunk.ndim != 2 or chunk.shape[1] != len(self.joint_names) or len(chunk) == 0:
            return self._reject(f"chunk of shape {chunk.shape}, expected [steps, {len(self.joint_names)}]", now_ns)
        try:
            check_finite(chunk, self.joint_names)
        except RejectedChunkError as error:
            return self._reject(str(error), now_ns)
        age_s = (now_ns - request.stamp_ns) * 1e-9
        if age_s > self.config.max_chunk_age_s:
            return self._reject(
                f"stale chunk: its observation is {age_s * 1e3:.0f} ms old "
                f"(limit {self.config.max_chunk_age_s * 1e3:.0f} ms)",
                now_ns,
            )
        first_pending = self.step_at(now_ns) + 1
        append = self.config.chunk_merge == "append" and not self.config.temporal_ensembling
        if not append and first_pending - request.step >= len(chunk):
            return self._reject(
                f"stale chunk: {first_pending - request.step} steps elapsed during inference, "
                f"the chunk has {len(chunk)}",
                now_ns,
            )
        chunk, clamped = self.limits.clamp(chunk)
        if append:
            trimmed = self.queue.append_chunk(chunk, first_pending)
        else:
            trimmed = self.queue.insert_chunk(chunk, request.step, first_pending)
        self.last_chunk_length = len(chunk)
        self.chunks_produced += 1
        self.state = ExecutionState.RUNNING
        self.message = ""
        return PlannedChunk(
            trajectory=self.plan(now_ns),
            chunk_index=self.chunks_produced,
            delay_steps=trimmed,
            inference_latency_s=latency_s,
            clamped_values=clamped,
        )

    def _reject(self, reason: str, now_ns: int) -> Hold:
        self.chunks_rejected += 1
        return self.hold(f"rejected chunk: {reason}", now_ns)

    def plan(self, now_ns: int) -> TimedTrajectory:
        """The remaining queue as one trajectory starting at the next step."""
        first = self.step_at(now_ns) + 1
        return TimedTrajectory(self.joint_names, self.time_of(first), self.dt_ns, self.queue.remaining(first).copy())

    # Per tick ----------------------------------------------------------------------------------

    def tick(self, now_ns: int) -> np.ndarray | None:
        """Advance to the current step; returns its action (for a per-step stream) or None.

        When the queue has run dry the executor reports holding (the driver stays at the last
        point of the last trajectory).
        """
        step = self.step_at(now_ns)
        action = self.queue.action_at(step)
        self.queue.drop_before(step)
        if action is None and self.state == ExecutionState.RUNNING:
            self.state = ExecutionState.HOLDING
            self.message = "queue ran dry: inference slower than the queue threshold allows"
        return None if action is None else action.copy()

    # Holding and operator commands ----------------------------------------------------------------

    def hold(self, reason: str, now_ns: int) -> Hold:
        """Drop the queue and stop at the position planned for the next step."""
        first = self.step_at(now_ns) + 1
        target = self.queue.action_at(first)
        if target is None:
            target = self.queue.action_at(first - 1)
        self.queue.clear()
        self.queue.start_step = first
        if not self._paused:
            self.state = ExecutionState.HOLDING
        self.message = reason
        trajectory = None
        if target is not None:
            trajectory = TimedTrajectory(self.joint_names, self.time_of(first), self.dt_ns, target[None, :].copy())
        return Hold(reason, trajectory)

    def pause(self, now_ns: int) -> Hold:
        self._paused = True
        self._epoch += 1
        self.state = ExecutionState.PAUSED
        return self.hold("paused by request", now_ns)

    def resume(self) -> None:
        self._paused = False
        self.state = ExecutionState.STARTING
        self.message = "waiting for the first chunk after resume"

    def reset(self, now_ns: int) -> Hold:
        """Forget the queue, the ensemble, the latency history and the chunk count."""
        hold = self.hold("reset by request", now_ns)
        self._epoch += 1
        self.latency.reset()
        self.chunks_produced = 0
        self.last_chunk_length = 0
        self.state = ExecutionState.PAUSED if self._paused else ExecutionState.STARTING
        self.message = "paused by request" if self._paused else "waiting for the first chunk after reset"
        return hold

    @property
    def paused(self) -> bool:
        return self._paused
