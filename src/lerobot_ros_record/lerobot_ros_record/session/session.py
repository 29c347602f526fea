"""The recording state machine, without ROS: episodes start, take frames, are saved, discarded or refused.

The recorder node and the bag converter drive one `RecordingSession` each and turn the events it
returns into their own outputs (episode events, status, logs, results). The session is not
thread-safe: the recorder node calls it under its lock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from lerobot_ros_core.contract import Contract
from lerobot_ros_record.frames import EmptyEpisodeError, EpisodeFrames, Sample, SavedEpisode
from lerobot_ros_record.resample import SegmentEnd, SyncReport
from lerobot_ros_record.session.dataset import OpenedDataset


class SessionState(StrEnum):
    """Values are the recorder's RecorderStatus state strings."""

    IDLE = "idle"
    RECORDING = "recording"
    RESETTING = "resetting"
    FINALIZED = "finalized"
    ERROR = "error"


class SessionError(RuntimeError):
    """A call that the session's state does not allow (start while recording, anything once finalized)."""


@dataclass(frozen=True)
class EpisodeStarted:
    index: int
    task: str


@dataclass(frozen=True)
class EpisodeSaved:
    episode: SavedEpisode
    task: str


@dataclass(frozen=True)
class EpisodeSplit:
    """The dataset clock could not go on (a stream past its limit, a clock jump): `episode` ends there,
    the recording goes on as episode `next_index` (frames from 0 on the new clock)."""

    episode: SavedEpisode
    next_index: int
    task: str
    reason: str


@dataclass(frozen=True)
class EpisodeDiscarded:
    index: int
    reason: str
    report: SyncReport | None


@dataclass(frozen=True)
class EpisodeRefused:
    """Saving found no complete frame: nothing was written."""

    index: int
    reason: str


@dataclass(frozen=True)
class EpisodeFailed:
    """Writing failed (disk full, encoder): the open episode is dropped, earlier ones are intact."""

    index: int | None
    reason: str
    error: Exception | None = None


@dataclass(frozen=True)
class Finalized:
    episodes: int


Event = EpisodeStarted | EpisodeSaved | EpisodeSplit | EpisodeDiscarded | EpisodeRefused | EpisodeFailed | Finalized


class RecordingSession:
    """One dataset, episodes recorded into it one at a time."""

    def __init__(
        self,
        dataset: OpenedDataset,
        deadline: float = 0.5,
        on_reject: Callable[[str, str], None] | None = None,
    ) -> None:
        self.dataset = dataset
        self.frames = EpisodeFrames(dataset.contract, dataset.writer, deadline, on_reject=on_reject)
        self.state = SessionState.IDLE
        self.episodes_saved: int = dataset.writer.num_episodes
        self.last_report: SyncReport | None = None
        self.message = ""
        self.first_tick_ns: int | None = None  # stamp of the open episode's frame 0 (None during its warm-up)

    @property
    def contract(self) -> Contract:
        return self.dataset.contract

    @property
    def recording(self) -> bool:
        return self.state == SessionState.RECORDING

    @property
    def episode_index(self) -> int:
        """The open episode's index, else the next one's."""
        index = self.frames.episode_index if self.recording else None
        return self.episodes_saved if index is None else index

    @property
    def report(self) -> SyncReport | None:
        """The open episode's sync report, else the last ended one's."""
        return self.frames.report if self.recording else self.last_report

    def start(self, task: str) -> EpisodeStarted:
        if self.state == SessionState.FINALIZED:
            raise SessionError("the dataset is finalized")
        if self.recording:
            raise SessionError("an episode is already being recorded")
        if not task:
            raise SessionError("no task: set the goal's task, the task parameter, the task topic or the contract's")
        index = self.frames.start(task)
        self.state, self.message = SessionState.RECORDING, ""
        self.first_tick_ns = None
        return EpisodeStarted(index, task)

    def convert(self, topic: str, msg: Any, receive_ns: int) -> list[Sample]:
        """Conversion of one message; pure, callable outside the caller's lock."""
        return self.frames.convert(topic, msg, receive_ns)

    def push(self, samples: list[Sample]) -> None:
        """Add converted samples (written by the next `tick`)."""
        if self.recording:
            self.frames.push(samples)

    def tick(self) -> list[Event]:
        """Write the frames that are decided; split or fail the episode where the resampler ends a segment."""
        if not self.recording:
            return []
        events: list[Event] = []
        try:
            self._write(self.frames.pump, events)
        except Exception as error:  # disk full, encoder: stop the episode, keep the dataset
            events.append(self.fail(f"writing episode {self.frames.episode_index} failed: {error}", error))
        if self.first_tick_ns is None and self.frames.resampler is not None:
            self.first_tick_ns = self.frames.resampler.clock_start_ns
        return events

    def end_at(self, end_ns: int) -> None:
        """The open episode takes no frame stamped at or after `end_ns` (its time limit).

        The caller saves once `reached_end`: a stream that lags (a loaded machine) then does not cut
        the episode's last frames, nor one that runs ahead add frames past the limit.
        """
        if self.recording and self.frames.resampler is not None:
            self.frames.resampler.end_at(end_ns)

    @property
    def reached_end(self) -> bool:
        """Every frame before the `end_at` instant is decided."""
        return self.recording and self.frames.resampler is not None and self.frames.resampler.reached_end

    def save(self) -> list[Event]:
        """Write the remaining frames and commit the episode, or refuse it when it has no complete frame."""
        if not self.recording:
            raise SessionError("no episode is being recorded")
        events: list[Event] = []
        task = self.frames.task or ""
        try:
            self._write(self.frames.flush, events)
            if not self.recording:  # failed (past_limit: fail)
                return events
            index = self.frames.episode_index
            saved = self.frames.save()
        except EmptyEpisodeError as error:
            self._end(None, str(error))
            return [*events, EpisodeRefused(index or 0, str(error))]
        except Exception as error:
            return [*events, self.fail(f"saving episode {self.frames.episode_index} failed: {error}", error)]
        self.frames.close()
        self.episodes_saved += 1
        note = f"; {saved.report_error}" if saved.report_error else ""
        self._end(saved.report, f"episode {saved.index} saved ({saved.frames} frames){note}")
        return [*events, EpisodeSaved(saved, task)]

    def _write(self, step: Callable[[], SegmentEnd | None], events: list[Event]) -> None:
        """Run `step` (pump or flush) until no segment ends: save at each end, go on as the next episode."""
        while (end := step()) is not None:
            index = self.frames.episode_index
            if end.failed:
                events.append(self.fail(f"episode {index} failed: {end.reason}"))
                return
            saved = self.frames.save(end.report)
            self.episodes_saved += 1
            next_index = self.frames.continue_episode()
            self.message = f"episode {index} ended: {end.reason}; recording goes on as episode {next_index}"
            events.append(EpisodeSplit(saved, next_index, self.frames.task or "", end.reason))

    def discard(self, reason: str) -> EpisodeDiscarded | None:
        if not self.recording:
            return None
        index, report = self.frames.episode_index or 0, self.frames.report
        self.frames.discard()
        self._end(report, f"episode {index} discarded ({reason})")
        return EpisodeDiscarded(index, reason, report)

    def fail(self, reason: str, error: Exception | None = None) -> EpisodeFailed:
        """Drop the open episode (if any) and stay in ERROR; the dataset keeps its saved episodes."""
        index = self.frames.episode_index if self.frames.recording else None
        if self.frames.recording:
            self.last_report = self.frames.report
            self.frames.discard()
        self.state, self.message = SessionState.ERROR, reason
        return EpisodeFailed(index, reason, error)

    def begin_reset(self) -> None:
        if self.state == SessionState.IDLE:
            self.state = SessionState.RESETTING

    def end_reset(self) -> None:
        if self.state == SessionState.RESETTING:
            self.state = SessionState.IDLE

    def finalize(self) -> list[Event]:
        """Close the dataset, dropping an open episode; idempotent."""
        if self.state == SessionState.FINALIZED:
            return []
        events: list[Event] = []
        discarded = self.discard("finalize during an episode")
        if discarded is not None:
            events.append(discarded)
        self.dataset.writer.finalize()
        self.state = SessionState.FINALIZED
        self.message = f"dataset finalized: {self.episodes_saved} episode(s) in {self.dataset.writer.root}"
        events.append(Finalized(self.episodes_saved))
        return events

    def _end(self, report: SyncReport | None, message: str) -> None:
        self.last_report = report if report is not None else self.last_report
        if self.state != SessionState.ERROR:
            self.state = SessionState.IDLE
        self.message = message
