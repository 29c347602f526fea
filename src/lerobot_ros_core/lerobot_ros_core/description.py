"""Facts read from a robot description (URDF text), shared by the arm driver and the policy node."""

from __future__ import annotations

import xml.etree.ElementTree as ET

SO101_GRIPPER_LIMITS_RAD = (-0.174533, 1.74533)
"""The SO-100/SO-101 URDF gripper joint limits (−10°…100°): the calibrated gripper range maps onto them."""


def joint_limits(urdf: str) -> dict[str, tuple[float, float]]:
    """`{joint: (lower, upper)}` of the revolute and prismatic joints of a URDF document."""
    limits = {}
    for joint in ET.fromstring(urdf).iter("joint"):
        limit = joint.find("limit")
        if joint.get("type") in ("revolute", "prismatic") and limit is not None:
            limits[joint.get("name", "")] = (float(limit.get("lower", "-inf")), float(limit.get("upper", "inf")))
    return limits
