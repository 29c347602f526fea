"""The episode coordinator process drives the policy and arm services at episode boundaries, in
order, and goes on when a reply is lost or late."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator

import pytest
import rclpy
from rclpy.callback_groups import ReentrantCallbackGroup
from rclpy.executors import MultiThreadedExecutor
from std_srvs.srv import Trigger

from lerobot_ros_bringup.graph import NodeSpec
from lerobot_ros_msgs.msg import EpisodeEvent

SERVICES = {"pause": "/policy/pause", "resume": "/policy/resume", "reset": "/policy/reset", "rest": "/arm/rest"}


class FakeServices:
    """The policy node's and the follower's Trigger services, in a process-local node of their own
    (its own executor threads: a slow answer must not hold the others). Records each call."""

    def __init__(self, delays: dict[str, float]) -> None:
        self.calls: list[str] = []
        self.delays = delays
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node("fake_services", context=self.context)
        group = ReentrantCallbackGroup()
        for name, service in SERVICES.items():
            self.node.create_service(Trigger, service, self._answer(name), callback_group=group)
        self.executor = MultiThreadedExecutor(num_threads=4, context=self.context)
        self.executor.add_node(self.node)
        threading.Thread(target=self.executor.spin, daemon=True).start()

    def _answer(self, name: str):
        def answer(request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
            self.calls.append(name)
            time.sleep(self.delays.get(name, 0.0))
            response.success = True
            return response

        return answer

    def close(self) -> None:
        self.executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)


@pytest.fixture
def services() -> Iterator[FakeServices]:
    fake = FakeServices({"reset": 2.0})  # reset answers after the coordinator's timeout, every time
    yield fake
    fake.close()


def test_coordinator_calls_in_order_and_goes_on_without_a_lost_answer(services, ros_graph, ros_probe):
    coordinator = NodeSpec(
        "lerobot_ros_bringup",
        "episode_coordinator_node",
        "episode_coordinator",
        parameters=[{"rest_service": SERVICES["rest"], "service_timeout_s": 0.5, "service_attempts": 2}],
    )
    graph = ros_graph([coordinator])
    events = ros_probe.publisher("/recorder/episode_events", EpisodeEvent)
    ros_probe.wait_until(lambda: events.get_subscription_count() > 0, 30, "coordinator not subscribed")
    # Its clients must see the services before an event, or it skips them (as it says in its log).
    time.sleep(1.0)
    events.publish(EpisodeEvent(event=EpisodeEvent.START))
    ros_probe.wait_until(lambda: "resume" in services.calls, 30, f"resume never called: {services.calls}")
    # reset is called twice (its first answer is late), then the coordinator goes on: the policy is
    # not left paused for the episode because one reply did not come.
    assert services.calls == ["reset", "reset", "resume"]
    output = graph.output("episode_coordinator")
    assert "policy/reset: no answer within 0.5 s; calling again" in output
    assert "policy/reset: no answer to 2 calls of 0.5 s; going on without it" in output
    events.publish(EpisodeEvent(event=EpisodeEvent.END))
    ros_probe.wait_until(lambda: "rest" in services.calls, 30, f"rest never called: {services.calls}")
    assert services.calls[3:] == ["pause", "rest"]
    time.sleep(3.0)  # the late reset replies arrive now: ignored, nothing is called again
    assert services.calls[3:] == ["pause", "rest"]
    graph.check_alive()
