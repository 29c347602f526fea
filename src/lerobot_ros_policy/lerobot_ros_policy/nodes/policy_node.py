"""policy_node: runs a LeRobot checkpoint on a ROS robot and publishes timed joint trajectories.

Observations are built from the feature contract with the recorder's converters; inference runs
in a worker thread (one request in flight); the execution core (`lerobot_ros_policy.execution`)
trims, ensembles and checks each chunk and plans it as one timed JointTrajectory starting at the
next control step, which the driver splices in. Checkpoints with end-effector actions go through
IK first (`execution.ee_actions`). See docs/policy-node.md and docs/end-effector.md.
"""

from __future__ import annotations

import array
import time
from collections import deque
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
from builtin_interfaces.msg import Duration
from rclpy.node import Node
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray, String
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lerobot_ros_core.description import joint_limits
from lerobot_ros_core.features import FeatureValueError
from lerobot_ros_core.kinematics.end_effector import EndEffectorLimits
from lerobot_ros_core.messages import message_class
from lerobot_ros_core.node.diagnostics import ERROR, OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import ParameterError, declare_parameters, param
from lerobot_ros_core.node.qos import COMMAND_QOS, LATCHED_QOS, subscriber_qos
from lerobot_ros_core.node.stamps import duration_from_seconds, time_from_nanoseconds
from lerobot_ros_msgs.msg import ActionChunk, PolicyStatus
from lerobot_ros_policy.execution import (
    CHUNK_MERGES,
    RTC_MODES,
    SCHEDULES,
    ChunkExecutor,
    ExecutionConfig,
    ExecutionState,
    Hold,
    InferenceRequest,
    InferenceResult,
    InferenceWorker,
    JointLimits,
    PlannedChunk,
    TimedTrajectory,
    resolve_rtc,
)
from lerobot_ros_policy.execution.ee_actions import EndEffectorActions
from lerobot_ros_policy.execution.observation import ObservationAssembler, StaleObservationError, match_checkpoint

if TYPE_CHECKING:
    from lerobot_ros_policy.runtimes import PrefixGuidance

OUTPUT_MODES = ("trajectory", "stream", "both")
STREAM_TYPES = ("joint_state", "float64_multi_array")


@dataclass
class PolicyNodeConfig:
    checkpoint: str = param(description="checkpoint directory, its pretrained_model/ parent, or a cached Hub repo id")
    contract: str = param(description="feature contract YAML the checkpoint's dataset was recorded with")
    device: str = param("cpu", "torch device of the model (cpu, cuda, cuda:1, mps)")
    runtime: str = param(
        "native",
        "native: this suite's torch runtime; lerobot: an installed lerobot package; "
        "remote: a lerobot-ros policy-server (checkpoint = a model name of its manifest)",
        choices=("native", "lerobot", "remote"),
    )
    remote_config: str = param("", "remote runtime: client YAML (server, endpoints, TLS, fallback); see docs")
    runtime_accel: str = param(
        "none",
        "native ACT fast path: none = exact torch (bit-identical to LeRobot); onnx = ONNX Runtime on the CPU "
        "(actions within 1e-4 of LeRobot's; falls back to none with a warning where it cannot run)",
        choices=("none", "onnx"),
    )
    cpu_threads: int = param(
        0,
        "CPU threads of the model (torch intra-op, and ONNX Runtime with runtime_accel onnx); 0 = torch's "
        "default (every core). A robot computer that also runs the drivers keeps cores free with fewer",
        min=0,
        max=1024,
    )
    hub_offline: bool = param(True, "resolve Hub repo ids from the local cache only")
    fps: float = param(0.0, "control rate of the actions, Hz; 0 = the contract's fps", min=0.0, max=1000.0)
    task: str = param("", "language instruction; empty = the contract's default task")
    task_topic: str = param("policy/task", "std_msgs/String topic that replaces the task while running")
    rename_map: list[str] = param([], "observation key renames, 'contract_key=checkpoint_key' per entry")
    output_mode: str = param("trajectory", "what is published to the driver", choices=OUTPUT_MODES)
    trajectory_topic: str = param("follower/joint_trajectory", "JointTrajectory command topic of the driver")
    stream_topic: str = param("follower/joint_commands", "per-step command topic (stream and both modes)")
    stream_type: str = param(
        "joint_state",
        "per-step message: JointState by name, or Float64MultiArray in "
        "the action feature's joint order (forward-command controllers)",
        choices=STREAM_TYPES,
    )
    queue_threshold: float = param(
        0.5,
        "request the next chunk when the queue holds at most this fraction of "
        "a chunk (raised to the latency compensation plus one step)",
        min=0.0,
        max=1.0,
    )
    temporal_ensembling: bool = param(
        False, "ACT temporal ensembling of overlapping chunks (requests a chunk whenever the worker is free)"
    )
    ensemble_coeff: float = param(0.01, "temporal ensembling coefficient (LeRobot's default 0.01)", min=-10.0, max=10.0)
    rtc: str = param(
        "auto",
        "Real-Time Chunking: guide flow-matching runtimes (SmolVLA, Pi0) with the queued actions; auto = "
        "the checkpoint's rtc_config.enabled, else on where the runtime supports it (not with ensembling)",
        choices=RTC_MODES,
    )
    rtc_schedule: str = param(
        "",
        "RTC prefix weights from the delay to the execution horizon; empty = the checkpoint's, else linear",
        choices=("", *SCHEDULES),
    )
    rtc_max_guidance_weight: float = param(
        0.0, "RTC guidance weight cap; 0 = the checkpoint's, else 10", min=0.0, max=1000.0
    )
    rtc_execution_horizon: int = param(
        0,
        "RTC: steps of a new chunk guided by the queued ones; 0 = the checkpoint's, else the chunk size "
        "(the whole queued prefix)",
        min=0,
        max=10000,
    )
    rtc_delay_margin: int = param(
        0,
        "RTC: rows frozen onto the queued actions beyond the latency-driven delay (absorbs inferences "
        "slower than the recent maximum, at the cost of reacting that many steps later)",
        min=0,
        max=1000,
    )
    chunk_merge: str = param(
        "replace",
        "without RTC or ensembling: replace the queue from the next step on, or append each chunk "
        "whole after the queued steps",
        choices=CHUNK_MERGES,
    )
    max_observation_age: float = param(
        0.2, "hold when a needed stream's latest sample is older, s", min=0.001, max=60.0
    )
    max_chunk_age: float = param(
        1.0, "reject a chunk whose observation is older when it arrives, s", min=0.001, max=60.0
    )
    joint_limits_urdf: str = param(
        "",
        "URDF file whose joint limits clamp the actions; empty = no clamp "
        "(the driver enforces its own limits regardless)",
    )
    latency_window: int = param(50, "inferences over which latency p50/p95/max are computed", min=1, max=10000)
    injected_latency: float = param(0.0, "extra seconds slept before each inference (latency tests)", min=0.0, max=10.0)
    status_period: float = param(0.2, "PolicyStatus publishing period, s", min=0.01, max=10.0)
    start_paused: bool = param(False, "wait for policy/resume before the first inference")
    ee_workspace_min: list[float] = param([-0.5, -0.5, -0.1], "EE actions: workspace lower bound x, y, z (m, base)")
    ee_workspace_max: list[float] = param([0.5, 0.5, 0.6], "EE actions: workspace upper bound x, y, z (m, base)")
    ee_max_step: float = param(0.02, "EE actions: max tool displacement per control step (m)", min=1e-4, max=1.0)
    ee_max_rotation_step: float = param(0.1, "EE actions: max tool rotation per control step (rad)", min=1e-4, max=3.2)
    ee_ik_tolerance: float = param(
        0.01, "EE actions: a target IK misses by more is unreachable: hold (m)", min=1e-4, max=1.0
    )
    ee_orientation_weight: float = param(
        0.01, "EE actions: IK weight of the orientation (the position's is 1)", min=0.0, max=100.0
    )
    ee_seed_topic: str = param(
        "follower/joint_states", "EE actions: JointState seeding IK until the node has commanded joints"
    )


def parse_rename_map(entries: list[str]) -> dict[str, str]:
    mapping = {}
    for entry in entries:
        source, sep, target = entry.partition("=")
        if not sep or not source.strip() or not target.strip():
            raise ParameterError(f"parameter 'rename_map': entry {entry!r} is not 'contract_key=checkpoint_key'")
        mapping[source.strip()] = target.strip()
    return mapping


class PolicyNode(Node):
    def __init__(self) -> None:
        super().__init__("policy_node")
        self.worker: InferenceWorker | None = None  # started once the checkpoint has been accepted
        self.config = config = declare_parameters(self, PolicyNodeConfig)
        from lerobot_ros_core.contract import load_contract
        from lerobot_ros_policy.runtimes import load_runtime

        self.contract = load_contract(config.contract)
        accel = {"accel": config.runtime_accel} if config.runtime_accel != "none" else {}
        if accel and config.runtime != "native":
            raise ParameterError(f"parameter 'runtime_accel': '{config.runtime_accel}' needs runtime 'native'")
        if config.cpu_threads:
            import torch

            torch.set_num_threads(config.cpu_threads)
        if config.runtime == "remote":
            from lerobot_ros_policy.remote import RemoteRuntime

            self.runtime = RemoteRuntime.for_contract(
                config.checkpoint, config.remote_config, self.contract, rename_map=parse_rename_map(config.rename_map)
            )
        else:
            self.runtime = load_runtime(
                config.checkpoint,
                config.device,
                backend=config.runtime,
                rename_map=parse_rename_map(config.rename_map),
                local_files_only=config.hub_offline,
                **accel,
            )
        if accel and self.runtime.accel_fallback:
            self.get_logger().warning(
                f"runtime_accel '{config.runtime_accel}' unavailable: {self.runtime.accel_fallback}"
            )
        self.columns = match_checkpoint(
            self.contract,
            self.runtime.input_features,
            self.runtime.config.action_feature,
            EndEffectorLimits(
                tuple(config.ee_workspace_min),
                tuple(config.ee_workspace_max),
                config.ee_max_step,
                config.ee_ik_tolerance,
                config.ee_max_rotation_step,
            ),
            config.ee_orientation_weight,
        )
        self.ee_actions = self.columns if isinstance(self.columns, EndEffectorActions) else None
        self.assembler = ObservationAssembler(self.contract, list(self.runtime.input_features))
        limits = JointLimits.unlimited(len(self.columns.joints))
        if config.joint_limits_urdf:
            urdf = Path(config.joint_limits_urdf).read_text(encoding="utf-8")
            limits = JointLimits.from_mapping(self.columns.joints, joint_limits(urdf))
        fps = config.fps or float(self.contract.fps)
        self.rtc = resolve_rtc(
            config.rtc,
            schedule=config.rtc_schedule,
            max_guidance_weight=config.rtc_max_guidance_weight,
            execution_horizon=config.rtc_execution_horizon,
            delay_margin=config.rtc_delay_margin,
            raw_config=self.runtime.config.raw,
            supports_prefix_guidance=self.runtime.supports_prefix_guidance,
            chunk_size=self.runtime.chunk_size,
            temporal_ensembling=config.temporal_ensembling,
            policy_type=self.runtime.config.type,
        )
        self.executor_core = ChunkExecutor(
            ExecutionConfig(
                fps=fps,
                queue_threshold=config.queue_threshold,
                temporal_ensembling=config.temporal_ensembling,
                ensemble_coeff=config.ensemble_coeff,
                chunk_merge="replace" if self.rtc is not None else config.chunk_merge,
                max_chunk_age_s=config.max_chunk_age,
                latency_window=config.latency_window,
            ),
            self.columns.joints,
            origin_ns=self._now_ns(),
            limits=limits,
        )
        if config.start_paused:
            self.executor_core.pause(self._now_ns())
        self.task = config.task or self.contract.task or ""

        self._results: deque[InferenceResult] = deque()
        # A request counts as in flight until its result is applied here, not only while the worker
        # computes: a tick in between would otherwise request again from the queue the result is
        # about to replace (an unguided or stale-prefix chunk).
        self._in_flight = False
        self._wake = self.create_guard_condition(self._on_results)
        self.worker = InferenceWorker(self._infer, self._on_done)

        for key, topic in self.assembler.topics.items():
            self.create_subscription(
                message_class(self.contract.feature(key).message_type.name),
                topic,
                lambda msg, key=key: self._on_observation(key, msg),
                subscriber_qos(5),
            )
        self.create_subscription(String, config.task_topic, self._on_task, subscriber_qos(10))
        self._joint_state: dict[str, float] = {}
        if self.ee_actions is not None:
            self.create_subscription(JointState, config.ee_seed_topic, self._on_joint_state, subscriber_qos(5))
        publish_trajectory = config.output_mode in ("trajectory", "both")
        publish_stream = config.output_mode in ("stream", "both")
        self.trajectory_pub = (
            self.create_publisher(JointTrajectory, config.trajectory_topic, COMMAND_QOS) if publish_trajectory else None
        )
        stream_class = JointState if config.stream_type == "joint_state" else Float64MultiArray
        self.stream_pub = (
            self.create_publisher(stream_class, config.stream_topic, COMMAND_QOS) if publish_stream else None
        )
        self.chunk_pub = self.create_publisher(ActionChunk, "policy/action_chunk", COMMAND_QOS)
        self.status_pub = self.create_publisher(PolicyStatus, "policy/status", LATCHED_QOS)
        self.create_service(Trigger, "policy/pause", self._on_pause)
        self.create_service(Trigger, "policy/resume", self._on_resume)
        self.create_service(Trigger, "policy/reset", self._on_reset)
        self.diagnostics = DiagnosticsReporter(self, hardware_id=f"policy:{self.runtime.config.type}")
        self.create_timer(1.0 / fps, self._on_tick)
        self.create_timer(config.status_period, self._publish_status)
        self.overhead_s: deque[float] = deque(maxlen=config.latency_window)
        self.get_logger().info(
            f"{self.runtime.config.type} checkpoint {config.checkpoint} ({self.runtime.backend} runtime on "
            f"{config.device}): chunk {self.runtime.chunk_size} x {self.columns.dim} at {fps:g} Hz, joints "
            f"{list(self.columns.joints)}, inputs {list(self.assembler.topics.values())}, output {config.output_mode}, "
            f"{self._merge_description()}"
        )

    def _merge_description(self) -> str:
        if self.rtc is not None:
            return (
                f"RTC ({self.rtc.schedule} schedule, horizon {self.rtc.execution_horizon}, max guidance "
                f"weight {self.rtc.max_guidance_weight:g})"
            )
        return "temporal ensembling" if self.config.temporal_ensembling else f"chunk merge: {self.config.chunk_merge}"

    # Inputs ------------------------------------------------------------------------------------

    def _now_ns(self) -> int:
        return self.get_clock().now().nanoseconds

    def _on_observation(self, key: str, msg: Any) -> None:
        try:
            self.assembler.update(key, msg, self._now_ns())
        except FeatureValueError as error:
            self.get_logger().warning(str(error), throttle_duration_sec=2.0)

    def _on_joint_state(self, msg: JointState) -> None:
        self._joint_state = dict(zip(msg.name, msg.position, strict=False))

    def _commanded_joints(self, request: InferenceRequest) -> np.ndarray | None:
        """EE actions: what IK starts from. The queued joints from the request's step up to where the
        chunk is expected to take over (its `delay`): IK solves that first new action from the queued
        command before it and chains from there, so the splice is one bounded step and the rest of
        the chunk follows the new targets. Else the arm's latest joint state (one row); None before
        any joint state arrived."""
        if len(request.prefix):
            return request.prefix[: request.delay + 1]
        if all(joint in self._joint_state for joint in self.columns.joints):
            return np.array([[self._joint_state[joint] for joint in self.columns.joints]])
        return None

    def _on_task(self, msg: String) -> None:
        self.task = msg.data
        self.get_logger().info(f"task: {msg.data!r}")

    # Control loop ------------------------------------------------------------------------------

    def _on_tick(self) -> None:
        now = self._now_ns()
        action = self.executor_core.tick(now)
        if action is not None and self.stream_pub is not None:
            self._publish_stream(action, now)
        if self._in_flight or not self.executor_core.wants_chunk(now):
            return
        unheard = self._unheard_output()
        if unheard is not None:
            self._apply(self.executor_core.hold(unheard, now))
            return
        try:
            observation = self.assembler.assemble(now, self.config.max_observation_age)
        except (StaleObservationError, FeatureValueError) as error:
            self._apply(self.executor_core.hold(str(error), now))
            return
        request = self.executor_core.make_request(now)
        guidance = None
        if self.rtc is not None:
            guidance = self.rtc.guidance(
                request.prefix, request.delay, self.runtime.chunk_size, self.columns.to_dataset
            )
            if guidance is not None and guidance.delay >= guidance.execution_horizon:
                self.get_logger().warning(
                    f"RTC has no effect: inference delay {guidance.delay} steps reaches rtc_execution_horizon "
                    f"{guidance.execution_horizon}",
                    throttle_duration_sec=5.0,
                )
        commanded = self._commanded_joints(request) if self.ee_actions is not None else None
        self._in_flight = self.worker.submit(request, (observation, self.task, guidance, commanded))

    def _unheard_output(self) -> str | None:
        """Why no chunk should be planned: nothing subscribes to the driver output (or None).

        A chunk published before the controller's subscription is matched is lost to it (volatile
        QoS), and a misnamed topic would swallow every chunk while the node reports running.
        """
        outputs = [publisher for publisher in (self.trajectory_pub, self.stream_pub) if publisher is not None]
        if any(publisher.get_subscription_count() for publisher in outputs):
            return None
        topics = " or ".join(publisher.topic_name for publisher in outputs)
        return f"no subscriber on {topics}: is the controller running and listening there?"

    def _infer(
        self, payload: tuple[dict[str, np.ndarray], str, PrefixGuidance | None, np.ndarray | None]
    ) -> np.ndarray:
        """Worker thread: model forward pass, then LeRobot units → radians in joint order (EE actions: by IK)."""
        observation, task, guidance, commanded = payload
        if self.config.injected_latency:
            time.sleep(self.config.injected_latency)
        return self.columns.to_ros(self.runtime.predict_chunk(observation, task or None, guidance), commanded)

    def _on_done(self, result: InferenceResult) -> None:
        """Worker thread: hand the result to the executor thread."""
        self._results.append(result)
        self._wake.trigger()

    def _on_results(self) -> None:
        while self._results:
            result = self._results.popleft()
            self._in_flight = False
            now = self._now_ns()
            request: InferenceRequest = result.request
            if result.error is not None:
                self.executor_core.latency.add(result.latency_s)
                self._apply(self.executor_core.hold(f"inference failed: {result.error}", now))
                continue
            self._apply(self.executor_core.accept_chunk(request, result.chunk, result.latency_s, now))

    def _apply(self, outcome: PlannedChunk | Hold | None) -> None:
        if outcome is None:
            return
        started = time.perf_counter()
        if isinstance(outcome, Hold):
            if self.executor_core.state != ExecutionState.PAUSED:
                self.get_logger().warning(f"holding: {outcome.reason}", throttle_duration_sec=1.0)
            if outcome.trajectory is not None and self.trajectory_pub is not None:
                self.trajectory_pub.publish(trajectory_message(outcome.trajectory))
            return
        if self.trajectory_pub is not None:
            self.trajectory_pub.publish(trajectory_message(outcome.trajectory))
        self.chunk_pub.publish(chunk_message(outcome))
        if outcome.clamped_values:
            self.get_logger().warning(
                f"chunk {outcome.chunk_index}: {outcome.clamped_values} value(s) clamped to the joint limits",
                throttle_duration_sec=2.0,
            )
        self.overhead_s.append(time.perf_counter() - started)

    def _publish_stream(self, action: np.ndarray, now_ns: int) -> None:
        if self.config.stream_type == "joint_state":
            msg = JointState(name=list(self.columns.joints), position=action.tolist())
            msg.header.stamp = time_from_nanoseconds(now_ns)
        else:
            msg = Float64MultiArray(data=action.tolist())
        self.stream_pub.publish(msg)

    # Services ----------------------------------------------------------------------------------

    def _on_pause(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._apply(self.executor_core.pause(self._now_ns()))
        response.success, response.message = True, "paused: holding the arm where it is heading"
        return response

    def _on_resume(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self.executor_core.resume()
        response.success, response.message = True, "resumed"
        return response

    def _on_reset(self, _request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        self._apply(self.executor_core.reset(self._now_ns()))
        self.runtime.reset()
        self.assembler.clear()
        response.success, response.message = True, "reset: queue, ensemble, latency history and observations cleared"
        return response

    # Status ------------------------------------------------------------------------------------

    def _publish_status(self) -> None:
        now = self._now_ns()
        core = self.executor_core
        msg = PolicyStatus(
            state=str(core.state),
            policy_type=self.runtime.config.type,
            checkpoint=self.config.checkpoint,
            task=self.task,
            latency_p50=core.latency.p50,
            latency_p95=core.latency.p95,
            queue_depth=core.queue_depth(now),
            delay_steps=core.delay_steps,
            chunks_produced=core.chunks_produced,
            message=core.message,
        )
        msg.header.stamp = time_from_nanoseconds(now)
        self.status_pub.publish(msg)
        level = {ExecutionState.RUNNING: OK, ExecutionState.PAUSED: OK, ExecutionState.STARTING: OK}.get(
            core.state, WARN
        )
        overhead = np.percentile(self.overhead_s, 50) * 1e3 if self.overhead_s else 0.0
        self.diagnostics.update(
            "execution",
            ERROR if core.state == ExecutionState.ERROR else level,
            core.message or str(core.state),
            state=core.state,
            latency_p50_ms=f"{core.latency.p50 * 1e3:.1f}",
            latency_p95_ms=f"{core.latency.p95 * 1e3:.1f}",
            latency_max_ms=f"{core.latency.max * 1e3:.1f}",
            queue_depth=core.queue_depth(now),
            delay_steps=core.delay_steps,
            chunks_produced=core.chunks_produced,
            chunks_rejected=core.chunks_rejected,
            chunk_merge=self._merge_description(),
            publish_overhead_p50_ms=f"{overhead:.2f}",
            **(self.ee_actions.counters.as_diagnostics() if self.ee_actions is not None else {}),
        )
        if hasattr(self.runtime, "link_status"):  # remote runtime: link state, round trip
            level, message, values = self.runtime.link_status()
            self.diagnostics.update("remote", level, message, **values)

    def destroy_node(self) -> None:
        if self.worker is not None:
            self.worker.close()
        super().destroy_node()


@lru_cache(maxsize=8)
def _offsets(steps: int, dt_ns: int) -> tuple[Duration, ...]:
    """time_from_start of k * dt for k < steps (the same for every chunk: built once)."""
    return tuple(Duration(sec=k * dt_ns // 10**9, nanosec=k * dt_ns % 10**9) for k in range(steps))


def trajectory_message(trajectory: TimedTrajectory) -> JointTrajectory:
    """Header stamp = due time of the first point; point k due `k * dt` after it.

    Positions go in as `array.array` (no per-element type check): this keeps a 100-point chunk
    near 1 ms to build.
    """
    msg = JointTrajectory(joint_names=list(trajectory.joint_names))
    msg.header.stamp = time_from_nanoseconds(trajectory.start_ns)
    positions = np.ascontiguousarray(trajectory.positions, dtype=np.float64)
    offsets = _offsets(len(positions), trajectory.dt_ns)
    points = []
    for k, row in enumerate(positions):
        point = JointTrajectoryPoint()
        point.positions = array.array("d", row.tobytes())
        point.time_from_start = offsets[k]
        points.append(point)
    msg.points = points
    return msg


def chunk_message(plan: PlannedChunk) -> ActionChunk:
    trajectory = plan.trajectory
    msg = ActionChunk(
        names=list(trajectory.joint_names),
        num_steps=len(trajectory.positions),
        action_dim=len(trajectory.joint_names),
        actions=trajectory.positions.ravel().tolist(),
        step=duration_from_seconds(trajectory.dt_ns * 1e-9),
        chunk_index=plan.chunk_index,
        delay_steps=plan.delay_steps,
        inference_latency=plan.inference_latency_s,
    )
    msg.header.stamp = time_from_nanoseconds(trajectory.start_ns)
    return msg


def main() -> int:
    return run_node(PolicyNode)
