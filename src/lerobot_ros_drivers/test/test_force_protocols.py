"""Force/torque protocols, tare and filter: parsing, units, malformed input counted and never fatal."""

from __future__ import annotations

import math
import time

import numpy as np
import pytest

from lerobot_ros_drivers.force.emulator import ForceSensorEmulator, constant_wrench
from lerobot_ros_drivers.force.processing import LowPassFilter, WrenchProcessor
from lerobot_ros_drivers.force.protocols import (
    PROTOCOLS,
    LineProtocol,
    LineProtocolConfig,
    Protocol,
    ProtocolConfigError,
    RobotiqFT300Protocol,
    crc16_modbus,
    create_protocol,
    register_protocol,
)
from lerobot_ros_drivers.force.sensor import SerialForceSensor

WRENCH = np.array([1.5, -2.25, 9.81, 0.125, -0.05, 0.01])


def test_default_line_protocol_parses_any_split_of_the_stream() -> None:
    protocol = LineProtocol()
    stream = b"1.5,-2.25,9.81,0.125,-0.05,0.01\r\n" * 3
    samples = []
    for i in range(0, len(stream), 7):  # serial reads split lines anywhere
        samples += protocol.feed(stream[i : i + 7])
    assert len(samples) == 3
    for sample in samples:
        np.testing.assert_allclose(sample, WRENCH)
    assert not protocol.errors


def test_field_order_skip_scale_units_prefix_and_checksum() -> None:
    config = LineProtocolConfig(
        delimiter="\r",
        separator=" ",
        fields=["_", "fz", "fy", "fx", "tz", "ty", "tx"],
        scale=[0.5],
        force_unit="kgf",
        torque_unit="Nmm",
        prefix="$FT ",
        checksum="xor",
    )
    protocol = LineProtocol(config)
    line = protocol.encode(WRENCH)
    assert line.startswith(b"$FT 0 ") and line.endswith(b"\r") and b"*" in line
    (sample,) = protocol.feed(line)
    np.testing.assert_allclose(sample, WRENCH, rtol=1e-5)
    # the raw numbers are in kgf / N·mm before the 0.5 scale: fz raw = 9.81 / 9.80665 / 0.5
    fz_raw = float(line.split()[2])
    assert fz_raw == pytest.approx(9.81 / 9.80665 / 0.5, rel=1e-5)
    for kind in ("sum8", "none"):
        other = LineProtocol(LineProtocolConfig(checksum=kind, scale=[1, 2, 3, 4, 5, 6]))
        np.testing.assert_allclose(other.feed(other.encode(WRENCH))[0], WRENCH, rtol=1e-5)


def test_three_axis_sensor_leaves_torques_zero() -> None:
    protocol = LineProtocol(LineProtocolConfig(fields=["fx", "fy", "fz"], force_unit="mN"))
    (sample,) = protocol.feed(b"1000,2000,-500\n")
    np.testing.assert_allclose(sample, [1.0, 2.0, -0.5, 0, 0, 0])


MALFORMED = [
    (b"\xff\xfe\x00garbage\n", "garbage"),
    (b"1,2,3\x07,4,5,6\n", "garbage"),
    (b"1,2,3,4,5\n", "field_count"),
    (b"1,2,3,4,5,6,7\n", "field_count"),
    (b"1,2,abc,4,5,6\n", "number"),
    (b"1,2,nan,4,5,6\n", "non_finite"),
    (b"1,2,3,inf,5,6\n", "non_finite"),
    (b"1," * 200 + b"\n", "overflow"),
]


@pytest.mark.parametrize(("data", "kind"), MALFORMED)
def test_malformed_lines_are_counted_and_the_stream_goes_on(data: bytes, kind: str) -> None:
    protocol = LineProtocol()
    good = protocol.encode(WRENCH)
    samples = protocol.feed(good + data + good)
    assert len(samples) == 2, protocol.last_error
    assert protocol.errors == {kind: 1}, protocol.errors
    assert protocol.last_error


def test_overflow_without_delimiter_resynchronises_on_the_next_line() -> None:
    protocol = LineProtocol(LineProtocolConfig(max_line_length=64))
    good = protocol.encode(WRENCH)
    assert protocol.feed(b"x" * 100) == []
    assert protocol.errors == {"overflow": 1}
    assert protocol.feed(b"yyy\n") == []  # the tail of the over-long line is dropped silently
    assert len(protocol.feed(good)) == 1


def test_partial_line_then_reset_is_dropped() -> None:
    protocol = LineProtocol()
    assert protocol.feed(b"1.5,-2.25,9.8") == []
    protocol.reset()  # a reconnect: the rest of that line never comes
    (sample,) = protocol.feed(protocol.encode(WRENCH))
    np.testing.assert_allclose(sample, WRENCH)


def test_prefix_and_checksum_mismatches_are_counted() -> None:
    protocol = LineProtocol(LineProtocolConfig(prefix="FT:", checksum="xor"))
    good = protocol.encode(WRENCH)
    bad_checksum = good.replace(b"*", b"0*", 1)
    samples = protocol.feed(b"hello\n" + bad_checksum + b"FT:1,2,3,4,5,6\n" + b"FT:1,2,3,4,5,6*ZZ\n" + good)
    assert len(samples) == 1
    assert protocol.errors == {"prefix": 1, "checksum": 3}


def test_configuration_errors_are_precise() -> None:
    with pytest.raises(ProtocolConfigError, match="fields"):
        LineProtocol(LineProtocolConfig(fields=["fx", "force_z"]))
    with pytest.raises(ProtocolConfigError, match="appears twice"):
        LineProtocol(LineProtocolConfig(fields=["fx", "fx"]))
    with pytest.raises(ProtocolConfigError, match="force unit 'g'"):
        LineProtocol(LineProtocolConfig(force_unit="g"))
    with pytest.raises(ProtocolConfigError, match="scale needs 1 or 6"):
        LineProtocol(LineProtocolConfig(scale=[1, 2]))
    with pytest.raises(ProtocolConfigError, match="checksum 'crc'"):
        LineProtocol(LineProtocolConfig(checksum="crc"))
    with pytest.raises(ProtocolConfigError, match="'ati_netft' unknown"):
        create_protocol("ati_netft")


def test_robotiq_ft300_frames_and_resynchronisation() -> None:
    protocol = create_protocol("robotiq_ft300")
    assert isinstance(protocol, RobotiqFT300Protocol)
    # Documented start-stream request: write 0x0200 to register 410 of slave 9, CRC bytes CD CA.
    assert protocol.start_command() == bytes.fromhex("0910019A0001020200CDCA")
    frame = protocol.encode(WRENCH)
    assert len(frame) == 16 and frame[:2] == b"\x20\x4e"
    corrupted = bytearray(frame)
    corrupted[5] ^= 0x10
    samples = protocol.feed(b"\x01\x02\x03" + frame + bytes(corrupted) + frame[:7])
    samples += protocol.feed(frame[7:])
    assert len(samples) == 2
    np.testing.assert_allclose(samples[0], WRENCH, atol=0.005)
    assert protocol.errors["garbage"] >= 1 and protocol.errors["checksum"] == 1
    assert crc16_modbus(b"123456789") == 0x4B37  # the CRC-16/MODBUS check value


def test_binary_protocols_plug_in_by_name() -> None:
    @register_protocol("test_float32")
    class Float32Protocol(Protocol):
        def feed(self, data: bytes) -> list[np.ndarray]:
            return [np.frombuffer(data, "<f4").astype(float)]

    try:
        protocol = create_protocol("test_float32")
        np.testing.assert_allclose(protocol.feed(np.arange(6, dtype="<f4").tobytes())[0], np.arange(6))
    finally:
        del PROTOCOLS["test_float32"]


def test_low_pass_filter_step_response_follows_its_time_constant() -> None:
    lowpass = LowPassFilter(cutoff_hz=1.0)
    tau = 1.0 / (2 * math.pi)
    lowpass(np.zeros(6), 0.0)
    times = np.arange(1, 1001) * 0.001  # 1 kHz for 1 s
    out = [lowpass(np.ones(6), t)[0] for t in times]
    index = round(tau * 1000) - 1
    assert out[index] == pytest.approx(1 - math.exp(-1), abs=1e-3)
    assert out[-1] == pytest.approx(1 - math.exp(-1 / tau), abs=1e-6)
    # irregular sampling gives the same value at the same time
    irregular = LowPassFilter(cutoff_hz=1.0)
    irregular(np.zeros(6), 0.0)
    irregular(np.ones(6), 0.3 * tau)
    value = irregular(np.ones(6), tau)[0]
    assert value == pytest.approx(1 - math.exp(-1), abs=1e-9)


def test_tare_zeroes_on_the_mean_of_recent_samples_and_needs_samples() -> None:
    processor = WrenchProcessor(tare_samples=4)
    with pytest.raises(RuntimeError, match="no samples"):
        processor.tare()
    for value in (1.0, 2.0, 3.0, 4.0, 5.0):
        processor(np.full(6, value), value)
    assert processor.ready_to_tare()
    np.testing.assert_allclose(processor.tare(), np.full(6, 3.5))
    np.testing.assert_allclose(processor(np.full(6, 10.0), 6.0), np.full(6, 6.5))


def test_serial_sensor_reads_the_pty_emulator_with_injected_garbage() -> None:
    """The real serial path: pyserial on the emulator's pty, malformed bytes in between samples."""
    protocol = LineProtocol()
    received: list[np.ndarray] = []
    with ForceSensorEmulator(LineProtocol(), constant_wrench(WRENCH), rate_hz=200) as emulator:
        sensor = SerialForceSensor(emulator.port, 115200, protocol, lambda w, stamp: received.append(w))
        sensor.start()
        try:
            deadline = time.monotonic() + 30
            while len(received) < 20 and time.monotonic() < deadline:
                time.sleep(0.02)
            for bad, _ in MALFORMED:
                emulator.inject(bad)
            start = len(received)
            while (len(received) < start + 20 or sum(protocol.errors.values()) < len(MALFORMED)) and (
                time.monotonic() < deadline
            ):
                time.sleep(0.02)
            stats = sensor.stats()
        finally:
            sensor.stop()
    assert len(received) >= start + 20
    for sample in received:
        np.testing.assert_allclose(sample, WRENCH)
    assert stats.connected
    assert sum(stats.errors.values()) == len(MALFORMED), stats.errors
    assert stats.errors["garbage"] == 2 and stats.errors["non_finite"] == 2 and stats.errors["overflow"] == 1


def test_serial_sensor_reports_a_missing_port_and_keeps_trying() -> None:
    sensor = SerialForceSensor(
        "/dev/does-not-exist", 115200, LineProtocol(), lambda w, s: None, reconnect_period_s=0.05
    )
    sensor.start()
    try:
        deadline = time.monotonic() + 10
        while not sensor.stats().last_error and time.monotonic() < deadline:
            time.sleep(0.02)
        stats = sensor.stats()
    finally:
        sensor.stop()
    assert not stats.connected
    assert "cannot open /dev/does-not-exist" in stats.last_error
