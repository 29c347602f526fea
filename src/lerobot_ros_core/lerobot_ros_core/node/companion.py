"""High-rate subscriptions served by a thread of their own, with rclpy's events executor.

rclpy's MultiThreadedExecutor costs about 1.7 ms of CPU per message, all under the GIL (the
single-threaded executor about 0.7 ms, the events executor about 0.55 ms). Nodes whose action or
service callbacks block need the multi-threaded one; their high-rate topics (camera and joint
streams, 200 Hz command streams) go on a companion node served here, so they cost a third.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from rclpy.executors import ExternalShutdownException
from rclpy.experimental import EventsExecutor
from rclpy.node import Node


class CompanionNode:
    """A node `<owner>_<suffix>` in the owner's namespace and context, spun by one events-executor thread.

    Create its subscriptions on `.node` before `start()`. `on_error` receives exceptions raised by
    its callbacks (the thread keeps serving); by default they propagate and end the thread.
    """

    def __init__(self, owner: Node, suffix: str = "inputs", on_error: Callable[[Exception], None] | None = None):
        name = f"{owner.get_name()}_{suffix}"
        self.node = Node(
            name,
            namespace=owner.get_namespace(),
            context=owner.context,
            cli_args=["--ros-args", "-r", f"__node:={name}"],  # overrides the process-wide __node remap
            start_parameter_services=False,
        )
        self._on_error = on_error
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._spin, name=name, daemon=True)

    def start(self) -> None:
        self._thread.start()

    def _spin(self) -> None:
        executor = EventsExecutor(context=self.node.context)
        executor.add_node(self.node)
        try:
            # spin() of these wheels' events executor can busy-loop without dispatching: spin_once is reliable.
            while not self._stop.is_set() and self.node.context.ok():
                try:
                    executor.spin_once(timeout_sec=0.1)
                except (ExternalShutdownException, KeyboardInterrupt):
                    break
                except Exception as error:
                    if self._on_error is None:
                        raise
                    self._on_error(error)
        finally:
            executor.shutdown()

    def stop(self) -> None:
        """Stop serving (a callback in progress finishes first) and destroy the node; idempotent."""
        if self._stop.is_set():
            return
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=2.0)
        self.node.destroy_node()
