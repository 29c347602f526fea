"""Publishing node health on /diagnostics (diagnostic_msgs/DiagnosticArray).

Every node of the suite reports through a `DiagnosticsReporter`: it collects named status
entries and publishes them at a fixed period, so `rqt_robot_monitor` and tests see one status
per component with its key/value details.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field

from diagnostic_msgs.msg import DiagnosticArray, DiagnosticStatus, KeyValue

# Levels as ints (the message fields are single bytes).
OK, WARN, ERROR, STALE = (
    int.from_bytes(level)
    for level in (DiagnosticStatus.OK, DiagnosticStatus.WARN, DiagnosticStatus.ERROR, DiagnosticStatus.STALE)
)


@dataclass
class Status:
    level: int = STALE
    message: str = "no data yet"
    values: dict[str, str] = field(default_factory=dict)


class DiagnosticsReporter:
    """Collects component statuses of one node and publishes them every `period_s` on /diagnostics."""

    def __init__(self, node, hardware_id: str = "", period_s: float = 1.0) -> None:
        self._node = node
        self._hardware_id = hardware_id
        self._lock = threading.Lock()
        self._statuses: dict[str, Status] = {}
        self._publisher = node.create_publisher(DiagnosticArray, "/diagnostics", 10)
        self._timer = node.create_timer(period_s, self.publish)

    def update(self, component: str, level: int, message: str, **values: object) -> None:
        with self._lock:
            self._statuses[component] = Status(level, message, {k: str(v) for k, v in values.items()})

    def publish(self) -> None:
        msg = DiagnosticArray()
        msg.header.stamp = self._node.get_clock().now().to_msg()
        with self._lock:
            items = list(self._statuses.items())
        for component, status in items:
            msg.status.append(
                DiagnosticStatus(
                    level=bytes([status.level]),
                    name=f"{self._node.get_fully_qualified_name()}: {component}",
                    message=status.message,
                    hardware_id=self._hardware_id,
                    values=[KeyValue(key=k, value=v) for k, v in status.values.items()],
                )
            )
        if msg.status:
            self._publisher.publish(msg)
