"""A throw-away ROS package overlay with two tiny nodes, to test the runner on real processes."""

from __future__ import annotations

import os
import sys
import textwrap
from pathlib import Path

import pytest

TALKER = """
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from lerobot_ros_msgs.msg import EpisodeEvent

def main():
    rclpy.init(args=sys.argv)
    try:
        run()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a Ctrl-C while starting makes rclpy calls fail on the dead context: a stop

def run():
    node = rclpy.create_node("talker")
    node.declare_parameter("task", "default task")
    node.declare_parameter("episode_index", 0)
    node.declare_parameter("exit_after", 0.0)
    pub = node.create_publisher(EpisodeEvent, "events", 10)

    def tick():
        msg = EpisodeEvent(event=EpisodeEvent.END, task=node.get_parameter("task").value,
                           episode_index=node.get_parameter("episode_index").value)
        msg.header.stamp = node.get_clock().now().to_msg()
        pub.publish(msg)

    node.create_timer(0.05, tick)
    exit_after = node.get_parameter("exit_after").value
    if exit_after > 0:
        node.create_timer(exit_after, lambda: sys.exit(3))
    print("talker up", flush=True)
    rclpy.spin(node)

main()
"""

RELAY = """
import sys
import rclpy
from rclpy.executors import ExternalShutdownException
from lerobot_ros_msgs.msg import EpisodeEvent

def main():
    rclpy.init(args=sys.argv)
    try:
        run()
    except (KeyboardInterrupt, ExternalShutdownException):
        pass
    except Exception:
        if rclpy.ok():
            raise  # a Ctrl-C while starting makes rclpy calls fail on the dead context: a stop

def run():
    node = rclpy.create_node("relay")
    node.declare_parameter("suffix", "")
    pub = node.create_publisher(EpisodeEvent, "relayed", 10)

    def on_event(msg):
        msg.task += node.get_parameter("suffix").value
        pub.publish(msg)

    node.create_subscription(EpisodeEvent, "events", on_event, 10)
    rclpy.spin(node)

main()
"""

FINISHER = """
import os, pathlib, time
# Finishes (exit 0) once the test creates $FINISH_FILE.
while not pathlib.Path(os.environ["FINISH_FILE"]).exists():
    time.sleep(0.05)
print("done", flush=True)
"""

GUARD = """
import os, pathlib, time
import rclpy.node
from lerobot_ros_core.node.node_main import run_node

class Guard(rclpy.node.Node):  # a node with a shutdown hook (like the follower's torque off)

    def __init__(self):
        super().__init__("guard")
        print("guard up", flush=True)

    def shutdown(self):
        time.sleep(2.0)  # as long as a slow bus takes to turn torque off
        pathlib.Path(os.environ["GUARD_MARK"]).write_text("shutdown hook ran")

raise SystemExit(run_node(Guard))
"""

SLOW_START = """
import time
import rclpy.node
from lerobot_ros_core.node.node_main import run_node

class SlowStart(rclpy.node.Node):  # a constructor that takes a while (a checkpoint loading)

    def __init__(self):
        print("starting", flush=True)
        time.sleep(3.0)
        super().__init__("slow_start")

raise SystemExit(run_node(SlowStart))
"""

SLEEPER = """
import signal, subprocess, sys, time
signal.signal(signal.SIGINT, signal.SIG_IGN)  # a node that ignores Ctrl-C, with a child process
child = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
print("child", child.pid, flush=True)
time.sleep(600)
"""


@pytest.fixture(scope="session")
def fake_overlay(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An install prefix with package `runner_test_pkg` on the path: talker, relay, sleeper, finisher,
    guard, slow_start."""
    prefix = tmp_path_factory.mktemp("overlay")
    (prefix / "share/ament_index/resource_index/packages").mkdir(parents=True)
    (prefix / "share/ament_index/resource_index/packages/runner_test_pkg").write_text("")
    bin_dir = prefix / "lib/runner_test_pkg"
    bin_dir.mkdir(parents=True)
    for name, code in (
        ("talker", TALKER),
        ("relay", RELAY),
        ("sleeper", SLEEPER),
        ("finisher", FINISHER),
        ("guard", GUARD),
        ("slow_start", SLOW_START),
    ):
        path = bin_dir / name
        path.write_text(f"#!{sys.executable}\n" + textwrap.dedent(code))
        path.chmod(0o755)
    os.environ["AMENT_PREFIX_PATH"] = f"{prefix}:{os.environ.get('AMENT_PREFIX_PATH', '')}"
    return prefix
