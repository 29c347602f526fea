"""What a `lerobot-ros` subcommand is, so every package of the suite can contribute one.

A package registers a subcommand with an entry point in group `lerobot_ros.commands` naming a
`Command`; the `lerobot-ros` entry point (lerobot_ros_bringup.cli) discovers them at run time.
This lives in the lowest package of the suite so that drivers and record need not depend on bringup.
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from dataclasses import dataclass

COMMAND_ENTRY_POINT_GROUP = "lerobot_ros.commands"


@dataclass(frozen=True)
class Command:
    """A subcommand: `configure` adds its arguments, `run` executes it and returns an exit code."""

    help: str
    configure: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str = ""
