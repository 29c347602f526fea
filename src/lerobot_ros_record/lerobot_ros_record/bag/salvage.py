"""Reading what a crashed recording left: MCAP files without footer/summary, sqlite3 files with torn pages.

A recorder that dies leaves its last storage file unfinished: an MCAP file without its summary
and footer (often cut inside a record), or a sqlite3 file shorter than its header says. rosbags
refuses both. These readers go through such a file in write order and stop at the first record
or row that is not intact, saying where (`Stop`): everything before it is read.

MCAP (https://mcap.dev/spec): magic, then records `opcode (u8) | length (u64 LE) | content`;
Schema (0x03), Channel (0x04) and Message (0x05) records may sit at top level or inside Chunk
records (0x06, uncompressed, lz4 or zstd). A chunk cut short is decompressed as far as its bytes go.
sqlite3: `messages` rows in id (= write) order, one at a time, until sqlite reports the damage.
"""

from __future__ import annotations

import mmap
import re
import sqlite3
import struct
from abc import ABC, abstractmethod
from binascii import crc32
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

MCAP_MAGIC = b"\x89MCAP0\r\n"
_SCHEMA, _CHANNEL, _MESSAGE, _CHUNK, _DATA_END = 0x03, 0x04, 0x05, 0x06, 0x0F  # record opcodes
_STORAGE_SUFFIXES = (".mcap", ".db3")


class SalvageError(RuntimeError):
    """Nothing can be read from the file (no MCAP magic, no readable sqlite schema)."""


@dataclass(frozen=True)
class Stop:
    """Where reading a damaged file stopped, and why."""

    file: Path
    where: str  # "byte 123456" or "row 789"
    reason: str
    messages: int  # messages read before it

    def __str__(self) -> str:
        return f"{self.file.name}: reading stopped at {self.where} ({self.reason}) after {self.messages} messages"


@dataclass
class Salvage(ABC):
    """One damaged storage file: its topics (name → type, message count) and where the last pass stopped."""

    path: Path
    topics: dict[str, str] = field(default_factory=dict)
    counts: dict[str, int] = field(default_factory=dict)
    stop: Stop | None = None

    @abstractmethod
    def scan(self) -> None:
        """First pass: topics, message counts and the damage; SalvageError when nothing is readable."""

    @abstractmethod
    def messages(self, topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
        """(topic, log time ns, CDR bytes) of the intact messages of `topics`, in write order."""


def storage_files(bag: Path) -> list[Path]:
    """A bag directory's storage files in split order (`name_0`, `name_1`, ...)."""

    def split_index(path: Path) -> tuple[int, str]:
        match = re.search(r"_(\d+)$", path.stem)
        return (int(match.group(1)) if match else 0, path.name)

    return sorted((p for p in bag.iterdir() if p.suffix in _STORAGE_SUFFIXES), key=split_index)


def sqlite_is_torn(path: Path) -> bool:
    """True when a sqlite3 file is shorter than its header says, or not a whole number of pages."""
    with path.open("rb") as handle:
        header = handle.read(100)
    if len(header) < 100 or not header.startswith(b"SQLite format 3\x00"):
        return True
    page_size = struct.unpack(">H", header[16:18])[0]
    page_size = 65536 if page_size == 1 else page_size
    pages = struct.unpack(">I", header[28:32])[0]
    size = path.stat().st_size
    if size % page_size:
        return True
    header_size_valid = header[24:28] == header[92:96]  # change counter == version-valid-for
    return header_size_valid and pages * page_size > size


def open_salvage(path: Path) -> Salvage:
    """The salvage reader of one storage file, scanned; raises SalvageError when nothing can be read from it."""
    salvage: Salvage = McapSalvage(path) if path.suffix == ".mcap" else SqliteSalvage(path)
    salvage.scan()
    return salvage


class McapSalvage(Salvage):
    def scan(self) -> None:
        for _ in self._messages(None):
            pass

    def messages(self, topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
        return self._messages(topics)

    def _messages(self, topics: set[str] | None) -> Iterator[tuple[str, int, bytes]]:
        """Messages of `topics` in file order; None: the scan pass, which records topics and counts."""
        if self.path.stat().st_size < len(MCAP_MAGIC):
            raise SalvageError(f"{self.path} is too short to be an MCAP file")
        schemas: dict[int, str] = {}
        channels: dict[int, str] = {}
        read, stop = 0, None
        with self.path.open("rb") as handle, mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
            if mapped[:8] != MCAP_MAGIC:
                raise SalvageError(f"{self.path} is not an MCAP file (no magic)")
            for record in _file_records(mapped):
                if isinstance(record, _Cut):
                    stop = record
                    break
                offset, opcode, content = record
                try:
                    if opcode == _SCHEMA:
                        schemas[struct.unpack_from("<H", content)[0]] = _string(content, 2)[0]
                    elif opcode == _CHANNEL:
                        channel_id, schema_id = struct.unpack_from("<HH", content)
                        channels[channel_id] = topic = _string(content, 4)[0]
                    elif opcode == _MESSAGE:
                        channel_id, _sequence, log_time = struct.unpack_from("<HIQ", content)
                except (struct.error, ValueError) as error:  # UnicodeDecodeError is a ValueError
                    stop = _Cut(offset, f"malformed record 0x{opcode:02x}: {error}")
                    break
                if opcode == _CHANNEL and topics is None:
                    self.topics.setdefault(topic, schemas.get(schema_id, ""))
                    self.counts.setdefault(topic, 0)
                elif opcode == _MESSAGE:
                    topic = channels.get(channel_id)
                    if topic is None:
                        continue
                    read += 1
                    if topics is None:
                        self.counts[topic] += 1
                    elif topic in topics:
                        yield topic, log_time, content[22:]
        self.stop = Stop(self.path, f"byte {stop.offset}", stop.reason, read) if stop is not None else None


@dataclass(frozen=True)
class _Cut:
    """The record at `offset` is not intact."""

    offset: int
    reason: str


def _string(record: bytes, offset: int) -> tuple[str, int]:
    size = struct.unpack_from("<I", record, offset)[0]
    end = offset + 4 + size
    if end > len(record):
        raise ValueError("string runs past its record")
    return bytes(record[offset + 4 : end]).decode(), end


def _records(buffer: bytes | mmap.mmap, start: int = 0) -> Iterator[tuple[int, int, bytes, bool]]:
    """(offset, opcode, content, complete) of the records from `start`; the last one may be cut short."""
    position = start
    while position + 9 <= len(buffer):
        opcode = buffer[position]
        end = position + 9 + int.from_bytes(buffer[position + 1 : position + 9], "little")
        complete = end <= len(buffer)
        yield position, opcode, buffer[position + 9 : min(end, len(buffer))], complete
        if not complete:
            return
        position = end
    if position < len(buffer):
        yield position, -1, b"", False


def _file_records(mapped: mmap.mmap) -> Iterator[tuple[int, int, bytes] | _Cut]:
    """(offset, opcode, content) of top-level and in-chunk records (offset: of the chunk) in file order,
    then a `_Cut` if the file stops inside one."""
    for offset, opcode, content, complete in _records(mapped, len(MCAP_MAGIC)):
        if opcode == _DATA_END:
            if mapped[-8:] != MCAP_MAGIC:  # every message is intact; the index after them is not
                yield _Cut(offset + 9 + len(content), "end of the data; the summary and footer after it are cut off")
            return
        if opcode == _CHUNK:
            yield from _chunk_records(content, offset, complete)
        elif not complete:
            yield _Cut(offset, f"record 0x{opcode:02x} cut short" if opcode >= 0 else "record header cut short")
            return
        else:
            yield offset, opcode, content
        if not complete:
            return


def _chunk_records(content: bytes, offset: int, complete: bool) -> Iterator[tuple[int, int, bytes] | _Cut]:
    """The records of a Chunk record, decompressed and checked; of a cut chunk, those its bytes hold."""
    try:
        _start, _end, size, crc = struct.unpack_from("<QQQI", content)
        compression, position = _string(content, 28)
        compressed_size = struct.unpack_from("<Q", content, position)[0]
        raw = _decompress(content[position + 8 : position + 8 + compressed_size], compression, complete)
    except (ValueError, struct.error, RuntimeError, OSError) as error:
        yield _Cut(offset, f"damaged chunk: {error}")
        return
    if complete and (len(raw) != size or (crc and crc32(raw) != crc)):
        yield _Cut(offset, "damaged chunk: size or checksum mismatch")
        return
    for _inner, opcode, record, record_complete in _records(raw):
        if not record_complete:
            break
        yield offset, opcode, record
    if not complete:
        yield _Cut(offset, f"chunk cut short: {len(raw)} of its {size} bytes")


def _decompress(data: bytes, compression: str, complete: bool) -> bytes:
    """A chunk's records; a cut chunk's compressed bytes are decoded as far as they go."""
    if compression == "":
        return bytes(data)
    if compression == "zstd":
        try:
            from compression import zstd  # Python >= 3.14
        except ImportError:
            from backports import zstd
        return zstd.decompress(data) if complete else zstd.ZstdDecompressor().decompress(data)
    if compression == "lz4":
        import lz4.frame

        return lz4.frame.decompress(data) if complete else lz4.frame.LZ4FrameDecompressor().decompress(data)
    raise ValueError(f"unsupported chunk compression {compression!r}")


class SqliteSalvage(Salvage):
    def _connect(self) -> sqlite3.Connection:
        wal = self.path.with_name(self.path.name + "-wal").exists()
        mode = "ro" if wal else "ro&immutable=1"  # a WAL file holds committed rows: let sqlite read it
        connection = sqlite3.connect(f"file:{quote(str(self.path))}?mode={mode}", uri=True)
        # A torn file is shorter than its header says; sqlite reads such a file only with this set.
        connection.execute("PRAGMA writable_schema=ON")
        return connection

    def scan(self) -> None:
        try:
            with self._connect() as connection:
                rows = connection.execute("SELECT id, name, type FROM topics ORDER BY id").fetchall()
        except sqlite3.DatabaseError as error:
            raise SalvageError(f"{self.path}: the topics table cannot be read: {error}") from error
        self._topic_ids = {int(topic_id): str(name) for topic_id, name, _ in rows}
        self.topics = {str(name): str(msgtype) for _, name, msgtype in rows}
        for _ in self._rows(set(self.topics), count=True):
            pass

    def messages(self, topics: set[str]) -> Iterator[tuple[str, int, bytes]]:
        yield from self._rows(topics)

    def _rows(self, topics: set[str], count: bool = False) -> Iterator[tuple[str, int, bytes]]:
        wanted = {topic_id for topic_id, name in self._topic_ids.items() if name in topics}
        if count:
            self.counts = dict.fromkeys(self.topics, 0)
        last, read, stop = 0, 0, None
        connection = self._connect()
        try:
            cursor = connection.execute("SELECT id, topic_id, timestamp, data FROM messages ORDER BY id")
            while True:
                try:
                    row = cursor.fetchone()
                except sqlite3.DatabaseError as error:
                    stop = str(error)
                    break
                if row is None:
                    break
                row_id, topic_id, stamp, data = row
                if row_id <= last or topic_id not in self._topic_ids or not isinstance(data, bytes):
                    stop = "implausible row (damaged page)"
                    break
                last, read = row_id, read + 1
                if count:
                    self.counts[self._topic_ids[topic_id]] += 1
                elif topic_id in wanted:
                    yield self._topic_ids[topic_id], int(stamp), data
        finally:
            connection.close()
        if stop is None and sqlite_is_torn(self.path):  # the rows are intact, pages after them are not
            stop = "end of the messages table; the pages after it are torn"
        self.stop = Stop(self.path, f"row {last + 1}", stop, read) if stop is not None else None
