"""Declare a node's parameters from one dataclass, with descriptions and ranges.

Each node keeps its configuration in a dataclass (usable without rclpy, e.g. by tests and the
pure-Python cores) and declares it as ROS parameters in one call::

    @dataclass
    class FollowerConfig:
        port: str = param("/dev/ttyACM0", "serial port of the servo bus")
        rate_hz: float = param(100.0, "control loop rate", min=1.0, max=1000.0)

    config = declare_parameters(node, FollowerConfig)

Fields without a default are required: the node refuses to start when they are not set.
"""

from __future__ import annotations

import dataclasses
import typing
from typing import Any, TypeVar

T = TypeVar("T")

_META_KEY = "lerobot_ros_param"


@dataclasses.dataclass(frozen=True)
class ParamSpec:
    description: str
    min: float | None = None
    max: float | None = None
    step: float | None = None
    read_only: bool = False
    choices: tuple[str, ...] | None = None


def param(
    default: Any = dataclasses.MISSING,
    description: str = "",
    *,
    min: float | None = None,
    max: float | None = None,
    step: float | None = None,
    read_only: bool = False,
    choices: tuple[str, ...] | None = None,
) -> Any:
    """A dataclass field that is also a ROS parameter. Lists get a copied default."""
    spec = ParamSpec(description, min, max, step, read_only, choices)
    metadata = {_META_KEY: spec}
    if isinstance(default, list | dict):
        return dataclasses.field(default_factory=lambda d=default: type(d)(d), metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


class ParameterError(ValueError):
    """A parameter is missing, has the wrong type or is out of range."""


def _field_type(cls: type, field: dataclasses.Field) -> Any:
    hints = typing.get_type_hints(cls)
    return hints[field.name]


def _ros_type(py_type: Any) -> Any:
    from rclpy.parameter import Parameter

    origin = typing.get_origin(py_type)
    args = [a for a in typing.get_args(py_type) if a is not type(None)]
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)) and len(args) == 1:
        return _ros_type(args[0])
    if py_type is bool:
        return Parameter.Type.BOOL
    if py_type is int:
        return Parameter.Type.INTEGER
    if py_type is float:
        return Parameter.Type.DOUBLE
    if py_type is str:
        return Parameter.Type.STRING
    if origin is list:
        item = args[0] if args else str
        return {
            str: Parameter.Type.STRING_ARRAY,
            float: Parameter.Type.DOUBLE_ARRAY,
            int: Parameter.Type.INTEGER_ARRAY,
            bool: Parameter.Type.BOOL_ARRAY,
        }[item]
    raise TypeError(f"unsupported parameter type {py_type!r}")


def _descriptor(name: str, spec: ParamSpec, ros_type: Any) -> Any:
    from rcl_interfaces.msg import FloatingPointRange, IntegerRange, ParameterDescriptor
    from rclpy.parameter import Parameter

    text = spec.description
    if spec.choices:
        text += f" (one of: {', '.join(spec.choices)})"
    descriptor = ParameterDescriptor(name=name, description=text, read_only=spec.read_only)
    descriptor.type = ros_type.value
    if spec.min is not None or spec.max is not None:
        low = spec.min if spec.min is not None else -1e300
        high = spec.max if spec.max is not None else 1e300
        if ros_type == Parameter.Type.INTEGER:
            descriptor.integer_range = [IntegerRange(from_value=int(low), to_value=int(high), step=int(spec.step or 0))]
        elif ros_type == Parameter.Type.DOUBLE:
            descriptor.floating_point_range = [
                FloatingPointRange(from_value=float(low), to_value=float(high), step=float(spec.step or 0.0))
            ]
    return descriptor


def validate(config: Any) -> None:
    """Check ranges and choices of a config dataclass instance; raises ParameterError."""
    for field in dataclasses.fields(config):
        spec: ParamSpec | None = field.metadata.get(_META_KEY)
        if spec is None:
            continue
        value = getattr(config, field.name)
        values = value if isinstance(value, list) else [value]
        for item in values:
            if isinstance(item, bool) or not isinstance(item, int | float):
                continue
            if spec.min is not None and item < spec.min:
                raise ParameterError(f"parameter '{field.name}' = {value} is below its minimum {spec.min}")
            if spec.max is not None and item > spec.max:
                raise ParameterError(f"parameter '{field.name}' = {value} is above its maximum {spec.max}")
        if spec.choices and value not in spec.choices:
            raise ParameterError(f"parameter '{field.name}' = {value!r} is not one of {', '.join(spec.choices)}")


def declare_parameters(node: Any, config_cls: type[T], prefix: str = "") -> T:
    """Declare every field of `config_cls` on `node` and return the config filled from ROS parameters."""
    from rclpy.exceptions import ParameterUninitializedException
    from rclpy.parameter import Parameter

    values: dict[str, Any] = {}
    for field in dataclasses.fields(config_cls):
        spec: ParamSpec = field.metadata.get(_META_KEY) or ParamSpec("")
        name = prefix + field.name
        ros_type = _ros_type(_field_type(config_cls, field))
        if field.default is not dataclasses.MISSING:
            default = field.default
        elif field.default_factory is not dataclasses.MISSING:
            default = field.default_factory()
        else:
            default = None
        descriptor = _descriptor(name, spec, ros_type)
        if default is None:
            node.declare_parameter(name, ros_type, descriptor)
        else:
            # An empty list carries no type; declare with the type and set the value after.
            node.declare_parameter(name, default if default != [] else ros_type, descriptor)
        try:
            value = node.get_parameter(name).value
        except ParameterUninitializedException:
            value = None
        if value is None:
            if field.default is dataclasses.MISSING and field.default_factory is dataclasses.MISSING:
                raise ParameterError(f"required parameter '{name}' is not set ({spec.description})")
            value = default
        if ros_type == Parameter.Type.DOUBLE and isinstance(value, int):
            value = float(value)
        if isinstance(value, tuple | list) or type(value).__name__ == "array":
            value = list(value)
        values[field.name] = value
    config = config_cls(**values)
    validate(config)
    return config
