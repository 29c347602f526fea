"""rviz overlay: the policy's upcoming chunk as an end-effector path, and the recorder's status as text.

Subscribes `policy/action_chunk` and `recorder/status`, publishes `visualization/markers`
(visualization_msgs/MarkerArray) in the robot's base frame.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import Point
from rclpy.node import Node
from std_msgs.msg import ColorRGBA
from visualization_msgs.msg import Marker, MarkerArray

from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_drivers.description import urdf_text
from lerobot_ros_drivers.kinematics.placo_kinematics import ArmKinematics
from lerobot_ros_msgs.msg import ActionChunk, RecorderStatus

ARM_JOINTS = ("shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll")


@dataclass
class VisualizationConfig:
    robot: str = param("so101", "robot description used for forward kinematics", choices=("so100", "so101"))
    base_frame: str = param("base_link", "frame of the markers")
    end_effector_frame: str = param("gripper_frame_link", "frame whose path is drawn")


class VisualizationNode(Node):
    def __init__(self) -> None:
        super().__init__("visualization")
        self.config = declare_parameters(self, VisualizationConfig)
        self.kinematics = ArmKinematics(urdf_text(self.config.robot), ARM_JOINTS, frame=self.config.end_effector_frame)
        self.publisher = self.create_publisher(MarkerArray, "visualization/markers", 5)
        self.create_subscription(ActionChunk, "policy/action_chunk", self.on_chunk, 5)
        self.create_subscription(RecorderStatus, "recorder/status", self.on_recorder_status, 5)

    def on_chunk(self, chunk: ActionChunk) -> None:
        marker = self._marker("policy_chunk", Marker.LINE_STRIP, ColorRGBA(r=0.1, g=0.8, b=1.0, a=1.0))
        marker.scale.x = 0.004
        marker.points = [Point(x=p[0], y=p[1], z=p[2]) for p in chunk_path(chunk, self.kinematics)]
        self.publisher.publish(MarkerArray(markers=[marker]))

    def on_recorder_status(self, status: RecorderStatus) -> None:
        marker = self._marker("recorder_status", Marker.TEXT_VIEW_FACING, ColorRGBA(r=1.0, g=1.0, b=1.0, a=1.0))
        marker.pose.position.z = 0.45
        marker.scale.z = 0.03
        marker.text = (
            f"recorder: {status.state}  episode {status.episode_index}  "
            f"{status.frames} frames  {status.elapsed:.1f}/{status.episode_time_s:.0f} s"
        )
        self.publisher.publish(MarkerArray(markers=[marker]))

    def _marker(self, namespace: str, kind: int, color: ColorRGBA) -> Marker:
        marker = Marker(ns=namespace, id=0, type=kind, action=Marker.ADD, color=color)
        marker.header.frame_id = self.config.base_frame
        marker.header.stamp = self.get_clock().now().to_msg()
        marker.pose.orientation.w = 1.0
        return marker


def chunk_path(chunk: ActionChunk, kinematics: ArmKinematics) -> np.ndarray:
    """End-effector positions (N×3) of the chunk's rows; columns are matched to joints by name."""
    rows = np.asarray(chunk.actions, dtype=float).reshape(chunk.num_steps, chunk.action_dim)
    names = list(chunk.names)
    missing = [joint for joint in kinematics.joint_names if joint not in names]
    if missing:
        return np.zeros((0, 3))
    columns = [names.index(joint) for joint in kinematics.joint_names]
    return np.array([kinematics.forward(row[columns])[:3, 3] for row in rows]).reshape(-1, 3)


def main() -> int:
    return run_node(VisualizationNode)
