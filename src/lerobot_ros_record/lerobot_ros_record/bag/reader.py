"""Reading rosbag2 recordings (sqlite3 and MCAP) with `rosbags`, the suite's own messages included.

A bag a crash left unfinished (an MCAP file without summary and footer, a torn sqlite3 file) is
read by `bag.salvage` instead, up to its damage; `Bag.damage` says where reading stops.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import yaml
from rosbags.typesys import Stores, get_types_from_msg, get_typestore
from rosbags.typesys.store import Typestore

from lerobot_ros_record.bag.salvage import Salvage, SalvageError, Stop, open_salvage, sqlite_is_torn, storage_files

EPISODE_EVENT_TYPE = "lerobot_ros_msgs/msg/EpisodeEvent"
TASK_TYPE = "std_msgs/msg/String"


class BagError(RuntimeError):
    """A bag cannot be read (missing, truncated, corrupt) or does not fit the contract."""


def _msg_dir() -> Path | None:
    try:
        from ament_index_python.packages import get_package_share_directory

        return Path(get_package_share_directory("lerobot_ros_msgs")) / "msg"
    except (ImportError, LookupError):
        source = Path(__file__).resolve().parents[3] / "lerobot_ros_msgs" / "msg"
        return source if source.is_dir() else None


@cache
def typestore() -> Typestore:
    """ROS 2 Kilted types (Jazzy-compatible) plus lerobot_ros_msgs, for bags without embedded definitions."""
    store = get_typestore(Stores.ROS2_KILTED)
    msg_dir = _msg_dir()
    if msg_dir is not None:
        types: dict[str, Any] = {}
        for path in sorted(msg_dir.glob("*.msg")):
            types.update(get_types_from_msg(path.read_text(), f"lerobot_ros_msgs/msg/{path.stem}"))
        store.register(types)
    return store


def absolute_topic(topic: str) -> str:
    """Contract topics are relative to the root namespace; bag topics are absolute."""
    return topic if topic.startswith("/") else f"/{topic}"


@dataclass(frozen=True)
class BagMessage:
    topic: str
    log_time_ns: int
    msg: Any


class Bag:
    """One rosbag2 recording: its topics, metadata, and messages in log-time order (write order if damaged)."""

    def __init__(self, path: str | Path) -> None:
        from rosbags.highlevel import AnyReader, AnyReaderError

        self.path = Path(path)
        if not self.path.exists():
            raise BagError(f"bag {self.path} does not exist")
        self._reader: AnyReader | None = None
        self._salvage: list[Salvage] = []
        files = storage_files(self.path) if self.path.is_dir() else []
        error: Exception | None = None
        if not any(f.suffix == ".db3" and sqlite_is_torn(f) for f in files):
            try:
                self._reader = AnyReader([self.path], default_typestore=typestore())
                self._reader.open()
                self.topics: dict[str, str] = {c.topic: c.msgtype for c in self._reader.connections}
                return
            except (AnyReaderError, OSError, ValueError, KeyError) as opening:
                self._reader, error = None, opening
        if not files:
            raise BagError(f"bag {self.path} cannot be opened: {error}")
        try:
            self._salvage = [open_salvage(f) for f in files]
        except (SalvageError, OSError) as salvage_error:
            raise BagError(f"bag {self.path} cannot be opened: {error or salvage_error}") from salvage_error
        self.topics = {}
        for salvage in self._salvage:
            for topic, msgtype in salvage.topics.items():
                self.topics.setdefault(topic, msgtype)

    @property
    def damage(self) -> list[Stop]:
        """Where reading a damaged storage file stops (empty for an intact bag)."""
        return [salvage.stop for salvage in self._salvage if salvage.stop is not None]

    def close(self) -> None:
        if self._reader is not None:
            self._reader.close()

    def __enter__(self) -> Bag:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def message_count(self, topics: set[str]) -> int:
        if self._reader is None:
            return sum(n for salvage in self._salvage for topic, n in salvage.counts.items() if topic in topics)
        return sum(c.msgcount for c in self._reader.connections if c.topic in topics)

    def metadata(self) -> dict[str, str]:
        """rosbag2 `custom_data` of the bag's metadata.yaml (task text may be stored there)."""
        try:
            info = yaml.safe_load((self.path / "metadata.yaml").read_text())
        except (OSError, yaml.YAMLError):
            return {}
        custom = (info or {}).get("rosbag2_bagfile_information", {}).get("custom_data") or {}
        return {str(k): str(v) for k, v in custom.items()}

    def messages(self, topics: set[str]) -> Iterator[BagMessage]:
        """Deserialized messages of `topics`; a corrupt message (or an intact bag's damage) raises BagError."""
        count = 0
        try:
            for topic, log_time, raw in self._raw_messages(topics):
                msg = self._deserialize(raw, self.topics[topic])
                count += 1
                yield BagMessage(topic, log_time, msg)
        except BagError:
            raise
        except Exception as error:  # rosbags/sqlite/mcap raise many types for damaged files
            raise BagError(
                f"bag {self.path} is truncated or corrupt after {count} messages: {type(error).__name__}: {error}"
            ) from error

    def _raw_messages(self, topics: set[str]) -> Iterator[tuple[str, int, bytes | memoryview]]:
        if self._reader is None:
            for salvage in self._salvage:
                yield from salvage.messages(topics)
            return
        connections = [c for c in self._reader.connections if c.topic in topics]
        for connection, log_time, raw in self._reader.messages(connections=connections):
            yield connection.topic, log_time, raw

    def _deserialize(self, raw: bytes | memoryview, msgtype: str) -> Any:
        """CDR → message. Tolerates trailing bytes after the message (some rmw serializers pad there)."""
        from rosbags.serde import SerdeError

        store = self._reader.typestore if self._reader is not None else typestore()
        try:
            return store.deserialize_cdr(raw, msgtype)
        except SerdeError as error:
            if "size mismatch" not in str(error):
                raise
            return deserialize_lenient(store, raw, msgtype)


def deserialize_lenient(store: Typestore, raw: bytes | memoryview, msgtype: str) -> Any:
    """Deserialize CDR ignoring bytes after the end of the message."""
    if len(raw) < 4 or bytes(raw[:2]) not in (b"\x00\x00", b"\x00\x01"):
        raise BagError(f"{msgtype}: invalid or unsupported CDR encapsulation")
    msgdef = store.get_msgdef(msgtype)
    parse = msgdef.deserialize_cdr_le if raw[1] else msgdef.deserialize_cdr_be
    message, _ = parse(memoryview(raw)[4:], 0, msgdef.cls, store)
    return message
