"""The `main()` of every node executable: init, spin, clean shutdown, meaningful exit codes.

    def main() -> int:
        return run_node(FollowerNode)

A node whose constructor raises (bad parameters, missing device, wrong checkpoint) logs one clear
error and exits with code 1, so the runner and launch report it; Ctrl-C and `ros2 launch`
shutdown exit with 0 after the node's `shutdown()` hook (e.g. torque off) has run. A node that
ends by itself sets its `finished` (a threading.Event) and exits with 0 the same way.
"""

from __future__ import annotations

import sys
from collections.abc import Callable

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor
from rclpy.node import Node


def run_node(factory: Callable[[], Node], *, threads: int = 2, args: list[str] | None = None) -> int:
    rclpy.init(args=sys.argv if args is None else args)
    node: Node | None = None
    try:
        node = factory()
    except Exception as error:
        rclpy.logging.get_logger(getattr(factory, "__name__", "node")).fatal(f"cannot start: {error}")
        rclpy.try_shutdown()
        return 1
    executor = MultiThreadedExecutor(num_threads=threads)
    executor.add_node(node)
    finished = getattr(node, "finished", None)
    code = 0
    try:
        if finished is None:
            executor.spin()
        else:
            while not finished.is_set():
                executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as error:
        node.get_logger().fatal(f"stopped by an unexpected error: {error!r}")
        code = 1
    finally:
        shutdown = getattr(node, "shutdown", None)
        if callable(shutdown):
            shutdown()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return code
