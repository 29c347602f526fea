"""Simulated SO-arm servo bus: an STS3215 bus emulator on a pty that the real drivers open like a port.

Parameters: `link` (symlink to the pty, what the driver's `port` names), `ids`, `calibration_file`
(servos hold that LeRobot calibration's Homing_Offset / limits, starting mid-range), `motion` (a
scripted leader motion while torque is off), `speed_limit`, fault injection rates. Service
`~/set_plugged` (std_srvs/SetBool) unplugs (false) and plugs back (true) the simulated adapter.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from pathlib import Path

from rclpy.node import Node
from std_srvs.srv import SetBool

from lerobot_ros_core.node.diagnostics import ERROR, OK, DiagnosticsReporter
from lerobot_ros_core.node.node_main import run_node
from lerobot_ros_core.node.params import declare_parameters, param
from lerobot_ros_drivers.calibration.files import load_calibration
from lerobot_ros_drivers.feetech.emulator import (
    Faults,
    PtyServoBus,
    ServoBusEmulator,
    scripted_motion,
    so_arm_servos,
)
from lerobot_ros_drivers.feetech.registers import RESOLUTION


@dataclass
class ServoBusEmulatorConfig:
    link: str = param("/tmp/lerobot_ros_sim/follower", "path of the symlink to the emulated port (the driver's port)")
    ids: list[int] = param([1, 2, 3, 4, 5, 6], "servo ids on the bus", min=0, max=252)
    calibration_file: str = param("", "LeRobot calibration JSON the servos start calibrated with ('' = factory state)")
    motion: str = param(
        "none", "scripted motion while torque is off (a simulated leader)", choices=("none", "sine", "wave")
    )
    motion_period: float = param(6.0, "period of the scripted motion (s)", min=0.5, max=600.0)
    speed_limit: float = param(4.6, "servo speed limit under torque (rad/s)", min=0.01, max=100.0)
    fault_timeout_rate: float = param(0.0, "probability that a status packet is not sent", min=0.0, max=1.0)
    fault_checksum_rate: float = param(0.0, "probability that a status packet has a bad checksum", min=0.0, max=1.0)
    diagnostics_period: float = param(1.0, "diagnostics publishing period (s)", min=0.1, max=60.0)


class ServoBusEmulatorNode(Node):
    def __init__(self) -> None:
        super().__init__("servo_bus_emulator")
        self.config = declare_parameters(self, ServoBusEmulatorConfig)
        cfg = self.config
        calibration = load_calibration(Path(cfg.calibration_file).expanduser()) if cfg.calibration_file else None
        servos = so_arm_servos(calibration, ids=cfg.ids)
        for index, servo in enumerate(servos):
            servo.hand = scripted_motion(cfg.motion, servo, index, cfg.motion_period)
        self.emulator = ServoBusEmulator(
            servos,
            speed_limit=cfg.speed_limit * RESOLUTION / (2 * math.pi),
            faults=Faults(timeout_rate=cfg.fault_timeout_rate, checksum_rate=cfg.fault_checksum_rate),
        )
        self.bus = PtyServoBus(self.emulator, cfg.link)
        self.bus.plug()
        self.diagnostics = DiagnosticsReporter(self, hardware_id=cfg.link, period_s=cfg.diagnostics_period)
        self.create_service(SetBool, "~/set_plugged", self._on_set_plugged)
        self.create_timer(cfg.diagnostics_period, self._report)
        self.get_logger().info(
            f"emulating servos {[s.ident for s in servos]} at {cfg.link} -> {self.bus.device} (motion {cfg.motion})"
        )

    def _on_set_plugged(self, request: SetBool.Request, response: SetBool.Response) -> SetBool.Response:
        if request.data:
            self.bus.plug()
        else:
            self.bus.unplug()
        response.success = True
        response.message = f"{self.config.link} {'plugged' if request.data else 'unplugged'}"
        self.get_logger().info(response.message)
        return response

    def _report(self) -> None:
        level, message = (OK, "serving") if self.bus.plugged else (ERROR, "unplugged")
        self.diagnostics.update(
            "servo bus",
            level,
            message,
            link=self.config.link,
            packets=self.emulator.packets_handled,
            ids=[s.ident for s in self.emulator.servos],
        )

    def destroy_node(self) -> None:
        self.bus.unplug()
        super().destroy_node()


def main() -> int:
    return run_node(ServoBusEmulatorNode)
