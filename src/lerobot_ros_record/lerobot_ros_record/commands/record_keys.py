"""`lerobot-ros record-keys`: drive the recorder from the keyboard (→ next, ← re-record, Esc stop)."""

from __future__ import annotations

import argparse

from lerobot_ros_core.cli import Command


def _configure(parser: argparse.ArgumentParser) -> None:
    from lerobot_ros_record.nodes.keyboard_client import configure

    configure(parser)


def _run(args: argparse.Namespace) -> int:
    import sys

    from lerobot_ros_record.nodes.keyboard_client import run_client

    return run_client(args.namespace, args.task, sys.stdin.fileno())


COMMAND = Command(
    help="keyboard control of the recorder: → save & next, ← re-record, Esc stop (works over SSH)",
    configure=_configure,
    run=_run,
    description=__doc__ or "",
)
