"""The launch_ros path builds the same nodes as the runner path.

`launch`/`launch_ros` are not installable here (DESIGN §8), so a stand-in with the same constructor
signatures records what the adapter asks launch to do; the launch context resolves arguments as
launch does (declared default unless overridden). Users with ROS run the real packages.
"""

from __future__ import annotations

import sys
import types
from pathlib import Path

import pytest

from lerobot_ros_bringup.graph import Argument, Graph, NodeSpec
from lerobot_ros_bringup.graph.launch import launch_description


class _Recorded:
    def __init__(self, *args, **kwargs):
        self.args = args
        self.kwargs = kwargs


class _LaunchConfiguration:
    def __init__(self, name):
        self.name = name

    def perform(self, context):
        return context.launch_configurations[self.name]


class _Context:
    def __init__(self, declarations, overrides):
        self.launch_configurations = {
            d.args[0]: overrides.get(d.args[0], d.kwargs.get("default_value")) for d in declarations
        }


@pytest.fixture
def launch_standin(monkeypatch):
    modules = {}
    for name in ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions"):
        modules[name] = types.ModuleType(name)
        monkeypatch.setitem(sys.modules, name, modules[name])
    modules["launch"].LaunchDescription = list
    for action in ("DeclareLaunchArgument", "OpaqueFunction", "Shutdown"):
        setattr(modules["launch.actions"], action, type(action, (_Recorded,), {}))
    modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    modules["launch_ros.actions"].Node = type("Node", (_Recorded,), {})
    return modules


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


def test_launch_description_declares_arguments_and_builds_the_runner_nodes(launch_standin, tmp_path):
    graph = _graph(tmp_path)
    entities = launch_description(graph)
    declarations, opaque = entities[:-1], entities[-1]
    assert [(d.args[0], d.kwargs["default_value"], d.kwargs["choices"]) for d in declarations] == [
        ("robot", "so101", ["so100", "so101"]),
        ("rviz", "false", None),
    ]

    overrides = {"robot": "so100", "rviz": "true"}
    launched = opaque.kwargs["function"](_Context(declarations, overrides))
    expected = graph.nodes(overrides, check_executables=False)
    assert len(launched) == len(expected) == 2
    for node, spec in zip(launched, expected, strict=True):
        assert node.kwargs["package"] == spec.package
        assert node.kwargs["executable"] == spec.executable
        assert node.kwargs["name"] == spec.name
        assert node.kwargs["namespace"] == (spec.namespace or None)
        assert node.kwargs["parameters"] == [dict(p) if isinstance(p, dict) else str(p) for p in spec.parameters]
        assert node.kwargs["remappings"] == list(spec.remappings)
        assert (node.kwargs["on_exit"] is not None) == spec.required
    assert launched[0].kwargs["parameters"][0] == {"robot": "so100"}
