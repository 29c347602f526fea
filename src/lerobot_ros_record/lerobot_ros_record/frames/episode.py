"""Messages → converted samples → resampled frames → dataset writer, for one episode at a time.

The live recorder node and the bag converter both drive this class, so they share the
conversion, the resampler and the writer: identical messages give identical frames.
"""

from __future__ import annotations

import json
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from lerobot_ros_core.contract import Contract
from lerobot_ros_core.features import FeatureConverter, FeatureValueError, converters
from lerobot_ros_record.resample import Frame, Resampler, SegmentEnd, SyncReport, resampler_for

SYNC_META_FILE = "lerobot_ros_sync.json"
"""Per-episode sync reports under a dataset's meta/ folder."""


class EmptyEpisodeError(RuntimeError):
    """An episode ended without a single complete frame; it is discarded, nothing is written."""


@dataclass
class SavedEpisode:
    index: int
    frames: int
    report: SyncReport
    summary: Any  # the writer's EpisodeSummary
    report_error: str | None = None  # the episode is committed; only its sync report could not be stored


class Sample(NamedTuple):
    """One feature's value from one message; `stamp_ns` None: rejected, `value` is the error text."""

    key: str
    stamp_ns: int | None
    receive_ns: int
    value: Any


class EpisodeFrames:
    """Feeds one dataset writer from ROS messages, one episode at a time.

    Between `start` and `save` the resampler may end its segment (a stream past its limit, a clock
    jump): `pump`/`flush` then stop there and return the `SegmentEnd`; the caller saves the episode
    and goes on with `continue_episode`, whose frames start at index 0 on the new clock.
    """

    def __init__(
        self,
        contract: Contract,
        writer: Any,
        deadline: float = 0.5,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self.contract = contract
        self.writer = writer
        self.deadline = deadline
        self.converters: dict[str, FeatureConverter] = converters(contract)
        self.topics: dict[str, list[str]] = {}
        for spec in contract.features_spec:
            self.topics.setdefault(spec.topic, []).append(spec.key)
        self._on_reject = on_reject
        self.resampler: Resampler | None = None
        self.episode_index: int | None = None
        self.task: str | None = None
        self.frames = 0  # written into the open episode
        self.last_errors: dict[str, str] = {}
        self._pending: deque[Frame | SegmentEnd] = deque()

    @property
    def recording(self) -> bool:
        return self.resampler is not None

    def start(self, task: str) -> int:
        if self.recording:
            raise RuntimeError(f"episode {self.episode_index} is still being recorded")
        self.episode_index = self.writer.start_episode(task)
        self.task, self.frames = task, 0
        self.resampler = resampler_for(self.contract, self.deadline)
        self._pending.clear()
        self.last_errors.clear()
        return self.episode_index

    def continue_episode(self) -> int:
        """After a segment end was saved: the next episode, same task, same resampler."""
        if self.resampler is None or self.task is None or self.writer.episode_open:
            raise RuntimeError("no segment end to continue from")
        self.episode_index = self.writer.start_episode(self.task)
        self.frames = 0
        return self.episode_index

    def on_message(self, topic: str, msg: Any, receive_ns: int) -> None:
        """Convert a message of `topic` for every feature built from it and push the samples."""
        self.push(self.convert(topic, msg, receive_ns))

    def convert(self, topic: str, msg: Any, receive_ns: int) -> list[Sample]:
        """One sample per feature of `topic`; stamp None and an error text for a rejected message.

        Needs no lock: the live recorder converts in its subscription thread and pushes under its lock.
        """
        samples: list[Sample] = []
        for key in self.topics.get(topic, ()):
            converter = self.converters[key]
            try:
                samples.append(Sample(key, converter.stamp_ns(msg, receive_ns), receive_ns, converter.convert(msg)))
            except FeatureValueError as error:
                samples.append(Sample(key, None, receive_ns, str(error)))
        return samples

    def push(self, samples: list[Sample]) -> None:
        if self.resampler is None:
            return
        for sample in samples:
            if sample.stamp_ns is None:
                self.resampler.reject(sample.key, _reason(sample.value))
                self.last_errors[sample.key] = sample.value
                if self._on_reject is not None:
                    self._on_reject(sample.key, sample.value)
            else:
                self.resampler.push(sample.key, sample.stamp_ns, sample.value, sample.receive_ns)

    def pump(self) -> SegmentEnd | None:
        """Write the frames that are decided, up to a segment end (returned)."""
        if self.resampler is None:
            return None
        self._pending.extend(self.resampler.pop_frames())
        return self._write()

    def flush(self) -> SegmentEnd | None:
        """At the end: write every frame the streams have reached, up to a segment end (returned)."""
        if self.resampler is None:
            return None
        self._pending.extend(self.resampler.flush())
        return self._write()

    def save(self, report: SyncReport | None = None) -> SavedEpisode:
        """Save the open episode with `report` (default: the current segment's); EmptyEpisodeError without frames.

        A failure to store the sync report does not undo the committed episode: `SavedEpisode.report_error`.
        """
        if self.resampler is None or self.episode_index is None:
            raise RuntimeError("no episode is being recorded")
        index, report = self.episode_index, report or self.resampler.report
        if self.frames == 0:
            silent = [name for name, stats in report.streams.items() if stats.messages_received == 0]
            cause = f"no messages on {silent}" if silent else report.summary()
            self.discard()
            raise EmptyEpisodeError(f"episode {index} has no complete frame ({cause}); discarded")
        summary = self.writer.save_episode()
        frames, self.frames = self.frames, 0
        try:
            self._store_report(index, report)
        except Exception as error:  # the dataset is fine: the report is a side file
            return SavedEpisode(index, frames, report, summary, f"sync report not stored: {error}")
        return SavedEpisode(index, frames, report, summary)

    def close(self) -> None:
        """The take is over (after its last `save`)."""
        self.resampler = None
        self._pending.clear()

    def discard(self) -> None:
        if self.resampler is None:
            return
        if self.writer.episode_open:
            self.writer.discard_episode()
        self.close()

    @property
    def report(self) -> SyncReport | None:
        return self.resampler.report if self.resampler else None

    def _store_report(self, index: int, report: SyncReport) -> None:
        """Keep every episode's sync report in meta/lerobot_ros_sync.json (ignored by LeRobot)."""
        path = Path(self.writer.root) / "meta" / SYNC_META_FILE
        try:
            reports = json.loads(path.read_text())
        except (OSError, ValueError):
            reports = {}
        reports[str(index)] = report.to_dict()
        self.writer.write_meta_file(SYNC_META_FILE, json.dumps(reports, indent=1).encode())

    def _write(self) -> SegmentEnd | None:
        while self._pending:
            item = self._pending.popleft()
            if isinstance(item, SegmentEnd):
                return item
            self.writer.add_frame(self._dataset_frame(item))
            self.frames += 1
        return None

    def _dataset_frame(self, frame: Frame) -> dict[str, np.ndarray]:
        values = {}
        for spec in self.contract.features_spec:
            value = frame.values[spec.key]
            values[spec.key] = np.asarray(value, dtype=np.float32) if spec.kind == "vector" else value
        return values


def _reason(error: str) -> str:
    """A rejection reason without the per-message values, so equal causes count together."""
    cause = error.split("): ", 1)[-1]
    return cause.split(":", 1)[0] if "non-finite" in cause else cause
