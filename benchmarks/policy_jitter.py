"""Timing jitter of the policy node's executed commands at 30 Hz, against the ideal 33.3 ms period.

The policy node runs in stream mode (one JointState per control step on follower/joint_commands,
executed by follower_node on the simulated servo bus) with a random-weight ACT saved by LeRobot
0.4.4, inference running in its worker thread. A probe records each command's receive time and
header stamp. Baseline, measured at the same time on the same machine: a bare rclpy node whose
30 Hz timer publishes a JointState and does nothing else.

In trajectory mode the due times of the points are exact multiples of the period by
construction (stamp + k·dt); what varies there is only the driver's own control loop.

    source scripts/env.sh && python benchmarks/policy_jitter.py [--seconds 20]
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from sensor_msgs.msg import JointState

from lerobot_ros_bringup.testing.graph import start_graph
from lerobot_ros_bringup.testing.probe import RosProbe

ROOT = Path(__file__).resolve().parents[1]
_spec = importlib.util.spec_from_file_location(
    "policy_node_support", ROOT / "src/lerobot_ros_policy/test/policy_node_support.py"
)
support = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(support)
PERIOD_MS = 1000.0 / 30.0

BASELINE = """
import rclpy
from sensor_msgs.msg import JointState
rclpy.init()
node = rclpy.create_node("baseline_30hz")
pub = node.create_publisher(JointState, "baseline/joint_commands", 10)
def tick():
    msg = JointState(name=["a"], position=[0.0])
    msg.header.stamp = node.get_clock().now().to_msg()
    pub.publish(msg)
node.create_timer(1.0 / 30.0, tick)
try:
    rclpy.spin(node)
except BaseException:
    pass
"""


class Recorder:
    def __init__(self, probe: RosProbe, topic: str) -> None:
        self.received: list[tuple[int, int]] = []
        probe.node.create_subscription(JointState, topic, self._on_message, 100)

    def _on_message(self, msg: JointState) -> None:
        self.received.append((time.monotonic_ns(), msg.header.stamp.sec * 10**9 + msg.header.stamp.nanosec))


def describe(name: str, times_ns: np.ndarray) -> str:
    intervals = np.diff(times_ns) / 1e6
    error = np.abs(intervals - PERIOD_MS)
    return (
        f"  {name:<34} n={len(intervals):4d}  mean {intervals.mean():6.2f} ms  std {intervals.std():5.2f} ms  "
        f"|err| p50 {np.percentile(error, 50):5.2f}  p95 {np.percentile(error, 95):5.2f}  "
        f"p99 {np.percentile(error, 99):5.2f}  max {error.max():6.2f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=20.0)
    args = parser.parse_args()
    camera = {"front": (48, 64)}
    with tempfile.TemporaryDirectory() as tmp_dir:
        tmp = Path(tmp_dir)
        checkpoint = support.make_checkpoint(tmp / "act", camera, action_std=1.0)
        contract = support.write_contract(tmp / "contract.yaml", support.contract_dict(camera))
        nodes = support.sim_rollout_specs(tmp / "follower", checkpoint, contract, output_mode="stream")
        probe = RosProbe("jitter_probe")
        policy = Recorder(probe, "/follower/joint_commands")
        baseline = Recorder(probe, "/baseline/joint_commands")
        graph = start_graph(nodes)
        baseline_process = subprocess.Popen([sys.executable, "-c", BASELINE], env=os.environ.copy())
        try:
            deadline = time.monotonic() + 180
            while len(policy.received) < 30:
                if time.monotonic() > deadline:
                    raise SystemExit("the policy node streamed no commands within 180 s:\n" + graph.describe())
                time.sleep(0.1)
            policy.received.clear()
            baseline.received.clear()
            time.sleep(args.seconds)
            policy_data, baseline_data = np.array(policy.received), np.array(baseline.received)
        finally:
            baseline_process.terminate()
            baseline_process.wait(10)
            graph.stop()
            probe.close()
    print(
        f"executed command timing at 30 Hz (ideal period {PERIOD_MS:.2f} ms), {args.seconds:.0f} s, "
        f"inference in the worker thread"
    )
    print(describe("policy_node, receive time", policy_data[:, 0]))
    print(describe("policy_node, header stamp", policy_data[:, 1]))
    print(describe("baseline rclpy timer, receive time", baseline_data[:, 0]))
    print(describe("baseline rclpy timer, header stamp", baseline_data[:, 1]))


if __name__ == "__main__":
    main()
