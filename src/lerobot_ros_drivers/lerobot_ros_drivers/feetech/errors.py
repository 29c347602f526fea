"""Errors of the Feetech bus layer: each names the motor, the register and the cause.

Example message: ``motor 'elbow_flex' (id 3), register Present_Position (56): no status packet
(timeout) after 3 tries``.
"""

from __future__ import annotations


class FeetechError(RuntimeError):
    """A bus operation failed. `motor` / `register` are None when the failure concerns no single one."""

    def __init__(
        self,
        cause: str,
        *,
        motor: str | None = None,
        motor_id: int | None = None,
        register: str | None = None,
        address: int | None = None,
    ) -> None:
        self.motor = motor
        self.motor_id = motor_id
        self.register = register
        self.address = address
        self.cause = cause
        where = []
        if motor is not None or motor_id is not None:
            label = f"'{motor}'" if motor is not None else ""
            ident = f"(id {motor_id})" if motor_id is not None else ""
            where.append(" ".join(p for p in ("motor", label, ident) if p))
        if register is not None:
            where.append(f"register {register}" + (f" ({address})" if address is not None else ""))
        super().__init__(f"{', '.join(where)}: {cause}" if where else cause)


class PortError(FeetechError):
    """The serial port cannot be opened, or vanished (unplugged adapter)."""


class MotorTimeoutError(FeetechError):
    """A motor sent no status packet in time."""


class ChecksumError(FeetechError):
    """A status packet arrived corrupted (bad checksum, truncated)."""


class MissingMotorError(FeetechError):
    """A motor ID does not answer a ping."""


class WrongModelError(FeetechError):
    """A motor answered with a model number other than the expected one."""
