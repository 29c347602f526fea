"""The `lerobot-ros` command: one entry point whose subcommands the suite's packages register.

A package adds a subcommand with an entry point in the ``lerobot_ros.commands`` group that
names a ``lerobot_ros_core.cli.Command``. Subcommands are discovered at run time, so
``lerobot-ros --help`` lists exactly what is installed.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from importlib.metadata import entry_points

from lerobot_ros_core.cli import COMMAND_ENTRY_POINT_GROUP, Command


def discover_commands() -> dict[str, Command]:
    commands: dict[str, Command] = {}
    for entry_point in entry_points(group=COMMAND_ENTRY_POINT_GROUP):
        if entry_point.name in commands:
            continue
        command = entry_point.load()
        if not isinstance(command, Command):
            raise TypeError(f"entry point {entry_point.value!r} is not a lerobot_ros_core.cli.Command")
        commands[entry_point.name] = command
    return dict(sorted(commands.items()))


def build_parser(commands: dict[str, Command]) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="lerobot-ros",
        description="LeRobot workflows on ROS 2: bring up arms and cameras, record datasets, run policies.",
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", title="commands")
    for name, command in commands.items():
        sub = subparsers.add_parser(
            name,
            help=command.help,
            description=command.description or command.help,
            formatter_class=argparse.RawDescriptionHelpFormatter,
        )
        command.configure(sub)
        sub.set_defaults(_command=command)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser(discover_commands())
    args = parser.parse_args(argv)
    command: Command | None = getattr(args, "_command", None)
    if command is None:
        parser.print_help()
        return 2
    try:
        return command.run(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
