"""The remote-inference wire format and the client's fallback ladder (no network, no model)."""

from __future__ import annotations

import msgpack
import numpy as np
import pytest

from lerobot_ros_policy.remote import protocol
from lerobot_ros_policy.remote.client import Ladder, LinkState, RemoteClientConfig
from lerobot_ros_policy.remote.protocol import Header, Kind, ProtocolError


def test_header_and_body_round_trip_and_reply_echoes_the_request() -> None:
    header = Header(Kind.INFER, sequence=7, episode=3, client_time_ns=123_456_789)
    array = np.arange(12, dtype=np.float32).reshape(3, 4)
    decoded_header, body = protocol.decode(protocol.encode(header, {"a": protocol.pack_array(array), "t": "pick"}))
    assert decoded_header == header
    np.testing.assert_array_equal(protocol.unpack_array(body["a"], "a"), array)
    assert body["t"] == "pick"
    reply = header.reply(Kind.CHUNK)
    assert (reply.kind, reply.sequence, reply.episode, reply.client_time_ns) == (Kind.CHUNK, 7, 3, 123_456_789)


@pytest.mark.parametrize(
    ("message", "error"),
    [
        (b"", "shorter than"),
        (b"XXXX" + bytes(28), "bad magic"),
        (protocol.HEADER.pack(protocol.MAGIC, 1, 99, 0, 0, 0, 0), "unknown message kind"),
        (protocol.HEADER.pack(protocol.MAGIC, 2, 3, 0, 0, 0, 0) + msgpack.packb({}), "schema version 2"),
        (Header(Kind.INFER).pack() + b"\xc1\xc1", "undecodable"),
        (Header(Kind.INFER).pack() + msgpack.packb([1, 2]), "expected a map"),
        (Header(Kind.INFER).pack() + msgpack.packb({"x": msgpack.ExtType(5, b"os.system")}), "extension type 5"),
        (Header(Kind.INFER).pack() + msgpack.packb({1: 2}), "undecodable"),
    ],
)
def test_malformed_messages_are_rejected_with_the_reason(message: bytes, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        protocol.decode(message)


def test_oversized_message_is_rejected_before_decoding() -> None:
    message = protocol.encode(Header(Kind.INFER), {"blob": bytes(2000)})
    with pytest.raises(ProtocolError, match="exceeds the limit of 1000 bytes"):
        protocol.decode(message, max_bytes=1000)


@pytest.mark.parametrize(
    ("value", "error"),
    [
        ({"dtype": "object", "shape": [1], "data": b"x"}, "dtype 'object'"),
        ({"dtype": "float32", "shape": [2, 2], "data": bytes(12)}, "12 bytes of data for shape"),
        ({"dtype": "uint8", "shape": [1, 1, 1, 1, 1], "data": b"x"}, "at most 4 sizes"),
        ({"dtype": "uint8", "shape": [-1], "data": b""}, "not a list"),
        ({"dtype": "uint8", "shape": [1]}, "'data' is missing"),
        ([1, 2, 3], "expected an array map"),
    ],
)
def test_arrays_are_checked(value: object, error: str) -> None:
    with pytest.raises(ProtocolError, match=error):
        protocol.unpack_array(value, "observation.state")


def test_jpeg_keeps_rgb_channel_order() -> None:
    """Regression: OpenCV's codecs are BGR; a red RGB picture must come back red, not blue."""
    image = np.zeros((48, 64, 3), np.uint8)
    image[:, :, 0] = 220  # red
    image[:, 32:, 1] = 120  # green on the right half
    packed = protocol.pack_image(image, "jpeg", jpeg_quality=95)
    assert packed["jpeg"][:2] == b"\xff\xd8"  # a JPEG, not raw pixels
    decoded = protocol.unpack_image(packed, "observation.images.front")
    assert decoded.shape == image.shape and decoded.dtype == np.uint8
    assert np.abs(decoded.astype(int) - image).mean() < 3  # lossy, but the same picture
    means = decoded.reshape(-1, 3).mean(axis=0)
    assert means[0] > 200 and means[2] < 10


def test_undecodable_or_misdescribed_jpeg_is_rejected() -> None:
    with pytest.raises(ProtocolError, match="undecodable JPEG"):
        protocol.unpack_image({"jpeg": b"\xff\xd8 not a jpeg", "shape": [4, 4, 3]}, "cam")
    packed = protocol.pack_image(np.zeros((8, 8, 3), np.uint8), "jpeg")
    with pytest.raises(ProtocolError, match="header says"):
        protocol.unpack_image({**packed, "shape": [8, 16, 3]}, "cam")


def test_ladder_degrades_stalls_backs_off_and_dies() -> None:
    config = RemoteClientConfig(stall_after=2, reconnect_backoff_s=(0.1, 0.4), max_offline_s=5.0, degraded_rtt_s=0.1)
    ladder = Ladder(config, now=0.0)
    assert ladder.state == LinkState.CONNECTING
    ladder.connected()
    ladder.succeeded(rtt=0.02)
    assert ladder.state == LinkState.READY
    ladder.succeeded(rtt=0.3)
    assert ladder.state == LinkState.DEGRADED and "slow round trip" in ladder.reason
    ladder.failed(1.0, "no reply")
    assert ladder.state == LinkState.DEGRADED
    ladder.failed(2.0, "no reply")
    assert ladder.state == LinkState.STALLED
    waits = []
    for now in (3.0, 3.5, 4.0, 4.5):
        ladder.reconnect_failed(now, "reconnect: no reply")
        waits.append(round(ladder.next_attempt - now, 6))
    assert ladder.state == LinkState.RECONNECTING
    assert waits == [0.1, 0.2, 0.4, 0.4]  # doubling, capped
    ladder.reconnect_failed(6.5, "reconnect: no reply")  # offline since t=1: 5.5 s > 5 s
    assert ladder.state == LinkState.DEAD and "offline for 5.5 s" in ladder.reason
    ladder.revive(7.0)
    assert ladder.state == LinkState.CONNECTING and ladder.offline_since == 7.0


@pytest.mark.parametrize(
    ("overrides", "error"),
    [
        ({"image_encoding": "png"}, "image_encoding"),
        ({"stall_action": "coast"}, "stall_action"),
        ({"stall_after": 0}, "stall_after"),
    ],
)
def test_client_config_is_validated(overrides: dict, error: str) -> None:
    with pytest.raises(ValueError, match=error):
        RemoteClientConfig(**overrides)


def test_the_server_side_imports_no_ros() -> None:
    """The GPU machine needs no ROS: the server, its command and the CLI import none of it."""
    import subprocess
    import sys

    code = (
        "import sys\n"
        "from lerobot_ros_bringup.cli import main\n"
        "import lerobot_ros_policy.commands.policy_server, lerobot_ros_policy.remote.server\n"
        "ros = sorted(m for m in sys.modules if m.split('.')[0] in ('rclpy', 'rosidl_parser', 'lerobot_ros_msgs'))\n"
        "print(ros)\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, check=True)
    assert result.stdout.strip() == "[]", result.stdout
