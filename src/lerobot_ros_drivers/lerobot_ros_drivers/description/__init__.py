"""Robot descriptions (URDF) of the SO-100/SO-101 arms, shipped as package data."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

ROBOTS = ("so101", "so100")


def urdf_path(robot: str) -> Path:
    """Path of the packaged URDF of `robot` (so101 or so100)."""
    if robot not in ROBOTS:
        raise ValueError(f"unknown robot '{robot}' (known: {', '.join(ROBOTS)})")
    return Path(str(resources.files(__package__) / f"{robot}.urdf"))


def urdf_text(robot: str) -> str:
    return urdf_path(robot).read_text(encoding="utf-8")
