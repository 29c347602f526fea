"""Teleoperation graph: leader and follower drivers plus the teleop node; `hardware:=sim` adds emulated buses.

lerobot-ros launch teleop robot:=so101 hardware:=sim            # no hardware: scripted leader motion
lerobot-ros launch teleop follower_id:=my_follower leader_id:=my_leader mode:=ee
"""

from __future__ import annotations

from collections.abc import Mapping

from lerobot_ros_bringup.graph.description import Argument, Graph, NodeSpec

DRIVERS = "lerobot_ros_drivers"
SIM_LINKS = {"follower": "/tmp/lerobot_ros_sim/follower", "leader": "/tmp/lerobot_ros_sim/leader"}
REAL_PORTS = {"follower": "/dev/ttyACM0", "leader": "/dev/ttyACM1"}


def _port(arguments: Mapping[str, str], role: str) -> str:
    given = arguments[f"{role}_port"]
    if given:
        return given
    return SIM_LINKS[role] if arguments["hardware"] == "sim" else REAL_PORTS[role]


def _calibration(arguments: Mapping[str, str], role: str) -> dict[str, str]:
    """Sim: the calibration shipped for emulated arms (shared with the emulator); real: LeRobot's id lookup."""
    if arguments["hardware"] == "sim":
        from lerobot_ros_drivers.calibration.files import sim_calibration_path

        return {"calibration_file": str(sim_calibration_path(role))}
    return {"calibration_id": arguments[f"{role}_id"], "calibration_dir": arguments["calibration_dir"]}


def build(arguments: Mapping[str, str]) -> list[NodeSpec]:
    nodes: list[NodeSpec] = []
    if arguments["hardware"] == "sim":
        for role, motion in (("follower", "none"), ("leader", arguments["leader_motion"])):
            parameters = {"link": _port(arguments, role), "motion": motion}
            parameters.update({"calibration_file": _calibration(arguments, role)["calibration_file"]})
            nodes.append(NodeSpec(DRIVERS, "servo_bus_emulator_node", f"{role}_bus", parameters=[parameters]))
    nodes.append(
        NodeSpec(
            DRIVERS,
            "follower_node",
            "follower",
            namespace="follower",
            parameters=[
                {
                    "port": _port(arguments, "follower"),
                    "robot": arguments["robot"],
                    "on_shutdown": arguments["on_shutdown"],
                    **_calibration(arguments, "follower"),
                }
            ],
        )
    )
    nodes.append(
        NodeSpec(
            DRIVERS,
            "leader_node",
            "leader",
            namespace="leader",
            parameters=[{"port": _port(arguments, "leader"), **_calibration(arguments, "leader")}],
        )
    )
    nodes.append(
        NodeSpec(
            DRIVERS,
            "teleop_node",
            "teleop",
            parameters=[{"mode": arguments["mode"], "robot": arguments["robot"], "leader_robot": arguments["robot"]}],
        )
    )
    return nodes


GRAPH = Graph(
    name="teleop",
    description="SO-100/SO-101 leader → follower teleoperation (joint or end-effector space), real or emulated",
    arguments=[
        Argument("robot", "so101", "arm model (robot description, kinematics)", ("so101", "so100")),
        Argument("hardware", "real", "real servo buses, or emulated ones (sim)", ("real", "sim")),
        Argument("mode", "joint", "teleop mapping: joint space or end-effector space (IK)", ("joint", "ee")),
        Argument("follower_port", "", "follower serial port ('' = /dev/ttyACM0, sim: /tmp/lerobot_ros_sim/follower)"),
        Argument("leader_port", "", "leader serial port ('' = /dev/ttyACM1, sim: /tmp/lerobot_ros_sim/leader)"),
        Argument("follower_id", "", "LeRobot calibration id of the follower (real hardware)"),
        Argument("leader_id", "", "LeRobot calibration id of the leader (real hardware)"),
        Argument("calibration_dir", "", "LeRobot calibration root ('' = the HF cache)"),
        Argument("leader_motion", "wave", "sim: scripted leader motion", ("none", "sine", "wave")),
        Argument("on_shutdown", "torque_off", "follower on shutdown", ("torque_off", "hold")),
    ],
    build=build,
)
