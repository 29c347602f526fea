"""Force/torque sensor node: a serial sensor as geometry_msgs/WrenchStamped on `force/wrench`.

Publishes every sample at the sensor's rate, stamped when its bytes arrived, in N and N·m after
tare and the optional low-pass filter. `force/tare` (std_srvs/Trigger) zeroes the sensor on the
mean of the last `tare_samples` samples; `tare_at_startup` does so before the first publication.
Malformed input is counted by kind and reported on /diagnostics, never fatal.
"""

from __future__ import annotations

import codecs
import threading
from dataclasses import dataclass

import numpy as np
from geometry_msgs.msg import WrenchStamped
from rclpy.node import Node
from std_srvs.srv import Trigger

from lerobot_ros_core.node.diagnostics import ERROR, OK, WARN, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_core.node.qos import SENSOR_QOS
from lerobot_ros_core.node.stamps import time_from_nanoseconds
from lerobot_ros_drivers.force.processing import WrenchProcessor
from lerobot_ros_drivers.force.protocols import PROTOCOLS, LineProtocolConfig, create_protocol
from lerobot_ros_drivers.force.sensor import SerialForceSensor


@dataclass
class ForceSensorNodeConfig:
    port: str = param("/dev/ttyUSB0", "serial port of the sensor")
    baudrate: int = param(115200, "serial baud rate", min=300, max=12000000)
    protocol: str = param("line", "wire protocol", choices=tuple(PROTOCOLS))
    delimiter: str = param("\\n", "line protocol: line end (escapes such as \\r\\n allowed)")
    separator: str = param(",", "line protocol: field separator (' ' = any whitespace)")
    fields: list[str] = param(["fx", "fy", "fz", "tx", "ty", "tz"], "line protocol: field order, '_' to skip one")
    scale: list[float] = param([1.0], "line protocol: multiplier per axis fx..tz (6 values) or one for all")
    force_unit: str = param("N", "line protocol: unit of the scaled forces", choices=("N", "mN", "kN", "kgf", "lbf"))
    torque_unit: str = param(
        "Nm", "line protocol: unit of the scaled torques", choices=("Nm", "Nmm", "mNm", "kgfcm", "lbfin")
    )
    prefix: str = param("", "line protocol: text every data line starts with")
    checksum: str = param("none", "line protocol: '*HH' checksum kind", choices=("none", "xor", "sum8"))
    max_line_length: int = param(256, "line protocol: longest valid line (bytes)", min=8, max=65536)
    frame_id: str = param("force_sensor", "frame of the wrench")
    topic: str = param("force/wrench", "wrench topic")
    tare_service: str = param("force/tare", "tare service name")
    tare_at_startup: bool = param(False, "tare on the first tare_samples samples before publishing")
    tare_samples: int = param(50, "samples averaged by a tare", min=1, max=100000)
    filter_cutoff: float = param(0.0, "low-pass cutoff (Hz); 0 disables the filter", min=0.0, max=100000.0)
    reconnect_period: float = param(1.0, "seconds between attempts to reopen a lost port", min=0.05, max=60.0)
    diagnostics_period: float = param(1.0, "diagnostics publishing period (s)", min=0.1, max=60.0)


class ForceSensorNode(Node):
    def __init__(self) -> None:
        super().__init__("force_sensor")
        self.config = cfg = declare_parameters(self, ForceSensorNodeConfig)
        line_config = LineProtocolConfig(
            delimiter=codecs.decode(cfg.delimiter, "unicode_escape"),
            separator=codecs.decode(cfg.separator, "unicode_escape"),
            fields=list(cfg.fields),
            scale=list(cfg.scale),
            force_unit=cfg.force_unit,
            torque_unit=cfg.torque_unit,
            prefix=cfg.prefix,
            checksum=cfg.checksum,
            max_line_length=cfg.max_line_length,
        )
        protocol = create_protocol(cfg.protocol, line_config)
        self.processor = WrenchProcessor(cfg.tare_samples, cfg.filter_cutoff)
        self._lock = threading.Lock()
        self.tared = not cfg.tare_at_startup
        self.published = 0
        self._reported_rejections = 0
        self.publisher = self.create_publisher(WrenchStamped, cfg.topic, SENSOR_QOS)
        self.create_service(Trigger, cfg.tare_service, self._on_tare)
        self.diagnostics = DiagnosticsReporter(self, hardware_id=cfg.port, period_s=cfg.diagnostics_period)
        self.sensor = SerialForceSensor(
            cfg.port,
            cfg.baudrate,
            protocol,
            self._on_sample,
            clock=lambda: self.get_clock().now().nanoseconds,
            reconnect_period_s=cfg.reconnect_period,
        )
        self.create_timer(cfg.diagnostics_period, self._report)
        self.sensor.start()
        self.get_logger().info(f"force sensor on {cfg.port} ({cfg.protocol}) publishing {cfg.topic}")

    def _on_sample(self, raw: np.ndarray, stamp_ns: int) -> None:
        with self._lock:
            wrench = self.processor(raw, stamp_ns * 1e-9)
            if not self.tared:
                if not self.processor.ready_to_tare():
                    return
                offset = self.processor.tare()
                self.tared = True
                self.get_logger().info(f"tared at startup: offset {np.round(offset, 4).tolist()}")
                wrench = raw - offset
        msg = WrenchStamped()
        msg.header.stamp = time_from_nanoseconds(stamp_ns)
        msg.header.frame_id = self.config.frame_id
        msg.wrench.force.x, msg.wrench.force.y, msg.wrench.force.z = (float(v) for v in wrench[:3])
        msg.wrench.torque.x, msg.wrench.torque.y, msg.wrench.torque.z = (float(v) for v in wrench[3:])
        if self.context.ok():  # the sensor thread outlives the context for a moment at shutdown
            self.publisher.publish(msg)
            self.published += 1

    def _on_tare(self, request: Trigger.Request, response: Trigger.Response) -> Trigger.Response:
        with self._lock:
            try:
                offset = self.processor.tare()
            except RuntimeError as error:
                response.success, response.message = False, str(error)
                return response
            self.tared = True
        response.success = True
        response.message = f"tared: offset [fx fy fz tx ty tz] = {np.round(offset, 6).tolist()}"
        self.get_logger().info(response.message)
        return response

    def _report(self) -> None:
        stats = self.sensor.stats()
        rejected = sum(stats.errors.values())
        values = {
            "port": self.config.port,
            "rate_hz": f"{stats.rate_hz:.1f}",
            "samples": stats.samples,
            "published": self.published,
            "rejected": rejected,
            **{f"rejected_{kind}": count for kind, count in sorted(stats.errors.items())},
            "reconnects": stats.reconnects,
            "tare_offset": np.round(self.processor.offset, 6).tolist(),
            "last_error": stats.last_error,
        }
        if not stats.connected:
            self.diagnostics.update("sensor", ERROR, stats.last_error or "not connected", **values)
        elif stats.rate_hz == 0.0:
            self.diagnostics.update("sensor", WARN, "no samples from the sensor", **values)
        elif rejected > self._reported_rejections:
            new = rejected - self._reported_rejections
            self.diagnostics.update("sensor", WARN, f"{new} malformed inputs rejected: {stats.last_error}", **values)
        else:
            self.diagnostics.update("sensor", OK, f"streaming at {stats.rate_hz:.0f} Hz", **values)
        self._reported_rejections = rejected

    def destroy_node(self) -> None:
        self.sensor.stop()
        super().destroy_node()


def main() -> int:
    return run_node(ForceSensorNode)
