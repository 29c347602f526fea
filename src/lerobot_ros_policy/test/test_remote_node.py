"""policy_node with `runtime:=remote` against a policy-server process: chunks, /diagnostics, the
server dying and coming back while the node keeps running."""

from __future__ import annotations

import importlib.util
import threading
from pathlib import Path

import pytest
import yaml
from diagnostic_msgs.msg import DiagnosticArray
from sensor_msgs.msg import JointState
from trajectory_msgs.msg import JointTrajectory

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_msgs.msg import ActionChunk, PolicyStatus


def _load(name: str):
    spec = importlib.util.spec_from_file_location(name, Path(__file__).with_name(f"{name}.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


remote = _load("remote_support")
node_support = _load("policy_node_support")
CAMERA = {"front": (48, 64)}


def remote_status(arrays: list[DiagnosticArray]) -> dict | None:
    """The latest 'remote' diagnostic of the policy node: level, message and values."""
    for array in reversed(arrays):
        for status in array.status:
            if status.name.endswith("policy_node: remote"):
                values = {kv.key: kv.value for kv in status.values}
                return {"level": int.from_bytes(status.level), "message": status.message, **values}
    return None


@pytest.mark.slow
def test_policy_node_runs_a_remote_policy_and_rides_out_a_server_restart(tmp_path, ros_graph, ros_probe):
    checkpoint = remote.make_checkpoint(tmp_path / "model", CAMERA, seed=3, chunk_size=30)
    port = remote.free_port()
    manifest = remote.write_manifest(
        tmp_path / "manifest.yaml",
        port,
        [{"name": "act", "path": str(checkpoint), "action_names": remote.ACTION_NAMES}],
    )
    servers = [remote.ServerProcess(manifest)]
    servers[0].start()
    client = tmp_path / "remote.yaml"
    client.write_text(
        yaml.safe_dump(
            {
                "transport": {"connect": [f"tcp/127.0.0.1:{port}"]},
                "image_encoding": "jpeg",
                "request_timeout_s": 2.0,
                "max_reply_age_s": 1.0,
                "reconnect_backoff_s": [0.1, 0.5],
                "client_name": "test-robot",
                "max_offline_s": 600.0,  # a restart under load can take long: stay out of the dead state
            }
        )
    )
    contract = node_support.write_contract(tmp_path / "contract.yaml", node_support.contract_dict(CAMERA))
    chunks = ros_probe.collect("policy/action_chunk", ActionChunk)
    statuses = ros_probe.collect("policy/status", PolicyStatus)
    diagnostics = ros_probe.collect("/diagnostics", DiagnosticArray)
    ros_probe.collect("follower/joint_trajectory", JointTrajectory)  # stands in for the controller
    publisher = ros_probe.publisher("follower/joint_states", JointState)
    stop = threading.Event()

    def publish_joints() -> None:
        while not stop.wait(0.01):
            msg = JointState(name=list(node_support.JOINTS), position=[0.1, -0.2, 0.3, 0.1, 0.0, 0.5])
            msg.header.stamp = ros_probe.node.get_clock().now().to_msg()
            publisher.publish(msg)

    threading.Thread(target=publish_joints, daemon=True).start()
    policy = NodeSpec(
        "lerobot_ros_policy",
        "policy_node",
        "policy_node",
        parameters=[
            {
                "runtime": "remote",
                "checkpoint": "act",
                "remote_config": str(client),
                "contract": str(contract),
                "max_observation_age": 0.5,
                "max_chunk_age": 2.0,
            }
        ],
    )
    camera = NodeSpec(
        "lerobot_ros_drivers",
        "sim_camera_node",
        "sim_camera_front",
        parameters=[{"name": "front", "width": 128, "height": 96, "fps": 30.0}],
    )
    try:
        graph = ros_graph([camera, policy], topics=["policy/status", "cameras/front/image_raw"], timeout=120)
        ros_probe.wait_until(lambda: len(chunks) >= 3, timeout=90, message="no remote chunks:\n" + graph.describe())
        ros_probe.wait_until(
            lambda: (s := remote_status(diagnostics)) is not None and s["state"] == "ready" and s["rtt_p50_ms"],
            timeout=30,
            message=f"no ready remote diagnostics: {remote_status(diagnostics)}",
        )
        assert remote_status(diagnostics)["level"] == 0 and remote_status(diagnostics)["model"] == "act"
        assert any("client=test-robot" in line and "outcome=ok" in line for line in servers[0].output)

        servers[0].kill()
        ros_probe.wait_until(
            lambda: (s := remote_status(diagnostics)) is not None and s["state"] in ("stalled", "reconnecting"),
            timeout=60,
            message=f"remote link not reported stalled: {remote_status(diagnostics)}",
        )
        assert remote_status(diagnostics)["level"] == 1
        ros_probe.wait_until(lambda: statuses and statuses[-1].state == "holding", timeout=30)
        graph.check_alive()  # nothing raised into the node

        before = len(chunks)
        servers.append(remote.ServerProcess(manifest))
        servers[-1].start()
        ros_probe.wait_until(lambda: len(chunks) >= before + 3, timeout=90, message="no chunks after the restart")
        ros_probe.wait_until(lambda: remote_status(diagnostics)["state"] == "ready", timeout=30)
        ros_probe.wait_until(lambda: statuses[-1].state == "running", timeout=30)
        graph.check_alive()
    finally:
        stop.set()
        for server in servers:
            server.stop()
