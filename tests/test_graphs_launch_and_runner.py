"""The shipped graphs: the `*.launch.py` files and `lerobot-ros launch` start the same nodes."""

from __future__ import annotations

import runpy
import subprocess
from pathlib import Path

import pytest
from ament_index_python.packages import get_package_share_directory

from lerobot_ros_bringup.graph import GraphError, get_graph
from lerobot_ros_bringup.testing.launch_standin import assert_same_nodes, launch_standin, launched_nodes

ARGUMENTS = {
    "teleop": {"hardware": "sim", "mode": "ee", "cameras": "front"},
    "record": {"hardware": "sim", "root": "/tmp/lerobot_ros_ds", "num_episodes": "2", "task": "stack"},
    "rollout": {"hardware": "sim", "policy_path": "/tmp/ckpt", "record": "true", "eval_root": "/tmp/eval_ds"},
}


@pytest.mark.parametrize("name", sorted(ARGUMENTS))
def test_launch_file_starts_the_runner_nodes(name):
    launch_file = Path(get_package_share_directory("lerobot_ros_bringup")) / "launch" / f"{name}.launch.py"
    with launch_standin():
        entities = runpy.run_path(str(launch_file))["generate_launch_description"]()
        launched = launched_nodes(entities, ARGUMENTS[name])
    assert_same_nodes(launched, get_graph(name).nodes(ARGUMENTS[name]))


def test_graphs_compose_the_expected_nodes():
    names = {g: [n.fully_qualified_name for n in get_graph(g).nodes(a)] for g, a in ARGUMENTS.items()}
    assert names["teleop"] == [
        "/follower_bus", "/follower/follower", "/leader_bus", "/leader/leader", "/teleop", "/front_camera",
    ]  # fmt: skip
    assert names["record"][-1] == "/recorder" and "/wrist_camera" in names["record"]
    assert "/leader/leader" not in names["rollout"]
    assert names["rollout"][-3:] == ["/policy", "/recorder", "/episode_coordinator"]
    recorder = get_graph("record").nodes(ARGUMENTS["record"])[-1].merged_parameters()
    assert recorder["num_episodes"] == 2 and recorder["task"] == "stack" and recorder["exit_when_done"] is True


@pytest.mark.parametrize(
    ("name", "arguments", "message"),
    [
        ("rollout", {"hardware": "sim"}, "needs argument 'policy_path'"),
        ("record", {"hardware": "sim"}, "pass root:=DIR"),
        ("record", {"hardware": "sim", "root": "x", "num_episodes": "many"}, "must be numbers"),
        ("teleop", {"hardware": "sim", "cameras": "top"}, "camera 'top' is not in the robot config"),
        ("teleop", {"hardware": "sim", "force": "true"}, "force:=true needs real hardware"),
        ("rollout", {"hardware": "sim", "policy_path": "p", "record": "true"}, "needs eval_root"),
        ("teleop", {"robot_config": "/nonexistent.yaml"}, "robot config /nonexistent.yaml does not exist"),
    ],
)
def test_bad_graph_arguments_are_refused_before_anything_starts(name, arguments, message):
    with pytest.raises(GraphError, match=message):
        get_graph(name).nodes(arguments)


def test_launch_command_refuses_bad_arguments_and_prints_commands():
    missing = subprocess.run(["lerobot-ros", "launch", "rollout"], capture_output=True, text=True, check=False)
    assert missing.returncode == 2
    assert "needs argument 'policy_path'" in missing.stderr
    printed = subprocess.run(
        ["lerobot-ros", "launch", "teleop", "hardware:=sim", "cameras:=", "--print"],
        capture_output=True,
        text=True,
        check=True,
    )
    lines = printed.stdout.splitlines()
    assert len(lines) == 5
    assert any("follower_node --ros-args -r __node:=follower -r __ns:=/follower" in line for line in lines)


def test_external_robot_graphs_start_no_arm_driver(tmp_path):
    from lerobot_ros_bringup.graphs.parts import config_dir

    generic = {"hardware": "external", "robot_config": str(config_dir() / "robots" / "generic_arm.yaml")}
    rollout = get_graph("rollout").nodes(
        {
            **generic,
            "cameras": "scene",
            "policy_path": str(tmp_path),
            "contract": "/contracts/generic_arm.yaml",
            "trajectory_topic": "/joint_trajectory_controller/joint_trajectory",
        }
    )
    assert [n.name for n in rollout] == ["scene_camera", "policy"]
    assert rollout[1].merged_parameters()["trajectory_topic"] == "/joint_trajectory_controller/joint_trajectory"
    record = get_graph("record").nodes({**generic, "cameras": "", "root": str(tmp_path / "ds")})
    assert [n.name for n in record] == ["recorder"]


def test_rollout_graph_passes_runtime_and_rtc_arguments_to_the_policy_node(tmp_path):
    from dataclasses import fields

    from lerobot_ros_policy.execution import RTC_MODES, SCHEDULES
    from lerobot_ros_policy.nodes.policy_node import PolicyNodeConfig

    graph = get_graph("rollout")
    choices = {a.name: a.choices for a in graph.arguments}
    assert choices["rtc"] == RTC_MODES and choices["rtc_schedule"] == ("", *SCHEDULES)
    base = {"hardware": "sim", "policy_path": str(tmp_path)}
    policy = graph.nodes(
        {**base, "rtc": "on", "rtc_schedule": "exp", "rtc_execution_horizon": "10", "rtc_delay_margin": "2",
         "rtc_max_guidance_weight": "5.5", "cpu_threads": "2", "runtime_accel": "onnx"}
    )  # fmt: skip
    parameters = next(n for n in policy if n.name == "policy").merged_parameters()
    assert set(parameters) <= {f.name for f in fields(PolicyNodeConfig)}
    assert (parameters["rtc"], parameters["rtc_schedule"], parameters["rtc_execution_horizon"]) == ("on", "exp", 10)
    assert (parameters["rtc_delay_margin"], parameters["rtc_max_guidance_weight"]) == (2, 5.5)
    assert (parameters["cpu_threads"], parameters["runtime_accel"]) == (2, "onnx")
    with pytest.raises(GraphError, match=r"rtc_execution_horizon.*integer"):
        graph.nodes({**base, "rtc_execution_horizon": "ten"})
    with pytest.raises(GraphError, match="remote_config"):
        graph.nodes({**base, "runtime": "remote"})
