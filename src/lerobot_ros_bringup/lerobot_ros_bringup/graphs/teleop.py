"""Teleoperation: leader → follower in joint or end-effector space, with cameras and rviz.

lerobot-ros launch teleop hardware:=sim                      # no hardware: scripted leader motion
lerobot-ros launch teleop follower_id:=my_follower leader_id:=my_leader mode:=ee
"""

from __future__ import annotations

from collections.abc import Mapping

from lerobot_ros_bringup.graph.description import Graph, NodeSpec
from lerobot_ros_bringup.graphs import parts


def teleop_graph_nodes(arguments: Mapping[str, str]) -> list[NodeSpec]:
    """Arms, teleop, cameras, force sensor and visualization: what record extends."""
    config = parts.robot_config(arguments)
    return [
        *parts.follower_nodes(arguments, config),
        *parts.leader_nodes(arguments, config),
        *parts.teleop_nodes(arguments),
        *parts.camera_nodes(arguments, config),
        *parts.force_nodes(arguments, config),
        *parts.visualization_nodes(arguments),
    ]


GRAPH = Graph(
    name="teleop",
    description="SO-100/SO-101 leader → follower teleoperation (joint or end-effector space), real or simulated",
    arguments=[*parts.HARDWARE_ARGUMENTS, *parts.LEADER_ARGUMENTS],
    build=teleop_graph_nodes,
)
