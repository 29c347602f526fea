"""Turns a graph description into a launch_ros LaunchDescription.

`launch` and `launch_ros` are imported here only, lazily: the rest of the suite runs without them.
A `*.launch.py` file is a one-liner::

    from lerobot_ros_bringup.graph.launch import launch_description_for
    def generate_launch_description():
        return launch_description_for("teleop")
"""

from __future__ import annotations

from typing import Any

from lerobot_ros_bringup.graph.description import Graph, NodeSpec, get_graph


def launch_node(spec: NodeSpec) -> Any:
    """The launch_ros `Node` action for one node description."""
    from launch.actions import Shutdown
    from launch_ros.actions import Node

    return Node(
        package=spec.package,
        executable=spec.executable,
        name=spec.name,
        namespace=spec.namespace or None,
        parameters=[dict(p) if hasattr(p, "keys") else str(p) for p in spec.parameters],
        remappings=list(spec.remappings),
        arguments=list(spec.arguments),
        additional_env=dict(spec.env) or None,
        output="screen",
        on_exit=Shutdown(reason=f"required node {spec.fully_qualified_name} exited") if spec.required else None,
    )


def launch_description(graph: Graph) -> Any:
    """Declares the graph's arguments; builds its nodes once they are resolved (at launch time)."""
    from launch import LaunchDescription
    from launch.actions import DeclareLaunchArgument, OpaqueFunction
    from launch.substitutions import LaunchConfiguration

    declarations = [
        DeclareLaunchArgument(
            argument.name,
            default_value=argument.default,
            description=argument.description,
            choices=list(argument.choices) if argument.choices else None,
        )
        for argument in graph.arguments
    ]

    def build_nodes(context: Any) -> list[Any]:
        values = {a.name: LaunchConfiguration(a.name).perform(context) for a in graph.arguments}
        return [launch_node(spec) for spec in graph.nodes(values, check_executables=False)]

    return LaunchDescription([*declarations, OpaqueFunction(function=build_nodes)])


def launch_description_for(graph_name: str) -> Any:
    return launch_description(get_graph(graph_name))
