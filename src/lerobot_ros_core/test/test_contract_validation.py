"""The feature contract: example contracts, LeRobot features, unit conversions and precise errors."""

from __future__ import annotations

import math

import numpy as np
import pytest
from geometry_msgs.msg import WrenchStamped
from sensor_msgs.msg import JointState
from std_msgs.msg import Float64MultiArray
from trajectory_msgs.msg import JointTrajectory, JointTrajectoryPoint

from lerobot_ros_core.contract import ContractError, load_contract, parse_contract
from lerobot_ros_core.features import FeatureValueError, converters

SO101_JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


def minimal(**feature) -> dict:
    spec = {"topic": "arm/joint_states", "type": "sensor_msgs/msg/JointState", "joints": ["a", "b"]}
    spec.update(feature)
    return {"fps": 30, "features": {"observation.state": spec}}


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
    (minimal(sync={"past_limit": "drop"}), r"sync.past_limit: expected split, pad or fail, got 'drop'"),
    ({**minimal(), "past_limit": "renumber"}, r"past_limit: expected split, pad or fail, got 'renumber'"),
    ({**minimal(), "clock": {"max_stamp_leap": 0}}, r"clock.max_stamp_leap: must be positive"),
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
    with pytest.raises(FeatureValueError, match=r"joint\(s\) \['b'\] missing from the JointState"):
        convert.convert(JointState(name=["a"], position=[0.0]))
    with pytest.raises(FeatureValueError, match=r"non-finite value\(s\) for \['b.pos'\]"):
        convert.convert(JointState(name=["a", "b"], position=[0.0, float("nan")]))
    with pytest.raises(FeatureValueError, match="2 joint names but 1 position values"):
        convert.convert(JointState(name=["a", "b"], position=[0.0]))
    with pytest.raises(FeatureValueError, match="non-finite action"):
        convert.to_joint_positions([0.0, float("inf")])


def test_contract_sync_defaults_images_hold_and_past_limit():
    image = {"topic": "c", "type": "sensor_msgs/Image", "image": {"height": 4, "width": 4}}
    contract = parse_contract({"fps": 30, "features": {"observation.images.c": image, **minimal()["features"]}})
    camera = contract.feature("observation.images.c").sync
    assert (camera.rule, camera.max_age, camera.past_limit) == ("hold", pytest.approx(0.1), "split")
    assert contract.max_stamp_leap == 1.0
    padded = parse_contract(
        {
            "fps": 30,
            "past_limit": "pad",
            "clock": {"max_stamp_leap": 0.5},
            "features": {"observation.images.c": {**image, "sync": {"past_limit": "fail"}}, **minimal()["features"]},
        }
    )
    assert padded.feature("observation.images.c").sync.past_limit == "fail"
    assert padded.feature("observation.state").sync.past_limit == "pad"
    assert padded.max_stamp_leap == 0.5
