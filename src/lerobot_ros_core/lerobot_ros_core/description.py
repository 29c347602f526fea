"""Facts read from a robot description (URDF text), shared by the arm driver and the policy node,
and where a description file named in a contract or on a command line is."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from pathlib import Path

PACKAGE_SCHEME = "package://"
FILE_SCHEME = "file://"

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


def resolve_description_path(value: str, base_dir: Path) -> Path:
    """The file a robot description reference names, as ROS resolves mesh and URDF URIs:
    `package://<package>/<path>` inside that package's share directory (the workspace that has it
    must be sourced), `file:///abs/path`, or a plain path (relative to `base_dir`).

    Raises FileNotFoundError naming the reference when the package is not installed.
    """
    if value.startswith(PACKAGE_SCHEME):
        from ament_index_python.packages import PackageNotFoundError, get_package_share_directory

        package, _, relative = value[len(PACKAGE_SCHEME) :].partition("/")
        try:
            share = get_package_share_directory(package)
        except (PackageNotFoundError, ValueError) as error:
            raise FileNotFoundError(
                f"{value}: package {package!r} is not installed in a sourced workspace ({error})"
            ) from None
        return Path(share) / relative
    if value.startswith(FILE_SCHEME):
        return Path(value[len(FILE_SCHEME) :])
    path = Path(value).expanduser()
    return path if path.is_absolute() else base_dir / path
