"""The wire format between the policy node (client) and `lerobot-ros policy-server`.

Every message is a fixed 32-byte header followed by a MessagePack body. The header carries what
must be checked before the body is decoded (magic, schema version, kind) and what is echoed back
unchanged (sequence id, episode id, the client's monotonic send time), so the client can match a
reply to its request and measure the round trip on its own clock: no instant ever crosses machines.

Bodies hold only MessagePack maps, strings, numbers, lists and bytes: no pickle, no extension
types. Arrays travel as `{dtype, shape, data}` with a whitelist of dtypes and a size check; images
as raw uint8 RGB arrays or as JPEG bytes (decoded back to RGB, never BGR). Every limit violation
raises `ProtocolError`, which the server answers with an error reply and keeps serving.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass
from enum import IntEnum
from typing import Any

import cv2
import msgpack
import numpy as np

SCHEMA_VERSION = 1
MAGIC = b"LRPS"
HEADER = struct.Struct("<4sHBBQQq")  # magic, schema, kind, flags, sequence, episode, client time (ns)
DEFAULT_MAX_MESSAGE_BYTES = 32 * 1024 * 1024
MAX_ARRAY_DIMS = 4
ARRAY_DTYPES = ("uint8", "float32", "float64", "int64")
IMAGE_ENCODINGS = ("raw", "jpeg")


class ProtocolError(ValueError):
    """A message that does not follow this schema; the text says which part and why."""


class Kind(IntEnum):
    HELLO = 1
    """Client → server: open a session for a model, with what the robot provides."""
    WELCOME = 2
    """Server → client: the session is open; the model's config and identity."""
    INFER = 3
    """Client → server: one observation (plus task and RTC prefix) to turn into a chunk."""
    CHUNK = 4
    """Server → client: the chunk and the server-side durations."""
    ERROR = 5
    """Server → client: a request refused or failed; `code` says whether retrying can help."""


class ErrorCode:
    """Values of an ERROR body's `code`."""

    MALFORMED = "malformed"  # the message could not be decoded
    OVERSIZED = "oversized"  # larger than the server accepts
    SCHEMA = "schema"  # different schema version
    REFUSED = "refused"  # handshake refused: wrong model, names, cameras, sizes
    UNKNOWN_SESSION = "unknown_session"  # the server does not know the session (restarted): hello again
    BAD_REQUEST = "bad_request"  # a request that does not fit the session's model
    SUPERSEDED = "superseded"  # a newer request of the same session replaced this one
    EXPIRED = "expired"  # waited past its deadline before inference started
    FAILED = "failed"  # the inference raised


@dataclass(frozen=True)
class Header:
    kind: Kind
    sequence: int = 0
    episode: int = 0
    client_time_ns: int = 0
    schema: int = SCHEMA_VERSION
    flags: int = 0

    def pack(self) -> bytes:
        return HEADER.pack(
            MAGIC, self.schema, int(self.kind), self.flags, self.sequence, self.episode, self.client_time_ns
        )

    def reply(self, kind: Kind) -> Header:
        """The header of the answer: same sequence, episode and client time, this schema."""
        return Header(kind, self.sequence, self.episode, self.client_time_ns)


def encode(header: Header, body: dict[str, Any]) -> bytes:
    return header.pack() + msgpack.packb(body, use_bin_type=True)


def decode_header(message: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> Header:
    """The header, after the size and magic checks; the schema version is returned, not judged."""
    if len(message) > max_bytes:
        raise ProtocolError(f"message of {len(message)} bytes exceeds the limit of {max_bytes} bytes")
    if len(message) < HEADER.size:
        raise ProtocolError(f"message of {len(message)} bytes is shorter than the {HEADER.size}-byte header")
    magic, schema, kind, flags, sequence, episode, client_time = HEADER.unpack_from(message)
    if magic != MAGIC:
        raise ProtocolError(f"bad magic {magic!r} (expected {MAGIC!r}): not a lerobot-ros policy message")
    try:
        kind = Kind(kind)
    except ValueError:
        raise ProtocolError(f"unknown message kind {kind}") from None
    return Header(kind, sequence, episode, client_time, schema, flags)


def _reject_ext(code: int, data: bytes) -> Any:
    raise ProtocolError(f"MessagePack extension type {code} is not accepted")


def decode(message: bytes, max_bytes: int = DEFAULT_MAX_MESSAGE_BYTES) -> tuple[Header, dict[str, Any]]:
    """Header and body; `ProtocolError` for anything but a header plus one MessagePack map."""
    header = decode_header(message, max_bytes)
    if header.schema != SCHEMA_VERSION:
        raise ProtocolError(f"schema version {header.schema}, this side speaks {SCHEMA_VERSION}")
    try:
        body = msgpack.unpackb(
            memoryview(message)[HEADER.size :],
            raw=False,
            strict_map_key=True,
            ext_hook=_reject_ext,
        )
    except ProtocolError:
        raise
    except Exception as error:  # msgpack raises several unrelated types for corrupt input
        raise ProtocolError(f"undecodable MessagePack body: {type(error).__name__}: {error}") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"body is a {type(body).__name__}, expected a map")
    return header, body


# Typed access to body fields ------------------------------------------------------------------


def field(body: dict[str, Any], name: str, kind: type | tuple[type, ...], *, optional: bool = False) -> Any:
    """`body[name]`, checked to be of `kind` (None allowed when `optional`)."""
    value = body.get(name)
    if value is None and optional:
        return None
    if value is None and name not in body:
        raise ProtocolError(f"field '{name}' is missing")
    if isinstance(value, bool) and kind in (int, float, (int, float)):
        raise ProtocolError(f"field '{name}' is a boolean, expected {kind}")
    if not isinstance(value, kind):
        raise ProtocolError(f"field '{name}' is {type(value).__name__}, expected {kind}")
    return value


def string_list(body: dict[str, Any], name: str) -> list[str]:
    values = field(body, name, list)
    if not all(isinstance(v, str) for v in values):
        raise ProtocolError(f"field '{name}' must be a list of strings")
    return values


def pack_array(array: np.ndarray) -> dict[str, Any]:
    array = np.ascontiguousarray(array)
    if array.dtype.name not in ARRAY_DTYPES:
        raise ProtocolError(f"arrays of dtype {array.dtype} are not sent (allowed: {ARRAY_DTYPES})")
    return {"dtype": array.dtype.name, "shape": list(array.shape), "data": array.tobytes()}


def unpack_array(value: Any, name: str) -> np.ndarray:
    """The array (a writable copy of the message's bytes), after dtype, rank and size checks."""
    if not isinstance(value, dict):
        raise ProtocolError(f"'{name}' is {type(value).__name__}, expected an array map")
    dtype = field(value, "dtype", str)
    shape = field(value, "shape", list)
    data = field(value, "data", bytes)
    if dtype not in ARRAY_DTYPES:
        raise ProtocolError(f"'{name}': dtype '{dtype}' is not accepted (allowed: {ARRAY_DTYPES})")
    if len(shape) > MAX_ARRAY_DIMS or not all(isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape):
        raise ProtocolError(f"'{name}': shape {shape} is not a list of at most {MAX_ARRAY_DIMS} sizes")
    expected = math.prod(shape) * np.dtype(dtype).itemsize
    if expected != len(data):
        raise ProtocolError(f"'{name}': {len(data)} bytes of data for shape {shape} {dtype} ({expected} bytes)")
    return np.frombuffer(data, dtype=dtype).reshape(shape).copy()


def pack_image(image: np.ndarray, encoding: str, jpeg_quality: int = 90) -> dict[str, Any]:
    """A uint8 (H, W, 3) RGB image as raw bytes or JPEG; other images (floats) go raw."""
    if encoding == "jpeg" and image.dtype == np.uint8 and image.ndim == 3 and image.shape[2] == 3:
        # OpenCV's codecs work in BGR: swap before encoding so the JPEG holds the RGB picture.
        ok, data = cv2.imencode(".jpg", image[:, :, ::-1], [cv2.IMWRITE_JPEG_QUALITY, int(jpeg_quality)])
        if not ok:
            raise ProtocolError(f"JPEG encoding of an image of shape {list(image.shape)} failed")
        return {"jpeg": data.tobytes(), "shape": list(image.shape)}
    return pack_array(image)


def unpack_image(value: Any, name: str) -> np.ndarray:
    """The RGB image of a `pack_image` value (a JPEG is decoded back to RGB)."""
    if isinstance(value, dict) and "jpeg" in value:
        data = field(value, "jpeg", bytes)
        shape = field(value, "shape", list)
        decoded = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        if decoded is None:
            raise ProtocolError(f"'{name}': undecodable JPEG ({len(data)} bytes)")
        if list(decoded.shape) != shape:
            raise ProtocolError(f"'{name}': JPEG decodes to {list(decoded.shape)}, header says {shape}")
        return np.ascontiguousarray(decoded[:, :, ::-1])
    return unpack_array(value, name)


def error_body(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}
