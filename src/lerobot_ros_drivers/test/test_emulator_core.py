"""The servo-bus emulator core and the protocol framing, without a pty (packets in, packets out)."""

from __future__ import annotations

import pytest

from lerobot_ros_drivers.feetech.emulator import (
    EmulatedServo,
    Faults,
    ServoBusEmulator,
    scripted_motion,
    so_arm_servos,
)
from lerobot_ros_drivers.feetech.protocol import (
    BROADCAST_ID,
    Instruction,
    PacketParser,
    build_packet,
    checksum,
    sync_read_bytes,
    sync_write_bytes,
)
from lerobot_ros_drivers.feetech.registers import STS3215, decode_sign_magnitude, encode_sign_magnitude


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def read_packet(ident: int, name: str) -> bytes:
    reg = STS3215[name]
    return build_packet(ident, Instruction.READ, bytes((reg.address, reg.size)))


def write_packet(ident: int, name: str, value: int) -> bytes:
    reg = STS3215[name]
    return build_packet(
        ident, Instruction.WRITE, bytes((reg.address,)) + reg.encode(value).to_bytes(reg.size, "little")
    )


def value_of(reply: bytes, name: str) -> int:
    packet = PacketParser().feed(reply)[0]
    return STS3215[name].decode(int.from_bytes(packet.params, "little"))


def test_checksum_and_packet_layout() -> None:
    # PING id 1: FF FF 01 02 01 checksum=~(1+2+1)
    assert build_packet(1, Instruction.PING) == bytes([0xFF, 0xFF, 0x01, 0x02, 0x01, 0xFB])
    assert checksum(b"\x01\x02\x01") == 0xFB


def test_parser_handles_split_noise_and_bad_checksums() -> None:
    parser = PacketParser()
    good = build_packet(3, 0, b"\x10\x20")
    bad = good[:-1] + bytes([good[-1] ^ 0x55])
    stream = b"\x00\x13" + bad + good
    packets = []
    for i in range(len(stream)):  # byte by byte
        packets += parser.feed(stream[i : i + 1])
    assert [(p.ident, p.params) for p in packets] == [(3, b"\x10\x20")]
    assert parser.dropped == 2 + len(bad)


def test_sign_magnitude_matches_register_encoding() -> None:
    assert encode_sign_magnitude(-1456, 11) == (1 << 11) | 1456
    assert decode_sign_magnitude((1 << 11) | 1456, 11) == -1456
    assert STS3215["Homing_Offset"].decode(STS3215["Homing_Offset"].encode(-5)) == -5
    with pytest.raises(ValueError, match="exceeds"):
        encode_sign_magnitude(2048, 11)
    with pytest.raises(ValueError, match="does not fit"):
        STS3215["Torque_Enable"].encode(256)


def test_wire_byte_counts() -> None:
    # sync read of 6 positions: request 8+6 bytes, 6 replies of 8 bytes
    assert sync_read_bytes(6, 2) == 14 + 48
    # sync write of 6 goals: 8 + 6 * 3 bytes
    assert sync_write_bytes(6, 2) == 26


def test_ping_read_write_and_status_id() -> None:
    emulator = ServoBusEmulator([EmulatedServo(1), EmulatedServo(2)])
    (reply,) = emulator.receive(build_packet(2, Instruction.PING))
    assert reply == build_packet(2, 0)
    assert value_of(emulator.receive(read_packet(1, "Model_Number"))[0], "Model_Number") == 777
    assert emulator.receive(write_packet(2, "P_Coefficient", 16)) == [build_packet(2, 0)]
    assert emulator.servo(2).value("P_Coefficient") == 16
    assert emulator.receive(build_packet(9, Instruction.PING)) == []  # absent id: silence
    # broadcast ping: every servo answers, in id order
    assert emulator.receive(build_packet(BROADCAST_ID, Instruction.PING)) == [build_packet(1, 0), build_packet(2, 0)]


def test_read_only_registers_ignore_writes() -> None:
    emulator = ServoBusEmulator([EmulatedServo(1)])
    emulator.receive(write_packet(1, "Model_Number", 1234))
    assert emulator.servo(1).value("Model_Number") == 777


def test_sync_read_replies_in_requested_order_and_sync_write_is_silent() -> None:
    emulator = ServoBusEmulator(so_arm_servos())
    request = build_packet(BROADCAST_ID, Instruction.SYNC_READ, bytes((56, 2, 3, 1, 2)))
    replies = emulator.receive(request)
    assert [PacketParser().feed(r)[0].ident for r in replies] == [3, 1, 2]
    params = bytes((42, 2)) + b"".join(bytes((i,)) + (1000 + i).to_bytes(2, "little") for i in (1, 2))
    assert emulator.receive(build_packet(BROADCAST_ID, Instruction.SYNC_WRITE, params)) == []
    assert [emulator.servo(i).value("Goal_Position") for i in (1, 2)] == [1001, 1002]


def test_reg_write_waits_for_action() -> None:
    emulator = ServoBusEmulator([EmulatedServo(1)])
    reg = STS3215["Acceleration"]
    emulator.receive(build_packet(1, Instruction.REG_WRITE, bytes((reg.address, 77))))
    assert emulator.servo(1).value("Acceleration") == 0
    emulator.receive(build_packet(BROADCAST_ID, Instruction.ACTION))
    assert emulator.servo(1).value("Acceleration") == 77


def test_eeprom_persists_only_when_unlocked() -> None:
    servo = EmulatedServo(1)
    emulator = ServoBusEmulator([servo])
    emulator.receive(write_packet(1, "P_Coefficient", 10))  # Lock is 1 at power-on
    emulator.receive(write_packet(1, "Lock", 0))
    emulator.receive(write_packet(1, "D_Coefficient", 20))
    emulator.receive(write_packet(1, "Acceleration", 99))  # RAM
    servo.power_cycle()
    assert servo.value("P_Coefficient") == 32  # written while locked: lost
    assert servo.value("D_Coefficient") == 20  # written while unlocked: kept
    assert servo.value("Acceleration") == 0  # RAM back to default
    assert servo.value("Lock") == 1


def test_homing_offset_shifts_present_position_modulo_one_turn() -> None:
    servo = EmulatedServo(1, position=1000)
    emulator = ServoBusEmulator([servo])
    emulator.receive(write_packet(1, "Homing_Offset", -1456))
    assert value_of(emulator.receive(read_packet(1, "Present_Position"))[0], "Present_Position") == 2456
    emulator.receive(write_packet(1, "Homing_Offset", 1500))
    assert value_of(emulator.receive(read_packet(1, "Present_Position"))[0], "Present_Position") == 4096 - 500


def test_goal_reached_at_the_speed_limit_and_clamped_to_limits() -> None:
    clock = FakeClock()
    servo = EmulatedServo(1, position=2000)
    emulator = ServoBusEmulator([servo], speed_limit=1000.0, clock=clock)
    emulator.receive(write_packet(1, "Max_Position_Limit", 2800))
    emulator.receive(write_packet(1, "Goal_Position", 3500))  # torque off: nothing moves
    clock.now = 1.0
    emulator.advance()
    assert servo.present == pytest.approx(2000)
    emulator.receive(write_packet(1, "Torque_Enable", 1))  # enabling torque holds the present pose
    assert servo.value("Goal_Position") == 2000
    emulator.receive(write_packet(1, "Goal_Position", 3500))
    clock.now = 1.5
    emulator.advance()
    assert servo.present == pytest.approx(2500)  # 1000 steps/s for 0.5 s
    assert servo.velocity == pytest.approx(1000)
    clock.now = 3.0
    emulator.advance()
    assert servo.present == pytest.approx(2800)  # clamped to Max_Position_Limit


def test_scripted_motion_moves_a_torque_off_servo_within_its_limits() -> None:
    clock = FakeClock()
    (servo,) = so_arm_servos(ids=[1])
    servo.hand = scripted_motion("sine", servo, 0, period_s=1.0)
    emulator = ServoBusEmulator([servo], clock=clock)
    seen = []
    for step in range(1, 50):
        clock.now = step * 0.05
        emulator.advance()
        seen.append(servo.present)
    assert max(seen) - min(seen) > 2000
    assert min(seen) >= 0 and max(seen) <= 4095
    with pytest.raises(ValueError, match="unknown motion"):
        scripted_motion("dance", servo, 0)


def test_baud_rate_mismatch_means_silence() -> None:
    emulator = ServoBusEmulator([EmulatedServo(1, baudrate=500_000)])
    assert emulator.receive(build_packet(1, Instruction.PING), baudrate=1_000_000) == []
    assert emulator.receive(build_packet(1, Instruction.PING), baudrate=500_000) == [build_packet(1, 0)]


def test_fault_injection_drops_and_corrupts_the_queued_replies() -> None:
    emulator = ServoBusEmulator(
        [EmulatedServo(1), EmulatedServo(2)], faults=Faults(drop_next={1: 1}, corrupt_next={2: 1})
    )
    ping_all = build_packet(BROADCAST_ID, Instruction.PING)
    first = emulator.receive(ping_all)
    assert len(first) == 1 and first[0][:-1] == build_packet(2, 0)[:-1] and first[0] != build_packet(2, 0)
    assert emulator.receive(ping_all) == [build_packet(1, 0), build_packet(2, 0)]


def test_fault_rates_are_probabilities() -> None:
    emulator = ServoBusEmulator([EmulatedServo(1)], faults=Faults(timeout_rate=0.5, seed=3))
    answered = sum(len(emulator.receive(build_packet(1, Instruction.PING))) for _ in range(400))
    assert 120 < answered < 280
