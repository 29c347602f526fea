"""The launch_ros path builds the same nodes as the runner path.

`launch`/`launch_ros` are not installable here (DESIGN §8): lerobot_ros_bringup.testing.launch_standin
records what the adapter asks them to do.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from lerobot_ros_bringup.graph import Argument, Graph, NodeSpec
from lerobot_ros_bringup.graph.launch import launch_description
from lerobot_ros_bringup.testing.launch_standin import assert_same_nodes, launch_standin, launched_nodes


def _graph(tmp_path: Path) -> Graph:
    params = tmp_path / "camera.yaml"
    params.write_text("/**:\n  ros__parameters: {fps: 30}\n")
    return Graph(
        name="demo",
        description="test graph",
        arguments=[Argument("robot", "so101", "robot", choices=("so100", "so101")), Argument("rviz", "false", "")],
        build=lambda a: [
            NodeSpec(
                "lerobot_ros_bringup",
                "visualization_node",
                name="viz",
                namespace="arm",
                parameters=[{"robot": a["robot"]}, params],
                remappings=[("policy/action_chunk", "/policy/action_chunk")],
            ),
            *([NodeSpec("rviz2", "rviz2", name="rviz", required=False)] if a["rviz"] == "true" else []),
        ],
    )


def test_launch_description_declares_arguments_and_builds_the_runner_nodes(tmp_path):
    graph = _graph(tmp_path)
    overrides = {"robot": "so100", "rviz": "true"}
    with launch_standin():
        entities = launch_description(graph)
        launched = launched_nodes(entities, overrides)
    declarations = entities[:-1]
    assert [(d.args[0], d.kwargs["default_value"], d.kwargs["choices"]) for d in declarations] == [
        ("robot", "so101", ["so100", "so101"]),
        ("rviz", "false", None),
    ]
    assert_same_nodes(launched, graph.nodes(overrides, check_executables=False))
    assert launched[0].kwargs["parameters"][0] == {"robot": "so100"}
    assert [node.kwargs["name"] for node in launched] == ["viz", "rviz"]


def test_node_parameters_launch_ros_would_refuse_are_caught_here(tmp_path):
    graph = _graph(tmp_path)
    for bad in ({"threshold": None}, {"cameras": []}, {"mixed": [1, "a"]}, {"file": tmp_path}):
        spec = NodeSpec("lerobot_ros_bringup", "visualization_node", name="viz", parameters=[bad])
        broken = Graph(name="bad", description="", arguments=graph.arguments, build=lambda a, spec=spec: [spec])
        with launch_standin(), pytest.raises(TypeError, match="launch_ros"):
            launched_nodes(launch_description(broken), {})
