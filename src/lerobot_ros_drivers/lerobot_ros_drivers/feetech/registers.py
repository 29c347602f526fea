"""STS3215 control table (protocol 0), baud-rate codes and the sign-magnitude encoding.

Addresses and sizes are those of Feetech's STS/SMS memory table (as LeRobot's tables use them).
Addresses below 40 (and the factory area from 80) live in EEPROM; 40..79 are RAM.
"""

from __future__ import annotations

from dataclasses import dataclass

STS3215_MODEL_NUMBER = 777
MODEL_NAMES = {777: "sts3215", 2825: "sts3250", 11272: "sm8512bl", 1284: "scs0009"}
RESOLUTION = 4096  # encoder steps per turn
MAX_POSITION = RESOLUTION - 1

EEPROM_END = 40  # first RAM address
FACTORY_START = 80  # factory area, stored like EEPROM


@dataclass(frozen=True)
class Register:
    name: str
    address: int
    size: int
    sign_bit: int | None = None  # sign-magnitude encoding: index of the direction bit
    read_only: bool = False

    @property
    def eeprom(self) -> bool:
        return self.address < EEPROM_END or self.address >= FACTORY_START

    def label(self) -> str:
        return f"{self.name} ({self.address})"

    def encode(self, value: int) -> int:
        """Signed value → register content."""
        if self.sign_bit is not None:
            return encode_sign_magnitude(value, self.sign_bit)
        if not 0 <= value < 1 << (8 * self.size):
            raise ValueError(f"{self.label()}: value {value} does not fit in {self.size} unsigned byte(s)")
        return value

    def decode(self, raw: int) -> int:
        """Register content → signed value."""
        if self.sign_bit is not None:
            return decode_sign_magnitude(raw, self.sign_bit)
        return raw


def encode_sign_magnitude(value: int, sign_bit: int) -> int:
    magnitude = abs(int(value))
    if magnitude >= 1 << sign_bit:
        raise ValueError(f"magnitude {magnitude} exceeds {(1 << sign_bit) - 1} (sign bit {sign_bit})")
    return ((1 << sign_bit) if value < 0 else 0) | magnitude


def decode_sign_magnitude(raw: int, sign_bit: int) -> int:
    magnitude = raw & ((1 << sign_bit) - 1)
    return -magnitude if (raw >> sign_bit) & 1 else magnitude


_TABLE = (
    Register("Firmware_Major_Version", 0, 1, read_only=True),
    Register("Firmware_Minor_Version", 1, 1, read_only=True),
    Register("Model_Number", 3, 2, read_only=True),
    Register("ID", 5, 1),
    Register("Baud_Rate", 6, 1),
    Register("Return_Delay_Time", 7, 1),
    Register("Response_Status_Level", 8, 1),
    Register("Min_Position_Limit", 9, 2),
    Register("Max_Position_Limit", 11, 2),
    Register("Max_Temperature_Limit", 13, 1),
    Register("Max_Voltage_Limit", 14, 1),
    Register("Min_Voltage_Limit", 15, 1),
    Register("Max_Torque_Limit", 16, 2),
    Register("Phase", 18, 1),
    Register("Unloading_Condition", 19, 1),
    Register("LED_Alarm_Condition", 20, 1),
    Register("P_Coefficient", 21, 1),
    Register("D_Coefficient", 22, 1),
    Register("I_Coefficient", 23, 1),
    Register("Minimum_Startup_Force", 24, 2),
    Register("CW_Dead_Zone", 26, 1),
    Register("CCW_Dead_Zone", 27, 1),
    Register("Protection_Current", 28, 2),
    Register("Angular_Resolution", 30, 1),
    Register("Homing_Offset", 31, 2, sign_bit=11),
    Register("Operating_Mode", 33, 1),
    Register("Protective_Torque", 34, 1),
    Register("Protection_Time", 35, 1),
    Register("Overload_Torque", 36, 1),
    Register("Torque_Enable", 40, 1),
    Register("Acceleration", 41, 1),
    Register("Goal_Position", 42, 2, sign_bit=15),
    Register("Goal_Time", 44, 2),
    Register("Goal_Velocity", 46, 2, sign_bit=15),
    Register("Torque_Limit", 48, 2),
    Register("Lock", 55, 1),
    Register("Present_Position", 56, 2, sign_bit=15, read_only=True),
    Register("Present_Velocity", 58, 2, sign_bit=15, read_only=True),
    Register("Present_Load", 60, 2, sign_bit=10, read_only=True),
    Register("Present_Voltage", 62, 1, read_only=True),
    Register("Present_Temperature", 63, 1, read_only=True),
    Register("Status", 65, 1, read_only=True),
    Register("Moving", 66, 1, read_only=True),
    Register("Present_Current", 69, 2, read_only=True),
    Register("Maximum_Acceleration", 85, 1),
)

STS3215: dict[str, Register] = {register.name: register for register in _TABLE}

# Baud_Rate register codes.
BAUDRATE_CODES: dict[int, int] = {
    1_000_000: 0,
    500_000: 1,
    250_000: 2,
    128_000: 3,
    115_200: 4,
    57_600: 5,
    38_400: 6,
    19_200: 7,
}
BAUDRATES_BY_CODE: dict[int, int] = {code: baud for baud, code in BAUDRATE_CODES.items()}

# Status packet error bits.
STATUS_ERROR_BITS = {
    0x01: "input voltage",
    0x02: "angle sensor",
    0x04: "overheat",
    0x08: "overcurrent",
    0x20: "overload",
}


def describe_status_error(error: int) -> str:
    names = [name for bit, name in STATUS_ERROR_BITS.items() if error & bit]
    return ", ".join(names) if names else f"0x{error:02x}"


def register(name: str) -> Register:
    try:
        return STS3215[name]
    except KeyError:
        raise KeyError(f"unknown STS3215 register {name!r}") from None
