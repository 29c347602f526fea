"""Resets between evaluation episodes: the recorder's episode boundaries drive the policy and the arm.

On an episode START the policy is reset (fresh action queue) and resumed; on END or DISCARD it is
paused and the follower moves to its rest pose, so every evaluation episode starts alike, as
LeRobot's record-with-policy does during its reset period.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rclpy.client import Client
from rclpy.node import Node
from rclpy.task import Future
from std_srvs.srv import Trigger

from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_msgs.msg import EpisodeEvent


@dataclass
class CoordinatorConfig:
    events_topic: str = param("recorder/episode_events", "episode boundaries (lerobot_ros_msgs/EpisodeEvent)")
    policy_namespace: str = param("policy", "namespace of the policy node's pause/resume/reset services")
    rest_service: str = param("follower/move_to_rest", "service moving the arm to its rest pose ('' = none)")
    service_timeout_s: float = param(
        5.0, "how long a call may go unanswered before it is made again (replies can be lost)", min=0.1, max=120.0
    )
    service_attempts: int = param(3, "calls of one service before going on without its answer", min=1, max=100)


@dataclass
class _PendingCall:
    """A call waiting for its answer: the services still to call after it, and when to give up on it."""

    client: Client
    future: Future
    names: tuple[str, ...]
    attempt: int
    deadline: float


class EpisodeCoordinatorNode(Node):
    def __init__(self) -> None:
        super().__init__("episode_coordinator")
        self.config = declare_parameters(self, CoordinatorConfig)
        prefix = self.config.policy_namespace.rstrip("/")
        self.clients_by_name = {
            name: self.create_client(Trigger, f"{prefix}/{name}") for name in ("pause", "resume", "reset")
        }
        if self.config.rest_service:
            self.clients_by_name["rest"] = self.create_client(Trigger, self.config.rest_service)
        self.pending: list[_PendingCall] = []
        self.create_subscription(EpisodeEvent, self.config.events_topic, self.on_event, 10)
        self.create_timer(0.1, self.expire_unanswered)

    def on_event(self, event: EpisodeEvent) -> None:
        if event.event == EpisodeEvent.START:
            self.call("reset", "resume")
        else:
            self.call("pause", "rest")

    def call(self, *names: str, attempt: int = 1) -> None:
        """Call the Trigger services in order, each after the previous one answered (or was given up on)."""
        if not names:
            return
        name, rest = names[0], names[1:]
        client = self.clients_by_name.get(name)
        if client is None:
            self.call(*rest)
            return
        if not client.service_is_ready():
            self.get_logger().warning(f"service {client.srv_name} is not available; skipping '{name}'")
            self.call(*rest)
            return
        future = client.call_async(Trigger.Request())
        pending = _PendingCall(client, future, names, attempt, time.monotonic() + self.config.service_timeout_s)
        self.pending.append(pending)

        def done(future: Future) -> None:
            if pending not in self.pending:  # given up on: its successor was called already
                return
            self.pending.remove(pending)
            result = future.result()
            if result is not None and not result.success:
                self.get_logger().warning(f"{client.srv_name}: {result.message}")
            self.call(*rest)

        future.add_done_callback(done)

    def expire_unanswered(self) -> None:
        """A reply can be lost (a server that restarted, a client its server has not matched yet): call again,
        then go on without it, so one lost reply never leaves the policy paused for a whole episode."""
        now = time.monotonic()
        for pending in [p for p in self.pending if p.deadline < now and not p.future.done()]:
            self.pending.remove(pending)
            pending.client.remove_pending_request(pending.future)
            name = pending.client.srv_name
            timeout = self.config.service_timeout_s
            if pending.attempt < self.config.service_attempts:
                self.get_logger().warning(f"{name}: no answer within {timeout:.1f} s; calling again")
                self.call(*pending.names, attempt=pending.attempt + 1)
            else:
                self.get_logger().error(
                    f"{name}: no answer to {pending.attempt} calls of {timeout:.1f} s; going on without it"
                )
                self.call(*pending.names[1:])


def main() -> int:
    return run_node(EpisodeCoordinatorNode)
