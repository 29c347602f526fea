"""Unit conversions between ROS (SI, radians) and dataset values (LeRobot units).

Every conversion is affine (`dataset = scale * ros + offset`), so it inverts exactly and commutes
with linear interpolation. The dataset unit names what a value becomes; the ROS side is always
the SI unit of the source quantity.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from lerobot_ros_core.description import SO101_GRIPPER_LIMITS_RAD

QUANTITIES = ("angle", "length", "angular_velocity", "linear_velocity", "force", "torque", "effort", "any")

# Dataset unit -> (quantity it applies to, scale from the SI unit); "percent" is handled apart.
_UNITS: dict[str, tuple[tuple[str, ...], float]] = {
    "rad": (("angle",), 1.0),
    "deg": (("angle",), 180.0 / math.pi),
    "m": (("length",), 1.0),
    "mm": (("length",), 1000.0),
    "rad/s": (("angular_velocity",), 1.0),
    "deg/s": (("angular_velocity",), 180.0 / math.pi),
    "m/s": (("linear_velocity",), 1.0),
    "mm/s": (("linear_velocity",), 1000.0),
    "N": (("force", "effort"), 1.0),
    "Nm": (("torque", "effort"), 1.0),
    "raw": (QUANTITIES, 1.0),
}
UNIT_NAMES = (*_UNITS, "percent")


class UnitError(ValueError):
    """A unit name is unknown, does not apply to the quantity, or has a bad range."""


@dataclass(frozen=True)
class Unit:
    """An affine map from a ROS value to a dataset value."""

    name: str
    scale: float
    offset: float = 0.0

    def to_dataset(self, value: float) -> float:
        return self.scale * value + self.offset

    def to_ros(self, value: float) -> float:
        return (value - self.offset) / self.scale


def make_unit(name: str, quantity: str, percent_range: tuple[float, float] | None = None) -> Unit:
    """The conversion to dataset unit `name` of a ROS value of `quantity` (see QUANTITIES)."""
    if name == "percent":
        if quantity not in ("angle", "length", "any"):
            raise UnitError(f"unit 'percent' maps a joint position range; it does not apply to a {quantity}")
        low, high = percent_range or SO101_GRIPPER_LIMITS_RAD
        if not (math.isfinite(low) and math.isfinite(high)) or high <= low:
            raise UnitError(f"unit 'percent': range [{low}, {high}] must be finite and increasing")
        scale = 100.0 / (high - low)
        return Unit("percent", scale, -low * scale)
    if percent_range is not None:
        raise UnitError(f"unit {name!r} takes no range (only 'percent' does)")
    if name not in _UNITS:
        raise UnitError(f"unknown unit {name!r} (known: {', '.join(UNIT_NAMES)})")
    quantities, scale = _UNITS[name]
    if quantity != "any" and quantity not in quantities:
        fitting = [unit for unit, (qs, _) in _UNITS.items() if quantity in qs and unit != "raw"]
        raise UnitError(f"unit {name!r} does not apply to a {quantity} (use one of: {', '.join(fitting)})")
    return Unit(name, scale)
