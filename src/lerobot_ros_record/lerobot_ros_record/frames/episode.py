"""Messages → converted samples → resampled frames → dataset writer, for one episode at a time.

The live recorder node and the bag converter both drive this class, so they share the
conversion, the resampler and the writer: identical messages give identical frames.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from lerobot_ros_core.contract import Contract
from lerobot_ros_core.features import FeatureConverter, FeatureValueError, converters
from lerobot_ros_core.kinematics.ee_features import DerivedFeatures
from lerobot_ros_record.resample import Frame, Resampler, SyncReport, resampler_for

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


class EpisodeFrames:
    """Feeds one dataset writer from ROS messages, one episode at a time."""

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
        self.derived = DerivedFeatures(contract)
        self.topics: dict[str, list[str]] = {}
        for spec in contract.features_spec:
            self.topics.setdefault(spec.topic, []).append(spec.key)
        self._on_reject = on_reject
        self.resampler: Resampler | None = None
        self.episode_index: int | None = None
        self.task: str | None = None
        self.last_errors: dict[str, str] = {}

    @property
    def recording(self) -> bool:
        return self.resampler is not None

    @property
    def frames(self) -> int:
        return self.resampler.frames_emitted if self.resampler else 0

    def start(self, task: str) -> int:
        if self.recording:
            raise RuntimeError(f"episode {self.episode_index} is still being recorded")
        self.episode_index = self.writer.start_episode(task)
        self.task = task
        self.resampler = resampler_for(self.contract, self.deadline)
        self.last_errors.clear()
        return self.episode_index

    def on_message(self, topic: str, msg: Any, receive_ns: int) -> None:
        """Convert a message of `topic` for every feature built from it and push the samples."""
        self.push(self.convert(topic, msg, receive_ns))

    def convert(self, topic: str, msg: Any, receive_ns: int) -> list[tuple[str, int | None, Any]]:
        """(feature, stamp, value) per feature of `topic`; stamp None and an error text for a rejected message.

        Needs no lock: the live recorder converts in its subscription threads and pushes under its lock.
        """
        samples: list[tuple[str, int | None, Any]] = []
        for key in self.topics.get(topic, ()):
            converter = self.converters[key]
            try:
                samples.append((key, converter.stamp_ns(msg, receive_ns), converter.convert(msg)))
            except FeatureValueError as error:
                samples.append((key, None, str(error)))
        return samples

    def push(self, samples: list[tuple[str, int | None, Any]]) -> None:
        if self.resampler is None:
            return
        for key, stamp, value in samples:
            if stamp is None:
                self.resampler.reject(key, _reason(value))
                self.last_errors[key] = value
                if self._on_reject is not None:
                    self._on_reject(key, value)
            else:
                self.resampler.push(key, stamp, value)

    def pump(self) -> int:
        """Write the frames that are decided; returns how many."""
        if self.resampler is None:
            return 0
        return self._write(self.resampler.pop_frames())

    def save(self) -> SavedEpisode:
        """Write the remaining frames and save the episode (EmptyEpisodeError if it has none)."""
        if self.resampler is None or self.episode_index is None:
            raise RuntimeError("no episode is being recorded")
        self._write(self.resampler.flush())
        resampler, index = self.resampler, self.episode_index
        if resampler.frames_emitted == 0:
            self.discard()
            silent = [name for name, stats in resampler.report.streams.items() if stats.messages_received == 0]
            cause = f"no messages on {silent}" if silent else resampler.report.summary()
            raise EmptyEpisodeError(f"episode {index} has no complete frame ({cause}); discarded")
        summary = self.writer.save_episode()
        self.resampler = None
        self._store_report(index, resampler.report)
        return SavedEpisode(index, resampler.frames_emitted, resampler.report, summary)

    def discard(self) -> None:
        if self.resampler is None:
            return
        self.writer.discard_episode()
        self.resampler = None

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

    def _write(self, frames: list[Frame]) -> int:
        for frame in frames:
            self.writer.add_frame(self._dataset_frame(frame))
        return len(frames)

    def _dataset_frame(self, frame: Frame) -> dict[str, np.ndarray]:
        """The frame as stored: float32 vectors, then EE features computed from those float32 values."""
        values = {}
        for spec in self.contract.features_spec:
            value = frame.values[spec.key]
            values[spec.key] = np.asarray(value, dtype=np.float32) if spec.kind == "vector" else value
        values.update(self.derived.compute(values))
        recorded = self.contract.keys
        return {key: values[key] for key in recorded}


def _reason(error: str) -> str:
    """A rejection reason without the per-message values, so equal causes count together."""
    cause = error.split("): ", 1)[-1]
    return cause.split(":", 1)[0] if "non-finite" in cause else cause
