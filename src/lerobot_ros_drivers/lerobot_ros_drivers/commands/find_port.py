"""`lerobot-ros find-port`: find an arm's serial port by unplugging it, as lerobot-find-port does."""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from lerobot_ros_core.cli import Command

DEFAULT_PATTERNS = ("/dev/ttyACM*", "/dev/ttyUSB*", "/dev/tty.usb*", "/dev/serial/by-id/*")


def list_ports(patterns: Sequence[str] = DEFAULT_PATTERNS) -> set[str]:
    """Serial ports pyserial knows plus paths matching `patterns`."""
    from serial.tools import list_ports as serial_ports

    ports = {port.device for port in serial_ports.comports()}
    for pattern in patterns:
        root, _, rest = pattern.rpartition("/")
        ports.update(str(p) for p in Path(root or "/").glob(rest))
    return ports


def find_port(
    ports: Callable[[], set[str]],
    ask: Callable[[str], str] = input,
    show: Callable[[str], None] = print,
    settle_s: float = 0.5,
) -> str:
    """The one port that disappears while the user unplugs the cable; OSError when none or several do."""
    before = ports()
    show(f"Ports before disconnecting: {sorted(before)}")
    ask("Remove the USB cable from your arm's servo bus and press Enter when done.")
    time.sleep(settle_s)
    gone = sorted(before - ports())
    if len(gone) == 1:
        show(f"The port of this bus is '{gone[0]}'")
        show("Reconnect the USB cable.")
        return gone[0]
    if not gone:
        raise OSError(f"Could not detect the port: no port disappeared (ports: {sorted(before)})")
    raise OSError(f"Could not detect the port: more than one port disappeared: {gone}")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--pattern",
        action="append",
        default=[],
        help=f"extra glob of ports to watch (repeatable; always watched: {', '.join(DEFAULT_PATTERNS)})",
    )


def run(args: argparse.Namespace) -> int:
    patterns = [*DEFAULT_PATTERNS, *args.pattern]
    try:
        find_port(lambda: list_ports(patterns))
    except OSError as exc:
        print(exc, file=sys.stderr)
        return 1
    return 0


COMMAND = Command(
    help="find the serial port of an arm by unplugging it (like lerobot-find-port)",
    configure=configure,
    run=run,
    description=__doc__ or "",
)
