"""`lerobot-ros launch`: placeholder until the runner lands."""

import argparse

from lerobot_ros_bringup.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("graph")


def _run(args: argparse.Namespace) -> int:
    print(args.graph)
    return 0


COMMAND = Command(help="start a graph (teleop, record, rollout, ...) as processes", configure=_configure, run=_run)
