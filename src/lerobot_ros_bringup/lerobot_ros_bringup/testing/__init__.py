"""Test helpers over the runner: start nodes, wait for their interfaces, probe them over DDS.

Enabled for the whole workspace by the root conftest.py (`pytest_plugins`); fixtures:

- `ros_graph`: start a graph or a list of NodeSpec, wait for topics/services/actions, stop
  everything at teardown (also when the test fails) and check no process is left behind.
- `ros_probe`: an rclpy node spinning in a background thread, with helpers to wait for
  messages, collect them, publish and call services.
"""

from lerobot_ros_bringup.testing.graph import RunningGraph, start_graph
from lerobot_ros_bringup.testing.probe import RosProbe

__all__ = ["RosProbe", "RunningGraph", "start_graph"]
