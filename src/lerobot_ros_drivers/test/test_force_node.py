"""force_sensor_node on the pty emulator, over DDS: startup tare, tare service, filter, malformed input."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from diagnostic_msgs.msg import DiagnosticArray
from geometry_msgs.msg import WrenchStamped
from std_srvs.srv import Trigger

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_core.node.stamps import to_nanoseconds
from lerobot_ros_drivers.force.emulator import ForceSensorEmulator, constant_wrench
from lerobot_ros_drivers.force.protocols import LineProtocol, LineProtocolConfig

BIAS = np.array([0.8, -0.3, 2.0, 0.01, 0.02, -0.03])
LOAD = np.array([1.0, 2.0, -5.0, 0.1, -0.2, 0.05])
CONFIG = LineProtocolConfig(separator=" ", prefix="FT ", checksum="xor", fields=["fx", "fy", "fz", "tx", "ty", "tz"])


def as_array(msg: WrenchStamped) -> np.ndarray:
    f, t = msg.wrench.force, msg.wrench.torque
    return np.array([f.x, f.y, f.z, t.x, t.y, t.z])


@pytest.fixture
def emulator():
    with ForceSensorEmulator(LineProtocol(CONFIG), constant_wrench(BIAS), rate_hz=100) as sensor:
        yield sensor


def force_node(port: str, **parameters) -> NodeSpec:
    base = {"port": port, "separator": " ", "prefix": "FT ", "checksum": "xor", "tare_samples": 10}
    return NodeSpec("lerobot_ros_drivers", "force_sensor_node", "force_sensor", parameters=[{**base, **parameters}])


def sensor_status(diagnostics: list[DiagnosticArray], condition) -> tuple[int, dict[str, str]] | None:
    for array in reversed(list(diagnostics)):
        for status in array.status:
            if status.name.endswith("force_sensor: sensor"):
                values = {kv.key: kv.value for kv in status.values}
                if condition(values):
                    return int.from_bytes(status.level), values
    return None


def test_startup_tare_tare_service_and_malformed_input(emulator, ros_graph, ros_probe) -> None:
    ros_graph([force_node(emulator.port, tare_at_startup=True)], topics=["/force/wrench"], services=["/force/tare"])
    wrenches = ros_probe.collect("/force/wrench", WrenchStamped)
    diagnostics = ros_probe.collect("/diagnostics", DiagnosticArray)
    ros_probe.wait_until(lambda: len(wrenches) >= 10, timeout=60, message="no wrenches")
    for msg in list(wrenches)[:10]:  # tared on the constant bias before the first publication
        np.testing.assert_allclose(as_array(msg), 0.0, atol=1e-5)
    assert {msg.header.frame_id for msg in wrenches} == {"force_sensor"}

    emulator.wrench = constant_wrench(BIAS + LOAD)
    ros_probe.wait_until(lambda: np.allclose(as_array(wrenches[-1]), LOAD, atol=1e-5), timeout=30)

    for bad in (b"\xde\xad\xbe\xef\n", b"FT 1 2 3\n", b"FT 1 2 nan 4 5 6*00\n", b"FT 1 2 3", b"x" * 400 + b"\n"):
        emulator.inject(bad)
    count = len(wrenches)
    ros_probe.wait_until(lambda: len(wrenches) > count + 20, timeout=30, message="stream stopped after bad input")
    found = None

    def rejected() -> bool:
        nonlocal found
        found = sensor_status(diagnostics, lambda v: int(v["rejected"]) >= 4)
        return found is not None

    ros_probe.wait_until(rejected, timeout=30, message="malformed input not reported on /diagnostics")
    level, values = found
    assert int(values["rejected_garbage"]) >= 1 and int(values["rejected_overflow"]) == 1
    assert int(values["rejected_checksum"]) == 2  # the short line and the NaN line fail the checksum first
    assert level == 1  # WARN while new rejections arrive

    response = ros_probe.call_service("/force/tare", Trigger)
    assert response.success and "tared" in response.message
    count = len(wrenches)
    ros_probe.wait_until(lambda: len(wrenches) > count + 30, timeout=30)
    np.testing.assert_allclose(as_array(wrenches[-1]), 0.0, atol=1e-5)
    stamps = [to_nanoseconds(m.header.stamp) for m in list(wrenches)]
    assert all(b >= a for a, b in itertools.pairwise(stamps))


def test_low_pass_filter_smooths_a_step(emulator, ros_graph, ros_probe) -> None:
    ros_graph([force_node(emulator.port, filter_cutoff=2.0)], topics=["/force/wrench"])
    wrenches = ros_probe.collect("/force/wrench", WrenchStamped)
    ros_probe.wait_until(lambda: len(wrenches) >= 5 and np.allclose(as_array(wrenches[-1]), BIAS, atol=1e-3))
    count = len(wrenches)
    emulator.wrench = constant_wrench(BIAS + LOAD)
    ros_probe.wait_until(lambda: np.allclose(as_array(wrenches[-1]), BIAS + LOAD, atol=1e-2), timeout=30)
    step = np.array([as_array(m) for m in list(wrenches)[count:]])
    fz = step[:, 2]
    intermediate = (fz < BIAS[2] - 0.1) & (fz > BIAS[2] + LOAD[2] + 0.1)
    assert intermediate.sum() >= 5, "the filtered step has no gradual transition"
    assert np.all(np.diff(fz) <= 1e-9), "a first-order step response is monotonic"


def test_tare_without_samples_fails_with_the_reason(ros_graph, ros_probe) -> None:
    ros_graph([force_node("/dev/does-not-exist")], services=["/force/tare"])
    response = ros_probe.call_service("/force/tare", Trigger)
    assert not response.success and "no samples" in response.message
    diagnostics = ros_probe.collect("/diagnostics", DiagnosticArray)
    ros_probe.wait_until(lambda: sensor_status(diagnostics, lambda v: "does-not-exist" in v["last_error"]), timeout=30)
    level, values = sensor_status(diagnostics, lambda v: True)
    assert level == 2  # ERROR: port missing
    assert values["samples"] == "0"
