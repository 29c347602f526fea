"""A stand-in for `launch` / `launch_ros`, which are not installable without ROS (DESIGN §8).

It has the constructor signatures the graph adapter uses and records what it is asked to build
(refusing node parameters launch_ros would refuse or retype), and `LaunchContext` resolves launch
arguments as launch does (override, else declared default), so tests can check that a
`*.launch.py` file starts the same nodes as the runner. Users with ROS run the real packages.
"""

from __future__ import annotations

import sys
import types
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any


class Recorded:
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.args = args
        self.kwargs = kwargs


def check_parameter_value(name: str, value: Any) -> None:
    """Refuse what launch_ros's parameter normalization refuses or changes: it takes strings, numbers,
    booleans, bytes, nested mappings and non-empty lists of one scalar type (ints and floats mix)."""
    if isinstance(value, Mapping):
        for key, inner in value.items():
            check_parameter_value(f"{name}.{key}", inner)
    elif isinstance(value, list | tuple):
        kinds = {type(element) for element in value}
        if not value or not kinds <= {str, int, float, bool} or (len(kinds) > 1 and kinds != {int, float}):
            raise TypeError(f"parameter {name!r}: launch_ros cannot pass the list {value!r} as one typed array")
    elif not isinstance(value, str | int | float | bytes):
        raise TypeError(f"parameter {name!r}: launch_ros refuses a {type(value).__name__} value ({value!r})")


class _Node(Recorded):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        for parameters in kwargs.get("parameters") or []:
            if isinstance(parameters, Mapping):
                for name, value in parameters.items():
                    check_parameter_value(name, value)
            elif not isinstance(parameters, str):
                raise TypeError(f"parameter file {parameters!r}: launch_ros takes a path as a string here")


class _LaunchConfiguration:
    def __init__(self, name: str) -> None:
        self.name = name

    def perform(self, context: LaunchContext) -> str:
        return context.launch_configurations[self.name]


class LaunchContext:
    def __init__(self, declarations: list[Recorded], overrides: Mapping[str, str]) -> None:
        self.launch_configurations = {
            d.args[0]: overrides.get(d.args[0], d.kwargs.get("default_value")) for d in declarations
        }


@contextmanager
def launch_standin() -> Iterator[None]:
    """Install the stand-in modules in sys.modules for the duration of the block."""
    modules = {
        name: types.ModuleType(name)
        for name in ("launch", "launch.actions", "launch.substitutions", "launch_ros", "launch_ros.actions")
    }
    modules["launch"].LaunchDescription = list
    for action in ("DeclareLaunchArgument", "OpaqueFunction", "Shutdown"):
        setattr(modules["launch.actions"], action, type(action, (Recorded,), {}))
    modules["launch.substitutions"].LaunchConfiguration = _LaunchConfiguration
    modules["launch_ros.actions"].Node = type("Node", (_Node,), {})
    saved = {name: sys.modules.get(name) for name in modules}
    sys.modules.update(modules)
    try:
        yield
    finally:
        for name, module in saved.items():
            if module is None:
                sys.modules.pop(name, None)
            else:
                sys.modules[name] = module


def launched_nodes(entities: list[Any], overrides: Mapping[str, str]) -> list[Recorded]:
    """The Node actions a LaunchDescription built by the graph adapter starts for these arguments."""
    declarations = [e for e in entities if type(e).__name__ == "DeclareLaunchArgument"]
    opaque = next(e for e in entities if type(e).__name__ == "OpaqueFunction")
    return opaque.kwargs["function"](LaunchContext(declarations, overrides))


def assert_same_nodes(launched: list[Recorded], expected: list[Any]) -> None:
    """launch_ros Node actions carry exactly what the runner starts for the same NodeSpecs."""
    assert [n.kwargs["name"] for n in launched] == [spec.name for spec in expected]
    for node, spec in zip(launched, expected, strict=True):
        assert node.kwargs["package"] == spec.package
        assert node.kwargs["executable"] == spec.executable
        assert node.kwargs["namespace"] == (spec.namespace or None)
        assert node.kwargs["parameters"] == [dict(p) if isinstance(p, Mapping) else str(p) for p in spec.parameters]
        assert node.kwargs["remappings"] == list(spec.remappings)
        assert node.kwargs["arguments"] == list(spec.arguments)
        assert (node.kwargs["on_exit"] is not None) == spec.required, spec.name
