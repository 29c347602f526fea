"""`lerobot-ros setup-motors`: give each motor its ID and baud rate, one at a time (like lerobot-setup-motors).

New STS3215 servos all answer as ID 1 at 1 Mbaud, so they are connected alone, found by scanning
baud rates with a broadcast ping, then given the arm's ID and the bus baud rate (EEPROM, unlocked).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Mapping, Sequence

from lerobot_ros_core.cli import Command


def find_single_motor(bus, name: str, baudrates: Sequence[int]) -> tuple[int, int]:
    """(baud rate, id) of the only motor on the bus; MissingMotorError / FeetechError otherwise."""
    from lerobot_ros_drivers.feetech.errors import FeetechError, MissingMotorError, WrongModelError
    from lerobot_ros_drivers.feetech.registers import MODEL_NAMES, STS3215_MODEL_NUMBER

    for baudrate in baudrates:
        bus.set_baudrate(baudrate)
        found = bus.broadcast_ping()
        if len(found) > 1:
            raise FeetechError(
                f"more than one motor answers at {baudrate} baud (ids {sorted(found)}): connect only this one",
                motor=name,
            )
        if found:
            ident, model = next(iter(found.items()))
            if model != STS3215_MODEL_NUMBER:
                raise WrongModelError(
                    f"found model {model} ({MODEL_NAMES.get(model, 'unknown')}) at {baudrate} baud, expected sts3215",
                    motor=name,
                    motor_id=ident,
                )
            return baudrate, ident
    raise MissingMotorError(f"no motor answers at any of {list(baudrates)} baud: is it connected?", motor=name)


def setup_motors(
    bus,
    motors: Mapping[str, int],
    *,
    baudrate: int = 1_000_000,
    ask: Callable[[str], str] = input,
    show: Callable[[str], None] = print,
) -> None:
    """For each motor (gripper first, as LeRobot): wait for the user, find it, set its id and baud rate."""
    from lerobot_ros_drivers.feetech.registers import BAUDRATE_CODES

    scan = [baudrate, *(b for b in BAUDRATE_CODES if b != baudrate)]
    for name, target_id in reversed(list(motors.items())):
        ask(f"Connect the controller board to the '{name}' motor only and press enter.")
        found_baud, ident = find_single_motor(bus, name, scan)
        bus.set_baudrate(found_baud)
        bus.write("Torque_Enable", ident, 0)
        bus.write("Lock", ident, 0)  # EEPROM writes persist only while unlocked
        bus.write("ID", ident, target_id)
        bus.write("Baud_Rate", target_id, BAUDRATE_CODES[baudrate])
        bus.set_baudrate(baudrate)
        show(f"'{name}' motor id set to {target_id}")


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--port", required=True, help="serial port of the servo bus")
    parser.add_argument("--baudrate", type=int, default=1_000_000, help="baud rate to give every motor")


def run(args: argparse.Namespace) -> int:
    from lerobot_ros_drivers.calibration.units import SO_ARM_JOINTS
    from lerobot_ros_drivers.feetech.bus import FeetechBus
    from lerobot_ros_drivers.feetech.errors import FeetechError
    from lerobot_ros_drivers.feetech.registers import BAUDRATE_CODES

    if args.baudrate not in BAUDRATE_CODES:
        print(f"unsupported baud rate {args.baudrate}: one of {sorted(BAUDRATE_CODES)}", file=sys.stderr)
        return 2
    bus = FeetechBus(args.port, baudrate=args.baudrate)
    try:
        bus.open()
        # Every SO-100/SO-101 arm (leader or follower) uses ids 1–6 in joint order.
        setup_motors(bus, {joint: index + 1 for index, joint in enumerate(SO_ARM_JOINTS)}, baudrate=args.baudrate)
    except FeetechError as exc:
        print(f"setup-motors failed: {exc}", file=sys.stderr)
        return 1
    finally:
        bus.close()
    return 0


COMMAND = Command(
    help="set the id and baud rate of each motor of an arm, one at a time (like lerobot-setup-motors)",
    configure=configure,
    run=run,
    description=__doc__ or "",
)
