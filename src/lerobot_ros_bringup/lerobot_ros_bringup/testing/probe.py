"""An rclpy node for tests: subscribe, wait, publish, call services, from plain test code."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

import rclpy
from rclpy.action import ActionClient
from rclpy.executors import SingleThreadedExecutor
from rclpy.qos import QoSProfile

from lerobot_ros_core.node.qos import subscriber_qos


class RosProbe:
    """Owns an rclpy context and node spinning in a background thread."""

    def __init__(self, name: str = "test_probe") -> None:
        self.context = rclpy.Context()
        rclpy.init(context=self.context)
        self.node = rclpy.create_node(name, context=self.context)
        # One thread: callbacks only append or set events, and rclpy's multi-threaded executor costs
        # over twice as much per message, enough to fall behind 200 Hz joint states on a busy machine.
        self._executor = SingleThreadedExecutor(context=self.context)
        self._executor.add_node(self.node)
        self._thread = threading.Thread(target=self._spin, daemon=True)
        self._thread.start()
        self._action_clients: list[ActionClient] = []  # kept alive: their goal handles use them

    def _spin(self) -> None:
        try:
            self._executor.spin()
        except Exception:  # the context was shut down
            return

    # --- graph introspection
    def topic_names(self) -> set[str]:
        return {name for name, _ in self.node.get_topic_names_and_types()}

    def missing_interfaces(
        self, *, topics: Iterable[str] = (), services: Iterable[str] = (), actions: Iterable[str] = ()
    ) -> list[str]:
        missing = []
        for topic in topics:
            if self.node.count_publishers(topic) == 0:
                missing.append(f"topic {topic}")
        service_names = {name for name, _ in self.node.get_service_names_and_types()}
        missing += [f"service {s}" for s in services if s not in service_names]
        missing += [f"action {a}" for a in actions if f"{a}/_action/send_goal" not in service_names]
        return missing

    # --- messages
    def collect(self, topic: str, msg_type: type, qos: QoSProfile | None = None) -> list[Any]:
        """Start collecting messages of `topic` into the returned list (appended as they arrive)."""
        received: list[Any] = []
        self.node.create_subscription(msg_type, topic, received.append, qos or subscriber_qos())
        return received

    def wait_for_message(
        self,
        topic: str,
        msg_type: type,
        timeout: float = 30.0,
        predicate: Callable[[Any], bool] | None = None,
        qos: QoSProfile | None = None,
    ) -> Any:
        event = threading.Event()
        found: list[Any] = []

        def on_message(msg: Any) -> None:
            if not event.is_set() and (predicate is None or predicate(msg)):
                found.append(msg)
                event.set()

        subscription = self.node.create_subscription(msg_type, topic, on_message, qos or subscriber_qos())
        try:
            if not event.wait(timeout):
                raise AssertionError(
                    f"no {'matching ' if predicate else ''}message on {topic} within {timeout:.0f} s "
                    f"(publishers: {self.node.count_publishers(topic)})"
                )
            return found[0]
        finally:
            self.node.destroy_subscription(subscription)

    def publisher(self, topic: str, msg_type: type, qos: QoSProfile | int = 10):
        return self.node.create_publisher(msg_type, topic, qos)

    def call_service(
        self, name: str, srv_type: type, request: Any = None, timeout: float = 30.0, *, idempotent: bool = False
    ) -> Any:
        """Call a service and return its response.

        `idempotent`: an unanswered call is made again every 5 s (see `send_goal` for why replies get
        lost). Others are called once, so a lost reply never runs the service twice.
        """

        def new_client(wait_s: float) -> Any:
            client = self.node.create_client(srv_type, name)
            if not client.wait_for_service(timeout_sec=wait_s):
                self.node.destroy_client(client)
                raise AssertionError(f"service {name} not available within {timeout:.0f} s")
            return client

        client, response = self._first_answer(
            f"service {name}",
            new_client,
            lambda client: client.call_async(request if request is not None else srv_type.Request()),
            self.node.destroy_client,
            timeout=timeout,
            attempt_s=5.0 if idempotent else timeout,
        )
        self.node.destroy_client(client)
        return response

    def send_goal(
        self,
        action_type: type,
        name: str,
        goal: Any,
        *,
        timeout: float = 60.0,
        feedback_callback: Callable[[Any], None] | None = None,
    ) -> Any:
        """Send an action goal; returns its goal handle (accepted or not). An unanswered goal is sent
        again every 5 s; a goal re-sent replaces the lost one on the server, as any new goal does."""

        def new_client(wait_s: float) -> ActionClient:
            client = ActionClient(self.node, action_type, name)
            if not client.wait_for_server(timeout_sec=wait_s):
                client.destroy()
                raise AssertionError(f"action server {name} not available within {timeout:.0f} s")
            return client

        client, handle = self._first_answer(
            f"action {name}",
            new_client,
            lambda client: client.send_goal_async(goal, feedback_callback=feedback_callback),
            ActionClient.destroy,
            timeout=timeout,
            attempt_s=5.0,
        )
        self._action_clients.append(client)  # its goal handle uses it
        return handle

    @staticmethod
    def _first_answer(
        what: str,
        new_client: Callable[[float], Any],
        send: Callable[[Any], Any],
        destroy: Callable[[Any], None],
        *,
        timeout: float,
        attempt_s: float,
        sends_per_client: int = 3,
    ) -> tuple[Any, Any]:
        """(client, result) of the first answered `send`, re-sent every `attempt_s` until `timeout`.

        rmw_fastrtps drops a reply when the server has not matched the client's reply reader within
        100 ms of the request. A new client's first request often comes that early, so a request is
        re-sent on the same client; after `sends_per_client` unanswered ones the client is replaced
        (in one CI run a client stayed unmatched for over 30 s).
        """
        deadline = time.monotonic() + timeout
        client, sends = None, 0
        while True:
            if client is None or sends == sends_per_client:
                if client is not None:
                    destroy(client)
                client, sends = new_client(max(deadline - time.monotonic(), 0.1)), 0
            future = send(client)
            sends += 1
            attempt_end = min(time.monotonic() + attempt_s, deadline)
            while not future.done() and time.monotonic() < attempt_end:
                time.sleep(0.01)
            if future.done():
                return client, future.result()
            if time.monotonic() >= deadline:
                destroy(client)
                raise AssertionError(f"{what} did not answer within {timeout:.0f} s")

    def wait_until(self, condition: Callable[[], bool], timeout: float = 30.0, message: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise AssertionError(message or f"condition not met within {timeout:.0f} s")
            time.sleep(0.02)

    def close(self) -> None:
        self._executor.shutdown(timeout_sec=1.0)
        self.node.destroy_node()
        rclpy.shutdown(context=self.context)
        self._thread.join(timeout=2.0)
