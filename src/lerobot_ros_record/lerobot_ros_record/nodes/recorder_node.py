"""Recorder node: ROS topics → LeRobot v3.0 dataset, per the feature contract.

Subscribes to every topic of the contract (best effort, deep queues: accepts any publisher,
warns about publishers whose QoS cannot reach it), converts, resamples and writes frames with
the same code as `lerobot-ros bag2dataset`. The subscriptions sit on a companion node
`<name>_inputs` served by one events-executor thread, so messages cost little CPU and are
handled in arrival order; the control interfaces below stay on the node's own executor.
Episodes are driven by

- the `recorder/record_episode` action (goal: task; feedback: frames, elapsed, sync health;
  result: episode index), ended by `recorder/save_episode` (SaveEpisode), `recorder/discard_episode`
  (Trigger: drop it, to record it again), cancelling the goal (discard), or `episode_time_s`;
- or automatically like lerobot-record (`num_episodes` > 0): record `episode_time_s`, reset
  `reset_time_s`, repeat; save/discard/finalize act on the running episode (→ / ← / Esc keys of
  the keyboard client).

`recorder/finalize` (Trigger) closes the dataset (optionally pushing it to the Hub). State is
published on `recorder/status` and /diagnostics; boundaries on `recorder/episode_events` so a
bag recorded alongside can be split into the same episodes. After a crash, a restart resumes
the dataset: earlier episodes are kept, the interrupted one is dropped.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rclpy.action import ActionServer, CancelResponse, GoalResponse
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.node import Node
from std_msgs.msg import String
from std_srvs.srv import Trigger

from lerobot_ros_core.contract import Contract, ContractError, load_contract
from lerobot_ros_core.messages import message_class
from lerobot_ros_core.node.companion import CompanionNode
from lerobot_ros_core.node.diagnostics import ERROR, OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_core.node.qos import LATCHED_QOS, check_publisher_compatibility, subscriber_qos
from lerobot_ros_msgs.action import RecordEpisode
from lerobot_ros_msgs.msg import EpisodeEvent, RecorderStatus, StreamSyncStatus
from lerobot_ros_msgs.srv import SaveEpisode
from lerobot_ros_record.frames import SavedEpisode
from lerobot_ros_record.resample import SyncReport
from lerobot_ros_record.session import (
    DatasetConfig,
    EpisodeDiscarded,
    EpisodeFailed,
    EpisodeRefused,
    EpisodeSaved,
    EpisodeSplit,
    EpisodeStarted,
    Event,
    RecordingSession,
    SessionError,
    SessionState,
    open_dataset,
)


@dataclass
class RecorderConfig:
    contract: str = param(description="feature contract YAML file")
    root: str = param(description="dataset directory (created, or resumed when it holds a dataset)")
    repo_id: str = param("", "dataset repo id (default: local/<root name>)")
    task: str = param("", "task of episodes without one (default: the contract's task)")
    video_codec: str = param("libsvtav1", "video codec", choices=("libsvtav1", "h264", "hevc"))
    encoder_queue_size: int = param(60, "frames buffered per camera before frames are dropped", min=1, max=10000)
    num_episodes: int = param(0, "automatic mode: episodes to record (0: driven by the action)", min=0, max=100000)
    episode_time_s: float = param(
        60.0, "automatic mode: episode length (s of dataset time from its first frame)", min=0.1, max=86400.0
    )
    reset_time_s: float = param(10.0, "automatic mode: reset period between episodes (s)", min=0.0, max=86400.0)
    exit_when_done: bool = param(False, "automatic mode: exit (code 0) once the dataset is finalized, ending the graph")
    optional_wait_s: float = param(2.0, "wait for optional topics before creating the dataset (s)", min=0.0, max=60.0)
    deadline_s: float = param(
        2.0,
        "a frame waits at most this long for a late stream (s); a loaded recorder's image path lags its joint "
        "streams by more than 0.5 s, and a frame decided without them ends the episode (past_limit: split)",
        min=0.01,
        max=10.0,
    )
    queue_depth: int = param(100, "subscription queue depth", min=1, max=10000)
    status_period_s: float = param(0.5, "status and feedback period (s)", min=0.05, max=10.0)
    push_to_hub: bool = param(False, "push the dataset to the Hugging Face Hub on finalize")
    hub_private: bool = param(False, "create the Hub repository as private")
    hub_tags: list[str] = param(["LeRobot", "lerobot-ros"], "tags of the Hub dataset card")


_LATE_STREAM_POLL_S = 0.02
"""Once an episode's time is up: how often to look whether its last frames are decided."""


class _Outcome:
    """How a requested episode ended, set by the thread that ended it (one or more dataset episodes, if split)."""

    def __init__(self, index: int) -> None:
        self.index = index
        self.done = threading.Event()
        self.parts: list[SavedEpisode] = []
        self.message = ""

    @property
    def frames(self) -> int:
        return sum(part.frames for part in self.parts)


class RecorderNode(Node):
    def __init__(self) -> None:
        super().__init__("recorder")
        self.config = declare_parameters(self, RecorderConfig)
        self.contract: Contract = load_contract(self.config.contract)
        self.root = Path(self.config.root).expanduser()
        self.repo_id = self.config.repo_id or f"local/{self.root.name}"
        self._lock = threading.RLock()  # guards the session and the episode timing
        self._session: RecordingSession | None = None  # created with the dataset, on the first episode
        self._error = ""  # a failure before the dataset exists
        self._finalized = False  # finalized before any dataset was created
        self._outcome: _Outcome | None = None
        self._episode_started = 0.0
        self._first_frame_at: float | None = None  # node clock when the open episode's frame 0 was decided
        self._episode_time_s = 0.0
        self._last_dropped = 0
        self._task_from_topic: str | None = None
        self._seen_topics: set[str] = set()
        self._qos_warned: set[str] = set()
        self._rejects_logged: dict[tuple[str, str], float] = {}
        self._started_at = time.monotonic()
        self._stop = threading.Event()
        self.finished = threading.Event()

        control = ReentrantCallbackGroup()
        self._qos = subscriber_qos(self.config.queue_depth)
        self._inputs = self._create_inputs()
        self._subscribed = {spec.topic: self._qos for spec in self.contract.features_spec}  # topic → our QoS
        if self.contract.task_topic:
            task = self.create_subscription(String, self.contract.task_topic, self._on_task, 10, callback_group=control)
            self._subscribed[self.contract.task_topic] = task.qos_profile  # reliable: no task text may be lost
        self._status_pub = self.create_publisher(RecorderStatus, "recorder/status", 10)
        self._events_pub = self.create_publisher(EpisodeEvent, "recorder/episode_events", LATCHED_QOS)
        self._diagnostics = DiagnosticsReporter(self, hardware_id=str(self.root))
        self.create_service(SaveEpisode, "recorder/save_episode", self._on_save, callback_group=control)
        self.create_service(Trigger, "recorder/discard_episode", self._on_discard, callback_group=control)
        self.create_service(Trigger, "recorder/finalize", self._on_finalize, callback_group=control)
        self._action = ActionServer(
            self,
            RecordEpisode,
            "recorder/record_episode",
            execute_callback=self._execute,
            goal_callback=self._on_goal,
            cancel_callback=lambda _: CancelResponse.ACCEPT,
            callback_group=control,
        )
        self.create_timer(self.config.status_period_s, self._publish_status, callback_group=control)
        self.create_timer(2.0, self._check_topics, callback_group=control)
        self._progress_at = 0.0
        self._inputs.start()
        if self.config.num_episodes > 0:
            threading.Thread(target=self._automatic, name="recorder-auto", daemon=True).start()
        mode = f"automatic, {self.config.num_episodes} episodes" if self.config.num_episodes else "action-driven"
        self.get_logger().info(
            f"recording {', '.join(self.contract.keys)} at {self.contract.fps} fps into {self.root} ({mode})"
        )

    @property
    def _state(self) -> str:
        if self._session is not None:
            return self._session.state.value
        if self._finalized:
            return RecorderStatus.STATE_FINALIZED
        return RecorderStatus.STATE_ERROR if self._error else RecorderStatus.STATE_IDLE

    @property
    def _message(self) -> str:
        return self._session.message if self._session is not None else self._error

    # ------------------------------------------------------------------ inputs

    def _create_inputs(self) -> CompanionNode:
        """The contract's subscriptions, on a companion node served by one events-executor thread.

        At three 30 Hz cameras and 300 joint/wrench messages/s, the multi-threaded executor's cost per
        message exceeds what two cores can give next to the encoders, and DDS drops what is not taken
        in time. The action's execute callback blocks for a whole episode, so the action and the
        services stay on this node's multi-threaded executor.
        """
        inputs = CompanionNode(self, "inputs", on_error=self._on_input_error)
        for topic in sorted({spec.topic for spec in self.contract.features_spec}):
            msg_type = message_class(next(s for s in self.contract.features_spec if s.topic == topic).message_type.name)
            inputs.node.create_subscription(msg_type, topic, lambda msg, t=topic: self._on_message(t, msg), self._qos)
        return inputs

    def _on_input_error(self, error: Exception) -> None:
        """A bug must not silently stop recording: end the episode, say why."""
        self._fail(f"processing input messages failed: {error!r}")

    def _on_message(self, topic: str, msg: Any) -> None:
        receive_ns = self.get_clock().now().nanoseconds
        self._seen_topics.add(topic)
        session = self._session
        if session is None or not session.recording:
            return
        samples = session.convert(topic, msg, receive_ns)  # outside the lock: status and services stay responsive
        with self._lock:
            session.push(samples)
            self._handle(session.tick())  # frames are decided by the messages alone: written right away
            if self._first_frame_at is None and session.first_tick_ns is not None:
                self._first_frame_at = receive_ns * 1e-9
                if self._episode_time_s > 0:  # on the stamps' clock, which need not be this node's
                    session.end_at(session.first_tick_ns + round(self._episode_time_s * 1e9))

    def _on_task(self, msg: String) -> None:
        self._task_from_topic = msg.data or None

    def _on_reject(self, key: str, error: str) -> None:
        """Log rejected messages, at most once per feature and cause every 2 s."""
        now = time.monotonic()
        reason = (key, error.split(":", 2)[-1][:60])
        if now - self._rejects_logged.get(reason, -1e9) >= 2.0:
            self._rejects_logged[reason] = now
            self.get_logger().warn(f"message rejected: {error}")

    # ------------------------------------------------------------------ session

    def _open_session(self) -> RecordingSession:
        """Create or resume the dataset on the first episode (optional features decided then)."""
        if self._session is not None:
            return self._session
        from lerobot_ros_record.dataset import WriterConfig

        absent = {s.key for s in self.contract.features_spec if not s.required and s.topic not in self._seen_topics}
        writer_config = WriterConfig(
            fps=self.contract.fps,
            video_codec=self.config.video_codec,
            encoder_queue_size=self.config.encoder_queue_size,
        )
        dataset = open_dataset(self.root, self.contract, DatasetConfig(self.repo_id, writer_config), absent=absent)
        if dataset.resumed:
            self.get_logger().info(f"resuming {self.root}: {dataset.writer.num_episodes} episode(s) already recorded")
        elif absent:
            self.get_logger().warn(f"optional feature(s) {sorted(absent)} have no data: left out of the dataset")
        self._session = RecordingSession(dataset, self.config.deadline_s, on_reject=self._on_reject)
        self._error = ""
        return self._session

    def _handle(self, events: list[Event]) -> None:
        """Episode events, status message and logs for what the session did (called under the lock)."""
        for event in events:
            if isinstance(event, EpisodeStarted):
                self._publish_event(EpisodeEvent.START, event.index, event.task)
                self.get_logger().info(f"episode {event.index} started: {event.task!r}")
            elif isinstance(event, EpisodeSaved | EpisodeSplit):
                saved = event.episode
                self._last_dropped = int(getattr(saved.summary, "total_dropped_frames", 0) or 0)
                self._publish_event(EpisodeEvent.END, saved.index, event.task)
                self.get_logger().info(f"episode {saved.index} saved: {saved.frames} frames\n{saved.report.summary()}")
                if saved.report_error:
                    self.get_logger().warn(f"episode {saved.index}: {saved.report_error}")
                if self._outcome is not None:
                    self._outcome.parts.append(saved)
                if isinstance(event, EpisodeSplit):
                    self.get_logger().warn(self._message)
                    self._publish_event(EpisodeEvent.START, event.next_index, event.task)
                else:
                    self._end_outcome(f"episode {saved.index} saved ({saved.frames} frames)", saved=True)
            elif isinstance(event, EpisodeRefused):
                self._publish_event(EpisodeEvent.DISCARD, event.index, "")
                self.get_logger().warn(event.reason)
                self._end_outcome(event.reason)
            elif isinstance(event, EpisodeDiscarded):
                self._publish_event(EpisodeEvent.DISCARD, event.index, "")
                self.get_logger().info(f"episode {event.index} discarded ({event.reason})")
                self._end_outcome(f"episode {event.index} discarded ({event.reason})")
            elif isinstance(event, EpisodeFailed):
                self.get_logger().error(event.reason)
                self._end_outcome(event.reason)

    def _end_outcome(self, message: str, saved: bool = False) -> None:
        """The requested episode is over; after a split, the message names every dataset episode it became."""
        outcome = self._outcome
        if outcome is None:
            return
        if len(outcome.parts) > int(saved):
            indices = ", ".join(str(part.index) for part in outcome.parts)
            message = f"split into episodes {indices} ({outcome.frames} frames); {message}"
        outcome.message = message
        outcome.done.set()

    def _fail(self, message: str) -> None:
        with self._lock:
            if self._session is not None:
                self._handle([self._session.fail(message)])
            else:
                self._error = message
                self._handle([EpisodeFailed(None, message)])

    # ------------------------------------------------------------------ episodes

    def _wait_for_optional_topics(self) -> None:
        """Before the dataset exists, give optional streams `optional_wait_s` after start-up to show up."""
        if self._session is not None:
            return
        deadline = self._started_at + self.config.optional_wait_s
        optional = {s.topic for s in self.contract.features_spec if not s.required}
        while time.monotonic() < deadline and not optional <= self._seen_topics:
            time.sleep(0.05)

    def _start_episode(self, task: str, episode_time_s: float) -> tuple[int, _Outcome]:
        self._wait_for_optional_topics()
        with self._lock:
            if self._finalized:
                raise SessionError("the dataset is finalized")
            session = self._open_session()
            started = session.start(task or self.config.task or self._task_from_topic or self.contract.task or "")
            self._outcome = _Outcome(started.index)
            self._episode_started = self._now()
            self._first_frame_at = None
            self._episode_time_s = episode_time_s
            self._handle([started])
            return started.index, self._outcome

    def _save(self) -> _Outcome | None:
        """Save the episode being recorded; None if there is none."""
        with self._lock:
            if self._session is None or not self._session.recording:
                return None
            self._handle(self._session.save())
            return self._outcome

    def _discard(self, why: str) -> tuple[bool, str]:
        with self._lock:
            discarded = self._session.discard(why) if self._session is not None else None
            if discarded is None:
                return False, "no episode is being recorded"
            self._handle([discarded])
            return True, f"episode {discarded.index} discarded"

    def _finalize(self) -> str:
        with self._lock:
            if self._state == RecorderStatus.STATE_FINALIZED:
                return "already finalized"
            self._stop.set()
            if self._session is None:
                self._finalized = True
                message = f"dataset finalized: 0 episode(s) in {self.root}"
            else:
                self._handle(self._session.finalize())
                message = self._session.message
        self.get_logger().info(message)
        if self.config.push_to_hub and self._session is not None:
            from lerobot_ros_record.nodes.hub import push_dataset

            url = push_dataset(self.root, self.repo_id, private=self.config.hub_private, tags=self.config.hub_tags)
            message += f"; pushed to {url}"
            self.get_logger().info(f"pushed to {url}")
        return message

    def _episode_end(self) -> float | None:
        """When the episode's time is up (node clock, s): `episode_time_s` after its first frame was
        decided, so that streams coming up late do not shorten it; without a first frame, after its start."""
        if self._episode_time_s <= 0:
            return None
        start = self._episode_started if self._first_frame_at is None else self._first_frame_at
        return start + self._episode_time_s

    def _wait_step(self) -> float:
        """Wake at the status period for feedback, and when the episode's time is up (not up to a period late)."""
        end = self._episode_end()
        if end is None:
            return self.config.status_period_s
        return min(self.config.status_period_s, max(end - self._now(), _LATE_STREAM_POLL_S))

    def _time_up(self) -> bool:
        """Every frame of the episode's time is decided, or its time is up and a late stream had `deadline_s`."""
        with self._lock:
            end, now = self._episode_end(), self._now()
            if end is None:
                return False
            if self._first_frame_at is None:
                return now >= end  # not one frame in episode_time_s: save says which stream is silent
            return self._session.reached_end or now >= end + self.config.deadline_s

    def _wait_episode(self, outcome: _Outcome, goal_handle: Any | None = None) -> None:
        """Until the episode ends: feedback, cancel (discard) and time limit (save)."""
        while not outcome.done.wait(self._wait_step()):
            if goal_handle is not None:
                if goal_handle.is_cancel_requested:
                    self._discard("goal cancelled")
                    continue
                if self._stop.is_set():
                    return
                goal_handle.publish_feedback(self._feedback())
            if self._time_up():
                self._save()

    # ------------------------------------------------------------------ action and services

    def _on_goal(self, goal: RecordEpisode.Goal) -> GoalResponse:
        with self._lock:
            busy = self._state == RecorderStatus.STATE_RECORDING
            if busy or self._state == RecorderStatus.STATE_FINALIZED or self.config.num_episodes > 0:
                self.get_logger().warn(f"record_episode goal rejected: recorder is {self._state}")
                return GoalResponse.REJECT
        return GoalResponse.ACCEPT

    def _execute(self, goal_handle: Any) -> RecordEpisode.Result:
        result = RecordEpisode.Result()
        try:
            index, outcome = self._start_episode(goal_handle.request.task, goal_handle.request.episode_time_s)
        except (RuntimeError, ContractError, OSError, ValueError) as error:
            self._fail(f"cannot start an episode: {error}")
            result.message = str(error)
            goal_handle.abort()
            return result
        self._wait_episode(outcome, goal_handle)
        result.episode_index = index
        result.message = outcome.message
        if outcome.parts:
            result.saved, result.frames = True, outcome.frames
            goal_handle.succeed()
        elif goal_handle.is_cancel_requested:
            goal_handle.canceled()
        else:
            goal_handle.abort()
        return result

    def _on_save(self, request: SaveEpisode.Request, response: SaveEpisode.Response) -> SaveEpisode.Response:
        outcome = self._save()
        if outcome is None:
            response.success, response.message = False, "no episode is being recorded"
            return response
        response.success, response.message = bool(outcome.parts), outcome.message
        if outcome.parts:
            response.episode_index, response.frames = outcome.index, outcome.frames
        return response

    def _on_discard(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        response.success, response.message = self._discard("requested: re-record")
        return response

    def _on_finalize(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        try:
            response.message = self._finalize()
            response.success = True
        except Exception as error:  # a Hub push failure must not lose the dataset, which is final on disk
            response.success, response.message = False, f"finalized, but: {error}"
            self.get_logger().error(response.message)
        return response

    # ------------------------------------------------------------------ automatic mode

    def _automatic(self) -> None:
        recorded = 0
        while not self._stop.is_set() and recorded < self.config.num_episodes:
            try:
                _, outcome = self._start_episode("", self.config.episode_time_s)
            except (RuntimeError, ContractError, OSError, ValueError) as error:
                self._fail(f"cannot start an episode: {error}")
                return
            self._wait_episode(outcome)
            if not outcome.parts or self._stop.is_set():
                continue  # discarded: record it again right away (lerobot-record's ←)
            recorded += 1
            if recorded < self.config.num_episodes and self.config.reset_time_s > 0:
                with self._lock:
                    self._session.begin_reset()
                self._stop.wait(self.config.reset_time_s)
                with self._lock:
                    self._session.end_reset()
        if not self._stop.is_set():
            self._finalize()
        if self.config.exit_when_done and self._state == RecorderStatus.STATE_FINALIZED:
            self.get_logger().info("all episodes recorded; exiting (exit_when_done)")
            time.sleep(2 * self.config.status_period_s)  # let the final status go out
            self.finished.set()

    # ------------------------------------------------------------------ status

    def _now(self) -> float:
        return self.get_clock().now().nanoseconds * 1e-9

    def _streams(self, report: SyncReport | None) -> list[StreamSyncStatus]:
        if report is None:
            return []
        out = []
        for name, stats in report.streams.items():
            p50, p95, worst = stats.staleness_percentiles()
            out.append(
                StreamSyncStatus(
                    feature=name,
                    topic=stats.topic,
                    messages_received=stats.messages_received,
                    staleness_p50=p50,
                    staleness_p95=p95,
                    staleness_max=worst,
                    gaps=stats.gaps,
                    frames_held=stats.held,
                    limit_hits=stats.limit_hits,
                    frames_padded=stats.padded,
                    healthy=stats.healthy,
                )
            )
        return out

    def _feedback(self) -> RecordEpisode.Feedback:
        with self._lock:
            session = self._session
            report = session.report if session is not None and session.recording else None
            return RecordEpisode.Feedback(
                frames=session.frames.frames if report is not None else 0,
                elapsed=self._now() - self._episode_started,
                sync_healthy=report.healthy if report else False,
                streams=self._streams(report),
            )

    def _publish_status(self) -> None:
        with self._lock:
            session = self._session
            recording = session is not None and session.recording
            report = session.report if session is not None else None
            episodes_saved = session.episodes_saved if session is not None else 0
            msg = RecorderStatus(
                state=self._state,
                repo_id=self.repo_id,
                root=str(self.root),
                task=(session.frames.task or "") if recording else "",
                episode_index=session.episode_index if session is not None else 0,
                episodes_saved=episodes_saved,
                frames=session.frames.frames if recording else 0,
                elapsed=self._now() - self._episode_started if recording else 0.0,
                episode_time_s=self._episode_time_s if recording else 0.0,
                dropped_video_frames=self._last_dropped,
                streams=self._streams(report),
                message=self._message,
            )
        msg.header.stamp = self.get_clock().now().to_msg()
        self._status_pub.publish(msg)
        level = ERROR if msg.state == RecorderStatus.STATE_ERROR else OK
        if report is not None and not report.healthy and level == OK:
            level = WARN
        self._diagnostics.update(
            "recording",
            level,
            msg.message or msg.state,
            state=msg.state,
            episodes_saved=episodes_saved,
            frames=msg.frames,
            frames_held=report.frames_held if report else 0,
            frames_padded=report.frames_padded if report else 0,
            clock_jumps=len(report.clock_jumps) if report else 0,
        )
        if recording and time.monotonic() - self._progress_at >= 5.0:
            self._progress_at = time.monotonic()
            limit = f"/{msg.episode_time_s:.0f}" if msg.episode_time_s > 0 else ""
            self.get_logger().info(f"episode {msg.episode_index}: {msg.frames} frames, {msg.elapsed:.1f}{limit} s")

    def _check_topics(self) -> None:
        """Warn about publishers whose QoS delivers nothing to us, and about required topics without one.

        The contract's topics take any publisher (best effort, volatile); the task topic is reliable,
        so a best-effort task publisher is the mismatch a user meets.
        """
        problems = []
        for topic, qos in self._subscribed.items():
            for problem in check_publisher_compatibility(self, topic, qos):
                problems.append(problem)
                if problem not in self._qos_warned:
                    self._qos_warned.add(problem)
                    self.get_logger().warn(f"QoS mismatch, no data will arrive: {problem}")
        for spec in self.contract.features_spec:
            if spec.required and self.count_publishers(spec.topic) == 0:
                problems.append(f"{spec.topic}: no publisher (feature {spec.key})")
        self._diagnostics.update(
            "inputs",
            WARN if problems else OK,
            "; ".join(problems) if problems else "all topics published",
            topics=len({s.topic for s in self.contract.features_spec}),
        )

    def shutdown(self) -> None:
        """On shutdown: close the dataset without the open episode (it stays resumable and loadable)."""
        self._stop.set()
        self._inputs.stop()  # no message reaches the episode while it is dropped
        with self._lock:
            if self._outcome is not None:
                self._outcome.done.set()
            if self._session is not None and self._session.state != SessionState.FINALIZED:
                self._session.dataset.writer.finalize()

    def _publish_event(self, kind: int, index: int, task: str) -> None:
        msg = EpisodeEvent(event=kind, episode_index=int(index), task=task)
        msg.header.stamp = self.get_clock().now().to_msg()
        self._events_pub.publish(msg)


def main() -> int:
    return run_node(RecorderNode, threads=4)
