"""policy_node as a process: refusals on bad checkpoints/contracts, and the running node's outputs.

The checkpoint is a random-weight ACT saved by LeRobot 0.4.4 (reference venv); the camera is the
suite's sim_camera_node; the joint states come from the test (the full follower loop is in
test_policy_node_e2e.py).
"""

from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import threading
from pathlib import Path

import numpy as np
import pytest
from sensor_msgs.msg import JointState
from std_srvs.srv import Trigger
from trajectory_msgs.msg import JointTrajectory

from lerobot_ros_bringup.graph.description import NodeSpec
from lerobot_ros_msgs.msg import ActionChunk, PolicyStatus

_spec = importlib.util.spec_from_file_location(
    "policy_node_support", Path(__file__).with_name("policy_node_support.py")
)
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)

CAMERA = {"front": (48, 64)}
DT_NS = round(1e9 / 30)


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory, reference_python) -> Path:
    return support.make_checkpoint(tmp_path_factory.mktemp("act") / "pretrained_model", CAMERA)


def run_until_exit(parameters: dict[str, object], timeout: float = 120) -> subprocess.CompletedProcess[str]:
    args = [str(support.policy_executable()), "--ros-args"]
    for name, value in parameters.items():
        args += ["-p", f"{name}:={value}"]
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, env=os.environ.copy(), check=False)


def refusal(parameters: dict[str, object]) -> str:
    result = run_until_exit(parameters)
    assert result.returncode == 1, f"expected a refusal (exit 1), got {result.returncode}:\n{result.stderr}"
    assert "Traceback" not in result.stderr, result.stderr
    return result.stderr


@pytest.mark.reference
def test_policy_node_refuses_contract_that_does_not_match_the_checkpoint(checkpoint, tmp_path):
    contract = support.contract_dict({"front": (96, 128), "wrist": (48, 64)}, joints=support.JOINTS[:5])
    del contract["features"]["observation.images.front"]
    path = support.write_contract(tmp_path / "contract.yaml", contract)
    message = refusal({"checkpoint": checkpoint, "contract": path})
    assert "policy_node: cannot start: " in message
    assert "checkpoint input 'observation.images.front' [3, 48, 64] is not in the contract" in message
    assert "'action': checkpoint has 6 columns, the contract's action feature 5" in message
    assert "contract features the checkpoint does not use: ['observation.images.wrist']" in message


@pytest.mark.reference
def test_policy_node_refuses_image_size_mismatch(checkpoint, tmp_path):
    path = support.write_contract(tmp_path / "contract.yaml", support.contract_dict({"front": (96, 128)}))
    message = refusal({"checkpoint": checkpoint, "contract": path})
    assert "'observation.images.front': checkpoint shape [3, 48, 64], contract shape [3, 96, 128]" in message


@pytest.mark.reference
def test_policy_node_refuses_broken_checkpoint(checkpoint, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(checkpoint, broken)
    (broken / "model.safetensors").unlink()
    path = support.write_contract(tmp_path / "contract.yaml", support.contract_dict(CAMERA))
    message = refusal({"checkpoint": broken, "contract": path})
    assert "model.safetensors" in message and "missing" in message
    message = refusal({"checkpoint": tmp_path / "nowhere", "contract": path})
    assert "nowhere" in message
    message = refusal({"checkpoint": checkpoint, "contract": tmp_path / "no_contract.yaml"})
    assert "cannot read contract" in message


def policy_spec(checkpoint: Path, contract: Path, **parameters: object) -> NodeSpec:
    return NodeSpec(
        "lerobot_ros_policy",
        "policy_node",
        "policy_node",
        parameters=[{"checkpoint": str(checkpoint), "contract": str(contract), **parameters}],
    )


def camera_spec(name: str, height: int, width: int) -> NodeSpec:
    return NodeSpec(
        "lerobot_ros_drivers",
        "sim_camera_node",
        f"sim_camera_{name}",
        parameters=[{"name": name, "width": width, "height": height, "fps": 30.0}],
    )


def start_camera_and_policy(ros_graph, checkpoint: Path, contract: Path, services: list[str] | None = None):
    """A 128×96 sim camera and the policy node; the test publishes the joint states."""
    return ros_graph(
        [camera_spec("front", 96, 128), policy_spec(checkpoint, contract, max_observation_age=0.5)],
        topics=["policy/status", "cameras/front/image_raw"],
        services=services or [],
        timeout=120,
    )


class JointStatePublisher:
    """Publishes a fixed SO-101 pose on follower/joint_states at 100 Hz from the probe."""

    def __init__(self, probe) -> None:
        self._publisher = probe.publisher("follower/joint_states", JointState)
        self._node = probe.node
        self.stop = threading.Event()
        self.nan = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self.stop.wait(0.01):
            msg = JointState(name=list(support.JOINTS), position=[0.1, -0.2, 0.3, 0.1, 0.0, 0.5])
            if self.nan.is_set():
                msg.position[2] = float("nan")
            msg.header.stamp = self._node.get_clock().now().to_msg()
            self._publisher.publish(msg)


@pytest.mark.reference
@pytest.mark.slow
def test_policy_node_publishes_timed_chunks_and_obeys_services(checkpoint, tmp_path, ros_graph, ros_probe):
    contract = support.write_contract(tmp_path / "contract.yaml", support.contract_dict(CAMERA))
    trajectories = ros_probe.collect("follower/joint_trajectory", JointTrajectory)
    chunks = ros_probe.collect("policy/action_chunk", ActionChunk)
    statuses = ros_probe.collect("policy/status", PolicyStatus)
    joints = JointStatePublisher(ros_probe)
    try:
        graph = start_camera_and_policy(
            ros_graph, checkpoint, contract, services=["/policy/pause", "/policy/resume", "/policy/reset"]
        )
        ros_probe.wait_until(lambda: len(chunks) >= 4, timeout=90, message="fewer than 4 chunks:\n" + graph.describe())

        # The trajectory is the chunk: same stamp, joints by name, k * dt timing, radians.
        def pairs() -> list[tuple[JointTrajectory, ActionChunk]]:
            by_stamp = {(c.header.stamp.sec, c.header.stamp.nanosec): c for c in list(chunks)}
            found = [(t, by_stamp.get((t.header.stamp.sec, t.header.stamp.nanosec))) for t in list(trajectories)]
            return [(t, c) for t, c in found if c is not None]

        # A chunk and its trajectory arrive on two topics: wait for both rather than assume an order.
        ros_probe.wait_until(lambda: len(pairs()) >= 3, timeout=60, message="fewer than 3 chunk/trajectory pairs")
        matched = 0
        for trajectory, chunk in pairs():
            matched += 1
            assert list(trajectory.joint_names) == support.JOINTS == list(chunk.names)
            positions = np.array([p.positions for p in trajectory.points])
            np.testing.assert_allclose(positions.ravel(), chunk.actions)
            offsets = [p.time_from_start.sec * 10**9 + p.time_from_start.nanosec for p in trajectory.points]
            np.testing.assert_allclose(offsets, np.arange(len(offsets)) * DT_NS, atol=2)
            assert chunk.num_steps + chunk.delay_steps == 30 and chunk.delay_steps >= 1
            assert chunk.inference_latency > 0.0
            # the gripper column came back from percent to radians within the URDF range
            assert support.GRIPPER_RANGE[0] - 1.0 < positions[0, 5] < support.GRIPPER_RANGE[1] + 1.0
        assert matched >= 3
        starts = sorted(c.header.stamp.sec * 10**9 + c.header.stamp.nanosec for c in chunks)
        # every chunk starts on the node's control-step grid
        assert all((b - starts[0]) % DT_NS == 0 for b in starts[1:])
        assert [c.chunk_index for c in chunks[:4]] == [1, 2, 3, 4]
        ros_probe.wait_until(lambda: statuses and statuses[-1].state == "running", timeout=60)
        status = statuses[-1]
        assert status.policy_type == "act" and status.task == "pick the cube"
        assert status.latency_p50 > 0.0 and status.delay_steps >= 1

        # Pause: holds, no more chunks; resume: chunks again; reset: counter restarts.
        assert ros_probe.call_service("/policy/pause", Trigger, idempotent=True).success
        ros_probe.wait_until(lambda: statuses[-1].state == "paused", timeout=60)
        paused_at = len(chunks)
        ros_probe.wait_until(lambda: statuses[-1].state == "paused" and statuses[-1].queue_depth == 0, timeout=60)
        assert len(chunks) <= paused_at + 1  # at most one that was already being published
        assert ros_probe.call_service("/policy/reset", Trigger).success
        assert ros_probe.call_service("/policy/resume", Trigger, idempotent=True).success
        ros_probe.wait_until(lambda: len(chunks) > paused_at + 1, timeout=60, message=graph.describe())
        # The first chunk after the reset, however many came since: its counter restarted.
        assert chunks[paused_at + 1].chunk_index <= 2

        # A non-finite joint state is a broken observation: the node holds and says why.
        joints.nan.set()
        ros_probe.wait_until(
            lambda: statuses[-1].state == "holding" and "non-finite" in statuses[-1].message,
            timeout=30,
            message=f"no hold on NaN joint states; last status {statuses[-1] if statuses else None}",
        )
        # Silence: stale observation, named.
        joints.stop.set()
        ros_probe.wait_until(
            lambda: "stale observation" in statuses[-1].message and "observation.state" in statuses[-1].message,
            timeout=30,
        )
        graph.check_alive()
    finally:
        joints.stop.set()


@pytest.mark.reference
@pytest.mark.slow
def test_policy_node_holds_until_a_controller_listens(checkpoint, tmp_path, ros_graph, ros_probe):
    """No subscriber on the trajectory topic (controller down, or a misnamed topic): no chunk is
    planned into the void, the status says which topic is unheard; a subscriber starts the chunks."""
    contract = support.write_contract(tmp_path / "contract.yaml", support.contract_dict(CAMERA))
    chunks = ros_probe.collect("policy/action_chunk", ActionChunk)
    statuses = ros_probe.collect("policy/status", PolicyStatus)
    joints = JointStatePublisher(ros_probe)
    try:
        graph = start_camera_and_policy(ros_graph, checkpoint, contract)
        ros_probe.wait_until(
            lambda: statuses and "no subscriber on /follower/joint_trajectory" in statuses[-1].message,
            timeout=60,
            message=f"no 'no subscriber' hold; last status {statuses[-1] if statuses else None}",
        )
        assert statuses[-1].state == "holding"
        assert not chunks, "chunks were planned while nothing listened on the trajectory topic"
        trajectories = ros_probe.collect("follower/joint_trajectory", JointTrajectory)
        ros_probe.wait_until(lambda: chunks and trajectories, timeout=90, message=graph.describe())
        # The first chunk planned is the first one the controller receives: none was lost before the match.
        assert chunks[0].chunk_index == 1
        first = trajectories[0].header.stamp
        assert (first.sec, first.nanosec) == (chunks[0].header.stamp.sec, chunks[0].header.stamp.nanosec)
        graph.check_alive()
    finally:
        joints.stop.set()
