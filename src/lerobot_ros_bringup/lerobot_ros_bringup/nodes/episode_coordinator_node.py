"""Resets between evaluation episodes: the recorder's episode boundaries drive the policy and the arm.

On an episode START the policy is reset (fresh action queue) and resumed; on END or DISCARD it is
paused and the follower moves to its rest pose, so every evaluation episode starts alike, as
LeRobot's record-with-policy does during its reset period.
"""

from __future__ import annotations

from dataclasses import dataclass

from rclpy.node import Node
from std_srvs.srv import Trigger

from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_msgs.msg import EpisodeEvent


@dataclass
class CoordinatorConfig:
    events_topic: str = param("recorder/episode_events", "episode boundaries (lerobot_ros_msgs/EpisodeEvent)")
    policy_namespace: str = param("policy", "namespace of the policy node's pause/resume/reset services")
    rest_service: str = param("follower/move_to_rest", "service moving the arm to its rest pose ('' = none)")


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
        self.create_subscription(EpisodeEvent, self.config.events_topic, self.on_event, 10)

    def on_event(self, event: EpisodeEvent) -> None:
        if event.event == EpisodeEvent.START:
            self.call("reset", "resume")
        else:
            self.call("pause", "rest")

    def call(self, *names: str) -> None:
        """Call the Trigger services in order, each after the previous one answered."""
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

        def done(future) -> None:
            result = future.result()
            if result is not None and not result.success:
                self.get_logger().warning(f"{client.srv_name}: {result.message}")
            self.call(*rest)

        client.call_async(Trigger.Request()).add_done_callback(done)


def main() -> int:
    return run_node(EpisodeCoordinatorNode)
