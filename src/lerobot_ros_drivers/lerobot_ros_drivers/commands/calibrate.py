"""`lerobot-ros calibrate`: LeRobot's calibration procedure, writing LeRobot's calibration files."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from lerobot_ros_core.cli import Command

ARM_TYPES = ("so101_follower", "so100_follower", "so_follower", "so101_leader", "so100_leader", "so_leader")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--type", required=True, choices=ARM_TYPES, help="robot/teleoperator type (LeRobot name)")
    parser.add_argument("--port", required=True, help="serial port of the arm's servo bus")
    parser.add_argument("--id", required=True, help="calibration id (file name without .json)")
    parser.add_argument("--baudrate", type=int, default=1_000_000)
    parser.add_argument(
        "--calibration-dir",
        type=Path,
        default=None,
        help="calibration root (default $HF_LEROBOT_CALIBRATION or ~/.cache/huggingface/lerobot/calibration)",
    )
    parser.add_argument("--force", action="store_true", help="recalibrate even when a matching file exists")
    parser.add_argument(
        "--yes", action="store_true", help="non-interactive: answer every prompt with ENTER (use --sweep-seconds)"
    )
    parser.add_argument(
        "--sweep-seconds",
        type=float,
        default=None,
        help="record the range sweep for this long instead of until ENTER (default with --yes: 10)",
    )


def _live_line(values: dict[str, tuple[int, int, int]]) -> None:
    text = "  ".join(f"{motor}: {lo}<{pos}<{hi}" for motor, (lo, pos, hi) in values.items())
    sys.stdout.write("\r" + text)
    sys.stdout.flush()


def run(args: argparse.Namespace) -> int:
    from lerobot_ros_drivers.calibration.files import (
        FOLLOWER_NAMES,
        LEADER_NAMES,
        calibration_dir,
        find_calibration,
    )
    from lerobot_ros_drivers.calibration.procedure import Prompter, calibrate_arm, timed_stop
    from lerobot_ros_drivers.feetech.bus import FeetechBus
    from lerobot_ros_drivers.feetech.errors import FeetechError

    leader = args.type.endswith("_leader")
    kind = "teleoperators" if leader else "robots"
    others = [n for n in (LEADER_NAMES if leader else FOLLOWER_NAMES) if n != args.type]
    path = find_calibration(kind, args.id, [args.type, *others], args.calibration_dir) or (
        calibration_dir(kind, args.type, args.calibration_dir) / f"{args.id}.json"
    )
    sweep = args.sweep_seconds if args.sweep_seconds is not None else (10.0 if args.yes else None)
    prompter = Prompter(
        ask=(lambda prompt: print(prompt) or "") if args.yes else input,
        wait_stop=timed_stop(sweep) if sweep is not None else None,
        live=None if args.yes else _live_line,
    )
    bus = FeetechBus(args.port, baudrate=args.baudrate)
    try:
        bus.open()
        result = calibrate_arm(bus, path, label=f"{args.type} '{args.id}'", prompter=prompter, force=args.force)
    except (FeetechError, ValueError) as exc:
        print(f"calibration failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bus.close()
    print(("reused " if result.reused else "saved ") + str(result.path))
    return 0


COMMAND = Command(
    help="calibrate an SO-100/SO-101 arm as lerobot-calibrate does (LeRobot-compatible file)",
    configure=configure,
    run=run,
    description=__doc__ or "",
)
