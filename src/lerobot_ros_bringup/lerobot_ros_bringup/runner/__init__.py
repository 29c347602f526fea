"""Starts graph descriptions as processes, without the `launch` package."""

from lerobot_ros_bringup.runner.processes import GraphRunner, NodeProcess, node_command

__all__ = ["GraphRunner", "NodeProcess", "node_command"]
