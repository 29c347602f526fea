"""The MoveIt configuration names only joints and links that exist in the robot description."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

import yaml

from lerobot_ros_drivers.description import urdf_text

MOVEIT = Path(__file__).resolve().parents[1] / "config" / "moveit" / "so101"


def _urdf():
    root = ET.fromstring(urdf_text("so101"))
    joints = {j.get("name"): j for j in root.iter("joint")}
    links = {link.get("name") for link in root.iter("link")}
    return joints, links


def test_srdf_groups_and_collisions_match_the_urdf():
    joints, links = _urdf()
    srdf = ET.parse(MOVEIT / "so101.srdf").getroot()
    chain = srdf.find("group[@name='arm']/chain")
    assert chain.get("base_link") in links and chain.get("tip_link") in links
    for element in srdf.iter("joint"):
        assert element.get("name") in joints
    for state in srdf.iter("group_state"):
        for joint in state.iter("joint"):
            lower, upper = (float(joints[joint.get("name")].find("limit").get(k)) for k in ("lower", "upper"))
            assert lower <= float(joint.get("value")) <= upper, (state.get("name"), joint.get("name"))
    for pair in srdf.iter("disable_collisions"):
        assert {pair.get("link1"), pair.get("link2")} <= links


def test_controllers_cover_every_actuated_joint_once():
    joints, _ = _urdf()
    actuated = {name for name, j in joints.items() if j.get("type") == "revolute"}
    config = yaml.safe_load((MOVEIT / "moveit_controllers.yaml").read_text())["moveit_simple_controller_manager"]
    controlled = [j for name in config["controller_names"] for j in config[name]["joints"]]
    assert sorted(controlled) == sorted(actuated)
    assert config["follower"]["action_ns"] == "follow_joint_trajectory"
    limits = yaml.safe_load((MOVEIT / "joint_limits.yaml").read_text())["joint_limits"]
    assert set(limits) == actuated
