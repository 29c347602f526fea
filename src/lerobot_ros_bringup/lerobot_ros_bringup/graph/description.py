"""Graph descriptions: launch arguments, nodes, and their validation before anything starts."""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

GRAPH_ENTRY_POINT_GROUP = "lerobot_ros.graphs"

_ROS_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ROS_NAMESPACE = re.compile(r"^(/?[A-Za-z_][A-Za-z0-9_]*)*/?$")

ParameterSource = Mapping[str, Any] | Path
"""A dict of parameter values, or the path of a ROS parameter YAML file."""


class GraphError(ValueError):
    """A graph cannot start: unknown argument or executable, bad value, missing required argument."""


@dataclass(frozen=True)
class Argument:
    """A launch argument (`name:=value`). `default=None` makes it required."""

    name: str
    default: str | None = None
    description: str = ""
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True)
class NodeSpec:
    """One node process: what launch_ros' `Node` action takes, in plain data."""

    package: str
    executable: str
    name: str
    namespace: str = ""
    parameters: Sequence[ParameterSource] = ()
    remappings: Sequence[tuple[str, str]] = ()
    arguments: Sequence[str] = ()
    required: bool = True
    """When a required node exits, the whole graph stops (launch's `on_exit=Shutdown()`)."""
    env: Mapping[str, str] = field(default_factory=dict)

    @property
    def fully_qualified_name(self) -> str:
        namespace = "/" + self.namespace.strip("/") if self.namespace.strip("/") else ""
        return f"{namespace}/{self.name}"

    def merged_parameters(self) -> dict[str, Any]:
        """The dict parameters, later sources overriding earlier ones (YAML files are passed as files)."""
        merged: dict[str, Any] = {}
        for source in self.parameters:
            if isinstance(source, Mapping):
                merged.update(source)
        return merged


@dataclass(frozen=True)
class Graph:
    """A named graph: its arguments and the function that turns argument values into nodes."""

    name: str
    description: str
    arguments: Sequence[Argument]
    build: Callable[[Mapping[str, str]], list[NodeSpec]]

    def resolve_arguments(self, overrides: Mapping[str, str]) -> dict[str, str]:
        known = {argument.name: argument for argument in self.arguments}
        unknown = sorted(set(overrides) - set(known))
        if unknown:
            raise GraphError(
                f"graph '{self.name}' has no argument {', '.join(repr(u) for u in unknown)}; "
                f"its arguments are: {', '.join(known) or '(none)'}"
            )
        values: dict[str, str] = {}
        for argument in self.arguments:
            value = overrides.get(argument.name, argument.default)
            if value is None:
                raise GraphError(
                    f"graph '{self.name}' needs argument '{argument.name}' ({argument.description}): "
                    f"pass {argument.name}:=VALUE"
                )
            if argument.choices and value not in argument.choices:
                raise GraphError(
                    f"argument '{argument.name}' of graph '{self.name}' is {value!r}; "
                    f"expected one of: {', '.join(argument.choices)}"
                )
            values[argument.name] = value
        return values

    def nodes(self, overrides: Mapping[str, str] | None = None, *, check_executables: bool = True) -> list[NodeSpec]:
        """Validated nodes for the given argument values; raises GraphError before anything starts."""
        nodes = self.build(self.resolve_arguments(overrides or {}))
        validate_nodes(nodes, check_executables=check_executables)
        return nodes


def parse_launch_arguments(tokens: Sequence[str]) -> dict[str, str]:
    """`['robot:=so101', 'rviz:=false']` → dict; rejects anything not of the form name:=value."""
    values: dict[str, str] = {}
    for token in tokens:
        name, separator, value = token.partition(":=")
        if not separator or not _ROS_NAME.match(name):
            raise GraphError(f"malformed launch argument {token!r}: expected name:=value")
        values[name] = value
    return values


def executable_path(package: str, executable: str) -> Path:
    """Where `ros2 run package executable` finds it: <prefix>/lib/<package>/<executable>."""
    from ament_index_python.packages import PackageNotFoundError, get_package_prefix

    try:
        prefix = get_package_prefix(package)
    except PackageNotFoundError:
        raise GraphError(f"package '{package}' not found (is the workspace built and sourced?)") from None
    path = Path(prefix) / "lib" / package / executable
    if not (path.is_file() and os.access(path, os.X_OK)):
        available = (
            sorted(p.name for p in path.parent.glob("*") if os.access(p, os.X_OK)) if path.parent.is_dir() else []
        )
        raise GraphError(
            f"package '{package}' has no executable '{executable}'"
            + (f"; it has: {', '.join(available)}" if available else "")
        )
    return path


def validate_nodes(nodes: Sequence[NodeSpec], *, check_executables: bool = True) -> None:
    names: set[str] = set()
    for node in nodes:
        if not _ROS_NAME.match(node.name):
            raise GraphError(f"invalid node name {node.name!r} (letters, digits and underscores)")
        if node.namespace and not _ROS_NAMESPACE.match(node.namespace):
            raise GraphError(f"invalid namespace {node.namespace!r} of node '{node.name}'")
        if node.fully_qualified_name in names:
            raise GraphError(f"two nodes are named '{node.fully_qualified_name}'")
        names.add(node.fully_qualified_name)
        for source in node.parameters:
            if not isinstance(source, Mapping) and not Path(source).is_file():
                raise GraphError(f"parameter file {source} of node '{node.name}' does not exist")
        for remap in node.remappings:
            if len(remap) != 2 or not all(remap):
                raise GraphError(f"malformed remapping {remap!r} of node '{node.name}'")
        if check_executables:
            executable_path(node.package, node.executable)


def available_graphs() -> dict[str, Graph]:
    """Graphs registered by installed packages (entry point group `lerobot_ros.graphs`)."""
    graphs: dict[str, Graph] = {}
    for entry_point in entry_points(group=GRAPH_ENTRY_POINT_GROUP):
        graph = entry_point.load()
        if not isinstance(graph, Graph):
            raise TypeError(f"entry point {entry_point.value!r} is not a lerobot_ros_bringup.graph.Graph")
        graphs.setdefault(entry_point.name, graph)
    return dict(sorted(graphs.items()))


def get_graph(name: str) -> Graph:
    graphs = available_graphs()
    if name not in graphs:
        raise GraphError(f"unknown graph '{name}'; available: {', '.join(graphs) or '(none installed)'}")
    return graphs[name]
