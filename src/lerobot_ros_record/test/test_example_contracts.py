"""The example contracts this package ships (config/contracts): LeRobot features, units, round trips."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState

from lerobot_ros_core.contract import ContractError, load_contract
from lerobot_ros_core.features import action_to_joint_positions, converters

CONTRACTS = Path(__file__).resolve().parents[1] / "config" / "contracts"
SO101_JOINTS = ["shoulder_pan", "shoulder_lift", "elbow_flex", "wrist_flex", "wrist_roll", "gripper"]


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


def test_contract_restricted_to_a_dataset_with_other_joint_names_or_order_is_refused():
    contract = load_contract(CONTRACTS / "so101.yaml")
    names = contract.features()["observation.state"]["names"]
    for other in ([*names[1:], names[0]], [f"other_{name}" for name in names]):  # same shape: order, names
        dataset = contract.features()
        dataset["observation.state"] = {**dataset["observation.state"], "names": other}
        with pytest.raises(
            ContractError, match=r"'observation.state' has names .* in the contract but .* in the dataset"
        ):
            contract.restricted_to(dataset)
