"""Simulated camera: URDF forward kinematics, rendering that follows the joints, the node over DDS."""

from __future__ import annotations

import json

import numpy as np
from sensor_msgs.msg import CameraInfo, Image, JointState

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_core.messages.images import image_to_numpy
from lerobot_ros_core.node.qos import SENSOR_QOS
from lerobot_ros_drivers.cameras.sim import RobotModel, SimCameraConfig, SimCameraRenderer

POSE = {"shoulder_pan": 0.5, "shoulder_lift": -0.8, "elbow_flex": 0.9, "wrist_flex": 0.4, "gripper": 1.2}


def test_urdf_chain_reproduces_the_fk_golden_poses(shared_reference) -> None:
    """The renderer's own numpy FK over the package URDF puts the gripper where placo does."""
    golden = json.loads((shared_reference / "so101_fk_golden.json").read_text())
    model = RobotModel.from_urdf()
    for sample in golden["samples"]:
        pose = model.link_poses(sample["q_rad"])["gripper_frame_link"]
        np.testing.assert_allclose(pose, np.array(sample["T_base_gripper_frame"]), atol=1e-4)


def test_render_follows_the_joints_and_time() -> None:
    renderer = SimCameraRenderer(SimCameraConfig(width=160, height=120), RobotModel.from_urdf())
    rest = renderer.render({}, 0.0)
    assert rest.shape == (120, 160, 3) and rest.dtype == np.uint8
    moved = renderer.render(POSE, 0.0)
    later = renderer.render({}, 1.5)
    assert np.array_equal(rest, renderer.render({}, 0.0))  # deterministic
    assert (np.abs(moved.astype(int) - rest).sum(axis=2) > 30).mean() > 0.02, "moving the arm barely changes the image"
    assert (np.abs(later.astype(int) - rest).sum(axis=2) > 30).mean() > 0.002, "time does not move the scene"
    # the arm is drawn in its printed-part yellow
    yellow = (rest[:, :, 0] > 150) & (rest[:, :, 1] > 100) & (rest[:, :, 2] < 60)
    assert yellow.mean() > 0.01


def test_sim_camera_node_renders_the_published_joint_states(ros_graph, ros_probe) -> None:
    node = NodeSpec(
        "lerobot_ros_drivers",
        "sim_camera_node",
        "sim_camera",
        parameters=[{"name": "sim", "width": 160, "height": 120, "fps": 10.0}],
    )
    ros_graph([node], topics=["/cameras/sim/image_raw"])
    images = ros_probe.collect("/cameras/sim/image_raw", Image)
    info = ros_probe.wait_for_message("/cameras/sim/camera_info", CameraInfo, timeout=60)
    assert info.k[0] > 0 and (info.width, info.height) == (160, 120)
    ros_probe.wait_until(lambda: len(images) >= 2, timeout=60)
    before = image_to_numpy(images[-1]).copy()

    publisher = ros_probe.publisher("/follower/joint_states", JointState, SENSOR_QOS)
    state = JointState(name=list(POSE), position=list(POSE.values()))
    renderer = SimCameraRenderer(SimCameraConfig(width=160, height=120), RobotModel.from_urdf())
    posed = renderer.render(POSE, 0.0)

    def matches_pose(image: np.ndarray) -> bool:
        """All but the time-dependent ball (and anti-aliased edges) equals an offline render of POSE."""
        return (np.abs(image.astype(int) - posed).sum(axis=2) < 40).mean() > 0.9

    def shows_the_pose() -> bool:
        publisher.publish(state)
        image = image_to_numpy(images[-1])
        return matches_pose(image) and not np.array_equal(image, before)

    ros_probe.wait_until(shows_the_pose, timeout=60, message="the rendered image does not follow joint_states")
    publisher.publish(JointState(name=["shoulder_pan"], position=[float("nan")]))  # ignored, not rendered
    count = len(images)
    ros_probe.wait_until(lambda: len(images) > count + 3, timeout=30, message="rendering stopped after a NaN")
    assert matches_pose(image_to_numpy(images[-1]))
    assert {m.encoding for m in images} == {"rgb8"}
