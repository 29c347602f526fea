"""The `main()` of every node executable: init, spin, clean shutdown, meaningful exit codes.

    def main() -> int:
        return run_node(FollowerNode, threads=4)

A node whose constructor raises (bad parameters, missing device, wrong checkpoint) prints one line,
`<executable>: cannot start: <reason>`, and exits with code 1, so the runner and launch report
it; errors of the suite carry their precise reason, anything else also gets a traceback. Ctrl-C
and a launch shutdown exit with 0 after the node's `shutdown()` hook (e.g. torque off) has run,
and also while the node is still starting (its constructor then fails on the dead context). A
node that ends by itself sets its `finished` (a threading.Event) and exits with 0 the same way.
"""

from __future__ import annotations

import sys
import traceback
from collections.abc import Callable
from pathlib import Path

import rclpy
from rclpy.executors import ExternalShutdownException, MultiThreadedExecutor, SingleThreadedExecutor
from rclpy.node import Node


def _is_expected(error: Exception) -> bool:
    """The suite's own errors (and OS errors) say what is wrong; others are bugs worth a traceback."""
    return type(error).__module__.startswith("lerobot_ros") or isinstance(error, OSError)


def run_node(factory: Callable[[], Node], *, threads: int = 1, args: list[str] | None = None) -> int:
    """Run one node until shutdown; `threads` > 1 for nodes whose callbacks may block (actions)."""
    rclpy.init(args=sys.argv if args is None else args)
    name = Path(sys.argv[0]).name
    try:
        node = factory()
    except (Exception, KeyboardInterrupt) as error:
        stopped = isinstance(error, KeyboardInterrupt) or not rclpy.ok()
        rclpy.try_shutdown()
        if stopped:
            # Ctrl-C or a launch shutdown while the node was starting (a checkpoint loading, a port
            # opening): the constructor then fails on the dead context. A stop, not a failure.
            print(f"{name}: stopped while starting", file=sys.stderr, flush=True)
            return 0
        if not _is_expected(error):
            traceback.print_exc()
        print(f"{name}: cannot start: {error}", file=sys.stderr, flush=True)
        return 1
    executor = SingleThreadedExecutor() if threads == 1 else MultiThreadedExecutor(num_threads=threads)
    finished = getattr(node, "finished", None)
    code = 0
    try:
        executor.add_node(node)
        if finished is None:
            executor.spin()
        else:
            while not finished.is_set():
                executor.spin_once(timeout_sec=0.1)
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception as error:
        # Callbacks still running when Ctrl-C shuts the context down fail on the dead context:
        # that is the shutdown, not a failure of the node.
        if node.context.ok():
            node.get_logger().fatal(f"stopped by an unexpected error: {error!r}")
            traceback.print_exc()
            code = 1
    finally:
        shutdown = getattr(node, "shutdown", None)
        if callable(shutdown):
            shutdown()
        executor.shutdown(timeout_sec=1.0)
        node.destroy_node()
        rclpy.try_shutdown()
    return code
