"""`lerobot-ros launch GRAPH [name:=value ...]`: the runner's command line."""

from __future__ import annotations

import argparse
import signal
import sys

from lerobot_ros_bringup.graph.description import (
    GraphError,
    available_graphs,
    get_graph,
    parse_launch_arguments,
)
from lerobot_ros_bringup.runner.processes import GraphRunner, node_command
from lerobot_ros_core.cli import Command

_DESCRIPTION = """\
Start a graph of nodes as processes, like `ros2 launch lerobot_ros_bringup GRAPH.launch.py`,
without needing the launch package. Output lines are prefixed with the node name; Ctrl-C stops
every node; when a required node exits, the others are stopped and the exit code is non-zero.
"""


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph", nargs="?", help="graph name (omit to list the installed graphs)")
    parser.add_argument("launch_arguments", nargs="*", metavar="name:=value", help="launch arguments")
    parser.add_argument("--show-args", action="store_true", help="list the graph's arguments and exit")
    parser.add_argument("--print", dest="print_only", action="store_true", help="print the commands, start nothing")


def _list_graphs() -> int:
    for name, graph in available_graphs().items():
        print(f"{name:12s} {graph.description}")
    return 0


def _run(args: argparse.Namespace) -> int:

    if not args.graph:
        return _list_graphs()
    try:
        graph = get_graph(args.graph)
        if args.show_args:
            for argument in graph.arguments:
                default = "(required)" if argument.default is None else f"default {argument.default!r}"
                choices = f", one of {'|'.join(argument.choices)}" if argument.choices else ""
                print(f"{argument.name}: {argument.description} [{default}{choices}]")
            return 0
        nodes = graph.nodes(parse_launch_arguments(args.launch_arguments))
        runner = GraphRunner(nodes)
    except GraphError as error:
        print(f"lerobot-ros launch: {error}", file=sys.stderr)
        return 2
    if args.print_only:
        import tempfile
        from pathlib import Path

        with tempfile.TemporaryDirectory() as folder:
            for node in nodes:
                print(" ".join(node_command(node, Path(folder))))
        return 0
    return run_in_foreground(runner)


def run_in_foreground(runner: GraphRunner) -> int:
    """Start the runner's nodes and block until they stop; SIGINT/SIGTERM stop them all."""
    signal.signal(signal.SIGINT, runner.request_stop)
    signal.signal(signal.SIGTERM, runner.request_stop)
    runner.start()
    return runner.wait()


COMMAND = Command(
    help="start a graph (teleop, record, rollout, ...) as processes, without ros2 launch",
    description=_DESCRIPTION,
    configure=_configure,
    run=_run,
)
