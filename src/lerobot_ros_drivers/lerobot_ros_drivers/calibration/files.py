"""LeRobot calibration files: same JSON format and directory layout, so one calibration serves both.

``<root>/robots/<robot_name>/<id>.json`` (``teleoperators/...`` for leaders), root
``$HF_LEROBOT_CALIBRATION`` or ``~/.cache/huggingface/lerobot/calibration``; per motor
``{"id", "drive_mode", "homing_offset", "range_min", "range_max"}``. Robot names differ across
LeRobot versions: ``so101_follower`` / ``so100_follower`` (≤0.3), ``so_follower`` (0.4+).
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from importlib.resources import files
from pathlib import Path
from typing import Literal

Kind = Literal["robots", "teleoperators"]
FOLLOWER_NAMES = ("so101_follower", "so100_follower", "so_follower")
LEADER_NAMES = ("so101_leader", "so100_leader", "so_leader")
_FIELDS = ("id", "drive_mode", "homing_offset", "range_min", "range_max")


class CalibrationError(ValueError):
    """A calibration file is missing, malformed or inconsistent."""


@dataclass(frozen=True)
class MotorCalibration:
    id: int
    drive_mode: int
    homing_offset: int
    range_min: int
    range_max: int


def default_root() -> Path:
    env = os.environ.get("HF_LEROBOT_CALIBRATION")
    if env:
        return Path(env).expanduser()
    hf_home = Path(os.environ.get("HF_HOME", "~/.cache/huggingface")).expanduser()
    return hf_home / "lerobot" / "calibration"


def calibration_dir(kind: Kind, name: str, root: Path | None = None) -> Path:
    if kind not in ("robots", "teleoperators"):
        raise ValueError(f"calibration kind must be 'robots' or 'teleoperators', not {kind!r}")
    return (Path(root) if root is not None else default_root()) / kind / name


def find_calibration(kind: Kind, calibration_id: str, names: Sequence[str], root: Path | None = None) -> Path | None:
    """First existing ``<root>/<kind>/<name>/<calibration_id>.json`` over `names`, else None."""
    for name in names:
        path = calibration_dir(kind, name, root) / f"{calibration_id}.json"
        if path.is_file():
            return path
    return None


def load_calibration(path: str | Path) -> dict[str, MotorCalibration]:
    path = Path(path)
    try:
        data = json.loads(path.read_text())
    except FileNotFoundError:
        raise CalibrationError(f"calibration file {path} does not exist") from None
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"calibration file {path} is not valid JSON: {exc}") from None
    if not isinstance(data, dict) or not data:
        raise CalibrationError(f"calibration file {path}: expected an object of motors, got {type(data).__name__}")
    calibration = {}
    for motor, entry in data.items():
        if not isinstance(entry, dict):
            raise CalibrationError(f"calibration file {path}: motor '{motor}' is not an object")
        missing = [f for f in _FIELDS if f not in entry]
        if missing:
            raise CalibrationError(f"calibration file {path}: motor '{motor}' lacks {', '.join(missing)}")
        bad = [f for f in _FIELDS if isinstance(entry[f], bool) or not isinstance(entry[f], int)]
        if bad:
            raise CalibrationError(f"calibration file {path}: motor '{motor}' has non-integer {', '.join(bad)}")
        calibration[motor] = MotorCalibration(**{f: entry[f] for f in _FIELDS})
        if calibration[motor].range_min >= calibration[motor].range_max:
            raise CalibrationError(
                f"calibration file {path}: motor '{motor}' has range_min {entry['range_min']} "
                f">= range_max {entry['range_max']}"
            )
    return calibration


def save_calibration(path: str | Path, calibration: dict[str, MotorCalibration]) -> None:
    """Write atomically (temp file + rename), formatted as LeRobot writes it (indent 4)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = json.dumps({motor: asdict(cal) for motor, cal in calibration.items()}, indent=4)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=f".{path.name}.", delete=False) as tmp:
        tmp.write(text)
    Path(tmp.name).replace(path)


def sim_calibration_path(role: Literal["follower", "leader"], robot: str = "so101") -> Path:
    """The calibration file shipped for simulated arms (used by both the emulator and the driver)."""
    resource = files("lerobot_ros_drivers.calibration") / f"sim_{robot}_{role}.json"
    path = Path(str(resource))
    if not path.is_file():
        raise CalibrationError(f"no simulated calibration shipped for {robot} {role} ({path})")
    return path
