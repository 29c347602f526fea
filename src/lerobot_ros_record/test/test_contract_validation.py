"""The feature contract: example contracts, LeRobot features, unit conversions and precise errors."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from geometry_msgs.msg import WrenchStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lerobot_ros_record.contract import ContractError, load_contract, parse_contract
from lerobot_ros_record.frames import FrameError, action_to_joint_positions, converters

CONTRACTS = Path(__file__).resolve().parents[1] / "config" / "contracts"
SO101_JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def minimal(**feature) -> dict:
    spec = {"topic": "arm/joint_states", "type": "sensor_msgs/msg/JointState", "joints": ["a", "b"]}
    spec.update(feature)
    return {"fps": 30, "features": {"observation.state": spec}}


def test_contract_so101_features_match_lerobot_record():
    contract = load_contract(CONTRACTS / "so101.yaml")
    features = contract.features()
    names = [f"{j}.pos" for j in SO101_JOINTS]
    assert features["observation.state"] == {"dtype": "float32", "shape": [6], "names": names}
    assert features["action"] == {"dtype": "float32", "shape": [6], "names": names}
    assert features["observation.images.front"] == {
        "dtype": "video",
        "shape": [480, 640, 3],
        "names": ["height", "width", "channels"],
    }
    assert features["observation.images.wrist_depth"]["info"] == {"is_depth_map": True}
    assert features["observation.images.wrist_depth"]["shape"] == [480, 640, 1]
    assert features["observation.force"]["names"] == ["fx", "fy", "fz", "tx", "ty", "tz"]
    assert contract.fps == 30 and contract.robot_type == "so101_follower"
    assert contract.task_topic == "task"
    assert not contract.feature("observation.force").required


def test_contract_generic_arm_loads():
    contract = load_contract(CONTRACTS / "generic_arm.yaml")
    assert contract.action is not None and contract.action.message_type.family == "joint_trajectory"
    assert contract.action.stamp == "receive"
    assert contract.feature("observation.images.scene").image.resize


def test_contract_units_degrees_and_gripper_percent_round_trip():
    contract = load_contract(CONTRACTS / "so101.yaml")
    convert = converters(contract)["action"]
    radians = [0.1, -0.2, 0.3, math.pi / 2, -math.pi, 1.7453292519943295]
    msg = JointState(name=list(reversed(SO101_JOINTS)), position=list(reversed(radians)))
    values = convert.convert(msg)
    np.testing.assert_allclose(values[:5], np.degrees(radians[:5]))
    assert values[5] == pytest.approx(100.0)
    msg.position = list(reversed([*radians[:5], -0.17453292519943295]))
    assert convert.convert(msg)[5] == pytest.approx(0.0, abs=1e-12)
    back = action_to_joint_positions(contract, values)
    assert list(back) == SO101_JOINTS
    np.testing.assert_allclose(list(back.values()), radians)


def test_contract_trajectory_last_point_wrench_and_array():
    contract = parse_contract(
        {
            "fps": 10,
            "features": {
                "action": {
                    "topic": "arm/joint_trajectory",
                    "type": "trajectory_msgs/JointTrajectory",
                    "joints": ["b", "a"],
                    "units": {"a": "deg", "b": "rad"},
                },
                "observation.force": {
                    "topic": "force/wrench",
                    "type": "geometry_msgs/WrenchStamped",
                    "fields": ["force.z", "torque.x"],
                },
                "observation.extra": {
                    "topic": "extra",
                    "type": "std_msgs/msg/Float64MultiArray",
                    "indices": [2, 0],
                    "names": ["c", "a"],
                    "units": {"c": {"unit": "percent", "range": [0.0, 2.0]}},
                },
            },
        }
    )
    convert = converters(contract)
    trajectory = JointTrajectory(
        joint_names=["a", "b"],
        points=[JointTrajectoryPoint(positions=[0.0, 0.0]), JointTrajectoryPoint(positions=[math.pi, 0.5])],
    )
    np.testing.assert_allclose(convert["action"].convert(trajectory), [0.5, 180.0])
    wrench = WrenchStamped()
    wrench.wrench.force.z, wrench.wrench.torque.x = 3.0, -1.5
    np.testing.assert_allclose(convert["observation.force"].convert(wrench), [3.0, -1.5])
    assert contract.features()["observation.force"]["names"] == ["fz", "tx"]
    np.testing.assert_allclose(
        convert["observation.extra"].convert(Float64MultiArray(data=[1.0, 9.0, 0.5])), [25.0, 1.0]
    )
    assert contract.feature("observation.extra").stamp == "receive"


def test_contract_is_stored_and_reloaded_identically(tmp_path):
    contract = load_contract(CONTRACTS / "so101.yaml")
    reduced = contract.without({"observation.images.wrist_depth", "observation.force"})
    path = tmp_path / "stored.yaml"
    path.write_text(reduced.to_yaml())
    again = load_contract(path)
    assert again.features() == reduced.features()
    assert "observation.force" not in again.features()
    with pytest.raises(ContractError, match="required feature"):
        contract.without({"action"})


def test_contract_restricted_to_dataset_features():
    contract = load_contract(CONTRACTS / "so101.yaml")
    dataset = contract.without({"observation.force"}).features()
    assert set(contract.restricted_to(dataset).keys) == set(dataset)
    dataset["observation.images.front"] = {**dataset["observation.images.front"], "shape": [240, 320, 3]}
    with pytest.raises(ContractError, match=r"observation.images.front.*\[480, 640, 3\].*\[240, 320, 3\]"):
        contract.restricted_to(dataset)


BAD_CONTRACTS = [
    ({"features": {}}, "fps"),
    ({"fps": 30.5, "features": {}}, "fps: expected an integer"),
    (minimal(type="sensor_msgs/msg/Imu"), r"unknown or unsupported message type 'sensor_msgs/msg/Imu'"),
    (minimal(joints=[]), r"joints: expected a non-empty list"),
    (minimal(joints=["a", "a"]), r"joints: duplicate name\(s\) \['a'\]"),
    (minimal(units="degrees"), r"units.a: unknown unit 'degrees'"),
    (minimal(units="N"), r"unit 'N' does not apply to a angle"),
    (minimal(units={"c": "deg"}), r"unit given for \['c'\], which are not selected"),
    (
        minimal(units={"a": {"unit": "percent", "range": [1.0, 0.0]}}),
        r"range \[1.0, 0.0\] must be finite and increasing",
    ),
    (minimal(names=["x"]), r"1 names for 2 selected values"),
    (minimal(sync={"rule": "latest"}), r"sync.rule: expected interpolate, hold or nearest"),
    (minimal(sync={"max_age": -1}), r"sync.max_age: must be positive"),
    (minimal(topic="bad topic"), r"not a valid ROS topic name"),
    (minimal(frobnicate=1), r"unknown setting\(s\) \['frobnicate'\]"),
    (minimal(image={"height": 1, "width": 1}), r"image: does not apply to sensor_msgs/msg/JointState"),
    (
        {"fps": 30, "features": {"timestamp": {"topic": "t", "type": "sensor_msgs/JointState", "joints": ["a"]}}},
        "column LeRobot adds itself",
    ),
    (
        {"fps": 30, "features": {"observation.images.x": {"topic": "c", "type": "sensor_msgs/Image", "image": {}}}},
        r"image.height: expected a pixel count",
    ),
    (
        {
            "fps": 30,
            "features": {
                "observation.images.x": {
                    "topic": "c",
                    "type": "sensor_msgs/Image",
                    "image": {"height": 4, "width": 4},
                    "sync": {"rule": "interpolate"},
                }
            },
        },
        "images cannot be interpolated",
    ),
    (
        {
            "fps": 30,
            "features": {
                "observation.images.d": {
                    "topic": "c",
                    "type": "sensor_msgs/Image",
                    "depth": True,
                    "image": {"height": 4, "width": 4, "encoding": "rgb8"},
                }
            },
        },
        r"'rgb8' is not a depth encoding",
    ),
    (
        {
            "fps": 30,
            "features": {"observation.extra": {"topic": "e", "type": "std_msgs/Float64MultiArray", "indices": [0]}},
        },
        r"names: required for array messages",
    ),
    (
        {
            "fps": 30,
            "features": {
                "observation.extra": {
                    "topic": "e",
                    "type": "std_msgs/Float64MultiArray",
                    "indices": [0],
                    "names": ["x"],
                    "stamp": "header",
                }
            },
        },
        r"has no header; use stamp: receive",
    ),
]


@pytest.mark.parametrize(("data", "message"), BAD_CONTRACTS)
def test_contract_validation_errors_are_precise(data, message):
    with pytest.raises(ContractError, match=message):
        parse_contract(data, source="bad.yaml")


def test_contract_duplicate_feature_names_in_yaml(tmp_path):
    text = (
        "fps: 30\nfeatures:\n"
        "  observation.state: {topic: x, type: sensor_msgs/JointState, joints: [a]}\n"
        "  observation.state: {topic: y, type: sensor_msgs/JointState, joints: [b]}\n"
    )
    path = tmp_path / "dup.yaml"
    path.write_text(text)
    with pytest.raises(ContractError, match=r"dup.yaml: duplicate key 'observation.state' at line \d+"):
        load_contract(path)


def test_contract_missing_file_and_bad_yaml(tmp_path):
    with pytest.raises(ContractError, match="cannot read contract"):
        load_contract(tmp_path / "nope.yaml")
    (tmp_path / "bad.yaml").write_text("fps: [30\n")
    with pytest.raises(ContractError, match="not valid YAML"):
        load_contract(tmp_path / "bad.yaml")


def test_contract_message_errors_missing_joints_and_nan():
    convert = converters(parse_contract(minimal()))["observation.state"]
    with pytest.raises(FrameError, match=r"joint\(s\) \['b'\] missing from the JointState"):
        convert.convert(JointState(name=["a"], position=[0.0]))
    with pytest.raises(FrameError, match=r"non-finite value\(s\) for \['b.pos'\]"):
        convert.convert(JointState(name=["a", "b"], position=[0.0, float("nan")]))
    with pytest.raises(FrameError, match="2 joint names but 1 position values"):
        convert.convert(JointState(name=["a", "b"], position=[0.0]))
    with pytest.raises(FrameError, match="non-finite action"):
        convert.to_joint_positions([0.0, float("inf")])
