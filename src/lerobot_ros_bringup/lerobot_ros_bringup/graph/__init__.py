"""Plain-Python descriptions of node graphs.

A graph is data plus one function: its launch arguments, and `build(arguments) -> [NodeSpec]`.
The same description becomes a launch_ros `LaunchDescription` (`graph.launch`) for users with
ROS installed, and is started as processes by the runner (`lerobot-ros launch`) without `launch`.
"""

from lerobot_ros_bringup.graph.description import (
    Argument,
    Graph,
    GraphError,
    NodeSpec,
    available_graphs,
    get_graph,
)

__all__ = ["Argument", "Graph", "GraphError", "NodeSpec", "available_graphs", "get_graph"]
