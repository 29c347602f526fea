"""Leader arm driver: torque off, `joint_states` in radians stamped at bus-read time.

The leader is moved by hand; the node only reads. A lost port gives diagnostics ERROR and
reconnection attempts, never a crash.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass

from rclpy.node import Node
from sensor_msgs.msg import JointState

from lerobot_ros_core.node.diagnostics import ERROR, OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_core.node.qos import SENSOR_QOS
from lerobot_ros_drivers.arm.bus_session import ArmBusConfig, BusSession
from lerobot_ros_drivers.arm.controller import VelocityEstimator
from lerobot_ros_drivers.calibration.files import LEADER_NAMES
from lerobot_ros_drivers.feetech.arm_bus import SO_ARM_JOINTS


@dataclass
class LeaderConfig(ArmBusConfig):
    port: str = param("/dev/ttyACM1", "serial port of the leader's servo bus")
    rate: float = param(200.0, "joint_states rate (Hz)", min=1.0, max=1000.0)
    diagnostics_period: float = param(1.0, "diagnostics period (s)", min=0.1, max=60.0)


class LeaderNode(Node):
    def __init__(self) -> None:
        super().__init__("leader")
        self.config = cfg = declare_parameters(self, LeaderConfig)
        self.joint_names = list(SO_ARM_JOINTS)
        path, self.session = BusSession.open(cfg, "teleoperators", LEADER_NAMES, self.joint_names)
        self.bus = self.session.bus
        self.publisher = self.create_publisher(JointState, "joint_states", SENSOR_QOS)
        self.diagnostics = DiagnosticsReporter(self, hardware_id=cfg.port, period_s=cfg.diagnostics_period)
        self.velocity = VelocityEstimator()
        self.loop_rate = 0.0
        self.running = True
        self.create_timer(cfg.diagnostics_period, self._report)
        self.get_logger().info(f"leader on {cfg.port}, calibration {path}")
        self.thread = threading.Thread(target=self._loop, name="leader read", daemon=True)
        self.thread.start()

    def _loop(self) -> None:
        period = 1.0 / self.config.rate
        ticks, window_start = 0, time.monotonic()
        next_tick = time.monotonic()
        while self.running and self.context.ok():  # a shut-down context cannot publish
            if not self.session.connected:
                if self.session.retry(self.get_logger().warn) and self.session.do(lambda bus: bus.set_torque(False)):
                    self.get_logger().info(f"connected to {self.bus.port}, torque off")
                time.sleep(0.05)
                continue
            stamp = self.get_clock().now()
            positions = self.session.read(lambda bus: bus.read_positions())
            if positions is None:
                if not self.session.connected:
                    self.get_logger().error(f"{self.session.counters.last_error}; reconnecting")
                continue
            msg = JointState()
            msg.header.stamp = stamp.to_msg()
            msg.name = self.joint_names
            msg.position = positions.tolist()
            msg.velocity = self.velocity.update(stamp.nanoseconds * 1e-9, positions).tolist()
            self.publisher.publish(msg)
            ticks += 1
            now = time.monotonic()
            if now - window_start >= 1.0:
                self.loop_rate = ticks / (now - window_start)
                ticks, window_start = 0, now
            next_tick = max(next_tick + period, now)
            time.sleep(max(0.0, next_tick - time.monotonic()))

    def _report(self) -> None:
        counters = self.session.counters
        if not self.session.connected:
            level, message = ERROR, f"bus not connected: {counters.last_error or 'connecting'}; reconnecting"
        elif counters.consecutive_errors:
            level, message = WARN, f"bus errors: {counters.last_error}"
        else:
            level, message = OK, "running"
        self.diagnostics.update(
            "arm",
            level,
            message,
            port=self.bus.port,
            rate_hz=f"{self.loop_rate:.1f}",
            bus_errors=counters.errors,
            reconnects=counters.reconnects,
            last_bus_error=counters.last_error,
        )

    def shutdown(self) -> None:
        self.running = False
        self.thread.join(timeout=2.0)
        self.session.close(torque_off=True)


def main() -> int:
    return run_node(LeaderNode)
