"""Building blocks shared by the teleop, record and rollout graphs.

Every graph takes the same hardware arguments (robot, real or simulated hardware, ports, ids,
cameras, rviz) and starts arms and cameras the same way; the per-robot YAML in
`config/robots/<robot>.yaml` holds the defaults (ports, calibration ids, camera sources and modes).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from lerobot_ros_bringup.graph.description import Argument, GraphError, NodeSpec

DRIVERS = "lerobot_ros_drivers"
BRINGUP = "lerobot_ros_bringup"


def config_dir() -> Path:
    """The installed config/ of lerobot_ros_bringup (robots, rviz, moveit)."""
    from ament_index_python.packages import get_package_share_directory

    return Path(get_package_share_directory(BRINGUP)) / "config"


HARDWARE_ARGUMENTS = (
    Argument("robot", "so101", "arm model (robot description, kinematics, default config)", ("so101", "so100")),
    Argument("robot_config", "", "per-robot config YAML ('' = config/robots/<robot>.yaml of lerobot_ros_bringup)"),
    Argument(
        "hardware",
        "real",
        "real SO-100/SO-101 buses and cameras, simulated ones, or external (your robot's own driver and controller)",
        ("real", "sim", "external"),
    ),
    Argument("follower_port", "", "follower serial port ('' = robot config; sim: an emulated bus)"),
    Argument("follower_id", "", "LeRobot calibration id of the follower ('' = robot config)"),
    Argument("calibration_dir", "", "LeRobot calibration root ('' = $HF_LEROBOT_CALIBRATION or the HF cache)"),
    Argument("cameras", "front,wrist", "cameras to start, comma-separated names of the robot config ('' = none)"),
    Argument("force", "false", "start the force/torque sensor node (real hardware)", ("true", "false")),
    Argument("rviz", "false", "start rviz2 and robot_state_publisher (needs a ROS install)", ("true", "false")),
    Argument("on_shutdown", "torque_off", "what the follower does when the graph stops", ("torque_off", "hold")),
)

LEADER_ARGUMENTS = (
    Argument("leader_port", "", "leader serial port ('' = robot config; sim: an emulated bus)"),
    Argument("leader_id", "", "LeRobot calibration id of the leader ('' = robot config)"),
    Argument("mode", "joint", "teleop mapping: joint space or end-effector space (IK)", ("joint", "ee")),
    Argument("leader_motion", "wave", "sim: scripted motion of the emulated leader", ("none", "sine", "wave")),
)


def numbers(arguments: Mapping[str, str], kinds: Mapping[str, type[int] | type[float]]) -> dict[str, int | float]:
    """The arguments named in `kinds` parsed as int or float; GraphError names the one that is not."""
    values: dict[str, int | float] = {}
    for name, kind in kinds.items():
        try:
            values[name] = kind(arguments[name])
        except ValueError:
            expected = "an integer" if kind is int else "a number"
            raise GraphError(
                f"{', '.join(kinds)} must be numbers ('{name}' is {arguments[name]!r}, not {expected})"
            ) from None
    return values


def robot_config(arguments: Mapping[str, str]) -> dict[str, Any]:
    path = (
        Path(arguments["robot_config"])
        if arguments["robot_config"]
        else config_dir() / "robots" / f"{arguments['robot']}.yaml"
    )
    if not path.is_file():
        raise GraphError(f"robot config {path} does not exist")
    config = yaml.safe_load(path.read_text()) or {}
    if not isinstance(config.get("cameras", {}), dict):
        raise GraphError(f"robot config {path}: 'cameras' must map camera names to their settings")
    config.setdefault("cameras", {})
    return config


def sim_link(role: str) -> str:
    """Where the emulated bus of `role` appears; per ROS domain, so parallel simulations do not collide."""
    return f"/tmp/lerobot_ros_sim/domain_{os.environ.get('ROS_DOMAIN_ID', '0')}/{role}"


def _arm_connection(arguments: Mapping[str, str], config: Mapping[str, Any], role: str) -> dict[str, Any]:
    """Port and calibration parameters of the follower or leader driver."""
    if arguments["hardware"] == "sim":
        from lerobot_ros_drivers.calibration.files import sim_calibration_path

        return {
            "port": arguments[f"{role}_port"] or sim_link(role),
            "calibration_file": str(sim_calibration_path(role)),
        }
    section = config.get(role, {})
    return {
        "port": arguments[f"{role}_port"] or section.get("port", ""),
        "calibration_id": arguments[f"{role}_id"] or section.get("id", ""),
        "calibration_dir": arguments["calibration_dir"],
    }


def _emulated_bus(role: str, connection: Mapping[str, Any], motion: str) -> NodeSpec:
    return NodeSpec(
        DRIVERS,
        "servo_bus_emulator_node",
        f"{role}_bus",
        parameters=[{"link": connection["port"], "calibration_file": connection["calibration_file"], "motion": motion}],
    )


def follower_nodes(arguments: Mapping[str, str], config: Mapping[str, Any]) -> list[NodeSpec]:
    if arguments["hardware"] == "external":
        return []
    connection = _arm_connection(arguments, config, "follower")
    follower = NodeSpec(
        DRIVERS,
        "follower_node",
        "follower",
        namespace="follower",
        parameters=[
            {
                **config.get("follower_parameters", {}),
                **connection,
                "robot": arguments["robot"],
                "on_shutdown": arguments["on_shutdown"],
            }
        ],
    )
    if arguments["hardware"] == "sim":
        return [_emulated_bus("follower", connection, "none"), follower]
    return [follower]


def leader_nodes(arguments: Mapping[str, str], config: Mapping[str, Any]) -> list[NodeSpec]:
    if arguments["hardware"] == "external":
        return []
    connection = _arm_connection(arguments, config, "leader")
    leader = NodeSpec(DRIVERS, "leader_node", "leader", namespace="leader", parameters=[connection])
    if arguments["hardware"] == "sim":
        return [_emulated_bus("leader", connection, arguments["leader_motion"]), leader]
    return [leader]


def teleop_nodes(arguments: Mapping[str, str]) -> list[NodeSpec]:
    if arguments["hardware"] == "external":
        return []
    robot = arguments["robot"]
    return [
        NodeSpec(
            DRIVERS,
            "teleop_node",
            "teleop",
            parameters=[{"mode": arguments["mode"], "robot": robot, "leader_robot": robot}],
        )
    ]


def camera_names(arguments: Mapping[str, str]) -> list[str]:
    return [name.strip() for name in arguments["cameras"].split(",") if name.strip()]


def camera_nodes(arguments: Mapping[str, str], config: Mapping[str, Any]) -> list[NodeSpec]:
    nodes = []
    for name in camera_names(arguments):
        if name not in config["cameras"]:
            raise GraphError(f"camera '{name}' is not in the robot config (it has: {', '.join(config['cameras'])})")
        camera = config["cameras"][name]
        mode = {"width": int(camera.get("width", 640)), "height": int(camera.get("height", 480))}
        if arguments["hardware"] == "sim":
            sim = camera.get("sim", {})
            parameters = {"name": name, **mode, "fps": float(camera.get("fps", 30)), **sim}
            nodes.append(NodeSpec(DRIVERS, "sim_camera_node", f"{name}_camera", parameters=[parameters]))
        elif camera.get("driver", "opencv") == "realsense":
            parameters = {
                "name": name,
                **mode,
                "fps": int(camera.get("fps", 30)),
                "serial": str(camera.get("source", "")),
            }
            nodes.append(NodeSpec(DRIVERS, "realsense_node", f"{name}_camera", parameters=[parameters]))
        else:
            parameters = {
                "name": name,
                **mode,
                "fps": float(camera.get("fps", 30)),
                "source": str(camera.get("source", "0")),
            }
            if camera.get("fourcc"):
                parameters["fourcc"] = str(camera["fourcc"])
            nodes.append(NodeSpec(DRIVERS, "camera_node", f"{name}_camera", parameters=[parameters]))
    return nodes


def force_nodes(arguments: Mapping[str, str], config: Mapping[str, Any]) -> list[NodeSpec]:
    if arguments["force"] != "true":
        return []
    if arguments["hardware"] == "sim":
        raise GraphError("force:=true needs real hardware (there is no simulated force/torque sensor)")
    section = config.get("force", {})
    return [NodeSpec(DRIVERS, "force_sensor_node", "force_sensor", parameters=[dict(section)])]


def visualization_nodes(arguments: Mapping[str, str]) -> list[NodeSpec]:
    """rviz2 with the suite's config, robot_state_publisher for TF, and the chunk/status markers."""
    if arguments["rviz"] != "true":
        return []
    from lerobot_ros_drivers.description import urdf_text

    robot = arguments["robot"]
    return [
        NodeSpec(
            "robot_state_publisher",
            "robot_state_publisher",
            "robot_state_publisher",
            parameters=[{"robot_description": urdf_text(robot)}],
            remappings=[("joint_states", "/follower/joint_states")],
        ),
        NodeSpec(BRINGUP, "visualization_node", "visualization", parameters=[{"robot": robot}], required=False),
        NodeSpec(
            "rviz2",
            "rviz2",
            "rviz",
            arguments=["-d", str(config_dir() / "rviz" / "lerobot_ros.rviz")],
            required=False,
        ),
    ]
