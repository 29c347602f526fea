"""servo_bus_emulator_node as a process: the real ArmBus opens its link, sees the scripted leader motion,
gets PortError when the node unplugs the simulated adapter and reconnects when it is plugged back."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from std_srvs.srv import SetBool

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_drivers.calibration.files import load_calibration, sim_calibration_path
from lerobot_ros_drivers.feetech import ArmBus, PortError


def test_emulator_node_serves_a_calibrated_moving_leader_and_unplugs(tmp_path: Path, ros_graph, ros_probe) -> None:
    link = tmp_path / "sim" / "leader"
    calibration_file = sim_calibration_path("leader")
    node = NodeSpec(
        package="lerobot_ros_drivers",
        executable="servo_bus_emulator_node",
        name="leader_bus",
        parameters=[
            {"link": str(link), "calibration_file": str(calibration_file), "motion": "wave", "motion_period": 2.0}
        ],
    )
    ros_graph([node], services=["/leader_bus/set_plugged"])
    ros_probe.wait_until(link.exists, timeout=30, message=f"{link} not created")

    arm = ArmBus(str(link), load_calibration(calibration_file))
    arm.connect()
    assert arm.calibration_written == []  # the emulator started with the same calibration
    samples = []
    ros_probe.wait_until(
        lambda: samples.append(arm.read_positions()) or np.ptp(np.array(samples), axis=0).min() > 0.2,
        timeout=30,
        message="the scripted leader motion did not move every joint",
    )
    limits = arm.codec.lower_limits_rad - 1e-9, arm.codec.upper_limits_rad + 1e-9
    assert all(np.all((s >= limits[0]) & (s <= limits[1])) for s in samples)

    assert ros_probe.call_service(
        "/leader_bus/set_plugged", SetBool, SetBool.Request(data=False), idempotent=True
    ).success
    assert not link.exists()
    with pytest.raises(PortError):
        arm.read_positions()
    arm.disconnect()
    ros_probe.wait_for_message(
        "/diagnostics", DiagnosticArray, predicate=lambda m: any(s.message == "unplugged" for s in m.status)
    )

    assert ros_probe.call_service(
        "/leader_bus/set_plugged", SetBool, SetBool.Request(data=True), idempotent=True
    ).success
    arm.connect()
    assert arm.read_positions().shape == (6,)
    arm.disconnect()
