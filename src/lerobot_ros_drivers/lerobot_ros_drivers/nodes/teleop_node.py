"""Teleoperation: leader `joint_states` → follower `joint_commands`, one command per leader message.

`mode:=joint` forwards the leader's joint positions by name. `mode:=ee` maps through the tool
pose (leader FK → workspace clip → max EE step → follower IK seeded with the follower's current
joints), as LeRobot's so100_to_so100_EE pipeline. The gripper passes through in both modes.
The follower driver applies its own limits, max step and watchdog to whatever this node sends.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from rclpy.node import Node
from sensor_msgs.msg import JointState

from lerobot_ros_core.node.diagnostics import OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_core.node.qos import COMMAND_QOS, subscriber_qos
from lerobot_ros_drivers.description import urdf_text
from lerobot_ros_drivers.feetech.arm_bus import SO_ARM_JOINTS
from lerobot_ros_drivers.kinematics.placo_kinematics import ArmKinematics
from lerobot_ros_drivers.teleop.mapping import EndEffectorTeleop, MappingError, Workspace, pick

ARM_JOINTS = [j for j in SO_ARM_JOINTS if j != "gripper"]


@dataclass
class TeleopConfig:
    mode: str = param(
        "joint", "joint: joint positions by name; ee: end-effector space through IK", choices=("joint", "ee")
    )
    robot: str = param("so101", "follower robot description (EE mode)", choices=("so101", "so100"))
    leader_robot: str = param("so101", "leader robot description (EE mode)", choices=("so101", "so100"))
    leader_topic: str = param("/leader/joint_states", "leader joint states")
    follower_state_topic: str = param("/follower/joint_states", "follower joint states (IK seed in EE mode)")
    command_topic: str = param("/follower/joint_commands", "follower low-latency position commands")
    joints: list[str] = param(list(SO_ARM_JOINTS), "joints forwarded in joint mode")
    workspace_min: list[float] = param([0.0, -0.4, 0.0], "EE target lower bound x, y, z (m, follower base)")
    workspace_max: list[float] = param([0.45, 0.4, 0.45], "EE target upper bound x, y, z (m, follower base)")
    max_ee_step: float = param(0.01, "max EE target displacement per leader message (m)", min=1e-4, max=1.0)
    diagnostics_period: float = param(1.0, "diagnostics period (s)", min=0.1, max=60.0)


class TeleopNode(Node):
    def __init__(self) -> None:
        super().__init__("teleop")
        self.config = cfg = declare_parameters(self, TeleopConfig)
        self.ee: EndEffectorTeleop | None = None
        if cfg.mode == "ee":
            self.ee = EndEffectorTeleop(
                ArmKinematics(urdf_text(cfg.leader_robot), ARM_JOINTS),
                ArmKinematics(urdf_text(cfg.robot), ARM_JOINTS),
                Workspace(np.array(cfg.workspace_min), np.array(cfg.workspace_max)),
                cfg.max_ee_step,
            )
        self.follower: dict[str, float] | None = None
        self.sent = 0
        self.skipped = 0
        self.skipped_reported = 0
        self.last_problem = ""
        self.publisher = self.create_publisher(JointState, cfg.command_topic, COMMAND_QOS)
        self.create_subscription(JointState, cfg.leader_topic, self._on_leader, subscriber_qos(10))
        if self.ee is not None:
            self.create_subscription(JointState, cfg.follower_state_topic, self._on_follower, subscriber_qos(10))
        self.diagnostics = DiagnosticsReporter(self, period_s=cfg.diagnostics_period)
        self.create_timer(cfg.diagnostics_period, self._report)
        self.get_logger().info(f"teleop {cfg.mode}: {cfg.leader_topic} -> {cfg.command_topic}")

    def _on_follower(self, msg: JointState) -> None:
        self.follower = dict(zip(msg.name, msg.position, strict=False))

    def _on_leader(self, msg: JointState) -> None:
        leader = dict(zip(msg.name, msg.position, strict=False))
        try:
            if self.ee is None:
                names = list(self.config.joints)
                positions = pick(leader, names)
            else:
                if self.follower is None:
                    raise MappingError(f"no follower state yet on {self.config.follower_state_topic}")
                arm = self.ee.follower_joints(pick(leader, ARM_JOINTS), pick(self.follower, ARM_JOINTS))
                names = [*ARM_JOINTS, "gripper"]
                positions = np.append(arm, pick(leader, ["gripper"]))
        except MappingError as error:
            self.skipped += 1
            if self.last_problem != str(error):
                self.get_logger().warn(str(error))
            self.last_problem = str(error)
            return
        command = JointState(name=names, position=positions.tolist())
        command.header.stamp = msg.header.stamp  # the leader's read time: end-to-end latency is measurable
        self.publisher.publish(command)
        self.sent += 1

    def _report(self) -> None:
        """WARN when leader messages could not be mapped since the last report."""
        recent = self.skipped - self.skipped_reported
        self.skipped_reported = self.skipped
        level, message = (
            (WARN, f"{recent} leader messages skipped: {self.last_problem}") if recent else (OK, "forwarding")
        )
        self.diagnostics.update("teleop", level, message, mode=self.config.mode, sent=self.sent, skipped=self.skipped)


def main() -> int:
    return run_node(TeleopNode)
