"""QoS profiles used across the suite.

Sensors publish best effort (the sensor-data profile). Subscribers that must see every message
(recorder, policy observations) take a best-effort profile with a deep queue: it matches both
best-effort and reliable publishers, whereas a reliable subscriber receives nothing from a
best-effort publisher, silently. `check_publisher_compatibility` finds such mismatches to warn about.
"""

from __future__ import annotations

from rclpy.qos import (
    DurabilityPolicy,
    HistoryPolicy,
    QoSProfile,
    ReliabilityPolicy,
    qos_profile_sensor_data,
)

SENSOR_QOS: QoSProfile = qos_profile_sensor_data
"""Sensor publishers: best effort, keep last 5, volatile."""

COMMAND_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=10,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.VOLATILE,
)
"""Commands and trajectories: reliable, like ros2_controllers' command topics."""


def subscriber_qos(depth: int = 100) -> QoSProfile:
    """For subscribers that should accept every publisher: best effort, deep queue."""
    return QoSProfile(
        history=HistoryPolicy.KEEP_LAST,
        depth=depth,
        reliability=ReliabilityPolicy.BEST_EFFORT,
        durability=DurabilityPolicy.VOLATILE,
    )


LATCHED_QOS = QoSProfile(
    history=HistoryPolicy.KEEP_LAST,
    depth=1,
    reliability=ReliabilityPolicy.RELIABLE,
    durability=DurabilityPolicy.TRANSIENT_LOCAL,
)
"""Slow-changing state (robot_description, status): late joiners get the last message."""


def incompatibilities(subscriber: QoSProfile, publisher: QoSProfile) -> list[str]:
    """Reasons a publisher with `publisher` QoS would deliver nothing to `subscriber` (empty if compatible)."""
    reasons = []
    if subscriber.reliability == ReliabilityPolicy.RELIABLE and publisher.reliability == ReliabilityPolicy.BEST_EFFORT:
        reasons.append("subscriber asks for RELIABLE but the publisher is BEST_EFFORT")
    if subscriber.durability == DurabilityPolicy.TRANSIENT_LOCAL and publisher.durability == DurabilityPolicy.VOLATILE:
        reasons.append("subscriber asks for TRANSIENT_LOCAL but the publisher is VOLATILE")
    return reasons


def check_publisher_compatibility(node, topic: str, subscriber: QoSProfile) -> list[str]:
    """Messages describing publishers on `topic` whose QoS cannot reach `subscriber`."""
    problems = []
    for info in node.get_publishers_info_by_topic(topic):
        for reason in incompatibilities(subscriber, info.qos_profile):
            problems.append(f"{topic}: publisher {info.node_namespace}/{info.node_name}: {reason}")
    return problems
